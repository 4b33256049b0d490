"""The waker: APScheduler 3 decides *when* to sweep; the deadline rows decide *what* (DESIGN §9).

APScheduler keeps nothing of ours. Its job store is in memory and holds two jobs with fixed ids,
both derived from the rows at every sweep:

``gdcluster-wake``
    a date job at the earliest pending due time, re-armed after each sweep;
``gdcluster-resync``
    an interval job every minute, which sweeps and re-arms, so rows written by other processes
    (a new publicity period, a renewal, another scheduler's work) are seen within a minute.

On a simulation database the engine's clock is a ``RunningClock`` started at ``--now``: the
sweeps read it, and the wake-up is armed at the system time when that clock will reach the
due time.

A catch-up sweep runs at start: whatever fell due while no scheduler ran fires then.
``misfire_grace_time=None`` (a late wake-up still runs: APScheduler's 1 s default would drop it),
``coalesce=True`` and ``max_instances=1``; one worker thread, so two sweeps never overlap in a
process (several processes may sweep one database: the claim in ``engine/sweep.py`` makes each
deadline fire once). SIGTERM and SIGINT stop cleanly: the sweep in progress finishes the
deadline it holds — one transaction — and the process exits 0.

APScheduler is imported here only, and only when a scheduler is built.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import datetime
from typing import TYPE_CHECKING, Any

from gdcluster.engine import sweep
from gdcluster.engine.clock import SHANGHAI, local_text, wall_time
from gdcluster.engine.i18n import gettext as _
from gdcluster.engine.sweep import DeadlineOutcome

if TYPE_CHECKING:
    from gdcluster.engine.api import Engine

log = logging.getLogger("gdcluster.scheduler")

WAKE_JOB = "gdcluster-wake"
RESYNC_JOB = "gdcluster-resync"
RESYNC_SECONDS = 60
TIMEZONE = "Asia/Shanghai"


def make_scheduler(kind: str = "blocking") -> Any:
    """An APScheduler 3 scheduler configured as DESIGN §9 and §13 require."""
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.memory import MemoryJobStore

    if kind == "blocking":
        from apscheduler.schedulers.blocking import BlockingScheduler as Scheduler
    elif kind == "background":  # for embedding and for tests
        from apscheduler.schedulers.background import BackgroundScheduler as Scheduler
    else:
        raise ValueError(f"unknown scheduler kind {kind!r}")
    return Scheduler(
        jobstores={"default": MemoryJobStore()},
        executors={"default": ThreadPoolExecutor(max_workers=1)},
        job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
        timezone=SHANGHAI,
    )


class DeadlineScheduler:
    """Sweeps an engine's due deadlines at start, at each next due time, and every minute."""

    def __init__(
        self, engine: Engine, *, scheduler: Any = None, resync_seconds: int = RESYNC_SECONDS
    ) -> None:
        self.engine = engine
        self.scheduler = scheduler if scheduler is not None else make_scheduler()
        self.resync_seconds = resync_seconds
        self.stopping = threading.Event()
        self._sweeping = threading.Lock()
        self._armed_for: datetime | None = None

    # ------------------------------------------------------------------ jobs
    def sweep(self) -> list[DeadlineOutcome]:
        """One sweep, then re-arm the wake-up; what every job runs. Never raises."""
        with self._sweeping:
            handled: list[DeadlineOutcome] = []
            if self.stopping.is_set():
                return handled
            # a row falling due while the sweep runs is after its cutoff: the wake-up is
            # armed from the sweep's start, so such a row is swept at once, not a minute later
            started = self.engine.clock.now()
            try:
                handled = sweep.run_due(self.engine.kernel, stop=self.stopping)
                if handled:
                    log.info(_("sweep: %s"), sweep.summary(handled))
            except Exception:  # the database went away, say: the next minute retries
                log.exception(_("sweep failed; retrying at the next wake-up"))
            try:
                self.rearm(after=started)
            except Exception:
                log.exception(_("could not re-arm the wake-up; the minute resync will"))
            return handled

    def next_due(self, after: datetime | None = None) -> datetime | None:
        """The earliest pending due time after ``after`` (default: the engine clock's now)."""
        with self.engine.store.read() as session:
            return sweep.next_due(session, after if after is not None
                                  else self.engine.clock.now())

    def rearm(self, after: datetime | None = None) -> datetime | None:
        """Point the ``gdcluster-wake`` date job at the next due time after ``after`` (default:
        now), or remove it."""
        if self.stopping.is_set():
            return None
        due = self.next_due(after)
        if due is None:
            if self.scheduler.get_job(WAKE_JOB) is not None:
                self.scheduler.remove_job(WAKE_JOB)
            if self._armed_for is not None:
                log.info(_("no pending deadline; the minute resync keeps watching"))
                self._armed_for = None
            return None
        self.scheduler.add_job(
            self.sweep, "date", run_date=wall_time(self.engine.clock, due).astimezone(SHANGHAI),
            id=WAKE_JOB,
            name="sweep at the next due deadline", replace_existing=True,
        )
        if due != self._armed_for:
            log.info(_("next wake-up at %s"), local_text(due))
            self._armed_for = due
        return due

    def add_resync(self) -> None:
        self.scheduler.add_job(
            self.sweep, "interval", seconds=self.resync_seconds, id=RESYNC_JOB,
            name="sweep and resync with rows other processes wrote", replace_existing=True,
        )

    # ------------------------------------------------------------------ running
    def run(self) -> None:
        """Catch up, then block until SIGTERM or SIGINT (the ``scheduler run`` command)."""
        previous = {
            number: signal.signal(number, self._on_signal)
            for number in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            log.info(_("scheduler starting on %s (Asia/Shanghai; catch-up sweep first)"),
                     _safe_url(self.engine.url))
            if self.engine.simulation:
                log.info(_("simulation database: the time runs from %s (--now), never the "
                           "wall clock's"), local_text(self.engine.clock.now()))
            self.sweep()
            if self.stopping.is_set():
                return
            self.add_resync()
            self.scheduler.add_listener(self._started, _started_mask())
            self.scheduler.start()  # blocks until stop() shuts it down
        finally:
            with self._sweeping:  # the sweep in progress, if any, has finished
                pass
            for number, handler in previous.items():
                signal.signal(number, handler)
            log.info(_("scheduler stopped"))

    def stop(self) -> None:
        """End after the deadline in hand; safe from a signal handler and from any thread."""
        self.stopping.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def _started(self, _event: Any) -> None:
        if self.stopping.is_set():  # a signal came between the catch-up and the start
            self.scheduler.shutdown(wait=False)

    def _on_signal(self, number: int, _frame: Any) -> None:
        log.info(_("received %s: stopping"), signal.Signals(number).name)
        self.stop()


def log_formatter() -> logging.Formatter:
    """One line per record, stamped in Asia/Shanghai like every time the engine shows."""

    class ShanghaiFormatter(logging.Formatter):
        def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
            return datetime.fromtimestamp(record.created, SHANGHAI).isoformat(
                sep=" ", timespec="seconds")

    return ShanghaiFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")


def _started_mask() -> int:
    from apscheduler.events import EVENT_SCHEDULER_STARTED

    return int(EVENT_SCHEDULER_STARTED)


def _safe_url(url: str) -> str:
    """The database URL without its password, for the log."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(database)"
