"""renderings: an issued notice rendered again later, kept beside the issued one (DESIGN §10)

Revision ID: 0005_renderings
Revises: 0004_quota_index
Create Date: 2026-11-27 10:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # noqa: F401  (autogenerate writes sqlmodel.sql.sqltypes.AutoString)
from alembic import op


revision: str = '0005_renderings'
down_revision: str | None = '0004_quota_index'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('gd_rendering',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('notice_id', sa.Integer(), nullable=False),
    sa.Column('audit_seq', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('format', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('round_year', sa.Integer(), nullable=True),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('doc_no', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('template', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('template_version', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('body', sa.LargeBinary(), nullable=False),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('actor', sa.Text(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['gd_case.id'], ),
    sa.ForeignKeyConstraint(['notice_id'], ['gd_notice.id'], ),
    sa.ForeignKeyConstraint(['round_year'], ['gd_round.year'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('audit_seq', 'kind', 'format', 'sha256', name='uq_gd_rendering_body')
    )
    with op.batch_alter_table('gd_rendering', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_gd_rendering_audit_seq'), ['audit_seq'], unique=False)
        batch_op.create_index(batch_op.f('ix_gd_rendering_notice_id'), ['notice_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('gd_rendering', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_gd_rendering_notice_id'))
        batch_op.drop_index(batch_op.f('ix_gd_rendering_audit_seq'))

    op.drop_table('gd_rendering')
