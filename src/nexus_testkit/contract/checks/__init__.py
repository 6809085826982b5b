"""The contract's checks, one module per area; each check is one ``@check`` function.

:func:`load` imports the modules in the order of the docs table.  Adding a
check is one function in its area's module (plus a corpus plugin in
tests/contract_plugins that fails it).
"""

from __future__ import annotations

import importlib

__all__ = ["AREAS", "load"]

#: Areas in the order of the report and the docs table.
AREAS = (
    "manifest",
    "load",
    "lifecycle",
    "config",
    "events",
    "permissions",
    "routes",
    "health",
    "schema",
    "robustness",
    "store",
    "security",
    # Checks over the set of plugins given together (@set_check), not of one plugin.
    "ecosystem",
)


def load() -> None:
    for area in AREAS:
        importlib.import_module(f"{__name__}.{area}")
