"""Acts that carry evidence (陈述申辩, objections, 复核申报, annual reports, revocation decisions,
恢复认定 …) take their files with them: stored in the act's own transaction, their SHA-256 in
that act's audit row, linked to it; a refused act stores nothing — on SQLite and PostgreSQL,
through the engine and through ``--attach`` on the command line."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from support import CITY, PROVINCE, Walker

from gdcluster.cli import cli
from gdcluster.engine import Engine, InvalidInput, PermissionDenied, TransitionRefused
from gdcluster.engine.records import Attachment, AttachmentBlob

DATA = Path(__file__).parent / "data"
PDF = (DATA / "proof.pdf").read_bytes()
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 16
NANHAI = "county:佛山市南海区@李四"
RUNNER = CliRunner(env={"GDCLUSTER_DB": None, "GDCLUSTER_ACTOR": None, "GDCLUSTER_NOW": None})


def stored(engine: Engine) -> tuple[int, int]:
    """How many attachment rows and blobs the database holds."""
    with engine.store.read() as session:
        return (session.scalar(select(func.count()).select_from(Attachment)) or 0,
                session.scalar(select(func.count()).select_from(AttachmentBlob)) or 0)


def test_a_statement_carries_its_documents_into_its_audit_row(engine: Engine,
                                                              walker: Walker) -> None:
    """陈述申辩 with two files: both stored, listed with their hashes in the `state` row's
    payload, linked to that row; the state moves as without files; the chain verifies."""
    case_id = walker.to("revocation_proposed")
    files = [{"content": PDF, "name": "申辩书.pdf", "kind": "陈述申辩"},
             {"content": PNG, "name": "现场照片.png", "kind": "证明材料", "note": "2024年"}]
    view = engine.fire(case_id, "state", NANHAI, text="我方已整改", attachments=files)
    assert view.state == "revocation_proposed"
    row = engine.history(case_id)[-1]
    assert row["trigger"] == "state"
    assert [(item["sha256"], item["name"], item["kind"]) for item in
            row["payload"]["attachments"]] == [
        (hashlib.sha256(PDF).hexdigest(), "申辩书.pdf", "陈述申辩"),
        (hashlib.sha256(PNG).hexdigest(), "现场照片.png", "证明材料")]
    listed = engine.attachments(case_id)
    assert [(item["name"], item["audit_seq"], item["actor"]) for item in listed] == [
        ("申辩书.pdf", row["seq"], NANHAI), ("现场照片.png", row["seq"], NANHAI)]
    assert listed[1]["note"] == "2024年"
    assert engine.attachment(case_id, listed[0]["sha256"])[1] == PDF
    assert engine.verify_audit().ok


def test_the_revocation_procedure_and_reinstatement_carry_evidence(engine: Engine,
                                                                   walker: Walker) -> None:
    """拟撤销告知, the 撤销决定 and the 恢复认定 each record their own file in their own row."""
    case_id = walker.to("recognized")
    evidence = [{"content": PDF, "name": "核查报告.pdf", "kind": "证明材料"}]
    engine.fire(case_id, "propose_revocation", PROVINCE, reason_code="18.2",
                facts="申报材料虚假", attachments=evidence)
    engine.fire(case_id, "state", NANHAI, text="无异议")
    engine.fire(case_id, "revoke", PROVINCE, reason="理由不成立",
                attachments=[{"content": PNG, "name": "决定书.png", "kind": "其他"}])
    engine.fire(case_id, "reinstate", PROVINCE, reason="复议撤销", reference="粤复〔2024〕1号",
                attachments=[{"content": PDF, "name": "复议决定书.pdf", "kind": "证明材料"}])
    rows = {row["trigger"]: row for row in engine.history(case_id)}
    for trigger, name in (("propose_revocation", "核查报告.pdf"), ("revoke", "决定书.png"),
                          ("reinstate", "复议决定书.pdf")):
        assert [item["name"] for item in rows[trigger]["payload"]["attachments"]] == [name]
    assert "attachments" not in rows["state"]["payload"]
    by_seq = {item["name"]: item["audit_seq"] for item in engine.attachments(case_id)}
    assert by_seq == {"核查报告.pdf": rows["propose_revocation"]["seq"],
                      "决定书.png": rows["revoke"]["seq"],
                      "复议决定书.pdf": rows["reinstate"]["seq"]}
    assert stored(engine) == (3, 2)  # the same PDF twice: one blob


def test_a_refused_act_stores_none_of_its_files(engine: Engine, walker: Walker) -> None:
    """Refused by the workflow (wrong state), by permission, or by one bad file among good
    ones: no attachment row, no blob, no audit row of the act."""
    recognized = walker.to("recognized")
    good = {"content": PDF, "name": "a.pdf", "kind": "陈述申辩"}
    before = engine.audit_length()
    with pytest.raises(TransitionRefused):  # no 拟撤销 procedure: nothing to state against
        engine.fire(recognized, "state", NANHAI, text="申辩", attachments=[good])
    with pytest.raises(PermissionDenied):
        engine.fire(recognized, "change", "county:佛山市顺德区", kind="spatial_scope",
                    detail="扩区", attachments=[good])
    with pytest.raises(InvalidInput) as refused:
        engine.fire(recognized, "change", NANHAI, kind="spatial_scope", detail="扩区",
                    attachments=[good, {"content": b"plain text", "name": "b.pdf",
                                        "kind": "证明材料"}])
    assert refused.value.field == "attachments[1].file"
    with pytest.raises(InvalidInput) as refused:
        engine.fire(recognized, "change", NANHAI, kind="spatial_scope", detail="扩区",
                    attachments=[{**good, "kind": "照片"}])
    assert refused.value.field == "attachments[0].kind"
    with pytest.raises(InvalidInput) as refused:
        engine.fire(recognized, "change", NANHAI, kind="spatial_scope", detail="扩区",
                    attachments="a.pdf")
    assert refused.value.field == "attachments"
    assert stored(engine) == (0, 0)
    assert engine.audit_length() == before
    engine.fire(recognized, "change", NANHAI, kind="spatial_scope", detail="扩区",
                attachments=[good])
    assert stored(engine) == (1, 1)


def test_an_act_without_evidence_takes_no_attachments(engine: Engine, walker: Walker) -> None:
    """Only the rows that carry evidence accept files: `review` names what it takes."""
    case_id = walker.to("submitted")
    with pytest.raises(InvalidInput) as refused:
        engine.fire(case_id, "review", CITY,
                    attachments=[{"content": PDF, "name": "a.pdf", "kind": "证明材料"}])
    assert refused.value.field == "attachments"
    assert stored(engine) == (0, 0)


def test_cli_attach_on_acts(db_url: str, engine: Engine, walker: Walker, tmp_path: Path) -> None:
    """`--attach FILE` (repeatable) with `--attach-kind` once per file or once for all, or
    the act's own kind; a refused act leaves no attachment; `--attach-kind` alone is a usage
    error."""
    case_id = str(walker.to("revocation_proposed"))
    picture = tmp_path / "照片.png"
    picture.write_bytes(PNG)

    def gd(*args: str) -> tuple[int, str, str]:
        result = RUNNER.invoke(cli, ["--db", db_url, "--as", NANHAI, *args])
        return result.exit_code, result.stdout, result.stderr

    code, out, _err = gd("case", "state", case_id, "--text", "申辩", "--attach",
                         str(DATA / "proof.pdf"), "--attach", str(picture))
    assert code == 0, _err
    assert hashlib.sha256(PDF).hexdigest() in out and hashlib.sha256(PNG).hexdigest() in out
    code, out, _err = gd("--json", "case", "attachments", case_id)
    assert [(row["name"], row["kind"]) for row in json.loads(out)] == [
        ("proof.pdf", "陈述申辩"), ("照片.png", "陈述申辩")]
    history = json.loads(gd("--json", "case", "history", case_id)[1])
    rows = history if isinstance(history, list) else history["history"]
    assert [item["name"] for item in rows[-1]["payload"]["attachments"]] == [
        "proof.pdf", "照片.png"]

    code, _out, err = gd("case", "state", case_id, "--text", "补充", "--attach",
                         str(DATA / "proof.pdf"), "--attach", str(picture),
                         "--attach-kind", "证明材料", "--attach-kind", "其他")
    assert code == 0, err
    kinds = [row["kind"] for row in json.loads(gd("--json", "case", "attachments",
                                                  case_id)[1])]
    assert kinds[2:] == ["证明材料", "其他"]

    code, _out, err = gd("case", "maintain", case_id, "--reason", "r", "--attach",
                         str(picture))
    assert code == 4, err  # only the province decides
    code, _out, err = gd("case", "change", case_id, "--kind", "spatial_scope", "--detail",
                         "扩区", "--attach", str(picture))
    assert code == 3, err  # no change reported while a revocation is proposed
    code, _out, err = gd("case", "state", case_id, "--text", "再次", "--attach",
                         str(tmp_path / "missing.pdf"))
    assert code == 2 and "missing.pdf" in err
    code, _out, err = gd("case", "state", case_id, "--text", "再次", "--attach-kind", "其他")
    assert code == 2 and "--attach" in err
    code, _out, err = gd("case", "state", case_id, "--text", "再次", "--attach", str(picture),
                         "--attach", str(picture), "--attach-kind", "其他",
                         "--attach-kind", "其他", "--attach-kind", "其他")
    assert code == 2 and "--attach-kind" in err
    assert len(json.loads(gd("--json", "case", "attachments", case_id)[1])) == 4
