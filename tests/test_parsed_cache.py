"""The parsed forms of shipped files kept beside them (``states/parsed_cache``)."""

from __future__ import annotations

import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from gdcluster.states import parsed_cache


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    monkeypatch.setattr(sys, "pycache_prefix", None)
    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "data").mkdir()
    return tmp_path


def counting(value: object) -> tuple[list[bytes], object]:
    calls: list[bytes] = []

    def parse(content: bytes) -> object:
        calls.append(content)
        return value
    return calls, parse


def test_a_file_is_parsed_once_then_read_from_its_cache(package: Path) -> None:
    source = package / "data" / "x.toml"
    source.write_bytes(b"one")
    value = {"when": date(2023, 1, 1), "at": datetime(2024, 1, 2, 3, 4, tzinfo=timezone(
        timedelta(hours=8))), "list": [1, 2.5, "t", True, None, {"deep": date(2025, 12, 31)}]}
    calls, parse = counting(value)
    assert parsed_cache.parsed(source, parse) == value
    where = parsed_cache.cache_file(source)
    assert where == package / "__pycache__" / f"data.x.toml.{sys.implementation.cache_tag}.marshal"
    assert where.exists() and not (package / "data" / "__pycache__").exists()
    again = parsed_cache.parsed(source, parse)
    assert again == value and type(again["when"]) is date and len(calls) == 1


def test_changed_bytes_are_parsed_again(package: Path) -> None:
    source = package / "data" / "x.po"
    source.write_bytes(b"one")
    calls, parse = counting({"a": ("b", "c")})
    parsed_cache.parsed(source, parse, plain=True)
    source.write_bytes(b"two")
    assert parsed_cache.parsed(source, parse, plain=True) == {"a": ("b", "c")}
    assert calls == [b"one", b"two"]
    assert parsed_cache.parsed(source, parse, plain=True) == {"a": ("b", "c")}
    assert len(calls) == 2


def test_no_cache_is_written_without_bytecode_or_for_values_it_cannot_keep(
        package: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = package / "data" / "x.toml"
    source.write_bytes(b"one")
    _, parse = counting({"odd": {1, 2}})  # a set: not kept
    assert parsed_cache.parsed(source, parse) == {"odd": {1, 2}}
    assert not parsed_cache.cache_file(source).exists()
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    _, parse = counting({"fine": 1})
    parsed_cache.parsed(source, parse)
    assert not parsed_cache.cache_file(source).exists()


def test_a_damaged_cache_is_parsed_again(package: Path) -> None:
    source = package / "data" / "x.toml"
    source.write_bytes(b"one")
    calls, parse = counting({"a": 1})
    parsed_cache.parsed(source, parse)
    parsed_cache.cache_file(source).write_bytes(b"\x00garbage")
    assert parsed_cache.parsed(source, parse) == {"a": 1}
    assert len(calls) == 2
