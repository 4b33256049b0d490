"""actor grants: which actors each OS user may act as (DESIGN §8a)

Revision ID: 0010_actor_grants
Revises: 0009_review_rounds
Create Date: 2026-11-27 13:00:00.000000

Only a table is added. A database upgraded from 0006 holds no grant, so nobody is bound until
the province grants the first actor (or the settings name one): acting goes on as before.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # noqa: F401  (autogenerate writes sqlmodel.sql.sqltypes.AutoString)
from alembic import op


revision: str = '0010_actor_grants'
down_revision: str | None = '0009_review_rounds'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('gd_actor_grant',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('os_user', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('actor', sa.Text(), nullable=False),
    sa.Column('granted_by', sa.Text(), nullable=False),
    sa.Column('granted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('audit_seq', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('os_user', 'actor', name='uq_gd_actor_grant')
    )
    with op.batch_alter_table('gd_actor_grant', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_gd_actor_grant_os_user'), ['os_user'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('gd_actor_grant', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_gd_actor_grant_os_user'))
    op.drop_table('gd_actor_grant')
