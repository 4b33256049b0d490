"""The Guangdong region table (states/regions.py, states/regions.json): DESIGN §7."""

from __future__ import annotations

import ast
import json
import pickle
import re
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from gdcluster.states import regions as regions_module
from gdcluster.states.regions import (
    COUNTY_LEVEL_KINDS,
    AmbiguousRegion,
    RegionDataError,
    RegionTable,
    UnknownRegion,
    load_regions,
)

TABLE = load_regions()
RAW: dict[str, Any] = json.loads(
    resources.files("gdcluster.states").joinpath("regions.json").read_text(encoding="utf-8")
)

# The 21 prefecture-level cities with their GB/T 2260 codes and the number of units of each
# kind, counted from the 民政部 county-level code list (and, for 东莞市 and 中山市, the 国家统计局
# 统计用区划代码 towns and streets). Zones are counted separately: they are not in either list.
#            city       code     区  县级市 县  自治县 街道 镇  zones
CITIES = [
    ("广州市", "440100", 11, 0, 0, 0, 0, 0, 0),
    ("韶关市", "440200", 3, 2, 4, 1, 0, 0, 0),
    ("深圳市", "440300", 9, 0, 0, 0, 0, 0, 2),
    ("珠海市", "440400", 3, 0, 0, 0, 0, 0, 1),
    ("汕头市", "440500", 6, 0, 1, 0, 0, 0, 1),
    ("佛山市", "440600", 5, 0, 0, 0, 0, 0, 1),
    ("江门市", "440700", 3, 4, 0, 0, 0, 0, 1),
    ("湛江市", "440800", 4, 3, 2, 0, 0, 0, 2),
    ("茂名市", "440900", 2, 3, 0, 0, 0, 0, 2),
    ("肇庆市", "441200", 3, 1, 4, 0, 0, 0, 1),
    ("惠州市", "441300", 2, 0, 3, 0, 0, 0, 2),
    ("梅州市", "441400", 2, 1, 5, 0, 0, 0, 0),
    ("汕尾市", "441500", 1, 1, 2, 0, 0, 0, 0),
    ("河源市", "441600", 1, 0, 5, 0, 0, 0, 1),
    ("阳江市", "441700", 2, 1, 1, 0, 0, 0, 0),
    ("清远市", "441800", 2, 2, 2, 2, 0, 0, 1),
    ("东莞市", "441900", 0, 0, 0, 0, 4, 28, 4),
    ("中山市", "442000", 0, 0, 0, 0, 8, 15, 2),
    ("潮州市", "445100", 2, 0, 1, 0, 0, 0, 0),
    ("揭阳市", "445200", 2, 1, 2, 0, 0, 0, 0),
    ("云浮市", "445300", 2, 1, 2, 0, 0, 0, 0),
]
# Test ids in pinyin: pytest escapes non-ASCII ids, which makes them unreadable in reports.
PINYIN = {
    "广州市": "guangzhou",
    "韶关市": "shaoguan",
    "深圳市": "shenzhen",
    "珠海市": "zhuhai",
    "汕头市": "shantou",
    "佛山市": "foshan",
    "江门市": "jiangmen",
    "湛江市": "zhanjiang",
    "茂名市": "maoming",
    "肇庆市": "zhaoqing",
    "惠州市": "huizhou",
    "梅州市": "meizhou",
    "汕尾市": "shanwei",
    "河源市": "heyuan",
    "阳江市": "yangjiang",
    "清远市": "qingyuan",
    "东莞市": "dongguan",
    "中山市": "zhongshan",
    "潮州市": "chaozhou",
    "揭阳市": "jieyang",
    "云浮市": "yunfu",
}
CITY_IDS = [f"{PINYIN[row[0]]}-{row[1]}" for row in CITIES]
KIND_COLUMNS = ("district", "county_city", "county", "autonomous_county", "street", "town", "zone")

KNOWN_CODES = [
    ("440604", "佛山市禅城区"),
    ("440605", "佛山市南海区"),
    ("440303", "深圳市罗湖区"),
    ("440311", "深圳市光明区"),
    ("440205", "韶关市曲江区"),
    ("440904", "茂名市电白区"),
    ("441403", "梅州市梅县区"),
    ("441502", "汕尾市城区"),
    ("441581", "汕尾市陆丰市"),
    ("441803", "清远市清新区"),
    ("441825", "清远市连山壮族瑶族自治县"),
    ("445103", "潮州市潮安区"),
    ("445203", "揭阳市揭东区"),
    ("445303", "云浮市云安区"),
    ("441900005", "东莞市万江街道"),
    ("441900121", "东莞市虎门镇"),
    ("441900404", "东莞滨海湾新区"),
    ("442000118", "中山市小榄镇"),
    ("442000008", "中山市南朗街道"),
]


def _raw_copy() -> dict[str, Any]:
    result: dict[str, Any] = json.loads(json.dumps(RAW))
    return result


def _raw_city(data: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in data["cities"] if c["name"] == name)
    return found


def test_exactly_the_21_prefecture_level_cities() -> None:
    """The table has the 21 地级市 of 广东省 and nothing else, in code order."""
    assert list(TABLE.cities) == [row[0] for row in CITIES]
    assert len(TABLE) == 21


@pytest.mark.parametrize("name,code", [row[:2] for row in CITIES], ids=CITY_IDS)
def test_city_code_is_a_guangdong_prefecture_code(name: str, code: str) -> None:
    """Each city carries its own 44xx00 GB/T 2260 code and is found by name, short name and code."""
    city = TABLE.cities[name]
    assert re.fullmatch(r"44\d\d00", city.code)
    assert city.code == code
    assert TABLE.city(name) is TABLE.city(name.removesuffix("市")) is TABLE.city(code) is city


@pytest.mark.parametrize("row", CITIES, ids=CITY_IDS)
def test_unit_counts_per_city_match_the_official_lists(row: tuple[Any, ...]) -> None:
    """Each city has exactly the units the official code lists give it, kind by kind."""
    name, _code, *counts = row
    found = Counter(unit.kind for unit in TABLE.units_of(name))
    assert {kind: found[kind] for kind in KIND_COLUMNS} == dict(
        zip(KIND_COLUMNS, counts, strict=True)
    )


def test_county_level_total_is_that_of_the_national_list() -> None:
    """广东省 has 122 county-level units: 65 市辖区, 20 县级市, 34 县, 3 自治县."""
    found = Counter(u.kind for u in TABLE.units if u.kind in COUNTY_LEVEL_KINDS)
    assert found == {"district": 65, "county_city": 20, "county": 34, "autonomous_county": 3}


@pytest.mark.parametrize("code,name", KNOWN_CODES, ids=[code for code, _ in KNOWN_CODES])
def test_known_codes(code: str, name: str) -> None:
    """A unit's code and canonical name lead to the same unit, and it carries that code."""
    unit = TABLE.unit(code)
    assert unit.name == name
    assert unit.code == code
    assert TABLE.unit(name) is unit


def test_codes_sit_under_their_city_in_the_range_of_their_kind() -> None:
    """GB/T 2260 reserves 01–20 for 区, 21–70 for 县, 81–99 for 县级市; 统计用区划代码 uses
    0xx for 街道, 1xx for 镇, 4xx for zones — a code outside its range is a data error."""
    ranges = {
        "district": range(1, 21),
        "county": range(21, 71),
        "autonomous_county": range(21, 71),
        "county_city": range(81, 100),
    }
    township = {"street": "0", "town": "1", "zone": "4"}
    for city in TABLE:
        for unit in city.units:
            if unit.kind in COUNTY_LEVEL_KINDS:
                assert unit.code is not None and unit.code[:4] == city.code[:4], unit
                assert int(unit.code[4:]) in ranges[unit.kind], unit
            elif unit.code is not None:
                assert unit.code[:6] == city.code and len(unit.code) == 9, unit
                assert unit.code[6] == township[unit.kind], unit


def test_every_unit_name_is_unique() -> None:
    """No two units share a canonical name, in the file as in the loaded table."""
    names = [u.name for u in TABLE.units]
    assert len(names) == len(set(names))
    raw_names = [u.get("name") or c["name"] + u["short"] for c in RAW["cities"] for u in c["units"]]
    assert sorted(raw_names) == sorted(names)


def test_every_code_is_unique() -> None:
    """No two units, and no unit and a city, share a code."""
    codes = [u.code for u in TABLE.units if u.code] + [c.code for c in TABLE]
    assert len(codes) == len(set(codes))


def test_every_unit_resolves_by_its_name_and_code() -> None:
    """Whatever the table lists, it also finds: by canonical name, and by code where it has one."""
    for unit in TABLE.units:
        assert TABLE.unit(unit.name) is unit
        assert TABLE.city_of(unit.name).name == unit.city
        if unit.code:
            assert TABLE.unit(unit.code) is unit


def test_cities_without_counties_hold_towns_streets_and_zones() -> None:
    """东莞市 and 中山市 have no county level: their applicants are 街道, 镇 and zones."""
    for name in ("东莞市", "中山市"):
        city = TABLE.city(name)
        assert city.has_counties is False
        assert {u.kind for u in city.units} == {"street", "town", "zone"}
    assert all(c.has_counties for c in TABLE if c.name not in ("东莞市", "中山市"))
    wanjiang = TABLE.unit("东莞市万江街道")
    assert (wanjiang.city, wanjiang.kind, wanjiang.short) == ("东莞市", "street", "万江街道")
    xiaolan = TABLE.unit("中山市小榄镇")
    assert (xiaolan.city, xiaolan.kind, xiaolan.short) == ("中山市", "town", "小榄镇")
    torch = TABLE.unit("中山火炬高新区")
    assert (torch.city, torch.kind, torch.short, torch.code) == (
        "中山市",
        "zone",
        "火炬高新区",
        None,
    )


def test_zone_outside_the_two_cities_resolves_under_its_city() -> None:
    """惠州仲恺高新区 files as a unit of 惠州市, under its own name and its usual variants."""
    zone = TABLE.unit("惠州仲恺高新区")
    assert (zone.city, zone.kind, zone.short) == ("惠州市", "zone", "仲恺高新区")
    for variant in ("仲恺高新区", "惠州市仲恺高新区", "惠州仲恺高新技术产业开发区"):
        assert TABLE.unit(variant) is zone
    assert zone in TABLE.units_of("惠州")


@pytest.mark.parametrize(
    "typed,canonical",
    [
        pytest.param("南海区", "佛山市南海区", id="short"),
        pytest.param("佛山南海区", "佛山市南海区", id="city-without-shi"),
        pytest.param("佛山市 南海区", "佛山市南海区", id="inner-space"),
        pytest.param("  佛山市南海区\n", "佛山市南海区", id="outer-whitespace"),
        pytest.param("广东省佛山市南海区", "佛山市南海区", id="with-province"),
        pytest.param("４４０６０５", "佛山市南海区", id="full-width-code"),
        pytest.param("万江街道", "东莞市万江街道", id="street-short"),
        pytest.param("小榄镇", "中山市小榄镇", id="town-short"),
        pytest.param("火炬高新区", "中山火炬高新区", id="zone-short"),
        pytest.param("中山火炬开发区", "中山火炬高新区", id="zone-alias"),
        pytest.param("松山湖", "东莞松山湖高新区", id="zone-statistical-name"),
        pytest.param("城区", "汕尾市城区", id="chengqu-unique-in-guangdong"),
    ],
)
def test_short_and_variant_names_resolve_when_unambiguous(typed: str, canonical: str) -> None:
    """Administrators type short names, drop 市, paste spaces and full-width digits: all resolve
    to the one unit they can mean."""
    assert TABLE.unit(typed).name == canonical


def test_ambiguous_short_name_is_refused_with_the_candidates() -> None:
    """ "高新区" fits a zone in nine cities: refused, every candidate named, none picked."""
    with pytest.raises(AmbiguousRegion) as caught:
        TABLE.unit("高新区")
    error = caught.value
    assert isinstance(error, UnknownRegion)
    assert {"佛山高新区", "珠海高新区", "江门高新区"} <= set(error.candidates)
    assert error.suggestions == error.candidates
    assert all(candidate in str(error) for candidate in error.candidates)
    assert TABLE.unit("高新区", city="佛山市").name == "佛山高新区"


def test_every_shared_short_name_is_ambiguous() -> None:
    """Any short name the table gives to more than one unit is refused, never resolved."""
    shared = [s for s, n in Counter(u.short for u in TABLE.units).items() if n > 1]
    assert shared
    for short in shared:
        with pytest.raises(AmbiguousRegion):
            TABLE.unit(short)


def test_unknown_unit_is_refused_with_a_suggestion() -> None:
    """A near miss ("南海" for 南海区) is refused, and the message says what was probably meant."""
    with pytest.raises(UnknownRegion) as caught:
        TABLE.unit("南海")
    error = caught.value
    assert not isinstance(error, AmbiguousRegion)
    assert (error.name, error.kind) == ("南海", "unit")
    assert error.suggestions[0] == "佛山市南海区"
    assert "佛山市南海区" in str(error)
    assert "南海" in str(error) and "unknown" in str(error)


def test_name_with_nothing_close_is_refused_without_suggestions() -> None:
    """A name nowhere near any unit is refused outright; no suggestion is invented."""
    with pytest.raises(UnknownRegion) as caught:
        TABLE.unit("浦东新区")
    assert caught.value.suggestions == []


@pytest.mark.parametrize(
    "old,successor",
    [
        pytest.param("茂名市茂港区", "茂名市电白区", id="maogang"),
        pytest.param("440903", "茂名市电白区", id="maogang-code"),
        pytest.param("梅县", "梅州市梅县区", id="meixian"),
        pytest.param("揭阳市揭东县", "揭阳市揭东区", id="jiedong"),
        pytest.param("潮安县", "潮州市潮安区", id="chaoan"),
        pytest.param("清新县", "清远市清新区", id="qingxin"),
        pytest.param("曲江县", "韶关市曲江区", id="qujiang"),
        pytest.param("云安县", "云浮市云安区", id="yunan"),
        pytest.param("中山市东升镇", "中山市小榄镇", id="dongsheng"),
        pytest.param("442000100", "中山市小榄镇", id="old-xiaolan-code"),
        pytest.param("民众镇", "中山市民众街道", id="minzhong"),
    ],
)
def test_abolished_units_are_refused_pointing_to_their_successor(old: str, successor: str) -> None:
    """Units abolished by recent 区划 changes no longer file; the refusal names their successor."""
    with pytest.raises(UnknownRegion) as caught:
        TABLE.unit(old)
    assert caught.value.suggestions == [successor]
    assert "已撤销" in str(caught.value)


def test_a_city_is_not_a_unit_and_a_unit_is_not_a_city() -> None:
    """Mixing levels is refused with a hint: 佛山市 files nothing itself; 阳春市 is county-level."""
    with pytest.raises(UnknownRegion) as as_unit:
        TABLE.unit("佛山市")
    assert "地级市" in str(as_unit.value)
    with pytest.raises(UnknownRegion) as as_city:
        TABLE.city("阳春市")
    assert as_city.value.kind == "city"
    assert as_city.value.suggestions == ["阳江市"]


def test_unit_outside_the_given_city_is_refused() -> None:
    """A city may name only its own units: 南海区 is not one of 广州市's."""
    with pytest.raises(UnknownRegion) as caught:
        TABLE.unit("南海区", city="广州市")
    assert caught.value.city == "广州市"
    assert "佛山市" in str(caught.value)


def test_membership_means_exactly_one_match() -> None:
    """``in`` says whether a name denotes one city or unit: ambiguous and unknown names do not."""
    assert "佛山市南海区" in TABLE
    assert "佛山" in TABLE
    assert "高新区" not in TABLE
    assert "南海" not in TABLE
    assert 440605 not in TABLE


def test_lookup_errors_survive_pickling() -> None:
    """Errors keep their facts when they cross a process boundary (scheduler workers)."""
    with pytest.raises(AmbiguousRegion) as caught:
        TABLE.unit("高新区")
    copy = pickle.loads(pickle.dumps(caught.value))
    assert type(copy) is AmbiguousRegion
    assert (copy.name, copy.candidates, str(copy)) == (
        caught.value.name,
        caught.value.candidates,
        str(caught.value),
    )


def test_data_file_records_its_source_and_date() -> None:
    """Administrators answer for the data: the file says where it came from and as of when."""
    source = TABLE.source
    assert "民政部" in source["county_level"]
    assert "国家统计局" in source["town_level"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", source["as_of"])
    assert set(RAW["kinds"]) == {
        "district",
        "county_city",
        "county",
        "autonomous_county",
        "town",
        "street",
        "zone",
    }


@pytest.mark.parametrize(
    "change",
    [
        "duplicate-code",
        "code-under-wrong-city",
        "district-code-in-county-range",
        "county-without-code",
        "town-in-city-with-counties",
        "successor-missing",
    ],
)
def test_malformed_data_is_refused_when_loaded(change: str) -> None:
    """A bad edit to the data file fails at load time, not when some case trips over it."""
    data = _raw_copy()
    foshan = _raw_city(data, "佛山市")
    if change == "duplicate-code":
        foshan["units"][1]["code"] = foshan["units"][0]["code"]
    elif change == "code-under-wrong-city":
        foshan["units"][0]["code"] = "440199"
    elif change == "district-code-in-county-range":
        foshan["units"][0]["code"] = "440621"
    elif change == "county-without-code":
        foshan["units"][0]["code"] = None
    elif change == "town-in-city-with-counties":
        foshan["units"].append({"short": "西樵镇", "code": None, "kind": "town"})
    elif change == "successor-missing":
        data["former_units"][0]["successors"] = ["广州市萝岗新区"]
    with pytest.raises(RegionDataError):
        RegionTable.from_json(data)
    RegionTable.from_json(RAW)


def test_load_regions_reads_the_file_once() -> None:
    """The table is built once per process; every caller shares it."""
    assert load_regions() is load_regions()


def test_regions_module_depends_on_nothing_from_the_engine() -> None:
    """states/ sits below engine/ (DESIGN §1): the region table must not import it."""
    tree = ast.parse(Path(regions_module.__file__).read_text(encoding="utf-8"))
    imported = [
        node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
    ] + [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    ]
    assert imported
    assert not [m for m in imported if m.startswith(("gdcluster", "engine", "."))]
