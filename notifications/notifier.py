"""Attaching the notices to an engine (``attach``): the hooks an act runs, and nothing more.

``attach(engine, settings)`` registers on an :class:`~gdcluster.engine.Engine` the transaction
hook that issues an act's notices in its own transaction, the subscriber that delivers them
after the commit, and the check a round batch runs first (``gdcluster.notifications.service``
says what each does). Every act of the command line is attached; most acts issue no notice
(:data:`~gdcluster.notifications.kinds.TRIGGER_KINDS` names those that do), so the notice
machinery itself — the settings, the notices' context, their tables and templates — is loaded
when the first notice is due, not for an act that issues none.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING

from gdcluster.engine.errors import DatabaseReplaced
from gdcluster.engine.i18n import gettext as _
from gdcluster.notifications.kinds import BATCH_KINDS, TRIGGER_KINDS

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from gdcluster.engine.api import Engine
    from gdcluster.engine.kernel import TransitionEvent
    from gdcluster.notifications.settings import Settings

__all__ = ["Notifier", "attach"]

log = logging.getLogger("gdcluster.notifications")
_ATTRIBUTE = "_gdcluster_notifier"


class Notifier:
    """The notices machinery attached to one engine; :meth:`detach` removes it.

    Settings given as a path (or None: ``$GDCLUSTER_SETTINGS`` / the system file) are
    read when the first notice is due, so opening an engine to read never trips over them;
    an act that needs a notice fails (and is not done) while they are invalid.
    """

    def __init__(self, engine: Engine,
                 settings: Settings | str | os.PathLike[str] | None = None) -> None:
        self.engine = engine
        self._settings: Settings | None = None
        self._settings_file: str | os.PathLike[str] | None = None
        if settings is None or isinstance(settings, str | os.PathLike):
            self._settings_file = settings  # read when the first notice is due
        else:
            self._settings = settings
        # only the acts that issue notices: the others make no ORM session for the hook
        self._remove_hook = engine.on_transaction(self._on_transaction, triggers=TRIGGER_KINDS)
        self._remove_subscriber = engine.subscribe(self._after_commit)
        self._remove_check = engine.before_batch(self._before_batch)
        #: per thread, the acts whose deliveries wait for the end of a sweep's batch
        #: (``Kernel.holding_deliveries``)
        self._held = threading.local()
        self._remove_flush = engine.kernel.after_held(self._flush)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from gdcluster.notifications.settings import load_settings

            self._settings = load_settings(self._settings_file)
        return self._settings

    def _before_batch(self, trigger: str, year: int) -> None:
        """A round batch issues its notice last, after its cases moved: what would refuse that
        notice refuses the batch before anything is written."""
        from gdcluster.notifications.service import ready

        for kind in BATCH_KINDS.get(trigger, ()):
            ready(kind, self.settings, simulation=self.engine.simulation, warn=False)

    def _on_transaction(self, session: Session, event: TransitionEvent) -> None:
        if event.trigger not in TRIGGER_KINDS:  # no notice (``specs_for_event`` says alike)
            return
        from gdcluster.notifications.context import specs_for_event
        from gdcluster.notifications.service import issue

        for spec in specs_for_event(event):
            issue(session, spec, self.settings, event, simulation=self.engine.simulation)

    def _after_commit(self, event: TransitionEvent) -> None:
        if event.trigger not in TRIGGER_KINDS:
            return
        if self.engine.kernel.holding:  # a sweep's batch: delivered together when it ends
            self._held.__dict__.setdefault("seqs", []).append(event.audit_seq)
            return
        self._deliver([event.audit_seq])

    def _flush(self) -> None:
        held = self._held.__dict__.pop("seqs", [])
        if held:
            self._deliver(held)

    def _deliver(self, seqs: list[int]) -> None:
        from gdcluster.notifications.delivery import deliver

        try:
            report = deliver(self.engine, self.settings, audit_seqs=seqs)
        except DatabaseReplaced as gone:  # the acts went with the file: announce nothing
            log.error(_("notices of audit rows %s not delivered: %s"),
                      ", ".join(map(str, seqs)), gone.localized())
            return
        for failure in report.failures:
            log.warning(_("delivery %s (%s → %s) failed: %s"), failure["id"], failure["channel"],
                        failure["target"], failure["error"])

    def detach(self) -> None:
        self._remove_hook()
        self._remove_subscriber()
        self._remove_check()
        self._remove_flush()
        if getattr(self.engine, _ATTRIBUTE, None) is self:
            delattr(self.engine, _ATTRIBUTE)


def attach(engine: Engine,
           settings: Settings | str | os.PathLike[str] | None = None) -> Notifier:
    """Issue and deliver notices for the acts of ``engine``.

    ``settings``: a :class:`Settings`, or the path of a settings file, or None for
    ``$GDCLUSTER_SETTINGS`` / ``/etc/gdcluster/gdcluster.toml`` / the defaults. Attaching again
    replaces the earlier attachment, so no act is announced twice.
    """
    previous = getattr(engine, _ATTRIBUTE, None)
    if previous is not None:
        previous.detach()
    notifier = Notifier(engine, settings)
    setattr(engine, _ATTRIBUTE, notifier)
    return notifier
