"""Official notices (DESIGN §10): built from acts, rendered with one Jinja environment, stored
with the act, delivered after it.

    from gdcluster.notifications import Settings, attach
    attach(engine, Settings(outbox="out/notices"))     # or attach(engine): the settings file
    engine.publicize_round(2024, "province", top=3, start="2024-09-27")
    # → out/notices/2024-09-26_publicity_round2024_a37.txt, .html, .docx

Kinds: ``publicity`` and ``recognition`` (round), ``renewal`` (round or case), ``revocation``,
``return``, ``report_reminder``, ``expiry_reminder`` (case). Formats: ``txt``, ``html``,
``docx`` (the default settings), and ``pdf`` where WeasyPrint and Pango are installed.

The names below load on first use: attaching to an engine imports neither Jinja nor
python-docx; the first notice to render loads Jinja, the first .docx python-docx, the first
PDF WeasyPrint.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gdcluster import lazy_exports

__all__ = [
    "DEFAULT_FORMATS",
    "FORMATS",
    "KINDS",
    "TRIGGER_KINDS",
    "Contact",
    "ContactMissing",
    "DeliveryPolicy",
    "DeliveryReport",
    "Fonts",
    "NoticeSpec",
    "Notifier",
    "PdfUnavailable",
    "RecordedRendering",
    "Rendered",
    "Settings",
    "SmtpSettings",
    "Webhook",
    "attach",
    "cn_date",
    "deliver",
    "list_notices",
    "load_settings",
    "record_rendering",
    "render",
    "render_notice",
]

_HOMES = {
    "DEFAULT_FORMATS": "settings",
    "FORMATS": "settings",
    "Fonts": "settings",
    "ContactMissing": "errors",
    "PdfUnavailable": "errors",
    "RecordedRendering": "service",
    "record_rendering": "service",
    "KINDS": "kinds",
    "TRIGGER_KINDS": "kinds",
    "NoticeSpec": "context",
    "DeliveryReport": "delivery",
    "deliver": "delivery",
    "Rendered": "render",
    "cn_date": "render",
    "render": "render",
    "Notifier": "notifier",
    "attach": "notifier",
    "list_notices": "service",
    "render_notice": "service",
    "Contact": "settings",
    "DeliveryPolicy": "settings",
    "Settings": "settings",
    "SmtpSettings": "settings",
    "Webhook": "settings",
    "load_settings": "settings",
}

if TYPE_CHECKING:
    from gdcluster.notifications.context import NoticeSpec
    from gdcluster.notifications.delivery import DeliveryReport, deliver
    from gdcluster.notifications.errors import ContactMissing, PdfUnavailable
    from gdcluster.notifications.kinds import KINDS, TRIGGER_KINDS
    from gdcluster.notifications.notifier import Notifier, attach
    from gdcluster.notifications.render import Rendered, cn_date, render
    from gdcluster.notifications.service import (
        RecordedRendering,
        list_notices,
        record_rendering,
        render_notice,
    )
    from gdcluster.notifications.settings import (
        DEFAULT_FORMATS,
        FORMATS,
        Contact,
        DeliveryPolicy,
        Fonts,
        Settings,
        SmtpSettings,
        Webhook,
        load_settings,
    )

__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
