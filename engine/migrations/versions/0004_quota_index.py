"""an index for the city quota count: a recommendation no longer scans its whole round (issue 5)

Revision ID: 0004_quota_index
Revises: 0003_round_batches
Create Date: 2026-11-26 13:00:00.000000
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0004_quota_index'
down_revision: str | None = '0003_round_batches'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_gd_case_round_city', 'gd_case', ['round_year', 'city', 'recommended_at'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_gd_case_round_city', table_name='gd_case')
