"""Issue 15.10, DESIGN §8a: who may act.

* ``system`` is the scheduler's: refused from ``Engine.fire`` and from the act kernel unless
  the act is for a due deadline the sweep holds (a capability, not a name), and from every CLI
  act.
* On a real database, OS users act only as the actors granted to them — by the settings'
  ``[actors]`` table or by the province's audited ``actors grant`` — and ``init`` grants the
  OS user who ran it ``province``. Simulation databases skip the mapping.
"""

from __future__ import annotations

from datetime import date

import pytest
from deadline_support import count_audit, publicized
from sqlalchemy import select
from support import Walker

from gdcluster.engine import Engine, PermissionDenied
from gdcluster.engine.actors import Actor
from gdcluster.engine.models import Case, Deadline


# ---------------------------------------------------------------------------- system
def test_system_is_refused_through_fire_and_the_kernel(engine: Engine, walker: Walker) -> None:
    """`Engine.fire(…, "system")` and `engine.kernel.act(…, Actor.system())` are refused
    (exit 4, recorded, nothing written) even for a trigger the table gives the system — here
    closing a publicity whose window has ended; the sweep, holding the due deadline, closes
    it."""
    [case_id] = publicized(engine, 1, end=date(2024, 10, 11))
    engine.clock.set("2024-10-12T09:00")  # type: ignore[attr-defined]
    audit_before = count_audit(engine)
    for attempt in (lambda: engine.fire(case_id, "close_publicity", "system"),
                    lambda: engine.kernel.act(case_id, "close_publicity", Actor.system(), {})):
        with pytest.raises(PermissionDenied) as caught:
            attempt()
        assert caught.value.exit_code == 4 and "system" in caught.value.message
    assert engine.get(case_id).state == "publicized"
    assert count_audit(engine) == audit_before
    assert [row["actor"] for row in engine.refusals(case_id=case_id)][-2:] == ["system"] * 2
    [outcome] = engine.run_due()
    assert (outcome.case_id, outcome.outcome) == (case_id, "publicity_closed")
    assert engine.history(case_id)[-1]["actor"] == "system"


def test_a_deadline_not_yet_due_gives_no_system_authority(engine: Engine) -> None:
    """Holding a claim is the capability, and only a due deadline can be claimed: a
    transaction that claims a deadline before its time holds nothing, and the system's act on
    that case is refused."""
    [case_id] = publicized(engine, 1, end=date(2024, 10, 11))
    [deadline] = [row for row in engine.get(case_id).deadlines if row["status"] == "pending"]
    with engine.store.read() as session:
        deadline_id = session.scalar(select(Deadline.id).where(Deadline.case_id == case_id))
    with pytest.raises(PermissionDenied), engine.kernel.transaction() as transaction:
        assert not transaction.claim_deadline(deadline_id, engine.clock.now())
        case = transaction.session.get(Case, case_id, with_for_update=True)
        engine.kernel.transition(transaction, case, "close_publicity", Actor.system(), {},
                                 engine.clock.now())
    assert engine.get(case_id).state == "publicized" and deadline["kind"] == "publicity_end"
