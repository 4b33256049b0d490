"""Filled 申报表 workbooks for the tests (importable: pytest puts tests/ on the path)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from gdcluster.engine.application import load_application_file, validate_application
from gdcluster.engine.application_files import application_document
from gdcluster.engine.workbook import CaseHeader
from gdcluster.states.policy import load_policy

DATA = Path(__file__).parent / "data"


def complete() -> dict[str, Any]:
    """tests/data/application-complete.json, validated: passes every automatic criterion."""
    path = DATA / "application-complete.json"
    return validate_application(load_application_file(path.read_bytes(), path.name))


def workbook(path: Path, name: str, county: str = "佛山市南海区",
             cells: dict[str, Any] | None = None) -> Path:
    """A filled 申报表 for round 2024 naming ``name`` in ``county``; ``cells`` then typed in."""
    header = CaseHeader(2024, name, county, "铝型材")
    path.write_bytes(application_document(header, complete(), "xlsx",
                                          load_policy("guangdong-2023")))
    if cells:
        book = load_workbook(path)
        for address, value in cells.items():
            sheet, _, cell = address.partition("!")
            book[sheet][cell] = value
        book.save(path)
    return path
