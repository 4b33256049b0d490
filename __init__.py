"""gdcluster — the workflow engine for Guangdong provincial SME characteristic industrial clusters.

The public surface for host systems lives in :mod:`gdcluster.engine`.
"""

__version__ = "0.1.0"

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def lazy_exports(package: str, homes: Mapping[str, str]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for a package whose public names live in its modules
    (``homes``: name → module) and load on first use, so that importing one light module of
    the package does not import the heavy ones."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(f"{package}.{home}"), name)
        setattr(import_module(package), name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(homes)

    return __getattr__, __dir__
