"""复核 rounds: a round's kind and its 初审 deadline; the 复核 round covering a case and the
复核 in progress (申报, the city's 初审 opinion)

Revision ID: 0009_review_rounds
Revises: 0008_revocation_procedure
Create Date: 2026-11-27 12:40:00.000000

Only columns are added; every existing round becomes a recognition round (kind
"recognition"), no case is covered by a 复核 round, and no row is changed otherwise.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # noqa: F401  (autogenerate writes sqlmodel.sql.sqltypes.AutoString)
from alembic import op


revision: str = '0009_review_rounds'
down_revision: str | None = '0008_revocation_procedure'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('gd_round', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16),
                                      nullable=False, server_default='recognition'))
        batch_op.add_column(sa.Column('check_by', sa.Date(), nullable=True))
    with op.batch_alter_table('gd_case', schema=None) as batch_op:
        batch_op.add_column(sa.Column('review_round', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('review', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('gd_case', schema=None) as batch_op:
        batch_op.drop_column('review')
        batch_op.drop_column('review_round')
    with op.batch_alter_table('gd_round', schema=None) as batch_op:
        batch_op.drop_column('check_by')
        batch_op.drop_column('kind')
