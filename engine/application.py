"""The application file (申报材料 data) and the annual report: their schemas.

Files are read by ``engine/datafile.py`` (exact numbers, refused tokens kept in place) and each
value is parsed by ``engine/values.py``; here the fields are put together. Amounts are in 亿元,
shares lie in 0–1 (or are written like ``"78%"``), and any number may be written as a string.

``validate_application`` accepts drafts (fields may be missing) but nothing wrong: a wrong type,
a negative amount, a share outside 0–1, a bad year, an unknown field or text with control or
bidirectional characters (``engine/text.py``) is refused with ``InvalidInput`` whose ``field``
is the path of the offending value (``output.2023``, ``incidents[0].grade``).
``missing_for_submission`` lists what a complete application still lacks.

Incidents (第十三条第（一）项) carry a ``grade`` when they are accidents or security events, a
``major`` mark when they are other violations or 其它重大问题, and neither when they count
whenever established (偷税漏税, 严重失信). The development plan (第十三条第（九）项) is
``{period: "2024–2026", goals: [{indicator, unit, baseline {year, value}, target {year, value},
text}], text}``.

Data stored by earlier versions are read back with ``read_stored_application`` and
``read_stored_report``, which accept the shapes those versions wrote (a plan as free text,
goals as sentences, an incident without ``major``) and never raise: what they cannot read is
left out, so the criteria report it as missing rather than the act failing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any, Final

from gdcluster.engine import values
from gdcluster.engine.datafile import (
    MAX_DEPTH,
    RefusedToken,
    depth,
    load_application_file,
    refuse_token,
)
from gdcluster.engine.errors import InvalidInput
from gdcluster.engine.i18n import Message
from gdcluster.engine.parse import describe
from gdcluster.engine.text import check_text
from gdcluster.engine.values import Parse, goal_key, measurable, parse_period, period_years
from gdcluster.states.policy import (
    ESTABLISHED_KINDS,
    GRADED_KINDS,
    INCIDENT_GRADES,
    INCIDENT_KINDS,
    MAJOR_KINDS,
)

__all__ = [
    "CHAMPION_KINDS",
    "FIELDS",
    "LEGACY_REPORT_FIELDS",
    "QUALITY_KINDS",
    "REPORT_FIELDS",
    "REPORT_FIGURES",
    "REPORT_TEXTS",
    "YEAR_SERIES",
    "RefusedToken",
    "goal_key",
    "load_application_file",
    "measurable",
    "missing_for_report",
    "missing_for_submission",
    "parse_period",
    "period_years",
    "read_goal_results",
    "read_stored_application",
    "read_stored_report",
    "to_json",
    "validate_application",
    "validate_report",
]

#: National-level enterprises of 第十三条第（三）项: 单项冠军, 专精特新"小巨人".
CHAMPION_KINDS: Final = ("single_champion", "little_giant")
#: Provincial-level kinds: 专精特新中小企业, 创新型中小企业, 高新技术企业.
QUALITY_KINDS: Final = ("specialized_new", "innovative", "high_tech")


# --------------------------------------------------------------------------------------------
# The schema, strict for new input and lenient for what earlier versions stored


def _kinds_of_quality(value: Any, path: str) -> list[str]:
    kinds = values.list_of(values.choice(QUALITY_KINDS))(value, path)
    if not kinds:
        raise InvalidInput(Message("give at least one of {kinds}", kinds=", ".join(QUALITY_KINDS)),
                           field=path)
    return list(dict.fromkeys(kinds))


Field = tuple[Parse, bool]  # (parser, required inside its object)


class _Schema:
    """The parsers of every field. ``stored``: read what earlier versions wrote without raising
    on their shapes (text that the text rule refuses is shown escaped; unknown keys are left
    out; a legacy plan or incident is read in its old form)."""

    def __init__(self, *, stored: bool) -> None:
        self.stored = stored
        # the parsers of the nested objects, made once
        self._incident = self.object(
            {
                "year": (values.year, True),
                "kind": (values.choice(INCIDENT_KINDS), True),
                "grade": (values.choice(INCIDENT_GRADES), False),
                "major": (values.boolean, False),
                "description": (self.free_text, False),
            }
        )
        self._point = self.object({"year": (values.year, True), "value": (values.number, True)})
        self._goal = self.object(
            {
                "indicator": (self.text, False),
                "unit": (self.text, False),
                "baseline": (self.point, False),
                "target": (self.point, False),
                "text": (self.free_text, False),
            }
        )
        self._plan = self.object(
            {
                "period": (parse_period, False),
                "goals": (values.list_of(self.goal), False),
                "text": (self.free_text, False),
            }
        )
        self.fields: dict[str, Parse] = {
            "area_km2": values.area,
            "output": values.year_map(values.amount),
            "sme_output_share": values.share,
            "leading_industry_share": values.share,
            "champion_enterprises": values.list_of(
                self.object({"name": (self.text, True),
                             "kind": (values.choice(CHAMPION_KINDS), True)})
            ),
            "quality_smes": values.list_of(
                self.object({"name": (self.text, True), "kinds": (_kinds_of_quality, True)})
            ),
            "sme_rd_expense": values.year_map(values.amount),
            "invention_patents": values.year_map(values.count),
            "employees": values.employees,
            "industrial_internet_rate": values.share,
            "co2_intensity": values.year_map(values.amount),
            "energy_intensive": values.boolean,
            "energy_efficiency_above_benchmark": values.boolean,
            "water_intensive": values.boolean,
            "water_efficiency_above_benchmark": values.boolean,
            "incidents": values.list_of(self.incident),
            "management_body": self.object(
                {"name": (self.text, True), "established": (self.date_text, False)}
            ),
            "development_plan": self.plan,
            "narrative": self.narrative,
        }
        self.report_fields: dict[str, Parse] = {
            "year": values.year,
            "output": values.amount,
            "enterprises": values.count,
            "smes": values.count,
            "employees": values.employees,
            "sme_rd_expense": values.amount,
            "invention_patents": values.count,
            "quality_smes": values.count,
            "champion_enterprises": values.count,
            "industrial_internet_rate": values.share,
            "co2_intensity": values.amount,
            "goal_progress": self.indicator_list("actual"),
            "plan_execution": self.free_text,
            "experience": self.free_text,
            "problems": self.free_text,
            "improvements": self.free_text,
        }
        self.legacy_report_fields: dict[str, Parse] = {
            "sme_output_share": values.share,
            "leading_industry_share": values.share,
            "highlights": values.list_of(self.free_text),
            "summary": self.free_text,
            "narrative": self.narrative,
        }

    # -- text ---------------------------------------------------------------------------------

    def _checked(self, value: str, path: str, *, one_line: bool) -> str:
        if self.stored:
            return values.escaped(value, one_line=one_line)
        return check_text(value, path, one_line=one_line)

    def text(self, value: Any, path: str) -> str:
        """One-line text that is not blank (names, indicators, units)."""
        refuse_token(value, path)
        if not isinstance(value, str) or not value.strip():
            raise InvalidInput(Message("expected non-empty text, not {given}",
                                       given=describe(value)), field=path)
        return self._checked(value.strip(), path, one_line=True)

    def free_text(self, value: Any, path: str) -> str:
        """Text that may hold line breaks (descriptions, narratives, report texts)."""
        refuse_token(value, path)
        if not isinstance(value, str):
            raise InvalidInput(Message("expected text, not {given}", given=describe(value)),
                               field=path)
        return self._checked(value, path, one_line=False)

    def date_text(self, value: Any, path: str) -> str:
        refuse_token(value, path)
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, int) and not isinstance(value, bool):
            return str(values.year(value, path))
        return self.text(value, path)

    def narrative(self, value: Any, path: str) -> dict[str, str]:
        refuse_token(value, path)
        if not isinstance(value, Mapping):
            raise InvalidInput(
                Message("expected a mapping of dimension to text, not {given}",
                        given=describe(value)), field=path
            )
        result: dict[str, str] = {}
        for key, text in value.items():
            where = f"{path}.{values.segment(key)}"
            if not isinstance(key, str) or not key.strip():
                raise InvalidInput("dimension names must be text", field=where)
            result[self._checked(key, where, one_line=True)] = self.free_text(text, where)
        return result

    # -- objects ------------------------------------------------------------------------------

    def object(self, fields: Mapping[str, Field]) -> Callable[[Any, str], dict[str, Any]]:
        entries = tuple((key, parse, required) for key, (parse, required) in fields.items())

        def parse_object(value: Any, path: str) -> dict[str, Any]:
            if type(value) is not dict:  # a plain dict is neither a refused token nor odd
                refuse_token(value, path)
                if not isinstance(value, Mapping):
                    raise InvalidInput(Message("expected a mapping, not {given}",
                                               given=describe(value)),
                                       field=path)
            if not self.stored:
                for key in value:
                    if key not in fields:
                        raise InvalidInput(Message("unknown field; known: {fields}",
                                                   fields=", ".join(fields)),
                                           field=f"{path}.{values.segment(key)}")
            result: dict[str, Any] = {}
            for key, parse, required in entries:
                if value.get(key) is None:
                    if required:
                        raise InvalidInput("missing", field=f"{path}.{key}")
                    continue
                result[key] = parse(value[key], f"{path}.{key}")
            return result

        return parse_object

    def incident(self, value: Any, path: str) -> dict[str, Any]:
        incident = self._incident(value, path)
        kind = incident["kind"]
        needs = ("grade" if kind in GRADED_KINDS else "major" if kind in MAJOR_KINDS else None)
        for part in ("grade", "major"):
            if part != needs and part in incident:
                if self.stored:
                    del incident[part]  # meaningless for this kind; earlier versions kept it
                    continue
                raise InvalidInput(_incident_part_refusal(kind, part), field=f"{path}.{part}")
        if needs is not None and needs not in incident and not self.stored:
            wanted = (Message("its grade ({grades})", grades="/".join(INCIDENT_GRADES))
                      if needs == "grade" else
                      Message("major: true or false (true for 较大数额罚款, 责令停产停业, 吊销许可 "
                              "and the like; false for a minor administrative fine)"))
            raise InvalidInput(Message("a {kind} incident needs {wanted}", kind=kind,
                                       wanted=wanted), field=f"{path}.{needs}")
        return incident

    def point(self, value: Any, path: str) -> dict[str, Any]:
        return self._point(value, path)

    def goal(self, value: Any, path: str) -> dict[str, Any]:
        goal = self._goal(value, path)
        if "indicator" not in goal and not (goal.get("text") or "").strip():
            raise InvalidInput("a goal needs its indicator (or at least a text)",
                               field=f"{path}.indicator")
        baseline, target = goal.get("baseline"), goal.get("target")
        if baseline is not None and target is not None:
            if target["year"] <= baseline["year"]:
                raise InvalidInput(
                    Message("the target year {target} must come after the baseline year "
                            "{baseline}", target=target["year"], baseline=baseline["year"]),
                    field=f"{path}.target.year")
            if target["value"] == baseline["value"]:
                raise InvalidInput(
                    "the target equals the baseline, so it sets no direction to assess; "
                    "state the value to reach", field=f"{path}.target.value")
        return goal

    def plan(self, value: Any, path: str) -> dict[str, Any]:
        if self.stored:
            value = _legacy_plan(value)
        plan = self._plan(value, path)
        _unique_indicators(plan.get("goals", []), f"{path}.goals")
        return plan

    def indicator_list(self, value_name: str) -> Callable[[Any, str], list[dict[str, Any]]]:
        """[{indicator, <value_name>, note}], each indicator once (report and 复核 results)."""
        entry = self.object({"indicator": (self.text, True), value_name: (values.number, True),
                             "note": (self.free_text, False)})

        def parse(value: Any, path: str) -> list[dict[str, Any]]:
            entries = values.list_of(entry)(value, path)
            _unique_indicators(entries, path)
            return entries

        return parse

    # -- documents ----------------------------------------------------------------------------

    def document(self, raw: Any, fields: Mapping[str, Parse], where: str) -> dict[str, Any]:
        if not isinstance(raw, Mapping):
            raise InvalidInput(Message("expected a mapping of fields, not {given}",
                                       given=describe(raw)),
                               field=where)
        if self.stored:
            if depth(raw) > MAX_DEPTH:
                raise InvalidInput(Message("nested deeper than {depth} levels",
                                           depth=MAX_DEPTH), field=where)
            result: dict[str, Any] = {}
            for key, parse in fields.items():
                if raw.get(key) is None:
                    continue
                try:
                    result[key] = parse(raw[key], key)
                except InvalidInput:
                    continue  # unreadable even in an earlier shape: judged as missing
            return result
        # Too deep a document is refused as such whatever else is wrong with it. What the
        # schema accepts is at most a few levels deep (every value it takes is checked down to
        # its leaves), so the depth is measured only when the schema refuses.
        try:
            return self._strict_document(raw, fields)
        except Exception:
            if depth(raw) > MAX_DEPTH:
                raise InvalidInput(Message("nested deeper than {depth} levels",
                                           depth=MAX_DEPTH), field=where) from None
            raise

    @staticmethod
    def _strict_document(raw: Mapping[str, Any], fields: Mapping[str, Parse]
                         ) -> dict[str, Any]:
        for key in raw:
            if key not in fields:
                raise InvalidInput(Message("unknown field; known: {fields}",
                                           fields=", ".join(fields)),
                                   field=values.segment(key))
        return {key: parse(raw[key], key) for key, parse in fields.items()
                if raw.get(key) is not None}


def _incident_part_refusal(kind: str, part: str) -> Message:
    if kind in ESTABLISHED_KINDS:
        return Message("a {kind} incident counts whenever established: give neither grade nor "
                       "major", kind=kind)
    if part == "major":
        return Message("a {kind} incident is judged by its grade, not by major", kind=kind)
    return Message("a {kind} incident is judged by major (true/false), not by a grade", kind=kind)


def _unique_indicators(entries: Sequence[Mapping[str, Any]], path: str) -> None:
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        indicator = entry.get("indicator")
        if indicator is None:
            continue
        key = goal_key(indicator)
        if key in seen:
            raise InvalidInput(Message("{indicator!r} is already given at [{index}]",
                                       indicator=indicator, index=seen[key]),
                               field=f"{path}[{index}].indicator")
        seen[key] = index


def _legacy_plan(value: Any) -> Any:
    """A plan as earlier versions stored it, in today's shape: free text becomes the plan's
    text; goal sentences become goals with only a text; a period that is not two years goes
    into the text. Nothing is dropped."""
    if isinstance(value, str):
        return {"text": value, "goals": []}
    if not isinstance(value, Mapping):
        return value
    plan = dict(value)
    notes: list[str] = [plan["text"]] if isinstance(plan.get("text"), str) else []
    period = plan.get("period")
    if period is not None:
        try:
            parse_period(period)
        except InvalidInput:
            notes.append(f"规划期：{period}")
            del plan["period"]
    goals = plan.get("goals")
    if isinstance(goals, list):
        plan["goals"] = [{"text": goal} if isinstance(goal, str) else goal for goal in goals]
    if notes:
        plan["text"] = "\n".join(notes)
    return plan


_STRICT: Final = _Schema(stored=False)
_STORED: Final = _Schema(stored=True)

#: The application's fields in their canonical order, each with its parser.
FIELDS: Final[Mapping[str, Parse]] = _STRICT.fields

#: The series read per year; "近三年" picks the three years before the round year from each.
YEAR_SERIES: Final = ("output", "sme_rd_expense", "invention_patents", "co2_intensity")

#: The annual report's fields (第十七条 年度培育情况): the year, its key figures, each plan
#: goal's progress, and four texts.
REPORT_FIELDS: Final[Mapping[str, Parse]] = _STRICT.report_fields
REPORT_FIGURES: Final = ("output", "enterprises", "smes", "employees", "sme_rd_expense",
                         "invention_patents", "quality_smes", "champion_enterprises",
                         "industrial_internet_rate", "co2_intensity")
REPORT_TEXTS: Final = ("plan_execution", "experience", "problems", "improvements")
#: Fields reports filed by earlier versions may hold; read back, never accepted anew.
LEGACY_REPORT_FIELDS: Final[Mapping[str, Parse]] = _STORED.legacy_report_fields


def validate_application(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The normalized application: years as ``int`` keys, amounts and shares as ``Decimal``.

    Missing fields are allowed (drafts); a top-level ``null`` counts as missing. Anything present
    must be right, or ``InvalidInput`` names its path.
    """
    return _STRICT.document(raw, FIELDS, "(application)")


def read_stored_application(stored: Any) -> dict[str, Any]:
    """An application as stored by this or an earlier version, normalized like
    ``validate_application``; never raises. A plan stored as free text becomes
    ``{"text": …, "goals": []}``, an incident without ``major`` has none (and counts, as
    incomplete facts do), text the text rule refuses is shown with ``\\uXXXX`` escapes, and a
    field that cannot be read at all is left out (the criteria then report it missing)."""
    if not isinstance(stored, Mapping) or depth(stored) > MAX_DEPTH:
        return {}
    return _STORED.document(stored, _STORED.fields, "(application)")


def validate_report(raw: Any, year: int,
                    plan: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """An annual report for ``year``, normalized like an application; every field optional
    (``missing_for_report`` says what a complete one lacks).

    A wrong type, a negative amount, a share outside 0–1, an unknown field, text with control
    or bidirectional characters, more SMEs than enterprises, an indicator given twice, or a
    ``year`` other than the one reported on is refused with ``InvalidInput`` naming the field's
    path. With ``plan`` (the case's development plan), a ``goal_progress`` indicator that is
    not one of its goals is refused too.
    """
    report = _STRICT.document(raw, REPORT_FIELDS, "data")
    if report.get("year", year) != year:
        raise InvalidInput(Message("the file reports on {given}, not {year}", given=report["year"],
                                   year=year), field="year")
    if "smes" in report and "enterprises" in report and report["smes"] > report["enterprises"]:
        raise InvalidInput(Message("{smes} SMEs among {enterprises} enterprises",
                                   smes=report["smes"], enterprises=report["enterprises"]),
                           field="smes")
    if plan is not None:
        _known_indicators(report.get("goal_progress", []), plan, "goal_progress")
    return report


def read_stored_report(stored: Any) -> dict[str, Any]:
    """An annual report as stored by this or an earlier version (which held
    ``sme_output_share``, ``leading_industry_share``, ``highlights``, ``summary`` and
    ``narrative``: kept under those names); never raises."""
    if not isinstance(stored, Mapping) or depth(stored) > MAX_DEPTH:
        return {}
    return _STORED.document(stored, {**_STORED.report_fields, **LEGACY_REPORT_FIELDS}, "data")


def missing_for_report(report: Mapping[str, Any],
                       plan: Mapping[str, Any] | None = None) -> list[str]:
    """What a complete annual report still lacks: its key figures, the four texts of 第十七条
    and, with ``plan``, the progress of each of its goals that has an indicator."""
    missing = [key for key in (*REPORT_FIGURES, *REPORT_TEXTS) if report.get(key) is None]
    if plan is not None:
        given = {goal_key(entry["indicator"]) for entry in report.get("goal_progress", [])}
        missing.extend(
            f"goal_progress[{goal['indicator']}]" for goal in plan.get("goals", [])
            if goal.get("indicator") and goal_key(goal["indicator"]) not in given)
    return missing


def read_goal_results(raw: Any, plan: Mapping[str, Any] | None, path: str,
                      value_name: str = "actual") -> list[dict[str, Any]]:
    """[{indicator, actual, note}] for exactly the plan's goals that name an indicator: a
    missing, unknown or repeated indicator is refused with its path."""
    entries: list[dict[str, Any]] = _STRICT.indicator_list(value_name)(raw, path)
    _known_indicators(entries, plan or {}, path)
    given = {goal_key(entry["indicator"]) for entry in entries}
    lacking = [goal["indicator"] for goal in (plan or {}).get("goals", [])
               if goal.get("indicator") and goal_key(goal["indicator"]) not in given]
    if lacking:
        raise InvalidInput(Message("no result for the plan goal(s) {goals}",
                                   goals="、".join(lacking)), field=path)
    return entries


def _known_indicators(entries: Sequence[Mapping[str, Any]], plan: Mapping[str, Any],
                      path: str) -> None:
    known = {goal_key(goal["indicator"]): goal["indicator"]
             for goal in plan.get("goals", []) if goal.get("indicator")}
    for index, entry in enumerate(entries):
        if goal_key(entry["indicator"]) not in known:
            listed = "、".join(known.values()) or Message("none: the plan names no indicator")
            raise InvalidInput(Message("{indicator!r} is not a goal of the plan; its goals: "
                                       "{listed}", indicator=entry["indicator"], listed=listed),
                               field=f"{path}[{index}].indicator")


def missing_for_submission(
    app: Mapping[str, Any], round_year: int, window_years: int = 3
) -> list[str]:
    """Paths a complete application still lacks, in field order (empty when complete).

    Each series needs the ``window_years`` years before the round year ("近三年"). Lists of
    enterprises and of incidents must be present, if empty (``[]`` declares "none"). The
    efficiency flags are needed only for clusters that are energy- or water-intensive. The plan
    needs its period and at least one goal (whether the goals are measurable is 第十三条第（九）项's
    question, which the criteria answer).
    """
    years = range(round_year - window_years, round_year)
    missing: list[str] = []
    for key in FIELDS:
        if key in YEAR_SERIES:
            series = app.get(key, {})
            missing.extend(f"{key}.{year}" for year in years if year not in series)
        elif key == "energy_efficiency_above_benchmark":
            if app.get("energy_intensive") is True and key not in app:
                missing.append(key)
        elif key == "water_efficiency_above_benchmark":
            if app.get("water_intensive") is True and key not in app:
                missing.append(key)
        elif key == "development_plan":
            plan = app.get(key)
            if plan is None:
                missing.append(key)
            else:
                missing.extend(
                    f"{key}.{part}" for part in ("period", "goals") if not plan.get(part)
                )
        elif key == "narrative":
            continue  # helps the experts, but 第十三条 does not require it
        elif key not in app:
            missing.append(key)
    return missing


def to_json(app: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-ready form of a normalized application or report; validating it gives it back."""
    converted = _jsonable(app)
    assert isinstance(converted, dict)
    return converted


#: Leaves that stay as they are: looked up by exact type, no call and no ABC check for them.
_AS_IS: Final = frozenset({str, int, bool, float, type(None)})


def _jsonable(value: Any) -> Any:
    kind = type(value)
    if kind in _AS_IS:
        return value
    if kind is dict:
        return {str(key): item if type(item) in _AS_IS else _jsonable(item)
                for key, item in value.items()}
    if kind is list:
        return [item if type(item) in _AS_IS else _jsonable(item) for item in value]
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value
