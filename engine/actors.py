"""Who acts: ``province``, ``city:<city>``, ``county:<unit>``, ``system``, ``public``.

An optional ``@person`` names the official (or, for ``public``, the objector) for the audit
trail: ``city:佛山市@张三``. Regions are checked against the region table, so a typo cannot
create a city that owns nobody's cases.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from gdcluster.engine.errors import InvalidInput
from gdcluster.engine.i18n import Message

KINDS = ("province", "city", "county", "system", "public")


@dataclass(frozen=True)
class Actor:
    kind: str
    region: str | None = None
    person: str | None = None

    @classmethod
    def parse(cls, text: str | None) -> Actor:
        """The actor ``text`` names, or ``InvalidInput`` naming the field ``actor``. Parsed
        actors are remembered: they are immutable, the region table does not change, and the
        same few actors act again and again."""
        known = _PARSED.get(text) if isinstance(text, str) else None
        if known is not None:
            return known
        actor = cls._parse(text)
        if len(_PARSED) >= 1024:
            _PARSED.clear()
        _PARSED[text] = actor  # type: ignore[index]
        return actor

    @classmethod
    def _parse(cls, text: str | None) -> Actor:
        if text is None or not text.strip():
            raise InvalidInput(
                "say who is acting, e.g. --as 'city:佛山市@张三' (or set GDCLUSTER_ACTOR)",
                field="actor",
            )
        text = unicodedata.normalize("NFKC", text).strip()
        if any(unicodedata.category(ch).startswith("C") for ch in text):
            raise InvalidInput("control or formatting characters are not allowed", field="actor")
        if len(text) > 200:
            raise InvalidInput("longer than 200 characters", field="actor")
        body, _, person = text.partition("@")
        kind, _, region = body.partition(":")
        kind = kind.strip().lower()
        person_name = person.strip() or None
        region_name = region.strip() or None
        if kind not in KINDS:
            raise InvalidInput(
                Message("unknown actor kind {kind!r}; use one of {kinds}", kind=kind,
                        kinds=", ".join(KINDS)), field="actor"
            )
        if kind in ("city", "county") and region_name is None:
            raise InvalidInput(Message("a {kind} actor names its region, e.g. {kind}:…",
                                       kind=kind), field="actor")
        if kind in ("province", "system", "public") and region_name is not None:
            raise InvalidInput(Message("a {kind} actor has no region", kind=kind),
                               field="actor")
        if kind == "public" and person_name is None:
            raise InvalidInput("a member of the public acts under a real name: public@姓名",
                               field="actor")
        if region_name is not None:
            region_name = _canonical_region(kind, region_name)
        return cls(kind=kind, region=region_name, person=person_name)

    @classmethod
    def of(cls, value: Actor | str | None) -> Actor:
        """``value`` itself when it is an ``Actor``, else the actor its text names."""
        return value if isinstance(value, Actor) else cls.parse(value)

    @classmethod
    def province(cls, person: str | None = None) -> Actor:
        return cls("province", None, person)

    @classmethod
    def system(cls) -> Actor:
        return cls("system")

    def __str__(self) -> str:
        text = self.kind if self.region is None else f"{self.kind}:{self.region}"
        return f"{text}@{self.person}" if self.person else text


_PARSED: dict[str, Actor] = {}


def _canonical_region(kind: str, name: str) -> str:
    from gdcluster.states.regions import UnknownRegion, load_regions

    table = load_regions()
    try:
        if kind == "city":
            return table.city(name).name
        return table.unit(name).name
    except UnknownRegion as exc:
        raise InvalidInput(str(exc), field="actor") from exc
