"""``engine/ormless.py`` holds copies of sqlmodel's two column types (so that the hot paths
need not import sqlmodel, which loads the ORM): they must write the same DDL and convert the
same values as the originals the table models use, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Column, Integer, MetaData, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateTable
from sqlmodel.sql import sqltypes

from gdcluster.engine import ormless

DIALECTS = {"sqlite": sqlite.dialect(), "postgresql": postgresql.dialect()}
COPIES = {ormless.UTCDateTime: sqltypes.UTCDateTime, ormless.AutoString: sqltypes.AutoString}


@pytest.mark.parametrize("dialect", DIALECTS, ids=list(DIALECTS))
def test_the_copies_write_the_same_ddl(dialect: str) -> None:
    def ddl(types: dict[str, object]) -> str:
        table = Table("t", MetaData(), Column("id", Integer, primary_key=True),
                      *(Column(name, kind) for name, kind in types.items()))
        return str(CreateTable(table).compile(dialect=DIALECTS[dialect]))

    copied = {"at": ormless.UTCDateTime(), "name": ormless.AutoString(),
              "code": ormless.AutoString(12)}
    original = {"at": sqltypes.UTCDateTime(), "name": sqltypes.AutoString(),
                "code": sqltypes.AutoString(12)}
    assert ddl(copied) == ddl(original)
    assert "TIMESTAMP" in ddl(copied) or "DATETIME" in ddl(copied)


@pytest.mark.parametrize("dialect", DIALECTS, ids=list(DIALECTS))
def test_the_core_tables_type_their_columns_as_the_models_do(dialect: str) -> None:
    """Each column of the Core tables (``case_tables``, ``audit_tables``) typed with a copy
    is typed with its original in the model of the same table, and compiles alike."""
    from gdcluster.engine import audit_tables, case_tables, models

    models.load_all()
    declared = models.Case.metadata.tables
    compared = 0
    for module in (case_tables, audit_tables):
        for table in vars(module).values():
            if not isinstance(table, Table):
                continue
            for column in table.c:
                original = COPIES.get(type(column.type))
                if original is None:
                    continue
                model_type = declared[table.name].c[column.name].type
                assert type(model_type) is original, (table.name, column.name, model_type)
                assert (column.type.compile(dialect=DIALECTS[dialect])
                        == model_type.compile(dialect=DIALECTS[dialect])), (table.name,
                                                                              column.name)
                compared += 1
    assert compared >= 5


def test_utc_datetime_converts_as_the_original() -> None:
    copy, original = ormless.UTCDateTime(), sqltypes.UTCDateTime()
    dialect = DIALECTS["sqlite"]
    aware = datetime(2024, 3, 1, 9, 0, tzinfo=timezone(timedelta(hours=8)))
    assert copy.process_bind_param(aware, dialect) == original.process_bind_param(
        aware, dialect) == datetime(2024, 3, 1, 1, 0, tzinfo=UTC)
    naive = datetime(2024, 3, 1, 1, 0)
    assert copy.process_result_value(naive, dialect) == original.process_result_value(
        naive, dialect)
    assert copy.process_bind_param(None, dialect) is None
    with pytest.raises(ValueError, match="timezone"):
        copy.process_bind_param(naive, dialect)
    assert isinstance(copy.coerce_compared_value(None, timedelta(days=1)),
                      type(original.coerce_compared_value(None, timedelta(days=1))))
    assert repr(copy) == repr(original)


def test_col_takes_columns_and_refuses_the_rest() -> None:
    column = Column("x", Integer)
    assert ormless.col(column) is column
    with pytest.raises(RuntimeError, match="Not a SQLAlchemy column"):
        ormless.col("x")


def test_stale_errors_name_the_case_changed_and_the_orms() -> None:
    from sqlalchemy.orm.exc import StaleDataError

    assert ormless.CaseChanged in ormless.stale_errors()
    assert StaleDataError in ormless.stale_errors()
