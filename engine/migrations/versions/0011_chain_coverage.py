"""the audit chain covers the cases, notices, renderings, refusals and deadline outcomes

Revision ID: 0011_chain_coverage
Revises: 0010_actor_grants
Create Date: 2026-11-27 13:00:00.000000

Adds ``gd_audit.attest`` (hashed with a row when set, so that every existing row hashes as
before), the ``attest_seq`` of the records an audit row vouches for, and the chain anchor an
issued notice prints. Then one audit row is appended (``chain_coverage``, dated as the last
row) that vouches for every case as it is and every record made before the upgrade: the
chain verifies after the upgrade, and from then on every act vouches for its own.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # noqa: F401
from alembic import op


revision: str = '0011_chain_coverage'
down_revision: str | None = '0010_actor_grants'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('gd_audit', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attest', sa.Text(), nullable=True))
    for table in ('gd_refusal', 'gd_rendering', 'gd_notice'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('attest_seq', sa.Integer(), nullable=True))
            batch_op.create_index(batch_op.f(f'ix_{table}_attest_seq'), ['attest_seq'],
                                  unique=False)
    with op.batch_alter_table('gd_notice', schema=None) as batch_op:
        batch_op.add_column(sa.Column('anchor_seq', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('anchor_hash',
                                      sqlmodel.sql.sqltypes.AutoString(length=64),
                                      nullable=True))
    with op.batch_alter_table('gd_deadline', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attest_seq', sa.Integer(), nullable=True))
        batch_op.create_index('ix_gd_deadline_attest', ['attest_seq', 'status'], unique=False)
    from gdcluster.engine.coverage import baseline

    baseline(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table('gd_deadline', schema=None) as batch_op:
        batch_op.drop_index('ix_gd_deadline_attest')
        batch_op.drop_column('attest_seq')
    with op.batch_alter_table('gd_notice', schema=None) as batch_op:
        batch_op.drop_column('anchor_hash')
        batch_op.drop_column('anchor_seq')
    for table in ('gd_notice', 'gd_rendering', 'gd_refusal'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f'ix_{table}_attest_seq'))
            batch_op.drop_column('attest_seq')
    with op.batch_alter_table('gd_audit', schema=None) as batch_op:
        batch_op.drop_column('attest')
