"""What a failing test's report shows: the "nexus: recorded by <plugin>" sections.

Nothing recorded is lost: a failing test's report lists what the plugin
published and wrote before the failure (secrets masked).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

__all__ = ["track"]

_HOSTS_KEY = pytest.StashKey[list[Any]]()


def track(node: pytest.Item, host: Any) -> None:
    """Report what ``host`` (a PluginHost, or a HostFactory's hosts) recorded if the test fails."""
    node.stash.setdefault(_HOSTS_KEY, []).append(host)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    tracked = item.stash.get(_HOSTS_KEY, None)
    if tracked is None:
        return report
    if report.failed:
        for obj in tracked:
            for host in getattr(obj, "hosts", [obj]):
                if host.plugin is None:
                    continue
                recorded = host.describe_recorded()
                if recorded:
                    report.sections.append(
                        (f"nexus: recorded by {_names(host)} ({call.when})", recorded)
                    )
    if call.when == "teardown":
        # Items live until the session ends: hosts kept here would keep every
        # plugin, app and fake of the run alive (and the collector busy).
        del item.stash[_HOSTS_KEY]
    return report


def _names(host: Any) -> str:
    # A host of several plugins records for all of them.
    names = getattr(host, "names", None)
    return ", ".join(names) if names else str(host.name)
