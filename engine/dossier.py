"""A case's whole file as ``gdcluster case show`` presents it: the case, its application, the
第十三条 check in short, each expert's scores, the notices issued, the attachments and the
复核 status.

Everything is read in one read transaction, so the parts agree with each other (a score
recorded meanwhile is in all of them or in none), by the plain SQL reads of
``gdcluster.engine.plain_reads``: showing a case defines no table class and configures no
mapper (only a case in a 拟撤销 procedure reads its audit rows through the tables).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from gdcluster.engine.errors import NotFound
from gdcluster.engine.parse import as_case_id
from gdcluster.engine.store import Store
from gdcluster.engine.views import CaseView, ScoreRow, case_view, iso

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
    #: ``Engine.review_status`` of the case, read with the rest (not in ``to_dict``).
    review: dict[str, Any] = field(default_factory=dict)

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


def read_case_file(store: Store, case_id: int, today: date) -> CaseFile:
    """The file of case ``case_id`` (``NotFound`` if there is none); ``today``: the local date
    the validity is judged ended by."""
    import json
    from decimal import Decimal

    from gdcluster.engine.application import read_stored_application
    from gdcluster.engine.criteria import check_case
    from gdcluster.engine.plain_reads import case_file
    from gdcluster.engine.policies import policy_for
    from gdcluster.engine.review_views import review_status

    case_id = as_case_id(case_id)
    with store.read_connection() as connection:
        rows = case_file(connection, case_id)
        if rows is None or not rows["application"]:
            raise NotFound("case", case_id)
        case = rows["case"][0]
        view = case_view(connection, case, rows["parts"])
        stored = str(rows["application"][0].data)
        report = check_case(case, policy_for(case.policy, case.policy_digest), stored).to_dict()
        scores = [ScoreRow(expert=row.expert,
                           points={key: Decimal(str(value)) for key, value in row.scores.items()},
                           total=Decimal(row.total), at=row.at) for row in rows["scores"]]
        review = review_status(connection, case, application=stored, reports=rows["reports"])
    return CaseFile(case=view, application=read_stored_application(json.loads(stored)),
                    criteria=criteria_summary(report), scores=scores,
                    notices=[dict(row._mapping) for row in rows["notices"]],
                    attachments=[dict(row._mapping) for row in rows["attachments"]],
                    review=_validity(review, case, today))


def read_review_status(store: Store, case_id: int, today: date) -> dict[str, Any]:
    """``Engine.review_status``: the 复核 status of case ``case_id`` alone (``case check
    --review``), as :func:`read_case_file` reads it (``NotFound`` if there is no case)."""
    from gdcluster.engine.plain_reads import QUERIES
    from gdcluster.engine.review_views import review_status

    case_id = as_case_id(case_id)
    with store.read_connection() as connection:
        case = connection.execute(QUERIES["case"], {"case_id": case_id}).first()
        if case is None:
            raise NotFound("case", case_id)
        return _validity(review_status(connection, case), case, today)


def _validity(status: dict[str, Any], case: Any, today: date) -> dict[str, Any]:
    """``status`` with ``validity_ended``: the case's validity ended before ``today``."""
    until = case.valid_until
    return {**status, "validity_ended": until is not None and until < today}
