"""Issuing notices (issue 13): the contact they print is required on a real database, PDF is a
fourth stored format, and an issued notice is rendered again only as a separate record.

On SQLite and PostgreSQL (the ``db_url`` fixture). A real database cannot take a fake clock, so
the round is lived through on a simulation database that is then declared real (its
``simulation`` flag set to false, as ``gdcluster init`` without ``--simulation`` writes it):
what follows is dated by the system clock, as on any real database.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from support import DECISION, PROVINCE, Walker, heard, revoke_now
from template_support import initialized

from gdcluster.cli import cli
from gdcluster.engine import Engine, TransitionRefused, WaitingFor
from gdcluster.engine.clock import FakeClock
from gdcluster.engine.models import AuditEntry, Case, Meta, Notice, Rendering
from gdcluster.notifications import (
    Contact,
    ContactMissing,
    Settings,
    attach,
    list_notices,
    record_rendering,
    render_notice,
)

FULL = Contact(person="张三", phone="020-83133333", email="zxqyc@gdei.gov.cn",
               department="中小企业服务处", address="广州市越秀区东风中路305号", postcode="510031")
RUNNER = CliRunner(env={"GDCLUSTER_DB": None, "GDCLUSTER_ACTOR": None, "GDCLUSTER_NOW": None,
                        "GDCLUSTER_SETTINGS": None, "GDCLUSTER_DEBUG": None})


def _recognized(db_url: str, application: dict, *, notices: Settings | None = None) -> int:
    """A simulation database with one cluster recognized in round 2024; returns its id."""
    clock = FakeClock("2024-03-01T09:00")
    engine = initialized(db_url, clock)
    try:
        if notices is not None:
            attach(engine, notices)
        return Walker(engine, clock, application).to("recognized")
    finally:
        engine.close()


def _declare_real(db_url: str) -> None:
    engine = Engine.open(db_url, clock=FakeClock("2024-03-01T09:00"))
    try:
        with engine.store.write() as session:
            row = session.get(Meta, "simulation")
            assert row is not None
            row.value = "false"
    finally:
        engine.close()


def _counts(engine: Engine) -> tuple[int, int]:
    with engine.store.read() as session:
        return (int(session.scalar(select(func.count()).select_from(Notice)) or 0),
                int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0))


def _settings_file(folder: Path, contact: str = "") -> Path:
    path = folder / "gdcluster.toml"
    path.write_text(f'[notices]\noutbox = "{(folder / "out").as_posix()}"\n{contact}',
                    encoding="utf-8")
    return path


# ---------------------------------------------------------------------------- contact
def test_a_real_database_refuses_a_notice_without_its_contact(
    db_url: str, application: dict, tmp_path: Path
) -> None:
    """On a real database, a revocation whose letter prints 联系人 and 联系电话 is refused while
    they are not set (exit code 3, the keys named): the case is unchanged and no audit row and
    no notice is written. With them set, the same act is done and its notice issued."""
    case_id = _recognized(db_url, application)
    with Engine.open(db_url) as simulated:
        heard(simulated, case_id, "18.2", "材料不实")
    _declare_real(db_url)
    engine = Engine.open(db_url)
    try:
        assert not engine.simulation
        attach(engine, Settings(outbox=tmp_path / "out",
                                contact=Contact(email="zxqyc@gdei.gov.cn")))
        before = _counts(engine)
        with pytest.raises(ContactMissing) as caught:
            engine.fire(case_id, "revoke", PROVINCE, reason=DECISION)
        assert isinstance(caught.value, TransitionRefused) and caught.value.exit_code == 3
        assert caught.value.missing == ["person", "phone"]
        assert "notices.contact.person, notices.contact.phone are not set" in str(caught.value)
        assert _counts(engine) == before
        assert engine.get(case_id).state == "revocation_proposed"
        assert not (tmp_path / "out").exists()
        attach(engine, Settings(outbox=tmp_path / "out", contact=FULL))
        engine.fire(case_id, "revoke", PROVINCE, reason=DECISION)
        assert engine.get(case_id).state == "revoked"
        kinds = {row["kind"] for row in list_notices(engine, case_id=case_id)}
        assert kinds == {"revocation"}
    finally:
        engine.close()


def test_a_round_batch_is_refused_before_any_case_moves(
    db_url: str, application: dict, clock: FakeClock, tmp_path: Path
) -> None:
    """`round publicize` issues its 公示 last, after its cases moved: on a real database
    without the 公示's contact it is refused before that — no case moves, no pick is stored,
    the refusal is recorded."""
    engine = initialized(db_url, clock)
    try:
        case_id = Walker(engine, clock, application).to("expert_reviewed")
    finally:
        engine.close()
    _declare_real(db_url)
    engine = Engine.open(db_url)
    try:
        attach(engine, Settings(outbox=tmp_path / "out", contact=Contact(person="张三",
                                                                          phone="020-1")))
        before = _counts(engine)
        with pytest.raises(ContactMissing) as caught:
            engine.publicize_round(2024, PROVINCE, top=1)
        assert caught.value.missing == ["department", "address", "postcode", "email"]
        assert _counts(engine) == before
        assert engine.get(case_id).state == "expert_reviewed"
        with engine.store.read() as session:
            from gdcluster.engine.models import Round

            round_row = session.get(Round, 2024)
            assert round_row is not None and round_row.publicity_pick is None
        assert [row["trigger"] for row in engine.refusals()][-1] == "publicize_round"
    finally:
        engine.close()


def test_the_cli_refuses_on_a_real_database_and_warns_on_a_simulation(
    tmp_path: Path, application: dict
) -> None:
    """`case revoke` without contact settings: exit 3 naming the keys on a real database
    (nothing done); exit 0 with a warning on stderr on a simulation database (a JSON object
    with --json)."""
    real, simulated, quiet = tmp_path / "real.db", tmp_path / "sim.db", tmp_path / "json.db"
    settings = _settings_file(tmp_path)
    for path in (real, simulated, quiet):
        _recognized(f"sqlite:///{path}", application)
        with Engine.open(f"sqlite:///{path}", clock=FakeClock("2024-11-01T10:00")) as engine:
            heard(engine, 1, "18.2", "材料不实")
    _declare_real(f"sqlite:///{real}")
    args = ["case", "revoke", "1", "--reason", DECISION]
    refused = RUNNER.invoke(cli, ["--db", str(real), "--as", "province",
                                  "--settings", str(settings), *args])
    assert refused.exit_code == 3, refused.output
    assert "notices.contact.person, notices.contact.phone are not set" in refused.stderr
    assert "Traceback" not in refused.output
    shown = RUNNER.invoke(cli, ["--db", str(real), "case", "show", "1", "--json"])
    assert json.loads(shown.stdout)["state"] == "revocation_proposed"
    done = RUNNER.invoke(cli, ["--db", str(simulated), "--as", "province", "--now",
                               "2025-03-03T10:00", "--settings", str(settings), *args])
    assert done.exit_code == 0, done.output
    assert ("Warning: the revocation notice is issued without person, phone" in done.stderr)
    machine = RUNNER.invoke(cli, ["--db", str(quiet), "--as", "province", "--json", "--now",
                                  "2025-03-03T10:00", "--settings", str(settings), *args])
    assert machine.exit_code == 0, machine.output
    warning = json.loads(machine.stderr)["warning"]
    assert warning["code"] == "contact_missing" and "person, phone" in warning["message"]


def test_a_deadline_waits_for_the_contact_settings_on_a_real_database(
    db_url: str, application: dict, tmp_path: Path
) -> None:
    """The scheduler's timer acts are acts too: without the contact their letter prints, a real
    database keeps their deadlines pending (nothing lost, nothing half-done) and the next sweep
    with the settings completed urges the missing report (催报) and issues its notice."""
    case_id = _recognized(db_url, application)
    _declare_real(db_url)
    engine = Engine.open(db_url)
    try:
        attach(engine, Settings(outbox=tmp_path / "out"))
        handled = engine.run_due()
        waiting = [row for row in handled if row.outcome == "waiting"]
        assert waiting and all("notices.contact" in row.result for row in waiting)
        assert engine.get(case_id).state == "recognized"
        assert _counts(engine)[0] == 0
        attach(engine, Settings(outbox=tmp_path / "out", contact=FULL))
        engine.run_due()
        # no 2024 report was filed: the 催报 goes out, nobody revokes
        assert engine.get(case_id).state == "recognized"
        kinds = {row["kind"] for row in list_notices(engine, case_id=case_id)}
        assert "report_urge" in kinds and "revocation" not in kinds
    finally:
        engine.close()


def test_contact_requirements_follow_the_templates() -> None:
    """What a kind needs is what its templates declare: the 公示 the 处室 with its address and
    postcode, the person, phone and e-mail; letters the person and phone; the 通告, 复核结果
    and 退回补正 (signed by the city) nothing from the province."""
    from gdcluster.notifications.contact import required_contact

    assert required_contact("publicity") == ("department", "address", "postcode", "person",
                                             "phone", "email")
    for kind in ("revocation", "report_reminder", "expiry_reminder"):
        assert required_contact(kind) == ("person", "phone"), kind
    for kind in ("recognition", "renewal", "return"):
        assert required_contact(kind) == (), kind
    assert issubclass(ContactMissing, WaitingFor)


# ---------------------------------------------------------------------------- PDF
def test_pdf_is_issued_stored_and_hashed_like_the_other_formats(
    db_url: str, application: dict, tmp_path: Path
) -> None:
    """With "pdf" in the settings' formats, an act issues its notice as PDF too: stored with
    its hash and template versions, written to the outbox byte for byte, rendered again to the
    same bytes, and `notice render --format pdf -o` gives the issued file."""
    settings = Settings(outbox=tmp_path / "out", formats=("txt", "html", "docx", "pdf"),
                        contact=FULL)
    clock = FakeClock("2024-03-01T09:00")
    engine = initialized(db_url, clock)
    try:
        attach(engine, settings)
        case_id = Walker(engine, clock, application).to("expert_reviewed")
        clock.set("2024-09-26T10:00")
        engine.publicize_round(2024, PROVINCE, top=1, start="2024-09-27")
        [pdf] = [row for row in list_notices(engine) if row["format"] == "pdf"]
        assert "pdf.py@1" in pdf["template_version"] and "weasyprint@" in pdf["template_version"]
        body = Path(pdf["path"]).read_bytes()
        assert body.startswith(b"%PDF-") and hashlib.sha256(body).hexdigest() == pdf["sha256"]
        again = render_notice(engine, "publicity", round_year=2024, fmt="pdf", fresh=True,
                              settings=settings)
        assert again.sha256 == pdf["sha256"]
        assert case_id
    finally:
        engine.close()


def _without_weasyprint(folder: Path) -> dict[str, str]:
    """An environment in which ``import weasyprint`` fails as it does without Pango."""
    fake = folder / "no-pango" / "weasyprint"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        "raise OSError(\"cannot load library 'libgobject-2.0-0': error 0x7e\")\n",
        encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if not key.startswith("GDCLUSTER_")}
    env["PYTHONPATH"] = str(folder / "no-pango")
    env["GDCLUSTER_LANG"] = "en"  # the messages below are read in English
    return env


def test_pdf_without_pango_is_a_clear_refusal_and_the_demo_still_runs(tmp_path: Path) -> None:
    """Where WeasyPrint cannot load its libraries, `notice render --format pdf` says what to
    install (exit 3, no traceback), while `gdcluster demo` and the other formats work."""
    env = _without_weasyprint(tmp_path)
    gdcluster = [sys.executable, "-c", "from gdcluster.cli import main; main()"]
    demo = subprocess.run([*gdcluster, "demo", "--out", str(tmp_path / "demo")], env=env,
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr[-2000:]
    db = str(tmp_path / "demo" / "demo.db")
    text = subprocess.run([*gdcluster, "--db", db, "notice", "render", "publicity", "--round",
                           "2024"], env=env, capture_output=True, text=True, timeout=120)
    assert text.returncode == 0 and "拟认定名单的公示" in text.stdout
    pdf = subprocess.run([*gdcluster, "--db", db, "notice", "render", "publicity", "--round",
                          "2024", "--format", "pdf", "-o", str(tmp_path / "x.pdf")], env=env,
                         capture_output=True, text=True, timeout=120)
    assert pdf.returncode == 3, pdf.stderr
    assert "cannot render PDF: WeasyPrint cannot load its system libraries" in pdf.stderr
    assert "pip install 'gdcluster[pdf]'" in pdf.stderr and "libpango-1.0-0" in pdf.stderr
    assert "Traceback" not in pdf.stderr and not (tmp_path / "x.pdf").exists()


# ---------------------------------------------------------------------------- rendering again
@pytest.fixture
def issued(db_url: str, application: dict, tmp_path: Path) -> Any:
    """A simulation database whose 2024 公示 was issued as txt, html and docx."""
    settings = Settings(outbox=tmp_path / "out", contact=FULL)
    clock = FakeClock("2024-03-01T09:00")
    engine = initialized(db_url, clock)
    attach(engine, settings)
    Walker(engine, clock, application).to("expert_reviewed")
    clock.set("2024-09-26T10:00")
    engine.publicize_round(2024, PROVINCE, top=1, start="2024-09-27")
    clock.set("2024-11-01T09:00")
    yield engine, settings
    engine.close()


def _issued_rows(engine: Engine) -> list[tuple[str, str, bytes]]:
    with engine.store.read() as session:
        return [(row.format, row.sha256, row.body)
                for row in session.scalars(select(Notice).order_by(Notice.id))]


def test_an_issued_notice_is_rendered_again_as_a_record_of_its_own(issued: Any) -> None:
    """A PDF of the issued 公示, made later, is its own row linked to the issued notice and
    its act, hashed and written to the outbox; the issued rows are untouched; asking again
    returns the same record; plain `render` then gives that PDF."""
    engine, settings = issued
    before = _issued_rows(engine)
    made = record_rendering(engine, "publicity", round_year=2024, fmt="pdf", settings=settings,
                            actor="province@王处长")
    assert made.new and made.row is not None
    row = made.row
    [txt] = [item for item in list_notices(engine) if item["format"] == "txt"]
    assert row["notice_id"] == txt["id"] and row["audit_seq"] == txt["audit_seq"]
    assert row["format"] == "pdf" and row["actor"] == "province@王处长"
    assert Path(row["path"]).read_bytes() == made.rendered.body
    assert hashlib.sha256(made.rendered.body).hexdigest() == row["sha256"]
    assert Path(row["path"]).name == (Path(txt["path"]).stem + f"_r{row['sha256'][:12]}.pdf")
    assert _issued_rows(engine) == before
    again = record_rendering(engine, "publicity", round_year=2024, fmt="pdf", settings=settings)
    assert not again.new and again.row is not None and again.row["id"] == row["id"]
    shown = render_notice(engine, "publicity", round_year=2024, fmt="pdf", settings=settings)
    assert shown.body == made.rendered.body
    assert [item["id"] for item in txt["renderings"]] == [row["id"]]


def test_a_new_rendering_never_replaces_the_issued_one(issued: Any) -> None:
    """Rendered again in a format it was issued in, with other settings (a new contact), the
    new bytes become a record of their own; `notice render` still prints what was issued. The
    same bytes as issued are not recorded at all."""
    engine, settings = issued
    before = _issued_rows(engine)
    same = record_rendering(engine, "publicity", round_year=2024, fmt="html", settings=settings)
    assert same.row is None and not same.new
    moved = Settings(outbox=settings.outbox, contact=Contact(**{**FULL.__dict__,
                                                               "phone": "020-83999999"}))
    made = record_rendering(engine, "publicity", round_year=2024, fmt="html", settings=moved)
    assert made.new and "020-83999999" in made.rendered.text
    assert _issued_rows(engine) == before
    printed = render_notice(engine, "publicity", round_year=2024, fmt="html")
    assert "020-83133333" in printed.text and "020-83999999" not in printed.text
    with engine.store.read() as session:
        assert session.scalar(select(func.count()).select_from(Rendering)) == 1


def test_rendering_again_needs_an_issued_notice(issued: Any) -> None:
    """Nothing issued, nothing to render again: a case without a revocation is not found
    (exit 2), and a round's renewal list, never issued as one, is refused as bad input."""
    from gdcluster.engine import InvalidInput, NotFound

    engine, settings = issued
    with engine.store.read() as session:
        case_id = session.scalar(select(Case.id))
    with pytest.raises(NotFound):
        record_rendering(engine, "revocation", case_id=case_id, fmt="pdf", settings=settings)
    with pytest.raises(InvalidInput):
        record_rendering(engine, "renewal", round_year=2024, fmt="pdf", settings=settings)


def test_cli_notice_render_record(tmp_path: Path, application: dict) -> None:
    """`notice render KIND --format pdf --record -o FILE` records the rendering (stderr says
    which, and where), `notice list --json` shows it under its notice, and `--record` with
    `--fresh` is a usage error."""
    db = tmp_path / "gd.db"
    settings = _settings_file(tmp_path, '[notices.contact]\nperson = "张三"\n'
                                        'phone = "020-83133333"\n')
    clock = FakeClock("2024-03-01T09:00")
    engine = initialized(f"sqlite:///{db}", clock)
    attach(engine, Settings(outbox=tmp_path / "out", contact=FULL))
    case_id = Walker(engine, clock, application).to("recognized")
    clock.set("2025-03-03T10:00")
    revoke_now(engine, case_id, "18.2", "材料不实")
    engine.close()
    base = ["--db", str(db), "--settings", str(settings), "notice", "render", "revocation",
            "--case", str(case_id)]
    out = tmp_path / "revocation.pdf"
    result = RUNNER.invoke(cli, [*base, "--format", "pdf", "--record", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "recorded: rendering 1 of notice" in result.stderr
    assert out.read_bytes().startswith(b"%PDF-")
    listed = json.loads(RUNNER.invoke(cli, ["--db", str(db), "notice", "list", "--case",
                                            str(case_id), "--json"]).stdout)
    [txt] = [row for row in listed if row["format"] == "txt" and row["kind"] == "revocation"]
    assert [(item["format"], item["sha256"]) for item in txt["renderings"]] == [
        ("pdf", hashlib.sha256(out.read_bytes()).hexdigest())]
    human = RUNNER.invoke(cli, ["--db", str(db), "notice", "list", "--case", str(case_id)])
    assert f"{txt['id']}.r1" in human.stdout and "re-rendered" in human.stdout
    assert RUNNER.invoke(cli, [*base, "--record", "--fresh"]).exit_code == 2
    assert RUNNER.invoke(cli, [*base, "--format", "pdf"]).exit_code == 2  # binary: -o
