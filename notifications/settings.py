"""Notice settings: who signs, whom to call, where the outbox is, how to deliver.

Read from a TOML file: ``--settings PATH``, else ``GDCLUSTER_SETTINGS``, else ``./gdcluster.toml``
when it exists, else the defaults (outbox ``./outbox``, no SMTP, no webhooks). Only the tables
below belong to notices; other top-level tables are left to other parts of gdcluster. Inside
these tables an unknown key is refused, so a typo never silently disables a channel. Relative
paths are taken from the settings file's folder. Secrets are never written in the file: it names
the environment variables that hold them.

.. code-block:: toml

    [notices]
    outbox = "outbox"                       # folder for every rendered notice
    formats = ["txt", "html", "docx"]       # rendered for each act; txt is always included
    issuer = "广东省工业和信息化厅"           # signs province notices

    [notices.contact]                       # printed in the publicity notice and the letters
    person = "张三"
    phone = "020-83133333"
    email = "zxqyc@gdei.gov.cn"

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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gdcluster.engine.errors import InvalidInput
from gdcluster.notifications.kinds import KINDS

__all__ = [
    "DEFAULT_ISSUER",
    "FORMATS",
    "Contact",
    "DeliveryPolicy",
    "Settings",
    "SmtpSettings",
    "Webhook",
    "load_settings",
    "settings_path",
]

FORMATS = ("txt", "html", "docx")
DEFAULT_ISSUER = "广东省工业和信息化厅"
DEFAULT_FILE = "gdcluster.toml"
ENVIRONMENT = "GDCLUSTER_SETTINGS"
_EMAIL = re.compile(r"[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: Settings are a page of TOML; a file far larger is a mistake (or an attack on the parser).
MAX_FILE_BYTES = 256 * 1024


@dataclass(frozen=True)
class Contact:
    person: str | None = None
    phone: str | None = None
    email: str | None = None

    @property
    def given(self) -> bool:
        return any((self.person, self.phone, self.email))


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
    formats: tuple[str, ...] = FORMATS
    issuer: str = DEFAULT_ISSUER
    contact: Contact = Contact()
    city_issuers: Mapping[str, str] = field(default_factory=dict)
    smtp: SmtpSettings | None = None
    webhooks: tuple[Webhook, ...] = ()
    delivery: DeliveryPolicy = DeliveryPolicy()
    source: str | None = None

    def __post_init__(self) -> None:
        formats = tuple(dict.fromkeys(("txt", *self.formats)))
        unknown = [name for name in formats if name not in FORMATS]
        if unknown:
            raise InvalidInput(f"unknown format {unknown[0]!r}; use {', '.join(FORMATS)}",
                               field="notices.formats")
        object.__setattr__(self, "formats", formats)
        object.__setattr__(self, "outbox", Path(self.outbox))

    def city_issuer(self, city: str) -> str:
        return self.city_issuers.get(city) or f"{city}工业和信息化局"


def settings_path(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The settings file in force: explicit, else $GDCLUSTER_SETTINGS, else ./gdcluster.toml."""
    if explicit:
        return Path(explicit)
    from_env = os.environ.get(ENVIRONMENT)
    if from_env:
        return Path(from_env)
    default = Path(DEFAULT_FILE)
    return default if default.is_file() else None


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """Load and validate the settings (see the module docstring); defaults when no file."""
    chosen = settings_path(path)
    if chosen is None:
        return Settings()
    try:
        content = chosen.read_bytes()
        if len(content) > MAX_FILE_BYTES:
            raise InvalidInput(f"{chosen} has {len(content)} bytes; a settings file is at most "
                               f"{MAX_FILE_BYTES}", field="settings")
        data = tomllib.loads(content.decode("utf-8"))
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
        raise InvalidInput(f"no settings file at {chosen}", field="settings") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{chosen}: not valid TOML: {exc}", field="settings") from exc
    except RecursionError:
        raise InvalidInput(f"{chosen}: nested too deeply to be settings",
                           field="settings") from None
    return parse_settings(data, base=chosen.resolve().parent, source=str(chosen))


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
    )
    contact_table.finish()
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
            table.fail("ssl", "choose starttls or ssl, not both")
        table.finish()

    webhooks = []
    raw_hooks = data.get("webhooks", [])
    if not isinstance(raw_hooks, list) or not all(isinstance(row, dict) for row in raw_hooks):
        raise InvalidInput("must be an array of tables ([[webhooks]])", field="webhooks")
    for index, row in enumerate(raw_hooks):
        table = _Table(row, f"webhooks[{index}]")
        url = table.text("url", required=True) or ""
        if not re.match(r"https?://[^\s/]+", url):
            table.fail("url", f"not an http(s) URL: {url!r}")
        kinds = table.text_list("kinds")
        if kinds is not None:
            for kind in kinds:
                if kind not in KINDS:
                    table.fail("kinds", f"unknown notice kind {kind!r}; use {', '.join(KINDS)}")
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
        formats=tuple(formats) if formats is not None else FORMATS,
        issuer=issuer,
        contact=contact,
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
                self.fail(key, "unknown setting")

    def _get(self, key: str, required: bool) -> Any:
        self._read.add(key)
        value = self._data.get(key)
        if value is None and required:
            self.fail(key, "is required")
        return value

    def text(self, key: str, *, required: bool = False) -> str | None:
        value = self._get(key, required)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            self.fail(key, f"must be non-empty text, not {value!r}")
        if any(ch in value for ch in "\r\n"):
            self.fail(key, "must be one line")
        from gdcluster.engine.text import check_text

        check_text(value, f"{self._path}.{key}", one_line=True)
        return str(value).strip()

    def email(self, key: str, *, required: bool = False) -> str | None:
        value = self.text(key, required=required)
        if value is not None and not _EMAIL.fullmatch(value):
            self.fail(key, f"not an e-mail address: {value!r}")
        return value

    def env_name(self, key: str) -> str | None:
        value = self.text(key)
        if value is not None and not _ENV_NAME.fullmatch(value):
            self.fail(key, f"not an environment variable name: {value!r}")
        return value

    def text_list(self, key: str) -> list[str] | None:
        value = self._get(key, False)
        if value is None:
            return None
        if not isinstance(value, list) or not all(
            isinstance(item, str) and item.strip() for item in value
        ):
            self.fail(key, f"must be a list of text, not {value!r}")
        from gdcluster.engine.text import check_text

        for index, item in enumerate(value):
            check_text(item, f"{self._path}.{key}[{index}]", one_line=True)
        return [item.strip() for item in value]

    def email_list(self, key: str) -> list[str]:
        values = self.text_list(key) or []
        for item in values:
            if not _EMAIL.fullmatch(item):
                self.fail(key, f"not an e-mail address: {item!r}")
        return values

    def integer(self, key: str, *, default: int, low: int, high: int) -> int:
        value = self._get(key, False)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.fail(key, f"must be a whole number from {low} to {high}, not {value!r}")
        return int(value)

    def boolean(self, key: str) -> bool:
        value = self._get(key, False)
        if value is None:
            return False
        if not isinstance(value, bool):
            self.fail(key, f"must be true or false, not {value!r}")
        return bool(value)

    def table(self, key: str) -> _Table:
        return _Table(self._get(key, False) or {}, f"{self._path}.{key}")
