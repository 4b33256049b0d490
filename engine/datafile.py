"""Reading a data file (an application, an annual report, expert scores) exactly: JSON or YAML.

Numbers are read as ``Decimal`` from their written text, never through ``float``: a share written
``0.7`` must be exactly seven tenths when 第十三条 compares it with 70%. Only plain decimals are
numbers: exponents (``4.78e1``), underscores (``86_000``), ``0x``/``0b``/base 60, NaN and
Infinity are refused, as are impossible YAML dates (``2024-02-30``, ``0000-01-01``, an offset of
``+99:00``). The reader keeps such a token in place (a :class:`RefusedToken`) and the schema
refuses it with the path of its field (:func:`refuse_token`), so the message always says where.
YAML anchors and aliases, a key given twice and nesting deeper than ``MAX_DEPTH`` levels are
refused while reading.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any, Final

from gdcluster.engine.errors import InvalidInput
from gdcluster.engine.i18n import N_, Message

__all__ = [
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "RefusedToken",
    "depth",
    "load_application_file",
    "refuse_token",
]

MAX_FILE_BYTES: Final = 5 * 1024 * 1024
MAX_DEPTH: Final = 20

_PLAIN_INT = re.compile(r"[-+]?(0|[1-9][0-9]*)")


class RefusedToken:
    """A value the reader could not take as written (``4.78e1``, ``86_000``, ``2024-02-30``).

    It stays where it stood, so the schema refuses it with the path of its field; it is never
    a valid value of any field.
    """

    __slots__ = ("problem", "text")

    def __init__(self, text: str, problem: str) -> None:
        self.text = text
        self.problem = problem

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return repr(self.text)


def load_application_file(content: bytes, filename: str) -> dict[str, Any]:
    """Parse an application, report or scores file (JSON, or YAML for ``.yaml``/``.yml``)
    without losing digits.

    Returns the raw mapping; pass it to ``validate_application`` (or the report's and scores'
    validators). A name with neither suffix is read as JSON when it starts with ``{`` and as
    YAML otherwise (e.g. standard input).
    """
    if len(content) > MAX_FILE_BYTES:
        raise InvalidInput(
            Message("the file has {size} bytes; the limit is {limit} (5 MB)",
                    size=len(content), limit=MAX_FILE_BYTES),
            field=filename,
        )
    try:
        text = content.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        raise InvalidInput(
            Message("not UTF-8 text (bad byte at offset {offset}); save the file as UTF-8",
                    offset=error.start),
            field=filename,
        ) from None
    lower = filename.lower()
    as_yaml = lower.endswith((".yaml", ".yml")) or (
        not lower.endswith(".json") and not text.lstrip().startswith("{")
    )
    try:
        data = _read_yaml(text, filename) if as_yaml else _read_json(text, filename)
    except RecursionError:
        raise InvalidInput(Message("nested deeper than {depth} levels", depth=MAX_DEPTH),
                           field=filename) from None
    if not isinstance(data, dict):
        raise InvalidInput("the file must hold one mapping of fields at its top", field=filename)
    if depth(data) > MAX_DEPTH:
        raise InvalidInput(Message("nested deeper than {depth} levels", depth=MAX_DEPTH),
                           field=filename)
    return data


_EXPONENT = N_("exponent form is not accepted; write the digits out (47.8, not 4.78e1)")
_UNDERSCORE = N_("digits grouped with _ are not accepted; write them plainly (86000)")
_NOT_FINITE = N_("not a number; write a finite value")


def _json_float(text: str) -> Decimal | RefusedToken:
    if "e" in text or "E" in text:
        return RefusedToken(text, _EXPONENT)
    return Decimal(text)


def _read_json(text: str, filename: str) -> Any:
    def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result:
                raise InvalidInput(Message("key {key!r} appears twice in one object", key=key),
                                   field=filename)
            result[key] = value
        return result

    try:
        return json.loads(
            text,
            parse_float=_json_float,
            parse_constant=lambda name: RefusedToken(name, _NOT_FINITE),
            object_pairs_hook=unique_keys,
        )
    except json.JSONDecodeError as error:
        raise InvalidInput(
            Message("not valid JSON: {error} (line {line}, column {column})", error=error.msg,
                    line=error.lineno, column=error.colno),
            field=filename,
        ) from None
    except ValueError:  # an integer of more digits than Python converts
        raise InvalidInput("a number has implausibly many digits", field=filename) from None


class _YamlRefusal(Exception):
    def __init__(self, problem: str, mark: Any) -> None:
        super().__init__(problem)
        self.problem = problem
        self.line = mark.line + 1 if mark is not None else None


def _construct_float(loader: Any, node: Any) -> Decimal | RefusedToken:
    text = str(loader.construct_scalar(node))
    if text.lower().lstrip("+-") in (".inf", ".nan"):
        return RefusedToken(text, _NOT_FINITE)
    if "_" in text:
        return RefusedToken(text, _UNDERSCORE)
    if ":" in text:
        return RefusedToken(text, N_("base-60 numbers are not accepted"))
    if "e" in text.lower():
        return RefusedToken(text, _EXPONENT)
    try:
        return Decimal(text)
    except InvalidOperation:
        return RefusedToken(text, N_("not a number"))


def _construct_int(loader: Any, node: Any) -> int | RefusedToken:
    text = str(loader.construct_scalar(node))
    if "_" in text:
        return RefusedToken(text, _UNDERSCORE)
    if not _PLAIN_INT.fullmatch(text):
        return RefusedToken(
            text, N_("write whole numbers in plain decimal (no leading 0, 0x, 0b or ':'); quote "
                     "it if it is text"))
    return int(text)


def _construct_timestamp(loader: Any, node: Any) -> date | datetime | RefusedToken:
    try:
        value: date | datetime = loader.construct_yaml_timestamp(node)
    except (ValueError, OverflowError):
        return RefusedToken(str(loader.construct_scalar(node)), N_("not a real date or time"))
    return value


@cache
def _exact_loader() -> Any:
    """SafeLoader with exact numbers, no aliases, no duplicate keys and bounded nesting: made
    when a YAML file is first read, so that PyYAML loads only for YAML files."""
    import yaml

    class ExactLoader(yaml.SafeLoader):
        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self._open_containers = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                raise _YamlRefusal(
                    Message("anchors and aliases (*name) are not accepted"),
                    self.peek_event().start_mark,
                )
            opening = self.check_event(yaml.MappingStartEvent, yaml.SequenceStartEvent)
            if opening:
                self._open_containers += 1
                if self._open_containers > MAX_DEPTH:
                    raise _YamlRefusal(
                        Message("nested deeper than {depth} levels", depth=MAX_DEPTH),
                        self.peek_event().start_mark,
                    )
            try:
                return super().compose_node(parent, index)
            finally:
                if opening:
                    self._open_containers -= 1

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            self.flatten_mapping(node)
            seen: list[Any] = []
            for key_node, _value_node in node.value:
                key = self.construct_object(key_node, deep=True)
                if key in seen:
                    raise _YamlRefusal(
                        Message("key {key!r} appears twice in one mapping", key=key),
                        key_node.start_mark)
                seen.append(key)
            return super().construct_mapping(node, deep)

    ExactLoader.add_constructor("tag:yaml.org,2002:float", _construct_float)
    ExactLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
    ExactLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)
    return ExactLoader


def _read_yaml(text: str, filename: str) -> Any:
    import yaml

    try:
        return yaml.load(text, Loader=_exact_loader())
    except _YamlRefusal as refusal:
        raise InvalidInput(Message("{problem} (line {line})", problem=refusal.problem,
                                   line=refusal.line), field=filename) from None
    except yaml.YAMLError as error:
        raise InvalidInput(Message("not valid YAML: {error}", error=error),
                           field=filename) from None


def depth(value: Any) -> int:
    """Nesting depth of containers (a flat mapping is 1), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        kind = type(item)
        if kind is str or kind is int:  # most leaves: no ABC checks
            continue
        if kind is dict or isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            break
        stack.extend((child, level + 1) for child in children)
    return deepest


def refuse_token(value: Any, path: str) -> None:
    """``InvalidInput`` at ``path`` when ``value`` is a token the reader could not take."""
    if isinstance(value, RefusedToken):
        raise InvalidInput(Message("{text!r}: {problem}", text=value.text,
                                   problem=Message(value.problem)), field=path)
