"""The ``nexus_snapshot`` fixture: syrupy's ``snapshot`` with the harness's extension.

Loaded by pytest in every run (entry point ``nexus_snapshot``), so it only
asks whether syrupy is installed; the fixture exists only then, and syrupy
and the extension are imported when a test uses it.
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import Any

import pytest

__all__: list[str] = []

if find_spec("syrupy") is not None:

    @pytest.fixture
    def nexus_snapshot(snapshot: Any) -> Any:
        """syrupy's ``snapshot`` that records the harness's objects scrubbed of ids and times.

        ``assert nexus_event_bus.published == nexus_snapshot``; see
        :mod:`nexus_testkit.testing.snapshots` for what is scrubbed.
        """
        from nexus_testkit.testing.snapshots import NexusSnapshotExtension

        return snapshot.use_extension(NexusSnapshotExtension)
