"""Notice settings: who signs, whom to call, where the outbox is, how to deliver.

Read from a TOML file: ``--settings PATH``, else ``$GDCLUSTER_SETTINGS``, else
``/etc/gdcluster/gdcluster.toml`` when it exists, else the defaults (outbox ``./outbox``, no SMTP,
no webhooks). Never from the current folder: a ``gdcluster.toml`` left in a shared folder would
otherwise send the notices of whoever runs gdcluster there to its author's webhook. Only the tables
below belong to notices; other top-level tables are left to other parts of gdcluster (``[actors]``,
which OS user may act as whom: ``engine/grants.py``). Inside
these tables an unknown key is refused, so a typo never silently disables a channel. Relative
paths are taken from the settings file's folder. Secrets are never written in the file: it names
the environment variables that hold them.

.. code-block:: toml

    [notices]
    outbox = "outbox"                       # folder for every rendered notice
    formats = ["txt", "html", "docx"]       # rendered for each act; txt is always included;
                                            # add "pdf" where WeasyPrint and Pango are installed
    issuer = "广东省工业和信息化厅"           # signs province notices

    [notices.contact]                       # printed in the 公示 and the case letters; on a real
    department = "中小企业服务处"            # (non-simulation) database a notice that prints
    address = "广州市越秀区东风中路305号"     # one of these is refused while it is missing
    postcode = "510031"
    person = "张三"
    phone = "020-83133333"
    email = "zxqyc@gdei.gov.cn"

    [notices.fonts]                         # CSS font families for HTML and PDF, tried in order
    body = ["FangSong_GB2312", "仿宋", "FandolFang", "Noto Serif CJK SC"]    # 3号仿宋
    title = ["方正小标宋简体", "Noto Serif CJK SC"]                         # 2号小标宋
    h1 = ["黑体", "Noto Sans CJK SC"]                                     # 一、 headings
    h2 = ["楷体_GB2312", "FandolKai", "Noto Serif CJK SC"]                # （一） headings
    page = ["宋体", "Noto Serif CJK SC"]                                  # page numbers

    [notices.issuers]                       # who signs a city's 退回补正 letters
                                            # (default: 〈city〉工业和信息化局)
    "佛山市" = "佛山市工业和信息化局"

    [smtp]
    host = "smtp.example.gov.cn"
    port = 587
    from = "gdcluster@example.gov.cn"
    starttls = true                         # or ssl = true (port 465)
    user = "gdcluster"                      # optional; then the password is read from…
    password_env = "GDCLUSTER_SMTP_PASSWORD"
    timeout = 10

    [smtp.recipients]                       # per region: "*" gets every notice; a city gets the
    "*" = ["zxqyc@example.gov.cn"]           # notices of its clusters; a county-level unit its own
    "佛山市" = ["fs-zxqy@example.gov.cn"]
    "佛山市南海区" = ["nh-jmj@example.gov.cn"]

    [[webhooks]]
    url = "https://oa.example.gov.cn/hooks/gdcluster"
    secret_env = "GDCLUSTER_WEBHOOK_SECRET"  # optional: HMAC-SHA256 of the body
    kinds = ["publicity", "recognition"]     # optional: only these notice kinds

    [delivery]
    max_attempts = 8                        # then the delivery is given up (retry by hand)
    backoff_seconds = 60                    # 60 s, 120 s, 240 s … doubling per failure
    backoff_max_seconds = 21600             # at most 6 hours apart
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gdcluster.engine.errors import InvalidInput
from gdcluster.engine.i18n import Message
from gdcluster.notifications.kinds import KINDS

__all__ = [
    "CONTACT_KEYS",
    "DEFAULT_FORMATS",
    "DEFAULT_ISSUER",
    "FORMATS",
    "Contact",
    "DeliveryPolicy",
    "Fonts",
    "Settings",
    "SmtpSettings",
    "Webhook",
    "load_settings",
    "read_settings_file",
    "settings_path",
]

#: Every format a notice can be rendered in; the default settings render all but PDF, which
#: needs WeasyPrint and the Pango library (``pip install 'gdcluster[pdf]'``).
FORMATS = ("txt", "html", "docx", "pdf")
DEFAULT_FORMATS = ("txt", "html", "docx")
DEFAULT_ISSUER = "广东省工业和信息化厅"
#: The settings file of the machine, read when neither --settings nor the environment names one.
SYSTEM_FILE = Path("/etc/gdcluster/gdcluster.toml")
ENVIRONMENT = "GDCLUSTER_SETTINGS"
_EMAIL = re.compile(r"[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_POSTCODE = re.compile(r"[0-9]{6}")
#: A font family name as CSS can quote it: no quotes, escapes or CSS/HTML syntax.
_FONT_NAME = re.compile(r"[^\"'\\;{}<>,]+")
#: Settings are a page of TOML; a file far larger is a mistake (or an attack on the parser).
MAX_FILE_BYTES = 256 * 1024


#: The contact settings, in the order a notice prints them.
CONTACT_KEYS = ("department", "address", "postcode", "person", "phone", "email")


@dataclass(frozen=True)
class Contact:
    """Whom the public and the departments write to or call ([notices.contact])."""

    person: str | None = None
    phone: str | None = None
    email: str | None = None
    department: str | None = None  # 处室, e.g. 中小企业服务处
    address: str | None = None  # postal address
    postcode: str | None = None

    @property
    def given(self) -> bool:
        return any(getattr(self, key) for key in CONTACT_KEYS)

    def missing(self, keys: Iterable[str]) -> list[str]:
        """Those of ``keys`` that are not set, in :data:`CONTACT_KEYS` order."""
        wanted = set(keys)
        return [key for key in CONTACT_KEYS if key in wanted and not getattr(self, key)]


@dataclass(frozen=True)
class Fonts:
    """CSS font families of the HTML and PDF layouts, tried in order; a generic family
    (serif, sans-serif) is always the last resort. The official fonts come first, then the
    common Windows and macOS ones, then free families (Fandol, Noto CJK) that Linux has."""

    body: tuple[str, ...] = (
        "FangSong_GB2312", "仿宋_GB2312", "FangSong", "仿宋", "STFangsong", "华文仿宋",
        "FandolFang", "Noto Serif CJK SC", "Source Han Serif SC", "Songti SC")
    title: tuple[str, ...] = (
        "FZXiaoBiaoSong-B05S", "方正小标宋简体", "方正小标宋_GBK", "STZhongsong", "华文中宋",
        "FandolSong", "Noto Serif CJK SC", "Source Han Serif SC", "SimSun", "宋体")
    h1: tuple[str, ...] = (
        "SimHei", "黑体", "STHeiti", "Heiti SC", "FandolHei", "Noto Sans CJK SC",
        "Source Han Sans SC", "Microsoft YaHei")
    h2: tuple[str, ...] = (
        "KaiTi_GB2312", "楷体_GB2312", "KaiTi", "楷体", "STKaiti", "华文楷体", "Kaiti SC",
        "FandolKai", "AR PL UKai CN", "LXGW WenKai", "Noto Serif CJK SC")
    page: tuple[str, ...] = (
        "SimSun", "宋体", "STSong", "华文宋体", "Songti SC", "FandolSong", "Noto Serif CJK SC",
        "Source Han Serif SC")

    def __post_init__(self) -> None:
        for role in ("body", "title", "h1", "h2", "page"):
            names = tuple(getattr(self, role))
            if not names:
                raise InvalidInput("name at least one font family", field=f"notices.fonts.{role}")
            for name in names:
                if not _FONT_NAME.fullmatch(name) or name != name.strip():
                    raise InvalidInput(Message("not a font family name: {name!r}", name=name),
                                       field=f"notices.fonts.{role}")
            object.__setattr__(self, role, names)


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    sender: str
    port: int = 25
    starttls: bool = False
    ssl: bool = False
    user: str | None = None
    password_env: str | None = None
    timeout: float = 10.0
    recipients: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def password(self) -> str | None:
        if not self.password_env:
            return None
        value = os.environ.get(self.password_env)
        if value is None:
            raise RuntimeError(f"the SMTP password variable {self.password_env} is not set")
        return value


@dataclass(frozen=True)
class Webhook:
    url: str
    secret_env: str | None = None
    kinds: tuple[str, ...] | None = None
    timeout: float = 10.0

    def secret(self) -> bytes | None:
        if not self.secret_env:
            return None
        value = os.environ.get(self.secret_env)
        if value is None:
            raise RuntimeError(f"the webhook secret variable {self.secret_env} is not set")
        return value.encode("utf-8")

    def wants(self, kind: str) -> bool:
        return self.kinds is None or kind in self.kinds


@dataclass(frozen=True)
class DeliveryPolicy:
    max_attempts: int = 8
    backoff_seconds: float = 60.0
    backoff_max_seconds: float = 6 * 3600.0

    def backoff(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failure: doubling, capped."""
        delay = self.backoff_seconds * 2 ** max(attempts - 1, 0)
        return float(min(delay, self.backoff_max_seconds))


@dataclass(frozen=True)
class Settings:
    """Everything notices need besides the database; build one directly in library use."""

    outbox: Path = Path("outbox")
    formats: tuple[str, ...] = DEFAULT_FORMATS
    issuer: str = DEFAULT_ISSUER
    contact: Contact = Contact()
    fonts: Fonts = Fonts()
    city_issuers: Mapping[str, str] = field(default_factory=dict)
    smtp: SmtpSettings | None = None
    webhooks: tuple[Webhook, ...] = ()
    delivery: DeliveryPolicy = DeliveryPolicy()
    source: str | None = None

    def __post_init__(self) -> None:
        formats = tuple(dict.fromkeys(("txt", *self.formats)))
        unknown = [name for name in formats if name not in FORMATS]
        if unknown:
            raise InvalidInput(Message("unknown format {format!r}; use {formats}",
                                       format=unknown[0], formats=", ".join(FORMATS)),
                               field="notices.formats")
        object.__setattr__(self, "formats", formats)
        object.__setattr__(self, "outbox", Path(self.outbox))

    def city_issuer(self, city: str) -> str:
        """Who signs a city's letters: the settings' [notices.issuers], else the city's
        中小企业主管部门 (``states/departments.toml``)."""
        from gdcluster.states.departments import load_departments

        return self.city_issuers.get(city) or load_departments().city(city)


def settings_path(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The settings file in force: explicit, else $GDCLUSTER_SETTINGS, else the system file
    when it exists (None: the defaults)."""
    if explicit:
        return Path(explicit)
    from_env = os.environ.get(ENVIRONMENT)
    if from_env:
        return Path(from_env)
    return SYSTEM_FILE if SYSTEM_FILE.is_file() else None


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """Load and validate the settings (see the module docstring); defaults when no file."""
    chosen = settings_path(path)
    if chosen is None:
        return Settings()
    data = read_settings_file(chosen)
    return parse_settings(data, base=chosen.resolve().parent, source=str(chosen))


def read_settings_file(chosen: Path) -> dict[str, Any]:
    """The settings file's TOML as it is (every table, the notices' and the others', such as
    ``[actors]``), or ``InvalidInput`` naming ``settings``."""
    try:
        content = chosen.read_bytes()
        if len(content) > MAX_FILE_BYTES:
            raise InvalidInput(Message("{path} has {size} bytes; a settings file is at most "
                                       "{limit}", path=chosen, size=len(content),
                                       limit=MAX_FILE_BYTES), field="settings")
        data = tomllib.loads(content.decode("utf-8"))
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
        raise InvalidInput(Message("no settings file at {path}", path=chosen),
                           field="settings") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(Message("{path}: not valid TOML: {error}", path=chosen, error=exc),
                           field="settings") from exc
    except RecursionError:
        raise InvalidInput(Message("{path}: nested too deeply to be settings", path=chosen),
                           field="settings") from None
    return data


def parse_settings(data: Mapping[str, Any], *, base: Path, source: str | None = None) -> Settings:
    notices = _Table(data.get("notices", {}), "notices")
    outbox = Path(notices.text("outbox") or "outbox")
    if not outbox.is_absolute():
        outbox = base / outbox
    formats = notices.text_list("formats")
    contact_table = notices.table("contact")
    contact = Contact(
        person=contact_table.text("person"),
        phone=contact_table.text("phone"),
        email=contact_table.email("email"),
        department=contact_table.text("department"),
        address=contact_table.text("address"),
        postcode=contact_table.text("postcode"),
    )
    if contact.postcode is not None and not _POSTCODE.fullmatch(contact.postcode):
        contact_table.fail("postcode", Message("a postcode has 6 digits, not {value!r}",
                                                value=contact.postcode))
    contact_table.finish()
    fonts_table = notices.table("fonts")
    fonts = Fonts(**{role: tuple(names) for role in ("body", "title", "h1", "h2", "page")
                     if (names := fonts_table.text_list(role)) is not None})
    fonts_table.finish()
    issuers_table = notices.table("issuers")
    city_issuers = {
        _city(name, f"notices.issuers.{name}"): issuers_table.text(name) or ""
        for name in issuers_table.names()
    }
    issuers_table.finish()
    issuer = notices.text("issuer") or DEFAULT_ISSUER
    notices.finish()

    smtp = None
    if "smtp" in data:
        table = _Table(data["smtp"], "smtp")
        host = table.text("host", required=True)
        sender = table.email("from", required=True)
        recipients_table = table.table("recipients")
        recipients = {
            _region(name, f"smtp.recipients.{name}"): tuple(
                recipients_table.email_list(name)
            )
            for name in recipients_table.names()
        }
        recipients_table.finish()
        smtp = SmtpSettings(
            host=host or "",
            sender=sender or "",
            port=table.integer("port", default=25, low=1, high=65535),
            starttls=table.boolean("starttls"),
            ssl=table.boolean("ssl"),
            user=table.text("user"),
            password_env=table.env_name("password_env"),
            timeout=float(table.integer("timeout", default=10, low=1, high=600)),
            recipients=recipients,
        )
        if smtp.starttls and smtp.ssl:
            table.fail("ssl", Message("choose starttls or ssl, not both"))
        table.finish()

    webhooks = []
    raw_hooks = data.get("webhooks", [])
    if not isinstance(raw_hooks, list) or not all(isinstance(row, dict) for row in raw_hooks):
        raise InvalidInput("must be an array of tables ([[webhooks]])", field="webhooks")
    for index, row in enumerate(raw_hooks):
        table = _Table(row, f"webhooks[{index}]")
        url = table.text("url", required=True) or ""
        if not re.match(r"https?://[^\s/]+", url):
            table.fail("url", Message("not an http(s) URL: {url!r}", url=url))
        kinds = table.text_list("kinds")
        if kinds is not None:
            for kind in kinds:
                if kind not in KINDS:
                    table.fail("kinds", Message("unknown notice kind {kind!r}; use {kinds}",
                                                kind=kind, kinds=", ".join(KINDS)))
        webhooks.append(
            Webhook(url=url, secret_env=table.env_name("secret_env"),
                    kinds=tuple(kinds) if kinds is not None else None,
                    timeout=float(table.integer("timeout", default=10, low=1, high=600)))
        )
        table.finish()

    delivery_table = _Table(data.get("delivery", {}), "delivery")
    delivery = DeliveryPolicy(
        max_attempts=delivery_table.integer("max_attempts", default=8, low=1, high=100),
        backoff_seconds=float(delivery_table.integer("backoff_seconds", default=60, low=1,
                                                     high=86400)),
        backoff_max_seconds=float(delivery_table.integer("backoff_max_seconds", default=21600,
                                                         low=1, high=7 * 86400)),
    )
    delivery_table.finish()
    return Settings(
        outbox=outbox,
        formats=tuple(formats) if formats is not None else DEFAULT_FORMATS,
        issuer=issuer,
        contact=contact,
        fonts=fonts,
        city_issuers=city_issuers,
        smtp=smtp,
        webhooks=tuple(webhooks),
        delivery=delivery,
        source=source,
    )


def _city(name: str, path: str) -> str:
    from gdcluster.states.regions import UnknownRegion, load_regions

    try:
        return load_regions().city(name).name
    except UnknownRegion as exc:
        raise InvalidInput(str(exc), field=path) from exc


def _region(name: str, path: str) -> str:
    """"*", a city, or a county-level unit, in the region table's spelling."""
    if name == "*":
        return name
    from gdcluster.states.regions import UnknownRegion, load_regions

    table = load_regions()
    try:
        return table.city(name).name
    except UnknownRegion:
        pass
    try:
        return table.unit(name).name
    except UnknownRegion as exc:
        raise InvalidInput(str(exc), field=path) from exc


class _Table:
    """Typed reading of one settings table; ``finish`` refuses keys nobody read."""

    def __init__(self, data: Any, path: str) -> None:
        if not isinstance(data, dict):
            raise InvalidInput("must be a table", field=path)
        self._data = data
        self._path = path
        self._read: set[str] = set()

    def names(self) -> list[str]:
        """Every key of a table whose keys are data (regions, cities), all marked read."""
        self._read.update(self._data)
        return list(self._data)

    def fail(self, key: str, problem: str) -> None:
        raise InvalidInput(problem, field=f"{self._path}.{key}")

    def finish(self) -> None:
        for key in self._data:
            if key not in self._read:
                self.fail(key, Message("unknown setting"))

    def _get(self, key: str, required: bool) -> Any:
        self._read.add(key)
        value = self._data.get(key)
        if value is None and required:
            self.fail(key, Message("is required"))
        return value

    def text(self, key: str, *, required: bool = False) -> str | None:
        value = self._get(key, required)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            self.fail(key, Message("must be non-empty text, not {value!r}", value=value))
        if any(ch in value for ch in "\r\n"):
            self.fail(key, Message("must be one line"))
        from gdcluster.engine.text import check_text

        check_text(value, f"{self._path}.{key}", one_line=True)
        return str(value).strip()

    def email(self, key: str, *, required: bool = False) -> str | None:
        value = self.text(key, required=required)
        if value is not None and not _EMAIL.fullmatch(value):
            self.fail(key, Message("not an e-mail address: {value!r}", value=value))
        return value

    def env_name(self, key: str) -> str | None:
        value = self.text(key)
        if value is not None and not _ENV_NAME.fullmatch(value):
            self.fail(key, Message("not an environment variable name: {value!r}",
                                   value=value))
        return value

    def text_list(self, key: str) -> list[str] | None:
        value = self._get(key, False)
        if value is None:
            return None
        if not isinstance(value, list) or not all(
            isinstance(item, str) and item.strip() for item in value
        ):
            self.fail(key, Message("must be a list of text, not {value!r}", value=value))
        from gdcluster.engine.text import check_text

        for index, item in enumerate(value):
            check_text(item, f"{self._path}.{key}[{index}]", one_line=True)
        return [item.strip() for item in value]

    def email_list(self, key: str) -> list[str]:
        values = self.text_list(key) or []
        for item in values:
            if not _EMAIL.fullmatch(item):
                self.fail(key, Message("not an e-mail address: {value!r}", value=item))
        return values

    def integer(self, key: str, *, default: int, low: int, high: int) -> int:
        value = self._get(key, False)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.fail(key, Message("must be a whole number from {low} to {high}, not {value!r}",
                                   low=low, high=high, value=value))
        return int(value)

    def boolean(self, key: str) -> bool:
        value = self._get(key, False)
        if value is None:
            return False
        if not isinstance(value, bool):
            self.fail(key, Message("must be true or false, not {value!r}", value=value))
        return bool(value)

    def table(self, key: str) -> _Table:
        return _Table(self._get(key, False) or {}, f"{self._path}.{key}")
