"""the 第十八条 procedure: a revoked case keeps the state it had before the revocation

Revision ID: 0008_revocation_procedure
Revises: 0007_attachments
Create Date: 2026-11-27 13:00:00.000000

No column is added. A case revoked before the procedure existed (by the old timer under 18.1
or 18.3, or by the province at once) left no previous state, so ``reinstate`` could not
return it anywhere: its previous state is set from its own ``revoke`` audit row
(``from_state``), the record of where it was. Its state stays ``revoked``: nothing is
reinstated by the upgrade; ``gdcluster audit procedures`` lists the revocations made without
a hearing, for the administrator to decide (``case reinstate``).
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0008_revocation_procedure'
down_revision: str | None = '0007_attachments'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "UPDATE gd_case SET previous_state = ("
        " SELECT a.from_state FROM gd_audit a"
        " WHERE a.case_id = gd_case.id AND a.trigger = 'revoke' AND a.to_state = 'revoked'"
        " ORDER BY a.seq DESC LIMIT 1)"
        " WHERE state = 'revoked' AND previous_state IS NULL")


def downgrade() -> None:
    # the states recorded are the audit trail's own; nothing to undo
    pass
