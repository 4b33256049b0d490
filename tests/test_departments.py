"""The departments notices name (states/departments.toml), checked against the region table."""

from __future__ import annotations

import pytest

from gdcluster.states.departments import DepartmentDataError, load_departments, parse_departments
from gdcluster.states.regions import load_regions


def test_every_city_has_its_department_and_shenzhen_its_own() -> None:
    """All 21 cities have a 中小企业主管部门 named after the city; 深圳's is its 中小企业服务局,
    the others their 工业和信息化局. A short city name is accepted as the region table does."""
    departments = load_departments()
    for city in load_regions():
        name = departments.city(city.name)
        assert name.startswith(city.name)
        expected = "中小企业服务局" if city.name == "深圳市" else "工业和信息化局"
        assert name == city.name + expected
    assert departments.city("佛山") == "佛山市工业和信息化局"


def test_a_units_department_and_the_remedies() -> None:
    """A county-level unit's department is named by the generic phrase (canonical names, a
    short name resolved); the remedies carry their periods and the articles they come from;
    the measures' 印发通知 is known by its number."""
    departments = load_departments()
    assert departments.unit("南海区") == "佛山市南海区中小企业主管部门"
    assert departments.unit("东莞市长安镇") == "东莞市长安镇中小企业主管部门"
    remedies = departments.remedies
    assert (remedies.review_body, remedies.review_days, remedies.litigation_months) == (
        "广东省人民政府", 60, 6)
    assert "行政复议法》第二十条" in remedies.review_source
    assert "行政诉讼法》第四十六条" in remedies.litigation_source
    assert departments.issued_title("粤工信服务函〔2023〕4号") == (
        "广东省工业和信息化厅关于印发广东省促进中小企业特色产业集群发展暂行办法的通知")
    assert departments.issued_title("粤工信服务函〔2099〕1号") is None


BASE = """
[cities]
{cities}
[units]
department = "{{unit}}中小企业主管部门"
[issued]
[remedies]
review_body = "广东省人民政府"
review_days = 60
review_source = "a"
litigation_months = 6
litigation_source = "b"
"""


def _cities(skip: str = "", extra: str = "") -> str:
    lines = [f'"{city.name}" = "{city.name}工业和信息化局"' for city in load_regions()
             if city.name != skip]
    return "\n".join([*lines, extra])


@pytest.mark.parametrize(("text", "problem"), [
    (BASE.format(cities=_cities(skip="云浮市")), "no department for 云浮市"),
    (BASE.format(cities=_cities(extra='"火星市" = "火星市工业和信息化局"')), "cities.火星市"),
    (BASE.format(cities=_cities()).replace("{unit}", "县"), "units"),
    (BASE.format(cities=_cities()).replace("review_days = 60", "review_days = 0"),
     "review_days"),
    (BASE.format(cities=_cities()).replace('review_body = "广东省人民政府"\n', ""),
     "remedies.review_body"),
    (BASE.format(cities=_cities()) + "typo = 1\n", "remedies.typo"),
], ids=["missing-city", "unknown-city", "no-unit-placeholder", "zero-days", "missing-key",
        "unknown-key"])
def test_bad_department_data_is_refused_when_loaded(text: str, problem: str) -> None:
    """A gap or a typo in the data is found when the file is loaded, naming where."""
    with pytest.raises(DepartmentDataError, match=problem):
        parse_departments(text.encode("utf-8"), "departments.toml")
