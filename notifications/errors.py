"""Why a notice cannot be issued yet: both wait for the settings or the machine to be completed.

Both are :class:`~gdcluster.engine.errors.WaitingFor` (exit code 3): the act that calls for the
notice is refused and nothing of it is written; a deadline refused this way stays pending and
the next sweep issues its notice once the settings or packages are there.
"""

from __future__ import annotations

from collections.abc import Sequence

from gdcluster.engine.errors import WaitingFor
from gdcluster.engine.i18n import Message

__all__ = ["ContactMissing", "PdfUnavailable"]


class ContactMissing(WaitingFor):
    """A real (non-simulation) database issues no notice without the contact it prints."""

    code = "contact_missing"

    def __init__(self, kind: str, missing: Sequence[str], *, source: str | None = None) -> None:
        keys = ", ".join(f"notices.contact.{key}" for key in missing)
        where = Message("the settings file {source}", source=source) if source else Message(
            "a settings file (--settings, GDCLUSTER_SETTINGS or ./gdcluster.toml)")
        message = Message(
            "a {kind} notice prints the contact details, but {keys} is not set: add it to "
            "[notices.contact] in {where}; nothing was done", kind=kind, keys=keys, where=where,
        ) if len(missing) == 1 else Message(
            "a {kind} notice prints the contact details, but {keys} are not set: add them to "
            "[notices.contact] in {where}; nothing was done", kind=kind, keys=keys, where=where,
        )
        super().__init__(message, kind=kind, missing=list(missing))


class PdfUnavailable(WaitingFor):
    """PDF is asked for where WeasyPrint, its Pango library or a Chinese font cannot load."""

    code = "pdf_unavailable"

    def __init__(self, problem: str) -> None:
        super().__init__(
            Message("cannot render PDF: {problem}. PDF needs WeasyPrint (pip install "
                    "'gdcluster[pdf]'), the Pango library (Debian/Ubuntu: apt-get install "
                    "libpango-1.0-0 libpangoft2-1.0-0) and a Chinese font (apt-get install "
                    "fonts-noto-cjk); or remove \"pdf\" from [notices] formats",
                    problem=problem),
            problem=problem,
        )
