"""Chinese first: the message catalog is complete and in step with the code, and the CLI, the
error messages and the scheduler's log read Chinese by default and English with
GDCLUSTER_LANG=en, while JSON and codes stay the same in both."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import catalog as catalog_tool
import pytest
from babel.messages.pofile import read_po as babel_read_po
from click.testing import CliRunner, Result

from gdcluster.cli import cli
from gdcluster.engine import Engine
from gdcluster.engine.clock import FakeClock
from gdcluster.engine.errors import CalendarGap, InvalidInput, NotFound
from gdcluster.engine.i18n import catalog, catalog_file, gettext, read_po

RUNNER = CliRunner(env={"GDCLUSTER_DB": None, "GDCLUSTER_ACTOR": None, "GDCLUSTER_NOW": None,
                        "GDCLUSTER_DEBUG": None})
PLACEHOLDER = re.compile(r"\{[^}]*\}|%s")


@pytest.fixture
def chinese(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GDCLUSTER_LANG", "zh_CN")


def gd(*args: object) -> Result:
    return RUNNER.invoke(cli, [str(arg) for arg in args], catch_exceptions=False)


def test_every_message_and_help_text_has_a_translation() -> None:
    """Each msgid the code uses (``_()``, ``N_()``, every help text of the click tree) has a
    non-empty msgstr: run ``python tests/catalog.py`` to see the missing ones."""
    _catalog, missing = catalog_tool.updated_catalog()
    assert missing == [], "untranslated (run tests/catalog.py):\n" + "\n".join(missing)


def test_every_catalog_entry_is_used() -> None:
    """No stale entry: the catalog holds exactly the msgids the code and the help use."""
    used = set(catalog_tool.messages())
    entries = {msgid for msgid in read_po(catalog_file().read_text("utf-8")) if msgid}
    assert entries - used == set(), "stale entries (run tests/catalog.py to drop them)"
    assert used - entries == set()


def test_every_help_text_of_the_command_tree_is_a_catalog_entry() -> None:
    """Walking the click tree finds the commands' and options' help, including click's own
    --help, and the groups other modules hang on the root."""
    helps = catalog_tool.help_messages()
    assert "Show this message and exit." in helps
    assert "Open round YEAR for applications (province); --kind review opens a 复核 round." in helps
    assert all(msgid in catalog("zh_CN") for msgid in helps)


def test_translations_keep_every_placeholder() -> None:
    """A translation that dropped or renamed ``{year}`` or ``%s`` would fail at run time."""
    for msgid, (forms, _fuzzy) in read_po(catalog_file().read_text("utf-8")).items():
        for form in forms:
            if msgid and form:
                assert sorted(PLACEHOLDER.findall(form)) == sorted(PLACEHOLDER.findall(msgid)), \
                    msgid


def test_the_run_time_reader_reads_the_catalog_as_babel_does() -> None:
    """The small PO reader used at run time (no Babel needed) agrees with Babel's."""
    with catalog_file().open("rb") as stream:
        expected = {message.id: message.string for message in babel_read_po(stream)
                    if message.id}
    assert {msgid: forms[0] for msgid, forms in catalog("zh_CN").items()} == expected


def test_reader_handles_escapes_fuzzy_entries_and_plurals() -> None:
    text = ('msgid ""\nmsgstr "Language: zh_CN\\n"\n\n#, fuzzy\nmsgid "a"\nmsgstr "甲"\n\n'
            'msgid "say \\"hi\\"\\n"\n"again"\nmsgstr "说\\"你好\\"\\n"\n"再说"\n\n'
            'msgid "one"\nmsgid_plural "many"\nmsgstr[0] "若干"\n\n'
            'msgid "a\\\\b\\tc"\nmsgstr "\\x41\\u4e00\\\\"\n')
    entries = read_po(text)
    assert entries["a"] == (("甲",), True)
    assert entries['say "hi"\nagain'] == (('说"你好"\n再说',), False)
    assert entries["one"] == (("若干",), False)
    # Babel's escapes are read without evaluating the string; any other escape still is
    assert entries["a\\b\tc"] == (("A一\\",), False)


def test_chinese_is_the_default_and_en_gives_english(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GDCLUSTER_LANG")
    assert gettext("no cases") == "没有申报"
    monkeypatch.setenv("GDCLUSTER_LANG", "en")
    assert gettext("no cases") == "no cases"
    monkeypatch.setenv("GDCLUSTER_LANG", "zh")
    assert gettext("no cases") == "没有申报"


@pytest.mark.usefixtures("chinese")
def test_help_is_chinese() -> None:
    """Command help, option help, click's headings and the commands' short help."""
    text = gd("round", "show", "--help").output
    assert "用法：" in text and "选项" in text
    assert "YEAR 年度批次：期限、评分细则" in text
    assert "要写入的文件（用于 --format xlsx）。" in text
    assert "[默认: text]" in text
    assert "显示本帮助并退出。" in text
    listing = gd("round", "--help").output
    assert "开启 YEAR 年申报批次（省厅）" in listing
    assert "命令" in listing


def test_help_is_english_with_gdcluster_lang_en() -> None:
    text = gd("round", "show", "--help").output
    assert "Usage:" in text and "Options:" in text
    assert "The file to write (with --format xlsx)." in text


@pytest.fixture
def database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'gdcluster.db'}"
    Engine.init(url, simulation=True, clock=FakeClock("2024-03-01T09:00:00")).close()
    return url


@pytest.mark.usefixtures("chinese")
def test_table_headers_are_chinese(database: str) -> None:
    result = gd("--db", database, "policy", "list")
    assert result.exit_code == 0, result.output
    header = result.stdout.splitlines()[0].split()
    assert header == ["名称", "版本", "生效期间", "延期至", "今日是否有效"]


@pytest.mark.usefixtures("chinese")
def test_errors_are_chinese_for_people_and_english_in_json(database: str) -> None:
    result = gd("--db", database, "case", "show", "99")
    assert result.exit_code == 2
    assert result.stderr == "错误：未找到申报 99\n"
    result = gd("--db", database, "case", "show", "99", "--json")
    assert result.exit_code == 2
    assert json.loads(result.stderr) == {"error": {"code": "not_found",
                                                    "message": "case 99 not found"}}


@pytest.mark.usefixtures("chinese")
def test_error_classes_write_their_message_in_chinese() -> None:
    gap = CalendarGap(2031)
    assert gap.message.startswith("no working-day calendar data for 2031")
    assert gap.localized().startswith("没有 2031 年的工作日日历数据")
    assert NotFound("round", 2030).localized() == "未找到批次 2030"
    assert InvalidInput("no cases", field="state").localized() == "state: 没有申报"


@pytest.mark.usefixtures("chinese")
def test_scheduler_log_lines_are_chinese(database: str, caplog: pytest.LogCaptureFixture) -> None:
    from gdcluster.engine.scheduler import DeadlineScheduler

    engine = Engine.open(database, clock=FakeClock("2024-03-01T09:00:00"))
    try:
        waker = DeadlineScheduler(engine)
        waker._armed_for = engine.clock.now()  # as if a wake-up had been armed
        with caplog.at_level(logging.INFO, logger="gdcluster.scheduler"):
            waker.rearm()
    finally:
        engine.close()
    assert "没有待处理的期限；由每分钟的同步继续监视" in caplog.messages


def test_state_labels_count_double_width() -> None:
    """The tables pad by display width: a state with its Chinese label counts its wide
    characters (the label and the full-width brackets) twice."""
    from gdcluster.engine.text import display_width

    assert display_width("city_reviewed（已通过资格初审）") == 13 + 2 * 9


@pytest.mark.usefixtures("chinese")
def test_the_demo_narrates_in_chinese_and_keeps_one_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --out the demo writes to one fixed folder of the temporary directory, emptied
    at each run; it names the cluster of each act (the new case too, never "None") and each
    expert's points, in Chinese."""
    import tempfile

    from gdcluster.engine import demo

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    folder = tmp_path / "gdcluster-demo"
    folder.mkdir()
    (folder / "left-over.txt").write_text("from an earlier run")
    lines: list[str] = []
    db_path = demo.run(None, lines.append)
    assert db_path == folder / "demo.db" and db_path.exists()
    assert not (folder / "left-over.txt").exists()
    assert [path.name for path in tmp_path.iterdir()] == ["gdcluster-demo"]
    text = "\n".join(lines)
    assert "None" not in text
    assert ("create         中山市古镇镇灯饰照明产业集群 → 草稿  [county:中山市古镇镇@经办人]"
            in text)
    assert "score          中山市古镇镇灯饰照明产业集群 专家1：94 分" in text
    assert "== 2024-03-01  省工信厅启动2024年度申报" in text
    assert "补正截止 2024-06-13 24:00（5个工作日" in text
    assert f"数据库：{db_path}" in text


def test_a_message_is_its_english_text_and_translates_later(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``Message`` goes wherever text goes (equal to the English, JSON, pickled to another
    process as plain text) and is shown in Chinese through ``localize``."""
    import pickle

    from gdcluster.engine.i18n import Message, localize

    message = Message("not a year: {value!r}", value="20x4")
    assert message == "not a year: '20x4'"
    assert json.dumps({"message": message}) == '{"message": "not a year: \'20x4\'"}'
    copied = pickle.loads(pickle.dumps(message))
    assert copied == message and type(copied) is str
    assert localize(message) == "not a year: '20x4'"
    monkeypatch.setenv("GDCLUSTER_LANG", "zh_CN")
    assert localize(message) == "不是年份：'20x4'"
    nested = Message("{who} may not {what}; only the {kinds} does", who="city:佛山市",
                     what=Message("open a round"), kinds="province")
    assert localize(nested) == "city:佛山市 不能开启年度批次；只有 province 可以"


@pytest.mark.usefixtures("chinese")
def test_refusals_and_bad_input_are_chinese_on_the_command_line(database: str) -> None:
    """A permission refusal (exit 4), a bad date (exit 2) and an unknown state listing the
    valid ones (exit 2): Chinese for people, the same English in --json."""
    result = gd("--db", database, "--as", "city:佛山市", "round", "open", "2024")
    assert result.exit_code == 4
    assert result.stderr == "错误：city:佛山市 不能开启年度批次；只有 province 可以\n"
    result = gd("--db", database, "--as", "city:佛山市", "--json", "round", "open", "2024")
    assert json.loads(result.stderr)["error"]["message"] == \
        "city:佛山市 may not open a round; only the province does"
    result = gd("--db", database, "case", "list", "--state", "已认定了")
    assert result.exit_code == 2
    assert result.stderr.startswith("错误：state: 未知状态 '已认定了'；有效状态：drafted（草稿）")
    result = gd("--db", database, "case", "list", "--due-before", "2024-13-01")
    assert result.exit_code == 2
    assert "'2024-13-01' 不是 ISO 格式的日期（YYYY-MM-DD）" in result.stderr


@pytest.mark.usefixtures("chinese")
@pytest.mark.parametrize("command", [["--help"], ["case", "--help"], ["case", "import", "--help"],
                                     ["case", "list", "--help"], ["round", "open", "--help"]])
def test_chinese_help_wraps_by_display_width(command: list[str]) -> None:
    """Chinese has no spaces for click to wrap at: the help is wrapped (and the commands' short
    help clipped) by display width, so it fits an 80-column terminal."""
    from gdcluster.engine.text import display_width

    result = RUNNER.invoke(cli, command, terminal_width=80)
    assert result.exit_code == 0
    widest = max(display_width(line) for line in result.output.splitlines())
    assert widest <= 80 + 2  # a closing punctuation mark may overhang
    assert "：" in result.output


def test_the_catalog_tool_fills_translations_from_its_own_listing(tmp_path: Path) -> None:
    """What ``tests/catalog.py`` prints for an untranslated msgid (``msgid<TAB>``), completed
    after the tab, is what ``--fill`` reads back, line breaks included."""
    from babel.messages.catalog import Catalog

    table = Catalog(locale="zh_CN")
    table.add("Open round YEAR.\n\nThen more.", "")
    table.add("round {year}", "")
    table.add("  total {total}", "")
    listing = tmp_path / "todo.tsv"
    listing.write_text("Open round YEAR.\\n\\nThen more.\t开启年度批次。\\n\\n然后更多。\n"
                       "round {year}\t\n  total {total}\t合计 {total}\n", "utf-8")
    assert catalog_tool.fill(table, listing) == 2
    assert table["  total {total}"].string == "  合计 {total}"
    assert table["Open round YEAR.\n\nThen more."].string == "开启年度批次。\n\n然后更多。"
    assert not table["round {year}"].string


@pytest.mark.usefixtures("chinese")
def test_a_constant_error_message_is_looked_up_whole(database: str, tmp_path: Path) -> None:
    """An error raised with a constant English message (no ``Message``) is in the catalog
    too (tests/catalog.py reads the raise sites) and shown in Chinese."""
    scores = tmp_path / "scores.yaml"
    scores.write_text("- 1\n- 2\n", "utf-8")
    result = gd("--db", database, "--as", "province", "case", "score", "1", "--expert", "甲",
                "--scores", scores)
    assert result.exit_code == 2
    assert result.stderr == f"错误：{scores}: 文件顶层必须是一个字段映射\n"


@pytest.mark.usefixtures("chinese")
def test_a_workbook_cell_error_keeps_its_place_and_reads_chinese() -> None:
    """An application error moved to its sheet!cell (``relocate``) keeps its message's template,
    so the 申报表's cell errors read Chinese too."""
    from gdcluster.engine.i18n import Message
    from gdcluster.engine.workbook import relocate

    error = InvalidInput(Message("{value!r}: write {answers}", value="也许",
                                 answers=Message("是 or 否")), field="energy_intensive")
    moved = relocate(error, {"energy_intensive": "指标数据!C14"})
    assert moved.message == "指标数据!C14 (energy_intensive): '也许': write 是 or 否"
    assert moved.localized() == "指标数据!C14 (energy_intensive): '也许'：请填写 是 或 否"
