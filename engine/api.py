"""The ``Engine`` facade: the one way into gdcluster for the CLI and for host systems."""

from __future__ import annotations

import builtins
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from gdcluster.engine import audit
from gdcluster.engine.actors import Actor
from gdcluster.engine.clock import Clock, SystemClock, local_date
from gdcluster.engine.errors import (
    ConcurrentModification,
    EngineError,
    InvalidInput,
    NotFound,
    NotInitialized,
    PermissionDenied,
    SimulationOnly,
    TransitionRefused,
)
from gdcluster.engine.models import (
    SCHEMA_REVISION,
    AnnualReport,
    Case,
    Deadline,
    Objection,
    Round,
)
from gdcluster.engine.store import Store, connection_of, resolve_url, upgrade

log = logging.getLogger("gdcluster")

TERMINAL_CASE_DEADLINE_RESULT = "case closed"


@dataclass(frozen=True)
class TransitionEvent:
    """Published to subscribers after the act's transaction has committed."""

    case_id: int | None
    round_year: int | None
    trigger: str
    from_state: str | None
    to_state: str | None
    actor: str
    at: datetime
    reason: str | None
    payload: dict[str, Any]
    audit_seq: int


@dataclass(frozen=True)
class CaseView:
    id: int
    round: int
    name: str
    city: str
    county: str
    industry: str
    state: str
    version: int
    policy: str
    policy_version: int
    score: str | None
    publicity_start: date | None
    publicity_end: date | None
    valid_from: date | None
    valid_until: date | None
    created_at: datetime
    updated_at: datetime
    deadlines: list[dict[str, Any]] = field(default_factory=list)
    objections: list[dict[str, Any]] = field(default_factory=list)
    reports: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        def iso(value: Any) -> Any:
            return value.isoformat() if isinstance(value, date | datetime) else value

        return {
            "id": self.id,
            "round": self.round,
            "name": self.name,
            "city": self.city,
            "county": self.county,
            "industry": self.industry,
            "state": self.state,
            "version": self.version,
            "policy": self.policy,
            "policy_version": self.policy_version,
            "score": self.score,
            "publicity_start": iso(self.publicity_start),
            "publicity_end": iso(self.publicity_end),
            "valid_from": iso(self.valid_from),
            "valid_until": iso(self.valid_until),
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "deadlines": [{k: iso(v) for k, v in row.items()} for row in self.deadlines],
            "objections": [{k: iso(v) for k, v in row.items()} for row in self.objections],
            "reports": list(self.reports),
        }


@dataclass(frozen=True)
class ScoreRow:
    """One expert's scores of a case: points per rubric indicator id, their total, when."""

    expert: str
    points: dict[str, Decimal]
    total: Decimal
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"expert": self.expert, "points": {key: str(value) for key, value in
                                                  self.points.items()},
                "total": str(self.total), "at": self.at.isoformat()}


class _Holder:
    """The plain state holder the one Machine fires on (no per-case binding)."""

    __slots__ = ("state",)

    def __init__(self, state: str) -> None:
        self.state = state


class Engine:
    """Open with :meth:`open`; every act is one transaction; errors are ``EngineError``."""

    def __init__(self, store: Store, clock: Clock, *, simulation: bool) -> None:
        self.store = store
        self.clock = clock
        self.simulation = simulation
        self._subscribers: list[Callable[[TransitionEvent], None]] = []
        self._transaction_hooks: list[Callable[[Session, TransitionEvent], None]] = []

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, url: str | None = None, *, clock: Clock | None = None) -> Engine:
        """Open an initialized database (``gdcluster init`` first; see :meth:`init`).

        A clock other than the system clock is accepted only by a simulation database, so
        nobody can backdate an act on a real one.
        """
        store = Store(resolve_url(url))
        revision = store.schema_revision()
        if revision != SCHEMA_REVISION:
            store.dispose()
            raise NotInitialized(store.url)
        simulation = store.meta("simulation") == "true"
        clock = clock or SystemClock()
        if not simulation and not isinstance(clock, SystemClock):
            store.dispose()
            raise SimulationOnly(store.url)
        return cls(store, clock, simulation=simulation)

    @classmethod
    def init(
        cls, url: str | None = None, *, simulation: bool = False, clock: Clock | None = None
    ) -> Engine:
        """Create or upgrade the schema to head (Alembic), then open; the only way to create
        a SQLite file (opening never does)."""
        store = Store(resolve_url(url), create=True)
        try:
            upgrade(store, simulation=simulation)
        finally:
            store.dispose()
        return cls.open(url, clock=clock)

    def close(self) -> None:
        self.store.dispose()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        return self.store.url

    # ------------------------------------------------------------------ events
    def subscribe(self, callback: Callable[[TransitionEvent], None]) -> Callable[[], None]:
        """Call ``callback`` after each committed act; returns an unsubscribe function."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def on_transaction(
        self, hook: Callable[[Session, TransitionEvent], None]
    ) -> Callable[[], None]:
        """Run ``hook(session, event)`` inside each act's transaction, after its audit row.

        For records that must commit or vanish with the act (notice records, DESIGN §8). A
        hook that raises aborts the act. Returns a function that removes the hook.
        """
        self._transaction_hooks.append(hook)
        return lambda: self._transaction_hooks.remove(hook)

    def _record(
        self, session: Session, *, actor: Actor, trigger: str, article: str, at: datetime,
        case_id: int | None = None, round_year: int | None = None,
        from_state: str | None = None, to_state: str | None = None, reason: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> TransitionEvent:
        """Append the audit row and run the transaction hooks; returns the event to emit."""
        payload = payload or {}
        entry = audit.append(
            session, actor=str(actor), trigger=trigger, article=article, at=at,
            case_id=case_id, round_year=round_year, from_state=from_state, to_state=to_state,
            reason=reason, payload=payload,
        )
        event = TransitionEvent(case_id, round_year, trigger, from_state, to_state, str(actor),
                                at, reason, dict(payload), entry.seq)
        for hook in list(self._transaction_hooks):
            hook(session, event)
        return event

    def _emit(self, events: Iterable[TransitionEvent]) -> None:
        for event in events:
            for callback in list(self._subscribers):
                try:
                    callback(event)
                except Exception:  # a listener never undoes a committed act
                    log.exception("subscriber %r failed on %s", callback, event.trigger)

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _actor(actor: Actor | str) -> Actor:
        return actor if isinstance(actor, Actor) else Actor.parse(actor)

    @staticmethod
    def _workflow() -> Any:
        from gdcluster.states.workflow import load_workflow

        return load_workflow()

    @staticmethod
    def _policy_for(name: str, digest: str | None = None) -> Any:
        """The policy ``name``; with ``digest``, the shipped version a case was filed under."""
        from gdcluster.states.policy import InvalidPolicy, UnknownPolicyVersion, load_policy

        try:
            return load_policy(name, digest=digest)
        except UnknownPolicyVersion as exc:
            raise TransitionRefused(
                f"the policy file {name!r} has changed since this case was submitted under it "
                f"and the version it was submitted under is not shipped; in-flight cases are "
                f"judged by the text they were submitted under ({exc.problem})",
                policy=name,
            ) from exc
        except (InvalidPolicy, FileNotFoundError, KeyError, LookupError) as exc:
            raise InvalidInput(f"unknown or invalid policy {name!r}: {exc}",
                               field="policy") from exc

    def _calendar_loader(self, session: Session) -> Callable[[], Any]:
        cache: list[Any] = []

        def load() -> Any:
            if not cache:
                cache.append(calendar_from_session(session))
            return cache[0]

        return load

    def _record_refusal(
        self, actor: Actor | str, trigger: str, error: EngineError, *,
        case_id: int | None = None, round_year: int | None = None,
    ) -> None:
        from gdcluster.engine.records import Refusal

        try:
            with self.store.write() as session:
                session.add(
                    Refusal(
                        at=self.clock.now(),
                        actor=str(actor),
                        trigger=trigger,
                        case_id=case_id,
                        round_year=round_year,
                        code=error.code,
                        message=error.message[:4000],
                    )
                )
        except Exception:  # the refusal itself stands; losing its record is logged
            log.exception("could not record the refusal of %s by %s", trigger, actor)

    def _require(
        self, who: Actor, kinds: tuple[str, ...], trigger: str, what: str, *,
        round_year: int | None = None,
    ) -> None:
        """Acts outside the transition table (round and calendar acts) name who may do them;
        anyone else is refused, and the refusal is recorded like any other."""
        if who.kind in kinds:
            return
        error = PermissionDenied(
            f"{who} may not {what}; only the {' or '.join(kinds)} does", actor=str(who),
            trigger=trigger,
        )
        self._record_refusal(who, trigger, error, round_year=round_year)
        raise error

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
    ) -> dict[str, Any]:
        from gdcluster.engine import deadlines
        from gdcluster.engine.acts import as_date, as_year
        from gdcluster.engine.clock import end_of_day
        from gdcluster.states.policy import DEFAULT_POLICY

        who = self._actor(actor)
        year = as_year(year)
        self._require(who, ("province",), "open_round", "open a round", round_year=year)
        chosen = self._policy_for(policy or DEFAULT_POLICY)
        apply_day = as_date(apply_by, "apply_by")
        recommend_day = as_date(recommend_by, "recommend_by")
        if apply_day and recommend_day and recommend_day < apply_day:
            raise InvalidInput("the recommendation deadline comes before the application one",
                               field="recommend_by")
        quota_table = validate_quotas(quotas) if quotas else None
        if notice_title is not None:
            from gdcluster.engine.acts import clean_text

            notice_title = _one_line(clean_text(notice_title, "notice_title", limit=500),
                                     "notice_title")
        if notice_doc_no is not None:
            validate_doc_no(notice_doc_no)
        now = self.clock.now()
        with self.store.write() as session:
            if session.get(Round, year) is not None:
                raise TransitionRefused(f"round {year} is already open", round_year=year)
            session.add(
                Round(
                    year=year,
                    policy=chosen.name,
                    policy_version=chosen.version,
                    policy_digest=chosen.digest,
                    apply_by=apply_day,
                    recommend_by=recommend_day,
                    quotas=quota_table,
                    notice_title=notice_title,
                    notice_doc_no=notice_doc_no,
                    opened_at=now,
                )
            )
            session.flush()
            for day, kind in ((apply_day, deadlines.ROUND_APPLY_CLOSE),
                              (recommend_day, deadlines.ROUND_RECOMMEND_CLOSE)):
                if day is not None:
                    deadlines.schedule(session, kind=kind, key=deadlines.round_key(year, kind),
                                       due_at=end_of_day(day), now=now, round_year=year)
            payload = {"policy": chosen.name, "policy_version": chosen.version,
                       "apply_by": _iso(apply_day), "recommend_by": _iso(recommend_day),
                       "quotas": quota_table}
            event = self._record(session, actor=who, trigger="open_round",
                                 article="《暂行办法》认定程序：组织申报", at=now, round_year=year,
                                 payload=payload)
        self._emit([event])
        return self.round_summary(year)

    def round_summary(self, year: int) -> dict[str, Any]:
        from gdcluster.engine.acts import city_quota, recommended_count

        with self.store.read() as session:
            round_row = _round(session, year)
            policy = self._policy_for(round_row.policy, round_row.policy_digest)
            by_state = dict(
                session.execute(
                    select(Case.state, func.count()).where(Case.round_year == year)
                    .group_by(Case.state)
                ).all()
            )
            by_city: dict[str, dict[str, int]] = {}
            for city, state, count in session.execute(
                select(Case.city, Case.state, func.count()).where(Case.round_year == year)
                .group_by(Case.city, Case.state)
            ):
                by_city.setdefault(city, {})[state] = count
            quotas = []
            from gdcluster.states.regions import load_regions

            for city in load_regions().cities:
                low, high = city_quota(round_row, policy, city)
                used = recommended_count(session, year, city)
                quotas.append({"city": city, "min": low, "max": high, "recommended": used,
                               "below_minimum": used < low})
            return {
                "year": year,
                "policy": round_row.policy,
                "policy_version": round_row.policy_version,
                "apply_by": _iso(round_row.apply_by),
                "recommend_by": _iso(round_row.recommend_by),
                "notice_title": round_row.notice_title,
                "notice_doc_no": round_row.notice_doc_no,
                "publicity_doc_no": round_row.publicity_doc_no,
                "recognition_doc_no": round_row.recognition_doc_no,
                "valid_from": _iso(round_row.valid_from),
                # the last publicize / recognize batch as stored (resumed after a crash)
                "publicity_pick": round_row.publicity_pick,
                "recognition_batch": round_row.recognition_batch,
                "rubric": [{"id": item.id, "name": item.name, "weight": int(item.weight)}
                           for item in policy.rubric.indicators],
                "min_experts": int(policy.rubric.min_experts),
                "counts": {"by_state": by_state, "by_city": by_city,
                           "total": sum(by_state.values())},
                "quotas": quotas,
                "cities_below_minimum": [q["city"] for q in quotas if q["below_minimum"]],
            }

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
    ) -> dict[str, Any]:
        """Pick the cases for publicity; publicize them and reject the others (未入选).

        The pick is computed once, checked for a tie straddling the cut, and stored on the
        round (``publicity_pick``) in the transaction that makes it, before any case moves;
        the cases then move one transaction each. A run cut short (a crash, a lost race) is
        finished by running the command again with the same choice: it resumes the stored pick
        and never picks anew among the cases left, which would publicize the wrong ones. Any
        other choice is refused, naming the stored pick, until it is finished. Several
        processes may run the same pick at once; each case moves once, and the round's own
        audit row (and its notice) is written once, by whoever finishes the pick. Once a pick
        is finished, a new run picks among the cases expert-reviewed since.
        """
        from gdcluster.engine.acts import as_date, as_year

        who = self._actor(actor)
        year = as_year(year)
        self._require(who, ("province",), "publicize_round", f"publicize round {year}",
                      round_year=year)
        choice = _publicity_choice(top, min_score, select_ids)
        start_day = as_date(start, "start")
        if doc_no is not None:
            validate_doc_no(doc_no)
        now = self.clock.now()
        try:
            with self.store.write() as session:
                round_row = _round(session, year, lock=True)
                pick = round_row.publicity_pick
                resumed = pick is not None and not pick.get("done")
                if resumed:
                    _check_same_batch("publicize", year, pick, choice,
                                      start=_iso(start_day), doc_no=doc_no)
                else:
                    pick = self._pick(session, round_row, choice,
                                      start_day or local_date(now), doc_no, who, now,
                                      batch=(pick or {}).get("batch", 0) + 1)
                    round_row.publicity_pick = pick
                    if doc_no is not None:
                        round_row.publicity_doc_no = doc_no
                # one calendar for the whole batch, as the pick's period was counted with it:
                # loading it again for each case was a tenth of each act (issue 5, P5)
                calendar = calendar_from_session(session)
        except TransitionRefused as refusal:
            self._record_refusal(who, "publicize_round", refusal, round_year=year)
            raise
        assert pick is not None
        chosen = set(pick["publicize"])
        elsewhere: dict[str, str] = {}
        for case_id in pick["ranked"]:
            if case_id in chosen:
                found = self._batch_act(case_id, "publicize", who,
                                        {"start": date.fromisoformat(pick["start"])},
                                        waiting="expert_reviewed", target="publicized",
                                        calendar=calendar)
            else:
                found = self._batch_act(case_id, "reject", who, {"reason": "未入选"},
                                        waiting="expert_reviewed", target="rejected")
            if found is not None:
                elsewhere[str(case_id)] = found
            if progress:
                progress(1)
        result = {"year": year, "publicized": list(pick["publicize"]),
                  "rejected": list(pick["reject"]), "publicity_start": pick["publicity_start"],
                  "publicity_end": pick["publicity_end"], "doc_no": pick["doc_no"]}
        self._finish_batch(year, "publicity_pick", pick["batch"], who, "publicize_round",
                           "《暂行办法》认定程序：公示", result)
        return {**result, "batch": pick["batch"], "resumed": resumed, "elsewhere": elsewhere}

    def _pick(
        self, session: Session, round_row: Round, choice: dict[str, Any], start_day: date,
        doc_no: str | None, who: Actor, now: datetime, *, batch: int,
    ) -> dict[str, Any]:
        """The publicity pick among the round's expert-reviewed cases, as it is stored."""
        year = round_row.year
        policy = self._policy_for(round_row.policy, round_row.policy_digest)
        candidates = list(
            session.execute(
                select(Case.id, Case.score, Case.name).where(
                    Case.round_year == year, Case.state == "expert_reviewed"
                ).order_by(Case.id)
            ).all()
        )
        if not candidates:
            raise TransitionRefused(f"round {year} has no expert-reviewed case to publicize",
                                    round_year=year)
        calendar = calendar_from_session(session)
        # fail before changing anything if the calendar cannot count the period
        end_day = calendar.add_workdays(start_day, int(policy.periods.publicity_workdays))
        ranked = sorted(candidates, key=lambda row: (-Decimal(row.score or "0"), row.id))
        if "top" in choice:
            top = choice["top"]
            picked = ranked[:top]
            if len(ranked) > top and Decimal(ranked[top - 1].score or 0) == Decimal(
                ranked[top].score or 0
            ):
                tie = Decimal(ranked[top - 1].score or 0)
                tied = [f"{row.id} {row.name}" for row in ranked if Decimal(row.score or 0) == tie]
                raise TransitionRefused(
                    f"a tie at score {tie} straddles the cut at {top}: " + "; ".join(tied)
                    + ". Choose with --select or --min-score.",
                    round_year=year, tied=tied,
                )
        elif "min_score" in choice:
            threshold = Decimal(choice["min_score"])
            picked = [row for row in ranked if Decimal(row.score or 0) >= threshold]
        else:
            wanted = set(choice["select"])
            unknown = sorted(wanted - {row.id for row in candidates})
            if unknown:
                raise InvalidInput(
                    f"case(s) {', '.join(map(str, unknown))} are not expert-reviewed cases of "
                    f"round {year}", field="select",
                )
            picked = [row for row in ranked if row.id in wanted]
        picked_ids = {row.id for row in picked}
        return {
            "batch": batch, "choice": choice, "by": str(who), "at": now.isoformat(),
            "start": start_day.isoformat(), "doc_no": doc_no,
            "publicity_start": calendar.next_workday(start_day).isoformat(),
            "publicity_end": end_day.isoformat(),
            "ranked": [row.id for row in ranked],
            "publicize": [row.id for row in ranked if row.id in picked_ids],
            "reject": [row.id for row in ranked if row.id not in picked_ids],
            "done": False,
        }

    def _batch_act(self, case_id: int, trigger: str, who: Actor, payload: dict[str, Any], *,
                   waiting: str, target: str, calendar: Any = None) -> str | None:
        """One case of a stored batch: ``None`` when it is in ``target`` now (moved by this
        call, or earlier by an interrupted run or a concurrent one), else the state another
        act left it in. Finding it moved already is no refusal: nothing is recorded."""
        try:
            event, _ = self._fire(case_id, trigger, who, None, payload, view=False,
                                  calendar=calendar)
        except TransitionRefused as refusal:
            if refusal.reasons == ["wrong state"] and refusal.state != waiting:
                return None if refusal.state == target else str(refusal.state)
            self._record_refusal(who, trigger, refusal, case_id=case_id)
            raise
        except PermissionDenied as denied:
            self._record_refusal(who, trigger, denied, case_id=case_id)
            raise
        self._emit([event])
        return None

    def _finish_batch(self, year: int, column: str, batch: int, who: Actor, trigger: str,
                      article: str, payload: dict[str, Any]) -> bool:
        """Mark the stored batch done and write the round's audit row, once: a concurrent run
        that finishes the same batch later writes nothing."""
        with self.store.write() as session:
            round_row = session.get(Round, year, with_for_update=True)
            assert round_row is not None
            stored = getattr(round_row, column)
            if stored is None or stored.get("batch") != batch or stored.get("done"):
                return False
            at = self.clock.now()
            setattr(round_row, column, {**stored, "done": True, "done_at": at.isoformat()})
            event = self._record(session, actor=who, trigger=trigger, article=article, at=at,
                                 round_year=year, payload=payload)
        self._emit([event])
        return True

    def recognize_round(
        self,
        year: int,
        actor: Actor | str,
        *,
        valid_from: date | str | None = None,
        doc_no: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> dict[str, Any]:
        """Recognize the round's publicized cases whose publicity is over without an open
        objection (the others are held and stay publicized), and issue the 名单通告: it lists
        every recognized case of the round (``recognized``; ``newly_recognized``: those of
        this batch, before and after any interruption), including those the scheduler
        recognized at the end of publicity.

        The batch (its cases, validity start and doc no) is stored on the round
        (``recognition_batch``) before any case moves, like ``publicize_round``'s pick: a run
        cut short is finished by running it again, and a different ``valid_from`` or
        ``doc_no`` is refused until then, so one batch never carries two validity starts; the
        round act (and its notice) is written once, by whoever finishes the batch.
        """
        from gdcluster.engine.acts import as_date, as_year

        who = self._actor(actor)
        year = as_year(year)
        start = as_date(valid_from, "valid_from")
        if doc_no is not None:
            validate_doc_no(doc_no)
        self._require(who, ("province",), "recognize", "recognize a round", round_year=year)
        now = self.clock.now()
        try:
            with self.store.write() as session:
                round_row = _round(session, year, lock=True)
                batch = round_row.recognition_batch
                resumed = batch is not None and not batch.get("done")
                if resumed:
                    _check_same_batch("recognize", year, batch, None, valid_from=_iso(start),
                                      doc_no=doc_no)
                else:
                    ids = list(session.scalars(
                        select(Case.id).where(Case.round_year == year,
                                              Case.state == "publicized").order_by(Case.id)
                    ))
                    batch = {"batch": (batch or {}).get("batch", 0) + 1, "by": str(who),
                             "at": now.isoformat(), "valid_from": _iso(start),
                             "doc_no": doc_no, "cases": ids, "done": False}
                    round_row.recognition_batch = batch
                    if start is not None:
                        round_row.valid_from = start
                    if doc_no is not None:
                        round_row.recognition_doc_no = doc_no
                calendar = calendar_from_session(session)  # one for the batch, as above
        except TransitionRefused as refusal:
            self._record_refusal(who, "recognize_round", refusal, round_year=year)
            raise
        assert batch is not None
        start = as_date(batch["valid_from"], "valid_from")
        recognized: list[int] = []
        held: dict[int, str] = {}
        elsewhere: dict[str, str] = {}
        for case_id in batch["cases"]:
            try:
                found = self._batch_act(case_id, "recognize", who, {"valid_from": start},
                                        waiting="publicized", target="recognized",
                                        calendar=calendar)
            except TransitionRefused as exc:
                held[case_id] = exc.message
            else:
                if found is None:
                    recognized.append(case_id)
                else:
                    elsewhere[str(case_id)] = found
            if progress:
                progress(1)
        with self.store.read() as session:
            # the 名单通告 names every cluster of the round now recognized, including those
            # the scheduler recognized at the end of publicity before the province published it
            listed = list(session.scalars(
                select(Case.id).where(Case.round_year == year, Case.state == "recognized")
                .order_by(Case.id)
            ))
        result = {"year": year, "recognized": listed, "newly_recognized": recognized,
                  "held": {str(key): value for key, value in held.items()},
                  "valid_from": batch["valid_from"], "doc_no": batch["doc_no"]}
        if listed:
            self._finish_batch(year, "recognition_batch", batch["batch"], who, "recognize_round",
                               "《暂行办法》认定程序：认定", result)
        else:
            self._finish_batch_quietly(year, batch["batch"])
        return {**result, "batch": batch["batch"], "resumed": resumed, "elsewhere": elsewhere}

    def _finish_batch_quietly(self, year: int, batch: int) -> None:
        """A recognition batch that recognized nothing is done without an act to record."""
        with self.store.write() as session:
            round_row = session.get(Round, year, with_for_update=True)
            assert round_row is not None
            stored = round_row.recognition_batch
            if stored is not None and stored.get("batch") == batch and not stored.get("done"):
                round_row.recognition_batch = {**stored, "done": True,
                                               "done_at": self.clock.now().isoformat()}

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
        from gdcluster.engine.acts import NAME_LIMIT, as_year, clean_text, digest
        from gdcluster.engine.application import to_json, validate_application
        from gdcluster.states.regions import UnknownRegion, load_regions

        who = self._actor(actor)
        round_year = as_year(round_year, "round")
        name = _one_line(clean_text(name, "name", limit=NAME_LIMIT), "name")
        industry = _one_line(clean_text(industry, "industry", limit=NAME_LIMIT), "industry")
        try:
            unit = load_regions().unit(county)
        except UnknownRegion as exc:
            raise InvalidInput(str(exc), field="county") from exc
        rule = self._workflow().rule("create", None)
        if who.kind not in rule.actors or who.region != unit.name:
            error = PermissionDenied(
                f"{who} may not file an application for {unit.name}; only county:{unit.name} may",
                actor=str(who), trigger="create",
            )
            self._record_refusal(who, "create", error, round_year=round_year)
            raise error
        application = to_json(validate_application(dict(data)))
        now = self.clock.now()
        with self.store.write() as session:
            round_row = _round(session, round_year)
            case = Case(
                round_year=round_year, name=name, city=unit.city, county=unit.name,
                industry=industry, state=rule.dest, version=1, policy=round_row.policy,
                policy_version=round_row.policy_version, policy_digest=round_row.policy_digest,
                application=application, created_at=now, updated_at=now,
            )
            session.add(case)
            session.flush()
            assert case.id is not None
            payload = {"name": name, "county": unit.name, "industry": industry,
                       "application_sha256": digest(application)}
            event = self._record(session, actor=who, trigger="create", article=rule.article,
                                 at=now, case_id=case.id, round_year=round_year,
                                 from_state=None, to_state=rule.dest, payload=payload)
            case_id = case.id
        self._emit([event])
        return case_id

    def fire(
        self,
        case_id: int,
        trigger: str,
        actor: Actor | str,
        *,
        expected_version: int | None = None,
        **payload: Any,
    ) -> CaseView:
        """Fire ``trigger`` on a case as ``actor``: one transaction, one audit row."""
        who = self._actor(actor)
        trigger = trigger.strip().replace("-", "_")
        workflow = self._workflow()
        if trigger == "create" or trigger not in workflow.triggers:
            raise InvalidInput(f"unknown trigger {trigger!r}", field="trigger")
        try:
            event, view = self._fire(case_id, trigger, who, expected_version, payload)
        except (TransitionRefused, PermissionDenied) as error:
            self._record_refusal(who, trigger, error, case_id=case_id)
            raise
        self._emit([event])
        assert view is not None
        return view

    def _fire(
        self, case_id: int, trigger: str, who: Actor, expected_version: int | None,
        payload: dict[str, Any], view: bool = True, calendar: Any = None,
    ) -> tuple[TransitionEvent, CaseView | None]:
        """The act in its own transaction; ``view=False`` for batches, which never read the
        case back (reading it is a tenth of each act, issue 5, P5); ``calendar``: a batch's
        working-day calendar, loaded once for all its acts."""
        now = self.clock.now()
        case_id = _case_id(case_id)
        try:
            with self.store.write() as session:
                # the case with its round, one statement: the round's windows and quotas are
                # what most guards read (issue 5, P1); only the case row is locked
                found = session.execute(_CASE_WITH_ROUND, {"case_id": case_id}).first()
                case = found[0] if found is not None else None
                if case is None:
                    raise NotFound("case", case_id)
                if expected_version is not None and case.version != expected_version:
                    raise ConcurrentModification(case_id, expected_version)
                event = self._transition(session, case, trigger, who, payload, now,
                                         calendar=calendar)
                # the case as this act leaves it, read in the act's own transaction: a second
                # transaction just to read it back cost a quarter of each act (issue 5, P1)
                return event, _case_view(session, case) if view else None
        except StaleDataError as exc:
            raise ConcurrentModification(case_id, expected_version) from exc

    def _transition(
        self, session: Session, case: Case, trigger: str, who: Actor, payload: dict[str, Any],
        now: datetime, *, calendar: Any = None,
    ) -> TransitionEvent:
        """The act itself, inside the caller's open write transaction.

        The caller has locked ``case`` (``SELECT … FOR UPDATE``) first: every writer takes the
        case row, then any deadline row, then the audit head, so PostgreSQL never deadlocks.
        The deadline sweep calls this after claiming its deadline in the same transaction.
        """
        from transitions import MachineError

        from gdcluster.engine import deadlines
        from gdcluster.engine.acts import EFFECTS, GUARDS, Act

        workflow = self._workflow()
        when = payload.get("when")
        rule = workflow.rule(trigger, case.state, when)
        if rule is None:
            ways = [r.when for r in workflow.rules_for(trigger)
                    if case.state in r.sources and r.when is not None]
            if ways:  # the state allows the trigger, but only said one way or another
                raise InvalidInput(f"say which: {' or '.join(ways)} (not {when!r})",
                                   field="when")
            allowed = ", ".join(workflow.allowed_from(case.state)) or "none (final)"
            raise TransitionRefused(
                f"case {case.id} is {case.state}: {trigger} is not allowed "
                f"(allowed now: {allowed})",
                case_id=case.id, trigger=trigger, state=case.state,
                reasons=["wrong state"],
            )
        _authorize(rule, who, case)
        for name in rule.requires:
            value = payload.get(name)
            if value is None or (isinstance(value, str) and not value.strip()):
                raise InvalidInput("is required", field=name)
        policy = self._policy_for(case.policy, case.policy_digest)
        act = Act(session=session, case=case, trigger=trigger, actor=who,
                  payload=payload, now=now, policy=policy,
                  calendar=(self._calendar_loader(session) if calendar is None
                            else lambda: calendar))
        for guard in rule.guards:
            GUARDS[guard](act)
        effect = EFFECTS.get(trigger)
        if effect is not None:
            effect(act)
        from_state = case.state
        holder = _Holder(from_state)
        try:
            moved = workflow.machine().events[trigger].trigger(holder, when=when)
        except MachineError as exc:  # never leaks past the engine
            raise TransitionRefused(str(exc.value), case_id=case.id, trigger=trigger,
                                    state=from_state) from exc
        if not moved:
            raise TransitionRefused(f"{trigger} refused in state {from_state}",
                                    case_id=case.id, trigger=trigger, state=from_state)
        case.state = holder.state
        case.updated_at = now
        # bumped once, when the act's changes are made: bumped first, it dirtied the case
        # before the guards' reads, whose autoflush then wrote the row twice (issue 5, P1)
        case.version += 1
        _write_case(session, case)  # first: settle's flush would write it through the ORM
        if workflow.state(case.state).final:
            deadlines.settle(session, now=now, result=f"case {case.state}",
                             status="cancelled", case_id=case.id)
        return self._record(
            session, actor=who, trigger=trigger, article=rule.article, at=now,
            case_id=case.id, round_year=case.round_year, from_state=from_state,
            to_state=case.state, reason=act.reason, payload=act.audit,
        )

    # ------------------------------------------------------------------ reading
    def get(self, case_id: int) -> CaseView:
        case_id = _case_id(case_id)
        with self.store.read() as session:
            case = session.get(Case, case_id)
            if case is None:
                raise NotFound("case", case_id)
            return _case_view(session, case)

    def list(
        self,
        *,
        state: str | None = None,
        city: str | None = None,
        round_year: int | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> Iterator[CaseView]:
        """Cases in id order, streamed (no full load), optionally one page of them."""
        # the columns a view shows, as plain rows: no application JSON to decode and no ORM
        # objects to build and expunge, which were two thirds of `case list` (issue 5, P4)
        statement = select(*_LISTED).order_by(Case.id)
        if state is not None:
            from gdcluster.states.workflow import normalize_state

            state = normalize_state(state)
            if state not in self._workflow().state_names:
                raise InvalidInput(f"unknown state {state!r}", field="state")
            statement = statement.where(Case.state == state)
        if city is not None:
            from gdcluster.states.regions import UnknownRegion, load_regions

            try:
                city = load_regions().city(city).name
            except UnknownRegion as exc:
                raise InvalidInput(str(exc), field="city") from exc
            statement = statement.where(Case.city == city)
        if round_year is not None:
            statement = statement.where(Case.round_year == round_year)
        for name, value in (("offset", offset), ("limit", limit)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or not 0 <= value <= MAX_ROWS):
                raise InvalidInput(f"must be a whole number from 0 to {MAX_ROWS}", field=name)
        if offset:
            statement = statement.offset(offset)
        if limit is not None:
            statement = statement.limit(limit)
        with self.store.read() as session:
            for row in session.execute(statement.execution_options(yield_per=500)):
                yield _view(row, [], [], [])  # type: ignore[arg-type]  # a Row reads alike

    def history(self, case_id: int) -> builtins.list[dict[str, Any]]:
        from gdcluster.engine import records

        case_id = _case_id(case_id)
        with self.store.read() as session:
            if session.get(Case, case_id) is None:
                raise NotFound("case", case_id)
            return [
                {"seq": row.seq, "trigger": row.trigger, "from_state": row.from_state,
                 "to_state": row.to_state, "actor": row.actor, "at": row.at.isoformat(),
                 "reason": row.reason, "article": row.article,
                 "payload": json.loads(row.payload)}
                for row in session.scalars(
                    select(records.AuditEntry).where(records.AuditEntry.case_id == case_id)
                    .order_by(records.AuditEntry.seq)
                )
            ]

    def application(self, case_id: int) -> dict[str, Any]:
        """The case's application data, normalized as ``validate_application`` returns them
        (data stored by earlier versions read as ``read_stored_application`` reads them)."""
        from gdcluster.engine.application import read_stored_application

        case_id = _case_id(case_id)
        with self.store.read() as session:
            stored = session.scalar(select(Case.application).where(Case.id == case_id))
            if stored is None:
                raise NotFound("case", case_id)
            return read_stored_application(stored)

    def scores(self, case_id: int) -> builtins.list[ScoreRow]:
        """Each expert's scores of the case, in the order they were recorded."""
        from gdcluster.engine.records import ExpertScore

        case_id = _case_id(case_id)
        with self.store.read() as session:
            if session.scalar(select(Case.id).where(Case.id == case_id)) is None:
                raise NotFound("case", case_id)
            return [
                ScoreRow(expert=row.expert,
                         points={key: Decimal(str(value)) for key, value in row.scores.items()},
                         total=Decimal(row.total), at=row.at)
                for row in session.scalars(select(ExpertScore)
                                           .where(ExpertScore.case_id == case_id)
                                           .order_by(ExpertScore.id))
            ]

    def check(self, case_id: int) -> Any:
        from gdcluster.engine.acts import check_case

        case_id = _case_id(case_id)
        with self.store.read() as session:
            case = session.get(Case, case_id)
            if case is None:
                raise NotFound("case", case_id)
            return check_case(case, self._policy_for(case.policy, case.policy_digest))

    def refusals(self, *, case_id: int | None = None) -> builtins.list[dict[str, Any]]:
        from gdcluster.engine.records import Refusal

        statement = select(Refusal).order_by(Refusal.id)
        if case_id is not None:
            statement = statement.where(Refusal.case_id == case_id)
        with self.store.read() as session:
            return [
                {"at": row.at.isoformat(), "actor": row.actor, "trigger": row.trigger,
                 "case_id": row.case_id, "round_year": row.round_year, "code": row.code,
                 "message": row.message}
                for row in session.scalars(statement)
            ]

    def verify_audit(self) -> audit.VerifyReport:
        with self.store.read() as session:
            return audit.verify(session)

    # ------------------------------------------------------------------ deadlines
    def run_due(self, now: datetime | str | None = None) -> builtins.list[dict[str, Any]]:
        """Fire every deadline due at ``now`` (default: the clock's now), each exactly once.

        One transaction per deadline: the case row locked, the deadline claimed
        (``pending → fired`` where still pending), the transition and its audit row — so
        several processes may sweep one database at once. Returns one dict per deadline this
        call handled: ``id``, ``kind``, ``case_id``, ``round_year``, ``due_at``, ``outcome``
        (``recognized``, ``revoked``, ``flagged``, ``reminded``, ``closed``, ``held``,
        ``not_applicable``, ``refused``, ``waiting``…) and ``result``. ``now`` may be given
        on a simulation database only (``SimulationOnly`` otherwise).
        """
        from gdcluster.engine import sweep

        return sweep.run_due(self, now)

    def pending(self, until: date | datetime | str | None = None) -> builtins.list[dict[str, Any]]:
        """Pending deadlines due by ``until`` (a date counts to its 24:00; default: now).

        A dry view, in due order, each with the ``action`` a sweep would take now. Writes
        nothing.
        """
        from gdcluster.engine import sweep

        return sweep.pending(self, until)

    # ------------------------------------------------------------------ calendar
    def calendar(self) -> Any:
        with self.store.read() as session:
            return calendar_from_session(session)

    def workdays(self, start: date | str, n: int) -> date:
        from gdcluster.engine.acts import as_date

        day = as_date(start, "start")
        assert day is not None
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 366:
            raise InvalidInput("must be a whole number from 1 to 366", field="n")
        return self.calendar().add_workdays(day, n)  # type: ignore[no-any-return]

    def import_calendar(self, content: bytes, filename: str,
                        actor: Actor | str) -> builtins.list[int]:
        from gdcluster.engine.calendar import parse_calendar_file
        from gdcluster.engine.records import CalendarYear

        who = self._actor(actor)
        self._require(who, ("province", "system"), "calendar_import",
                      "change the working-day calendar")
        years = parse_calendar_file(content, filename)
        now = self.clock.now()
        with self.store.write() as session:
            for year, data in sorted(years.items()):
                row = session.get(CalendarYear, year)
                holidays = sorted(day.isoformat() for day in data.holidays)
                workdays = sorted(day.isoformat() for day in data.workdays)
                if row is None:
                    session.add(CalendarYear(year=year, source=data.source, holidays=holidays,
                                             workdays=workdays, imported_at=now))
                else:
                    row.source, row.holidays, row.workdays = data.source, holidays, workdays
                    row.imported_at = now
            event = self._record(
                session, actor=who, trigger="calendar_import", at=now,
                article="工作日历（国务院办公厅节假日安排）",
                payload={"file": filename, "years": sorted(years),
                         "sources": {str(y): d.source for y, d in years.items()}},
            )
        self._emit([event])
        return sorted(years)


# ---------------------------------------------------------------------------- module helpers
def calendar_from_session(session: Session) -> Any:
    """The working-day calendar in force: the built-in years and the imported overrides.

    Built once per distinct set of overrides and shared, as a calendar never changes once
    built: every act that counts working days rebuilt it, ~0.6 ms a publicity act (issue 5).
    """
    from gdcluster.engine.calendar import WorkCalendar, YearData

    rows = tuple(
        (row.year, row.source, tuple(row.holidays), tuple(row.workdays))
        for row in session.execute(_calendar_rows())
    )
    calendar = _CALENDARS.get(rows)
    if calendar is None:
        overrides = {
            year: YearData(
                year=year,
                holidays=frozenset(date.fromisoformat(day) for day in holidays),
                workdays=frozenset(date.fromisoformat(day) for day in workdays),
                source=source,
            )
            for year, source, holidays, workdays in rows
        }
        calendar = WorkCalendar(overrides)
        if len(_CALENDARS) >= 8:
            _CALENDARS.clear()
        _CALENDARS[rows] = calendar
    return calendar


@cache
def _calendar_rows() -> Any:
    from gdcluster.engine.records import CalendarYear

    return select(CalendarYear.year, CalendarYear.source, CalendarYear.holidays,
                  CalendarYear.workdays).order_by(CalendarYear.year)


_CALENDARS: dict[tuple[Any, ...], Any] = {}


def _authorize(rule: Any, who: Actor, case: Case) -> None:
    allowed = set(rule.actors)
    if "anyone" in allowed and who.kind != "system":
        return
    ok = who.kind in allowed and (
        who.kind in ("province", "system")
        or (who.kind == "city" and who.region == case.city)
        or (who.kind == "county" and who.region == case.county)
    )
    if not ok:
        kinds = " or ".join(
            f"{kind}:{case.city}" if kind == "city" else
            f"county:{case.county}" if kind == "county" else kind
            for kind in rule.actors
        )
        raise PermissionDenied(
            f"{who} may not {rule.trigger} case {case.id} ({case.county}); only {kinds} may",
            actor=str(who), trigger=rule.trigger, case_id=case.id,
        )


def _case_with_round() -> Any:
    from sqlalchemy.orm import defer

    return (
        select(Case, Round).join(Round, Round.year == Case.round_year, isouter=True)
        .where(Case.id == bindparam("case_id"))
        # a round's stored batches (a pick of up to thousands of ids) are read only by the
        # round acts, on access: never decoded again for each case act of the batch
        .options(defer(Round.publicity_pick), defer(Round.recognition_batch))  # type: ignore[arg-type]
        .with_for_update(of=Case)  # type: ignore[arg-type]
    )


_CASE_WITH_ROUND = _case_with_round()
_CASE_TABLE = Case.__table__  # type: ignore[attr-defined]
_UPDATE_CASE = update(_CASE_TABLE).where(_CASE_TABLE.c.id == bindparam("_case_id"),
                                         _CASE_TABLE.c.version == bindparam("_loaded_version"))


def _write_case(session: Session, case: Case) -> None:
    """Write what the act changed on the case as one prepared ``UPDATE … WHERE id = … AND
    version = <as loaded>`` — the statement the unit of work would emit, without its
    machinery, which cost a sixth of each act (issue 5, P1) — then detach the case, so no
    later flush writes it again. A changed version (another writer) raises StaleDataError, as
    the unit of work does."""
    from sqlalchemy import inspect as inspect_

    state = inspect_(case)
    changed = state.committed_state  # attribute -> value as loaded, for each changed one
    if changed:
        values = {key: state.dict[key] for key in changed}
        values["_case_id"] = case.id
        values["_loaded_version"] = changed.get("version", case.version)
        written = connection_of(session).execute(_UPDATE_CASE, values).rowcount
        if written != 1:
            raise StaleDataError(f"case {case.id} changed under this act")
    session.expunge(case)


def _case_view(session: Session, case: Case) -> CaseView:
    """One case with its deadlines, objections and reports.

    One prepared Core statement on the session's connection (after a flush), not ORM
    queries: reading these back cost a quarter of each act, and as three statements still a
    tenth (issue 5, P1).
    """
    session.flush()
    deadline_rows: list[tuple[Any, ...]] = []
    objections: list[dict[str, Any]] = []
    reports: list[int] = []
    for row in connection_of(session).execute(_CASE_PARTS, {"case_id": case.id}):
        if row.part == _DEADLINE_PART:
            deadline_rows.append(((row.at, row.number), {
                "kind": row.text1, "key": row.text2, "due_at": row.at, "status": row.text3,
                "result": row.text4}))
        elif row.part == _OBJECTION_PART:
            objections.append({"id": row.number, "name": row.text1, "unit": row.text2,
                               "status": row.text3, "filed_at": row.at,
                               "evidence": row.text4, "resolution": row.text5})
        else:
            reports.append(row.number)
    deadline_rows.sort(key=lambda item: item[0])
    objections.sort(key=lambda item: item["id"])
    reports.sort()
    return _view(case, [item[1] for item in deadline_rows], objections, reports)


_DEADLINE_PART, _OBJECTION_PART, _REPORT_PART = 1, 2, 3


def _case_parts() -> Any:
    """A case's deadlines, objections and annual reports as one ``UNION ALL``, in columns of
    one shape: part, a number (deadline id, objection id, report year), a time (due, filed)
    and up to five texts."""
    from sqlalchemy import Integer, Text, literal_column, null, type_coerce, union_all

    deadline = Deadline.__table__.c  # type: ignore[attr-defined]
    objection = Objection.__table__.c  # type: ignore[attr-defined]
    report = AnnualReport.__table__.c  # type: ignore[attr-defined]
    case_id: Any = bindparam("case_id")

    def shape(part: int, number: Any, at: Any, *texts: Any) -> list[Any]:
        texts = texts + (null(),) * (5 - len(texts))
        # type_coerce, not CAST: the columns already agree on both back-ends, and SQLite's
        # CAST(… AS DATETIME) would turn a stored time into a number
        return [literal_column(str(part), Integer).label("part"),
                type_coerce(number, Integer).label("number"),
                type_coerce(at, deadline.due_at.type).label("at"),  # aware UTC, both
                *(type_coerce(text, Text).label(f"text{index}")
                  for index, text in enumerate(texts, start=1))]

    return union_all(
        select(*shape(_DEADLINE_PART, deadline.id, deadline.due_at, deadline.kind,
                      deadline.key, deadline.status, deadline.result))
        .where(deadline.case_id == case_id),
        select(*shape(_OBJECTION_PART, objection.id, objection.filed_at, objection.name,
                      objection.unit, objection.status, objection.evidence,
                      objection.resolution))
        .where(objection.case_id == case_id),
        select(*shape(_REPORT_PART, report.year, null()))
        .where(report.case_id == case_id),
    )


_CASE_PARTS = _case_parts()


#: What ``_view`` reads of a case (everything but the application).
_LISTED = tuple(
    getattr(Case, name) for name in (
        "id", "round_year", "name", "city", "county", "industry", "state", "version", "policy",
        "policy_version", "score", "publicity_start", "publicity_end", "valid_from",
        "valid_until", "created_at", "updated_at",
    )
)


def _view(case: Case, deadline_rows: list[dict[str, Any]], objections: list[dict[str, Any]],
          reports: list[int]) -> CaseView:
    assert case.id is not None
    return CaseView(
        id=case.id, round=case.round_year, name=case.name, city=case.city, county=case.county,
        industry=case.industry, state=case.state, version=case.version, policy=case.policy,
        policy_version=case.policy_version, score=case.score,
        publicity_start=case.publicity_start, publicity_end=case.publicity_end,
        valid_from=case.valid_from, valid_until=case.valid_until, created_at=case.created_at,
        updated_at=case.updated_at, deadlines=deadline_rows, objections=objections,
        reports=reports,
    )


#: The largest row id any back-end stores (PostgreSQL ``integer``); larger ids name no row,
#: and sending them would overflow the driver's integer types.
MAX_ID = 2**31 - 1
#: The largest LIMIT/OFFSET both back-ends take (64-bit).
MAX_ROWS = 2**63 - 1


def _round(session: Session, year: int, *, lock: bool = False) -> Round:
    """The round of ``year`` (locked ``FOR UPDATE`` when asked), or ``NotFound``."""
    round_row = session.get(Round, year, with_for_update=True if lock else None)
    if round_row is None:
        raise NotFound("round", year)
    return round_row


def _case_id(value: Any) -> int:
    """A case id as the database can look it up: ``NotFound`` for any other number."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise NotFound("case", value)
    return value


def _publicity_choice(top: Any, min_score: Any, select_ids: Any) -> dict[str, Any]:
    """``{"top": N}``, ``{"min_score": "S"}`` or ``{"select": [ids]}``, normalized so that the
    same choice written twice compares equal (a rerun must make the same choice)."""
    if sum(value is not None for value in (top, min_score, select_ids)) != 1:
        raise InvalidInput("give exactly one of --top, --min-score, --select", field="select")
    if top is not None:
        if isinstance(top, bool) or not isinstance(top, int) or top < 1:
            raise InvalidInput("must be a whole number of at least 1", field="top")
        return {"top": top}
    if min_score is not None:
        from gdcluster.engine.application import _number

        threshold = _number(min_score, "min_score")  # plain decimal text: no NaN, no 1e3
        return {"min_score": format(threshold.normalize(), "f")}
    ids: set[int] = set()
    for item in select_ids:
        try:
            number = int(str(item).strip())
        except ValueError:
            raise InvalidInput(f"not a case id: {item!r}", field="select") from None
        if not 1 <= number <= MAX_ID:
            raise InvalidInput(f"not a case id: {item!r}", field="select")
        ids.add(number)
    if not ids:
        raise InvalidInput("name at least one case", field="select")
    return {"select": sorted(ids)}


def _choice_text(choice: dict[str, Any]) -> str:
    if "top" in choice:
        return f"--top {choice['top']}"
    if "min_score" in choice:
        return f"--min-score {choice['min_score']}"
    return "--select " + ",".join(map(str, choice["select"]))


def _check_same_batch(kind: str, year: int, stored: dict[str, Any],
                      choice: dict[str, Any] | None, **given: str | None) -> None:
    """Refuse a rerun whose arguments differ from the unfinished batch stored on the round."""
    asked = []
    if choice is not None and choice != stored["choice"]:
        asked.append(_choice_text(choice))
    for name, value in given.items():
        if value is not None and value != stored.get(name):
            asked.append(f"--{name.replace('_', '-')} {value}")
    if not asked:
        return
    if kind == "publicize":
        what = (f"{_choice_text(stored['choice'])} --start {stored['start']}"
                + (f" --doc-no {stored['doc_no']}" if stored.get("doc_no") else "")
                + f": publicize {', '.join(map(str, stored['publicize'])) or 'none'}; "
                f"reject {len(stored['reject'])} other(s)")
    else:
        what = ((f"--valid-from {stored['valid_from']}" if stored.get("valid_from")
                 else "no --valid-from")
                + (f" --doc-no {stored['doc_no']}" if stored.get("doc_no") else "")
                + f": cases {', '.join(map(str, stored['cases'])) or 'none'}")
    raise TransitionRefused(
        f"round {year} has an unfinished {kind} batch {stored['batch']}, stored {stored['at']} "
        f"by {stored['by']} with {what}. This run asks for {' '.join(asked)}: run "
        f"`gdcluster round {kind} {year}` with the stored arguments to finish that batch first",
        round_year=year, stored=stored,
    )


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _one_line(value: str | None, name: str) -> str:
    """A name: one line, no control, invisible or bidirectional characters (engine/text.py)."""
    from gdcluster.engine.text import check_text

    assert value is not None
    return check_text(value, name, one_line=True).strip()


def validate_quotas(quotas: Mapping[str, Any]) -> dict[str, list[int]]:
    from gdcluster.states.regions import UnknownRegion, load_regions

    table: dict[str, list[int]] = {}
    for city, pair in quotas.items():
        try:
            name = "*" if city == "*" else load_regions().city(city).name
        except UnknownRegion as exc:
            raise InvalidInput(str(exc), field=f"quotas.{city}") from exc
        try:
            low, high = (int(x) for x in pair)
        except (TypeError, ValueError) as exc:
            raise InvalidInput("give min and max as whole numbers", field=f"quotas.{city}") from exc
        if not 0 <= low <= high <= 100:
            raise InvalidInput("need 0 <= min <= max <= 100", field=f"quotas.{city}")
        table[name] = [low, high]
    return table


def validate_doc_no(text: str) -> str:
    """发文字号 like 粤工信服务函〔2023〕4号: full year in 〔〕, no 第, no leading zero."""
    import re

    # [0-9], not \d: \d also matches full-width and other Unicode digits (２０２４).
    if not isinstance(text, str) or not re.fullmatch(
        r"[\u4e00-\u9fff]{1,20}〔(?:19|20)[0-9]{2}〕[1-9][0-9]{0,4}号", text
    ):
        raise InvalidInput(
            f"not a 发文字号 in GB/T 9704 form (e.g. 粤工信服务函〔2023〕4号: full year in 〔〕, "
            f"no 第, no leading zero): {text!r}",
            field="doc_no",
        )
    return text
