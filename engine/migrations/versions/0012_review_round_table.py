"""复核 rounds in a table of their own: a year may hold a recognition round and a 复核 round

Revision ID: 0012_review_round_table
Revises: 0011_chain_coverage
Create Date: 2026-11-27 15:30:00.000000

工信厅企业函〔2025〕77号 opened the 2022 batch's 复核 alongside the 2025 recommendations: one
year, two rounds. Until now ``gd_round`` was keyed by the year and held both kinds.

* ``gd_review_round`` (keyed by the year) is created and every 复核 round moves there from
  ``gd_round`` with its policy, deadlines, opening and version; ``gd_round`` keeps the
  recognition rounds and loses ``kind`` and ``check_by``.
* ``gd_deadline``, ``gd_notice`` and ``gd_rendering`` keep ``round_year`` as it was — their
  rows are vouched for by the audit chain, which hashes ``round_year``, so no row is rewritten —
  but lose its foreign key to ``gd_round``: the year may be a 复核 round's. Each row's own kind
  tells which round of the year it belongs to (``round_review_check_close``, ``review_notice``,
  ``review_result`` are the 复核 round's). On SQLite the constraint is removed from the stored
  table definition (the documented procedure for removing a FOREIGN KEY constraint, which
  does not touch the rows), since rebuilding a table that other tables reference is refused
  while foreign keys are enforced.

No audit row, case, deadline, notice or refusal changes: the chain verifies as before.
"""
import re
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # noqa: F401  (autogenerate writes sqlmodel.sql.sqltypes.AutoString)
from alembic import op


revision: str = '0012_review_round_table'
down_revision: str | None = '0011_chain_coverage'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The tables whose ``round_year`` no longer refers to ``gd_round``.
LOOSENED = ('gd_deadline', 'gd_notice', 'gd_rendering')
MOVED = ('year', 'policy', 'policy_version', 'policy_digest', 'apply_by', 'check_by',
         'opened_at', 'closed_at', 'version')


def upgrade() -> None:
    op.create_table('gd_review_round',
    sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('policy', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('policy_version', sa.Integer(), nullable=False),
    sa.Column('policy_digest', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('apply_by', sa.Date(), nullable=True),
    sa.Column('check_by', sa.Date(), nullable=True),
    sa.Column('opened_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('closed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('year')
    )
    columns = ', '.join(MOVED)
    op.execute(f"INSERT INTO gd_review_round ({columns}) "
               f"SELECT {columns} FROM gd_round WHERE kind = 'review'")
    bind = op.get_bind()
    for table in LOOSENED:
        _drop_round_foreign_key(bind, table)
    op.execute("DELETE FROM gd_round WHERE kind = 'review'")
    for column in ('kind', 'check_by'):
        if bind.dialect.name == 'sqlite':  # in place: gd_round is referenced by gd_case
            op.execute(f'ALTER TABLE gd_round DROP COLUMN {column}')
        else:
            op.drop_column('gd_round', column)


def _drop_round_foreign_key(bind: sa.Connection, table: str) -> None:
    if bind.dialect.name != 'sqlite':
        for key in sa.inspect(bind).get_foreign_keys(table):
            if key['referred_table'] == 'gd_round' and key['name']:
                op.drop_constraint(key['name'], table, type_='foreignkey')
        return
    stored = str(bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).scalar())
    loosened = re.sub(r',\s*FOREIGN KEY\s*\(\s*"?round_year"?\s*\)\s*REFERENCES\s+"?gd_round"?'
                      r'\s*\(\s*"?year"?\s*\)', '', stored)
    if loosened == stored:
        return
    version = int(bind.exec_driver_sql('PRAGMA schema_version').scalar_one())
    bind.exec_driver_sql('PRAGMA writable_schema = ON')
    try:
        bind.exec_driver_sql(
            "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?",
            (loosened, table))
        bind.exec_driver_sql(f'PRAGMA schema_version = {version + 1}')
    finally:
        bind.exec_driver_sql('PRAGMA writable_schema = OFF')


def downgrade() -> None:
    bind = op.get_bind()
    shared = bind.execute(sa.text(
        "SELECT year FROM gd_review_round WHERE year IN (SELECT year FROM gd_round)")).first()
    if shared is not None:
        raise RuntimeError(f"{shared.year} holds a recognition round and a 复核 round: schema "
                           f"0011 keeps one round a year")
    op.add_column('gd_round', sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16),
                                        nullable=False, server_default='recognition'))
    op.add_column('gd_round', sa.Column('check_by', sa.Date(), nullable=True))
    columns = ', '.join(MOVED)
    op.execute(f"INSERT INTO gd_round ({columns}, kind) "
               f"SELECT {columns}, 'review' FROM gd_review_round")
    op.drop_table('gd_review_round')
    if bind.dialect.name != 'sqlite':  # SQLite keeps the looser definition
        for table in LOOSENED:
            op.create_foreign_key(None, table, 'gd_round', ['round_year'], ['year'])
