"""The API of the Nexus testing guide, on the harness's host and fakes.

The platform's own guide (docs/plugins/testing.md of the Nexus repository)
teaches ``from nexus.testing import TestApplication, TestDatabase,
TestEventBus, TestClient``; no release of nexus-platform has that module.
With ``from nexus_testkit.testing import ...`` instead, a test from the guide
runs on :class:`~nexus_testkit.PluginHost` and the recording fakes.  Where
the guide promises what the platform does not do, these objects raise
:class:`NexusGuardDivergence` (or warn with
:class:`NexusGuardDivergenceWarning`) naming the guide's line and what the
platform really does; docs/from-the-nexus-testing-guide.md lists each one.

The names are imported on first use; ``PluginTestCase`` and
``IntegrationTestCase`` are pytest classes and import pytest when used.
Snapshots (syrupy) are in :mod:`nexus_testkit.testing.snapshots`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import attach

_WHERE = {
    "DIVERGENCES": "_divergence",
    "Divergence": "_divergence",
    "NexusGuardDivergence": "_divergence",
    "NexusGuardDivergenceWarning": "_divergence",
    "EmittedEvent": "_bus",
    "TestEventBus": "_bus",
    "TestDatabase": "_db",
    "Transaction": "_db",
    "TestApplication": "_app",
    "TestClient": "_app",
    "IntegrationTestCase": "_cases",
    "PluginTestCase": "_cases",
}

__all__ = [
    "DIVERGENCES",
    "Divergence",
    "EmittedEvent",
    "IntegrationTestCase",
    "NexusGuardDivergence",
    "NexusGuardDivergenceWarning",
    "PluginTestCase",
    "TestApplication",
    "TestClient",
    "TestDatabase",
    "TestEventBus",
    "Transaction",
]

__getattr__, __dir__ = attach(__name__, _WHERE)

if TYPE_CHECKING:  # what the lazy lookups return, for type checkers and IDEs
    from ._app import TestApplication, TestClient
    from ._bus import EmittedEvent, TestEventBus
    from ._cases import IntegrationTestCase, PluginTestCase
    from ._db import TestDatabase, Transaction
    from ._divergence import (
        DIVERGENCES,
        Divergence,
        NexusGuardDivergence,
        NexusGuardDivergenceWarning,
    )
