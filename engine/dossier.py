"""A case's whole file as ``gdcluster case show`` presents it: the case, its application, the
第十三条 check in short, each expert's scores, the notices issued and the attachments.

Everything is read in one read transaction, so the parts agree with each other (a score
recorded meanwhile is in all of them or in none).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from gdcluster.engine.parse import as_case_id
from gdcluster.engine.store import Store
from gdcluster.engine.views import CaseView, ScoreRow, case_view, iso, load_case

__all__ = ["CaseFile", "criteria_summary", "read_case_file"]


@dataclass(frozen=True)
class CaseFile:
    """A case with its application, criteria summary, scores, notices and attachments."""

    case: CaseView
    application: dict[str, Any]
    criteria: dict[str, Any]
    scores: list[ScoreRow]
    notices: list[dict[str, Any]]
    attachments: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """``CaseView.to_dict`` (DESIGN §11's keys) plus ``application``, ``criteria``,
        ``scores``, ``notices`` and ``attachments``."""
        data = self.case.to_dict()
        data.update(application=self.application, criteria=self.criteria,
                    scores=[row.to_dict() for row in self.scores],
                    notices=[{key: iso(value) for key, value in row.items()}
                             for row in self.notices],
                    attachments=[{key: iso(value) for key, value in row.items()}
                                 for row in self.attachments])
        return data


def criteria_summary(report: dict[str, Any]) -> dict[str, Any]:
    """A ``CheckReport.to_dict`` in short: passed, counts by result, the failed items."""
    counts = {"pass": 0, "fail": 0, "expert": 0}
    for item in report["items"]:
        counts[item["result"]] = counts.get(item["result"], 0) + 1
    return {"passed": report["passed"], "window": report["window"],
            "method": report.get("method"), "counts": counts,
            "failed": [{key: item[key] for key in ("article", "item", "value", "rule")}
                       for item in report["items"] if item["result"] == "fail"]}


def read_case_file(store: Store, case_id: int) -> CaseFile:
    """The file of case ``case_id`` (``NotFound`` if there is none)."""
    from decimal import Decimal

    from gdcluster.engine.application import read_stored_application
    from gdcluster.engine.applications import read, stored_text
    from gdcluster.engine.attachments import attachments_of
    from gdcluster.engine.criteria import check_case
    from gdcluster.engine.policies import policy_for
    from gdcluster.engine.records import ExpertScore, Notice

    case_id = as_case_id(case_id)
    with store.read() as session:
        case = load_case(session, case_id)
        view = case_view(session, case)
        stored = stored_text(session.connection(), case_id)
        report = check_case(case, policy_for(case.policy, case.policy_digest), stored).to_dict()
        scores = [
            ScoreRow(expert=row.expert,
                     points={key: Decimal(str(value)) for key, value in row.scores.items()},
                     total=Decimal(row.total), at=row.at)
            for row in session.scalars(select(ExpertScore).order_by(col(ExpertScore.id))
                                       .where(col(ExpertScore.case_id) == case_id))
        ]
        notice = Notice.__table__.c  # type: ignore[attr-defined]
        notices = [dict(row._mapping) for row in session.execute(
            select(notice.id, notice.kind, notice.format, notice.title, notice.doc_no,
                   notice.created_at, notice.sha256, notice.path)
            .where(notice.case_id == case_id).order_by(notice.id))]
        return CaseFile(case=view, application=read_stored_application(read(stored)),
                        criteria=criteria_summary(report), scores=scores, notices=notices,
                        attachments=attachments_of(session, case_id))
