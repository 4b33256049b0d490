"""The bytes of a .docx notice: python-docx's package, zipped as ``zipfile`` zips it, made
reproducible (every entry dated the notice's date) and fast (each distinct part compressed
once: most parts are the same in every notice).

:func:`package` writes what python-docx's ``save`` writes, in its order: content types,
package relationships, then each part and its relationships, depth first along the
relationships. :func:`skeleton` is that list for a package whose few changing parts are
filled in per notice (:mod:`.word` builds the usual notice that way, without a python-docx
package of its own).
"""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Iterator
from functools import lru_cache
from types import SimpleNamespace
from typing import Any

from docx.opc.oxml import CT_Relationships
from docx.opc.packuri import CONTENT_TYPES_URI, PACKAGE_URI
from docx.opc.pkgwriter import _ContentTypesItem

__all__ = ["entries", "package", "zipped"]


def package(word: Any, when: tuple[int, ...]) -> bytes:
    """The .docx of the python-docx document ``word``, its entries dated ``when``."""
    return zipped([(name, blob if isinstance(blob, bytes) else blob.blob)
                   for name, blob in entries(word)], when)


def entries(word: Any) -> list[tuple[str, Any]]:
    """``word``'s package as (entry name, bytes), in the order ``save`` writes them; a part's
    entry holds the part itself (its bytes are ``part.blob``, read when zipped)."""
    package = word.part.package
    parts = list(_walk(package, set()))
    for part in parts:
        part.before_marshal()
    found: list[tuple[str, Any]] = [
        (CONTENT_TYPES_URI.membername,
         _content_types(tuple((part.partname, part.content_type) for part in parts))),
        (PACKAGE_URI.rels_uri.membername, _rels_xml(package.rels))]
    for part in parts:
        found.append((part.partname.membername, part))
        if len(part.rels):
            found.append((part.partname.rels_uri.membername, _rels_xml(part.rels)))
    return found


def _rels_xml(rels: Any) -> bytes:
    """``rels.xml``: made of each relationship's id, type, target and mode, in order."""
    return _rels_for(tuple((rel.rId, rel.reltype, rel.target_ref, rel.is_external)
                           for rel in rels.values()))


@lru_cache(maxsize=64)
def _rels_for(relationships: tuple[tuple[str, str, str, bool], ...]) -> bytes:
    element = CT_Relationships.new()
    for rid, reltype, target, external in relationships:
        element.add_rel(rid, reltype, target, external)
    return element.xml


@lru_cache(maxsize=64)
def _content_types(parts: tuple[tuple[str, str], ...]) -> bytes:
    """``[Content_Types].xml`` of parts with these names and content types, in order."""
    return _ContentTypesItem.from_parts(
        [SimpleNamespace(partname=name, content_type=kind) for name, kind in parts]).blob


def zipped(items: list[tuple[str, bytes]], when: tuple[int, ...]) -> bytes:
    """The zip ``zipfile`` writes of ``items`` (deflated, dated ``when``, mode 0600), each
    entry's local record and central-directory record taken from :func:`_entry`, which
    compresses each distinct (name, bytes, date) once."""
    local: list[bytes] = []
    central: list[bytes] = []
    offset = 0
    for name, blob in items:
        record, directory = _entry(name, blob, when)
        local.append(record)
        central.append(directory[:42] + struct.pack("<L", offset) + directory[46:])
        offset += len(record)
    size = sum(map(len, central))
    end = struct.pack("<4s4H2LH", b"PK\005\006", 0, 0, len(items), len(items), size,
                      offset, 0)
    return b"".join([*local, *central, end])


@lru_cache(maxsize=64)
def _entry(name: str, blob: bytes, when: tuple[int, ...]) -> tuple[bytes, bytes]:
    """One entry as ``zipfile`` writes it at the start of an archive: its local header with
    the compressed bytes, and its central-directory record (its offset, 0, to be set)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        entry = zipfile.ZipInfo(name, date_time=when)  # type: ignore[arg-type]
        entry.compress_type = zipfile.ZIP_DEFLATED
        entry.external_attr = 0o600 << 16
        target.writestr(entry, blob)
        boundary = out.tell()
    written = out.getvalue()
    return written[:boundary], written[boundary:-22]  # 22: the end record


def _walk(source: Any, seen: set[int]) -> Iterator[Any]:
    """The package's parts as ``OpcPackage.iter_parts`` yields them (depth first along the
    relationships, each once), with a set of its own: python-docx's walk keeps every part it
    ever visited in a list shared by all packages of the process."""
    for relationship in source.rels.values():
        if relationship.is_external:
            continue
        part = relationship.target_part
        if id(part) in seen:
            continue
        seen.add(id(part))
        yield part
        yield from _walk(part, seen)
