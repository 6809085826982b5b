"""Fixtures shared by the tests."""

from __future__ import annotations

import os
import random
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
