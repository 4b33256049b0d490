"""Alembic environment: run on the connection handed over by ``gdcluster.engine.schema.upgrade``."""

from alembic import context
from sqlmodel import SQLModel

from gdcluster.engine.models import load_all

load_all()  # every table on SQLModel.metadata, those of gdcluster.engine.records included

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only via schema.upgrade or the developer tool
    from sqlalchemy import create_engine

    url = config.get_main_option("sqlalchemy.url")
    if url is None:
        raise SystemExit("set sqlalchemy.url (or run `gdcluster init`, which passes a connection)")
    connection = create_engine(url).connect()

context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
