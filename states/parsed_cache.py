"""Parsed forms of the shipped text files (policies, the workflow, the message catalog) kept
beside them, as Python keeps a module's bytecode: a command that reads them loads the parsed
values instead of parsing again (issue 16, P3: TOML and PO parsing were a tenth of
``case show``'s own start-up).

The cache is ``__pycache__/<file>.<tag>.marshal`` in the package folder holding the file
(under ``sys.pycache_prefix`` when set, as bytecode is), holding a hash of the bytes it was
parsed from (``importlib.util.source_hash``, as checked-hash ``.pyc`` files do; SHA-256 would
import OpenSSL's bindings, 4 ms): a file changed in place is parsed again, and the cache
rewritten. Nothing depends on the cache existing: a folder that cannot be written (a read-only
install) just means parsing each time; nor is it written when bytecode is not (``-B``).
``marshal`` holds no code that runs on loading; dates and date-times (TOML has them) are kept
as tagged ISO texts, and the parsed form is cached only when it comes back equal.
"""

from __future__ import annotations

import marshal
import os
import sys
from collections.abc import Callable
from datetime import date, datetime
from importlib.util import source_hash
from pathlib import Path
from typing import Any

__all__ = ["cache_file", "parsed"]

#: Bumped when the encoding below changes.
_FORMAT = 1
#: Tuples never come out of a TOML or PO parse: a tuple is a tagged value.
_DATE, _DATETIME = "date", "datetime"


def cache_file(source: Path) -> Path:
    """Where the parsed form of ``source`` is kept: the ``__pycache__`` of the package folder
    holding it (data folders such as ``policies/`` get no folder of their own), named by the
    path from there: ``states/__pycache__/policies.guangdong-2023.toml.cpython-311.marshal``."""
    source = source.resolve()
    package, parts = source.parent, [source.name]
    while not (package / "__init__.py").exists() and package.parent != package:
        parts.insert(0, package.name)
        package = package.parent
    if not (package / "__init__.py").exists():  # not in a package: beside the file
        package, parts = source.parent, [source.name]
    name = f"{'.'.join(parts)}.{sys.implementation.cache_tag}.marshal"
    if sys.pycache_prefix:
        return Path(sys.pycache_prefix, *package.parts[1:], name)
    return package / "__pycache__" / name


def parsed(source: Any, parse: Callable[[bytes], Any], *, content: bytes | None = None,
           plain: bool = False) -> Any:
    """``parse(bytes of source)``, from the cache when it was parsed from the same bytes.
    ``source`` is a ``Path`` or a package resource (cached only when it is a file on disk).
    ``plain``: the value is texts, numbers and tuples, dicts of them, no dates — kept as it is
    (``marshal`` gives tuples back as tuples), without the tagging walk. ``content``: the
    bytes of ``source`` when the caller has read them already."""
    if content is None:
        content = source.read_bytes()
    if not isinstance(source, Path):
        try:
            source = Path(os.fspath(source))
        except TypeError:  # a resource inside a zip: parse each time
            return parse(content)
    key = (_FORMAT, source_hash(content))  # the hash checked-hash .pyc files carry
    where = cache_file(source)
    try:
        stored = marshal.loads(where.read_bytes())
        if stored[0] == key:
            return stored[1] if plain else _decode(stored[1])
    except Exception:  # missing, unreadable or stale: parse again
        pass
    value = parse(content)
    _store(where, key, value, plain=plain)
    return value


def _store(where: Path, key: tuple[int, bytes], value: Any, *, plain: bool) -> None:
    if sys.dont_write_bytecode:  # -B / PYTHONDONTWRITEBYTECODE: no cache written, as for .pyc
        return
    try:
        encoded = value if plain else _encode(value)
        if (marshal.loads(marshal.dumps(encoded)) if plain else _decode(encoded)) != value:
            return
        data = marshal.dumps((key, encoded))
        where.parent.mkdir(parents=True, exist_ok=True)
        temporary = where.with_name(f"{where.name}.{os.getpid()}.tmp")
        temporary.write_bytes(data)
        os.replace(temporary, where)
    except (OSError, ValueError, TypeError):  # read-only folder, or values marshal cannot hold
        return


def _encode(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        return {key: _encode(item) for key, item in value.items()}
    if kind is list:
        return [_encode(item) for item in value]
    if kind is datetime:
        return (_DATETIME, value.isoformat())
    if kind is date:
        return (_DATE, value.isoformat())
    if kind is tuple:
        return (None, [_encode(item) for item in value])
    if kind in (str, int, float, bool) or value is None:
        return value
    raise TypeError(f"not cached: {kind.__name__}")


def _decode(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        return {key: _decode(item) for key, item in value.items()}
    if kind is list:
        return [_decode(item) for item in value]
    if kind is tuple:
        tag, inner = value
        if tag == _DATE:
            return date.fromisoformat(inner)
        if tag == _DATETIME:
            return datetime.fromisoformat(inner)
        return tuple(_decode(item) for item in inner)
    return value
