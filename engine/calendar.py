"""The Chinese working-day calendar (工作日).

A day is a working day iff it is Monday–Friday and not a holiday rest day, or it is a 调休
make-up working day. The built-in data come from ``chinesecalendar`` (2004–2026). The State
Council publishes each year's arrangement (国务院办公厅关于某年部分节假日安排的通知) in the
autumn before; load it with ``gdcluster calendar import FILE``. An imported year replaces the
built-in data for that year entirely. A computation touching a year with neither fails with
``CalendarGap`` naming the year: the engine never falls back to plain weekday rules.

Import file format
------------------

UTF-8, YAML (``.yaml``/``.yml``) or TOML (``.toml``), chosen by the file's extension. One
mapping per year (2000–2100), with these keys and no others:

``holidays`` (required, non-empty list)
    Every rest day of the statutory holidays, including the weekend days inside a holiday
    period and the 调休 rest days. An entry is an ISO date ``YYYY-MM-DD`` or an inclusive range
    ``{from: YYYY-MM-DD, to: YYYY-MM-DD}``.
``workdays`` (optional list, same entry forms)
    调休 make-up working days; each must be a Saturday or a Sunday.
``source`` (optional string)
    Where the data come from, e.g. the notice's title; defaults to the file's name.

Every date must lie in its year, no day may be listed twice, and no day may be both a holiday
and a make-up working day. YAML::

    2027:
      source: 国务院办公厅关于2027年部分节假日安排的通知
      holidays: [2027-01-01, {from: 2027-02-05, to: 2027-02-11}]
      workdays: [2027-02-14]

TOML::

    ["2027"]
    source = "国务院办公厅关于2027年部分节假日安排的通知"
    holidays = [2027-01-01, {from = 2027-02-05, to = 2027-02-11}]
    workdays = [2027-02-14]

Dates may be written bare or quoted. An error names the offending entry, e.g.
``2027.holidays[3]`` or ``2027.holidays[1].to``.
"""

from __future__ import annotations

import re
import tomllib
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache, lru_cache
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import select
from sqlmodel import col

from gdcluster.engine.errors import CalendarGap, InvalidInput
from gdcluster.engine.i18n import N_, Message
from gdcluster.engine.parse import FIRST_YEAR, LAST_YEAR
from gdcluster.engine.text import check_text

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


__all__ = [
    "WorkCalendar",
    "YearData",
    "builtin_years",
    "calendar_from_session",
    "import_years",
    "parse_calendar_file",
]

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_YEAR_KEY = re.compile(r"\d{4}")
_YEAR_KEYS = frozenset({"source", "holidays", "workdays"})
_RANGE_KEYS = frozenset({"from", "to"})
_YAML_TIMESTAMP = "tag:yaml.org,2002:timestamp"
#: A year's arrangement is a few hundred bytes; anything near this is not one (and PyYAML
#: would take minutes over 10 MB).
MAX_FILE_BYTES = 256 * 1024
MAX_DEPTH = 8


@dataclass(frozen=True)
class YearData:
    """One year's holiday arrangement.

    ``holidays``: every rest day of the statutory holidays (weekdays and weekend days alike);
    ``workdays``: 调休 make-up working days (Saturdays and Sundays only).
    """

    year: int
    holidays: frozenset[date]
    workdays: frozenset[date]
    source: str

    def __post_init__(self) -> None:
        for name, days in (("holidays", self.holidays), ("workdays", self.workdays)):
            for day in days:
                if isinstance(day, datetime) or not isinstance(day, date):
                    raise InvalidInput(Message("{day!r} is not a date", day=day),
                                       field=f"{self.year}.{name}")
                if day.year != self.year:
                    raise InvalidInput(Message("{day} is not in {year}", day=day, year=self.year),
                                       field=f"{self.year}.{name}")
        for day in sorted(self.workdays):
            if day.weekday() < 5:
                raise InvalidInput(
                    _not_weekend(day), field=f"{self.year}.workdays",
                )
        both = self.holidays & self.workdays
        if both:
            raise InvalidInput(
                Message("{day} is both a holiday and a make-up working day", day=min(both)),
                field=f"{self.year}.workdays",
            )

    def working_days(self) -> tuple[date, ...]:
        """All working days of the year, in order."""
        day = date(self.year, 1, 1)
        out: list[date] = []
        while day.year == self.year:
            if (day.weekday() < 5 and day not in self.holidays) or day in self.workdays:
                out.append(day)
            day += timedelta(days=1)
        return tuple(out)


@cache
def _builtin() -> Mapping[int, YearData]:
    from importlib.metadata import version

    from chinese_calendar import constants

    source = f"chinesecalendar {version('chinesecalendar')}"
    holidays: dict[int, set[date]] = {}
    workdays: dict[int, set[date]] = {}
    for day in constants.holidays:
        holidays.setdefault(day.year, set()).add(day)
    for day in constants.workdays:
        workdays.setdefault(day.year, set()).add(day)
    # chinesecalendar's own range check: min..max year of its holidays table.
    first, last = min(holidays), max(holidays)
    return {
        year: YearData(
            year=year,
            holidays=frozenset(holidays.get(year, ())),
            workdays=frozenset(workdays.get(year, ())),
            source=source,
        )
        for year in range(first, last + 1)
    }


def builtin_years() -> dict[int, YearData]:
    """The years chinesecalendar covers (2004–2026 for 1.11.0). A fresh dict; data are cached."""
    return dict(_builtin())


@lru_cache(maxsize=64)
def _working_days(data: YearData) -> tuple[tuple[date, ...], frozenset[date]]:
    """A year's working days, in order and as a set, shared by every calendar built on equal
    data: a calendar is built for every act that counts working days, and walking a year's
    365 days each time would cost more than the act."""
    days = data.working_days()
    return days, frozenset(days)


class WorkCalendar:
    """Working-day arithmetic over the built-in years plus overrides (which take precedence).

    Every method raises ``CalendarGap(year)`` as soon as it needs a year with no data.
    """

    def __init__(self, overrides: Mapping[int, YearData] | None = None) -> None:
        data = builtin_years()
        for year, year_data in (overrides or {}).items():
            if year_data.year != year:
                raise InvalidInput(
                    Message("override keyed {year} holds data for {other}", year=year,
                            other=year_data.year),
                    field=f"overrides[{year}]",
                )
            data[year] = year_data
        self._data: dict[int, YearData] = data
        self._days: dict[int, tuple[date, ...]] = {}
        self._sets: dict[int, frozenset[date]] = {}

    def covered_years(self) -> frozenset[int]:
        return frozenset(self._data)

    def year_data(self, year: int) -> YearData:
        """The data in force for ``year`` (override or built-in)."""
        try:
            return self._data[year]
        except KeyError:
            raise CalendarGap(year) from None

    def _working(self, year: int) -> tuple[date, ...]:
        days = self._days.get(year)
        if days is None:
            days, self._sets[year] = _working_days(self.year_data(year))
            self._days[year] = days
        return days

    def is_workday(self, day: date) -> bool:
        _check_date(day)
        self._working(day.year)
        return day in self._sets[day.year]

    def next_workday(self, day: date, *, inclusive: bool = True) -> date:
        """The first working day on or after ``day`` (strictly after if not ``inclusive``)."""
        _check_date(day)
        year = day.year
        days = self._working(year)
        i = bisect_left(days, day) if inclusive else bisect_right(days, day)
        while i >= len(days):
            year += 1
            days = self._working(year)
            i = 0
        return days[i]

    def add_workdays(self, start: date, n: int) -> date:
        """The ``n``-th working day counting ``start`` as day 1 if it is a working day.

        A start on a non-working day begins on the next working day. ``n >= 1``.
        """
        _check_date(start)
        _check_count(n)
        year = start.year
        days = self._working(year)
        i = bisect_left(days, start)
        remaining = n - 1  # steps from the first working day >= start
        while i + remaining >= len(days):
            remaining -= len(days) - i
            year += 1
            days = self._working(year)
            i = 0
        return days[i + remaining]

    def workdays_before(self, day: date, n: int) -> date:
        """The ``n``-th working day before ``day`` (``day`` itself not counted). ``n >= 1``."""
        _check_date(day)
        _check_count(n)
        year = day.year
        days = self._working(year)
        i = bisect_left(days, day) - n  # the index of the answer within ``days``
        while i < 0:
            year -= 1
            days = self._working(year)
            i += len(days)
        return days[i]

    def workdays_between(self, first: date, last: date) -> list[date]:
        """The working days in ``[first, last]``, both inclusive (empty if ``first > last``)."""
        _check_date(first)
        _check_date(last)
        if first > last:
            return []
        out: list[date] = []
        for year in range(first.year, last.year + 1):
            days = self._working(year)
            out.extend(days[bisect_left(days, first) : bisect_right(days, last)])
        return out


_WEEKDAYS: Final = (N_("Monday"), N_("Tuesday"), N_("Wednesday"), N_("Thursday"),
                    N_("Friday"))


def _not_weekend(day: date) -> Message:
    """The refusal of a make-up working day ``day`` that falls on a weekday."""
    return Message("make-up working day {day} is a {weekday}, not a Saturday or Sunday",
                   day=day, weekday=Message(_WEEKDAYS[day.weekday()]))


def _check_count(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InvalidInput(Message("number of working days must be an integer >= 1, not {n!r}",
                                   n=n), field="n")


def _check_date(day: date) -> None:
    # A datetime is a date subclass but never equal to one: it would silently miss every set.
    if isinstance(day, datetime) or not isinstance(day, date):
        raise TypeError(f"expected a datetime.date (local Asia/Shanghai day), got {day!r}")


# --------------------------------------------------------------------------- import files


def parse_calendar_file(content: bytes, filename: str) -> dict[int, YearData]:
    """Parse and strictly validate an import file (format: see the module docstring)."""
    name = filename  # file-level errors name the file as the caller gave it
    if len(content) > MAX_FILE_BYTES:
        raise InvalidInput(
            Message("the file has {size} bytes; a calendar file is at most {limit}",
                    size=len(content), limit=MAX_FILE_BYTES),
            field=name,
        )
    suffix = PurePath(filename).suffix.lower()
    if suffix not in (".yaml", ".yml", ".toml"):
        raise InvalidInput(
            Message("unknown file type {suffix}: use .yaml, .yml or .toml",
                    suffix=suffix or "(none)"), field=name
        )
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            Message("not UTF-8 (invalid byte at offset {offset}); save the file as UTF-8",
                    offset=exc.start), field=name
        ) from None
    if not text.strip():
        raise InvalidInput("empty file", field=name)
    raw = _load_toml(text, name) if suffix == ".toml" else _load_yaml(text, name)
    if raw is None or raw == {}:
        raise InvalidInput("no years in file", field=name)
    if not isinstance(raw, dict):
        raise InvalidInput(
            "the top level must map years to {holidays, workdays, source}", field=name
        )
    result: dict[int, YearData] = {}
    for key, body in raw.items():
        label = str(key)
        year = _year_key(key, label)
        if year in result:
            raise InvalidInput(Message("year {year} appears twice", year=year), field=label)
        result[year] = _year_data(year, label, body, PurePath(filename).name or filename)
    return result


def _load_toml(text: str, name: str) -> Any:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(Message("not valid TOML: {error}", error=exc), field=name) from None
    except RecursionError:
        raise InvalidInput("nested too deeply to be a calendar", field=name) from None


def _load_yaml(text: str, name: str) -> Any:
    import yaml

    try:
        root = yaml.compose(text, Loader=_strict_loader())
    except _YamlRefusal as refusal:
        raise InvalidInput(Message("{problem} (line {line})", problem=refusal.problem,
                                   line=refusal.line), field=name) from None
    except yaml.YAMLError as exc:
        raise InvalidInput(Message("not valid YAML: {error}", error=exc), field=name) from None
    if root is not None:
        # safe_load silently keeps the last of duplicate keys and raises a bare ValueError
        # (no position) on an impossible date: catch both here, where the path is known.
        _check_yaml_node(root, "")
    try:
        return yaml.safe_load(text)
    except (yaml.YAMLError, ValueError) as exc:
        raise InvalidInput(Message("not valid YAML: {error}", error=exc), field=name) from None


class _YamlRefusal(Exception):
    def __init__(self, problem: Message, mark: Any) -> None:
        super().__init__(problem)
        self.problem = problem
        self.line = mark.line + 1


@cache
def _strict_loader() -> Any:  # made on first use: PyYAML loads for YAML files only
    import yaml

    class StrictLoader(yaml.SafeLoader):
        """No anchors or aliases (an alias bomb would expand without end) and bounded nesting
        (PyYAML recurses per level)."""

        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self._depth = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                raise _YamlRefusal(Message("anchors and aliases (*name) are not accepted"),
                                   self.peek_event().start_mark)
            opening = self.check_event(yaml.MappingStartEvent, yaml.SequenceStartEvent)
            if opening:
                self._depth += 1
                if self._depth > MAX_DEPTH:
                    raise _YamlRefusal(Message("nested deeper than {depth} levels",
                                               depth=MAX_DEPTH), self.peek_event().start_mark)
            try:
                return super().compose_node(parent, index)
            finally:
                if opening:
                    self._depth -= 1

    return StrictLoader


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _check_yaml_node(node: Any, path: str) -> None:
    import yaml

    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if isinstance(key_node, yaml.ScalarNode):
                if key in seen:
                    raise InvalidInput("duplicate key", field=_join(path, key))
                seen.add(key)
            _check_yaml_node(value_node, _join(path, key))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _check_yaml_node(item, f"{path}[{i}]")
    elif isinstance(node, yaml.ScalarNode) and node.tag == _YAML_TIMESTAMP:
        try:
            date.fromisoformat(str(node.value)[:10])
        except ValueError:
            raise InvalidInput(Message("{value} is not a valid date", value=node.value),
                               field=path) from None


def _year_key(key: object, label: str) -> int:
    if isinstance(key, bool):
        raise InvalidInput("expected a year such as 2027", field=label)
    if isinstance(key, int):
        year = key
    elif isinstance(key, str) and _YEAR_KEY.fullmatch(key.strip()):
        year = int(key)
    else:
        raise InvalidInput("expected a year such as 2027", field=label)
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise InvalidInput(Message("year {year} is outside {first}–{last}", year=year,
                                   first=FIRST_YEAR, last=LAST_YEAR), field=label)
    return year


def _year_data(year: int, label: str, body: object, name: str) -> YearData:
    if not isinstance(body, dict):
        raise InvalidInput(
            "expected a mapping with keys holidays, workdays (optional), source (optional)",
            field=label,
        )
    for key in body:
        if key not in _YEAR_KEYS:
            raise InvalidInput(
                "unknown key (allowed: holidays, workdays, source)", field=f"{label}.{key}"
            )

    source = body.get("source", name)
    if not isinstance(source, str) or not source.strip():
        raise InvalidInput("expected a non-empty string", field=f"{label}.source")
    if "source" in body:
        check_text(source, f"{label}.source", one_line=True)

    if "holidays" not in body:
        raise InvalidInput("missing: list every holiday rest day", field=f"{label}.holidays")
    holidays = _day_list(body["holidays"], year, f"{label}.holidays")
    if not holidays:
        raise InvalidInput("empty: list every holiday rest day", field=f"{label}.holidays")
    workdays = _day_list(body.get("workdays", []), year, f"{label}.workdays")

    holiday_set = frozenset(d for d, _ in holidays)
    for day, field in workdays:
        if day.weekday() < 5:
            raise InvalidInput(_not_weekend(day), field=field)
        if day in holiday_set:
            raise InvalidInput(Message("{day} is both a holiday and a make-up working day",
                                       day=day), field=field)
    return YearData(
        year=year,
        holidays=holiday_set,
        workdays=frozenset(d for d, _ in workdays),
        source=source.strip(),
    )


def _day_list(value: object, year: int, path: str) -> list[tuple[date, str]]:
    """Expand a list of dates and ranges into (day, field path of its entry) pairs."""
    if not isinstance(value, list):
        raise InvalidInput("expected a list of dates and {from, to} ranges", field=path)
    out: list[tuple[date, str]] = []
    first_seen: dict[date, str] = {}
    for i, entry in enumerate(value):
        field = f"{path}[{i}]"
        for day in _entry_days(entry, year, field):
            if day in first_seen:
                raise InvalidInput(Message("{day} already listed at {place}", day=day,
                                           place=first_seen[day]), field=field)
            first_seen[day] = field
            out.append((day, field))
    return out


def _entry_days(entry: object, year: int, field: str) -> Iterator[date]:
    if not isinstance(entry, dict):
        yield _date(entry, year, field)
        return
    for key in entry:
        if key not in _RANGE_KEYS:
            raise InvalidInput("unknown key in range (allowed: from, to)", field=f"{field}.{key}")
    for key in ("from", "to"):
        if key not in entry:
            raise InvalidInput("missing end of range", field=f"{field}.{key}")
    start = _date(entry["from"], year, f"{field}.from")
    end = _date(entry["to"], year, f"{field}.to")
    if start > end:
        raise InvalidInput(Message("range runs backwards: from {start} > to {end}", start=start,
                                   end=end), field=field)
    yield from _days(start, end)


def _days(start: date, end: date) -> Iterable[date]:
    return (start + timedelta(days=k) for k in range((end - start).days + 1))


def _date(value: object, year: int, field: str) -> date:
    if isinstance(value, datetime):
        raise InvalidInput(Message("{value} has a time of day: expected a date YYYY-MM-DD",
                                   value=value), field=field)
    if isinstance(value, date):
        day = value
    elif isinstance(value, str) and _ISO_DATE.fullmatch(value.strip()):
        try:
            day = date.fromisoformat(value.strip())
        except ValueError:
            raise InvalidInput(Message("{value} is not a valid date", value=value),
                               field=field) from None
    else:
        raise InvalidInput(Message("{value!r} is not an ISO date YYYY-MM-DD", value=value),
                           field=field)
    if day.year != year:
        raise InvalidInput(Message("{day} is not in {year}", day=day, year=year), field=field)
    return day


# ---------------------------------------------------------------------------- the calendar in force
def calendar_from_session(session: Session) -> WorkCalendar:
    """The working-day calendar in force: the built-in years and the imported overrides.

    Built once per distinct set of override rows and shared: a calendar never changes once
    built, and every act that counts working days asks for it.
    """
    rows = tuple(
        (row.year, row.source, tuple(row.holidays), tuple(row.workdays))
        for row in session.execute(_calendar_rows())
    )
    calendar = _CALENDARS.get(rows)
    if calendar is None:
        overrides = {
            year: YearData(
                year=year,
                holidays=frozenset(date.fromisoformat(day) for day in holidays),
                workdays=frozenset(date.fromisoformat(day) for day in workdays),
                source=source,
            )
            for year, source, holidays, workdays in rows
        }
        calendar = WorkCalendar(overrides)
        if len(_CALENDARS) >= 8:
            _CALENDARS.clear()
        _CALENDARS[rows] = calendar
    return calendar


@cache
def _calendar_rows() -> Any:
    from gdcluster.engine.records import CalendarYear

    return select(col(CalendarYear.year), col(CalendarYear.source), col(CalendarYear.holidays),
                  col(CalendarYear.workdays)).order_by(col(CalendarYear.year))


_CALENDARS: dict[tuple[Any, ...], WorkCalendar] = {}


def import_years(session: Session, years: Mapping[int, YearData], now: datetime) -> None:
    """Store imported years in ``session``; an imported year replaces an earlier import of it
    (and the built-in data of it, in every calendar built afterwards)."""
    from gdcluster.engine.records import CalendarYear

    for year, data in sorted(years.items()):
        row = session.get(CalendarYear, year)
        holidays = sorted(day.isoformat() for day in data.holidays)
        workdays = sorted(day.isoformat() for day in data.workdays)
        if row is None:
            session.add(CalendarYear(year=year, source=data.source, holidays=holidays,
                                     workdays=workdays, imported_at=now))
        else:
            row.source, row.holidays, row.workdays = data.source, holidays, workdays
            row.imported_at = now
