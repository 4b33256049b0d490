"""What may be attached to a case: the kinds, the file types and the size limit.

The data live in ``attachments.toml`` beside this module, validated when loaded: at least one
kind, no kind twice, known type names (the engine recognizes each by its content), a positive
size limit. Stdlib only, and nothing from ``gdcluster.engine``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

__all__ = [
    "TYPE_NAMES",
    "AttachmentDataError",
    "AttachmentRules",
    "FileType",
    "load_attachment_rules",
    "parse_attachment_rules",
]

FILE = "attachments.toml"
#: The file types the engine can recognize by their content.
TYPE_NAMES = ("pdf", "jpg", "png", "docx", "xlsx", "ofd")


class AttachmentDataError(ValueError):
    """``attachments.toml`` cannot be used; the message says where."""


@dataclass(frozen=True)
class FileType:
    name: str
    media_type: str


@dataclass(frozen=True)
class AttachmentRules:
    kinds: tuple[str, ...]
    types: tuple[FileType, ...]
    max_size: int

    def media_type(self, name: str) -> str | None:
        """The media type of the accepted type ``name``, or None when it is not accepted."""
        return next((item.media_type for item in self.types if item.name == name), None)


def parse_attachment_rules(data: dict[str, Any], origin: str = FILE) -> AttachmentRules:
    """The rules ``data`` (a parsed attachments.toml) states, or ``AttachmentDataError``."""
    def fail(message: str) -> AttachmentDataError:
        return AttachmentDataError(f"{origin}: {message}")

    kinds = data.get("kinds")
    if not isinstance(kinds, list) or not kinds or not all(
            isinstance(kind, str) and kind.strip() for kind in kinds):
        raise fail("kinds must be a non-empty list of names")
    if len(set(kinds)) != len(kinds):
        raise fail("a kind is listed twice")
    types = []
    for entry in data.get("types", []):
        if not isinstance(entry, dict) or entry.get("name") not in TYPE_NAMES \
                or not isinstance(entry.get("media_type"), str):
            raise fail(f"a type needs a name among {', '.join(TYPE_NAMES)} and a media_type: "
                       f"{entry!r}")
        types.append(FileType(entry["name"], entry["media_type"]))
    if not types or len({item.name for item in types}) != len(types):
        raise fail("types must list each accepted file type once")
    size = data.get("max_size_mb")
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise fail("max_size_mb must be a whole number of MiB above 0")
    return AttachmentRules(kinds=tuple(kinds), types=tuple(types), max_size=size * 1024 * 1024)


@cache
def load_attachment_rules() -> AttachmentRules:
    """The rules shipped in ``states/attachments.toml``."""
    text = resources.files("gdcluster.states").joinpath(FILE).read_text("utf-8")
    return parse_attachment_rules(tomllib.loads(text))
