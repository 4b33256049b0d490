"""rounds remember the pick of an interrupted publicize or recognize batch (issue 6)

Revision ID: 0003_round_batches
Revises: 0002_notices
Create Date: 2026-12-01 10:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # noqa: F401  (autogenerate writes sqlmodel.sql.sqltypes.AutoString)
from alembic import op


revision: str = '0003_round_batches'
down_revision: str | None = '0002_notices'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('gd_round', schema=None) as batch_op:
        batch_op.add_column(sa.Column('publicity_pick', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('recognition_batch', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('gd_round', schema=None) as batch_op:
        batch_op.drop_column('recognition_batch')
        batch_op.drop_column('publicity_pick')
