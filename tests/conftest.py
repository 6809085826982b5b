"""Fixtures shared by the tests."""

from __future__ import annotations

import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ._helpers import (
    HAVE_PLATFORM,
    MINIMAL_PLUGIN,
    PLATFORM_SKIP_REASON,
    PluginWriter,
    write_plugin,
)

# The Nexus testing guide's examples: test_guide_examples.py runs them under
# pytester with the guide's own settings (auto mode), not this run.
collect_ignore = ["guide_examples"]


@pytest.fixture
def make_plugin(tmp_path: Path) -> PluginWriter:
    def make(
        name: str = "mini", source: str = MINIMAL_PLUGIN, manifest: Any = None, **files: str
    ) -> Path:
        return write_plugin(tmp_path / "plugins", name, source, manifest, **files)

    return make


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "needs_platform: the test imports nexus-platform or runs its components; "
        "skipped when nexus-platform is not installed (CI's second leg)",
    )


def pytest_report_header(config: pytest.Config) -> str | None:
    order = os.environ.get("NEXUS_TEST_ORDER")
    return f"nexus test order: {order}" if order else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not HAVE_PLATFORM:
        # A skip mark, not pytest.skip() in a hook, so that -rs names each test's file.
        skip = pytest.mark.skip(reason=PLATFORM_SKIP_REASON)
        for item in items:
            if item.get_closest_marker("needs_platform") is not None:
                item.add_marker(skip)
    # NEXUS_TEST_ORDER=reverse or shuffle:SEED proves that no test depends on
    # another's leftovers (CI runs both; the seed is printed in the header).
    order = os.environ.get("NEXUS_TEST_ORDER", "")
    if order == "reverse":
        items.reverse()
    elif order.startswith("shuffle:"):
        random.Random(int(order.partition(":")[2])).shuffle(items)
    elif order:
        raise pytest.UsageError(
            f"NEXUS_TEST_ORDER={order!r} is not valid. Valid values: reverse, shuffle:SEED."
        )


# ------------------------------------------------------------------ no process left behind

_CHILDREN_AT_START = pytest.StashKey[set[int]]()


def _checks_processes(config: pytest.Config) -> bool:
    # Under pytest-xdist each worker checks its own; the controller's children are the workers.
    worker = hasattr(config, "workerinput")
    distributed = config.getoption("dist", "no") != "no" or bool(
        config.getoption("numprocesses", None)
    )
    return sys.platform.startswith("linux") and (worker or not distributed)


def pytest_sessionstart(session: pytest.Session) -> None:
    if not _checks_processes(session.config):
        return
    from nexus_testkit.isolation._procs import children, set_subreaper

    # A subreaper: whatever a run orphans (a daemon, a setsid() child) becomes
    # our child, so that the check below sees it instead of init adopting it.
    set_subreaper()
    session.config.stash[_CHILDREN_AT_START] = set(children(os.getpid()))


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _CHILDREN_AT_START not in session.config.stash:
        return
    from nexus_testkit.isolation._procs import children, cmdline

    if "nexus_testkit.isolation._pool" in sys.modules:
        sys.modules["nexus_testkit.isolation._pool"].close_shared_pool()
    before = session.config.stash[_CHILDREN_AT_START]
    deadline = time.monotonic() + 5.0
    while True:
        left = [pid for pid in children(os.getpid()) if pid not in before]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    if left:
        lines = "\n".join(f"- pid {pid}: {cmdline(pid) or '?'}" for pid in left)
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = f"processes left running by the test session:\n{lines}"
        if reporter is not None:
            reporter.write_line(message, red=True)
        else:
            print(message, file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
