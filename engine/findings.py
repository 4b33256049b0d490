"""What the criteria check reports (``engine/criteria.py`` judges): each item of 第十三条 with
the rule, the value found and the verdict, and the findings on incidents and the plan."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from gdcluster.states.policy import INCIDENT_LABELS

__all__ = ["CheckItem", "CheckReport", "GoalFinding", "IncidentFinding", "PlanFinding", "Result"]

Result = Literal["pass", "fail", "expert"]


@dataclass(frozen=True)
class CheckItem:
    """One line of the check: the rule, what was found, and the verdict.

    ``rule`` is the wording to show (the measures' words, else the policy's summary); ``text``
    is the measures' words alone, the only part that may be quoted, or ``None``.
    """

    id: str
    article: str
    item: str
    rule: str
    value: str
    result: Result
    text: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {
            "id": self.id,
            "article": self.article,
            "item": self.item,
            "rule": self.rule,
            "text": self.text,
            "value": self.value,
            "result": self.result,
        }


@dataclass(frozen=True)
class IncidentFinding:
    """One declared incident and why it counts under 第十三条第（一）项 or not."""

    year: int
    kind: str
    grade: str | None
    major: bool | None
    description: str
    counts: bool
    reason: str

    @property
    def label(self) -> str:
        return f"{self.year}年{self.grade or ''}{INCIDENT_LABELS.get(self.kind, self.kind)}"

    def to_dict(self) -> dict[str, Any]:
        return {"year": self.year, "kind": self.kind, "grade": self.grade, "major": self.major,
                "description": self.description, "counts": self.counts, "reason": self.reason}


@dataclass(frozen=True)
class GoalFinding:
    """One plan goal: measurable (indicator, unit, baseline, target all given) or what it lacks."""

    label: str
    measurable: bool
    lacking: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"goal": self.label, "measurable": self.measurable, "lacking": list(self.lacking)}


@dataclass(frozen=True)
class PlanFinding:
    """The development plan against 第十三条第（九）项: its period and its goals."""

    period: str | None
    starts: tuple[int, int]
    period_ok: bool
    goals: tuple[GoalFinding, ...]

    @property
    def measurable_goals(self) -> int:
        return sum(goal.measurable for goal in self.goals)

    def to_dict(self) -> dict[str, Any]:
        return {"period": self.period, "allowed_starts": list(self.starts),
                "period_ok": self.period_ok, "measurable_goals": self.measurable_goals,
                "goals": [goal.to_dict() for goal in self.goals]}


@dataclass(frozen=True)
class CheckReport:
    """Every item of the check, with the window it used and its findings on incidents and the
    plan. ``unused_years`` lists, per series, the years given that lie outside the window."""

    items: tuple[CheckItem, ...]
    method: str
    round_year: int
    window: tuple[int, ...]
    unused_years: Mapping[str, tuple[int, ...]] = field(hash=False)
    incidents: tuple[IncidentFinding, ...]
    incidents_since: int
    plan: PlanFinding | None

    @property
    def passed(self) -> bool:
        """True exactly when no automatic item fails (expert items never fail the check)."""
        return not self.failures()

    def failures(self) -> list[CheckItem]:
        return [item for item in self.items if item.result == "fail"]

    def item(self, item_id: str) -> CheckItem:
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(f"no check item {item_id!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "method": self.method,
            "round": self.round_year,
            "window": list(self.window),
            "years_not_used": {series: list(years)
                               for series, years in self.unused_years.items()},
            "incidents_since": self.incidents_since,
            "incidents": [finding.to_dict() for finding in self.incidents],
            "plan": self.plan.to_dict() if self.plan is not None else None,
            "items": [item.to_dict() for item in self.items],
        }
