"""attachments: files attached to a case by their own audited act, their bytes kept once per
SHA-256 in a table of their own

Revision ID: 0007_attachments
Revises: 0006_lifecycle_recognition
Create Date: 2026-11-27 13:00:00.000000

Only tables are added; no row is changed.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # noqa: F401  (autogenerate writes sqlmodel.sql.sqltypes.AutoString)
from alembic import op


revision: str = '0007_attachments'
down_revision: str | None = '0006_lifecycle_recognition'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('gd_attachment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('media_type', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('actor', sa.Text(), nullable=False),
    sa.Column('audit_seq', sa.Integer(), nullable=True),
    sa.Column('attached_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['gd_case.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('gd_attachment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_gd_attachment_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_gd_attachment_sha256'), ['sha256'], unique=False)
        batch_op.create_index(batch_op.f('ix_gd_attachment_audit_seq'), ['audit_seq'],
                              unique=False)
    op.create_table('gd_attachment_blob',
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('sha256')
    )


def downgrade() -> None:
    op.drop_table('gd_attachment_blob')
    with op.batch_alter_table('gd_attachment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_gd_attachment_audit_seq'))
        batch_op.drop_index(batch_op.f('ix_gd_attachment_sha256'))
        batch_op.drop_index(batch_op.f('ix_gd_attachment_case_id'))
    op.drop_table('gd_attachment')
