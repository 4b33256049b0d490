"""The schema's migration (``gdcluster init``): Alembic brings the tables to head, and
``gd_meta`` records the revision and whether the database is a simulation. Apart from
``store.py`` so that opening a database (every command) never loads it."""

from __future__ import annotations

import os

from gdcluster.engine.errors import PermissionDenied
from gdcluster.engine.ormless import SCHEMA_REVISION
from gdcluster.engine.store import Store

__all__ = ["upgrade"]


def upgrade(store: Store, *, simulation: bool = False) -> str:
    """Bring the schema to head with Alembic (``gdcluster init``); returns the revision."""
    from alembic import command
    from alembic.config import Config

    from gdcluster.engine import migrations
    from gdcluster.engine.models import Meta

    config = Config()
    config.set_main_option("script_location", os.path.dirname(migrations.__file__))
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    with store.write() as session:
        existing = session.get(Meta, "simulation")
        if existing is None:
            session.add(Meta(key="simulation", value="true" if simulation else "false"))
        elif simulation and existing.value != "true":
            raise PermissionDenied(
                "this database holds real acts; it cannot be turned into a simulation database",
                actor=None,
            )
        revision = session.get(Meta, "schema_revision")
        if revision is None:
            session.add(Meta(key="schema_revision", value=SCHEMA_REVISION))
        else:
            revision.value = SCHEMA_REVISION
    return SCHEMA_REVISION
