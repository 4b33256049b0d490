"""PostgreSQL for the tests and the benchmarks: the server's URL, and a fresh schema on it.

Every test or benchmark run gets its own schema, dropped afterwards, so that runs never see
each other's rows. Importable without pytest (the benchmarks run as plain scripts).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

PG_ENV = "GDCLUSTER_TEST_PG"


def pg_url_or_skip() -> str:
    """The server named by ``GDCLUSTER_TEST_PG``. Without it a test is skipped on a developer
    machine, but fails under CI (``CI`` set): the suite must not go green by skipping."""
    import pytest

    url = os.environ.get(PG_ENV)
    if url:
        return url
    if os.environ.get("CI"):
        pytest.fail("GDCLUSTER_TEST_PG is not set under CI: the PostgreSQL suite must run")
    pytest.skip("GDCLUSTER_TEST_PG not set (PostgreSQL suite runs in CI via .ci/run)")


@contextmanager
def schema_url(base: str, *, prefix: str = "t", fast: bool = False) -> Iterator[str]:
    """A fresh schema on the server at ``base``, dropped afterwards; yields its URL.

    ``fast``: the sessions commit with ``synchronous_commit=off``, which only a crash of the
    server itself could tell apart (never one of these tests: a killed client still loses
    nothing committed). It halves the time of tests that commit thousands of refusals.
    """
    from sqlalchemy import create_engine, text

    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as connection:  # the schema's own commit need not wait for the disk
        connection.execute(text("SET LOCAL synchronous_commit = off"))
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    fast_option = "%20-csynchronous_commit%3Doff" if fast else ""
    try:
        yield f"{base}{separator}options=-csearch_path%3D{schema}{fast_option}"
    finally:
        with admin.begin() as connection:
            connection.execute(text("SET LOCAL synchronous_commit = off"))
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
