"""The ``gdcluster`` command line (DESIGN §11): parse, call the ``Engine``, format.

No business rule lives here. Only the standard library and click are imported at module level;
each command imports what it needs, so ``gdcluster --help`` starts fast and ``case show --json``
never loads the state machine, the scheduler, the migrations or the notice renderers.

Errors become exit codes in one place, :meth:`RootGroup.invoke`::

    0 done    1 unexpected    2 bad input, usage, not found    3 refused by the workflow
    4 permission denied       5 concurrent modification

Each command group below is one block: a new group (``notice``, ``scheduler``) is a new block
that hangs itself on ``cli``.
"""

from __future__ import annotations

import errno
import itertools
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from typing import IO, TYPE_CHECKING, Any

import click

from gdcluster.engine.i18n import N_, Message, language, localize
from gdcluster.engine.i18n import gettext as _

if TYPE_CHECKING:  # json, datetime, decimal and pathlib load when a command needs them
    from datetime import date

# ---------------------------------------------------------------------------------------------
# Plumbing: global settings, the one error handler, output


class Globals:
    """What the global options say, and the engine opened from them (once, on first use)."""

    def __init__(self, db: str | None, actor: str | None, now: str | None, as_json: bool,
                 settings_file: str | None = None) -> None:
        self.db = db
        self.requested_actor = actor
        self._authorized: set[str] = set()
        self.now = now
        self.as_json = as_json
        self.settings_file = settings_file
        self._engine: Any = None
        self._attached = False
        #: ``--now`` starts a clock that runs (the foreground scheduler) instead of a fixed one
        self.running_clock = False

    @property
    def actor(self) -> str | None:
        """``--as``, once the OS user running the command may act as it (DESIGN §8a)."""
        return self.acting_as(self.requested_actor)

    def acting_as(self, actor: str | None, trigger: str | None = None) -> str | None:
        """``actor``, checked against what this OS user is granted (``engine/grants.py``):
        ``system`` is refused, and on a real database so is an actor no grant covers; a
        refusal names ``trigger`` (default: the command)."""
        if actor is None or actor in self._authorized:
            return actor
        engine = self.engine(acts=False)
        table = None
        if not engine.simulation:  # a simulation database takes no grants from the settings
            from gdcluster.notifications.settings import read_settings_file, settings_path

            path = settings_path(self.settings_file)
            table = read_settings_file(path).get("actors") if path is not None else None
        command = trigger or click.get_current_context().info_name or "act"
        engine.authorize(_os_user(), actor, table, trigger=command.replace("-", "_"))
        self._authorized.add(actor)
        return actor

    def clock(self) -> Any:
        if self.now is None:
            return None
        from gdcluster.engine.clock import FixedClock, RunningClock, parse_instant

        start = parse_instant(self.now)
        return RunningClock(start) if self.running_clock else FixedClock(start)

    def engine(self, *, acts: bool = True) -> Any:
        """The engine; ``acts=False`` for commands that only read, which skip attaching the
        notice service (it would load the notice settings and modules for nothing)."""
        if self._engine is None:
            from gdcluster.engine.api import Engine

            self._engine = Engine.open(self.db, clock=self.clock(), acts=acts)
            click.get_current_context().find_root().call_on_close(self._engine.close)
        if acts and not self._attached:
            # acts issue their notices (DESIGN §10); loads neither Jinja nor the settings yet
            from gdcluster.notifications.notifier import attach

            attach(self._engine, self.settings_file)
            self._attached = True
            _show_notice_warnings()
        return self._engine

    def ensure_same_database(self) -> None:
        """Before reporting success: the database opened is still there (a SQLite file deleted
        or replaced meanwhile took the command's acts with it: ``DatabaseReplaced``)."""
        if self._engine is not None:
            self._engine.store.ensure_same()


def _os_user() -> str:
    """The OS user running this process, by its effective user id (not $USER, which anyone
    sets)."""
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):  # no passwd entry (a container's bare uid), or Windows
        import getpass

        return getpass.getuser()


class _Stderr:
    """``sys.stderr`` as it is when written to (click's test runner swaps it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _show_notice_warnings() -> None:
    """The notices' warnings (a notice issued on a simulation database without its contact
    details) are shown on stderr — a line, or ``{"warning": {"code", "message"}}`` with
    --json — once per process however often the CLI runs."""
    import logging

    class Format(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            message = record.getMessage()
            context = click.get_current_context(silent=True)
            if context is not None and _as_json(context):
                import json

                code = getattr(record, "code", "warning")
                return json.dumps({"warning": {"code": code, "message": message}},
                                  ensure_ascii=False)
            return _("Warning: {message}").format(message=message)

    logger = logging.getLogger("gdcluster.notifications")
    if any(getattr(handler, "_gdcluster_cli", False) for handler in logger.handlers):
        return
    handler = logging.StreamHandler(_Stderr())
    handler.setLevel(logging.WARNING)
    handler.setFormatter(Format())
    handler._gdcluster_cli = True  # type: ignore[attr-defined]
    logger.addHandler(handler)


def _terminal_columns() -> int:
    """``shutil.get_terminal_size().columns`` without importing ``shutil`` (which imports
    bz2, lzma and zlib: a tenth of ``--help``'s work, issue 5): ``COLUMNS`` if a positive
    number, else the terminal of stdout, else 80."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    try:
        lines = int(os.environ["LINES"])
    except (KeyError, ValueError):
        lines = 0
    if columns <= 0 or lines <= 0:
        try:
            size = os.get_terminal_size(sys.__stdout__.fileno())  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            size = os.terminal_size((80, 24))
        if columns <= 0:
            columns = size.columns or 80
    return columns


def _fits(text: str, width: int) -> bool:
    """Whether click's ``wrap_text`` would give ``text`` back as one line unchanged (so
    ``textwrap`` need not be imported): one line of plain spaces, within ``width``."""
    return (0 < len(text) <= width and text.isprintable() and text == text.rstrip()
            and "\b" not in text)


class TranslatedFormatter(click.HelpFormatter):
    """click's help layout with its headings in the current language. What fits on one line
    is written directly, the rest wrapped by click (``textwrap``) or, Chinese, by ``_wrap``."""

    def __init__(self, indent_increment: int = 2, width: int | None = None,
                 max_width: int | None = None) -> None:
        if width is None:
            from click import formatting

            width = formatting.FORCED_WIDTH
            if width is None:
                width = max(min(_terminal_columns(), 80 if max_width is None else max_width) - 2,
                            50)
        super().__init__(indent_increment, width, max_width)

    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        if prefix is None:
            prefix = _("Usage:")
            prefix += "" if prefix.endswith("：") else " "
        usage_prefix = f"{prefix:>{self.current_indent}}{prog} "
        room = self.width - self.current_indent  # click counts characters, as here
        if args and len(usage_prefix) + 20 <= room and _fits(usage_prefix + args, room):
            self.write(usage_prefix + args + "\n")
            return
        super().write_usage(prog, args, prefix)

    def section(self, name: str) -> Any:
        return super().section(_(name))

    def write_dl(self, rows: Any, col_max: int = 30, col_spacing: int = 2) -> None:
        """click's definition list, with Chinese text wrapped by display width (click wraps
        at spaces, which Chinese does not have)."""
        rows = list(rows)
        if language() == "en" or all(second.isascii() for _first, second in rows):
            if not self._write_dl_directly(rows, col_max, col_spacing):
                super().write_dl(rows, col_max, col_spacing)
            return
        first_col = min(max((_width(first) for first, _second in rows), default=0),
                        col_max) + col_spacing
        indent = " " * (first_col + self.current_indent)
        for first, second in rows:
            self.write(f"{'':>{self.current_indent}}{first}")
            if _width(first) <= first_col - col_spacing:
                self.write(" " * (first_col - _width(first)))
            else:
                self.write("\n" + indent)
            lines = _wrap(second, max(self.width - first_col - 2, 10)) or [""]
            self.write(lines[0] + "\n")
            for line in lines[1:]:
                self.write(indent + line + "\n")

    def _write_dl_directly(self, rows: list[Any], col_max: int, col_spacing: int) -> bool:
        """click's ``write_dl`` when every row's text fits on its line (nothing to wrap), or
        False having written nothing."""
        if not rows or any(len(row) != 2 or not row[0].isprintable() for row in rows):
            return False
        first_col = min(max(len(first) for first, _second in rows), col_max) + col_spacing
        room = max(self.width - first_col - 2, 10)
        if not all(second == "" or (_fits(second, room) and second[0] != " ")
                   for _first, second in rows):
            return False
        for first, second in rows:
            self.write(f"{'':>{self.current_indent}}{first}")
            if not second:
                self.write("\n")
                continue
            if len(first) <= first_col - col_spacing:
                self.write(" " * (first_col - len(first)))
            else:
                self.write("\n")
                self.write(" " * (first_col + self.current_indent))
            self.write(f"{second}\n")
        return True

    def write_text(self, text: str) -> None:
        if language() == "en" or text.isascii():
            indent = " " * self.current_indent
            if _fits(indent + text, self.width) and text[0] != " ":
                self.write(f"{indent}{text}\n")
            else:
                super().write_text(text)
            return
        indent = " " * self.current_indent
        for number, paragraph in enumerate(text.split("\n\n")):
            if number:
                self.write("\n")
            for line in _wrap(paragraph, max(self.width - self.current_indent, 11)):
                self.write(indent + line + "\n")

    def write_heading(self, heading: str) -> None:
        if heading.isascii():
            super().write_heading(heading)
        else:  # 选项：, with the full-width colon of Chinese text
            self.write(f"{'':>{self.current_indent}}{heading}：\n")


class TranslatedContext(click.Context):
    formatter_class = TranslatedFormatter


@contextmanager
def _translated_help(items: Iterable[Any]) -> Iterator[None]:
    """Each item's ``help`` in the current language while the help is written: the
    decorators keep the English msgids, so the catalog (``engine/locale``) can be checked
    against the commands."""
    swapped = [(item, item.help) for item in items if getattr(item, "help", None)]
    try:
        for item, text in swapped:
            item.help = _(inspect_help(text))
        yield
    finally:
        for item, text in swapped:
            item.help = text


def inspect_help(text: str) -> str:
    """The msgid of a help text: as click shows it (dedented, stripped)."""
    import inspect

    return inspect.cleandoc(text)


def _bracket_notes(text: str) -> str:
    """click's own notes after an option's help ("[default: …]", "[required]") translated."""
    head, bracket, notes = text.rpartition("  [")
    if not bracket or not notes.endswith("]"):
        return text
    parts = []
    for note in notes[:-1].split("; "):
        key, colon, value = note.partition(": ")
        parts.append(f"{_(key)}: {value}" if colon else _(note))
    return f"{head}  [{'; '.join(parts)}]"


class TranslatedCommand(click.Command):
    """A command whose help, options' help and short help are shown in the current language.
    Every command of the tree is one (``RootGroup.command_class``): new commands need nothing
    but English help and a catalog entry (``tests/catalog.py`` lists the missing ones)."""

    context_class = TranslatedContext

    def format_help_text(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with _translated_help([self]):
            super().format_help_text(ctx, formatter)

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        options = []
        with _translated_help(self.get_params(ctx)):
            for param in self.get_params(ctx):
                record = param.get_help_record(ctx)
                if record is not None and not isinstance(param, click.Argument):
                    options.append((record[0], _bracket_notes(record[1])))
        if options:
            with formatter.section("Options"):
                formatter.write_dl(options)
        if isinstance(self, click.Group):
            self.format_commands(ctx, formatter)

    def get_help_option(self, ctx: click.Context) -> click.Option | None:
        """click's --help option, made (and kept by click) with its English help, which is
        translated when shown like every help text. The msgid itself, not the standard
        library's gettext of it: that lookup (and the ``locale`` module it imports) was 2 % of
        ``--help`` (issue 5), for a domain no catalog of gdcluster's is in."""
        english = _MSGIDS.set(True)
        try:
            return super().get_help_option(ctx)
        finally:
            _MSGIDS.reset(english)

    def get_short_help_str(self, limit: int = 45) -> str:
        if self.short_help:
            return _(inspect_help(self.short_help))
        if not self.help:
            return ""
        english = inspect_help(self.help)
        text = _(english)
        if text == english:
            return super().get_short_help_str(limit)
        first = text.split("\n\n")[0].replace("\n", "")
        end = first.find("。")
        return _clip(first[:end] if end >= 0 else first, limit)


def _width(text: str) -> int:
    """Terminal columns of ``text``: wide (CJK) characters count 2."""
    if text.isascii():  # no ASCII character is wide
        return len(text)
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(character) in "WF" else 1
               for character in text)


#: punctuation that never starts a line of Chinese text (it may overhang the width instead)
_NO_LINE_START = frozenset("。，、；：？！）」』》")


def _tokens(text: str) -> list[str]:
    """``text`` as the pieces a line may break between: runs of spaces, runs of other
    characters outside U+2E80–U+FFFF (words), and each character inside it (CJK) alone. A
    loop, not the regular expression ``\\s+|[^\\s\\u2e80-\\uffff]+|.``: compiling that range
    was a tenth of a Chinese ``--help``'s instructions (issue 16)."""
    tokens: list[str] = []
    last = None
    for character in text:
        kind = 0 if character.isspace() else 2 if "\u2e80" <= character <= "\uffff" else 1
        if kind == 2 or kind != last:
            tokens.append(character)
        else:
            tokens[-1] += character
        last = kind
    return tokens


def _wrap(text: str, limit: int) -> list[str]:
    """``text`` in lines of at most ``limit`` columns: broken between words, and between any
    two Chinese characters (Chinese has no spaces)."""
    lines: list[str] = []
    line = ""
    used = 0  # _width(line), kept as the line grows
    for token in _tokens(" ".join(text.split())):
        width = _width(token)
        if line and used + (0 if token.isspace() else width) > limit \
                and token not in _NO_LINE_START:
            lines.append(line.rstrip())
            line, used = ("", 0) if token.isspace() else (token, width)
        else:
            line += token
            used += width
    if line.strip():
        lines.append(line.rstrip())
    return lines


def _clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` terminal columns (wide characters count 2), with "…"."""
    if len(text) <= limit and text.isascii():
        return text
    used = 0
    for end, character in enumerate(text):
        used += _width(character)
        if used > limit:
            return text[:max(end - 1, 0)] + "…"
    return text


class TranslatedGroup(TranslatedCommand, click.Group):
    """A command group shown in the current language; its commands and groups are too."""

    command_class = TranslatedCommand
    group_class = type


#: click's own words in the help, translated by the classes above
CLICK_WORDS = (N_("Options"), N_("Commands"), N_("default"), N_("required"),
               N_("Show this message and exit."), N_("Show the version and exit."))

#: click's modules that bind the standard library's ``gettext`` as ``_`` (and ``ngettext``)
#: when imported: their texts ("Usage:", "Missing argument", "No such option", ...) are shown
#: through the catalog while the gdcluster command runs (``tests/catalog.py`` reads them too)
CLICK_MODULES = ("core", "decorators", "exceptions", "formatting", "parser", "types", "termui",
                 "utils", "shell_completion", "_termui_impl")

#: set while ``gdcluster`` itself runs (``RootGroup.main``): click's texts go through the
#: catalog then, and through the standard library's gettext everywhere else, so a host system
#: that imports gdcluster (even this module) keeps click as it was
_RUNNING = ContextVar("gdcluster_cli_running", default=False)
#: set while click makes a text that gdcluster translates when shown (the --help option's):
#: click's ``_`` gives the msgid back
_MSGIDS = ContextVar("gdcluster_cli_msgids", default=False)


def _catalog_for_click() -> bool:
    """Whether click's texts are shown through the catalog now: inside the gdcluster command
    and not for --json (machines read the English, as with the engine's messages)."""
    if not _RUNNING.get():
        return False
    context = click.get_current_context(silent=True)
    return context is None or not _as_json(context)


def _click_gettext(message: str) -> str:
    import gettext

    if _MSGIDS.get():
        return message
    return _(message) if _catalog_for_click() else gettext.gettext(message)


def _click_ngettext(singular: str, plural: str, count: int) -> str:
    import gettext

    if _catalog_for_click():
        from gdcluster.engine.i18n import ngettext

        return ngettext(singular, plural, count)
    return gettext.ngettext(singular, plural, count)


#: click's modules that load only when used (a progress bar, shell completion): translated
#: when the command is about to use them, not imported by every command for that
CLICK_LATER = ("shell_completion", "_termui_impl")


def _translate_click(*later: str) -> None:
    """Point the ``_``/``ngettext`` of click's modules at the functions above: they ask the
    catalog only while ``_RUNNING`` is set, the standard library otherwise. The modules of
    ``CLICK_LATER`` only once loaded, or when named in ``later``."""
    import gettext
    import importlib

    for name in CLICK_MODULES:
        if name in CLICK_LATER and name not in later and f"click.{name}" not in sys.modules:
            continue
        module = importlib.import_module(f"click.{name}")
        if getattr(module, "_", None) is gettext.gettext:
            module._ = _click_gettext  # type: ignore[attr-defined]
        if getattr(module, "ngettext", None) is gettext.ngettext:
            module.ngettext = _click_ngettext  # type: ignore[attr-defined]


class Failure(click.ClickException):
    """An error as the user sees it: a line on stderr, or ``{"error": …}`` with ``--json``."""

    def __init__(self, exit_code: int, code: str, message: str, *, as_json: bool) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # click declares it per class
        self.code = code
        self.as_json = as_json

    def show(self, file: IO[Any] | None = None) -> None:
        if self.as_json:
            _write_json({"error": {"code": self.code, "message": self.message}}, err=True)
        else:
            click.echo(_("Error: {message}").format(message=self.message), err=True)


class RootGroup(TranslatedGroup):
    """The root command: turns every error into its exit code and message, click-style."""

    group_class = TranslatedGroup

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Run the command with click's own texts in the current language."""
        completing = "_GDCLUSTER_COMPLETE" in os.environ  # click's shell completion runs
        _translate_click(*(["shell_completion"] if completing else []))
        running = _RUNNING.set(True)
        try:
            return super().main(*args, **kwargs)
        finally:
            _RUNNING.reset(running)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            result = super().invoke(ctx)
            settings = ctx.find_object(Globals)
            if settings is not None:
                settings.ensure_same_database()
            return result
        except (click.exceptions.Exit, click.exceptions.Abort, Failure):
            raise
        except click.ClickException as error:
            if not _as_json(ctx):
                raise
            code = "usage" if isinstance(error, click.UsageError) else "error"
            raise Failure(error.exit_code, code, error.format_message(), as_json=True) from None
        except OSError as error:
            if error.errno == errno.EPIPE:  # `gdcluster case list | head`: click handles it
                raise
            raise _failure(ctx, error) from None
        except Exception as error:
            raise _failure(ctx, error) from None


def _failure(ctx: click.Context, error: Exception) -> Failure:
    from gdcluster.engine.errors import EngineError

    debug = os.environ.get("GDCLUSTER_DEBUG", "") not in ("", "0")
    if debug:
        import traceback

        traceback.print_exception(error, file=sys.stderr)
    if isinstance(error, EngineError):
        message = error.message if _as_json(ctx) else error.localized()
        return Failure(error.exit_code, error.code, message, as_json=_as_json(ctx))
    text = " ".join(str(error).split())
    if len(text) > 300:
        text = text[:300] + "…"
    if _as_json(ctx):
        hint = "" if debug else " (set GDCLUSTER_DEBUG=1 for the traceback)"
        return Failure(1, "unexpected", f"unexpected {type(error).__name__}: {text}{hint}",
                       as_json=True)
    hint = "" if debug else _(" (set GDCLUSTER_DEBUG=1 for the traceback)")
    return Failure(1, "unexpected", _("unexpected {kind}: {text}").format(
        kind=type(error).__name__, text=text) + hint, as_json=False)


def _as_json(ctx: click.Context) -> bool:
    settings = ctx.find_object(Globals)
    return bool(settings and settings.as_json)


def _settings() -> Globals:
    settings = click.get_current_context().find_object(Globals)
    assert settings is not None
    return settings


def _json_default(value: Any) -> Any:
    from datetime import date
    from decimal import Decimal
    from pathlib import PurePath

    from gdcluster.engine.clock import in_shanghai

    if isinstance(value, date):  # datetime too: instants in Asia/Shanghai, +08:00
        return in_shanghai(value)
    if isinstance(value, Decimal | PurePath):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _json_text(data: Any) -> str:
    import json

    return json.dumps(data, ensure_ascii=False, indent=2, default=_json_default)


def _write_json(data: Any, *, err: bool = False) -> None:
    """UTF-8 bytes whatever the terminal's encoding: machines read this."""
    click.echo((_json_text(data) + "\n").encode("utf-8"), err=err, nl=False)


def _output(data: Any, human: Callable[[], None]) -> None:
    """``--json``: the data on stdout; otherwise the human rendering. Nothing is reported
    once the database the command worked on is gone (``DatabaseReplaced`` instead)."""
    _settings().ensure_same_database()
    if _settings().as_json:
        _write_json(data)
    else:
        human()


def _set_json(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        settings = ctx.find_object(Globals)
        if settings is not None:
            settings.as_json = True


#: the one ``--json`` option of the sixty commands that take it after their name: made once
#: (an option holds no state of its own while a command runs), not sixty times at import
_JSON_OPTION = click.Option(["--json"], is_flag=True, expose_value=False, callback=_set_json,
                            help="Machine-readable output on stdout.")


def _add_option(function: Callable[..., Any], option: click.Option) -> Callable[..., Any]:
    """``option`` added to ``function`` as ``click.option`` adds the one it makes
    (``click.decorators._param_memo``)."""
    if isinstance(function, click.Command):
        function.params.append(option)
    else:
        if not hasattr(function, "__click_params__"):
            function.__click_params__ = []  # type: ignore[attr-defined]
        function.__click_params__.append(option)  # type: ignore[attr-defined]
    return function


def json_option(function: Callable[..., Any]) -> Callable[..., Any]:
    """``--json`` after the command too: ``gdcluster case show 7 --json``."""
    return _add_option(function, _JSON_OPTION)


def _is_terminal() -> bool:
    return sys.stderr.isatty()


@contextmanager
def _progress(label: str, count: Callable[[], int]) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr for long batches, only on a terminal and never with --json.

    ``count`` sizes the bar; it is asked only when a bar will be drawn.
    """
    if _settings().as_json or not _is_terminal():
        yield None
        return
    total = count()
    if not total:
        yield None
        return
    _translate_click("_termui_impl")  # the progress bar's module
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        yield bar.update


# ---------------------------------------------------------------------------------------------
# Parameter types: the shape of an argument, never a business rule


class IsoDate(click.ParamType):
    name = "date"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> date:
        from datetime import date

        if isinstance(value, date):
            return value
        from gdcluster.engine.parse import FIRST_YEAR, LAST_YEAR, is_iso_date

        text = str(value).strip()
        try:
            if not is_iso_date(text):
                raise ValueError(text)
            day = date.fromisoformat(text)
        except ValueError:
            self.fail(_("{value!r} is not a date in ISO form YYYY-MM-DD").format(value=value),
                      param, ctx)
        if not FIRST_YEAR <= day.year <= LAST_YEAR:
            self.fail(_("{value!r} is outside the years {first}–{last}").format(
                value=value, first=FIRST_YEAR, last=LAST_YEAR), param, ctx)
        return day


class EngineRange(click.IntRange):
    """A whole number inside bounds the engine defines (``gdcluster.engine.parse``), read when
    first needed, so that ``gdcluster --help`` loads nothing of the engine."""

    min_open = max_open = clamp = False

    def __init__(self, lower: str | int, upper: str) -> None:  # bounds by name, read lazily
        self._bounds = (lower, upper)

    def _bound(self, index: int) -> int:
        bound = self._bounds[index]
        if isinstance(bound, int):
            return bound
        from gdcluster.engine import parse

        return int(getattr(parse, bound))

    @property  # type: ignore[override]
    def min(self) -> int:
        return self._bound(0)

    @property  # type: ignore[override]
    def max(self) -> int:
        return self._bound(1)


class Quota(click.ParamType):
    """``CITY=MIN:MAX``, e.g. ``深圳市=3:5``."""

    name = "CITY=MIN:MAX"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, tuple[int, int]]:
        city, _equals, bounds = str(value).partition("=")
        low, _colon, high = bounds.partition(":")
        try:
            pair = (int(low), int(high))
        except ValueError:
            self.fail(_("{value!r} is not CITY=MIN:MAX (e.g. 深圳市=3:5)").format(value=value),
                      param, ctx)
        if not city.strip():
            self.fail(_("{value!r} names no city").format(value=value), param, ctx)
        return city.strip(), pair


class IdList(click.ParamType):
    """``3,5,8``: case ids separated by commas."""

    name = "ID,..."

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None
                ) -> list[int]:
        if isinstance(value, list):
            return value
        from gdcluster.engine.parse import MAX_ID

        ids: list[int] = []
        for part in str(value).split(","):
            if not part.strip():
                continue
            try:
                number = int(part)
            except ValueError:
                self.fail(_("{value!r} is not a case id").format(value=part.strip()), param,
                          ctx)
            if not 1 <= number <= MAX_ID:
                self.fail(_("{number} is not a case id (ids run from 1 to {last})").format(
                    number=number, last=MAX_ID), param, ctx)
            ids.append(number)
        if not ids:
            self.fail(_("name at least one case id"), param, ctx)
        return ids


DATE = IsoDate()
CASE_ID = EngineRange(1, "MAX_ID")  # the largest id a database stores
YEAR = EngineRange("FIRST_YEAR", "LAST_YEAR")
INPUT_FILE = click.File("rb")


class LazyPath(click.Path):
    """``click.Path`` whose name ("file", "directory", "path": the metavar of an option that
    names none) is looked up in gettext when first read, not when made: made at import, the
    lookups (with the --help option's, ``get_help_option``, and the ``locale`` module they
    import) were 2 % of ``--help`` (issue 5). The lookup is the one click's module had when
    the type was made, so the name is the same."""

    def __init__(self, **options: Any) -> None:
        from click import types

        self._lookup: Callable[[str], str] = types._
        types._ = str  # click.Path.__init__ stores the msgid; looked up when read
        try:
            super().__init__(**options)
        finally:
            types._ = self._lookup

    @property  # type: ignore[override]
    def name(self) -> str:
        if self._looked_up is None:
            self._looked_up = self._lookup(self._msgid)
        return self._looked_up

    @name.setter
    def name(self, msgid: str) -> None:
        self._msgid, self._looked_up = msgid, None

    def to_info_dict(self) -> Any:
        return {**super().to_info_dict(), "param_type": "Path"}  # as click.Path's


#: the path types of the options, made once
OUTPUT_FILE = LazyPath(dir_okay=False, writable=True)
FILE_PATH = LazyPath(dir_okay=False)


def _read_mapping(stream: IO[bytes]) -> dict[str, Any]:
    """A JSON or YAML file of fields, numbers exact (the application reader's rules)."""
    from gdcluster.engine.application import load_application_file

    return load_application_file(stream.read(), _file_name(stream))


def _file_name(stream: IO[bytes]) -> str:
    name = getattr(stream, "name", "-")
    return name if isinstance(name, str) else "-"


def _application_file(stream: IO[bytes]) -> Any:
    """An application file: a 申报表 workbook (.xlsx), JSON or YAML, validated, with the case it
    names (``gdcluster.engine.application_files``)."""
    from gdcluster.engine.application_files import read_application_file

    return read_application_file(stream.read(), _file_name(stream))


def _write_output(data: bytes, output: str | None) -> None:
    """``data`` to the file ``output`` (whole or not at all: written beside it, then moved into
    place), or to stdout when ``output`` is None or ``-``."""
    if output is None or output == "-":
        click.echo(data, nl=False)
        return
    from pathlib import Path

    from gdcluster.engine.errors import InvalidInput

    target = Path(output)
    partial = target.with_name(f".{target.name}.partial")
    try:
        partial.write_bytes(data)
        os.replace(partial, target)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise InvalidInput(Message("cannot write {output}: {cause}", output=output,
                                   cause=error.strerror or error), field="output") from None


def _report_file(output: str, fmt: str, rows: int | None, text: str) -> None:
    """After writing a file: ``--json`` gets {output, format, rows}; people get ``text`` on
    stderr (stdout stays free for pipes)."""
    data = {"output": output, "format": fmt, "rows": rows}
    if _settings().as_json:
        _output(data, lambda: None)
    else:
        _settings().ensure_same_database()
        click.echo(text, err=True)


# ---------------------------------------------------------------------------------------------
# Human formatting helpers


class Texts(dict[str, Any]):
    """A command's texts: English msgids (marked ``N_``), read in the current language."""

    def __getitem__(self, key: str) -> Any:
        value = super().__getitem__(key)
        return _(value) if isinstance(value, str) else Texts(value)


def _pad(text: Any, width: int) -> str:
    from gdcluster.engine.text import display_width

    text = "" if text is None else str(text)
    return text + " " * max(0, width - display_width(text))


def _table(rows: Iterable[Iterable[Any]]) -> None:
    """Columns aligned for a terminal (CJK characters count double); the last one runs free."""
    from gdcluster.engine.text import display_width

    text = [["" if cell is None else str(cell) for cell in row] for row in rows]
    if not text:
        return
    columns = max(len(row) for row in text)
    widths = [max((display_width(row[i]) for row in text if i < len(row)), default=0)
              for i in range(columns)]
    for row in text:
        cells = [_pad(cell, widths[i]) if i < len(row) - 1 else cell for i, cell in enumerate(row)]
        click.echo("  ".join(cells).rstrip())


def _state_label(state: str | None) -> str:
    if not state:
        return ""
    from gdcluster.states.workflow_file import state_labels  # not the whole workflow

    return state_labels().get(state, "")


def _state(state: str | None) -> str:
    label = _state_label(state)
    return f"{state}（{label}）" if label else str(state or "—")


def _trigger(trigger: str, shown: str | None = None) -> str:
    """A trigger as people read it: ``shown`` (default the code) with the workflow's Chinese
    label after it, unless in English or its rows are labelled differently (resolve, reject)."""
    shown = shown or trigger
    if language() == "en":
        return shown
    from gdcluster.states.workflow import load_workflow

    labels = {rule.label for rule in load_workflow().rules if rule.trigger == trigger}
    return f"{shown}（{labels.pop()}）" if len(labels) == 1 else shown


def _local(value: Any, *, deadline: bool = False) -> str:
    """An instant as Asia/Shanghai wall time; a deadline at midnight reads as 24:00 of the day
    before, as the measures write it (年度报告 due 31 March at 24:00)."""
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    if value is None:
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if not isinstance(value, datetime):
        return str(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    local = value.astimezone(ZoneInfo("Asia/Shanghai"))
    if deadline and (local.hour, local.minute, local.second) == (0, 0, 0):
        return f"{(local - timedelta(days=1)).date().isoformat()} 24:00"
    return local.strftime("%Y-%m-%d %H:%M")


def _unit(city: str, county: str) -> str:
    """佛山市南海区 already names its city; a unit that does not gets it added."""
    return county if county.startswith(city) else f"{city}{county}"


def _span(start: Any, end: Any) -> str:
    if start is None and end is None:
        return "—"
    return f"{start or '?'} – {end or '?'}"


def _ids(ids: Iterable[Any]) -> str:
    text = ", ".join(str(item) for item in ids)
    return text or _("none")


# ---------------------------------------------------------------------------------------------
# The root command


@click.group(cls=RootGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", metavar="URL", envvar="GDCLUSTER_DB",
              help="SQLAlchemy URL or a SQLite file path "
                   "[env GDCLUSTER_DB; default ./gdcluster.db]")
@click.option("--as", "actor", metavar="ACTOR", envvar="GDCLUSTER_ACTOR",
              help="Who acts: province, city:佛山市, county:南海区, public@姓名; add @person for "
                   "the audit trail [env GDCLUSTER_ACTOR]")
@click.option("--now", metavar="ISO", envvar="GDCLUSTER_NOW",
              help="Set the clock (simulation databases only) [env GDCLUSTER_NOW]")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output on stdout.")
@click.option("--settings", "settings_file", metavar="FILE", envvar="GDCLUSTER_SETTINGS",
              help="Notice settings (TOML: outbox, contact, SMTP, webhooks) "
                   "[env GDCLUSTER_SETTINGS; default /etc/gdcluster/gdcluster.toml if present; "
                   "never the current folder]")
@click.option("--version", is_flag=True, expose_value=False, is_eager=True,
              callback=lambda ctx, _param, value: _show_version(ctx, value),
              help="Show the version and exit.")
@click.pass_context
def cli(ctx: click.Context, db: str | None, actor: str | None, now: str | None,
        as_json: bool, settings_file: str | None) -> None:
    """广东省中小企业特色产业集群 — recognition and dynamic management workflow."""
    ctx.obj = Globals(db, actor, now, as_json, settings_file)


def _show_version(ctx: click.Context, asked: bool) -> None:
    """--version, in the current language (click's own option words it once, at import)."""
    if not asked or ctx.resilient_parsing:
        return
    from importlib.metadata import version

    click.echo(_("%(prog)s, version %(version)s") % {"prog": "gdcluster",
                                                     "version": version("gdcluster")})
    ctx.exit()


def main(argv: list[str] | None = None) -> None:
    """The ``gdcluster`` entry point."""
    cli.main(args=argv, prog_name="gdcluster")


# ---------------------------------------------------------------------------------------------
# init, demo, graph


@cli.command()
@click.option("--simulation", is_flag=True,
              help="A database whose clock may be set with --now (training, rehearsals, tests).")
@json_option
def init(simulation: bool) -> None:
    """Create the database, or upgrade its schema to the current version."""
    from gdcluster.engine.api import Engine

    settings = _settings()
    engine = Engine.init(settings.db, simulation=simulation, clock=settings.clock())
    try:
        data: dict[str, Any] = {"db": engine.url, "simulation": engine.simulation}
        if not engine.simulation:  # the first init's runner is the province (DESIGN §8a)
            granted = engine.grant_actor(_os_user(), "province", "province", first=True)
            if granted:
                data["granted"] = granted
    finally:
        engine.close()
    text = (_("initialized simulation database {db}") if data["simulation"]
            else _("initialized database {db}"))

    def human() -> None:
        click.echo(text.format(db=data["db"]))
        if "granted" in data:
            click.echo(_("OS user {user} may act as province (gdcluster actors grant|revoke|list)")
                       .format(user=data["granted"]["os_user"]))

    _output(data, human)


@cli.command()
@click.option("--out", type=LazyPath(file_okay=False),
              help="Folder for the demo's database and notices.")
def demo(out: str | None) -> None:
    """Walk a sample round from application to recognition, narrating each step."""
    from pathlib import Path

    from gdcluster.engine.demo import run

    run(Path(out) if out is not None else None, click.echo)


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot"]), default="mermaid",
              show_default=True)
@json_option
def graph(fmt: str) -> None:
    """Print the lifecycle as a Mermaid or Graphviz DOT diagram."""
    from gdcluster.states.workflow import load_workflow

    workflow = load_workflow()
    text = workflow.to_mermaid() if fmt == "mermaid" else workflow.to_dot()
    _output({"format": fmt, "text": text}, lambda: click.echo(text, nl=False))


# ---------------------------------------------------------------------------------------------
# round


@cli.group("round")
def round_group() -> None:
    """年度批次: open a round, see it, publicize and recognize its cases."""


@round_group.command("open")
@click.argument("year", type=YEAR)
@click.option("--policy", metavar="P", help="Policy file name, e.g. guangdong-2023.")
@click.option("--apply-by", type=DATE, help="Last day of applications.")
@click.option("--recommend-by", type=DATE, help="Last day of city recommendations.")
@click.option("--quota", "quotas", type=Quota(), multiple=True,
              help="A city's recommendation quota, e.g. 深圳市=3:5 "
                   "(repeatable; *=MIN:MAX for all).")
@click.option("--notice-title", metavar="T", help="Title of the round's 申报通知.")
@click.option("--notice-doc-no", metavar="NO", help="Its 发文字号, e.g. 粤工信服务函〔2024〕1号.")
@click.option("--kind", type=click.Choice(["recognition", "review"]), default="recognition",
              show_default=True,
              help="review: a 复核 round for the clusters whose validity ends by the end of "
                   "YEAR (第十六条).")
@click.option("--check-by", type=DATE, help="复核 round: last day of the cities' 初审.")
@json_option
def round_open(year: int, policy: str | None, apply_by: date | None, recommend_by: date | None,
               quotas: tuple[tuple[str, tuple[int, int]], ...], notice_title: str | None,
               notice_doc_no: str | None, kind: str, check_by: date | None) -> None:
    """Open round YEAR for applications (province); --kind review opens a 复核 round."""
    settings = _settings()
    summary = settings.engine().open_round(
        year, settings.actor, policy=policy, apply_by=apply_by, recommend_by=recommend_by,
        quotas=dict(quotas) or None, notice_title=notice_title, notice_doc_no=notice_doc_no,
        kind=kind, check_by=check_by,
    )

    def human() -> None:
        if summary.kind == "review":
            click.echo(_("复核 round {year} open: {count} cluster(s) covered ({ids}); "
                         "applications until {apply_by}, 初审 until {check_by}; 复核通知 sent")
                       .format(year=year, count=len(summary.covered),
                               ids=_ids(row["id"] for row in summary.covered),
                               apply_by=summary.apply_by, check_by=summary.check_by))
            return
        click.echo(_("round {year} open under {policy} (version {version}); applications "
                     "until {apply_by}, recommendations until {recommend_by}").format(
            year=year, policy=summary.policy, version=summary.policy_version,
            apply_by=summary.apply_by or "—", recommend_by=summary.recommend_by or "—"))

    _output(summary, human)


ROUND_EXPORT_TEXT = Texts({
    "needs_output": N_("--format xlsx writes a workbook: give -o FILE"),
    "city_needs_xlsx": N_("--city selects the cases of the workbook: use it with --format xlsx"),
    "progress": N_("round {year}: exporting"),
    "written": N_("wrote round {year} ({rows} cases: 推荐汇总表, 地市名额, 专家评分) to {output}"),
})


@round_group.command("show")
@click.argument("year", type=YEAR)
@click.option("--format", "fmt", type=click.Choice(["text", "xlsx"]), default="text",
              show_default=True,
              help="xlsx: a workbook with the 推荐汇总表 by city, the quotas and every expert's "
                   "scores (with -o).")
@click.option("-o", "--output", type=OUTPUT_FILE,
              help="The file to write (with --format xlsx).")
@click.option("--city", metavar="C", help="With --format xlsx: only this city's cases.")
@click.option("--kind", type=click.Choice(["recognition", "review"]),
              help="Which round of YEAR, when it holds a recognition round and a 复核 round.")
@json_option
def round_show(year: int, fmt: str, output: str | None, city: str | None,
               kind: str | None) -> None:
    """Round YEAR: deadlines, rubric, cases by state and city, cities below their minimum."""
    if fmt == "xlsx":
        if kind == "review":
            raise click.UsageError(_("--format xlsx exports a recognition round"))
        _round_export(year, output, city)
        return
    if city is not None:
        raise click.UsageError(ROUND_EXPORT_TEXT["city_needs_xlsx"])
    summary = _settings().engine(acts=False).round_summary(year, kind=kind)

    def human() -> None:
        if summary.kind == "review":
            _review_round_lines(summary)
            return
        click.echo(_("round {year} — policy {policy} (version {version})").format(
            year=year, policy=summary.policy, version=summary.policy_version))
        _table([
            ["  " + _("applications until"), summary.apply_by or "—"],
            ["  " + _("recommendations until"), summary.recommend_by or "—"],
            ["  " + _("notice"), " ".join(filter(None, [summary.notice_doc_no,
                                                         summary.notice_title])) or "—"],
            ["  " + _("valid from"), summary.valid_from or "—"],
            ["  " + _("closed"), _local(summary.closed_at) if summary.closed_at else "—"],
        ])
        click.echo(_("rubric (at least {count} experts):").format(count=summary.min_experts))
        _table([["  " + item.id, item.name, _("{weight} points").format(weight=item.weight)]
                for item in summary.rubric])
        counts = summary.counts
        click.echo(_("cases: {count}").format(count=counts.total))
        _table([["  " + state, _state_label(state), count]
                for state, count in sorted(counts.by_state.items())])
        if counts.by_city:
            click.echo(_("by city:"))
            _table([["  " + city, ", ".join(f"{state} {count}"
                                            for state, count in sorted(states.items()))]
                    for city, states in sorted(counts.by_city.items())])
        below = summary.cities_below_minimum
        click.echo(_("cities below their minimum quota: {cities}").format(
            cities=", ".join(below) if below else _("none")))

    _output(summary, human)


def _review_round_lines(summary: Any) -> None:
    """A 复核 round: its deadlines and the cases it covers."""
    click.echo(_("round {year} — 复核 round (kind review), policy {policy}").format(
        year=summary.year, policy=summary.policy))
    _table([["  " + _("applications until"), summary.apply_by or "—"],
            ["  " + _("初审 until"), summary.check_by or "—"]])
    click.echo(_("covered: {count}").format(count=summary.counts.total))
    _table([[f"  {row['id']}", row["name"], row["county"], _state(row["state"]),
             _("valid until {day}").format(day=row["valid_until"]),
             _("applied") if row["applied"] else _("not applied")]
            for row in summary.covered])


@round_group.command("list")
@json_option
def round_list() -> None:
    """Every round by year: recognition rounds and 复核 rounds (a year may hold one of each)."""
    rows = _settings().engine(acts=False).rounds()

    def human() -> None:
        if not rows:
            click.echo(_("no round"))
            return
        _table([[row.year, _("复核") if row.kind == "review" else _("认定"), row.kind,
                 row.policy, _("opened {at}").format(at=_local(row.opened_at)),
                 _("closed {at}").format(at=_local(row.closed_at)) if row.closed_at else "",
                 (_("{count} covered") if row.kind == "review" else _("{count} filed"))
                 .format(count=row.cases)] for row in rows])

    _output(rows, human)


@round_group.command("publicize")
@click.argument("year", type=YEAR)
@click.option("--top", type=click.IntRange(min=1), metavar="N", help="The N best-scored cases.")
@click.option("--min-score", metavar="S", help="Every case scoring at least S.")
@click.option("--select", "select_ids", type=IdList(), help="Exactly these case ids.")
@click.option("--start", type=DATE,
              help="First day of publicity (default: today; never before today).")
@click.option("--doc-no", metavar="NO", help="发文字号 of the 公示 notice.")
@json_option
def round_publicize(year: int, top: int | None, min_score: str | None,
                    select_ids: list[int] | None, start: date | None, doc_no: str | None) -> None:
    """Publicize the chosen expert-reviewed cases of YEAR; the others are 未入选 (not
    publicized)."""
    settings = _settings()
    engine = settings.engine()
    with _progress(_("round {year}: publicizing").format(year=year),
                   lambda: _count_in_state(engine, year, "expert_reviewed")) as progress:
        result = engine.publicize_round(
            year, settings.actor, top=top, min_score=min_score, select_ids=select_ids,
            start=start, doc_no=doc_no, progress=progress,
        )

    def human() -> None:
        click.echo(_("publicized: {ids}").format(ids=_ids(result.publicized)))
        click.echo(_("not selected (未入选): {ids}").format(ids=_ids(result.not_selected)))
        click.echo(_("publicity: {start} – {end}").format(start=result.publicity_start,
                                                           end=result.publicity_end))

    _output(result, human)


@round_group.command("recognize")
@click.argument("year", type=YEAR)
@click.option("--doc-no", required=True, metavar="NO",
              help="发文字号 of the 名单通告, e.g. 粤工信服务函〔2024〕95号.")
@click.option("--doc-date", type=DATE,
              help="Its 成文日期 (default: today; after the close of publicity, not after "
                   "today).")
@click.option("--valid-from", type=DATE,
              help="Start of validity, if later than the 成文日期 (default: the 成文日期).")
@json_option
def round_recognize(year: int, doc_no: str, doc_date: date | None,
                    valid_from: date | None) -> None:
    """Publish the 名单通告 of YEAR: close each publicity whose window has ended, recognize
    the cases whose publicity has closed, then close the round's leftovers (province).

    Run again when more publicity has closed since: a supplementary 通告, with its own
    --doc-no, lists those cases only; with nobody to recognize, nothing is written.
    """
    settings = _settings()
    engine = settings.engine()
    with _progress(_("round {year}: recognizing").format(year=year),
                   lambda: _count_in_state(engine, year, "publicized")
                   + _count_in_state(engine, year, "publicity_closed")) as progress:
        result = engine.recognize_round(year, settings.actor, doc_no=doc_no, doc_date=doc_date,
                                        valid_from=valid_from, progress=progress)

    def human() -> None:
        if result.publicity_closed:
            click.echo(_("publicity closed: {ids}").format(ids=_ids(result.publicity_closed)))
        if result.recognized:
            kind = _("supplementary 通告") if result.supplementary else _("名单通告")
            click.echo(_("recognized: {ids} ({kind} {doc_no} of {doc_date}; valid {start} – "
                         "{end})").format(ids=_ids(result.recognized), kind=kind,
                                          doc_no=result.doc_no, doc_date=result.doc_date,
                                          start=result.valid_from, end=result.valid_until))
        else:
            click.echo(_("nobody to recognize: nothing written"), err=True)
        for case_id, why in result.held.items():
            click.echo(_("held: case {id}: {why}").format(id=case_id, why=localize(why)))
        if result.closed is not None:
            _closed_lines(result.closed)
        elif result.not_closed:
            click.echo(_("round not closed: {why}").format(why=localize(result.not_closed)))

    _output(result, human)


def _closed_lines(closed: Any) -> None:
    for kind, ids in closed.closed.items():
        if ids:
            click.echo(_("not selected (未入选, {kind}): {ids}").format(kind=kind, ids=_ids(ids)))
    if closed.closed_round:
        click.echo(_("round {year} closed").format(year=closed.year))


@round_group.command("close")
@click.argument("year", type=YEAR)
@json_option
def round_close(year: int) -> None:
    """Close round YEAR: its cases left before publicity become 未入选 (province).

    `round recognize` runs it too. Refused while a window of the round still runs.
    """
    settings = _settings()
    engine = settings.engine()
    with _progress(_("round {year}: closing").format(year=year), lambda: 0) as progress:
        result = engine.close_round(year, settings.actor, progress=progress)

    def human() -> None:
        _closed_lines(result)
        if not result.closed_round and not any(result.closed.values()):
            click.echo(_("round {year} was closed on {at}: nothing to do").format(
                year=year, at=_local(result.closed_at)),
                       err=True)

    _output(result, human)


@round_group.command("site-visit")
@click.argument("year", type=YEAR)
@click.option("--date", "day", type=DATE, required=True, help="The day of the 现场考察.")
@click.option("--note", required=True, metavar="T", help="Who visited what.")
@json_option
def round_site_visit(year: int, day: date, note: str) -> None:
    """Record a 现场考察 of YEAR's applicants (province); later notices name the step."""
    settings = _settings()
    payload = settings.engine().record_site_visit(year, settings.actor, day=day, note=note)
    _output(payload, lambda: click.echo(_("现场考察 of round {year} on {date} recorded").format(
        year=year, date=payload["date"])))


def _round_export(year: int, output: str | None, city: str | None) -> None:
    from gdcluster.engine.exports import export_round, round_case_count

    text = ROUND_EXPORT_TEXT
    if output is None or output == "-":
        raise click.UsageError(text["needs_output"])
    engine = _settings().engine(acts=False)
    with _progress(text["progress"].format(year=year),
                   lambda: round_case_count(engine, year, city)) as progress:
        counted: list[int] = []

        def step(count: int) -> None:
            counted.append(count)
            if progress is not None:
                progress(count)

        data = export_round(engine, year, city=city, progress=step)
    _write_output(data, output)
    _report_file(output, "xlsx", sum(counted),
                 text["written"].format(year=year, rows=sum(counted), output=output))


def _count_in_state(engine: Any, year: int, state: str) -> int:
    """How many cases a batch will touch, for the progress bar only (none without a
    recognition round: the batch itself says why)."""
    from gdcluster.engine.errors import NotFound

    try:
        summary = engine.round_summary(year, kind="recognition")
    except NotFound:
        return 0
    return int(summary.counts.by_state.get(state, 0))


# ---------------------------------------------------------------------------------------------
# case


@cli.group("case")
def case_group() -> None:
    """Cases (集群申报): file, advance, inspect."""


case_id_argument = click.argument("case_id", metavar="ID", type=CASE_ID)


#: made once, as ``_JSON_OPTION``, for the acts that take it
_EXPECTED_VERSION = click.Option(
    ["--expected-version"], type=click.IntRange(min=1), metavar="V",
    help="Refuse (exit 5) if the case is no longer at version V.",
)


def act_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """``--expected-version`` and ``--json``, shared by every act on one case (listed last)."""
    return _add_option(json_option(function), _EXPECTED_VERSION)


def _fire(case_id: int, trigger: str, expected_version: int | None, *,
          actor: str | None = None, note: Callable[[Any], str] | None = None,
          **payload: Any) -> Any:
    """Fire ``trigger`` and report the case's new state (``note`` adds a line for people)."""
    settings = _settings()
    who = settings.acting_as(actor or settings.requested_actor, trigger)
    files = _evidence()
    if files:
        payload[_EVIDENCE] = files
    view = settings.engine().fire(case_id, trigger, who, expected_version=expected_version,
                                  **payload)

    def human() -> None:
        click.echo(_("case {id} {name}: {trigger} → {state} (version {version})").format(
            id=view.id, name=view.name, trigger=_trigger(trigger, trigger.replace("_", "-")),
            state=_state(view.state), version=view.version))
        _show_evidence(files)
        if note is not None:
            click.echo(note(view))

    _output(view.to_dict(), human)
    return view


def _simple_act(trigger: str, help_text: str, *, reason: bool = False) -> None:
    """A command that fires ``trigger`` with nothing but the case id (and maybe a reason)."""
    name = trigger.replace("_", "-")

    def command(case_id: int, expected_version: int | None, **extra: Any) -> None:
        payload = {key: value for key, value in extra.items() if value is not None}
        _fire(case_id, trigger, expected_version, **payload)

    command.__doc__ = help_text
    command = act_options(command)
    if reason:
        command = click.option("--reason", metavar="T", help="Why (for the record).")(command)
    case_group.command(name)(case_id_argument(command))


@case_group.command("create")
@click.option("--round", "round_year", type=YEAR,
              help="Round year (else the file's: 基本信息 or the JSON case block).")
@click.option("--name", metavar="N", help="Cluster name (else the file's).")
@click.option("--county", metavar="UNIT", help="County-level unit applying (else the file's).")
@click.option("--industry", metavar="I", help="Leading industry (else the file's).")
@click.option("--data", "data_file", type=INPUT_FILE, required=True, metavar="FILE",
              help="Application data: a 申报表 workbook (.xlsx; see `template application`), "
                   "JSON or YAML ('-' for stdin).")
@json_option
def case_create(round_year: int | None, name: str | None, county: str | None,
                industry: str | None, data_file: IO[bytes]) -> None:
    """File a new application (county); prints the new case id.

    A workbook's 基本信息 sheet (or a JSON/YAML file's case block) names the round, cluster,
    unit and industry; options given as well must agree with it.
    """
    from gdcluster.engine.application_files import create_from_file, merge_header

    settings = _settings()
    file = merge_header(_application_file(data_file), round=round_year, name=name,
                        county=county, industry=industry)
    case_id = create_from_file(settings.engine(), file, settings.actor)
    _output({"id": case_id}, lambda: click.echo(case_id))


@case_group.command("update")
@case_id_argument
@click.option("--data", "data_file", type=INPUT_FILE, required=True, metavar="FILE",
              help="The whole application data: a 申报表 workbook (.xlsx), JSON or YAML "
                   "('-' for stdin).")
@act_options
def case_update(case_id: int, expected_version: int | None, data_file: IO[bytes]) -> None:
    """Replace a draft's application data (county)."""
    from gdcluster.engine.application_files import update_from_file

    settings = _settings()
    view = update_from_file(settings.engine(), case_id, _application_file(data_file),
                            settings.actor, expected_version=expected_version)

    def human() -> None:
        click.echo(_("case {id} {name}: {trigger} → {state} (version {version})").format(
            id=view.id, name=view.name, trigger="update", state=_state(view.state),
            version=view.version))

    _output(view.to_dict(), human)


IMPORT_TEXT = Texts({
    "progress": N_("importing"),
    "status": {"created": N_("created"), "exists": N_("exists"), "failed": N_("FAILED"),
               "skipped": N_("skipped")},
    "case": N_("case {id}"),
    "summary": N_("{created} created, {exists} already filed, {failed} failed, {skipped} skipped"),
    "nothing": N_("no application file found"),
})


@case_group.command("import")
@click.argument("paths", nargs=-1, required=True, metavar="PATH...",
                type=LazyPath(exists=False))
@json_option
def case_import(paths: tuple[str, ...]) -> None:
    """File many applications: 申报表 workbooks, or JSON/YAML files with a case block.

    Each PATH is a file or a folder (its .xlsx, .json, .yaml and .yml files, by name). Each
    file is its own act: a bad one is reported with the sheet and cell (or field) of its first
    error and writes nothing, and the others are filed. A file matching a case already filed
    (same round, unit and name) is reported, not filed again. Exit 0 when no file failed, else
    the exit code of the first that did (2 for bad input).
    """
    from gdcluster.engine.application_files import (
        import_applications,
        import_exit_code,
        import_sources,
    )

    text = IMPORT_TEXT
    settings = _settings()
    engine = settings.engine()
    with _progress(text["progress"], lambda: len(import_sources(paths))) as progress:
        outcomes = import_applications(engine, paths, settings.actor, progress=progress)
    code = import_exit_code(outcomes)
    if not outcomes:
        code = 2
    counts = {status: sum(1 for outcome in outcomes if outcome.status == status)
              for status in text["status"]}

    def human() -> None:
        if not outcomes:
            click.echo(text["nothing"], err=True)
            return
        _table([outcome.file, text["status"][outcome.status],
                text["case"].format(id=outcome.case_id) if outcome.case_id is not None
                else "", localize(outcome.message or "")] for outcome in outcomes)
        click.echo(text["summary"].format(**counts))

    _output({"exit_code": code, "counts": counts,
             "files": [outcome.to_dict() for outcome in outcomes]}, human)
    if code:
        click.get_current_context().exit(code)


EXPORT_TEXT = Texts({
    "binary": N_("--format xlsx writes a workbook: give -o FILE"),
    "json_needs_output": N_("--json prints a report of the file written: give -o FILE"),
    "written": N_("wrote case {id} ({fmt}) to {output}"),
})


@case_group.command("export")
@case_id_argument
@click.option("--format", "fmt", type=click.Choice(["json", "yaml", "xlsx"]), default="json",
              show_default=True,
              help="xlsx: the 申报表 layout, to edit and import again.")
@click.option("-o", "--output", type=OUTPUT_FILE,
              help="Write to this file (default: stdout; required for xlsx).")
@json_option
def case_export(case_id: int, fmt: str, output: str | None) -> None:
    """Write a case's application out, with its case block (round, name, county, industry)."""
    from gdcluster.engine.application_files import export_case

    text = EXPORT_TEXT
    to_stdout = output is None or output == "-"
    if fmt == "xlsx" and to_stdout:
        raise click.UsageError(text["binary"])
    if _settings().as_json and to_stdout and fmt != "json":
        raise click.UsageError(text["json_needs_output"])
    data = export_case(_settings().engine(acts=False), case_id, fmt)
    _write_output(data, output)
    if not to_stdout:
        assert output is not None
        _report_file(output, fmt, None, text["written"].format(id=case_id, fmt=fmt,
                                                               output=output))


ATTACH_TEXT = Texts({
    "attached": N_("case {id}: attached {name} ({kind}, {size}) sha256 {sha256}"),
    "none": N_("case {id}: no attachment"),
    "written": N_("wrote {name} ({size}, sha256 {sha256} verified) to {output}"),
    "carried": N_("  attached {name} ({kind}, {size}) sha256 {sha256}"),
})


def _attachment_bytes(file: str, field: str) -> bytes:
    """The bytes of ``file``, refused (``InvalidInput`` naming ``field``) when it cannot be
    read or is larger than an attachment may be (read no further than the limit)."""
    from gdcluster.engine.errors import InvalidInput
    from gdcluster.states.attachments import load_attachment_rules

    limit = load_attachment_rules().max_size
    try:
        with open(file, "rb") as stream:
            content = stream.read(limit + 1)
    except OSError as error:
        raise InvalidInput(Message("cannot read {path}: {error}", path=file,
                                   error=error.strerror or str(error)), field=field) from None
    if len(content) > limit:
        raise InvalidInput(Message("{path} is larger than the limit of {limit:,} bytes",
                                   path=file, limit=limit), field=field)
    return content


#: the payload key of the files an act carries (``engine/attachments.py``: EVIDENCE)
_EVIDENCE = "attachments"


def evidence_options(kind: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--attach FILE`` (repeatable) and ``--attach-kind KIND`` for an act that carries
    evidence: the files are stored with the act, in its transaction, their SHA-256 in its
    audit row (nothing is stored when the act is refused). ``kind``: the attachments' kind
    when --attach-kind is not given."""

    def keep(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        ctx.meta.setdefault("gdcluster.evidence", {"kind": kind})[param.name] = value

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        function = click.option(
            "--attach-kind", "kinds", multiple=True, metavar="KIND", expose_value=False,
            callback=keep, help="The kind of the --attach files (证明材料, 陈述申辩, 异议证据, "
                                "复核材料 or 其他): once for all of them, or once for each in "
                                "order; default: the act's own kind.")(function)
        return click.option(
            "--attach", "files", multiple=True, metavar="FILE", expose_value=False,
            callback=keep, type=FILE_PATH,
            help="A file the act carries (repeatable): stored with the act, its SHA-256 in "
                 "the act's audit row.")(function)

    return decorate


def _evidence() -> list[dict[str, Any]]:
    """The files given with --attach, paired with their kinds, as the act's payload lists
    them."""
    from pathlib import Path

    given = click.get_current_context().meta.get("gdcluster.evidence", {})
    files, kinds = list(given.get("files") or ()), list(given.get("kinds") or ())
    if not files:
        if kinds:
            raise click.UsageError(_("--attach-kind needs --attach FILE"))
        return []
    if len(kinds) not in (0, 1, len(files)):
        raise click.UsageError(_("give --attach-kind once, or once for each --attach"))
    kinds = kinds * len(files) if len(kinds) == 1 else kinds or [given["kind"]] * len(files)
    return [{"content": _attachment_bytes(file, f"{_EVIDENCE}[{index}].file"),
             "name": Path(file).name, "kind": kind}
            for index, (file, kind) in enumerate(zip(files, kinds, strict=True))]


def _show_evidence(files: list[dict[str, Any]]) -> None:
    import hashlib

    for item in files:
        click.echo(ATTACH_TEXT["carried"].format(
            name=item["name"], kind=item["kind"], size=_size(len(item["content"])),
            sha256=hashlib.sha256(item["content"]).hexdigest()))


@case_group.command("attach")
@case_id_argument
@click.argument("file", metavar="FILE", type=FILE_PATH)
@click.option("--kind", required=True, metavar="KIND",
              help="证明材料, 陈述申辩, 异议证据, 复核材料 or 其他.")
@click.option("--note", metavar="T", help="What the file shows.")
@act_options
def case_attach(case_id: int, file: str, kind: str, note: str | None,
                expected_version: int | None) -> None:
    """Attach a file (pdf, jpg, png, docx, xlsx, ofd; by content) to a case on its own act.

    The county, its city or the province, in any state a case can still move from; the
    file's SHA-256 is written into the act's audit row."""
    from pathlib import Path

    text = ATTACH_TEXT
    content = _attachment_bytes(file, "file")
    settings = _settings()
    row = settings.engine().attach(case_id, settings.actor, content, name=Path(file).name,
                                   kind=kind, note=note, expected_version=expected_version)
    _output(row, lambda: click.echo(text["attached"].format(
        id=case_id, name=row["name"], kind=row["kind"], size=_size(row["size"]),
        sha256=row["sha256"])))


@case_group.command("attachments")
@case_id_argument
@json_option
def case_attachments(case_id: int) -> None:
    """A case's attachments: hash, kind, size, type, name, who attached them and when."""
    rows = _settings().engine(acts=False).attachments(case_id)

    def human() -> None:
        if not rows:
            click.echo(ATTACH_TEXT["none"].format(id=case_id))
        _table([row["sha256"][:12], row["kind"], _size(row["size"]), row["media_type"],
                row["name"], row["actor"], _local(row["attached_at"]), row["note"] or ""]
               for row in rows)

    _output(rows, human)


@case_group.command("attachment")
@case_id_argument
@click.argument("sha256", metavar="SHA256")
@click.option("-o", "--output", required=True, type=OUTPUT_FILE,
              help="The file to write ('-' for stdout).")
@json_option
def case_attachment(case_id: int, sha256: str, output: str) -> None:
    """Write one attachment out (SHA256: its hash, or its first 8+ hex digits), after checking
    its bytes against the hash."""
    row, content = _settings().engine(acts=False).attachment(case_id, sha256)
    _write_output(content, output)
    if output != "-":
        _report_file(output, row["media_type"], None, ATTACH_TEXT["written"].format(
            name=row["name"], size=_size(row["size"]), sha256=row["sha256"], output=output))


_simple_act("submit", "Submit a draft (county); the round must accept applications.")
_simple_act("withdraw", "Withdraw an application before expert review (county).", reason=True)
_simple_act("recommend", "Recommend a reviewed case to the province (city), within quota.")
_simple_act("expert_review", "Close expert scoring and compute the final score (province).")
_simple_act("close_publicity", "Close a case's publicity after its window, with no objection "
                               "open (province; the scheduler does it at 24:00).")
_simple_act("reopen", "Reopen a rejected or 未入选 case to the state it came from, while its "
                      "round runs (province; 自我纠错).", reason=True)


@case_group.command("recognize", hidden=True)
@case_id_argument
@act_options
def case_recognize(case_id: int, expected_version: int | None) -> None:
    """Refused: a case is recognized by the 名单通告 only (`round recognize`)."""
    _fire(case_id, "recognize", expected_version)
# ---------------------------------------------------------------------------- 复核 (第十六条)
@case_group.command("apply-review")
@case_id_argument
@click.option("--data", "data_file", type=INPUT_FILE, required=True, metavar="FILE",
              help="The 复核申报 (a 复核申报表 workbook from `template review`, JSON or YAML): "
                   "the criteria data of the three years before the 复核 round's year and "
                   "goal_results for every plan goal.")
@evidence_options("复核材料")
@act_options
def case_apply_review(case_id: int, expected_version: int | None, data_file: IO[bytes]) -> None:
    """Apply for 复核 in the 复核 round covering the case (county)."""
    from gdcluster.engine.errors import InvalidInput
    from gdcluster.engine.workbook_reader import is_workbook

    content, name = data_file.read(), _file_name(data_file)

    if not is_workbook(content, name):
        from gdcluster.engine.application import load_application_file

        _fire(case_id, "apply_review", expected_version,
              data=load_application_file(content, name), note=_applied_note)
        return
    from gdcluster.engine.workbook import relocate
    from gdcluster.engine.workbook_reader import read_review_workbook

    header, data, places = read_review_workbook(content, name)
    covering = _settings().engine(acts=False).get(case_id).review_round
    if header.round_year is not None and covering is not None and header.round_year != covering:
        raise InvalidInput(Message("the 复核申报表 is for {given}, but the 复核 round covering "
                                   "the case is {year}", given=header.round_year,
                                   year=covering), field=places.get("round", "round"))
    try:
        _fire(case_id, "apply_review", expected_version, data=data, note=_applied_note)
    except InvalidInput as error:
        raise relocate(error, places) from None


def _applied_note(view: Any) -> str:
    return _("复核 round {year}: the city records its 初审 next").format(year=view.review_round)


@case_group.command("review-check")
@case_id_argument
@click.option("--pass/--fail", "passed", default=None, help="复核初审 passed, or not.")
@click.option("--opinion", "--reason", "opinion", required=True, metavar="TEXT",
              help="The 初审 opinion.")
@act_options
def case_review_check(case_id: int, expected_version: int | None, passed: bool | None,
                      opinion: str) -> None:
    """Record the city's 复核初审 opinion on a case under review (city)."""
    if passed is None:
        raise click.UsageError(_("give --pass or --fail"))
    _fire(case_id, "review_check", expected_version, passed=passed, opinion=opinion)


@case_group.command("renew")
@case_id_argument
@click.option("--reason", metavar="T", help="The decision's note (for the record).")
@act_options
def case_renew(case_id: int, expected_version: int | None, reason: str | None) -> None:
    """Pass the 复核 (province): the 考核 is recorded, validity continues contiguously."""
    _fire(case_id, "renew", expected_version, reason=reason,
          note=lambda view: _("validity: {span}").format(
              span=_span(view.valid_from, view.valid_until)))


@case_group.command("fail-review")
@case_id_argument
@click.option("--reason", required=True, metavar="T",
              help="Why the 复核 is not passed (the 告知书 states it as the facts).")
@click.option("--due", type=DATE,
              help="The 陈述申辩 deadline, if later than the policy's working days.")
@act_options
def case_fail_review(case_id: int, expected_version: int | None, reason: str,
                     due: date | None) -> None:
    """Fail the 复核 (province): the 拟撤销 procedure on ground 18.1 opens (not a revocation)."""
    _fire(case_id, "fail_review", expected_version, reason=reason, due=due,
          note=lambda view: _("拟撤销 18.1: 陈述申辩 until {day} (24:00)").format(
              day=view.hearing_due))


def _review_lines(status: dict[str, Any], *, full: bool) -> None:
    """The plan goals (target, latest actual) and, with ``full``, the 复核 and its 考核."""
    def value(point: Any) -> str:
        return f"{point['value']} ({point['year']})" if point else "—"

    if status["plan"]:
        click.echo(_("plan goals (target · latest actual):"))
        _table([["  " + goal["indicator"], goal["unit"] or "",
                 _("target {value}").format(value=value(goal["target"])),
                 _("actual {value}").format(
                     value=f"{goal['latest_actual']} ({goal['latest_year']})"
                     if goal["latest_actual"] is not None else "—")]
                for goal in status["plan"]])
    if not full:
        return
    review, assessment = status["review"], status["assessment"]
    click.echo(_("复核 round: {year}").format(year=status["review_round"] or "—"))
    if review and review.get("check"):
        check = review["check"]
        click.echo(_("  初审 ({by}): {verdict} — {opinion}").format(
            by=check["by"], verdict=_("通过 pass") if check["passed"] else _("不通过 FAIL"),
            opinion=check["opinion"]))
    if assessment is None:
        click.echo(_("考核: no 复核申报 filed"))
        return
    click.echo(_("考核 of the plan goals ({met} of {count} met):").format(
        met=assessment["goals_met"], count=len(assessment["goals"])))
    _table([[_("indicator"), _("unit"), _("baseline"), _("target"), _("actual"), _("met")]]
           + [[goal["indicator"], goal["unit"] or "", value(goal["baseline"]),
               value(goal["target"]), goal["actual"] or "—",
               {True: _("met"), False: _("NOT met"), None: "—"}[goal["met"]]]
              for goal in assessment["goals"]])
    criteria = assessment["criteria"]
    failed = [item for item in criteria["items"] if item["result"] == "fail"]
    click.echo(_("criteria re-check on the 复核 data ({year}): {verdict}").format(
        year=assessment["year"],
        verdict=_("every automatic criterion is met") if criteria["passed"] else
        _("FAILED: {items}").format(items="; ".join(
            f"{item['article']} {item['item']}（{item['value']}）" for item in failed))))


@case_group.command("review")
@case_id_argument
@click.option("--pass", "passed", is_flag=True, help="资格初审通过 (every automatic criterion).")
@click.option("--return", "returned", is_flag=True, help="退回补正: back to the county.")
@click.option("--reject", "rejected", is_flag=True, help="初审不通过: reject.")
@click.option("--reason", metavar="T", help="Why (needed with --return and --reject).")
@click.option("--spot-check", metavar="T", help="Note of the 实地抽查 (with --pass).")
@click.option("--due", type=DATE,
              help="With --return: the correction deadline (default: the policy's working "
                   "days; never after the round's recommendation deadline).")
@act_options
def case_review(case_id: int, expected_version: int | None, passed: bool, returned: bool,
                rejected: bool, reason: str | None, spot_check: str | None,
                due: date | None) -> None:
    """资格初审 of a submitted case (city): --pass, --return or --reject."""
    chosen = [flag for flag, on in (("--pass", passed), ("--return", returned),
                                    ("--reject", rejected)) if on]
    if len(chosen) != 1:
        raise click.UsageError(_("give exactly one of --pass, --return, --reject"))
    if not passed and not (reason or "").strip():
        raise click.UsageError(_("{flag} needs --reason").format(flag=chosen[0]))
    if due is not None and not returned:
        raise click.UsageError(_("--due is the correction deadline of --return"))
    if passed:
        _fire(case_id, "review", expected_version, spot_check=spot_check)
    elif returned:
        _fire(case_id, "return", expected_version, reason=reason, due=due,
              note=lambda view: _("correction deadline: {due} (24:00)").format(
                  due=view.correction_due))
    else:
        _fire(case_id, "reject", expected_version, reason=reason)


@case_group.command("score")
@case_id_argument
@click.option("--expert", required=True, metavar="NAME",
              help="The expert's name (spaces around it and full-width forms do not count).")
@click.option("--scores", "scores_file", type=INPUT_FILE, required=True, metavar="FILE",
              help="JSON or YAML mapping rubric id → points.")
@click.option("--replace", is_flag=True,
              help="Correct the scores this expert recorded before (until expert-review); "
                   "the old ones stay in the audit trail.")
@act_options
def case_score(case_id: int, expected_version: int | None, expert: str,
               scores_file: IO[bytes], replace: bool) -> None:
    """Record one expert's rubric scores, or correct them with --replace (province)."""
    extra = {"replace": True} if replace else {}
    _fire(case_id, "score", expected_version, expert=expert, scores=_read_mapping(scores_file),
          **extra)


@case_group.command("object")
@case_id_argument
@click.option("--name", required=True, metavar="N", help="Real name of the objector.")
@click.option("--contact", required=True, metavar="C", help="Telephone or address.")
@click.option("--evidence", required=True, metavar="T", help="Facts and evidence.")
@click.option("--unit", metavar="U", help="The objector's unit, if any.")
@evidence_options("异议证据")
@act_options
def case_object(case_id: int, expected_version: int | None, name: str, contact: str,
                evidence: str, unit: str | None) -> None:
    """File a real-name objection during publicity (anyone; acts as public@NAME by default)."""
    actor = _settings().requested_actor
    if actor is None:  # acting as public@NAME: a bad --name is reported as --name, not --as
        from gdcluster.engine.parse import PERSON_LIMIT, clean_text

        clean_text(name, "name", limit=PERSON_LIMIT, one_line=True)
        actor = f"public@{name}"
    _fire(case_id, "object", expected_version, actor=actor, name=name, contact=contact,
          evidence=evidence, unit=unit, note=_objection_filed)


def _objection_filed(view: Any) -> str:
    newest = max(row["id"] for row in view.objections)
    return _("objection {number} filed (gdcluster case resolve {id} {number} …)").format(
        number=newest, id=view.id)


@case_group.command("resolve")
@case_id_argument
@click.argument("objection", type=click.IntRange(min=1))
@click.option("--uphold", is_flag=True, help="The objection stands: the case is rejected.")
@click.option("--dismiss", is_flag=True, help="The objection does not stand.")
@click.option("--reason", required=True, metavar="T", help="The finding.")
@evidence_options("证明材料")
@act_options
def case_resolve(case_id: int, expected_version: int | None, objection: int, uphold: bool,
                 dismiss: bool, reason: str) -> None:
    """Decide objection OBJECTION of case ID (province)."""
    if uphold == dismiss:
        raise click.UsageError(_("give exactly one of --uphold, --dismiss"))
    _fire(case_id, "resolve", expected_version, objection=objection,
          when="uphold" if uphold else "dismiss", reason=reason)


@case_group.command("report")
@case_id_argument
@click.option("--year", type=YEAR, required=True, help="The year reported on.")
@click.option("--data", "data_file", type=INPUT_FILE, required=True, metavar="FILE",
              help="The annual report, JSON or YAML.")
@evidence_options("证明材料")
@act_options
def case_report(case_id: int, expected_version: int | None, year: int,
                data_file: IO[bytes]) -> None:
    """File the annual report (年度报告) for YEAR (county or its city)."""
    _fire(case_id, "report", expected_version, year=year, data=_read_mapping(data_file))


@case_group.command("change")
@case_id_argument
@click.option("--kind", required=True,
              type=click.Choice(["leading_industry", "spatial_scope", "management_body"]))
@click.option("--detail", required=True, metavar="T", help="What changed.")
@evidence_options("证明材料")
@act_options
def case_change(case_id: int, expected_version: int | None, kind: str, detail: str) -> None:
    """Report a major change (重大变动报备) of a recognized cluster (county)."""
    _fire(case_id, "change", expected_version, kind=kind, detail=detail)


# ---- 第十八条: the revocation procedure (拟撤销告知 → 陈述申辩 → 撤销决定 or 维持; 恢复认定)
@case_group.command("propose-revocation")
@case_id_argument
@click.option("--reason-code", required=True, metavar="18.N", help="第十八条 ground, 18.1–18.5.")
@click.option("--facts", required=True, metavar="T", help="The facts found (拟撤销告知书).")
@click.option("--due", default=None, metavar="D",
              help="The 陈述申辩 deadline (default: the policy's working days; never earlier).")
@evidence_options("证明材料")
@act_options
def case_propose_revocation(case_id: int, expected_version: int | None, reason_code: str,
                            facts: str, due: str | None) -> None:
    """Propose revoking a recognition (拟撤销告知, province): opens the 陈述申辩 period."""
    _fire(case_id, "propose_revocation", expected_version, reason_code=reason_code, facts=facts,
          note=_hearing_note, **({"due": due} if due else {}))


def _hearing_note(view: Any) -> str:
    return _("陈述申辩 until 24:00 of {day}; then `gdcluster case revoke {id}` or `gdcluster "
             "case maintain {id}`").format(day=view.hearing_due, id=view.id)


@case_group.command("state")
@case_id_argument
@click.option("--text", required=True, metavar="T", help="The statement (陈述申辩).")
@evidence_options("陈述申辩")
@act_options
def case_state(case_id: int, expected_version: int | None, text: str) -> None:
    """State the cluster's case against a proposed revocation (陈述申辩, county or its city)."""
    _fire(case_id, "state", expected_version, text=text)


@case_group.command("maintain")
@case_id_argument
@click.option("--reason", required=True, metavar="T", help="Why the recognition stands.")
@evidence_options("证明材料")
@act_options
def case_maintain(case_id: int, expected_version: int | None, reason: str) -> None:
    """Maintain the recognition (维持认定, province): the procedure ends, the case returns."""
    _fire(case_id, "maintain", expected_version, reason=reason)


@case_group.command("revoke")
@case_id_argument
@click.option("--reason", default=None, metavar="T",
              help="The decision's reasons (required when a statement was received).")
@click.option("--doc-no", default=None, metavar="NO", help="The decision's 文号.")
@evidence_options("证明材料")
@act_options
def case_revoke(case_id: int, expected_version: int | None, reason: str | None,
                doc_no: str | None) -> None:
    """Decide a proposed revocation: revoke (撤销决定, province), after the 陈述申辩 period or
    once a statement is in."""
    payload = {key: value for key, value in (("reason", reason), ("doc_no", doc_no)) if value}
    _fire(case_id, "revoke", expected_version, **payload)


@case_group.command("reinstate")
@case_id_argument
@click.option("--reason", required=True, metavar="T", help="Why the revocation is undone.")
@click.option("--reference", "--ref", "reference", required=True, metavar="T",
              help="复议决定书 or 判决书 number, or 自我纠错.")
@evidence_options("证明材料")
@act_options
def case_reinstate(case_id: int, expected_version: int | None, reason: str,
                   reference: str) -> None:
    """Undo a revocation (恢复认定, province): back to the state before the procedure."""
    _fire(case_id, "reinstate", expected_version, reason=reason, reference=reference)
# ---- end of the revocation procedure


@case_group.command("reject")
@case_id_argument
@click.option("--reason", required=True, metavar="T", help="Why.")
@act_options
def case_reject(case_id: int, expected_version: int | None, reason: str) -> None:
    """Reject a case before recognition (city before recommendation, then province)."""
    _fire(case_id, "reject", expected_version, reason=reason)


SHOW_TEXT = Texts({
    "figures": N_("application (近三年 {window}):"),
    "criteria": N_("第十三条: {verdict} (pass {pass}, fail {fail}, expert {expert})"),
    "passed": N_("every automatic criterion is met"),
    "failed": N_("FAILED"),
    "failed_item": N_("  not met: {article} {item}: {value} ({rule})"),
    "scores": N_("expert scores ({count}):"),
    "total": N_("total {total}"),
    "notices": N_("notices issued:"),
    "attachments": N_("attachments:"),
    "more_deadlines": N_("  … {count} more (reminders, later years, past ones: --json lists all)"),
})

#: How many pending deadlines `case show` prints (the next ones).
SHOW_DEADLINES = 4

#: The application's key figures as `case show` prints them: field, label, how to show it
#: (series: the 近三年 values; share: a percentage; count: how many entries; else as is).
KEY_FIGURES = (
    ("output", "集群产值（亿元）", "series"),
    ("sme_output_share", "中小企业产值占比", "share"),
    ("leading_industry_share", "主导产业产值占比", "share"),
    ("champion_enterprises", "龙头企业（家）", "count"),
    ("quality_smes", "优质中小企业（家）", "count"),
    ("sme_rd_expense", "中小企业研发经费（亿元）", "series"),
    ("invention_patents", "有效发明专利（件）", "series"),
    ("employees", "从业人员（人）", "value"),
    ("industrial_internet_rate", "工业互联网普及率", "share"),
    ("co2_intensity", "二氧化碳排放强度", "series"),
)


def _figure(value: Any, how: str, window: list[int]) -> str:
    from decimal import Decimal

    if value is None or value == "" or value == [] or value == {}:
        return "—"
    if how == "series" and isinstance(value, dict):
        return " / ".join(f"{year}: {value[year]}" for year in window if year in value) \
            or "—"
    if how == "share" and isinstance(value, Decimal):
        return f"{(value * 100).normalize():f}%"
    if how == "count" and isinstance(value, list):
        return str(len(value))
    return str(value)


@case_group.command("show")
@case_id_argument
@json_option
def case_show(case_id: int) -> None:
    """One case: state, dates, key figures, 第十三条 in short, expert scores, deadlines,
    objections, notices, attachments, plan goals (--json: all of it, the application whole)."""
    engine = _settings().engine(acts=False)
    file = engine.case_file(case_id)
    view = file.case
    text = SHOW_TEXT

    def human() -> None:
        click.echo(_("case {id}  {name}").format(id=view.id, name=view.name))
        _table([
            ["  " + _("state"), _("{state}  version {version}").format(
                state=_state(view.state), version=view.version)],
            ["  " + _("round"), _("{round}  policy {policy} (version {version})").format(
                round=view.round, policy=view.policy, version=view.policy_version)],
            ["  " + _("unit"), _unit(view.city, view.county)],
            ["  " + _("industry"), view.industry],
            ["  " + _("score"), view.score or "—"],
            ["  " + _("publicity"), _span(view.publicity_start, view.publicity_end)],
            ["  " + _("validity"), _span(view.valid_from, view.valid_until)
             + (_(" (ended; under 复核)") if review["validity_ended"]
                and view.state == "under_review" else "")],
            *([["  " + _("correction due"), f"{view.correction_due} 24:00"]]
              if view.correction_due else []),
            *([["  " + _("came from"), _state(view.previous_state)]]
              if view.previous_state else []),
            ["  " + _("reports"), _ids(view.reports) if view.reports else "—"],
        ])
        criteria = file.criteria
        window = [int(year) for year in criteria["window"]]
        click.echo(text["figures"].format(
            window=f"{window[0]}–{window[-1]}" if window else "—"))
        _table([["  " + label, _figure(file.application.get(key), how, window)]
                for key, label, how in KEY_FIGURES])
        click.echo(text["criteria"].format(
            verdict=text["passed"] if criteria["passed"] else text["failed"],
            **criteria["counts"]))
        for item in criteria["failed"]:
            click.echo(text["failed_item"].format(**item))
        if file.scores:
            click.echo(text["scores"].format(count=len(file.scores)))
            _table([["  " + row.expert,
                     " ".join(f"{key} {value}" for key, value in row.points.items()),
                     text["total"].format(total=row.total)] for row in file.scores])
        if view.deadlines:
            # one screen: the next pending deadlines that ask for something, not reminders
            shown = [row for row in view.deadlines if row["status"] == "pending"
                     and not row["kind"].endswith("_reminder")][:SHOW_DEADLINES]
            click.echo(_("deadlines:"))
            _table([["  " + row["kind"], _local(row["due_at"], deadline=True), row["status"]]
                    for row in shown])
            if len(view.deadlines) > len(shown):
                click.echo(text["more_deadlines"].format(count=len(view.deadlines) - len(shown)))
        if view.objections:
            click.echo(_("objections:"))
            _table([[f"  {row['id']}", row["status"], row["name"], row.get("unit") or "",
                     _local(row.get("filed_at"))] for row in view.objections])
        if file.notices:
            click.echo(text["notices"])
            issued: dict[tuple[Any, ...], list[str]] = {}  # one line per notice, all formats
            for row in file.notices:
                issued.setdefault((_local(row["created_at"]), row["kind"], row["doc_no"] or "",
                                   row["title"]), []).append(row["format"])
            _table([["  " + when, kind, ",".join(formats), doc_no, title]
                    for (when, kind, doc_no, title), formats in issued.items()])
        if file.attachments:
            click.echo(text["attachments"])
            _table([["  " + row["sha256"][:12], row["kind"], _size(row["size"]),
                     row["name"], row.get("note") or ""] for row in file.attachments])
        if view.procedure is not None:
            _show_procedure(view.procedure)
        _review_lines(review, full=False)

    review = file.review  # the plan goals: target, latest actual
    _output({**file.to_dict(), "plan": review["plan"]}, human)


def _size(size: int) -> str:
    """A file size as people read it (KB/MB, 1024-based)."""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024 / 1024:.1f} MB"


def _show_procedure(procedure: dict[str, Any]) -> None:
    """The 拟撤销 procedure of ``case show``: ground, facts, hearing, statements, status."""
    cured = procedure["cured"]
    click.echo(_("revocation procedure: {status}").format(status=localize(procedure["status"])))
    _table([
        ["  " + _("ground"), f"{procedure['reason_code']} {procedure['article']} "
                             f"“{procedure['ground']}”"],
        ["  " + _("facts"), procedure["facts"]],
        ["  " + _("hearing until"), f"{procedure['hearing_due']} 24:00"],
        *([["  " + _("cured"), _("the missing report(s) {years} have been filed since").format(
            years=", ".join(map(str, procedure["filed_years"])))]]
          if cured else []),
        *[["  " + _("statement {number}").format(number=index),
           f"{_local(row['at'])} {row['actor']}"
           f"{_(' (late)') if row['late'] else ''}: {row['text']}"]
          for index, row in enumerate(procedure["statements"], start=1)],
    ])


@case_group.command("history")
@case_id_argument
@json_option
def case_history(case_id: int) -> None:
    """The audit trail of one case, oldest first."""
    rows = _settings().engine(acts=False).history(case_id)

    def human() -> None:
        _table([[row["seq"], _local(row["at"]), _trigger(row["trigger"]),
                 f"{row['from_state'] or '—'} → {row['to_state'] or '—'}", row["actor"],
                 row.get("reason") or ""] for row in rows])

    _output(rows, human)


RESULT_LABELS = {"pass": N_("通过 pass"), "fail": N_("不通过 FAIL"), "expert": N_("专家评审")}


@case_group.command("check")
@case_id_argument
@click.option("--review", "review", is_flag=True,
              help="The 复核 instead: the 考核 of each plan goal and the criteria re-check on "
                   "the 复核申报.")
@json_option
def case_check(case_id: int, review: bool) -> None:
    """第十三条 criteria, item by item: the rule, the value found, the verdict."""
    if review:
        status = _settings().engine(acts=False).review_status(case_id)
        _output(status, lambda: _review_lines(status, full=True))
        return
    report = _settings().engine(acts=False).check(case_id).to_dict()

    def human() -> None:
        _check_window(report)
        _table([[_("article"), _("item"), _("result"), _("value"), _("rule")]]
               + [[item["article"], item["item"], _(RESULT_LABELS.get(item["result"],
                                                                      item["result"])),
                   item["value"], item["rule"]] for item in report["items"]])
        _check_incidents(report)
        _check_plan(report)
        failed = sum(1 for item in report["items"] if item["result"] == "fail")
        method = f" (年均增速: {report['method']})" if report.get("method") else ""
        click.echo(_("passed: every automatic criterion is met") + method if report["passed"]
                   else _("FAILED: {count} automatic criterion/criteria not met").format(
                       count=failed) + method)

    _output(report, human)


SERIES_LABELS = {"output": N_("产值 output"), "sme_rd_expense": N_("研发经费 sme_rd_expense"),
                 "invention_patents": N_("有效发明专利 invention_patents"),
                 "co2_intensity": N_("二氧化碳排放强度 co2_intensity")}


def _check_window(report: dict[str, Any]) -> None:
    """The "近三年" window and the years given that it leaves out."""
    window = report["window"]
    unused = report["years_not_used"]
    not_used = "; ".join(f"{_(SERIES_LABELS.get(series, series))} "
                         f"{', '.join(map(str, years))}" for series, years in unused.items())
    click.echo(_("近三年: {first}–{last} (the 3 years before the round year {round}; growth, "
                 "output and CO2 use only these); years not used: {unused}").format(
        first=window[0], last=window[-1], round=report["round"], unused=not_used or _("none")))


def _check_incidents(report: dict[str, Any]) -> None:
    """第十三条第（一）项: each declared incident, whether it counts and why."""
    findings = report["incidents"]
    click.echo(_("incidents (第十三条第（一）项, counted from {since}): {declared}").format(
        since=report["incidents_since"],
        declared=_("none declared") if not findings
        else _("{count} declared").format(count=len(findings))))
    for finding in findings:
        mark = [_("grade {grade}").format(grade=finding["grade"])] if finding["grade"] else []
        if finding["major"] is not None:
            mark.append(_("major: {answer}").format(
                answer=_("yes") if finding["major"] else _("no")))
        detail = f" ({', '.join(mark)})" if mark else ""
        verdict = _("COUNTS") if finding["counts"] else _("does not count")
        description = f" — {finding['description']}" if finding["description"] else ""
        click.echo(f"  {finding['year']} {finding['kind']}{detail}: {verdict}: "
                   f"{finding['reason']}{description}")


def _check_plan(report: dict[str, Any]) -> None:
    """第十三条第（九）项: the plan's period and which goals are measurable."""
    plan = report["plan"]
    if plan is None:
        click.echo(_("plan (第十三条第（九）项): none given"))
        return
    starts = _(" or ").join(map(str, plan["allowed_starts"]))
    verdict = _("ok") if plan["period_ok"] else _("NOT met")
    period = (_("period {period} (must start in {starts}): {verdict}").format(
        period=plan["period"], starts=starts, verdict=verdict) if plan["period"]
        else _("no period (must start in {starts})").format(starts=starts))
    click.echo(_("plan (第十三条第（九）项): {period}; {measurable} of {count} goal(s) measurable "
                 "(indicator, unit, baseline, target)").format(
        period=period, measurable=plan["measurable_goals"], count=len(plan["goals"])))
    for goal in plan["goals"]:
        lacking = "" if goal["measurable"] else _(" — lacks {fields}").format(
            fields="、".join(goal["lacking"]))
        click.echo(f"  {_('measurable') if goal['measurable'] else _('not measurable')}: "
                   f"{goal['goal']}{lacking}")


@case_group.command("list")
@click.option("--state", metavar="S",
              help="e.g. city_reviewed, city-reviewed or 已通过资格初审.")
@click.option("--city", metavar="C", help="e.g. 佛山市.")
@click.option("--round", "round_year", type=YEAR, help="Round year.")
@click.option("--county", metavar="UNIT", help="e.g. 佛山市南海区 or 南海区.")
@click.option("--industry", metavar="I", help="Leading industry, exactly.")
@click.option("--name", metavar="TEXT", help="Cluster names containing TEXT.")
@click.option("--due-before", type=DATE, metavar="D",
              help="A pending deadline due by 24:00 of D (overdue ones included).")
@click.option("--valid-until-before", type=DATE, metavar="D",
              help="Validity ending on or before D.")
@click.option("--valid-until-after", type=DATE, metavar="D",
              help="Validity ending on or after D.")
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="At most N cases.")
@click.option("--offset", type=click.IntRange(min=0), default=0, metavar="N",
              help="Skip the first N cases.")
@click.option("--format", "fmt", type=click.Choice(["text", "csv", "xlsx"]), default="text",
              show_default=True,
              help="csv or xlsx: a spreadsheet with Chinese headers (xlsx needs -o).")
@click.option("-o", "--output", type=OUTPUT_FILE,
              help="The file to write (with --format csv or xlsx; csv defaults to stdout).")
@json_option
def case_list(fmt: str, output: str | None, **filters: Any) -> None:
    """Cases in id order, streamed; every filter given must hold."""
    views = _settings().engine(acts=False).list_cases(**filters)
    if fmt != "text":
        _list_export(views, fmt, output)
        return
    first = next(views, None)  # raises bad filters before anything is printed
    if _settings().as_json:
        if first is None:
            click.echo("[]")
            return
        parts = [b"[\n", _indent(first)]
        for view in views:
            parts += (b",\n", _indent(view))
            if len(parts) >= 1000:  # written in blocks, not flushed case by case
                click.echo(b"".join(parts), nl=False)
                parts.clear()
        parts.append(b"\n]\n")
        click.echo(b"".join(parts), nl=False)
        return
    if first is None:
        click.echo(_("no cases"), err=True)
        return
    state_width, unit_width = _list_widths()
    for item in itertools.chain([first], views):
        click.echo(f"{item.id:>6}  {_pad(_state(item.state), state_width)}  {item.round}  "
                   f"{_pad(_unit(item.city, item.county), unit_width)}  {item.name}")


def _list_widths() -> tuple[int, int]:
    """The display widths of `case list`'s state and unit columns: the widest state of the
    workflow and the widest unit of the region table, so that a streamed list lines up
    without being read whole first."""
    from gdcluster.engine.text import display_width
    from gdcluster.states.regions import load_regions
    from gdcluster.states.workflow import load_workflow

    states = max(display_width(_state(name)) for name in load_workflow().state_names)
    units = max(display_width(_unit(unit.city, unit.name)) for unit in load_regions().units)
    return states, units


LIST_EXPORT_TEXT = Texts({
    "binary": N_("--format xlsx writes a workbook: give -o FILE"),
    "json_needs_output": N_("--json prints a report of the file written: give -o FILE"),
    "progress": N_("exporting"),
    "written": N_("wrote {rows} cases to {output}"),
})


def _list_export(views: Iterator[Any], fmt: str, output: str | None) -> None:
    from gdcluster.engine.exports import export_cases

    text = LIST_EXPORT_TEXT
    to_stdout = output is None or output == "-"
    if fmt == "xlsx" and to_stdout:
        raise click.UsageError(text["binary"])
    if _settings().as_json and to_stdout:
        raise click.UsageError(text["json_needs_output"])
    cases = list(views)  # the filters are checked, and the rows read, before anything is written
    with _progress(text["progress"], lambda: len(cases)) as progress:
        data = export_cases(cases, fmt, progress)
    _write_output(data, output)
    if not to_stdout:
        assert output is not None
        _report_file(output, fmt, len(cases), text["written"].format(rows=len(cases),
                                                                     output=output))


def _indent(view: Any) -> bytes:
    """The view as an element of ``case list --json``'s array: its JSON, two-space indented,
    every line indented by two more."""
    data = view.to_dict()
    if data and all(type(value) in _SCALARS or (type(value) in _EMPTIABLE and not value)
                    for value in data.values()):
        # one line per key: the same text made by the C encoder in one call (a separator
        # that starts each next line), unless a character that splitlines() breaks on and
        # JSON leaves unescaped (U+0085, U+2028, U+2029) asks for the general path
        flat = _flat_encoder().encode(data)
        if "\x85" not in flat and "\u2028" not in flat and "\u2029" not in flat:
            return ("  {\n    " + flat[1:-1] + "\n  }").encode("utf-8")
    text = _json_text(data)
    return "\n".join("  " + line for line in text.splitlines()).encode("utf-8")


_SCALARS = frozenset({str, int, float, bool, type(None)})
_EMPTIABLE = frozenset({list, dict})


@cache
def _flat_encoder() -> Any:
    """Made when ``case list --json`` first needs it: ``--help`` imports no ``json``."""
    import json

    return json.JSONEncoder(ensure_ascii=False, separators=(",\n    ", ": "))


# ---------------------------------------------------------------------------------------------
# todo


TODO_TEXT = Texts({
    "acts": N_("waiting for my act ({count}):"),
    "objections": N_("objections to resolve ({count}):"),
    "deadlines": N_("deadlines due within {within} days ({count}, overdue first):"),
    "awaiting": N_("deadlines passed, a decision awaited ({count}):"),
    "overdue": N_("OVERDUE"),
    "objection": N_("objection {id}"),
    "nothing": N_("nothing waits for {actor}"),
    "round": N_("round {year}"),
    "review_round": N_("复核 round {year}"),
})


def _todo_command(line: Any) -> str:
    """The command that does a waiting act: the case's own, else its round's batch."""
    if line.command:
        return f"gdcluster {line.command}"
    for trigger in line.triggers:
        name = trigger.replace("_", "-")
        if name in case_group.commands:
            return f"gdcluster case {name} {line.case_id}"
        if name in round_group.commands:
            return f"gdcluster round {name} {line.round}"
    return ""


@cli.command("todo")
@click.option("--within", type=click.IntRange(min=0, max=3660), default=30, show_default=True,
              metavar="N", help="Deadlines due in the next N days (overdue ones always).")
@click.option("--city", metavar="C", help="Only this city's cases (province).")
@click.option("--county", metavar="UNIT", help="Only this unit's cases (province, city).")
@json_option
def todo(within: int, city: str | None, county: str | None) -> None:
    """What waits for me (--as): cases awaiting my act, objections, deadlines, decisions."""
    settings = _settings()
    listing = settings.engine(acts=False).todo(settings.actor, within=within, city=city,
                                               county=county)
    text = TODO_TEXT

    def case_cells(line: Any) -> list[str]:
        if line.case_id is None:
            label = text["review_round" if line.round_kind == "review" else "round"]
            return ["", label.format(year=line.round)]
        return [f"  {line.case_id}", f"{line.name}（{_unit(line.city, line.county)}）"]

    def human() -> None:
        sections = [listing.acts, listing.objections, listing.deadlines, listing.awaiting]
        if not any(sections):
            click.echo(text["nothing"].format(actor=listing.actor))
            return
        if listing.acts:
            click.echo(text["acts"].format(count=len(listing.acts)))
            _table([*case_cells(line), _state_label(line.state), line.what,
                    _todo_command(line)] for line in listing.acts)
        if listing.objections:
            click.echo(text["objections"].format(count=len(listing.objections)))
            _table([*case_cells(line), text["objection"].format(id=line.objection),
                    _local(line.due_at), f"gdcluster {line.command}"]
                   for line in listing.objections)
        if listing.deadlines:
            click.echo(text["deadlines"].format(within=listing.within,
                                                count=len(listing.deadlines)))
            _table([*case_cells(line), _local(line.due_at, deadline=True),
                    text["overdue"] if line.overdue else "", line.what]
                   for line in listing.deadlines)
        if listing.awaiting:
            click.echo(text["awaiting"].format(count=len(listing.awaiting)))
            _table([*case_cells(line), _local(line.due_at, deadline=True), line.what]
                   for line in listing.awaiting)

    _output(listing.to_dict(), human)


# ---------------------------------------------------------------------------------------------
# template


@cli.group("template")
def template_group() -> None:
    """Blank forms to fill in: the 申报表 and 复核申报表 workbooks."""


TEMPLATE_TEXT = Texts({
    "written": N_("wrote the 申报表 of round {round} (近三年 {first}–{last}, policy {policy}) to "
               "{output}"),
    "review": N_("wrote the 复核申报表 of the 复核 round {round} (近三年 {first}–{last}, {goals} "
              "plan goal(s)) to {output}"),
})


@template_group.command("application")
@click.option("--round", "round_year", type=YEAR,
              help="The round it is for (default: the current year, by the clock).")
@click.option("--policy", metavar="P", help="Policy file name (default: guangdong-2023).")
@click.option("-o", "--output", required=True, type=OUTPUT_FILE,
              help="The workbook to write, e.g. 申报表.xlsx.")
@json_option
def template_application(round_year: int | None, policy: str | None, output: str) -> None:
    """Write a blank 申报表 workbook: a sheet per part, the round's 近三年 as columns, units,
    drop-down lists, and a note per field citing its article of 第十三条.

    Fill it in and file it with `case create --data FILE.xlsx` or `case import FOLDER`.
    """
    from gdcluster.engine.application_files import policy_named, template
    from gdcluster.engine.workbook import window

    if round_year is None:
        from gdcluster.engine.clock import SystemClock, local_date

        clock = _settings().clock() or SystemClock()
        round_year = local_date(clock.now()).year
    chosen = policy_named(policy)
    data = template(round_year, chosen.name)
    _write_output(data, output)
    years = window(round_year, chosen)
    report = {"output": output, "round": round_year, "window": years, "policy": chosen.name}
    text = TEMPLATE_TEXT["written"].format(round=round_year, first=years[0], last=years[-1],
                                           policy=chosen.name, output=output)
    if _settings().as_json:
        _write_json(report)
    else:
        click.echo(text, err=True)


@template_group.command("review")
@click.option("--case", "case_id", type=int, metavar="ID",
              help="The case it is for: its name, county, industry and plan goals filled in, "
                   "for the 复核 round covering it.")
@click.option("--round", "round_year", type=YEAR,
              help="The 复核 round's year (default: the case's 复核 round, else the current "
                   "year).")
@click.option("--policy", metavar="P", help="Policy file name (default: the case's, else "
                                            "guangdong-2023).")
@click.option("-o", "--output", required=True, type=OUTPUT_FILE,
              help="The workbook to write, e.g. 复核申报表.xlsx.")
@json_option
def template_review(case_id: int | None, round_year: int | None, policy: str | None,
                    output: str) -> None:
    """Write a 复核申报表 workbook: the 申报表 of the 复核 round's year (its 近三年) and a sheet
    规划目标完成情况 for each plan goal's result (第十六条).

    Fill it in and file it with `case apply-review ID --data FILE.xlsx`.
    """
    from gdcluster.engine.application_files import policy_named
    from gdcluster.engine.workbook import CaseHeader, window
    from gdcluster.engine.workbook_writer import review_workbook

    goals: list[str] = []
    header = None
    if case_id is not None:
        from gdcluster.engine.review_views import case_plan

        engine = _settings().engine(acts=False)
        view = engine.get(case_id)
        round_year = round_year or view.review_round
        policy = policy or view.policy
        with engine.store.read() as session:
            from gdcluster.engine.models import Case

            plan = case_plan(session.get(Case, case_id), session) or {}
        goals = [goal["indicator"] for goal in plan.get("goals", []) if goal.get("indicator")]
    if round_year is None:
        from gdcluster.engine.clock import SystemClock, local_date

        clock = _settings().clock() or SystemClock()
        round_year = local_date(clock.now()).year
    if case_id is not None:
        header = CaseHeader(round_year=round_year, name=view.name, county=view.county,
                            industry=view.industry)
    chosen = policy_named(policy)
    _write_output(review_workbook({}, review_year=round_year, policy=chosen, header=header,
                                  goals=goals), output)
    years = window(round_year, chosen)
    report = {"output": output, "round": round_year, "window": years, "policy": chosen.name,
              "goals": goals}
    text = TEMPLATE_TEXT["review"].format(round=round_year, first=years[0], last=years[-1],
                                          goals=len(goals), output=output)
    if _settings().as_json:
        _write_json(report)
    else:
        click.echo(text, err=True)


# ---------------------------------------------------------------------------------------------
# policy


@cli.group("policy")
def policy_group() -> None:
    """Policies (states/policies): their own validity (第二十条) and its extensions."""


@policy_group.command("list")
@json_option
def policy_list() -> None:
    """Each policy: version, effective dates with any extension, in force today?"""
    rows = _settings().engine(acts=False).policies()

    def human() -> None:
        _table([[_("name"), _("version"), _("effective"), _("extended"),
                 _("in force today")]] + [
            [row.name, row.version, _span(row.effective_from, row.effective_until),
             f"{row.extended_until} ({row.extension_source})" if row.extended_until else "—",
             _("yes") if row.in_force else _("no")] for row in rows])

    _output(rows, human)


@policy_group.command("extend")
@click.argument("name", metavar="NAME")
@click.option("--until", type=DATE, required=True, help="The new last day in force.")
@click.option("--source", required=True, metavar="NO",
              help="发文字号 of the document extending it, e.g. 粤工信服务函〔2025〕9号.")
@json_option
def policy_extend(name: str, until: date, source: str) -> None:
    """Extend policy NAME's own validity to UNTIL (province; an audited act)."""
    settings = _settings()
    payload = settings.engine().extend_policy(name, settings.actor, until=until, source=source)
    _output(payload, lambda: click.echo(
        _("policy {name} in force until {until} ({source}; was {previous})").format(
            name=name, until=payload["until"], source=payload["source"],
            previous=payload["previous_until"])))


# ---------------------------------------------------------------------------------------------
# calendar


@cli.group("calendar")
def calendar_group() -> None:
    """工作日 working-day calendar."""


@calendar_group.command("workdays")
@click.argument("start", type=DATE)
@click.argument("n", type=click.IntRange(1, 366))
@json_option
def calendar_workdays(start: date, n: int) -> None:
    """The N-th working day counting START as day 1 (a publicity of N days ends then)."""
    end = _settings().engine(acts=False).workdays(start, n)
    _output({"start": start.isoformat(), "n": n, "end": end.isoformat()},
            lambda: click.echo(end.isoformat()))


@calendar_group.command("import")
@click.argument("file", type=INPUT_FILE)
@json_option
def calendar_import(file: IO[bytes]) -> None:
    """Load a year's holiday arrangement (YAML or TOML; see README) (province)."""
    settings = _settings()
    years = settings.engine().import_calendar(file.read(), _file_name(file), settings.actor)
    _output({"years": years}, lambda: click.echo(_("imported working-day calendar for {years}")
                                                 .format(years=", ".join(map(str, years)))))


# ---------------------------------------------------------------------------------------------
# actors: which OS user may act as whom (DESIGN §8a)


@cli.group("actors")
def actors_group() -> None:
    """Which actors each OS user may act as on a real database (province; each change audited)."""


@actors_group.command("grant")
@click.argument("os_user")
@click.argument("actor")
@json_option
def actors_grant(os_user: str, actor: str) -> None:
    """Let OS_USER act as ACTOR (e.g. 'city:佛山市@张三', 'city:佛山市', 'county:*')."""
    _change_grant("grant_actor", os_user, actor, N_("OS user {user} may act as {actor}"))


@actors_group.command("revoke")
@click.argument("os_user")
@click.argument("actor")
@json_option
def actors_revoke(os_user: str, actor: str) -> None:
    """Take back OS_USER's grant of ACTOR, as it was granted."""
    _change_grant("revoke_actor", os_user, actor,
                  N_("OS user {user} may no longer act as {actor}"))


def _change_grant(method: str, os_user: str, actor: str, says: str) -> None:
    settings = _settings()
    engine = settings.engine(acts=False)
    payload = getattr(engine, method)(os_user, actor, settings.actor)
    _output(payload, lambda: click.echo(_(says).format(user=payload["os_user"],
                                                       actor=payload["actor"])))


@actors_group.command("list")
@json_option
def actors_list() -> None:
    """The grants in the database (those of the settings' [actors] table are in that file)."""
    settings = _settings()
    rows = settings.engine(acts=False).actor_grants(settings.actor)

    def human() -> None:
        if not rows:
            click.echo(_("no actor granted in the database: nobody is bound by it"), err=True)
        _table([row["os_user"], row["actor"], row["granted_by"], _local(row["granted_at"]),
                _("audit {seq}").format(seq=row["audit_seq"])] for row in rows)

    _output(rows, human)


# ---------------------------------------------------------------------------------------------
# audit


@cli.group("audit")
def audit_group() -> None:
    """The hash-chained audit trail."""


@audit_group.command("verify")
@click.option("--anchors", "anchors", type=FILE_PATH,
              help="A file of heads recorded by `audit anchor --to FILE`: every anchored row "
                   "must still be there, unchanged.")
@json_option
def audit_verify(anchors: str | None) -> None:
    """Recompute the chain, replay every case from it and check the notices, renderings,
    refusals and deadline outcomes it vouches for; exit 3 and name the first bad row (or
    case, or record) if anything was tampered with."""
    engine = _settings().engine(acts=False)
    with _progress(_("verifying the audit chain"), engine.audit_length) as progress:
        report = engine.verify_audit(progress=progress, anchors=anchors)
    if _settings().as_json:
        _write_json(report.to_dict())
    else:
        click.echo(localize(report.message()), err=not report.ok)
    if not report.ok:
        click.get_current_context().exit(3)


@audit_group.command("anchor")
@click.option("--to", "target", required=True, metavar="FILE|URL",
              help="Append the head as a JSON line to FILE, or POST it to an http(s) URL.")
@json_option
def audit_anchor(target: str) -> None:
    """Record the chain's head (time +08:00, row, hash) outside the database, so that
    `audit verify --anchors` can later prove no row up to it was changed or cut off."""
    from gdcluster.notifications.anchors import anchor

    record = anchor(_settings().engine(acts=False), target)
    if _settings().as_json:
        _write_json(record)
    else:
        click.echo(_("anchored row {seq} ({hash}…) at {at} to {target}").format(
            seq=record["seq"], hash=record["hash"][:16], at=record["at"], target=target))


@audit_group.command("procedures")
@json_option
def audit_procedures() -> None:
    """Revocations recorded without a hearing (the old timer's under 18.1/18.3, or at once):
    the cases an administrator may `case reinstate`. Nothing is changed."""
    rows = _settings().engine(acts=False).unheard_revocations()

    def human() -> None:
        if not rows:
            click.echo(_("no revocation was recorded without a 拟撤销 procedure"))
            return
        _table([[f"  {row['case_id']}", row["name"], _local(row["revoked_at"]), row["actor"],
                 row["reason_code"] or "—", _("was {state}").format(state=row["from_state"]),
                 _("reinstated") if row["reinstated"] else _state(row["state"])]
                for row in rows])
        click.echo(_("to undo one: gdcluster case reinstate ID --reason T --reference T"))

    _output(rows, human)


# ---------------------------------------------------------------------------------------------
# scheduler


@cli.group("scheduler")
def scheduler_group() -> None:
    """The legal clock: fire due deadlines (recognition, revocation, reminders)."""


@scheduler_group.command("run")
@click.option("--once", is_flag=True,
              help="Sweep once at the clock's now and exit (cron; --now on simulation DBs).")
@json_option
def scheduler_run(once: bool) -> None:
    """Fire due deadlines: catch up at start, then at each due time and every minute.

    Runs in the foreground until SIGTERM or SIGINT; several may run against one PostgreSQL
    database, each deadline still fires once. With --once, one sweep and exit (5 when a
    deadline ended in error or was left busy). A real database runs on the system clock; a
    simulation database needs --now, from which its time runs on.
    """
    settings = _settings()
    if once:
        handled = settings.engine().run_due()
        _output(handled, lambda: _handled_lines(handled))
        _sweep_failures(handled)
        return
    settings.running_clock = True  # a simulation's time runs on from --now
    engine = settings.engine()
    if engine.simulation and settings.now is None:
        from gdcluster.engine.errors import InvalidInput

        raise InvalidInput(
            "on a simulation database the scheduler takes its time from --now (or "
            "GDCLUSTER_NOW), never from the wall clock: say when its time starts, e.g. "
            "--now 2024-10-12T08:00", field="now")
    import logging

    from gdcluster.engine.scheduler import DeadlineScheduler, log_formatter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(log_formatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    for noisy in ("apscheduler", "transitions"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    DeadlineScheduler(engine).run()


def _sweep_failures(handled: list[Any]) -> None:
    """Exit 5 (retry) when a deadline of the sweep ended in error or was left busy: they stay
    pending, and cron must see that the sweep did not finish its work (DESIGN §9)."""
    failed = [item for item in handled if item.failed]
    if failed:
        ids = ", ".join(str(item.id) for item in failed[:20]) + (", …" if len(failed) > 20
                                                                   else "")
        message = Message("{failed} of {count} deadlines ended in error or were left busy (ids "
                          "{ids}); they stay pending: run the sweep again", failed=len(failed),
                          count=len(handled), ids=ids)
        as_json = _settings().as_json
        raise Failure(5, "sweep_incomplete", message if as_json else localize(message),
                      as_json=as_json)


def _round_label(kind: str, year: int | None) -> str:
    """A record naming a round by its year, with the round's kind when it is a 复核 round's
    (a year may hold a recognition round and a 复核 round)."""
    from gdcluster.engine.models import round_kind_of

    if round_kind_of(kind) == "review":
        return _("复核 round {year}").format(year=year)
    return _("round {year}").format(year=year)


def _handled_lines(handled: list[Any]) -> None:
    from gdcluster.engine.sweep import summary

    for item in handled:
        where = (_("case {id}").format(id=item.case_id) if item.case_id is not None
                 else _round_label(item.kind, item.round_year))
        due = _local(item.due_at, deadline=True)
        click.echo(f"{item.id:>6}  {due}  {_pad(item.kind, 21)}  "
                   f"{_pad(where, 12)}  {localize(item.result)}")
    click.echo(summary(handled), err=True)


@scheduler_group.command("pending")
@click.option("--until", type=DATE, help="Due by 24:00 of this day (default: due now).")
@json_option
def scheduler_pending(until: date | None) -> None:
    """List the pending deadlines that are due, and what a sweep would do (writes nothing)."""
    rows = _settings().engine(acts=False).pending(until)

    def human() -> None:
        if not rows:
            click.echo(_("no deadline due"), err=True)
        _table(
            [str(row.id), _local(row.due_at, deadline=True), row.kind,
             _("case {id}").format(id=row.case_id) if row.case_id is not None
             else _round_label(row.kind, row.round_year), localize(row.action)]
            for row in rows
        )

    _output(rows, human)


# ---------------------------------------------------------------------------------------------
# notice

NOTICE_KINDS = ("publicity", "recognition", "renewal", "revocation", "revocation_proposal",
                "maintained", "reinstated", "return", "correction_reminder", "not_selected",
                "rejection", "report_reminder", "report_urge", "expiry_reminder")


@cli.group("notice")
def notice_group() -> None:
    """Official notices: what was issued, one rendered, the deliveries worked off."""


def _notice_settings() -> Any:
    """The settings file in force: --settings, GDCLUSTER_SETTINGS, the system file."""
    from gdcluster.notifications.settings import load_settings

    return load_settings(_settings().settings_file)


def _notice_target(case_id: int | None, round_year: int | None) -> None:
    if case_id is not None and round_year is not None:
        raise click.UsageError(_("give --case or --round, not both"))


@notice_group.command("list")
@click.option("--case", "case_id", type=CASE_ID, metavar="ID", help="Notices about this case.")
@click.option("--round", "round_year", type=YEAR, metavar="YEAR",
              help="Notices of this round (its round notices and its cases').")
@json_option
def notice_list(case_id: int | None, round_year: int | None) -> None:
    """List the issued notices, one line per format, with their deliveries; renderings
    recorded later (notice render --record) follow their notice as ID.rN."""
    from gdcluster.notifications.service import list_notices

    _notice_target(case_id, round_year)
    rows = list_notices(_settings().engine(), case_id=case_id, round_year=round_year)

    def human() -> None:
        if not rows:
            click.echo(_("no notice"), err=True)

        def deliveries(row: dict[str, Any]) -> str:
            counts: dict[str, int] = {}
            for item in row["deliveries"]:
                counts[item["status"]] = counts.get(item["status"], 0) + 1
            return ",".join(f"{status}:{count}" for status, count in sorted(counts.items()))

        def lines() -> Iterator[list[str]]:
            for row in rows:
                about = (_("case {id}").format(id=row["case_id"]) if row["case_id"] is not None
                         else _round_label(row["kind"], row["round_year"]))
                yield [str(row["id"]), _local(row["created_at"]), row["kind"], row["format"],
                       about, row["sha256"][:12], deliveries(row), row["path"]]
                for later in row["renderings"]:  # recorded later, beside the issued notice
                    yield [f"{row['id']}.r{later['id']}", _local(later["created_at"]),
                           later["kind"], later["format"], about, later["sha256"][:12],
                           "re-rendered", later["path"]]

        _table(lines())

    _output(rows, human)


@notice_group.command("render")
@click.argument("kind", type=click.Choice(NOTICE_KINDS))
@click.option("--case", "case_id", type=CASE_ID, metavar="ID", help="The case it is about.")
@click.option("--round", "round_year", type=YEAR, metavar="YEAR", help="The round it is about.")
@click.option("--format", "fmt", type=click.Choice(["txt", "html", "docx", "pdf"]),
              default="txt", show_default=True)
@click.option("-o", "--output", type=OUTPUT_FILE,
              help="Write to this file instead of stdout (required for docx and pdf).")
@click.option("--fresh", is_flag=True,
              help="Render from the act and the current settings, even if it was issued.")
@click.option("--record", is_flag=True,
              help="Render the issued notice again (this format, today's templates and "
                   "settings) and keep that rendering as its own record beside the issued one.")
def notice_render(kind: str, case_id: int | None, round_year: int | None, fmt: str,
                  output: str | None, fresh: bool, record: bool) -> None:
    """Print a notice: as issued when it was, else rendered from its act (nothing is stored).

    With --record, an issued notice is rendered again and that rendering is stored, hashed and
    written to the outbox as a record of its own, linked to the issued notice, which is never
    changed."""
    from gdcluster.notifications.service import record_rendering, render_notice

    _notice_target(case_id, round_year)
    if case_id is None and round_year is None:
        raise click.UsageError(_("give --case ID or --round YEAR"))
    if fmt in ("docx", "pdf") and output is None:
        raise click.UsageError(_(".{fmt} is binary: give -o FILE").format(fmt=fmt))
    if record and fresh:
        raise click.UsageError(_("--record renders afresh already: give --record or --fresh"))
    settings = _settings()
    if record:
        recorded = record_rendering(settings.engine(), kind, case_id=case_id,
                                    round_year=round_year, fmt=fmt,
                                    settings=_notice_settings(), actor=settings.actor)
        rendering = recorded.rendered
        if recorded.row is None:
            click.echo(_("the same as the issued notice {id}: nothing new to record").format(
                id=recorded.notice_id), err=True)
        else:
            row = recorded.row
            click.echo(_("{done}: rendering {id} of notice {notice} (act {act}), {path}  "
                         "{sha256}").format(
                done=_("recorded") if recorded.new else _("already recorded"), id=row["id"],
                notice=row["notice_id"], act=row["audit_seq"], path=row["path"],
                sha256=row["sha256"]), err=True)
    else:
        rendering = render_notice(settings.engine(), kind, case_id=case_id,
                                  round_year=round_year, fmt=fmt,
                                  settings=_notice_settings(), fresh=fresh)
    if output is None:
        click.echo(rendering.body, nl=False)
        return
    from pathlib import Path

    Path(output).write_bytes(rendering.body)
    click.echo(f"{output}  {rendering.sha256}", err=True)


@notice_group.command("deliver")
@click.option("--retry-failed", is_flag=True,
              help="Also retry failed deliveries now, before their backoff ends or after "
                   "they were given up.")
@json_option
def notice_deliver(retry_failed: bool) -> None:
    """Work off due deliveries: outbox files, e-mails, webhooks (retries with backoff)."""
    from gdcluster.notifications.delivery import deliver

    settings = _settings()
    report = deliver(settings.engine(), _notice_settings(), retry_failed=retry_failed)

    def human() -> None:
        click.echo(_("sent: {sent}  failed: {failed}").format(sent=report.sent,
                                                               failed=report.failed))
        for failure in report.failures:
            click.echo(_("delivery {id} ({channel} → {target}): {error}").format(
                id=failure["id"], channel=failure["channel"], target=failure["target"],
                error=failure["error"]), err=True)

    _output(report.to_dict(), human)
