"""Official notices (DESIGN §10): built from acts, rendered with one Jinja environment, stored
with the act, delivered after it.

    from gdcluster.notifications import Settings, attach
    attach(engine, Settings(outbox="out/notices"))     # or attach(engine): the settings file
    engine.publicize_round(2024, "province", top=3, start="2024-09-27")
    # → out/notices/2024-09-26_publicity_round2024_a37.txt, .html, .docx

Kinds: ``publicity`` and ``recognition`` (round), ``renewal`` (round or case), ``revocation``,
``return``, ``report_reminder``, ``expiry_reminder`` (case). Formats: ``txt``, ``html``,
``docx``.

The names below load on first use: attaching to an engine imports neither Jinja nor
python-docx; the first notice to render loads Jinja, the first .docx python-docx.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gdcluster import lazy_exports

__all__ = [
    "FORMATS",
    "KINDS",
    "TRIGGER_KINDS",
    "Contact",
    "DeliveryPolicy",
    "DeliveryReport",
    "NoticeSpec",
    "Notifier",
    "Rendered",
    "Settings",
    "SmtpSettings",
    "Webhook",
    "attach",
    "cn_date",
    "deliver",
    "list_notices",
    "load_settings",
    "render",
    "render_notice",
]

_HOMES = {
    "FORMATS": "settings",
    "KINDS": "kinds",
    "TRIGGER_KINDS": "kinds",
    "NoticeSpec": "context",
    "DeliveryReport": "delivery",
    "deliver": "delivery",
    "Rendered": "render",
    "cn_date": "render",
    "render": "render",
    "Notifier": "service",
    "attach": "service",
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
    from gdcluster.notifications.kinds import KINDS, TRIGGER_KINDS
    from gdcluster.notifications.render import Rendered, cn_date, render
    from gdcluster.notifications.service import Notifier, attach, list_notices, render_notice
    from gdcluster.notifications.settings import (
        FORMATS,
        Contact,
        DeliveryPolicy,
        Settings,
        SmtpSettings,
        Webhook,
        load_settings,
    )

__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
