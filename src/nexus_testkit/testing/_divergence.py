"""Where the Nexus testing guide promises what nexus-platform does not do.

The platform's guide (docs/plugins/testing.md of the Nexus repository, commit
3f20c1d; docs/TESTING.md and docs/PLUGIN_DEVELOPMENT.md for the test-case
bases) imports a ``nexus.testing`` module that no release contains.  Where a
test written from it relies on something nexus-platform 0.1.5 does not do,
:mod:`nexus_testkit.testing` stops with :class:`NexusGuardDivergence` (or
warns with :class:`NexusGuardDivergenceWarning` when the test can still run),
naming the guide's section and line and what the platform really does.
Each divergence is one :class:`Divergence` in :data:`DIVERGENCES`, so the
documentation page and the messages cannot drift apart.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

from .._errors import NexusTestkitError, NexusWarning

__all__ = ["DIVERGENCES", "Divergence", "NexusGuardDivergence", "NexusGuardDivergenceWarning"]

GUIDE = "docs/plugins/testing.md"


class NexusGuardDivergence(NexusTestkitError):
    """A test relies on something the Nexus testing guide promises and the platform does not do."""

    def __init__(self, divergence: Divergence, detail: str = "") -> None:
        self.divergence = divergence
        super().__init__(divergence.message(detail))


class NexusGuardDivergenceWarning(NexusWarning):
    """Like :class:`NexusGuardDivergence`, where the test can still run.

    Under :class:`~nexus_testkit.NexusWarning`, the root of every harness warning,
    so that one filter silences them all.
    """


class Divergence(NamedTuple):
    """One promise of the guide that the platform does not keep."""

    key: str
    where: str  #: ``"docs/plugins/testing.md, "Event Integration", line 704"``
    promise: str  #: what the guide's code expects
    reality: str  #: what nexus-platform 0.1.5 does instead
    advice: str  #: what to write instead

    def message(self, detail: str = "") -> str:
        first = f"The Nexus testing guide ({self.where}) {self.promise}"
        if detail:
            first = f"{first} [{detail}]"
        return f"{first}; nexus-platform 0.1.5 {self.reality}.\n{self.advice}"

    def fail(self, detail: str = "") -> NexusGuardDivergence:
        """The error to raise."""
        return NexusGuardDivergence(self, detail)

    def warn(self, detail: str = "", stacklevel: int = 3) -> None:
        """Warn (the test goes on) with the same message."""
        warnings.warn(NexusGuardDivergenceWarning(self.message(detail)), stacklevel=stacklevel)


# Shown as nexus_testkit.testing.NexusGuardDivergence in tracebacks: the name users import.
NexusGuardDivergence.__module__ = NexusGuardDivergenceWarning.__module__ = "nexus_testkit.testing"


def _at(section: str, line: int, file: str = GUIDE) -> str:
    return f'{file}, "{section}", line {line}'


DIVERGENCES: dict[str, Divergence] = {
    d.key: d
    for d in (
        Divergence(
            "subscribe-priority",
            _at("Event Integration", 704),
            "subscribes handlers with priority=N and expects the higher priority to run first",
            "has no subscription priorities: EventBus.subscribe(event_name, handler) takes no "
            "priority, and handlers run in the order they subscribed (the priority of "
            "publish() does not reorder the FIFO queue either)",
            "Subscribe in the order the handlers must run, and drop priority=.",
        ),
        Divergence(
            "event-subscript",
            _at("Event Integration", 662),
            "reads a received event as a dict (event[key])",
            "hands every handler a nexus.core.Event (name, data, timestamp, source, "
            "correlation_id); event[key] raises TypeError there",
            "Read event.data[key] (this event answered event[key] from event.data).",
        ),
        Divergence(
            "process-events",
            "TestEventBus.process_events()",
            "expects process_events() to deliver the queued events and return",
            "runs EventBus.process_events() as the bus's processor loop, started by start(); "
            "it returns only when the bus shuts down, so awaiting it in a test hangs",
            "Await bus.drain() (what this call did) or rely on inline delivery: publish() "
            "returns after every handler ran.",
        ),
        Divergence(
            "raw-sql",
            _at("Test Configuration", 112),
            "runs SQL on the test database (db.execute('CREATE TABLE ...'), fetch_one)",
            "gives a plugin a key-value DatabaseAdapter (get, set, delete, exists, list_keys, "
            "clear, health_check): there is no execute(), fetch_one() or table, on any backend",
            "Store the plugin's records under data keys (self.set_data / self.get_data) and "
            "seed them with TestDatabase.set() or seed().",
        ),
        Divergence(
            "plugin-built-by-test",
            _at("Test Configuration", 145),
            "builds the plugin itself (MyPlugin(config)), wires plugin.db and plugin.event_bus, "
            "and ends it with plugin.cleanup()",
            "builds a plugin with no arguments (PluginManager calls the class, or "
            "create_plugin()), injects db_adapter, event_bus and service_registry and the "
            "configuration as plugin.config, and ends it with shutdown(); BasePlugin has no "
            "cleanup() and never reads plugin.db",
            "Let the harness build it: plugin = await app.register_plugin('path/to/plugin', "
            "config) (or the nexus_plugin fixture), and the harness calls shutdown().",
        ),
        Divergence(
            "mount-path",
            _at("API Integration", 774),
            "requests the plugin's routes at /my-plugin/...",
            "mounts each router of get_api_routes() at /api/plugins/{name} plus the router's "
            "own prefix; no route exists outside it",
            "Request the plugin's routes under /api/plugins/{name}, the prefix named above.",
        ),
        Divergence(
            "transaction-bypassed",
            _at("Database Integration", 606),
            "expects the plugin's writes inside `async with test_db.transaction()` to be "
            "rolled back",
            "only buffers writes made through the TransactionContext itself; writes through "
            "the adapter (the plugin's set_data) are applied at once and stay after a rollback",
            "Assert on what the plugin stored; write through the transaction object "
            "(async with db.transaction() as tx: await tx.set(...)) to test rollback.",
        ),
    )
}
