"""The PDF rendering of a notice: its print HTML (``_layout.html.j2``) laid out by WeasyPrint.

PDF is the form in which the 厅 publishes on its site and officials archive. It is rendered
from the very HTML the html format stores, so the two never differ in wording or layout rules
(A4, the 156 × 225 mm text block, page numbers in @page margin boxes, the signature kept with
the body's last lines).

WeasyPrint needs the Pango library of the operating system and a Chinese font, which a machine
with only Python lacks. It is therefore loaded only when a PDF is asked for, and its absence is
a clear :class:`~gdcluster.notifications.errors.PdfUnavailable` naming what to install, never a
traceback; the default settings render no PDF. Nothing is fetched while rendering: the HTML
refers to no outside resource, and the fetcher refuses any that it might.
"""

from __future__ import annotations

import shutil
import subprocess
from functools import cache
from typing import Any

from gdcluster.notifications.errors import PdfUnavailable

__all__ = ["VERSION", "build", "engine_version", "unavailable"]

#: Bump when the way the HTML is turned into PDF changes (not for template changes).
VERSION = "1"


@cache
def _load() -> tuple[Any, str | None]:
    """WeasyPrint, or why it cannot be used here (checked once per process)."""
    try:
        import weasyprint
    except ImportError:
        return None, "WeasyPrint is not installed"
    except OSError as error:  # cffi could not open libpango / libgobject
        return None, f"WeasyPrint cannot load its system libraries ({error})"
    if not _chinese_font():
        return None, "no font with Chinese characters is installed"
    return weasyprint, None


def _chinese_font() -> bool:
    """Whether fontconfig knows a font covering Chinese; true when it cannot be asked (the
    rendering then falls back as Pango does)."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return True
    try:
        found = subprocess.run([fc_list, ":lang=zh", "family"], capture_output=True,
                               timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return True
    return found.returncode != 0 or bool(found.stdout.strip())


def unavailable() -> str | None:
    """Why PDF cannot be rendered on this machine, or None when it can."""
    return _load()[1]


def engine_version() -> str:
    """``weasyprint@70.0``: recorded with each PDF, since another version lays out otherwise."""
    weasyprint = _require()
    return f"weasyprint@{weasyprint.__version__}"


def _require() -> Any:
    weasyprint, problem = _load()
    if problem is not None:
        raise PdfUnavailable(problem)
    return weasyprint


def build(html: str) -> bytes:
    """The PDF of a notice's print HTML; the same HTML gives the same bytes."""
    weasyprint = _require()
    fetcher = weasyprint.URLFetcher(allowed_protocols=("data",))
    return bytes(weasyprint.HTML(string=html, url_fetcher=fetcher).write_pdf())
