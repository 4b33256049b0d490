"""Helpers shared by the tests (importable: pytest puts tests/ on the path)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from gdcluster.engine import Engine
from gdcluster.engine.clock import FakeClock
from gdcluster.states.workflow import Rule, Workflow

COUNTY = "county:佛山市南海区@李四"
CITY = "city:佛山市@张三"
PROVINCE = "province@王处长"

def rule_for(workflow: Workflow, trigger: str, state: str, when: str | None = None) -> Rule | None:
    """The row ``trigger`` fired in ``state`` (said ``when``) should take, read off the table
    by the tests themselves: an oracle independent of the engine's Machine."""
    for rule in workflow.rules:
        if rule.trigger == trigger and state in rule.sources and rule.when in (None, when):
            return rule
    return None


#: the clock for each stage of one case's life in round 2024 (Asia/Shanghai wall time)
TIMES = {
    "open": "2024-03-01T09:00",
    "publicize": "2024-09-27T10:00",
    "after_publicity": "2024-10-12T09:00",
    "review_window": "2027-06-01T09:00",
}

#: the shortest path to each state, as (trigger, payload-builder name)
PATHS = {
    "drafted": [],
    "submitted": ["submit"],
    "city_reviewed": ["submit", "review"],
    "recommended": ["submit", "review", "recommend"],
    "expert_reviewed": ["submit", "review", "recommend", "scores", "expert_review"],
    "publicized": ["submit", "review", "recommend", "scores", "expert_review", "publicize"],
    "publicity_closed": ["submit", "review", "recommend", "scores", "expert_review",
                         "publicize", "close_publicity"],
    "recognized": ["submit", "review", "recommend", "scores", "expert_review", "publicize",
                   "close_publicity", "recognize"],
    "under_review": ["submit", "review", "recommend", "scores", "expert_review", "publicize",
                     "close_publicity", "recognize", "apply_review"],
    "renewed": ["submit", "review", "recommend", "scores", "expert_review", "publicize",
                "close_publicity", "recognize", "apply_review", "renew"],
    "expired": ["submit", "review", "recommend", "scores", "expert_review", "publicize",
                "close_publicity", "recognize", "expire"],
    "revocation_proposed": ["submit", "review", "recommend", "scores", "expert_review",
                            "publicize", "close_publicity", "recognize", "propose_revocation"],
    "revoked": ["submit", "review", "recommend", "scores", "expert_review", "publicize",
                "close_publicity", "recognize", "propose_revocation", "revoke"],
    "rejected": ["submit", "reject_city"],
    "not_selected": ["submit", "review", "recommend", "scores", "expert_review", "close"],
    "withdrawn": ["withdraw"],
}

def ensure_calendar(engine: Any, year: int) -> None:
    """A working-day calendar for ``year``, imported unless it is there (a hearing deadline
    counted in it needs one): the invented 2027 fixture, or for a later year a TEST FIXTURE
    whose only holiday is 元旦."""
    from datetime import date

    from gdcluster.engine import CalendarGap

    try:
        engine.calendar().is_workday(date(year, 1, 4))
        return
    except CalendarGap:
        pass
    if year == 2027:
        from deadline_support import import_2027

        import_2027(engine)
        return
    new_year = date(year, 1, 1)
    while new_year.weekday() >= 5:  # 元旦 rested on the first weekday of the year
        new_year = date(year, 1, new_year.day + 1)
    content = (f"# TEST FIXTURE — NOT OFFICIAL DATA\n{year}:\n"
               f"  source: TEST FIXTURE (not official), 元旦 only\n"
               f"  holidays: [{new_year.isoformat()}]\n  workdays: []\n")
    engine.import_calendar(content.encode("utf-8"), f"calendar-{year}.yaml", PROVINCE)


def ensure_2027(engine: Any) -> None:
    """:func:`ensure_calendar` for 2027."""
    ensure_calendar(engine, 2027)


def heard(engine: Any, case_id: int, code: str = "18.2", facts: str = "申报材料虚假") -> None:
    """A 拟撤销 procedure ready for the decision at the clock's time: the province proposes,
    the county states its case (so the decision need not wait for the hearing deadline)."""
    county = f"county:{engine.get(case_id).county}"
    engine.fire(case_id, "propose_revocation", PROVINCE, reason_code=code, facts=facts)
    engine.fire(case_id, "state", county, text="对所述事实无异议")


#: The reason of the decisions :func:`revoke_now` takes.
DECISION = "陈述申辩未提出新的事实和理由"


def revoke_now(engine: Any, case_id: int, code: str = "18.2", facts: str = "申报材料虚假", *,
               doc_no: str | None = None) -> None:
    """The 第十八条 procedure in one go (:func:`heard`), then the province revokes."""
    heard(engine, case_id, code, facts)
    extra = {"doc_no": doc_no} if doc_no else {}
    engine.fire(case_id, "revoke", PROVINCE, reason=DECISION, **extra)


#: The 文号 of the 名单通告s the walker's recognitions stand for.
DOC_NO = "粤工信服务函〔2024〕95号"


def put(raw: Any, path: tuple[Any, ...], value: Any) -> Any:
    """A deep copy of ``raw`` with the value at ``path`` (keys and list indexes) replaced."""
    raw = copy.deepcopy(raw)
    target = raw
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return raw


def path_text(path: tuple[Any, ...]) -> str:
    """``("champion_enterprises", 0, "name")`` → ``champion_enterprises[0].name``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def full_scores(policy_name: str = "guangdong-2023", minus: int = 0) -> dict[str, int]:
    from gdcluster.states.policy import load_policy

    return {item.id: max(item.weight - minus, 0)
            for item in load_policy(policy_name).rubric.indicators}


def review_data(application: dict, review_year: int) -> dict:
    """A 复核申报 for the 复核 round ``review_year`` made from ``application``: every plan goal
    met (the demo's sample)."""
    from gdcluster.engine.demo import sample_review

    return sample_review(application, review_year)


def at_least(clock: FakeClock, moment: str) -> None:
    """Move ``clock`` to ``moment``, or leave it where it is when it is there already: time
    only moves forward in the audit trail."""
    from gdcluster.engine.clock import parse_instant

    if parse_instant(moment) > clock.now():
        clock.set(moment)


class Walker:
    """Drives cases of round 2024 to any state through the engine, moving the fake clock.

    Time only moves forward (the engine refuses an act dated before the last one): each step
    happens at its usual moment of round 2024 (``TIMES``) or, when the clock is past it already
    because an earlier case went further, at the clock's now. So the walker's round has no
    application or recommendation deadline, a publicity starts on the day of the act, and a
    case's 复核 waits for its own window. Recognition is the 名单通告's act, done here through
    the act kernel one case at a time (``round recognize`` would close the round's other
    cases); ``close`` (未入选) likewise.
    """

    def __init__(self, engine: Engine, clock: FakeClock, application: dict) -> None:
        self.engine, self.clock, self.application = engine, clock, application
        self._round_open = False

    def open_round(self) -> None:
        if not self._round_open:
            at_least(self.clock, TIMES["open"])
            self.engine.open_round(2024, PROVINCE)
            self._round_open = True

    def create(self, name: str = "佛山市南海区铝型材产业集群", county: str = "佛山市南海区") -> int:
        self.open_round()
        at_least(self.clock, TIMES["open"])
        return self.engine.create_case(round_year=2024, name=name, county=county,
                                       industry="铝型材", data=self.application,
                                       actor=f"county:{county}")

    def step(self, case_id: int, step: str) -> None:
        from datetime import timedelta

        from gdcluster.engine.actors import Actor
        from gdcluster.engine.clock import local_date

        engine, clock = self.engine, self.clock
        county = f"county:{engine.get(case_id).county}"
        city = f"city:{engine.get(case_id).city}"
        if step in ("submit", "review", "recommend", "withdraw"):
            at_least(clock, TIMES["open"])
            engine.fire(case_id, step, county if step in ("submit", "withdraw") else city)
        elif step == "reject_city":
            engine.fire(case_id, "reject", city, reason="材料不实")
        elif step == "scores":
            for index in range(3):
                engine.fire(case_id, "score", PROVINCE, expert=f"专家{index + 1}",
                            scores=full_scores(minus=index))
        elif step == "expert_review":
            engine.fire(case_id, "expert_review", PROVINCE)
        elif step == "publicize":
            at_least(clock, TIMES["publicize"])
            engine.fire(case_id, "publicize", PROVINCE, start=local_date(clock.now()))
        elif step == "close_publicity":
            end = engine.get(case_id).publicity_end
            assert end is not None
            at_least(clock, f"{(end + timedelta(days=1)).isoformat()}T09:00")
            engine.fire(case_id, "close_publicity", PROVINCE)
        elif step == "recognize":
            today = local_date(clock.now())
            engine.kernel.act(case_id, "recognize", Actor.parse(PROVINCE),
                              {"valid_from": today, "doc_no": DOC_NO, "doc_date": today,
                               "batch": 1})
        elif step == "close":
            engine.kernel.act(case_id, "close", Actor.parse(PROVINCE), {})
        elif step == "apply_review":
            until = engine.get(case_id).valid_until
            assert until is not None
            at_least(clock, TIMES["review_window"])
            at_least(clock, f"{(until - timedelta(days=150)).isoformat()}T09:00")
            if engine.get(case_id).review_round != until.year:
                engine.open_round(until.year, PROVINCE, kind="review", apply_by=until,
                                  check_by=until)
            engine.fire(case_id, "apply_review", county,
                        data=review_data(self.application, until.year))
            engine.fire(case_id, "review_check", city, passed=True, opinion="经初审，符合复核条件")
        elif step == "expire":  # the scheduler's act at the end of validity
            as_scheduler(engine, case_id, "expire", "validity_end")
        elif step == "renew":
            engine.fire(case_id, "renew", PROVINCE)
        elif step == "propose_revocation":
            if clock.now().year >= 2027:  # walked in lockstep with a 复核
                ensure_calendar(engine, clock.now().year)
            engine.fire(case_id, "propose_revocation", PROVINCE, reason_code="18.2",
                        facts="申报材料虚假")
        elif step == "revoke":
            engine.fire(case_id, "state", county, text="对事实无异议")
            engine.fire(case_id, "revoke", PROVINCE, reason="陈述申辩未提出新的事实和理由")
        else:  # pragma: no cover - a typo in a test
            raise AssertionError(step)

    def to(self, state: str, **create: str) -> int:
        case_id = self.create(**create)
        for step in PATHS[state]:
            self.step(case_id, step)
        assert self.engine.get(case_id).state == state
        return case_id

    def to_many(self, states: list[str]) -> list[int]:
        """A case in each of ``states`` (one per entry), walked in lockstep: every case takes
        its k-th step before any takes its (k+1)-th, so the clock moves forward once for all
        of them (walked one after the other, each case's 复核 would push the next one's
        publicity years later)."""
        ids = [self.create(name=f"佛山市南海区铝型材产业集群{index + 1}")
               for index in range(len(states))]
        for step in range(max((len(PATHS[state]) for state in states), default=0)):
            for case_id, state in zip(ids, states, strict=True):
                if step < len(PATHS[state]):
                    self.step(case_id, PATHS[state][step])
        for case_id, state in zip(ids, states, strict=True):
            assert self.engine.get(case_id).state == state
        return ids


def store_at_revision(url: str, revision: str) -> Any:
    """A ``Store`` on ``url`` whose schema Alembic has brought to ``revision`` only (a database
    an earlier version made); the caller disposes of it."""
    import os

    from alembic import command
    from alembic.config import Config

    from gdcluster.engine import migrations
    from gdcluster.engine.store import Store, resolve_url

    store = Store(resolve_url(url), create=True)
    config = Config()
    config.set_main_option("script_location", os.path.dirname(migrations.__file__))
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    return store


def database_made_at(db_url: str, revision: str) -> Any:
    """A new simulation database with the schema of an earlier ``revision`` (as that version's
    `gdcluster init --simulation` made it): its ``Store``, which the caller disposes of."""
    from sqlalchemy import text

    store = store_at_revision(db_url, revision)
    with store.engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO gd_meta (key, value) VALUES ('simulation', 'true'), "
            "('schema_revision', :revision)"), {"revision": revision})
    return store


@contextmanager
def holding(engine: Any, case_id: int, kind: str, *,
            early: bool = False) -> Iterator[tuple[Any, Any]]:
    """A transaction of the act kernel that holds the case's pending deadline of ``kind`` as
    the sweep does (the case locked, the deadline claimed): the one place ``system`` may act.
    The deadline must have come, unless ``early`` (claimed at its own time, so that a walk
    reaches a state without moving every other case's clock). What it does is rolled back if
    it raises."""
    from sqlalchemy import select

    from gdcluster.engine.clock import as_utc
    from gdcluster.engine.models import Case, Deadline

    now = engine.clock.now()
    with engine.kernel.transaction() as transaction:
        session = transaction.session
        case = session.get(Case, case_id, with_for_update=True)
        row = session.scalars(select(Deadline).where(
            Deadline.case_id == case_id, Deadline.kind == kind, Deadline.status == "pending")
            .order_by(Deadline.due_at)).first()
        assert case is not None and row is not None, (case_id, kind)
        due = as_utc(row.due_at)
        assert early or due <= now
        assert transaction.claim_deadline(row.id, max(now, due))
        yield transaction, case


def as_scheduler(engine: Any, case_id: int, trigger: str, kind: str) -> None:
    """The scheduler's act ``trigger`` on a case, as the sweep does it, in a transaction
    :func:`holding` the case's deadline of ``kind`` (early: dated by the engine's clock)."""
    from gdcluster.engine.actors import Actor

    with holding(engine, case_id, kind, early=True) as (transaction, case):
        engine.kernel.transition(transaction, case, trigger, Actor.system(), {},
                                 engine.clock.now())
