"""the application data out of the case row: gd_application

Revision ID: 0013_application_table
Revises: 0012_review_round_table
Create Date: 2026-11-27 15:30:00.000000

Each case's application moves, as the JSON text it was stored as (byte for byte), into
``gd_application(case_id, data)``; ``gd_case.application`` is dropped, so a case row holds
only what listing, replaying and sweeping read. The audit chain is untouched: no row hashes
the application itself (acts record its SHA-256 in their payload).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0013_application_table'
down_revision: str | None = '0012_review_round_table'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _sqlite() -> bool:
    return op.get_bind().dialect.name == 'sqlite'


def upgrade() -> None:
    op.create_table(
        'gd_application',
        sa.Column('case_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('data', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['gd_case.id']),
        sa.PrimaryKeyConstraint('case_id'),
    )
    # the stored text as it is (a JSON column is text on both back-ends); NULL as JSON null
    as_text = "application" if _sqlite() else "application::text"
    op.execute(f"INSERT INTO gd_application (case_id, data) "
               f"SELECT id, COALESCE({as_text}, 'null') FROM gd_case")
    if _sqlite():
        import sqlite3

        if sqlite3.sqlite_version_info >= (3, 35, 0):
            # in place: a batch copy of gd_case would trip the foreign keys of its children
            op.execute("ALTER TABLE gd_case DROP COLUMN application")
            return
    with op.batch_alter_table('gd_case', schema=None) as batch_op:
        batch_op.drop_column('application')


def downgrade() -> None:
    with op.batch_alter_table('gd_case', schema=None) as batch_op:
        batch_op.add_column(sa.Column('application', sa.JSON(), nullable=True))
    op.execute("UPDATE gd_case SET application = (SELECT data FROM gd_application WHERE "
               "gd_application.case_id = gd_case.id)" if _sqlite() else
               "UPDATE gd_case SET application = gd_application.data::json FROM "
               "gd_application WHERE gd_application.case_id = gd_case.id")
    op.drop_table('gd_application')
