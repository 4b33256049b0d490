"""The working-day calendar (engine/calendar.py): DESIGN §3 time rules, §13 chinesecalendar."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gdcluster.engine.calendar import (
    WorkCalendar,
    YearData,
    builtin_years,
    parse_calendar_file,
)
from gdcluster.engine.errors import CalendarGap, InvalidInput

FIXTURE_2027 = Path(__file__).parent / "data" / "calendar-2027.yaml"
CAL = WorkCalendar()


def d(text: str) -> date:
    return date.fromisoformat(text)


def parse(text: str | bytes, filename: str = "cal.yaml") -> dict[int, YearData]:
    content = text.encode("utf-8") if isinstance(text, str) else text
    return parse_calendar_file(content, filename)


def fixture_2027() -> dict[int, YearData]:
    return parse_calendar_file(FIXTURE_2027.read_bytes(), FIXTURE_2027.name)


# --------------------------------------------------------------------------- built-in data

PUBLICITY_VECTORS = [
    pytest.param("2024-09-27", "2024-10-11", id="2024-national-day"),
    pytest.param("2025-09-26", "2025-10-11", id="2025-national-day-and-mid-autumn"),
    pytest.param("2025-01-24", "2025-02-08", id="2025-spring-festival"),
    pytest.param("2026-02-13", "2026-02-28", id="2026-spring-festival-9-days"),
    pytest.param("2026-04-30", "2026-05-12", id="2026-labour-day"),
    pytest.param("2026-01-01", "2026-01-12", id="2026-start-on-new-year-holiday"),
    pytest.param("2023-12-29", "2024-01-09", id="2023-into-2024"),
    pytest.param("2024-02-08", "2024-02-22", id="2024-spring-festival"),
]


@pytest.mark.parametrize(("start", "end"), PUBLICITY_VECTORS)
def test_seven_working_day_publicity_vectors(start: str, end: str) -> None:
    """DESIGN §3: a 7-working-day 公示期 from each start date ends on the listed day."""
    assert CAL.add_workdays(d(start), 7) == d(end)


IS_WORKDAY_CASES = [
    pytest.param("2024-10-12", True, id="2024-10-12-sat-makeup"),
    pytest.param("2024-09-29", True, id="2024-09-29-sun-makeup"),
    pytest.param("2024-10-01", False, id="2024-10-01-tue-national-day"),
    pytest.param("2024-10-07", False, id="2024-10-07-mon-national-day"),
    pytest.param("2024-10-19", False, id="2024-10-19-ordinary-sat"),
    pytest.param("2024-10-14", True, id="2024-10-14-ordinary-mon"),
    pytest.param("2025-02-08", True, id="2025-02-08-sat-makeup"),
    pytest.param("2025-10-08", False, id="2025-10-08-wed-holiday"),
    pytest.param("2026-01-04", True, id="2026-01-04-sun-makeup"),
    pytest.param("2026-02-14", True, id="2026-02-14-sat-makeup"),
    pytest.param("2026-02-23", False, id="2026-02-23-mon-last-spring-festival-day"),
    pytest.param("2026-02-28", True, id="2026-02-28-sat-makeup"),
]


@pytest.mark.parametrize(("day", "expected"), IS_WORKDAY_CASES)
def test_is_workday_makeup_weekends_count_weekday_holidays_do_not(day: str, expected: bool) -> None:
    """调休 make-up weekend days are working days; Mon–Fri holidays and plain weekends are not."""
    assert CAL.is_workday(d(day)) is expected


ADD_CASES = [
    pytest.param("2024-10-14", 1, "2024-10-14", id="start-on-workday-is-day-1"),
    pytest.param("2024-10-01", 1, "2024-10-08", id="start-on-holiday-begins-next-workday"),
    pytest.param("2024-10-19", 1, "2024-10-21", id="start-on-plain-sat-begins-mon"),
    pytest.param("2024-10-12", 1, "2024-10-12", id="start-on-makeup-sat-is-day-1"),
    pytest.param("2024-10-11", 2, "2024-10-12", id="makeup-sat-is-counted"),
    pytest.param("2024-09-30", 2, "2024-10-08", id="skips-whole-golden-week"),
    pytest.param("2024-12-31", 2, "2025-01-02", id="crosses-year-skipping-new-year"),
    pytest.param("2025-12-31", 2, "2026-01-04", id="crosses-year-onto-sun-makeup"),
    pytest.param("2026-12-28", 4, "2026-12-31", id="ends-on-last-covered-day"),
]


@pytest.mark.parametrize(("start", "n", "end"), ADD_CASES)
def test_add_workdays_start_rules(start: str, n: int, end: str) -> None:
    """Start counts as day 1 only if it is a working day; counting crosses year ends."""
    assert CAL.add_workdays(d(start), n) == d(end)


NEXT_CASES = [
    pytest.param("2024-10-14", True, "2024-10-14", id="inclusive-on-workday"),
    pytest.param("2024-10-14", False, "2024-10-15", id="exclusive-on-workday"),
    pytest.param("2024-10-01", True, "2024-10-08", id="inclusive-on-holiday"),
    pytest.param("2024-10-11", False, "2024-10-12", id="exclusive-to-makeup-sat"),
    pytest.param("2025-12-31", False, "2026-01-04", id="exclusive-across-year"),
    pytest.param("2026-12-31", True, "2026-12-31", id="inclusive-last-covered-day"),
]


@pytest.mark.parametrize(("day", "inclusive", "expected"), NEXT_CASES)
def test_next_workday(day: str, inclusive: bool, expected: str) -> None:
    """next_workday returns the first working day on (inclusive) or after the given day."""
    assert CAL.next_workday(d(day), inclusive=inclusive) == d(expected)


BETWEEN_CASES = [
    pytest.param(
        "2024-09-28",
        "2024-10-13",
        [
            "2024-09-29",
            "2024-09-30",
            "2024-10-08",
            "2024-10-09",
            "2024-10-10",
            "2024-10-11",
            "2024-10-12",
        ],
        id="golden-week-2024-with-makeup-sun-and-sat",
    ),
    pytest.param(
        "2025-12-30",
        "2026-01-05",
        ["2025-12-30", "2025-12-31", "2026-01-04", "2026-01-05"],
        id="across-year",
    ),
    pytest.param("2024-10-01", "2024-10-01", [], id="single-holiday"),
    pytest.param("2024-10-14", "2024-10-14", ["2024-10-14"], id="single-workday"),
    pytest.param("2024-10-15", "2024-10-14", [], id="first-after-last-is-empty"),
]


@pytest.mark.parametrize(("first", "last", "expected"), BETWEEN_CASES)
def test_workdays_between(first: str, last: str, expected: list[str]) -> None:
    """workdays_between lists the working days in [first, last], both ends inclusive, in order."""
    assert CAL.workdays_between(d(first), d(last)) == [d(x) for x in expected]


def test_agrees_with_chinesecalendar_on_every_builtin_day() -> None:
    """Our precomputed sets match chinese_calendar.is_workday for every day 2004–2026."""
    day, end = date(2004, 1, 1), date(2026, 12, 31)
    mismatches = []
    while day <= end:
        if CAL.is_workday(day) != chinese_calendar.is_workday(day):
            mismatches.append(day)
        day += timedelta(days=1)
    assert mismatches == []


def test_builtin_years_range_source_and_copy() -> None:
    """Built-in data cover exactly 2004–2026 from chinesecalendar 1.11.0; callers get a copy."""
    years = builtin_years()
    assert sorted(years) == list(range(2004, 2027))
    assert {y.source for y in years.values()} == {"chinesecalendar 1.11.0"}
    assert all(yd.year == y for y, yd in years.items())
    assert d("2024-10-12") in years[2024].workdays
    assert d("2024-10-01") in years[2024].holidays
    years.clear()
    assert sorted(builtin_years()) == list(range(2004, 2027))
    assert WorkCalendar().covered_years() == frozenset(range(2004, 2027))


def test_does_not_call_chinesecalendar_functions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the data tables are used: the slow is_workday and the buggy find_workday /
    get_workdays are never called."""

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("chinesecalendar function called")

    for name in ("is_workday", "is_holiday", "find_workday", "get_workdays", "get_holidays"):
        monkeypatch.setattr(chinese_calendar, name, boom)
        monkeypatch.setattr(chinese_calendar.utils, name, boom)
    cal = WorkCalendar()
    assert cal.add_workdays(d("2024-09-27"), 7) == d("2024-10-11")
    assert cal.is_workday(d("2024-10-12"))
    assert cal.next_workday(d("2024-10-01")) == d("2024-10-08")
    assert len(cal.workdays_between(d("2024-01-01"), d("2024-12-31"))) > 240


# --------------------------------------------------------------------------- gaps

GAP_CASES = [
    pytest.param(lambda c: c.is_workday(d("2027-01-04")), 2027, id="is-workday-2027"),
    pytest.param(lambda c: c.is_workday(d("2003-06-02")), 2003, id="is-workday-2003"),
    pytest.param(lambda c: c.add_workdays(d("2026-12-28"), 7), 2027, id="count-runs-into-2027"),
    pytest.param(lambda c: c.add_workdays(d("2003-12-31"), 1), 2003, id="count-starts-in-2003"),
    pytest.param(
        lambda c: c.next_workday(d("2026-12-31"), inclusive=False), 2027, id="next-into-2027"
    ),
    pytest.param(
        lambda c: c.workdays_between(d("2026-12-01"), d("2027-01-05")),
        2027,
        id="between-into-2027",
    ),
    pytest.param(
        lambda c: c.workdays_between(d("2003-12-30"), d("2004-01-05")),
        2003,
        id="between-from-2003",
    ),
]


@pytest.mark.parametrize(("call", "year"), GAP_CASES)
def test_calendar_gap_names_year_and_import_command(
    call: Callable[[WorkCalendar], object], year: int
) -> None:
    """A computation touching an uncovered year raises CalendarGap naming the year and the
    `gdcluster calendar import` command — never a weekday-rule guess."""
    with pytest.raises(CalendarGap) as info:
        call(CAL)
    assert info.value.year == year
    assert str(year) in info.value.message
    assert "gdcluster calendar import" in info.value.message


# --------------------------------------------------------------------------- overrides


def test_fixture_is_labelled_as_test_data() -> None:
    """The 2027 fixture says in its first line and its source that it is not official data."""
    first_line = FIXTURE_2027.read_text(encoding="utf-8").splitlines()[0]
    assert "TEST FIXTURE" in first_line and "NOT OFFICIAL" in first_line
    assert "TEST FIXTURE" in fixture_2027()[2027].source


OVERRIDE_2027_CASES = [
    pytest.param("2026-12-28", 7, "2027-01-06", id="2026-into-2027-past-new-year"),
    pytest.param("2027-02-04", 7, "2027-02-20", id="spring-festival-to-makeup-sat"),
    pytest.param("2027-09-30", 7, "2027-10-14", id="national-day-with-makeup-sat"),
    pytest.param("2027-04-30", 3, "2027-05-07", id="labour-day"),
]


@pytest.mark.parametrize(("start", "n", "end"), OVERRIDE_2027_CASES)
def test_override_makes_2027_computable(start: str, n: int, end: str) -> None:
    """Loading tests/data/calendar-2027.yaml as an override fills the 2027 gap."""
    cal = WorkCalendar(fixture_2027())
    assert 2027 in cal.covered_years()
    assert cal.add_workdays(d(start), n) == d(end)


def test_override_2027_days_and_2028_still_a_gap() -> None:
    """2027 days follow the fixture exactly; the next uncovered year still raises."""
    cal = WorkCalendar(fixture_2027())
    assert cal.is_workday(d("2027-01-31"))  # Sun make-up
    assert not cal.is_workday(d("2027-02-08"))  # Mon in 春节
    assert not cal.is_workday(d("2027-06-09"))  # Wed 端午
    assert not cal.is_workday(d("2027-09-15"))  # Wed 中秋 (quoted date in the fixture)
    assert cal.is_workday(d("2027-09-16"))
    assert cal.year_data(2027).source == fixture_2027()[2027].source
    with pytest.raises(CalendarGap) as info:
        cal.add_workdays(d("2027-12-29"), 5)
    assert info.value.year == 2028


def test_override_replaces_builtin_year_entirely() -> None:
    """An override for 2026 replaces (not merges with) the built-in 2026 data; 2025 is untouched."""
    only_oct_1 = YearData(
        year=2026, holidays=frozenset({d("2026-10-01")}), workdays=frozenset(), source="test"
    )
    cal = WorkCalendar({2026: only_oct_1})
    assert not cal.is_workday(d("2026-10-01"))
    assert cal.is_workday(d("2026-10-02"))  # a built-in holiday, not in the override
    assert not cal.is_workday(d("2026-02-14"))  # a built-in make-up Saturday, dropped
    assert cal.year_data(2026).source == "test"
    assert cal.is_workday(d("2025-10-11"))  # 2025 keeps its built-in make-up Saturday
    assert cal.covered_years() == frozenset(range(2004, 2027))


def test_override_keyed_under_wrong_year_is_rejected() -> None:
    """overrides[year] must hold that year's data."""
    data = fixture_2027()[2027]
    with pytest.raises(InvalidInput) as info:
        WorkCalendar({2028: data})
    assert info.value.field == "overrides[2028]"


YEARDATA_BAD = [
    pytest.param({"holidays": frozenset({d("2028-01-01")})}, "2027.holidays", id="wrong-year"),
    pytest.param(
        {"holidays": frozenset({datetime(2027, 1, 1)})}, "2027.holidays", id="datetime-not-date"
    ),
    pytest.param({"workdays": frozenset({d("2027-02-15")})}, "2027.workdays", id="weekday-makeup"),
    pytest.param(
        {"holidays": frozenset({d("2027-02-06")}), "workdays": frozenset({d("2027-02-06")})},
        "2027.workdays",
        id="both",
    ),
]


@pytest.mark.parametrize(("fields", "field"), YEARDATA_BAD)
def test_yeardata_invariants(fields: dict[str, frozenset[date]], field: str) -> None:
    """YearData built directly (e.g. from stored rows) is checked like an import file."""
    kwargs: dict[str, frozenset[date]] = {"holidays": frozenset(), "workdays": frozenset()}
    kwargs.update(fields)
    with pytest.raises(InvalidInput) as info:
        YearData(year=2027, source="t", **kwargs)
    assert info.value.field == field


def test_bad_arguments() -> None:
    """n < 1 is refused with field 'n'; a datetime (not a local date) is a TypeError."""
    with pytest.raises(InvalidInput) as info:
        CAL.add_workdays(d("2024-10-14"), 0)
    assert info.value.field == "n"
    with pytest.raises(TypeError):
        CAL.is_workday(datetime(2024, 10, 14, 9, 0))


# --------------------------------------------------------------------------- import files

TOML_2027 = """\
# the same data as tests/data/calendar-2027.yaml
["2027"]
source = "TEST FIXTURE (not official) — 2027 holiday arrangement"
holidays = [
    {from = 2027-01-01, to = 2027-01-03},
    {from = 2027-02-05, to = "2027-02-12"},
    {from = 2027-04-03, to = 2027-04-05},
    {from = 2027-05-01, to = 2027-05-05},
    2027-06-09,
    "2027-09-15",
    {from = 2027-10-01, to = 2027-10-07},
]
workdays = [2027-01-31, 2027-02-20, 2027-04-25, 2027-05-08, 2027-09-26, "2027-10-09"]
"""


def test_toml_and_yaml_give_the_same_yeardata() -> None:
    """The TOML spelling of the fixture parses to exactly the same YearData as the YAML file."""
    from_toml = parse(TOML_2027, "calendar-2027.toml")
    from_yaml = fixture_2027()
    assert from_toml == from_yaml
    assert len(from_yaml[2027].holidays) == 3 + 8 + 3 + 5 + 1 + 1 + 7
    assert len(from_yaml[2027].workdays) == 6


def test_yaml_quoted_and_bare_dates_and_yml_extension_agree() -> None:
    """YAML dates arrive as date objects (bare) or strings (quoted): both are accepted."""
    bare = parse(
        "2027:\n  source: s\n  holidays: [2027-01-01, {from: 2027-02-05, to: 2027-02-06}]\n"
    )
    quoted = parse(
        '2027:\n  source: s\n  holidays: ["2027-01-01", {from: "2027-02-05", to: "2027-02-06"}]\n',
        "cal.yml",
    )
    assert bare == quoted
    assert bare[2027].holidays == {d("2027-01-01"), d("2027-02-05"), d("2027-02-06")}


def test_source_defaults_to_file_name_and_several_years() -> None:
    """Without a source key, YearData.source is the file's name; a file may hold several years."""
    data = parse(
        "2027:\n  holidays: [2027-01-01]\n2028:\n  holidays: [2028-01-01]\n"
        "  workdays: [2028-01-02]\n",
        "imports/gov-2027-2028.yaml",
    )
    assert sorted(data) == [2027, 2028]
    assert data[2027].source == "gov-2027-2028.yaml"
    assert data[2027].workdays == frozenset()
    assert data[2028].workdays == {d("2028-01-02")}


def test_utf8_bom_is_accepted() -> None:
    """A UTF-8 file saved with a BOM (common on Windows) still parses."""
    data = parse("\ufeff2027:\n  source: 通知\n  holidays: [2027-01-01]\n".encode())
    assert data[2027].source == "通知"


Y = "2027:\n  holidays: [2027-01-01]\n"  # a valid year body to vary


def bad(case_id: str, filename: str, content: str | bytes, field: str, fragment: str) -> Any:
    """One invalid-file case: the InvalidInput must name ``field`` and mention ``fragment``."""
    return pytest.param(filename, content, field, fragment, id=case_id)


INVALID_FILES = [
    # years
    bad("yaml-year-1999", "cal.yaml", "1999:\n  holidays: [1999-01-01]\n", "1999", "outside"),
    bad("yaml-year-2101", "cal.yaml", "2101:\n  holidays: [2101-01-01]\n", "2101", "outside"),
    bad("yaml-year-not-number", "cal.yaml", "next:\n  holidays: [2027-01-01]\n", "next", "year"),
    bad(
        "yaml-year-twice", "cal.yaml", Y + "2027:\n  holidays: [2027-01-02]\n", "2027", "duplicate"
    ),
    bad(
        "yaml-year-twice-int-and-str",
        "cal.yaml",
        Y + '"2027":\n  holidays: [2027-01-02]\n',
        "2027",
        "duplicate",
    ),
    bad("yaml-year-not-mapping", "cal.yaml", "2027: [2027-01-01]\n", "2027", "mapping"),
    # keys
    bad("yaml-unknown-key", "cal.yaml", Y + "  note: x\n", "2027.note", "unknown key"),
    bad(
        "yaml-key-twice", "cal.yaml", Y + "  holidays: [2027-01-02]\n", "2027.holidays", "duplicate"
    ),
    bad(
        "yaml-holidays-missing",
        "cal.yaml",
        "2027:\n  workdays: [2027-01-02]\n",
        "2027.holidays",
        "missing",
    ),
    bad("yaml-holidays-empty", "cal.yaml", "2027:\n  holidays: []\n", "2027.holidays", "empty"),
    bad(
        "yaml-holidays-not-list",
        "cal.yaml",
        "2027:\n  holidays: 2027-01-01\n",
        "2027.holidays",
        "list",
    ),
    bad("yaml-source-not-string", "cal.yaml", Y + "  source: 42\n", "2027.source", "string"),
    # dates
    bad(
        "yaml-date-not-in-year",
        "cal.yaml",
        "2027:\n  holidays: [2027-01-01, 2027-02-05, 2027-04-05, 2028-01-01]\n",
        "2027.holidays[3]",
        "not in 2027",
    ),
    bad(
        "yaml-range-end-not-in-year",
        "cal.yaml",
        "2027:\n  holidays: [{from: 2027-12-31, to: 2028-01-01}]\n",
        "2027.holidays[0].to",
        "not in 2027",
    ),
    bad(
        "yaml-date-slashes",
        "cal.yaml",
        '2027:\n  holidays: ["2027/01/01"]\n',
        "2027.holidays[0]",
        "ISO",
    ),
    bad(
        "yaml-date-unpadded",
        "cal.yaml",
        "2027:\n  holidays: [2027-1-1]\n",
        "2027.holidays[0]",
        "ISO",
    ),
    bad(
        "yaml-date-compact-int",
        "cal.yaml",
        "2027:\n  holidays: [20270101]\n",
        "2027.holidays[0]",
        "ISO",
    ),
    bad(
        "yaml-bare-date-impossible",
        "cal.yaml",
        "2027:\n  holidays: [2027-01-01, 2027-02-30]\n",
        "2027.holidays[1]",
        "valid date",
    ),
    bad(
        "yaml-quoted-date-impossible",
        "cal.yaml",
        '2027:\n  holidays: ["2027-02-30"]\n',
        "2027.holidays[0]",
        "valid date",
    ),
    bad(
        "yaml-datetime",
        "cal.yaml",
        "2027:\n  holidays: [2027-01-01T08:00:00]\n",
        "2027.holidays[0]",
        "time",
    ),
    # ranges
    bad(
        "yaml-range-from-after-to",
        "cal.yaml",
        "2027:\n  holidays: [2027-01-01, {from: 2027-02-11, to: 2027-02-05}]\n",
        "2027.holidays[1]",
        "backwards",
    ),
    bad(
        "yaml-range-missing-to",
        "cal.yaml",
        "2027:\n  holidays: [{from: 2027-02-05}]\n",
        "2027.holidays[0].to",
        "missing",
    ),
    bad(
        "yaml-range-unknown-key",
        "cal.yaml",
        "2027:\n  holidays: [{from: 2027-02-05, to: 2027-02-06, until: 2027-02-07}]\n",
        "2027.holidays[0].until",
        "unknown key",
    ),
    bad(
        "yaml-range-end-not-iso",
        "cal.yaml",
        "2027:\n  holidays: [2027-01-01, {from: 2027-02-05, to: Feb 11}]\n",
        "2027.holidays[1].to",
        "ISO",
    ),
    bad(
        "yaml-holiday-listed-twice",
        "cal.yaml",
        "2027:\n  holidays: [2027-02-05, {from: 2027-02-01, to: 2027-02-07}]\n",
        "2027.holidays[1]",
        "already listed at 2027.holidays[0]",
    ),
    # make-up days
    bad(
        "yaml-makeup-on-monday",
        "cal.yaml",
        Y + "  workdays: [2027-02-15]\n",
        "2027.workdays[0]",
        "Monday",
    ),
    bad(
        "yaml-makeup-range-reaches-monday",
        "cal.yaml",
        Y + "  workdays: [2027-02-20, {from: 2027-02-27, to: 2027-03-01}]\n",
        "2027.workdays[1]",
        "Monday",
    ),
    bad(
        "yaml-day-both-holiday-and-workday",
        "cal.yaml",
        "2027:\n  holidays: [{from: 2027-02-05, to: 2027-02-12}]\n"
        "  workdays: [2027-02-20, 2027-02-06]\n",
        "2027.workdays[1]",
        "both",
    ),
    # whole file
    bad(
        "yaml-gbk-bytes",
        "cal.yaml",
        "2027:\n  source: 国务院通知\n  holidays: [2027-01-01]\n".encode("gbk"),
        "cal.yaml",
        "UTF-8",
    ),
    bad("yaml-empty", "cal.yaml", b"", "cal.yaml", "empty"),
    bad("yaml-whitespace-only", "cal.yaml", b"  \n\n", "cal.yaml", "empty"),
    bad("yaml-comments-only", "cal.yaml", "# nothing yet\n", "cal.yaml", "no years"),
    bad("yaml-top-level-list", "cal.yaml", "- 2027-01-01\n", "cal.yaml", "top level"),
    bad("yaml-syntax-error", "cal.yaml", "2027: [2027-01-01\n", "cal.yaml", "not valid YAML"),
    bad("yaml-two-documents", "cal.yaml", Y + "---\n" + Y, "cal.yaml", "not valid YAML"),
    bad(
        "unknown-extension",
        "cal.json",
        '{"2027": {"holidays": ["2027-01-01"]}}',
        "cal.json",
        "file type",
    ),
    # TOML
    bad("toml-year-1999", "cal.toml", '["1999"]\nholidays = [1999-01-01]\n', "1999", "outside"),
    bad(
        "toml-date-not-in-year",
        "cal.toml",
        '["2027"]\nholidays = [2027-01-01, 2027-02-05, 2027-04-05, 2028-01-01]\n',
        "2027.holidays[3]",
        "not in 2027",
    ),
    bad(
        "toml-date-not-iso",
        "cal.toml",
        '["2027"]\nholidays = ["01/01/2027"]\n',
        "2027.holidays[0]",
        "ISO",
    ),
    bad(
        "toml-datetime",
        "cal.toml",
        '["2027"]\nholidays = [2027-01-01T08:00:00]\n',
        "2027.holidays[0]",
        "time",
    ),
    bad(
        "toml-makeup-on-monday",
        "cal.toml",
        '["2027"]\nholidays = [2027-01-01]\nworkdays = [2027-02-15]\n',
        "2027.workdays[0]",
        "Monday",
    ),
    bad(
        "toml-day-both",
        "cal.toml",
        '["2027"]\nholidays = [2027-02-06]\nworkdays = [2027-02-06]\n',
        "2027.workdays[0]",
        "both",
    ),
    bad(
        "toml-unknown-key",
        "cal.toml",
        '["2027"]\nholidays = [2027-01-01]\nnotes = "x"\n',
        "2027.notes",
        "unknown key",
    ),
    bad(
        "toml-range-from-after-to",
        "cal.toml",
        '["2027"]\nholidays = [{from = 2027-02-11, to = 2027-02-05}]\n',
        "2027.holidays[0]",
        "backwards",
    ),
    bad(
        "toml-impossible-date",
        "cal.toml",
        '["2027"]\nholidays = [2027-02-30]\n',
        "cal.toml",
        "not valid TOML",
    ),
    bad(
        "toml-syntax-error",
        "cal.toml",
        '["2027"]\nholidays = [2027-01-01\n',
        "cal.toml",
        "not valid TOML",
    ),
    bad(
        "toml-table-twice",
        "cal.toml",
        '["2027"]\nholidays = [2027-01-01]\n["2027"]\nworkdays = []\n',
        "cal.toml",
        "not valid TOML",
    ),
    bad(
        "toml-gbk-bytes",
        "cal.toml",
        '["2027"]\nsource = "国务院办公厅通知"\nholidays = [2027-01-01]\n'.encode("gbk"),
        "cal.toml",
        "UTF-8",
    ),
    bad("toml-empty", "cal.toml", b"", "cal.toml", "empty"),
    bad("toml-comments-only", "cal.toml", "# nothing yet\n", "cal.toml", "no years"),
]


@pytest.mark.parametrize(("filename", "content", "field", "fragment"), INVALID_FILES)
def test_invalid_import_file(
    filename: str, content: str | bytes, field: str, fragment: str
) -> None:
    """Each malformed import file is refused with InvalidInput naming the offending field path."""
    with pytest.raises(InvalidInput) as info:
        parse(content, filename)
    assert info.value.field == field
    assert info.value.message.startswith(f"{field}: ")
    assert fragment in info.value.message


# --------------------------------------------------------------------------- property

FIRST, LAST = date(2004, 1, 1), date(2026, 12, 31)


@settings(max_examples=400, deadline=None, database=None)
@given(start=st.dates(min_value=FIRST, max_value=LAST), n=st.integers(min_value=1, max_value=30))
def test_add_workdays_property(start: date, n: int) -> None:
    """For any covered start and n in 1..30: the result is a working day (also per
    chinesecalendar), not before start, and [start, result] holds exactly n working days —
    unless fewer than n remain before the data end, which is a CalendarGap for 2027."""
    try:
        end = CAL.add_workdays(start, n)
    except CalendarGap as gap:
        assert gap.year == 2027
        assert len(CAL.workdays_between(start, LAST)) < n
        return
    assert CAL.is_workday(end)
    assert chinese_calendar.is_workday(end)
    assert end >= start
    between = CAL.workdays_between(start, end)
    assert len(between) == n
    assert between[-1] == end
    assert CAL.next_workday(start) == between[0]
