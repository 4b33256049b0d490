"""Expert review (专家评审): who scored, one expert's rubric scores read exactly, and the final
score.

An expert is one person however the name was typed: "王专家", "王专家 " and "王专家　" (a
full-width space) are one expert. Names are stored in their normal form (``expert_name``), and
names stored before that rule are brought to it when experts are counted (``expert_key``), so
that one person never passes for several.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any, TypeVar

from gdcluster.engine.errors import InvalidInput
from gdcluster.engine.i18n import Message
from gdcluster.engine.parse import clean_text, exact_number
from gdcluster.engine.text import check_text

if TYPE_CHECKING:
    from gdcluster.states.policy import Policy

__all__ = ["EXPERT_LIMIT", "SCORE_PLACES", "by_expert", "expert_key", "expert_name",
           "final_score", "validate_scores"]

#: Final scores are stored to four decimals; ranking uses the stored value.
SCORE_PLACES = Decimal("0.0001")
#: The longest expert name stored (the column's length).
EXPERT_LIMIT = 128

Scored = TypeVar("Scored")


def expert_key(name: str) -> str:
    """The normal form of an expert's name: NFKC (full-width letters, digits and the
    ideographic space U+3000 become their plain forms), trimmed of whitespace at both ends."""
    return unicodedata.normalize("NFKC", name).strip()


def expert_name(value: Any, field: str = "expert") -> str:
    """An expert's name as given to an act, in its normal form (``expert_key``), or
    ``InvalidInput``: one line of text, not blank, at most ``EXPERT_LIMIT`` characters."""
    text = clean_text(value, field, limit=4 * EXPERT_LIMIT, one_line=True)
    assert text is not None
    name = check_text(expert_key(text), field, one_line=True)
    if not name:
        raise InvalidInput("is required", field=field)
    if len(name) > EXPERT_LIMIT:
        raise InvalidInput(Message("is longer than {limit} characters", limit=EXPERT_LIMIT),
                           field=field)
    return name


def by_expert(rows: Iterable[Scored], name_of: Callable[[Scored], str]
              ) -> dict[str, list[Scored]]:
    """Stored score rows grouped by the normal form of their expert's name, in the order
    given; ``name_of(row)`` is the name as stored."""
    groups: dict[str, list[Scored]] = {}
    for row in rows:
        groups.setdefault(expert_key(name_of(row)), []).append(row)
    return groups


def validate_scores(raw: Any, policy: Policy) -> dict[str, Decimal]:
    """Points per rubric indicator: every indicator once, 0 to its weight, two decimals at most."""
    if not isinstance(raw, dict):
        raise InvalidInput("must map each rubric indicator id to points", field="scores")
    indicators = {item.id: item for item in policy.rubric.indicators}
    unknown = sorted(set(map(str, raw)) - set(indicators))
    if unknown:
        raise InvalidInput(Message("unknown rubric indicator {key!r}", key=unknown[0]),
                           field=f"scores.{unknown[0]}")
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
            raise InvalidInput(Message("must be between 0 and {weight}",
                                       weight=indicator.weight), field=f"scores.{key}")
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
