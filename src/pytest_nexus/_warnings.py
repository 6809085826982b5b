"""Silence the deprecation warnings nexus-platform 0.1.5 raises at its own import.

``import nexus.plugins`` warns seven times (pydantic's V1-style validators
and class-based ``config`` in ``nexus/config.py``, SQLAlchemy's
``declarative_base()`` in ``nexus/database.py``).  They are the platform's to
fix, not the plugin author's, yet under ``-W error`` or ``filterwarnings =
error`` they fail the import of every plugin.

pytest applies its filters (ini, then ``-W``, then ``filterwarnings`` marks)
inside a ``catch_warnings`` block around the loading of conftests, around
collection and around each test, so a filter set once at start-up would be
shadowed by ``-W error``.  These wrappers run inside pytest's blocks
(``trylast``; pytest restores the filters when its block ends), and add the
narrowest filters that match: each names the warning's message, its category
and the module it is attributed to (``nexus`` and its submodules only), so a
plugin's or a test's own DeprecationWarning still fails under ``-W error``.
Nothing is imported here: the filters match on text.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Generator
from typing import Any

import pytest

__all__ = ["PLATFORM_IMPORT_WARNINGS", "ignore_platform_import_warnings"]

#: (message regex, module regex) of the warnings nexus-platform 0.1.5 raises when
#: imported; all are DeprecationWarning subclasses (PydanticDeprecatedSince20,
#: SQLAlchemy's MovedIn20Warning).
PLATFORM_IMPORT_WARNINGS = (
    (r"Pydantic V1 style `@validator` validators are deprecated", r"nexus(\.|$)"),
    (r"Support for class-based `config` is deprecated", r"nexus(\.|$)"),
    (r"The ``declarative_base\(\)`` function is now available", r"nexus(\.|$)"),
)


def ignore_platform_import_warnings() -> None:
    """Ignore nexus-platform's own import-time deprecations in the current filters."""
    for message, module in PLATFORM_IMPORT_WARNINGS:
        warnings.filterwarnings("ignore", message, DeprecationWarning, module)


def _wanted(config: pytest.Config) -> bool:
    # The warnings fire once, when the modules are first imported.
    if all(name in sys.modules for name in _WARNING_MODULES):
        return False
    return bool(config.getini("nexus_platform_warnings") == "ignore")


#: The modules of nexus-platform that warn at their import.
_WARNING_MODULES = ("nexus.config", "nexus.database")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "nexus_platform_warnings",
        default="ignore",
        help="ignore (default): hide the deprecation warnings nexus-platform 0.1.5 raises "
        "at its own import; show: leave them to the warning filters.",
    )


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> Generator[None, None, Any]:
    # A conftest that imports nexus.plugins at its top.
    if _wanted(early_config):
        ignore_platform_import_warnings()
    return (yield)


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_collection(session: pytest.Session) -> Generator[None, object, object]:
    # A test module that imports nexus.plugins at its top.
    if _wanted(session.config):
        ignore_platform_import_warnings()
    return (yield)


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    # The fixtures import the plugin (and nexus with it) while the test runs.
    if _wanted(item.config):
        ignore_platform_import_warnings()
    return (yield)
