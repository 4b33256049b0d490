"""The ``Engine`` facade: the one way into gdcluster for the CLI and for host systems.

Each method parses what it is given and hands it to the part that does the work::

    acts on a case        engine/kernel.py     (Kernel.act: one act, one transaction)
    round acts, batches   engine/rounds.py     (through the kernel, one case at a time)
    recognition           engine/recognition.py (the 名单通告's batch)
    who may act, policies, the calendar  engine/administration.py (the facade's province
                          housekeeping: grants, policy extensions, calendar imports)
    reads                 engine/views.py      (CaseView, lists, histories, round summaries)
    deadlines             engine/sweep.py      (through the kernel's transition)
    input                 engine/parse.py      (text, dates, years, ids and their bounds)

The workflow is bound when the engine is built: a guard or effect that workflow.toml names but
the engine does not have stops it there (``InvalidDefinition``), never later, as an act.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from gdcluster.engine import procedures, views
from gdcluster.engine.actors import Actor
from gdcluster.engine.administration import Administration
from gdcluster.engine.clock import Clock, SystemClock, is_system_clock, local_date
from gdcluster.engine.errors import (
    EngineError,
    InvalidInput,
    NotInitialized,
    Reason,
    SimulationOnly,
    TransitionRefused,
)
from gdcluster.engine.i18n import Message
from gdcluster.engine.ormless import SCHEMA_REVISION
from gdcluster.engine.parse import as_case_id
from gdcluster.engine.store import Store, resolve_url
from gdcluster.engine.views import CaseView, RoundSummary, ScoreRow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from gdcluster.engine.audit import VerifyReport
    from gdcluster.engine.criteria import CheckReport
    from gdcluster.engine.dossier import CaseFile
    from gdcluster.engine.kernel import Kernel, TransitionEvent
    from gdcluster.engine.preview import PendingDeadline
    from gdcluster.engine.recognition import RecognitionResult
    from gdcluster.engine.rounds import CloseResult, PublicityResult
    from gdcluster.engine.sweep import DeadlineOutcome
    from gdcluster.engine.todo import TodoList

__all__ = ["Engine"]


class Engine(Administration):
    """Open with :meth:`open`; every act is one transaction; errors are ``EngineError``."""

    def __init__(self, store: Store, clock: Clock, *, simulation: bool,
                 acts: bool = True) -> None:
        self.store = store
        self._clock = clock
        self._simulation = simulation
        self._kernel: Kernel | None = None
        if acts:  # the workflow is bound now: a definition that does not bind stops it here
            self._kernel = self.kernel
        elif not is_system_clock(clock) and not (
                simulation and store.meta("simulation") == "true"):
            raise SimulationOnly(store.url)  # a reading engine is held to the same clock rule

    @property
    def kernel(self) -> Kernel:
        """The act kernel: the seam the round batches and the deadline sweep act through.
        Built with the engine, or — for an engine opened to read (``acts=False``) — when first
        needed, so that a read loads neither the workflow nor the act machinery."""
        if self._kernel is None:
            from gdcluster.engine.kernel import Kernel
            from gdcluster.engine.lifecycle import Lifecycle
            from gdcluster.states.workflow import load_workflow

            workflow = load_workflow()
            self._kernel = Kernel(self.store, self._clock, simulation=self._simulation,
                                  lifecycle=Lifecycle.of(workflow))
            # ``attach``, and the acts that carry evidence (``accepts`` attachments)
            carrying = {rule.trigger for rule in workflow.rules if "attachments" in rule.accepts}
            self._kernel.on_transaction(_link_attachments, triggers=("attach", *carrying))
            from gdcluster.engine.review_rounds import recognition_acts_only

            self._kernel.before_batch(recognition_acts_only(self.store))
        return self._kernel

    @property
    def clock(self) -> Clock:
        """The clock the engine was opened with; fixed for its life (no backdating by
        swapping it)."""
        return self._clock

    @property
    def simulation(self) -> bool:
        """Whether the database is a simulation one (its clock may be set)."""
        return self._simulation if self._kernel is None else self._kernel.simulation

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, url: str | None = None, *, clock: Clock | None = None,
             acts: bool = True, synchronous: str = "FULL") -> Engine:
        """Open an initialized database (``gdcluster init`` first; see :meth:`init`).

        A clock other than exactly the system clock (a subclass neither) is accepted only by
        a simulation database, so nobody can backdate an act on a real one
        (``SimulationOnly``); the clock cannot be swapped after opening. ``acts=False``: opened
        to read — the workflow is bound when the first act needs it, not now (the CLI's reads).
        ``synchronous`` (SQLite): ``FULL``, the default, makes each committed act survive a
        power loss; ``NORMAL`` (WAL) keeps the database whole but may lose the last acts
        committed before a power loss (not a process crash). PostgreSQL ignores it.
        """
        store = Store(resolve_url(url), synchronous=synchronous)
        found = store.metas("schema_revision", "simulation") or {}
        if found.get("schema_revision") != SCHEMA_REVISION:
            store.dispose()
            raise NotInitialized(store.url)
        simulation = found.get("simulation") == "true"
        try:
            return cls(store, clock or SystemClock(), simulation=simulation, acts=acts)
        except BaseException:  # a set clock on a real database, or the workflow did not bind
            store.dispose()
            raise

    @classmethod
    def init(
        cls, url: str | None = None, *, simulation: bool = False, clock: Clock | None = None
    ) -> Engine:
        """Create or upgrade the schema to head (Alembic), then open; the only way to create
        a SQLite file (opening never does)."""
        from gdcluster.engine.schema import upgrade

        store = Store(resolve_url(url), create=True)
        try:
            upgrade(store, simulation=simulation)
        finally:
            store.dispose()
        return cls.open(url, clock=clock)

    def close(self) -> None:
        """Release the database connections."""
        self.store.dispose()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        """The database URL this engine opened."""
        return self.store.url

    # ------------------------------------------------------------------ events
    def subscribe(self, callback: Callable[[TransitionEvent], None]) -> Callable[[], None]:
        """Call ``callback`` after each committed act; returns an unsubscribe function.

        A failing listener is logged and never undoes the act it heard of.
        """
        return self.kernel.subscribe(callback)

    def on_transaction(self, hook: Callable[[Session, TransitionEvent], None], *,
                       triggers: Iterable[str] | None = None) -> Callable[[], None]:
        """Run ``hook(session, event)`` inside each act's transaction, after its audit row.

        For records that must commit or vanish with the act (notice records, DESIGN §8). A
        hook that raises aborts the act. ``triggers``: only after these acts (the others then
        make no ORM session for the hook). Returns a function that removes the hook.
        """
        return self.kernel.on_transaction(hook, triggers=triggers)

    def before_batch(self, check: Callable[[str, int], None]) -> Callable[[], None]:
        """Run ``check(trigger, year)`` before a round batch (``publicize_round``,
        ``recognize_round``) writes anything; returns a function that removes the check.

        A batch's own act comes last, after its cases moved one transaction each: what would
        refuse that act (the settings its notice needs) is checked here first, so that a
        refusal leaves nothing written. A check refuses by raising ``TransitionRefused``.
        """
        return self.kernel.before_batch(check)

    # ------------------------------------------------------------------ rounds
    def open_round(
        self,
        year: int,
        actor: Actor | str,
        *,
        policy: str | None = None,
        apply_by: date | str | None = None,
        recommend_by: date | str | None = None,
        quotas: Mapping[str, tuple[int, int]] | None = None,
        notice_title: str | None = None,
        notice_doc_no: str | None = None,
        kind: str = "recognition",
        check_by: date | str | None = None,
    ) -> RoundSummary:
        """Open round ``year`` (province only) and return its summary.

        ``policy`` names a file of ``states/policies`` (default ``guangdong-2023``); the
        deadlines close their windows at 24:00; ``quotas`` maps a city (or ``*``) to its
        ``(min, max)`` recommendations; the 申报通知's title and 发文字号 are cited by the
        round's notices. ``kind="review"`` opens a 复核 round instead (第十六条): it covers the
        clusters whose validity ends by the end of ``year``, with ``apply_by`` for their
        applications and ``check_by`` for the cities' 初审 (default: the policy's working days).
        """
        who = Actor.of(actor)
        if kind == "review":
            from gdcluster.engine import review_rounds

            given = [name for name, value in (("recommend_by", recommend_by), ("quotas", quotas),
                                              ("notice_title", notice_title),
                                              ("notice_doc_no", notice_doc_no)) if value]
            if given:
                raise InvalidInput("a 复核 round takes no recommendations, quotas or 申报通知",
                                   field=given[0])
            review_rounds.open_review_round(self.kernel, year, who, policy=policy,
                                            apply_by=apply_by, check_by=check_by)
            return self.round_summary(year, kind="review")
        if kind != "recognition":
            raise InvalidInput(Message("unknown round kind {kind!r}; use recognition or review",
                                       kind=kind), field="kind")
        if check_by is not None:
            raise InvalidInput("only a 复核 round (--kind review) has a 初审 deadline",
                               field="check_by")
        from gdcluster.engine import rounds

        rounds.open_round(self.kernel, year, who, policy=policy, apply_by=apply_by,
                          recommend_by=recommend_by, quotas=quotas, notice_title=notice_title,
                          notice_doc_no=notice_doc_no)
        return self.round_summary(year, kind="recognition")

    def round_summary(self, year: int, kind: str | None = None) -> RoundSummary:
        """Round ``year``: deadlines, documents, stored batches, rubric, cases and quotas; a
        复核 round (``kind="review"``) lists the cases it covers. Without ``kind``, the one
        round of the year; refused (``InvalidInput``, field ``kind``) when the year holds a
        recognition round and a 复核 round."""
        from gdcluster.engine.review_views import covered_summary, which_round

        kind = which_round(self.store, year, kind)
        if kind == "review":
            return covered_summary(self.store, year)
        return views.round_summary(self.store, year)

    def rounds(self) -> list[Any]:
        """Every round (``RoundLine``), recognition and 复核, by year."""
        from gdcluster.engine.review_views import list_rounds

        return list_rounds(self.store)

    def publicize_round(
        self,
        year: int,
        actor: Actor | str,
        *,
        top: int | None = None,
        min_score: Decimal | str | None = None,
        select_ids: Iterable[int] | None = None,
        start: date | str | None = None,
        doc_no: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> PublicityResult:
        """Publicize the chosen expert-reviewed cases of round ``year`` (the ``top`` N, those
        scoring at least ``min_score``, or ``select_ids``) from ``start`` (default: today;
        never before it), and close the others (未入选, reason ``not_publicized``).

        The pick is stored on the round before any case moves, and each case moves in a
        transaction of its own: a run cut short is finished by running it again with the same
        choice, and another choice is refused (naming the stored pick) until then. The
        round's act, with its 公示 notice, is recorded once. ``progress(1)`` is called per case.
        """
        from gdcluster.engine import rounds

        return rounds.publicize_round(self.kernel, year, Actor.of(actor), top=top,
                                      min_score=min_score, select_ids=select_ids, start=start,
                                      doc_no=doc_no, progress=progress)

    def recognize_round(
        self,
        year: int,
        actor: Actor | str,
        *,
        doc_no: str | None,
        doc_date: date | str | None = None,
        valid_from: date | str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> RecognitionResult:
        """Recognize round ``year``'s cases whose publicity has closed, with the 名单通告
        ``doc_no`` signed on ``doc_date`` (default: today; after the close of every listed
        case's publicity, never after today); validity from ``doc_date`` or a later
        ``valid_from``. First closes the publicity whose window has ended; last, closes the
        round's leftovers where no window still runs. Nobody to recognize: nothing written.
        Stored and resumable like :meth:`publicize_round`; one 通告, one validity.
        """
        from gdcluster.engine import recognition

        return recognition.recognize_round(self.kernel, year, Actor.of(actor), doc_no=doc_no,
                                           doc_date=doc_date, valid_from=valid_from,
                                           progress=progress)

    def close_round(self, year: int, actor: Actor | str, *,
                    progress: Callable[[int], None] | None = None) -> CloseResult:
        """Close round ``year`` (province): its cases left before publicity become 未入选
        (reason ``not_submitted``, ``not_recommended`` or ``not_publicized``), then nothing of
        the round is filed, submitted or reopened. Refused while a window of the round runs."""
        from gdcluster.engine import rounds

        return rounds.close_round(self.kernel, year, Actor.of(actor), progress=progress)

    def record_site_visit(self, year: int, actor: Actor | str, *, day: date | str,
                          note: str) -> dict[str, Any]:
        """Record a 现场考察 of round ``year`` on ``day`` (province); the round's later notices
        name the step."""
        from gdcluster.engine import rounds

        return rounds.record_site_visit(self.kernel, year, Actor.of(actor), day=day, note=note)

    # ------------------------------------------------------------------ cases
    def create_case(
        self,
        *,
        round_year: int,
        name: str,
        county: str,
        industry: str,
        data: Mapping[str, Any],
        actor: Actor | str,
    ) -> int:
        """File an application as a draft case of round ``round_year``; returns its id.

        Only the county-level unit itself may file (``county:<unit>``); ``data`` is the
        application (``engine.application``), which may be incomplete in a draft.
        """
        from gdcluster.engine import filing

        case = filing.new_case(self.kernel, round_year=round_year, name=name, county=county,
                               industry=industry, data=data, actor=actor)
        try:
            return filing.write_cases(self.kernel, [case])[0]
        except TransitionRefused as refusal:
            self.kernel.record_refusal(case.who, self.kernel.lifecycle.creation.trigger,
                                       refusal, round_year=case.round_year)
            raise

    def create_cases(
        self,
        rows: Iterable[Mapping[str, Any]],
        *,
        chunk: int = 1000,
        on_refusal: Callable[[int, EngineError], None] | None = None,
    ) -> list[int | None]:
        """File many applications: each of ``rows`` holds :meth:`create_case`'s keyword
        arguments and gets its checks; ``chunk`` cases per transaction, one audit row each.
        Returns the new ids in the order of ``rows``.

        Without ``on_refusal`` the first refused row raises its error: its chunk writes
        nothing, the chunks before it stay filed. With it, ``on_refusal(index, error)`` hears
        of each refused row (its id is ``None``) and the others are filed.
        """
        from gdcluster.engine import filing

        return filing.create_cases(self.kernel, rows, chunk=chunk, on_refusal=on_refusal)

    def fire(
        self,
        case_id: int,
        trigger: str,
        actor: Actor | str,
        *,
        expected_version: int | None = None,
        **payload: Any,
    ) -> CaseView:
        """Fire ``trigger`` on a case as ``actor``: one transaction, one audit row.

        Returns the case as the act left it. ``expected_version`` refuses the act
        (``ConcurrentModification``) when the case has moved on meanwhile. A refusal
        (``TransitionRefused``, ``PermissionDenied``) is kept in the refused attempts. A
        payload key the trigger does not take is bad input (``InvalidInput`` naming it and the
        keys it takes: its rows' ``requires`` and ``accepts``); a trigger only a round command
        fires (``recognize``, ``close``) is refused here. ``system`` is the scheduler's: it
        acts only for a due deadline the sweep holds, never through this method
        (``PermissionDenied``).
        """
        who = Actor.of(actor)
        lifecycle = self.kernel.lifecycle
        if not (isinstance(trigger, str) and trigger in lifecycle.triggers):  # a code: as is
            trigger = views.trigger_code(trigger, among=lifecycle.triggers)
        known = lifecycle.payload_keys(trigger)
        unknown = sorted(set(payload) - known)
        if unknown:
            raise InvalidInput(Message("{trigger} does not take {key!r}; it takes {keys}",
                                       trigger=trigger, key=unknown[0],
                                       keys=", ".join(sorted(known)) or Message("nothing")),
                               field=unknown[0])
        command = lifecycle.round_only.get(trigger)
        if command is not None:
            refusal = TransitionRefused(
                Message("{trigger} is not done on one case: `gdcluster {command}` does it for "
                        "the round's cases together, with its notice", trigger=trigger,
                        command=command),
                case_id=case_id, trigger=trigger, reasons=[Reason.ROUND_ACT_ONLY])
            self.kernel.record_refusal(who, trigger, refusal, case_id=as_case_id(case_id))
            raise refusal
        view = self.kernel.act(case_id, trigger, who, payload, expected_version=expected_version)
        assert view is not None
        return view

    # ------------------------------------------------------------------ reading
    def get(self, case_id: int) -> CaseView:
        """The case ``case_id`` with its deadlines, objections and reports."""
        return views.read_case(self.store, case_id)

    def case_file(self, case_id: int) -> CaseFile:
        """The case with its application, 第十三条 summary, each expert's scores, the notices
        issued, its attachments and its ``review_status``, read together (``case show``)."""
        from gdcluster.engine.dossier import read_case_file

        return read_case_file(self.store, case_id, local_date(self.clock.now()))

    def attach(self, case_id: int, actor: Actor | str, content: bytes, *, name: str,
               kind: str, note: str | None = None,
               expected_version: int | None = None) -> dict[str, Any]:
        """Attach a file to the case on its own act (``attach``): one transaction, its SHA-256
        in the audit row. Returns the attachment as ``attachments`` lists it. Refused with
        ``InvalidInput`` (naming ``file`` or ``kind``) for an unknown kind, an empty or too
        large file, or content that is none of the accepted types."""
        payload: dict[str, Any] = {"content": content, "name": name, "kind": kind}
        if note is not None:
            payload["note"] = note
        view = self.fire(case_id, "attach", actor, expected_version=expected_version,
                         **payload)
        return self.attachments(view.id)[-1]

    def attachments(self, case_id: int) -> list[dict[str, Any]]:
        """The case's attachments, oldest first: sha256, size, media type, name, kind, note,
        who attached it, its audit row and when (never the bytes)."""
        from gdcluster.engine.attachments import attachments_of

        case_id = as_case_id(case_id)
        with self.store.read() as session:
            views.load_case(session, case_id)
            return attachments_of(session, case_id)

    def attachment(self, case_id: int, sha256: str) -> tuple[dict[str, Any], bytes]:
        """One attachment of the case by its SHA-256 (or a unique prefix of 8+ hex digits)
        and its bytes, checked against the hash (``AttachmentCorrupted`` when they differ)."""
        from gdcluster.engine.attachments import attachment_content

        case_id = as_case_id(case_id)
        with self.store.read() as session:
            views.load_case(session, case_id)
            return attachment_content(session, case_id, sha256)

    def list_cases(
        self,
        *,
        state: str | None = None,
        city: str | None = None,
        round_year: int | None = None,
        county: str | None = None,
        industry: str | None = None,
        name: str | None = None,
        due_before: date | str | None = None,
        valid_until_before: date | str | None = None,
        valid_until_after: date | str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> Iterator[CaseView]:
        """Cases in id order, streamed (no full load), optionally one page of them.

        Every filter given must hold: ``state`` (code, hyphen form or Chinese label),
        ``city``, ``round_year``, ``county``, ``industry`` (exactly), ``name`` (a part of it),
        ``due_before`` (a pending deadline due by 24:00 of that day), ``valid_until_before``
        and ``valid_until_after`` (validity ending on or before / on or after that day).
        Filters are checked (``InvalidInput``) when the first case is asked for.
        """
        return views.list_cases(self.store, state=state, city=city, round_year=round_year,
                                county=county, industry=industry, name=name,
                                due_before=due_before, valid_until_before=valid_until_before,
                                valid_until_after=valid_until_after, limit=limit,
                                offset=offset)

    def history(self, case_id: int) -> list[dict[str, Any]]:
        """The audit rows of a case, oldest first: trigger, states, actor, time, reason,
        article and payload."""
        return views.history(self.store, case_id)

    def application(self, case_id: int) -> dict[str, Any]:
        """The case's application data, normalized as ``validate_application`` returns them
        (data stored by earlier versions read leniently, never refused)."""
        from gdcluster.engine import applications

        return applications.application(self.store, case_id)

    def review_status(self, case_id: int) -> dict[str, Any]:
        """The case's plan goals (target, latest actual), its 复核 round, whether its validity
        has ended, and the 复核 in progress with its 考核 (each goal met or not, the criteria
        re-check)."""
        from gdcluster.engine.dossier import read_review_status

        return read_review_status(self.store, case_id, local_date(self.clock.now()))

    def scores(self, case_id: int) -> list[ScoreRow]:
        """Each expert's scores of the case, in the order they were recorded."""
        return views.scores(self.store, case_id)

    def check(self, case_id: int) -> CheckReport:
        """第十三条 item by item for the case's application under its policy."""
        from gdcluster.engine.applications import stored_text
        from gdcluster.engine.criteria import check_case
        from gdcluster.engine.policies import policy_for

        case_id = as_case_id(case_id)
        with self.store.read() as session:
            case = views.load_case(session, case_id)
            return check_case(case, policy_for(case.policy, case.policy_digest),
                              stored_text(session.connection(), case_id))

    def refusals(self, *, case_id: int | None = None) -> list[dict[str, Any]]:
        """The refused attempts (who tried what, when, and why), oldest first."""
        return views.refusals(self.store, case_id=case_id)

    def unheard_revocations(self) -> list[dict[str, Any]]:
        """Revocations recorded without a hearing (before the 第十八条 procedure existed),
        with where each case stands now; ``case reinstate`` undoes one (nothing here does)."""
        with self.store.read() as session:
            return procedures.unheard_revocations(session)

    def todo(self, actor: Actor | str, *, within: int = 30, city: str | None = None,
             county: str | None = None) -> TodoList:
        """What waits for ``actor`` now: cases waiting for an act of its role, objections to
        resolve, deadlines due within ``within`` days (overdue first), decisions awaited after
        a deadline passed; ``city``/``county`` narrow the province's (or a city's) list."""
        from gdcluster.engine.todo import todo

        return todo(self.store, actor, self.clock.now(), within=within, city=city,
                    county=county)

    def verify_audit(self, *, progress: Callable[[int], None] | None = None,
                     anchors: str | os.PathLike[str] | None = None) -> VerifyReport:
        """Recompute the hash chain, replay every case from it and recompute the records it
        vouches for; the report names the first row (or case, or record) that does not fit.
        ``anchors``: a file of heads recorded outside (``audit anchor``), each of which the
        chain must still reach and match. ``progress(n)`` is told of the rows checked as the
        check goes (``audit_length`` rows in an intact chain)."""
        from gdcluster.engine import verification

        found = verification.read_anchors(anchors) if anchors is not None else None
        with self.store.read() as session:
            return verification.verify(session, anchors=found, progress=progress)

    def audit_length(self) -> int:
        """How many rows the audit chain's head records (a progress bar's size)."""
        from gdcluster.engine import audit

        with self.store.read() as session:
            return audit.chain_length(session)

    # ------------------------------------------------------------------ deadlines
    def run_due(self, now: datetime | str | None = None) -> list[DeadlineOutcome]:
        """Fire every deadline due at ``now`` (default: the clock's now), each exactly once.

        One transaction per deadline: the case row locked, the deadline claimed
        (``pending → fired`` where still pending), the transition and its audit row — so
        several processes may sweep one database at once. Returns what this call did with each
        deadline it handled (``outcome``: ``publicity_closed``, ``revoked``, ``flagged``,
        ``reminded``, ``closed``, ``held``, ``not_applicable``, ``refused``, ``waiting``…, and
        ``result``). ``now`` may be given on a simulation database only (``SimulationOnly``
        otherwise).
        """
        from gdcluster.engine import sweep

        return sweep.run_due(self.kernel, now)

    def pending(self, until: date | datetime | str | None = None) -> list[PendingDeadline]:
        """Pending deadlines due by ``until`` (a date counts to its 24:00; default: now).

        A dry view, in due order, each with the ``action`` a sweep would take now. Writes
        nothing.
        """
        from gdcluster.engine import preview

        return preview.pending(self.kernel, until)


def _link_attachments(session: Session, event: TransitionEvent) -> None:
    """After the audit row of an act that stored files (``attach``, or an act carrying
    evidence): name the row on the attachments the act stored."""
    if event.trigger == "attach" or event.payload.get("attachments"):
        from gdcluster.engine.attachments import link_audit_row

        link_audit_row(session, event.case_id, event.audit_seq)
