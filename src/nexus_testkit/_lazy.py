"""Lazy re-exports for the packages' ``__init__`` modules (PEP 562).

Each package names its public objects and the private module each lives in;
the module is imported the first time one of its names is used, so that
``import nexus_testkit`` (or ``nexus_testkit.backends``) costs only what the
caller touches: the fakes import pydantic, the host FastAPI, the strategies
hypothesis.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["attach"]


def attach(
    package: str, where: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``.

    ``where`` maps each public name to its module, relative to the package
    (``{"PluginHost": "host._host"}``).  A loaded name is stored in the
    package's namespace, so the lookup runs once per name.
    """

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        importlib.import_module(package).__dict__[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(where) | set(importlib.import_module(package).__dict__))

    return __getattr__, __dir__
