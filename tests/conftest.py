"""Fixtures shared by the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ._helpers import MINIMAL_PLUGIN, PluginWriter, write_plugin


@pytest.fixture
def make_plugin(tmp_path: Path) -> PluginWriter:
    def make(
        name: str = "mini", source: str = MINIMAL_PLUGIN, manifest: Any = None, **files: str
    ) -> Path:
        return write_plugin(tmp_path / "plugins", name, source, manifest, **files)

    return make
