"""Chinese first: the message catalog people read (help, tables, messages, log lines).

The msgids are the English texts written in the code; ``engine/locale/zh_CN.po`` (gettext's
PO format, kept up to date with Babel: see ``tests/catalog.py``) gives their Chinese. The PO
file itself is read at run time by the small reader below, so nothing is compiled at install
time and ``pip install -e .`` and a wheel behave alike.

``GDCLUSTER_LANG`` picks the language each time a text is looked up: unset or ``zh``/``zh_CN``
for Chinese (the default), ``en`` (or ``C``/``POSIX``) for the English msgids themselves.
Codes never pass through here: JSON keys, state and trigger codes, error codes and exit codes
read the same in every language.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Self

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGE_VARIABLE", "N_", "Message", "catalog", "catalog_file",
           "gettext", "language", "localize", "ngettext", "read_po"]

LANGUAGE_VARIABLE = "GDCLUSTER_LANG"
DEFAULT_LANGUAGE = "zh_CN"
_LOCALE = Path(__file__).with_name("locale")


def language() -> str:
    """``"en"`` or ``"zh_CN"``, from ``GDCLUSTER_LANG`` as it is now."""
    value = os.environ.get(LANGUAGE_VARIABLE, "").strip()
    if value.lower().startswith("en") or value in ("C", "POSIX"):
        return "en"
    return DEFAULT_LANGUAGE


def catalog_file(name: str = DEFAULT_LANGUAGE) -> Path:
    """Where the catalog of language ``name`` lives in the package."""
    return _LOCALE / f"{name}.po"


def N_(message: str) -> str:
    """Mark ``message`` as a catalog msgid without translating it (it is translated where it is
    shown): for texts defined before the language is known."""
    return message


def gettext(message: str) -> str:
    """``message`` in the current language (the English msgid when it has no translation)."""
    if language() == "en" or not message:
        return message
    translated = catalog(language()).get(message)
    return translated[0] if translated and translated[0] else message


class Message(str):
    """A message written in English now and shown in the reader's language later: the English
    text itself (so it goes wherever a ``str`` goes: ``--json``, logs, the refusals table),
    remembering its template (a catalog msgid) and values. An error raised with one is shown
    translated by ``EngineError.localized()``."""

    template: str
    values: dict[str, Any]

    def __new__(cls, template: str, /, **values: Any) -> Self:
        message = super().__new__(cls, template.format(**values))
        message.template = template
        message.values = values
        return message

    def __reduce__(self) -> tuple[Any, ...]:  # pickled (to another process) as plain text
        return (str, (str(self),))

    def localized(self) -> str:
        """The message in the current language (with the values that are messages too)."""
        values = {key: value.localized() if isinstance(value, Message) else value
                  for key, value in self.values.items()}
        return gettext(self.template).format(**values)


def localize(text: str) -> str:
    """``text`` in the current language: a ``Message`` from its template, any other text
    looked up whole in the catalog (itself when it has no entry)."""
    return text.localized() if isinstance(text, Message) else gettext(text)


def ngettext(singular: str, plural: str, count: int) -> str:
    """The singular or plural form for ``count`` (Chinese has one form)."""
    if language() != "en":
        translated = catalog(language()).get(singular)
        if translated and translated[0]:
            return translated[0]
    return singular if count == 1 else plural


@lru_cache(maxsize=4)
def catalog(name: str) -> dict[str, tuple[str, ...]]:
    """The translated entries of language ``name``: msgid → its msgstr forms."""
    path = catalog_file(name)
    if not path.exists():
        return {}
    from gdcluster.states.parsed_cache import parsed

    return parsed(path, _translated, plain=True)  # parsed once, then kept as marshal


def _translated(content: bytes) -> dict[str, tuple[str, ...]]:
    return {msgid: forms for msgid, (forms, fuzzy) in read_po(content.decode("utf-8")).items()
            if not fuzzy and msgid}


def read_po(text: str) -> dict[str, tuple[tuple[str, ...], bool]]:
    """A PO file's entries: msgid → (msgstr forms, fuzzy?). Enough of the format for what
    Babel writes: comments, flags, msgid/msgid_plural/msgstr[N] and continued strings."""
    entries: dict[str, tuple[tuple[str, ...], bool]] = {}
    fields: dict[str, str] = {}
    fuzzy = False
    current: str | None = None
    in_msgstr = False  # ``current`` is a msgstr: a comment or a msgid starts the next entry

    def finish() -> None:
        nonlocal fuzzy
        if "msgid" in fields:
            if len(fields) == 2 and "msgstr" in fields:  # most entries: one msgstr
                forms: tuple[str, ...] = (fields["msgstr"],)
            else:
                forms = tuple(fields[key] for key in sorted(fields) if key.startswith("msgstr"))
            entries[fields["msgid"]] = (forms, fuzzy)
        fields.clear()
        fuzzy = False

    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        first = line[0]
        if first == "#":
            if in_msgstr:
                finish()
                current, in_msgstr = None, False
            if line[1:2] == "," and "fuzzy" in line:
                fuzzy = True
            continue
        if first == '"':
            if current is not None:
                fields[current] += _unquote(line)
            continue
        keyword, _, rest = line.partition(" ")
        if in_msgstr and keyword == "msgid":
            finish()
        if keyword.startswith("msgstr"):
            current, in_msgstr = keyword.replace("[", "_").rstrip("]"), True
        else:
            current, in_msgstr = keyword, False
        fields[current] = _unquote(rest.strip())
    if current is not None:
        finish()
    return entries


#: A PO string's inside holding only the escapes Babel writes (\\ \" \n \t \r), and those.
_SIMPLE = re.compile(r'(?:[^"\\]|\\[\\"ntr])*')
_ESCAPE = re.compile(r'\\([\\"ntr])')
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n", "t": "\t", "r": "\r"}


def _unquote(token: str) -> str:
    if len(token) >= 2 and token[0] == token[-1] == '"':
        inner = token[1:-1]
        if "\\" not in inner and '"' not in inner:
            return inner  # most strings: no escapes, nothing to evaluate
        if _SIMPLE.fullmatch(inner):
            return _ESCAPE.sub(lambda match: _ESCAPES[match[1]], inner)
    import ast

    value = ast.literal_eval(token)
    if not isinstance(value, str):
        raise ValueError(f"not a PO string: {token}")
    return value
