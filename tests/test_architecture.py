"""The shape of the code: no import cycles (imports inside functions count), no module using
another module's private names, the engine's public surface listed in one ``__all__`` and
documented, and no module under ``engine/`` outgrowing one concept.

Read from the source with ``ast``: nothing here depends on what happens to be imported already.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest

import gdcluster.engine
from gdcluster.engine import Engine

ROOT = Path(__file__).resolve().parent.parent
#: The most lines a module under engine/ may hold: past it, it holds more than one concept.
MAX_ENGINE_MODULE_LINES = 600


def modules() -> dict[str, Path]:
    """Every module of the gdcluster package (migration scripts aside), by dotted name."""
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[0] in ("tests", "build") or parts[0].startswith(".") or "versions" in parts:
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(("gdcluster", *parts))] = path
    return found


MODULES = modules()


def imports(path: Path) -> Iterator[tuple[ast.AST, str, str | None]]:
    """``(node, module, name)`` for every import of a gdcluster module in ``path``, at any
    depth (in functions, in ``TYPE_CHECKING`` blocks); ``name`` is what ``from`` imports."""
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "gdcluster":
                    yield node, alias.name, None
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                and node.module.split(".")[0] == "gdcluster":
            for alias in node.names:
                yield node, node.module, alias.name


def target(module: str, name: str | None) -> str:
    """The gdcluster module an import depends on: ``from a import b`` is module ``a.b`` when
    that is a module, else ``a``."""
    if name is not None and f"{module}.{name}" in MODULES:
        return f"{module}.{name}"
    while module not in MODULES and "." in module:
        module = module.rsplit(".", 1)[0]
    return module


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name, path in MODULES.items():
        for _node, module, imported in imports(path):
            dependency = target(module, imported)
            if dependency != name:
                graph[name].add(dependency)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for successor in sorted(graph.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_reader_sees_imports_inside_functions() -> None:
    """The import reader finds the lazy imports too (else the cycle test could not fail)."""
    lazy = {(module, name) for node, module, name in imports(MODULES["gdcluster.engine.api"])
            if node.col_offset > 0}
    assert ("gdcluster.engine", "rounds") in lazy
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles() -> None:
    """No two gdcluster modules depend on each other, however indirectly, counting imports
    inside functions and ``TYPE_CHECKING`` blocks: dependencies point one way."""
    assert cycles(import_graph()) == []


def test_dependencies_point_one_way() -> None:
    """cli → engine → states; notifications listens to the engine; states/ imports nothing of
    the engine, the notifications or the CLI, and the engine nothing of the CLI."""
    graph = import_graph()
    for name, dependencies in graph.items():
        if name.startswith("gdcluster.states"):
            assert not {d for d in dependencies if not d.startswith("gdcluster.states")}, name
        if name.startswith("gdcluster.engine"):
            assert "gdcluster.cli" not in dependencies, name


def private_attributes(path: Path) -> set[str]:
    """The private names a module defines: module-level and class-level ``_names`` and the
    ``self._names`` it assigns."""
    tree = ast.parse(path.read_text("utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
    return {name for name in names if name.startswith("_") and not name.startswith("__")}


def private_uses(modules: dict[str, Path]) -> list[str]:
    """Each place a module imports another's ``_name``, or reads ``other._name`` for a
    private name only other gdcluster modules define."""
    own = {name: private_attributes(path) for name, path in modules.items()}
    theirs: dict[str, set[str]] = {}
    for name, names in own.items():
        for private in names:
            theirs.setdefault(private, set()).add(name)
    offences = []
    for name, path in modules.items():
        for node, module, imported in imports(path):
            if imported is not None and imported.startswith("_") \
                    and not imported.startswith("__"):
                offences.append(f"{name}:{node.lineno} imports {module}.{imported}")
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") \
                    and not node.attr.startswith("__") and node.attr not in own[name] \
                    and theirs.get(node.attr, set()) - {name} \
                    and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                offences.append(f"{name}:{node.lineno} uses {node.attr} of "
                                f"{', '.join(sorted(theirs[node.attr]))}")
    return offences


def test_no_module_uses_another_modules_private_names() -> None:
    """What modules share is public: no ``from gdcluster.x import _name``, and no
    ``other._name`` for a private name only another gdcluster module defines (a private method
    called from outside its class's module is a seam that wants to be public)."""
    assert private_uses(MODULES) == []


def test_the_private_name_check_can_fail(tmp_path: Path) -> None:
    """The check above sees a private import and a private method called from outside."""
    sample = tmp_path / "sample.py"
    sample.write_text("from gdcluster.engine.views import _view\n"
                      "def f(kernel):\n    return kernel._emit([])\n", "utf-8")
    found = private_uses({**MODULES, "gdcluster.sample": sample})
    assert found == ["gdcluster.sample:1 imports gdcluster.engine.views._view",
                     "gdcluster.sample:3 uses _emit of gdcluster.engine.kernel"]


def test_the_engine_exports_exactly_its_all() -> None:
    """``gdcluster.engine.__all__`` is the public surface: each name resolves, ``dir()`` shows
    exactly those, and nothing public is reachable on the package that is not listed."""
    names = gdcluster.engine.__all__
    assert names == sorted(names)
    for name in names:
        assert getattr(gdcluster.engine, name) is not None, name
    assert dir(gdcluster.engine) == sorted(names)
    public = {name for name, value in vars(gdcluster.engine).items()
              if not name.startswith("_") and not inspect.ismodule(value)}
    assert public <= set(names) | {"annotations", "lazy_exports", "TYPE_CHECKING"}
    with pytest.raises(AttributeError):
        gdcluster.engine.Kernel  # noqa: B018  (the kernel is the engine's own)


def test_every_public_engine_method_has_a_docstring() -> None:
    """The facade documents each of its public methods and properties (those it inherits from
    its housekeeping part too)."""
    members = {name: member for cls in reversed(Engine.__mro__) if cls is not object
               for name, member in vars(cls).items()}
    undocumented = [
        name for name, member in members.items()
        if not name.startswith("_")
        and (callable(member) or isinstance(member, property | classmethod))
        and not inspect.getdoc(getattr(Engine, name))
    ]
    assert undocumented == []
    assert not hasattr(Engine, "list"), "list shadows the builtin; the method is list_cases"


@pytest.mark.parametrize("path", sorted((ROOT / "engine").glob("*.py")), ids=lambda p: p.name)
def test_engine_modules_hold_one_concept(path: Path) -> None:
    """No module under engine/ is longer than about 600 lines: a longer one has more than one
    job (the Engine facade once had five)."""
    lines = len(path.read_text("utf-8").splitlines())
    assert lines <= MAX_ENGINE_MODULE_LINES, f"{path.name}: {lines} lines"
