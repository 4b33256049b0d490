"""Issue 6 §6, injection, on SQLite and PostgreSQL: names and reasons holding Jinja syntax,
HTML, SQL, XML and very long text are stored exactly and rendered as data — literally in the
text and .docx notices, escaped in HTML. Control characters and bidirectional controls are
refused (exit 2, naming the field) by the rule of ``gdcluster.engine.text``: names are one
line with no control or invisible characters; reasons keep line breaks and tabs; no text may
hold a bidirectional control (U+202A–U+202E, U+2066–U+2069, U+200E/F, U+061C), which could
make a notice show something other than what is stored.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

import markupsafe
import pytest
from click.testing import CliRunner
from hardening_support import APPLICATION_FILE, load_application, module_db_url, snapshot
from support import CITY, TIMES, Walker, revoke_now

from gdcluster.cli import cli
from gdcluster.engine import Engine, InvalidInput
from gdcluster.engine.clock import FakeClock
from gdcluster.notifications.render import Rendered
from gdcluster.notifications.service import render_notice
from gdcluster.notifications.settings import Settings

__all__ = ["module_db_url"]

NAMES = {
    "jinja": "{{ 7*7 }}{% if true %}真{% endif %}{# 注释 #}{{ config }}产业集群",
    "jinja-sandbox": "{{ ''.__class__.__mro__[1].__subclasses__() }}产业集群",
    "html": "<script>alert('集群')</script><b onmouseover=\"x()\">&amp;&lt;粗</b>",
    "sql": "佛山'); DROP TABLE gd_case; -- \" OR 1=1 /* 集群",
    "xml": "]]><![CDATA[<notice/>]]>&#x26;<?xml version=\"1.0\"?><!DOCTYPE x []>",
    "longest": "长" * 10_000,  # a name's limit: 10,000 characters
}
REASONS = {
    "jinja": "{{ 7*7 }}{% for x in range(3) %}{{ x }}{% endfor %}：不符合条件",
    "html": "<img src=x onerror=alert(1)><a href=\"javascript:x\">链接</a> & 'quoted'",
    "sql": "x'; DELETE FROM gd_audit WHERE '1'='1",
    "multi-line": "第一，缺少2023年产值证明；\n\t第二，面积数据有误。\n第三，请核实。",
    "ten-thousand": ("{{ 理由 }}<b>粗</b>'\"&；" * 1000)[:10_000],
}


@dataclass
class Issued:
    engine: Engine
    returned: dict[str, int]  # name key -> case returned with REASONS[same index]
    revoked: int
    reasons: dict[int, str]


@pytest.fixture(scope="module")
def issued(module_db_url: str) -> Iterator[Issued]:
    """One case per hostile name, each returned (退回补正) with a hostile reason; one recognized
    case revoked with the 10,000-character reason; all through the engine."""
    clock = FakeClock(TIMES["open"])
    engine = Engine.init(module_db_url, simulation=True, clock=clock)
    try:
        walker = Walker(engine, clock, load_application())
        reason_list = list(REASONS.values())
        returned, reasons = {}, {}
        for index, (key, name) in enumerate(NAMES.items()):
            case_id = walker.to("submitted", name=name)
            reason = reason_list[index % len(reason_list)]
            engine.fire(case_id, "return", CITY, reason=reason)
            returned[key], reasons[case_id] = case_id, reason
        revoked = walker.to("recognized", name=NAMES["html"])
        revoke_now(engine, revoked, "18.5", REASONS["ten-thousand"])
        reasons[revoked] = f"18.5 {REASONS['ten-thousand']}"
        yield Issued(engine, returned, revoked, reasons)
    finally:
        engine.close()


def rendered(engine: Engine, kind: str, case_id: int, fmt: str) -> Rendered:
    return render_notice(engine, kind, case_id=case_id, fmt=fmt, settings=Settings(),
                         fresh=True)


def docx_text(body: bytes) -> str:
    """Every paragraph and table cell of a .docx, as Word would show the text."""
    from docx import Document

    document = Document(io.BytesIO(body))
    parts = [paragraph.text for paragraph in document.paragraphs]
    for table in document.tables:
        parts += [cell.text for row in table.rows for cell in row.cells]
    return "\n".join(parts)


@pytest.mark.parametrize("key", list(NAMES))
def test_hostile_names_and_reasons_are_stored_exactly(issued: Issued, key: str) -> None:
    """The name, the reason in the audit trail, and the name in the audit payload read back
    exactly as given: nothing evaluated, escaped, truncated or reordered."""
    case_id = issued.returned[key]
    assert issued.engine.get(case_id).name == NAMES[key]
    history = issued.engine.history(case_id)
    assert history[0]["payload"]["name"] == NAMES[key]
    assert history[-1]["trigger"] == "return"
    assert history[-1]["reason"] == issued.reasons[case_id]
    assert [view.name for view in issued.engine.list_cases() if view.id == case_id] == [NAMES[key]]


@pytest.mark.parametrize("fmt", ["txt", "docx"])
@pytest.mark.parametrize("key", list(NAMES))
def test_text_and_docx_notices_show_them_literally(issued: Issued, key: str, fmt: str) -> None:
    """The 退回补正 letter in text and in .docx carries the name and the reason character for
    character (a Jinja expression is not evaluated: no "49" for {{ 7*7 }})."""
    case_id = issued.returned[key]
    body = rendered(issued.engine, "return", case_id, fmt).body
    text = body.decode("utf-8") if fmt == "txt" else docx_text(body)
    assert NAMES[key] in text
    assert issued.reasons[case_id] in text
    if key == "jinja":
        assert "49" not in text


@pytest.mark.parametrize("key", list(NAMES))
def test_html_notices_escape_them(issued: Issued, key: str) -> None:
    """The HTML letter carries the name and the reason HTML-escaped, so no tag, attribute or
    entity from them reaches the browser as markup."""
    case_id = issued.returned[key]
    html = rendered(issued.engine, "return", case_id, "html").body.decode("utf-8")
    assert str(markupsafe.escape(NAMES[key])) in html
    assert str(markupsafe.escape(issued.reasons[case_id])) in html
    for markup in ("<script", "<b onmouseover", "<img", "<a href", "<![CDATA", "<notice/>"):
        assert markup not in html


@pytest.mark.parametrize("fmt", ["txt", "html", "docx"])
def test_a_ten_thousand_character_reason_survives_every_format(issued: Issued,
                                                               fmt: str) -> None:
    """A revocation whose facts run to 10,000 characters of markup-like text: stored whole,
    and whole in the notice (escaped in HTML)."""
    reason = REASONS["ten-thousand"]
    assert len(reason) == 10_000
    assert issued.engine.history(issued.revoked)[-1]["reason"] == f"18.5 {reason}"
    body = rendered(issued.engine, "revocation", issued.revoked, fmt).body
    if fmt == "txt":
        assert reason in body.decode("utf-8")
    elif fmt == "html":
        assert str(markupsafe.escape(reason)) in body.decode("utf-8")
    else:
        assert reason in docx_text(body)


# ---------------------------------------------------------------------------- refused
ONE_LINE_REFUSED = {
    "nul": "\x00", "bell": "\x07", "escape": "\x1b[2J", "delete": "\x7f", "c1": "\x85",
    "newline": "\n", "tab": "\t", "line-separator": "\u2028", "rlo": "\u202e",
    "lre": "\u202a", "pdf": "\u202c", "rli": "\u2067", "pdi": "\u2069", "rlm": "\u200f",
    "alm": "\u061c", "zero-width-space": "\u200b", "bom": "\ufeff", "surrogate": "\udcff",
    "non-character": "\ufffe",
}
MULTI_LINE_REFUSED = {key: value for key, value in ONE_LINE_REFUSED.items()
                      if key not in ("newline", "tab", "line-separator", "zero-width-space",
                                     "bom")}


@pytest.mark.parametrize("key", list(ONE_LINE_REFUSED))
def test_control_and_bidi_characters_in_names_are_refused(issued: Issued, key: str) -> None:
    """A cluster name, an industry, an expert's or an objector's name holding a control,
    line-break, invisible or bidirectional character is refused (InvalidInput, exit 2) with
    the field named, and nothing is written: a right-to-left override could make a notice
    name someone else."""
    engine = issued.engine
    bad = f"佛山市{ONE_LINE_REFUSED[key]}南海区铝型材产业集群"
    before = snapshot(engine)
    for field, call in (
        ("name", lambda: engine.create_case(round_year=2024, name=bad, county="佛山市南海区",
                                            industry="铝型材", data={},
                                            actor="county:佛山市南海区")),
        ("industry", lambda: engine.create_case(round_year=2024, name="佛山集群",
                                                county="佛山市南海区", industry=bad, data={},
                                                actor="county:佛山市南海区")),
    ):
        with pytest.raises(InvalidInput) as caught:
            call()
        assert caught.value.field == field and caught.value.exit_code == 2
        assert caught.value.message.startswith(f"{field}:")
    assert snapshot(engine) == before


def test_a_name_past_ten_thousand_characters_is_refused(issued: Issued) -> None:
    """10,000 characters is the most a name may hold: one more is refused naming the field,
    and nothing is written."""
    engine = issued.engine
    before = snapshot(engine)
    with pytest.raises(InvalidInput) as caught:
        engine.create_case(round_year=2024, name="长" * 10_001, county="佛山市南海区",
                           industry="铝型材", data={}, actor="county:佛山市南海区")
    assert caught.value.field == "name" and "10000 characters" in caught.value.message
    assert snapshot(engine) == before


@pytest.mark.parametrize("key", list(MULTI_LINE_REFUSED))
def test_control_and_bidi_characters_in_reasons_are_refused(issued: Issued, key: str) -> None:
    """A reason may run over several lines, but a control character (terminal escapes, NUL,
    bell) or a bidirectional control is refused with the field named; nothing is written."""
    engine = issued.engine
    case_id = issued.returned["sql"]  # returned, hence a draft: submit it again to return it
    before = snapshot(engine)
    with pytest.raises(InvalidInput) as caught:
        engine.fire(case_id, "withdraw", "county:佛山市南海区",
                    reason=f"理由{MULTI_LINE_REFUSED[key]}其后")
    assert caught.value.field == "reason" and caught.value.exit_code == 2
    assert snapshot(engine) == before


def test_line_breaks_tabs_and_invisible_joiners_stay_in_reasons(issued: Issued) -> None:
    """What a multi-line reason may hold (CR, LF, tab, zero-width characters) is kept as is."""
    engine = issued.engine
    reason = "第一行\r\n第二行\t（附\u200d件）\n"
    case_id = engine.create_case(round_year=2024, name="换行测试产业集群", county="佛山市南海区",
                                 industry="测试", data={}, actor="county:佛山市南海区")
    view = engine.fire(case_id, "withdraw", "county:佛山市南海区", reason=reason)
    assert view.state == "withdrawn"
    assert engine.history(case_id)[-1]["reason"] == reason


RUNNER = CliRunner(env={"GDCLUSTER_DB": None, "GDCLUSTER_ACTOR": None, "GDCLUSTER_NOW": None})


@pytest.mark.parametrize("key", ["rlo", "escape", "newline", "surrogate"])
def test_the_cli_refuses_them_with_exit_2(issued: Issued, key: str) -> None:
    """Through `gdcluster case create --name` and `case withdraw --reason`: exit 2, the field
    named on stderr, nothing on stdout, nothing written."""
    engine = issued.engine
    before = snapshot(engine)
    bad = f"佛山{ONE_LINE_REFUSED[key]}集群"
    created = RUNNER.invoke(cli, [
        "--db", engine.url, "--as", "county:佛山市南海区", "--now", TIMES["open"], "case",
        "create", "--round", "2024", "--name", bad, "--county", "佛山市南海区", "--industry",
        "铝型材", "--data", str(APPLICATION_FILE)])
    assert created.exit_code == 2, created.output
    assert created.stdout == "" and "name:" in created.stderr
    if key != "newline":  # a reason may span lines
        withdrawn = RUNNER.invoke(cli, [
            "--db", engine.url, "--as", "county:佛山市南海区", "case", "withdraw",
            str(issued.returned["sql"]), "--reason", bad])
        assert withdrawn.exit_code == 2, withdrawn.output
        assert withdrawn.stdout == "" and "reason:" in withdrawn.stderr
    assert snapshot(engine) == before


def test_an_objectors_name_is_checked_as_a_name(issued: Issued) -> None:
    """`case object --name` without --as acts as public@NAME: a bidirectional control in the
    name is refused naming --name's field (exit 2), not the derived actor; nothing written."""
    engine = issued.engine
    before = snapshot(engine)
    result = RUNNER.invoke(cli, ["--db", engine.url, "case", "object", str(issued.revoked),
                                 "--name", "王\u202e五", "--contact", "13800000000",
                                 "--evidence", "存疑"])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error: name:")
    assert snapshot(engine) == before
