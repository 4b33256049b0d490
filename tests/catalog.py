"""The message catalog kept in step with the code (``engine/locale/zh_CN.po``).

    .venv/bin/python tests/catalog.py > todo.tsv   # update the catalog, list the untranslated
    .venv/bin/python tests/catalog.py --check      # the same without writing (exit 1 if any)
    .venv/bin/python tests/catalog.py --fill todo.tsv   # add translations written after the tabs

Each untranslated msgid is printed as one line ``msgid<TAB>`` (line breaks written ``\\n``):
write the Chinese after the tab and ``--fill`` puts it into the catalog (or edit the PO file
with any PO editor). A translation keeps every ``{placeholder}`` and ``%s`` of its msgid.

The msgids are (1) the string literals of every ``_()``, ``gettext()``, ``ngettext()``,
``N_()`` and ``Message()`` call in the package (and the demo's step titles), extracted by
Babel, (2) the constant messages errors are raised with (``InvalidInput("…")``: looked up
whole when shown; an f-string message needs ``i18n.Message``), and (3) every help text of
the click tree (commands, groups, options, including click's own ``--help``/``--version``),
read by walking the tree, so commands added by decorators need no markers, and (4) click's
own texts in the click modules the CLI translates while it runs. Updating keeps
each translation whose msgid is still used, adds the new msgids untranslated and drops the
stale ones; the untranslated msgids are printed one per line (``tests/test_i18n.py`` fails
while any is).
"""

from __future__ import annotations

import ast
import io
import sys
from collections.abc import Iterator
from contextlib import redirect_stderr
from pathlib import Path

import click
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None, "Message": None}
#: an error raised with a constant message (no f-string) is looked up whole when shown
ERRORS = {"InvalidInput", "TransitionRefused", "PermissionDenied", "WaitingFor",
          "DatabaseUnavailable", "EngineError", "refuse"}
#: the demo's steps translate their titles themselves: ``at(moment, title)``, ``sweep(…)``
STEP_KEYWORDS = {"engine/demo.py": {"at": (2,), "sweep": (2,)}}
SKIP = {".venv", "tests", "migrations", "build", "__pycache__"}


def source_files() -> Iterator[Path]:
    """The package's Python files (not the tests, the migrations or a virtualenv)."""
    for path in sorted(ROOT.rglob("*.py")):
        if not SKIP.intersection(path.relative_to(ROOT).parts[:-1]) and \
                not path.name.startswith("."):
            yield path


def code_messages() -> dict[str, list[tuple[str, int]]]:
    """msgid → where the code uses it (file, line), from the ``_()``-style calls."""
    found: dict[str, list[tuple[str, int]]] = {}
    for path in source_files():
        name = path.relative_to(ROOT).as_posix()
        keywords = {**KEYWORDS, **STEP_KEYWORDS.get(name, {})}
        with redirect_stderr(io.StringIO()):  # Babel's note on each f-string it skips
            extracted = list(extract_from_file("python", str(path), keywords=keywords,
                                               comment_tags=()))
        for line, message, _comments, _context in extracted:
            msgid = message[0] if isinstance(message, tuple) else message
            if msgid:
                found.setdefault(msgid, []).append((name, line))
    return found


def click_messages() -> dict[str, list[tuple[str, int]]]:
    """msgid → where click uses it: click's own texts ("Usage:", "Missing argument", ...) in
    the modules the CLI translates while it runs (``gdcluster.cli.CLICK_MODULES``)."""
    from gdcluster.cli import CLICK_MODULES

    folder = Path(click.__file__).parent
    found: dict[str, list[tuple[str, int]]] = {}
    for name in CLICK_MODULES:
        with redirect_stderr(io.StringIO()):
            extracted = list(extract_from_file("python", str(folder / f"{name}.py"),
                                               keywords={"_": None, "ngettext": (1, 2)},
                                               comment_tags=()))
        for line, message, _comments, _context in extracted:
            msgid = message[0] if isinstance(message, tuple) else message
            if msgid:
                found.setdefault(msgid, []).append((f"click/{name}.py", line))
    return found


def error_messages() -> dict[str, list[tuple[str, int]]]:
    """msgid → where an error of the engine is raised with it as its constant message."""
    found: dict[str, list[tuple[str, int]]] = {}
    for path in source_files():
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if (isinstance(node, ast.Call) and node.args
                    and getattr(node.func, "id", getattr(node.func, "attr", None)) in ERRORS
                    and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str) and node.args[0].value):
                found.setdefault(node.args[0].value, []).append(
                    (path.relative_to(ROOT).as_posix(), node.lineno))
    return found


def help_messages() -> dict[str, list[tuple[str, int]]]:
    """msgid → the command paths whose help shows it, walking the click tree."""
    from gdcluster.cli import cli, inspect_help

    found: dict[str, list[tuple[str, int]]] = {}

    def walk(command: click.Command, path: str) -> None:
        context = click.Context(command, info_name=path)
        texts = [command.help, command.short_help]
        texts += [getattr(param, "help", None) for param in command.get_params(context)]
        for text in texts:
            if text:
                found.setdefault(inspect_help(text), []).append((path, 0))
        if isinstance(command, click.Group):
            for name, sub in sorted(command.commands.items()):
                walk(sub, f"{path} {name}")

    walk(cli, "gdcluster")
    return found


def messages() -> dict[str, list[tuple[str, int]]]:
    """Every msgid the code and the help use."""
    found = code_messages()
    for msgid, places in [*error_messages().items(), *help_messages().items(),
                          *click_messages().items()]:
        found.setdefault(msgid, []).extend(places)
    return found


def catalog_path() -> Path:
    from gdcluster.engine.i18n import catalog_file

    return catalog_file()


def updated_catalog() -> tuple[Catalog, list[str]]:
    """The catalog as it should be, and its untranslated msgids (in source order)."""
    path = catalog_path()
    old = Catalog(locale="zh_CN")
    if path.exists():
        with path.open("rb") as stream:
            old = read_po(stream)
    new = Catalog(locale="zh_CN", project="gdcluster", domain="gdcluster", version="0.1",
                  charset="utf-8", fuzzy=False, creation_date=old.creation_date,
                  revision_date=old.creation_date, last_translator="gdcluster",
                  language_team="gdcluster")
    missing = []
    for msgid, places in messages().items():
        previous = old.get(msgid)
        string = previous.string if previous is not None and not previous.fuzzy else ""
        new.add(msgid, string, locations=places[:3])
        if not string:
            missing.append(msgid)
    return new, missing


def write(catalog: Catalog) -> None:
    path = catalog_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as stream:
        write_po(stream, catalog, width=100, omit_header=False, sort_output=False,
                 include_lineno=False)


def fill(catalog: Catalog, path: Path) -> int:
    """Put the translations of a ``msgid<TAB>msgstr`` file into ``catalog``; how many."""
    filled = 0
    for line in path.read_text("utf-8").splitlines():
        msgid, tab, msgstr = line.partition("\t")
        msgid, msgstr = (text.replace("\\n", "\n") for text in (msgid, msgstr.strip()))
        if tab and msgstr and catalog.get(msgid) is not None:
            indent = msgid[:len(msgid) - len(msgid.lstrip(" "))]  # a table line's indent
            catalog[msgid].string = indent + msgstr
            filled += 1
    return filled


def main(argv: list[str]) -> int:
    catalog, missing = updated_catalog()
    if "--fill" in argv:
        print(f"{fill(catalog, Path(argv[argv.index('--fill') + 1]))} translations added",
              file=sys.stderr)
        missing = [msgid for msgid in missing if not catalog[msgid].string]
    if "--check" not in argv:
        write(catalog)
    for msgid in missing:
        print(msgid.replace("\n", "\\n") + "\t")
    print(f"{len(missing)} untranslated of {len(catalog)}", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
