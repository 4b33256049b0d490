"""Seeding for the deadline and scheduler tests (importable: ``pythonpath = ["tests"]``).

Where the lifecycle before a deadline is not what a test checks, cases are inserted straight
into the tables in one transaction, with one ``seed`` row appended through ``audit.append`` so
the hash chain still verifies. Everything from the deadline on goes through the engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update

from gdcluster.engine import Engine, audit, deadlines
from gdcluster.engine.clock import as_utc, end_of_day
from gdcluster.engine.coverage import case_snapshot
from gdcluster.engine.models import Application, AuditEntry, Case, Deadline, Round

DATA = Path(__file__).parent / "data"
PROVINCE = "province@王处长"
COUNTY = "county:佛山市南海区@李四"
SEEDED_AT = "2024-01-02T09:00"


def open_round(engine: Engine, year: int = 2024, **options: Any) -> None:
    """Open ``year`` unless it is open already (the province; default policy)."""
    with engine.store.read() as session:
        if session.get(Round, year) is not None:
            return
    engine.open_round(year, PROVINCE, **options)


#: guangdong-2023 is in force until 2025-12-31 (第二十条; its file). Rounds opened later need
#: an extension recorded first, as a real province would (the 文号 is the test's own).
EXTENSION_SOURCE = "粤工信服务函〔2025〕88号"


def keep_in_force(engine: Engine, until: str = "2028-12-31") -> None:
    """Extend guangdong-2023 (an audited province act, dated by the engine's clock)."""
    engine.extend_policy("guangdong-2023", PROVINCE, until=until, source=EXTENSION_SOURCE)


def system_decides(monkeypatch: Any, name: str = "test-system-decides") -> str:
    """Make ``name`` loadable as a variant of guangdong-2023 whose revocations the system may
    decide (``[revocation] decided_by = "system"``); returns the name, for ``open_round``."""
    from gdcluster.states import policy as policy_module

    path = policy_module._policy_folder().joinpath("guangdong-2023.toml")
    text = path.read_text("utf-8").replace('name = "guangdong-2023"', f'name = "{name}"')
    text = text.replace('[revocation."18.1"]', '[revocation]\ndecided_by = "system"\n\n'
                                                '[revocation."18.1"]')
    built = policy_module.parse_policy(text.encode("utf-8"), f"policies/{name}.toml")
    assert built.revocation_decided_by == "system"
    real = policy_module.load_policy
    monkeypatch.setattr(policy_module, "load_policy",
                        lambda wanted, digest=None: built if wanted == name
                        else real(wanted, digest=digest))
    return name


def insert_cases(
    engine: Engine,
    count: int,
    *,
    state: str,
    round_year: int = 2024,
    publicity: tuple[date, date] | None = None,
    validity: tuple[date, date] | None = None,
    deadline: tuple[str, datetime] | None = None,
    county: str = "佛山市南海区",
    city: str = "佛山市",
    correction_due: date | None = None,
) -> list[int]:
    """``count`` cases in ``state``, optionally each with one pending deadline ``(kind, due)``.

    The deadline key follows the engine's own scheme, so acts that move or settle deadlines
    find it. One transaction, one audit row for the whole batch.
    """
    open_round(engine, round_year)
    now = engine.clock.now()
    with engine.store.write() as session:
        round_row = session.get(Round, round_year)
        assert round_row is not None
        cases = [
            Case(
                round_year=round_year, name=f"种子集群{index}", city=city, county=county,
                industry="测试产业", state=state, policy=round_row.policy,
                policy_version=round_row.policy_version, policy_digest=round_row.policy_digest,
                score="90.0000",
                publicity_start=publicity[0] if publicity else None,
                publicity_end=publicity[1] if publicity else None,
                valid_from=validity[0] if validity else None,
                valid_until=validity[1] if validity else None,
                correction_due=correction_due, created_at=now, updated_at=now,
            )
            for index in range(count)
        ]
        session.add_all(cases)
        session.flush()
        session.add_all(Application(case_id=case.id, data="{}") for case in cases)
        ids = [case.id for case in cases if case.id is not None]
        if deadline is not None:
            kind, due = deadline
            session.add_all(
                Deadline(case_id=case_id, kind=kind, key=_key(case_id, kind, due, validity),
                         due_at=as_utc(due), status="pending", created_at=now)
                for case_id in ids
            )
        # the seed row vouches for the cases it made, as an upgrade's row does for the cases
        # it found (``audit verify`` replays every case from the chain)
        audit.append(session, actor="system", trigger="seed", article="test seed", at=now,
                     round_year=round_year,
                     payload={"cases": [ids[0], ids[-1]] if ids else [], "state": state},
                     attest={"cases": [[case.id, *case_snapshot(case)] for case in cases]})
    return ids


def city_opinion(engine: Engine, ids: Sequence[int], *, year: int = 2026) -> None:
    """Seed a passed 复核初审 opinion on cases inserted ``under_review`` (renew needs one)."""
    with engine.store.write() as session:
        session.execute(update(Case).where(Case.id.in_(list(ids))).values(
            review_round=year, review={"year": year, "data": None, "check": {
                "passed": True, "opinion": "符合复核条件", "by": "city:佛山市",
                "at": "2026-01-01T00:00:00+00:00"}}))


def _key(case_id: int, kind: str, due: datetime, validity: tuple[date, date] | None) -> str:
    if kind == deadlines.PUBLICITY_END:
        return deadlines.case_key(case_id, kind)
    if kind == deadlines.REPORT_DUE:
        return deadlines.case_key(case_id, "report", as_utc(due).year - 1)
    if kind == deadlines.REPORT_GRACE:
        return deadlines.case_key(case_id, "report", as_utc(due).year - 1, "grace")
    if kind == deadlines.CORRECTION_DUE:
        return deadlines.case_key(case_id, "correction", 1)
    if kind == deadlines.CORRECTION_REMINDER:
        return deadlines.case_key(case_id, "correction", 1, "reminder")
    if kind in (deadlines.VALIDITY_END, deadlines.EXPIRY_REMINDER) and validity is not None:
        return deadlines.case_key(case_id, kind, validity[1].isoformat())
    return deadlines.case_key(case_id, kind, as_utc(due).isoformat())


def publicized(engine: Engine, count: int = 1, *, end: date = date(2024, 10, 11),
               start: date = date(2024, 9, 27), round_year: int = 2024) -> list[int]:
    """Cases in publicity ending ``end``, each with its publicity_end deadline at 24:00."""
    return insert_cases(engine, count, state="publicized", round_year=round_year,
                        publicity=(start, end),
                        deadline=(deadlines.PUBLICITY_END, end_of_day(end)))


#: 名单通告 numbers handed out by :func:`recognized`, one per call (each call is a 通告).
_NOTICES = iter(range(1, 10_000))


def recognized(engine: Engine, clock: Any, valid_from: date, *, count: int = 1) -> list[int]:
    """Cases recognized on ``valid_from`` by a 名单通告 of that date (publicity ended the day
    before), through ``round recognize``, so every validity deadline is scheduled by the code
    under test. The clock is set to 09:00 of ``valid_from`` first and left there (no act may
    be recorded later already: time only moves forward)."""
    from datetime import timedelta

    end = valid_from - timedelta(days=1)
    clock.set(f"{valid_from.isoformat()}T09:00")
    ids = insert_cases(engine, count, state="publicity_closed", round_year=valid_from.year,
                       publicity=(end - timedelta(days=14), end))
    result = engine.recognize_round(valid_from.year, PROVINCE,
                                    doc_no=f"粤工信服务函〔{valid_from.year}〕{next(_NOTICES)}号")
    assert result.recognized == ids, result
    return ids


def expert_reviewed(engine: Engine, count: int) -> list[int]:
    """``count`` expert-reviewed cases, distinct scores rising with the id."""
    ids = insert_cases(engine, count, state="expert_reviewed")
    with engine.store.write() as session:
        for index, case_id in enumerate(ids):
            session.execute(update(Case).where(Case.id == case_id)
                            .values(score=f"{50 + index * 0.1:.4f}"))
    return ids


def rows(engine: Engine, case_id: int | None = None, *, kind: str | None = None) -> list[Deadline]:
    statement = select(Deadline).order_by(Deadline.due_at, Deadline.id)
    if case_id is not None:
        statement = statement.where(Deadline.case_id == case_id)
    if kind is not None:
        statement = statement.where(Deadline.kind == kind)
    with engine.store.read() as session:
        return list(session.scalars(statement))


def pending_due(engine: Engine, case_id: int, kind: str) -> list[datetime]:
    return [row.due_at for row in rows(engine, case_id, kind=kind) if row.status == "pending"]


def audit_rows(engine: Engine, *, case_id: int | None = None,
               actor: str | None = None) -> list[AuditEntry]:
    statement = select(AuditEntry).order_by(AuditEntry.seq)
    if case_id is not None:
        statement = statement.where(AuditEntry.case_id == case_id)
    if actor is not None:
        statement = statement.where(AuditEntry.actor == actor)
    with engine.store.read() as session:
        return list(session.scalars(statement))


def count_audit(engine: Engine) -> int:
    with engine.store.read() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def import_2027(engine: Engine) -> None:
    """The test fixture's invented 2027 arrangement (never load it into a real database)."""
    path = DATA / "calendar-2027.yaml"
    engine.import_calendar(path.read_bytes(), path.name, PROVINCE)


def outcomes(handled: Iterable[dict[str, Any]]) -> list[tuple[str, Any, str]]:
    return [(item.kind, item.case_id, item.outcome) for item in handled]


def states(engine: Engine, ids: Sequence[int]) -> dict[int, str]:
    with engine.store.read() as session:
        return dict(session.execute(select(Case.id, Case.state).where(Case.id.in_(ids))).all())
