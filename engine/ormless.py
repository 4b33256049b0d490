"""What a read or an act needs at start-up without SQLModel's ORM (issue 16, P3).

``import sqlmodel`` loads all of ``sqlalchemy.orm`` (the Session, the mappers, the unit of
work): a quarter of a command's start-up. The hot paths (``case show``, ``case submit``) use
Core tables and plain connections, so they take from here the few things they used to import
from ``sqlmodel``: its two column types (copies, the same DDL on SQLite and PostgreSQL —
``tests/test_ormless.py`` compares them with the tables'), ``col``, and the schema revision.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sqlalchemy import types
from sqlalchemy.sql.elements import ColumnClause
from sqlalchemy.sql.schema import Column

if TYPE_CHECKING:
    from sqlalchemy.engine.interfaces import Dialect
    from sqlalchemy.sql.operators import OperatorType

__all__ = ["SCHEMA_REVISION", "AutoString", "CaseChanged", "UTCDateTime", "col", "is_session",
           "stale_errors"]

#: The Alembic head this code expects; ``Engine.open`` refuses any other (``gdcluster init``).
#: Here rather than beside the tables, so that opening a database defines none of them.
SCHEMA_REVISION = "0013_application_table"

_T = TypeVar("_T")


class UTCDateTime(types.TypeDecorator[datetime]):
    """Store aware datetimes and return them in UTC (``sqlmodel.sql.sqltypes.UTCDateTime``)."""

    impl = types.DateTime
    cache_ok = True

    def __init__(self) -> None:
        super().__init__(timezone=True)

    def __repr__(self) -> str:
        return "UTCDateTime()"

    def coerce_compared_value(self, op: OperatorType | None,
                              value: Any) -> types.TypeEngine[Any]:
        if isinstance(value, timedelta):
            return types.Interval()
        return self

    def process_bind_param(self, value: datetime | None,
                           dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.utcoffset() is None:
            raise ValueError(
                "Datetime values must have timezone information. "
                "Use datetime.now(timezone.utc), or annotate the field with "
                "NaiveDatetime for naive storage."
            )
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None,
                             dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.utcoffset() is None:
            # Databases without timezone support store UTC without an offset.
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class AutoString(types.TypeDecorator[str]):
    """A string, 255 long on MySQL (``sqlmodel.sql.sqltypes.AutoString``)."""

    impl = types.String
    cache_ok = True
    mysql_default_length = 255

    def load_dialect_impl(self, dialect: Dialect) -> types.TypeEngine[Any]:
        impl = cast(types.String, self.impl)
        if impl.length is None and dialect.name in {"mysql", "mariadb"}:
            return dialect.type_descriptor(types.String(self.mysql_default_length))
        return super().load_dialect_impl(dialect)


if TYPE_CHECKING:  # typed as sqlmodel's (a model's field is a column in a query)
    from sqlmodel import col as col
else:
    def col(column_expression: _T) -> _T:
        """``sqlmodel.col``: the column itself, refusing anything else; a model's attribute
        (an ORM ``InstrumentedAttribute``) can only exist once ``sqlalchemy.orm`` is loaded."""
        if isinstance(column_expression, (ColumnClause, Column)):
            return column_expression
        orm = sys.modules.get("sqlalchemy.orm.attributes")
        if orm is not None and isinstance(column_expression, orm.InstrumentedAttribute):
            return column_expression
        raise RuntimeError(f"Not a SQLAlchemy column: {column_expression}")


def is_session(bind: object) -> bool:
    """Whether ``bind`` is an ORM session (never, while no module has loaded the ORM)."""
    orm = sys.modules.get("sqlalchemy.orm.session")
    return orm is not None and isinstance(bind, orm.Session)


class CaseChanged(Exception):
    """Another writer changed the case first: the ``UPDATE … WHERE version = <as loaded>`` of
    an act wrote no row (what the ORM's unit of work reports as ``StaleDataError``)."""


def stale_errors() -> tuple[type[Exception], ...]:
    """The errors that mean a lost version race: :class:`CaseChanged`, and the ORM's
    ``StaleDataError`` once the ORM is loaded (no ORM flush can have raised it before)."""
    orm = sys.modules.get("sqlalchemy.orm.exc")
    return (CaseChanged,) if orm is None else (CaseChanged, orm.StaleDataError)
