"""Async tests that use a nexus fixture run under pytest-asyncio without configuration.

In pytest-asyncio's strict mode (its default) an ``async def`` test runs only
when it is marked ``@pytest.mark.asyncio``; without the mark pytest fails it
with "async def functions are not natively supported".  A plugin author's
first test is ``async def test_x(nexus_client)``: this module adds the mark to
such tests, and only to them.

pytest-asyncio (0.23 to 1.x) decides in its ``pytest_pycollect_makeitem``
wrapper, from the marker on the collected item.  This wrapper is ``trylast``,
so it runs inside pytest-asyncio's: it sees the items pytest built (with
their whole fixture closure, so a nexus fixture requested through a fixture
of the user's counts too) and marks them before pytest-asyncio looks.  A
test already marked ``asyncio`` (with its ``loop_scope``) or ``anyio`` is left
as it is.  ``nexus_asyncio = false`` in the ini file turns this off.
"""

from __future__ import annotations

import inspect
from collections.abc import Generator
from typing import Any

import pytest

__all__: list[str] = []

_KEY = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "nexus_asyncio",
        type="bool",
        default=True,
        help="mark async tests that use a nexus fixture with @pytest.mark.asyncio, so they "
        "run in pytest-asyncio's strict mode without a marker (default true).",
    )


def _enabled(config: pytest.Config) -> bool:
    enabled = config.stash.get(_KEY, None)
    if enabled is None:
        enabled = config.stash[_KEY] = bool(
            config.getini("nexus_asyncio") and config.pluginmanager.hasplugin("asyncio")
        )
    return enabled


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_pycollect_makeitem(
    collector: pytest.Module | pytest.Class, name: str, obj: object
) -> Generator[None, Any, Any]:
    result = yield
    if result and _is_coroutine(obj) and _enabled(collector.config):
        for item in result if isinstance(result, list) else [result]:
            if isinstance(item, pytest.Function) and _wants_mark(item):
                item.add_marker(pytest.mark.asyncio)
    return result


def _is_coroutine(obj: object) -> bool:
    func = getattr(obj, "__func__", obj)  # staticmethod, classmethod
    # @given wraps the coroutine function in a plain one.
    inner = getattr(getattr(func, "hypothesis", None), "inner_test", None)
    return inspect.iscoroutinefunction(inner or func)


def _wants_mark(item: pytest.Function) -> bool:
    if item.get_closest_marker("asyncio") or item.get_closest_marker("anyio"):
        return False
    return any(name.startswith("nexus_") for name in item.fixturenames)
