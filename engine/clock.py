"""Time for the engine. Engine code never calls ``datetime.now()``: it asks its clock."""

from __future__ import annotations

import re
import time as time_
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from gdcluster.engine.errors import InvalidInput
from gdcluster.engine.i18n import Message
from gdcluster.engine.parse import FIRST_YEAR, LAST_YEAR, is_iso_date

SHANGHAI: tzinfo = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def is_system_clock(clock: object) -> bool:
    """Exactly the system clock: the only clock a real database accepts. A subclass could
    answer any time it likes, so it is not one."""
    return type(clock) is SystemClock


class FixedClock:
    """A clock that always answers the same instant (the CLI's ``--now``)."""

    def __init__(self, instant: datetime) -> None:
        self._instant = as_utc(instant)

    def now(self) -> datetime:
        return self._instant


class RunningClock:
    """A simulation's clock that runs: it reads ``start`` when made and moves forward with the
    time that passes (a monotonic count, never the wall clock's date). The foreground scheduler
    of a simulation database runs on it: its time comes from ``--now``."""

    def __init__(self, start: datetime) -> None:
        self._start = as_utc(start)
        self._origin = time_.monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=time_.monotonic() - self._origin)

    def wall_time(self, instant: datetime) -> datetime:
        """When the system clock will say it is ``instant`` of this clock (a waker such as
        APScheduler counts in system time)."""
        return SystemClock().now() + (as_utc(instant) - self.now())


def wall_time(clock: Clock, instant: datetime) -> datetime:
    """``instant`` of ``clock`` in system time: itself, except for a :class:`RunningClock`."""
    return clock.wall_time(instant) if isinstance(clock, RunningClock) else instant


def as_utc(value: datetime) -> datetime:
    """Aware UTC; a naive value is read as Asia/Shanghai wall time, as officials write it."""
    if value.tzinfo is UTC:  # already (what the database hands back)
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=SHANGHAI)
    return value.astimezone(UTC)


def local_date(instant: datetime) -> date:
    """The Asia/Shanghai calendar day of an instant."""
    return as_utc(instant).astimezone(SHANGHAI).date()


@lru_cache(maxsize=1024)  # the same few deadline days, asked by every act's window checks
def end_of_day(day: date) -> datetime:
    """24:00 of ``day`` in Asia/Shanghai, as a UTC instant (= 00:00 of the next day)."""
    return datetime.combine(day + timedelta(days=1), time(0), SHANGHAI).astimezone(UTC)


def start_of_day(day: date) -> datetime:
    return datetime.combine(day, time(0), SHANGHAI).astimezone(UTC)


def local_text(value: datetime) -> str:
    """Asia/Shanghai wall time; a deadline at midnight reads as 24:00 of the day before."""
    local = as_utc(value).astimezone(SHANGHAI)
    if (local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0):
        return f"{(local - timedelta(days=1)).date().isoformat()} 24:00"
    return local.strftime("%Y-%m-%d %H:%M:%S")


#: An ISO 8601 instant with its offset (``…+00:00``, ``…Z``), as the engine writes one into a
#: payload: what :func:`in_shanghai` rewrites. Dates and free text never match.
_ISO_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})")


def in_shanghai(value: Any) -> Any:
    """``value`` as it leaves gdcluster (``--json``, events, webhooks): every instant as ISO
    8601 text in Asia/Shanghai with ``+08:00`` — a datetime, or an instant already written as
    ISO text with another offset, inside dicts and lists too; dates and anything else as they
    are. Stored times stay UTC (DESIGN §3): this is for output only."""
    kind = type(value)
    if kind is str:  # the commonest values first, by exact type
        if len(value) < 32 and _ISO_INSTANT.fullmatch(value):
            return as_utc(datetime.fromisoformat(value)).astimezone(SHANGHAI).isoformat()
        return value
    if kind is date:
        return value.isoformat()
    if isinstance(value, datetime):
        return as_utc(value).astimezone(SHANGHAI).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        if len(value) < 32 and _ISO_INSTANT.fullmatch(value):
            return as_utc(datetime.fromisoformat(value)).astimezone(SHANGHAI).isoformat()
        return value
    if isinstance(value, dict):
        return {key: in_shanghai(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [in_shanghai(item) for item in value]
    return value


def parse_instant(text: str) -> datetime:
    """ISO date or date-time; without an offset it is Asia/Shanghai wall time."""
    text = text.strip()
    try:
        if len(text) == 10:
            if not is_iso_date(text):
                raise ValueError(text)
            moment = datetime.combine(date.fromisoformat(text), time(0))
        else:
            moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput(Message("not an ISO date or date-time: {text!r}", text=text),
                           field="now") from exc
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise InvalidInput(Message("{text!r} is outside the years {first}–{last}", text=text,
                                   first=FIRST_YEAR, last=LAST_YEAR), field="now")
    return as_utc(moment)


class FakeClock:
    """A clock tests move by hand; starts at ``start`` (naive = Asia/Shanghai wall time)."""

    def __init__(self, start: datetime | str = "2024-01-02T09:00:00") -> None:
        self._now = parse_instant(start) if isinstance(start, str) else as_utc(start)

    def now(self) -> datetime:
        return self._now

    def set(self, instant: datetime | str) -> None:
        self._now = parse_instant(instant) if isinstance(instant, str) else as_utc(instant)

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        self._now += delta if delta is not None else timedelta(**kwargs)
        return self._now
