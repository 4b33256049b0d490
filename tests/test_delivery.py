"""Delivering notices (issue 4, item 5): outbox, SMTP and webhook, after the commit, with
retries — tested against a real SMTP server (aiosmtpd) and a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import http.server
import io
import json
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update
from support import DECISION, PROVINCE, Walker, heard

from gdcluster.cli import cli
from gdcluster.engine import Engine, InvalidInput
from gdcluster.engine.clock import FakeClock
from gdcluster.engine.models import Case, Delivery, Notice
from gdcluster.notifications import (
    Settings,
    SmtpSettings,
    Webhook,
    attach,
    deliver,
    list_notices,
    load_settings,
)
from gdcluster.notifications.settings import DeliveryPolicy

RUNNER = CliRunner(env={"GDCLUSTER_DB": None, "GDCLUSTER_ACTOR": None, "GDCLUSTER_NOW": None,
                        "GDCLUSTER_SETTINGS": None, "GDCLUSTER_DEBUG": None})
REVOKED_AT = "2024-11-05T10:00"
PROVINCE_MAIL = "zxqyc@gdei.example.gov.cn"
FOSHAN_MAIL = "fs-zxqy@foshan.example.gov.cn"
NANHAI_MAIL = "nh-jmj@nanhai.example.gov.cn"
ZHONGSHAN_MAIL = "zs-zxqy@zs.example.gov.cn"
TITLE = "关于撤销佛山市南海区铝型材产业集群广东省中小企业特色产业集群认定的通知"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only: delivery is about channels, not storage back-ends (no skipped variants)."""
    return f"sqlite:///{tmp_path / 'gdcluster.db'}"


def free_port() -> int:
    """A port nobody listens on (bound, then released): connecting to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# ---------------------------------------------------------------------------- servers
class SmtpServer:
    """aiosmtpd on 127.0.0.1, keeping every envelope it accepts."""

    def __init__(self, port: int) -> None:
        from aiosmtpd.controller import Controller

        self.envelopes: list[Any] = []
        outer = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                outer.envelopes.append(envelope)
                return "250 Message accepted for delivery"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=port)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.controller.stop()

    def messages(self) -> list[email.message.EmailMessage]:
        return [email.message_from_bytes(envelope.content, policy=email.policy.default)
                for envelope in self.envelopes]


class HookServer:
    """http.server on 127.0.0.1, keeping every POST; ``on_request`` runs while answering."""

    def __init__(self, port: int, on_request: Any = None) -> None:
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                seen = on_request() if on_request else None
                outer.requests.append({"path": self.path, "headers": dict(self.headers),
                                       "body": body, "seen": seen})
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> HookServer:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


# ---------------------------------------------------------------------------- a case to revoke
@pytest.fixture
def recognized(engine: Engine, clock: FakeClock, application: dict) -> int:
    """A case of 佛山市南海区 recognized in round 2024 and heard (拟撤销告知 and 陈述申辩,
    before any notice is attached): its revocation is the one letter the tests deliver."""
    case_id = Walker(engine, clock, application).to("recognized")
    ready(engine, clock, case_id)
    return case_id


def ready(engine: Engine, clock: FakeClock, case_id: int) -> None:
    """The 第十八条 procedure up to the decision, a few days before :data:`REVOKED_AT`."""
    clock.set("2024-11-01T10:00")
    heard(engine, case_id, "18.2", "经核查，申报材料中2023年产值数据与统计部门数据不符")


def smtp_settings(tmp_path: Path, port: int, **extra: Any) -> Settings:
    return Settings(
        outbox=tmp_path / "outbox",
        smtp=SmtpSettings(host="127.0.0.1", port=port, sender="gdcluster@gdei.example.gov.cn",
                          timeout=5, recipients={
                              "*": (PROVINCE_MAIL,), "佛山市": (FOSHAN_MAIL,),
                              "佛山市南海区": (NANHAI_MAIL,), "中山市": (ZHONGSHAN_MAIL,)}),
        **extra,
    )


def revoke(engine: Engine, clock: FakeClock, case_id: int) -> None:
    """The province's 撤销决定 on a case :func:`ready` for it."""
    clock.set(REVOKED_AT)
    engine.fire(case_id, "revoke", PROVINCE, reason=DECISION)


def deliveries(engine: Engine, channel: str | None = None) -> list[Delivery]:
    with engine.store.read() as session:
        statement = select(Delivery).order_by(Delivery.id)
        if channel is not None:
            statement = statement.where(Delivery.channel == channel)
        rows = list(session.scalars(statement))
        for row in rows:
            session.expunge(row)
        return rows


def stored(engine: Engine, fmt: str) -> Notice:
    with engine.store.read() as session:
        row = session.scalars(select(Notice).where(Notice.format == fmt)
                              .order_by(Notice.id.desc())).first()
        assert row is not None
        session.expunge(row)
        return row


# ---------------------------------------------------------------------------- SMTP
def test_smtp_mails_each_recipient_of_the_clusters_regions(
    engine: Engine, clock: FakeClock, recognized: int, tmp_path: Path
) -> None:
    """A revocation in 佛山市南海区 is mailed to the province list ("*"), 佛山市 and 南海区 — not
    to 中山市 — one message each: the text as body, the HTML as alternative, the .docx attached
    (the bytes issued), subject = the notice's title."""
    port = free_port()
    with SmtpServer(port) as server:
        attach(engine, smtp_settings(tmp_path, port))
        revoke(engine, clock, recognized)
    assert sorted(rcpt for envelope in server.envelopes for rcpt in envelope.rcpt_tos) == sorted(
        [PROVINCE_MAIL, FOSHAN_MAIL, NANHAI_MAIL])
    assert all(len(envelope.rcpt_tos) == 1 for envelope in server.envelopes)
    assert {envelope.mail_from for envelope in server.envelopes} == {
        "gdcluster@gdei.example.gov.cn"}
    docx = stored(engine, "docx")
    for message in server.messages():
        assert message["Subject"] == TITLE
        assert message["To"] in (PROVINCE_MAIL, FOSHAN_MAIL, NANHAI_MAIL)
        text = message.get_body(("plain",)).get_content()
        assert "第十八条第（二）项“发现虚假申报或存在违法违规行为”" in text
        assert "自2024年11月5日起生效" in text
        html = message.get_body(("html",)).get_content()
        assert '<h1 class="title">' in html
        [attachment] = list(message.iter_attachments())
        assert attachment.get_filename().endswith(".docx")
        assert hashlib.sha256(attachment.get_content()).hexdigest() == docx.sha256
        assert message["X-Gdcluster-Kind"] == "revocation"
    rows = deliveries(engine, "smtp")
    assert [(row.status, row.attempts, row.last_error) for row in rows] == [("sent", 1, None)] * 3
    assert {row.target for row in rows} == {PROVINCE_MAIL, FOSHAN_MAIL, NANHAI_MAIL}


def test_smtp_attaches_the_pdf_where_it_is_issued(
    engine: Engine, clock: FakeClock, recognized: int, tmp_path: Path
) -> None:
    """With "pdf" among the formats, each message carries the issued PDF beside the .docx,
    under the notice's title, byte for byte."""
    port = free_port()
    with SmtpServer(port) as server:
        attach(engine, smtp_settings(tmp_path, port, formats=("txt", "html", "docx", "pdf")))
        revoke(engine, clock, recognized)
    pdf = stored(engine, "pdf")
    assert len(server.messages()) == 3
    for message in server.messages():
        attached = {item.get_filename(): item for item in message.iter_attachments()}
        assert sorted(attached) == [f"{TITLE}.docx", f"{TITLE}.pdf"]
        body = attached[f"{TITLE}.pdf"].get_content()
        assert attached[f"{TITLE}.pdf"].get_content_type() == "application/pdf"
        assert hashlib.sha256(body).hexdigest() == pdf.sha256


def test_smtp_without_its_password_fails_with_a_clear_error(
    engine: Engine, clock: FakeClock, recognized: int, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """A login whose password variable is not set fails the delivery (recorded), never the
    act."""
    monkeypatch.delenv("GD_TEST_SMTP_PASSWORD", raising=False)
    port = free_port()
    settings = smtp_settings(tmp_path, port)
    assert settings.smtp is not None
    from dataclasses import replace

    settings = replace(settings, smtp=replace(settings.smtp, user="gdcluster",
                                              password_env="GD_TEST_SMTP_PASSWORD"))
    with SmtpServer(port) as server:
        attach(engine, settings)
        revoke(engine, clock, recognized)
    assert engine.get(recognized).state == "revoked"
    assert not server.envelopes
    rows = deliveries(engine, "smtp")
    assert {row.status for row in rows} == {"failed"}
    assert all("GD_TEST_SMTP_PASSWORD is not set" in (row.last_error or "") for row in rows)


def test_a_ten_thousand_character_name_is_mailed_and_filed_whole(
    engine: Engine, clock: FakeClock, application: dict, tmp_path: Path
) -> None:
    """Issue 6 §6: a cluster name of 10,000 characters reaches the SMTP server in the subject
    and the body whole, and the outbox files carry it whole; only the .docx file properties
    and the attachment's file name, which Word and mail clients cap, are shortened."""
    from docx import Document

    name = "佛山市南海区" + "长" * (10_000 - len("佛山市南海区产业集群")) + "产业集群"
    assert len(name) == 10_000
    case_id = Walker(engine, clock, application).to("recognized", name=name)
    ready(engine, clock, case_id)
    port = free_port()
    with SmtpServer(port) as server:
        attach(engine, smtp_settings(tmp_path, port))
        revoke(engine, clock, case_id)
    title = f"关于撤销{name}广东省中小企业特色产业集群认定的通知"
    messages = server.messages()
    assert len(messages) == 3
    for message in messages:
        assert message["Subject"] == title
        assert name in message.get_body(("plain",)).get_content()
        [attachment] = list(message.iter_attachments())
        assert attachment.get_filename().endswith(".docx")
        assert len(attachment.get_filename().encode("utf-8")) <= 255
        assert attachment.get_filename().startswith("关于撤销佛山市南海区长长")
        document = Document(io.BytesIO(attachment.get_content()))
        assert name in "".join(paragraph.text for paragraph in document.paragraphs)
        assert len(document.core_properties.title) == 255
        assert document.core_properties.title.endswith("…")
    assert {row.status for row in deliveries(engine)} == {"sent"}
    text = stored(engine, "txt")
    assert name in (tmp_path / "outbox" / text.path).read_text(encoding="utf-8")


# ---------------------------------------------------------------------------- webhook
def test_webhook_receives_the_notice_as_signed_json_after_the_commit(
    engine: Engine, clock: FakeClock, recognized: int, tmp_path: Path, db_url: str,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """The webhook gets one POST of a JSON event (kind, title, text, the three files with their
    hashes), signed with HMAC-SHA256 of the body; when it arrives the revocation is already
    committed (a separate connection sees it); a hook for other kinds gets nothing."""
    monkeypatch.setenv("GD_TEST_HOOK_SECRET", "s3cret")
    port = free_port()
    reader = Engine.open(db_url, clock=clock)

    def committed_state() -> str:
        return reader.get(recognized).state

    with HookServer(port, on_request=committed_state) as server:
        attach(engine, Settings(outbox=tmp_path / "outbox", webhooks=(
            Webhook(url=f"http://127.0.0.1:{port}/gdcluster", secret_env="GD_TEST_HOOK_SECRET"),
            Webhook(url=f"http://127.0.0.1:{port}/publicity-only", kinds=("publicity",)),
        )))
        revoke(engine, clock, recognized)
    reader.close()
    [request] = server.requests
    assert request["path"] == "/gdcluster"
    assert request["seen"] == "revoked"
    assert request["headers"]["Content-Type"] == "application/json; charset=utf-8"
    expected = hmac.new(b"s3cret", request["body"], hashlib.sha256).hexdigest()
    assert request["headers"]["X-Gdcluster-Signature"] == f"sha256={expected}"
    event = json.loads(request["body"])
    assert event["event"] == "notice.issued"
    assert event["delivery_id"] == int(request["headers"]["X-Gdcluster-Delivery"])
    notice = event["notice"]
    assert notice["kind"] == "revocation" and notice["case_id"] == recognized
    assert notice["title"] == TITLE
    assert "第十八条第（二）项" in notice["text"]
    assert {item["format"]: item["sha256"] for item in notice["files"]} == {
        fmt: stored(engine, fmt).sha256 for fmt in ("txt", "html", "docx")}
    [row] = deliveries(engine, "webhook")
    assert (row.status, row.attempts) == ("sent", 1)


# ---------------------------------------------------------------------------- failure, retry
def test_a_failing_channel_records_its_error_and_a_retry_by_hand_delivers(
    engine: Engine, clock: FakeClock, recognized: int, tmp_path: Path, db_url: str
) -> None:
    """With nothing listening, the revocation still commits; the e-mail and webhook deliveries
    are recorded failed with the error and the next attempt 60 s later; `notice deliver`
    before then does nothing; once the servers are up, `notice deliver --retry-failed` sends
    each exactly once, and the case stays revoked with an intact audit chain."""
    smtp_port, hook_port = free_port(), free_port()
    settings_file = tmp_path / "gdcluster.toml"
    settings_file.write_text(f"""
[notices]
outbox = "outbox"

[smtp]
host = "127.0.0.1"
port = {smtp_port}
from = "gdcluster@gdei.example.gov.cn"
timeout = 5

[smtp.recipients]
"*" = ["{PROVINCE_MAIL}"]

[[webhooks]]
url = "http://127.0.0.1:{hook_port}/hook"
""", encoding="utf-8")
    attach(engine, load_settings(settings_file))
    revoke(engine, clock, recognized)

    assert engine.get(recognized).state == "revoked"
    failed = deliveries(engine, "smtp") + deliveries(engine, "webhook")
    assert [(row.channel, row.status, row.attempts) for row in failed] == [
        ("smtp", "failed", 1), ("webhook", "failed", 1)]
    for row in failed:
        assert "Connection refused" in (row.last_error or "") or "Errno 111" in (
            row.last_error or ""), row.last_error
        assert row.next_attempt_at == clock.now() + timedelta(seconds=60)
    assert {row.status for row in deliveries(engine, "outbox")} == {"sent"}
    assert (tmp_path / "outbox").is_dir()

    def gd(*args: str) -> Any:
        return RUNNER.invoke(cli, ["--db", db_url, "--settings", str(settings_file),
                                   "--now", "2024-11-05T10:00:30", *args],
                             catch_exceptions=False)

    early = gd("notice", "deliver", "--json")
    assert early.exit_code == 0, early.output
    assert json.loads(early.stdout) == {"sent": 0, "failed": 0, "failures": []}
    with SmtpServer(smtp_port) as mail, HookServer(hook_port) as hook:
        result = gd("notice", "deliver", "--retry-failed", "--json")
        again = gd("notice", "deliver", "--retry-failed", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["sent"] == 2
    assert json.loads(again.stdout)["sent"] == 0  # delivered once, not again
    assert [envelope.rcpt_tos for envelope in mail.envelopes] == [[PROVINCE_MAIL]]
    assert len(hook.requests) == 1
    rows = deliveries(engine, "smtp") + deliveries(engine, "webhook")
    assert [(row.status, row.attempts, row.last_error) for row in rows] == [
        ("sent", 2, None), ("sent", 2, None)]
    assert engine.get(recognized).state == "revoked"
    assert engine.verify_audit().ok


def test_retries_back_off_exponentially_then_give_up_until_retried_by_hand(
    engine: Engine, clock: FakeClock, recognized: int, tmp_path: Path
) -> None:
    """Failures wait 60 s, then 120 s; after max_attempts (3) the delivery is given up (no next
    attempt) and only --retry-failed takes it up again."""
    port = free_port()
    settings = Settings(outbox=tmp_path / "outbox",
                        webhooks=(Webhook(url=f"http://127.0.0.1:{port}/hook", timeout=5),),
                        delivery=DeliveryPolicy(max_attempts=3, backoff_seconds=60))
    attach(engine, settings)
    revoke(engine, clock, recognized)

    def state() -> tuple[str, int, Any]:
        [row] = deliveries(engine, "webhook")
        return row.status, row.attempts, row.next_attempt_at

    first = clock.now()
    assert state() == ("failed", 1, first + timedelta(seconds=60))
    clock.advance(seconds=59)
    assert deliver(engine, settings).failed == 0  # not due yet
    clock.advance(seconds=2)
    assert deliver(engine, settings).failed == 1
    assert state() == ("failed", 2, clock.now() + timedelta(seconds=120))
    clock.advance(seconds=121)
    assert deliver(engine, settings).failed == 1
    assert state() == ("failed", 3, None)  # given up
    clock.advance(days=30)
    assert deliver(engine, settings).to_dict() == {"sent": 0, "failed": 0, "failures": []}
    with HookServer(port) as hook:
        report = deliver(engine, settings, retry_failed=True)
    assert (report.sent, len(hook.requests)) == (1, 1)
    assert state()[:2] == ("sent", 4)


def test_a_delivery_left_sending_by_a_crash_is_taken_up_after_its_lease(
    engine: Engine, clock: FakeClock, recognized: int, tmp_path: Path
) -> None:
    """A worker that died mid-send leaves its delivery ``sending``; another worker takes it up
    once the 10-minute lease has run out (at least once), not before."""
    port = free_port()
    settings = Settings(outbox=tmp_path / "outbox",
                        webhooks=(Webhook(url=f"http://127.0.0.1:{port}/hook", timeout=5),))
    attach(engine, settings)
    revoke(engine, clock, recognized)  # nothing listening: failed, retry in 60 s
    clock.advance(minutes=2)
    with engine.store.write() as session:  # a worker claims it, then dies
        session.execute(update(Delivery).where(Delivery.channel == "webhook").values(
            status="sending", attempts=2, next_attempt_at=clock.now() + timedelta(minutes=10)))
    with HookServer(port) as hook:
        assert deliver(engine, settings, retry_failed=True).sent == 0  # leased: not touched
        clock.advance(minutes=11)
        assert deliver(engine, settings).sent == 1
        assert deliver(engine, settings, retry_failed=True).sent == 0
    assert len(hook.requests) == 1
    assert [(row.status, row.attempts) for row in deliveries(engine, "webhook")] == [("sent", 3)]


def test_attaching_twice_issues_each_notice_once(
    engine: Engine, clock: FakeClock, recognized: int, tmp_path: Path
) -> None:
    """Attaching again replaces the first attachment: one act, one notice per format, one
    delivery per target."""
    settings = Settings(outbox=tmp_path / "outbox")
    attach(engine, settings)
    attach(engine, settings)
    revoke(engine, clock, recognized)
    rows = list_notices(engine, case_id=recognized)
    assert sorted(row["format"] for row in rows) == ["docx", "html", "txt"]
    assert [len(row["deliveries"]) for row in rows] == [1, 1, 1]


def test_without_attach_an_act_issues_nothing(
    engine: Engine, clock: FakeClock, recognized: int
) -> None:
    """Notices are opt-in for embedding hosts: an engine without ``attach`` writes none, and
    the act's notice can still be rendered afterwards from its audit row."""
    from gdcluster.notifications import render_notice

    revoke(engine, clock, recognized)
    assert list_notices(engine) == []
    text = render_notice(engine, "revocation", case_id=recognized,
                         settings=Settings()).body.decode("utf-8")
    assert "第十八条第（二）项" in text and "自2024年11月5日起生效" in text
    with engine.store.read() as session:
        assert session.get(Case, recognized).state == "revoked"


# ---------------------------------------------------------------------------- settings
SETTINGS_EXAMPLE = """
[notices]
outbox = "notices/out"
formats = ["html", "docx"]
issuer = "广东省工业和信息化厅"

[notices.contact]
department = "中小企业服务处"
address = "广州市越秀区东风中路305号"
postcode = "510031"
person = "张三"
phone = "020-83133333"
email = "zxqyc@gdei.gov.cn"

[notices.fonts]
body = ["仿宋_GB2312", "Noto Serif CJK SC"]

[notices.issuers]
"佛山" = "佛山市工业和信息化局"

[smtp]
host = "smtp.example.gov.cn"
port = 587
from = "gdcluster@example.gov.cn"
starttls = true
user = "gdcluster"
password_env = "GDCLUSTER_SMTP_PASSWORD"

[smtp.recipients]
"*" = ["zxqyc@example.gov.cn"]
"佛山市" = ["fs@example.gov.cn"]
"南海区" = ["nh@example.gov.cn"]

[[webhooks]]
url = "https://oa.example.gov.cn/hooks/gdcluster"
secret_env = "GDCLUSTER_WEBHOOK_SECRET"
kinds = ["publicity", "recognition"]

[delivery]
max_attempts = 5
backoff_seconds = 30

[scheduler]  # another component's table: left alone
anything = 1
"""


def test_the_documented_settings_file_loads(tmp_path: Path) -> None:
    """The documented format loads: the outbox relative to the file, txt always rendered,
    regions in the table's spelling, channels and backoff as written."""
    path = tmp_path / "conf" / "gdcluster.toml"
    path.parent.mkdir()
    path.write_text(SETTINGS_EXAMPLE, encoding="utf-8")
    settings = load_settings(path)
    assert settings.outbox == tmp_path / "conf" / "notices" / "out"
    assert settings.formats == ("txt", "html", "docx")
    assert settings.contact.person == "张三" and settings.issuer == "广东省工业和信息化厅"
    assert (settings.contact.department, settings.contact.address, settings.contact.postcode) == (
        "中小企业服务处", "广州市越秀区东风中路305号", "510031")
    assert settings.contact.missing(("department", "person", "phone")) == []
    assert settings.fonts.body == ("仿宋_GB2312", "Noto Serif CJK SC")
    assert settings.fonts.title[0] == "FZXiaoBiaoSong-B05S"  # the default, not given
    assert settings.city_issuer("深圳市") == "深圳市中小企业服务局"
    assert settings.city_issuer("佛山市") == "佛山市工业和信息化局"
    assert settings.city_issuer("中山市") == "中山市工业和信息化局"
    assert settings.smtp is not None and settings.smtp.starttls and settings.smtp.port == 587
    assert settings.smtp.recipients == {"*": ("zxqyc@example.gov.cn",),
                                        "佛山市": ("fs@example.gov.cn",),
                                        "佛山市南海区": ("nh@example.gov.cn",)}
    [hook] = settings.webhooks
    assert hook.wants("publicity") and not hook.wants("revocation")
    assert settings.delivery.backoff(1) == 30 and settings.delivery.backoff(3) == 120


@pytest.mark.parametrize(("text", "field"), [
    ("[notices]\noutbx = 'x'\n", "notices.outbx"),
    ("[smtp]\nhost = 'h'\nfrom = 'a@b.cn'\n[smtp.recipients]\n'火星市' = ['a@b.cn']\n",
     "smtp.recipients.火星市"),
    ("[smtp]\nhost = 'h'\nfrom = 'not-an-address'\n", "smtp.from"),
    ("[[webhooks]]\nurl = 'ftp://x'\n", "webhooks[0].url"),
    ("[[webhooks]]\nurl = 'https://x'\nkinds = ['memo']\n", "webhooks[0].kinds"),
    ("[notices]\nformats = ['ps']\n", "notices.formats"),
    ("[delivery]\nmax_attempts = 0\n", "delivery.max_attempts"),
    ("[notices.contact]\nfax = '020-1'\n", "notices.contact.fax"),
    ("[notices.contact]\npostcode = '51003'\n", "notices.contact.postcode"),
    ("[notices.fonts]\nbody = ['Noto\\\"; } body { color: red']\n", "notices.fonts.body"),
    ("[notices.fonts]\nserif = ['SimSun']\n", "notices.fonts.serif"),
], ids=["unknown-key", "unknown-region", "bad-from", "bad-url", "bad-kind", "bad-format",
        "zero-attempts", "unknown-contact-key", "bad-postcode", "css-in-font-name",
        "unknown-font-role"])
def test_a_wrong_setting_is_refused_with_its_path(tmp_path: Path, text: str, field: str) -> None:
    """A typo never silently disables a channel: the setting is refused as bad input (exit 2)
    with its path."""
    path = tmp_path / "gdcluster.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidInput) as caught:
        load_settings(path)
    assert caught.value.field == field


@pytest.fixture(autouse=True)
def _no_stray_threads() -> Iterator[None]:
    """Servers are stopped by their tests; nothing keeps running after."""
    before = set(threading.enumerate())
    yield
    leftover = [t for t in set(threading.enumerate()) - before if t.is_alive() and not t.daemon]
    assert not leftover, leftover


# ---------------------------------------------------------------------------- leases, redirects
@pytest.fixture(params=["sqlite", "postgresql"])
def shared_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Both back-ends: two workers sharing one database is about storage, not channels."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    return str(request.getfixturevalue("pg_schema_url"))


class SlowHookServer(HookServer):
    """A receiver that takes ``delay`` seconds to answer each POST."""

    def __init__(self, port: int, delay: float) -> None:
        import time

        super().__init__(port, on_request=lambda: time.sleep(delay))


def returned_notices(engine: Engine, clock: FakeClock, application: dict, count: int) -> None:
    """``count`` 退回补正 notices: one case submitted and returned ``count`` times."""
    walker = Walker(engine, clock, application)
    case_id = walker.create()
    for index in range(count):
        engine.fire(case_id, "submit", "county:佛山市南海区")
        engine.fire(case_id, "return", "city:佛山市@张三", reason=f"第{index + 1}次补正")


def test_a_batch_longer_than_the_lease_never_posts_a_delivery_twice(
    shared_db_url: str, clock: FakeClock, application: dict, tmp_path: Path
) -> None:
    """Each claim's lease counts from that claim (the clock read as the row is taken), not
    from the start of the batch: worker A works through 14 webhook deliveries against a slow
    receiver (0.3 s each, a 3 s lease); worker B starts once A has been at it for longer than
    the lease. Each delivery is POSTed exactly once, and each ends sent."""
    from collections import Counter

    from gdcluster.engine.clock import SystemClock

    count, delay, lease = 14, 0.3, timedelta(seconds=3)
    port = free_port()
    settings = Settings(outbox=tmp_path / "outbox", formats=("txt",),
                        webhooks=(Webhook(url=f"http://127.0.0.1:{port}/hook", timeout=30),))
    engine = Engine.init(shared_db_url, simulation=True, clock=clock)
    attach(engine, settings)
    returned_notices(engine, clock, application, count)  # nothing listens yet: all failed
    webhook_ids = [row.id for row in deliveries(engine, "webhook")]
    assert len(webhook_ids) == count
    assert {row.status for row in deliveries(engine, "webhook")} == {"failed"}
    engine.close()

    errors: list[BaseException] = []

    def worker() -> None:
        own = Engine.open(shared_db_url, clock=SystemClock())  # the real clock: time passes
        try:
            deliver(own, settings, lease=lease)
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)
        finally:
            own.close()

    with SlowHookServer(port, delay) as hook:
        first = threading.Thread(target=worker)
        first.start()
        # B starts after A has worked longer than the lease (11 × 0.3 s > 3 s)
        while len(hook.requests) < 11 and first.is_alive():
            threading.Event().wait(0.02)
        second = threading.Thread(target=worker)
        second.start()
        first.join()
        second.join()
    assert not errors, errors
    posted = Counter(int(request["headers"]["X-Gdcluster-Delivery"]) for request in hook.requests)
    assert posted == Counter({delivery_id: 1 for delivery_id in webhook_ids})
    reader = Engine.open(shared_db_url, clock=clock)
    try:
        assert {row.status for row in deliveries(reader, "webhook")} == {"sent"}
    finally:
        reader.close()


class RedirectServer(HookServer):
    """Answers every request with ``302 Found`` to ``location``; ``methods`` lists them."""

    def __init__(self, port: int, location: str) -> None:
        super().__init__(port)
        self.methods: list[str] = []
        outer = self

        def redirect(request: Any) -> None:
            request.rfile.read(int(request.headers.get("Content-Length") or 0))
            outer.methods.append(request.command)
            request.send_response(302)
            request.send_header("Location", location)
            request.send_header("Content-Length", "0")
            request.end_headers()

        handler = self.server.RequestHandlerClass
        handler.do_GET = handler.do_POST = redirect  # type: ignore[attr-defined]


class AnyRequestServer(HookServer):
    """A receiver that records GETs as well as POSTs (where a followed redirect would land)."""

    def __init__(self, port: int) -> None:
        super().__init__(port)
        handler = self.server.RequestHandlerClass
        outer = self

        def do_GET(request: Any) -> None:
            outer.requests.append({"path": request.path, "headers": dict(request.headers),
                                   "body": b"", "seen": None})
            request.send_response(200)
            request.end_headers()

        handler.do_GET = do_GET  # type: ignore[attr-defined]


def test_a_webhook_redirect_is_a_failure_and_is_never_followed(
    engine: Engine, clock: FakeClock, recognized: int, tmp_path: Path
) -> None:
    """A receiver answering 302 to another URL does not steer the notice there: the other URL
    gets no request, the delivery is failed with the status (``HTTP 302``) and retried after
    its backoff like any failure — and redirected again, so failed again."""
    hook_port, internal_port = free_port(), free_port()
    settings = Settings(outbox=tmp_path / "outbox", webhooks=(
        Webhook(url=f"http://127.0.0.1:{hook_port}/hook", timeout=5),))
    with RedirectServer(hook_port, f"http://127.0.0.1:{internal_port}/internal") as redirect, \
            AnyRequestServer(internal_port) as internal:
        attach(engine, settings)
        revoke(engine, clock, recognized)
        [row] = deliveries(engine, "webhook")
        assert (row.status, row.attempts) == ("failed", 1)
        assert "HTTP 302" in (row.last_error or ""), row.last_error
        assert row.next_attempt_at == clock.now() + timedelta(seconds=60)
        assert row.delivered_at is None
        clock.advance(seconds=61)
        report = deliver(engine, settings)
        assert (report.sent, report.failed) == (0, 1)
    assert internal.requests == []
    assert redirect.methods == ["POST", "POST"]
    [row] = deliveries(engine, "webhook")
    assert (row.status, row.attempts) == ("failed", 2)
    assert row.next_attempt_at == clock.now() + timedelta(seconds=120)


# ---------------------------------------------------------------------------- settings location
def test_a_settings_file_in_the_working_folder_is_ignored(
    engine: Engine, clock: FakeClock, application: dict, tmp_path: Path, db_url: str,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ``gdcluster.toml`` in the current folder (a shared folder, someone else's) is never
    read: an act run there through the CLI without --settings or $GDCLUSTER_SETTINGS posts
    nothing to the webhook it names and writes no delivery for it; the notice goes to the
    defaults' outbox."""
    port = free_port()
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "gdcluster.toml").write_text(
        f'[notices]\noutbox = "elsewhere"\n\n[[webhooks]]\nurl = "http://127.0.0.1:{port}/x"\n',
        encoding="utf-8")
    case_id = Walker(engine, clock, application).to("submitted")
    monkeypatch.chdir(shared)
    monkeypatch.delenv("GDCLUSTER_SETTINGS", raising=False)
    assert load_settings().webhooks == () and load_settings().outbox == Path("outbox")
    with HookServer(port) as hook:
        result = RUNNER.invoke(cli, ["--db", db_url, "--as", "city:佛山市@张三", "--now",
                                     "2024-03-02T09:00", "case", "review", str(case_id),
                                     "--return", "--reason", "缺少证明材料"],
                               catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert hook.requests == []
    assert deliveries(engine, "webhook") == []
    assert not (shared / "elsewhere").exists()
    assert [row.status for row in deliveries(engine, "outbox")] == ["sent"] * 3
    assert all(Path(row.target).parent == shared / "outbox"
               for row in deliveries(engine, "outbox"))


def test_settings_come_from_the_option_the_environment_or_the_system_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--settings, else $GDCLUSTER_SETTINGS, else /etc/gdcluster/gdcluster.toml when it
    exists, else the defaults; never the current folder."""
    from gdcluster.notifications import settings as settings_module

    assert Path("/etc/gdcluster/gdcluster.toml") == settings_module.SYSTEM_FILE
    system = tmp_path / "etc" / "gdcluster.toml"
    monkeypatch.setattr(settings_module, "SYSTEM_FILE", system)
    monkeypatch.delenv("GDCLUSTER_SETTINGS", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "gdcluster.toml").write_text("[notices]\nissuer = '本目录'\n", encoding="utf-8")
    assert load_settings().issuer == "广东省工业和信息化厅"  # the defaults
    system.parent.mkdir()
    system.write_text("[notices]\nissuer = '系统'\n", encoding="utf-8")
    assert load_settings().issuer == "系统"
    other = tmp_path / "other.toml"
    other.write_text("[notices]\nissuer = '环境'\n", encoding="utf-8")
    monkeypatch.setenv("GDCLUSTER_SETTINGS", str(other))
    assert load_settings().issuer == "环境"
    assert load_settings(tmp_path / "gdcluster.toml").issuer == "本目录"
