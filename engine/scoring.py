"""Expert review (专家评审): one expert's rubric scores read exactly, and the final score."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from gdcluster.engine.errors import InvalidInput
from gdcluster.engine.parse import exact_number

if TYPE_CHECKING:
    from gdcluster.states.policy import Policy

__all__ = ["SCORE_PLACES", "final_score", "validate_scores"]

#: Final scores are stored to four decimals; ranking uses the stored value.
SCORE_PLACES = Decimal("0.0001")


def validate_scores(raw: Any, policy: Policy) -> dict[str, Decimal]:
    """Points per rubric indicator: every indicator once, 0 to its weight, two decimals at most."""
    if not isinstance(raw, dict):
        raise InvalidInput("must map each rubric indicator id to points", field="scores")
    indicators = {item.id: item for item in policy.rubric.indicators}
    unknown = sorted(set(map(str, raw)) - set(indicators))
    if unknown:
        raise InvalidInput(f"unknown rubric indicator {unknown[0]!r}", field=f"scores.{unknown[0]}")
    scores: dict[str, Decimal] = {}
    for key, indicator in indicators.items():
        if key not in raw:
            raise InvalidInput("missing score", field=f"scores.{key}")
        value = raw[key]
        if isinstance(value, bool | float):
            raise InvalidInput("write points as an integer or a decimal string",
                               field=f"scores.{key}")
        points = exact_number(value, f"scores.{key}")
        if not points.is_finite() or not Decimal(0) <= points <= Decimal(indicator.weight):
            raise InvalidInput(f"must be between 0 and {indicator.weight}",
                               field=f"scores.{key}")
        if points.as_tuple().exponent < -2:  # type: ignore[operator]
            raise InvalidInput("at most two decimal places", field=f"scores.{key}")
        scores[key] = points
    return scores


def final_score(totals: list[Decimal], trim_from: int) -> Decimal:
    """Mean of the experts' totals, dropping the highest and lowest when ``trim_from`` scored.

    Computed exactly, then rounded half-up to four decimals; ranking uses the stored value.
    """
    ordered = sorted(totals)
    if len(ordered) >= trim_from and len(ordered) > 2:
        ordered = ordered[1:-1]
    mean = sum((Fraction(value) for value in ordered), Fraction(0)) / len(ordered)
    return (Decimal(mean.numerator) / Decimal(mean.denominator)).quantize(
        SCORE_PLACES, rounding=ROUND_HALF_UP
    )
