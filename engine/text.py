"""The rule for text people type in: names, reasons, settings, calendar sources.

Text is stored exactly as given, and every notice renders it as data (escaped in HTML, literal
in text and .docx), so markup, template syntax and SQL in a name are harmless. What is refused
is what cannot be shown honestly or cannot be stored:

* everywhere: control characters (C0, DEL, C1) other than tab and line breaks, lone surrogates
  (bytes that were not UTF-8), the non-characters U+FFFE/U+FFFF that XML (hence .docx and the
  notice pipeline) cannot carry, and the bidirectional controls U+061C, U+200E, U+200F,
  U+202A–U+202E and U+2066–U+2069, which reorder what a reader sees: a cluster name or a reason
  could otherwise make a notice display something other than what is stored (Trojan Source).
* in one-line fields (names, industries, contacts, document titles, settings): also tabs, line
  breaks (including U+2028/U+2029) and every other invisible formatting character (Unicode
  category Cf: zero-width spaces, joiners, BOM, soft hyphen), so two names that look the same
  are the same.

Multi-line fields (reasons, evidence, details, spot-check notes) keep tabs and line breaks.
"""

from __future__ import annotations

import unicodedata

from gdcluster.engine.errors import InvalidInput
from gdcluster.engine.i18n import Message

__all__ = ["BIDI_CONTROLS", "check_text", "display_width"]

#: Characters that change the display order of the text around them.
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
_MULTI_LINE_CONTROLS = frozenset("\t\n\r")
_NOT_XML = frozenset("\ufffe\uffff")


def check_text(value: str, field: str, *, one_line: bool) -> str:
    """``value`` unchanged, or ``InvalidInput`` naming ``field`` and the first bad character."""
    # The common case, checked in C: printable text has no character of the categories Cc,
    # Cf (the bidirectional controls among them), Cs, Cn (U+FFFE, U+FFFF), Zl or Zp — nothing
    # either kind of field refuses. Chinese text is printable too.
    if value.isprintable():
        return value
    for position, character in enumerate(value, start=1):
        category = unicodedata.category(character)
        problem = None
        if character in BIDI_CONTROLS:
            problem = Message("a bidirectional control character, which reorders what readers "
                              "see")
        elif category == "Cs" or character in _NOT_XML:
            problem = Message("a character that is not text (was the input UTF-8?)")
        elif category == "Cc" and not (not one_line and character in _MULTI_LINE_CONTROLS):
            problem = (Message("a line break or tab, but this field is one line") if one_line
                       and character in _MULTI_LINE_CONTROLS else Message("a control character"))
        elif one_line and category in ("Zl", "Zp"):
            problem = Message("a line break, but this field is one line")
        elif one_line and category == "Cf":
            problem = Message("an invisible formatting character")
        if problem is not None:
            raise InvalidInput(
                Message("contains U+{code} at position {position}: {problem}",
                        code=f"{ord(character):04X}", position=position, problem=problem),
                field=field,
            )
    return value


def display_width(text: str) -> int:
    """Columns a string takes in a monospaced terminal: wide (CJK) characters count 2."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
