"""The base class of gdcluster's tables (SQLModel).

Its pydantic validator and serializer are built when first used, not when a table is defined:
the engine makes its table rows without validating them (SQLModel does not validate a table
model's constructor), so a command mostly never builds them, and defining the few tables it
touches costs a fifth less of its start-up.
"""

from __future__ import annotations

from pydantic import ConfigDict
from sqlmodel import SQLModel

from gdcluster.engine.ormless import SCHEMA_REVISION

__all__ = ["SCHEMA_REVISION", "TableModel"]



class TableModel(SQLModel):
    """Subclass with ``table=True``, as ``SQLModel``; the tables are on ``SQLModel.metadata``."""

    # SQLModelConfig is ConfigDict with its own keys (pydantic merges it with this one)
    model_config = ConfigDict(defer_build=True)  # type: ignore[assignment]
