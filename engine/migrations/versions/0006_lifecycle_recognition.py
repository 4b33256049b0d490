"""lifecycle v2, recognition with the published list: the state a case came from, its 退回补正
deadline, the round's closing, and the extensions of a policy's own validity

Revision ID: 0006_lifecycle_recognition
Revises: 0005_renderings
Create Date: 2026-11-27 12:00:00.000000

Only columns and a table are added; no row is changed. Cases already recognized keep their
dates, a case in publicity whose deadline fires after the upgrade closes its publicity (it is
then recognized by the next ``round recognize``), and cases rejected before the upgrade keep
no previous state, so that nothing reopens them by a guess.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # noqa: F401  (autogenerate writes sqlmodel.sql.sqltypes.AutoString)
from alembic import op


revision: str = '0006_lifecycle_recognition'
down_revision: str | None = '0005_renderings'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('gd_case', schema=None) as batch_op:
        batch_op.add_column(sa.Column('previous_state',
                                      sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch_op.add_column(sa.Column('correction_due', sa.Date(), nullable=True))
    with op.batch_alter_table('gd_round', schema=None) as batch_op:
        batch_op.add_column(sa.Column('closed_at', sqlmodel.sql.sqltypes.UTCDateTime(),
                                      nullable=True))
    op.create_table('gd_policy_extension',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('policy', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('until', sa.Date(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('actor', sa.Text(), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('gd_policy_extension', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_gd_policy_extension_policy'), ['policy'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('gd_policy_extension', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_gd_policy_extension_policy'))
    op.drop_table('gd_policy_extension')
    with op.batch_alter_table('gd_round', schema=None) as batch_op:
        batch_op.drop_column('closed_at')
    with op.batch_alter_table('gd_case', schema=None) as batch_op:
        batch_op.drop_column('correction_due')
        batch_op.drop_column('previous_state')
