"""City quotas of a round (推荐名额): the limits in force, and what a city has used."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, func, select

from gdcluster.engine.models import Case, Round
from gdcluster.engine.prepared import Prepared
from gdcluster.engine.store import sql_connection

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from gdcluster.states.policy import Policy

__all__ = ["city_quota", "recommended_count"]


def city_quota(round_row: Round, policy: Policy, city: str) -> tuple[int, int]:
    """``(min, max)`` recommendations for ``city``: the round's table (the city, else ``*``),
    else the policy's."""
    if round_row.quotas and city in round_row.quotas:
        low, high = round_row.quotas[city]
        return int(low), int(high)
    if round_row.quotas and "*" in round_row.quotas:
        low, high = round_row.quotas["*"]
        return int(low), int(high)
    quota = policy.quota_for(city)
    return int(quota.min), int(quota.max)


def _recommended_count_statement() -> Any:
    case = Case.__table__.c  # type: ignore[attr-defined]
    return (select(func.count()).select_from(Case.__table__)  # type: ignore[attr-defined]
            .where(case.round_year == bindparam("round_year"), case.city == bindparam("city"),
                   case.recommended_at.is_not(None), case.state != "withdrawn"))


#: Built once with bind parameters and run on the session's connection: every recommendation
#: runs it, and building it through the ORM each time would cost more than running it.
_RECOMMENDED_COUNT = Prepared(_recommended_count_statement())


def recommended_count(session: Session | Any, round_year: int, city: str) -> int:
    """Cases of the round the city has recommended (withdrawn ones not counted)."""
    row = _RECOMMENDED_COUNT.first(sql_connection(session),
                                   {"round_year": round_year, "city": city})
    return int(row[0] or 0) if row is not None else 0
