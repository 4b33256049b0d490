"""Which contact settings a notice needs, and what happens when they are missing.

A template that prints contact details says so on its second line, ``{# contact: person phone
#}``; a notice kind needs what its template and every template it includes declare. So a new
kind that includes ``_contact.xml.j2`` (letters) or ``_contact_office.xml.j2`` (the 公示)
needs those settings without being listed anywhere.

A real (non-simulation) database refuses to issue a notice while any of them is missing
(:class:`~gdcluster.notifications.errors.ContactMissing`, exit code 3): the act that calls for
it is not done. A simulation database issues it with what there is and logs a warning, which
the command line shows on stderr.
"""

from __future__ import annotations

import logging
import re
from functools import cache

from gdcluster.engine.i18n import ngettext
from gdcluster.notifications.errors import ContactMissing
from gdcluster.notifications.render import environment, kind_template, template_closure
from gdcluster.notifications.settings import CONTACT_KEYS, Settings

__all__ = ["check_contact", "declared_contact", "required_contact"]

log = logging.getLogger("gdcluster.notifications")
_DECLARATION = re.compile(r"\{#\s*contact:([^#]*)#\}")


@cache
def declared_contact(template: str) -> tuple[str, ...]:
    """The contact settings ``template`` itself declares (its second line), in order."""
    env = environment()
    assert env.loader is not None
    source, _, _ = env.loader.get_source(env, template)
    lines = source.split("\n", 2)
    match = _DECLARATION.fullmatch(lines[1].strip()) if len(lines) > 1 else None
    if match is None:
        return ()
    keys = tuple(match.group(1).split())
    unknown = [key for key in keys if key not in CONTACT_KEYS]
    if unknown:
        raise LookupError(f"template {template} declares unknown contact setting {unknown[0]!r};"
                          f" known: {', '.join(CONTACT_KEYS)}")
    return keys


@cache
def required_contact(kind: str) -> tuple[str, ...]:
    """The contact settings a ``kind`` notice prints (in [notices.contact] order)."""
    wanted = {key for template in template_closure(kind_template(kind))
              for key in declared_contact(template)}
    return tuple(key for key in CONTACT_KEYS if key in wanted)


def check_contact(kind: str, settings: Settings, *, simulation: bool) -> list[str]:
    """The missing contact settings of a ``kind`` notice: refused on a real database, a
    warning on a simulation one (returned, so a caller may say more)."""
    missing = settings.contact.missing(required_contact(kind))
    if not missing:
        return []
    if not simulation:
        raise ContactMissing(kind, missing, source=settings.source)
    log.warning(ngettext("the %s notice is issued without %s: set it in [notices.contact] (a "
                         "real database refuses to issue it without it)",
                         "the %s notice is issued without %s: set them in [notices.contact] "
                         "(a real database refuses to issue it without them)", len(missing)),
                kind, ", ".join(missing), extra={"code": "contact_missing"})
    return missing
