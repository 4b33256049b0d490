"""Why a notice cannot be issued yet: both wait for the settings or the machine to be completed.

Both are :class:`~gdcluster.engine.errors.WaitingFor` (exit code 3): the act that calls for the
notice is refused and nothing of it is written; a deadline refused this way stays pending and
the next sweep issues its notice once the settings or packages are there.
"""

from __future__ import annotations

from collections.abc import Sequence

from gdcluster.engine.errors import WaitingFor

__all__ = ["ContactMissing", "PdfUnavailable"]


class ContactMissing(WaitingFor):
    """A real (non-simulation) database issues no notice without the contact it prints."""

    code = "contact_missing"

    def __init__(self, kind: str, missing: Sequence[str], *, source: str | None = None) -> None:
        keys = ", ".join(f"notices.contact.{key}" for key in missing)
        where = f"the settings file {source}" if source else (
            "a settings file (--settings, GDCLUSTER_SETTINGS or ./gdcluster.toml)")
        verb, them = ("is", "it") if len(missing) == 1 else ("are", "them")
        super().__init__(
            f"a {kind} notice prints the contact details, but {keys} {verb} not set: add "
            f"{them} to [notices.contact] in {where}; nothing was done",
            kind=kind, missing=list(missing),
        )


class PdfUnavailable(WaitingFor):
    """PDF is asked for where WeasyPrint, its Pango library or a Chinese font cannot load."""

    code = "pdf_unavailable"

    def __init__(self, problem: str) -> None:
        super().__init__(
            f"cannot render PDF: {problem}. PDF needs WeasyPrint (pip install 'gdcluster[pdf]'), "
            f"the Pango library (Debian/Ubuntu: apt-get install libpango-1.0-0 "
            f"libpangoft2-1.0-0) and a Chinese font (apt-get install fonts-noto-cjk); or remove "
            f'"pdf" from [notices] formats',
            problem=problem,
        )
