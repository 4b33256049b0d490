"""Expert scores (SQLModel), one row per case and expert.

Part of ``gdcluster.engine.records`` (see there): each group of tables is defined when first
named, so that a command defines only the tables it touches.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field

# defines gd_case, the table this module's foreign keys name, on the same metadata
import gdcluster.engine.case_models  # noqa: F401
from gdcluster.engine.tablebase import TableModel


class ExpertScore(TableModel, table=True):
    __tablename__ = "gd_expert_score"
    __table_args__ = (UniqueConstraint("case_id", "expert"),)
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="gd_case.id", index=True)
    expert: str = Field(max_length=128)
    scores: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    total: str = Field(max_length=32)
    at: datetime
