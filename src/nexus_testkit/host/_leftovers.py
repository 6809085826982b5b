"""What a plugin left behind when its host closed, and how it is reported.

Errors (a leaked task, a shutdown that raised or hung) fail a test; the rest
is worth a warning: handlers and services left registered are a
:class:`NexusLeftoverWarning`, what the guards noticed (a blocked event loop,
a network attempt) a :class:`NexusGuardWarning`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._describe import safe_repr
from .._errors import NexusAssertionError, NexusGuardWarning, NexusLeftoverWarning
from ._blocking import Block
from ._network import NetworkAttempt
from ._tasks import TrackedTask

if TYPE_CHECKING:
    from .._masking import Masker
    from ..fakes._bus import RecordingEventBus
    from ..fakes._config import ConfigStore
    from ..fakes._store import RecordingDataStore

__all__ = ["Leftovers", "describe_recorded"]


@dataclass
class Leftovers:
    """What a plugin left behind when it was shut down."""

    tasks: list[TrackedTask] = field(default_factory=list)
    subscriptions: list[tuple[str, str]] = field(default_factory=list)
    services: list[str] = field(default_factory=list)
    shutdown_errors: list[str] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    blocked_connections: list[str] = field(default_factory=list)
    #: The network uses refused, with host, port and where the plugin made them.
    network_attempts: list[NetworkAttempt] = field(default_factory=list)
    #: Process state the host could not put back when it closed.
    unrestored: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(
            self.tasks
            or self.subscriptions
            or self.services
            or self.shutdown_errors
            or self.blocks
            or self.blocked_connections
        )

    def errors(self) -> list[str]:
        """Problems that fail a test: leaked tasks and a shutdown that raised or hung."""
        lines = list(self.shutdown_errors)
        lines += [f"task still pending after shutdown: {t.describe()}" for t in self.tasks]
        return lines

    def notes(self) -> list[str]:
        """Problems worth a warning, one line each (see :meth:`warning`)."""
        lines = [f"handler still subscribed to {name!r}: {h}" for name, h in self.subscriptions]
        lines += [f"service still registered: {s!r}" for s in self.services]
        lines += [
            f"the event loop was blocked for {b.duration:.2f} s during {b.during or 'the test'} "
            f"at {b.site}"
            for b in self.blocks
        ]
        lines += [f"network connection blocked: {a.describe()}" for a in self.network_attempts]
        return lines

    def warning(self, plugin: str) -> str:
        """The text of the :class:`NexusLeftoverWarning`: what was left registered."""
        kept = [f"- handler still subscribed to {n!r}: {h}" for n, h in self.subscriptions]
        kept += [f"- service still registered: {s!r}" for s in self.services]
        if not kept:
            return ""
        return (
            f"Plugin {plugin!r} left these behind after shutdown():\n"
            + "\n".join(kept)
            + "\nThe platform keeps them alive after the plugin is unloaded; remove them "
            "in shutdown() (unsubscribe_from_event, service_registry.unregister)."
        )

    def guard_notes(self, plugin: str) -> str:
        """The text of the :class:`NexusGuardWarning`: blocked event loop, network attempts."""
        parts = []
        if self.blocks:
            parts.append(
                f"Plugin {plugin!r} blocked the event loop:\n"
                + "\n".join(f"- {b.duration:.2f} s at {b.site}" for b in self.blocks)
                + "\nEvery request and event waits meanwhile; move blocking work to "
                "asyncio.to_thread() or use an async library."
            )
        if self.blocked_connections:
            parts.append(
                f"Plugin {plugin!r} tried to reach the network:\n"
                + "\n".join(f"- {a.describe()}" for a in self.network_attempts)
                + "\nServe the calls in the test (respx, pytest-httpx) or allow them with "
                "@pytest.mark.nexus_host(allow_network=True)."
            )
        return "\n\n".join(parts)

    def collect(self, subscriptions: dict[str, list[Any]], plugin: Any, services: Any) -> None:
        """Record the plugin's handlers still subscribed and services still registered."""
        from ..fakes._bus import handler_name  # the bus module loads pydantic

        for event_name, handlers in subscriptions.items():
            for handler in handlers:
                self.subscriptions.append((event_name, handler_name(handler)))
        registered = getattr(plugin, "_registered_services", ()) or ()
        # list_services(), not has_service(): the registry records lookups as the plugin's.
        present = set(services.list_services())
        for service in sorted(registered):
            if service in present:
                self.services.append(service)

    def verify(
        self,
        plugin: str,
        directory: Path,
        event_bus: RecordingEventBus | None,
        masker: Masker,
        more: Sequence[str] = (),
    ) -> None:
        """Raise :class:`NexusAssertionError` for :meth:`errors`, the bus's handler
        failures and ``more`` (the outside world's problems, each a text), each
        problem on its own line (see ``PluginHost.verify``)."""
        problems = self.errors()
        bus_error: NexusAssertionError | None = None
        try:
            if event_bus is not None:  # None: a group checks its shared bus once
                event_bus.verify()
        except NexusAssertionError as exc:
            bus_error = exc
        if not problems and bus_error is None and not more:
            return
        parts = []
        if problems:
            listing = "\n".join(f"- {p}" for p in problems)
            parts.append(
                f"Plugin {plugin!r} ({directory}) did not shut down cleanly:\n{listing}\n\n"
                "Cancel and await background tasks in shutdown(); if a task is meant to "
                "outlive the plugin, the platform will not wait for it either."
            )
        if bus_error is not None:
            parts.append(str(bus_error))
        parts += more
        raise NexusAssertionError(masker("\n\n".join(parts)))

    def emit_warnings(self, plugin: str, filename: str) -> None:
        """Warn about what is worth a note, attributed to the plugin's file (line 1)."""
        for category, text in (
            (NexusLeftoverWarning, self.warning(plugin)),
            (NexusGuardWarning, self.guard_notes(plugin)),
        ):
            if text:
                warnings.warn_explicit(category(text), category, filename=filename, lineno=1)


def owned_handlers(
    event_bus: RecordingEventBus, plugin: Any, package: str | None
) -> dict[str, list[Any]]:
    """The bus's handlers that are ``plugin``'s bound methods or functions of ``package``."""
    prefix = package + "." if package else None
    owned: dict[str, list[Any]] = {}
    for event_name, handlers in event_bus.subscriptions.items():
        for handler in handlers:
            module = getattr(handler, "__module__", "") or ""
            if getattr(handler, "__self__", None) is plugin or (
                prefix is not None and (module + ".").startswith(prefix)
            ):
                owned.setdefault(event_name, []).append(handler)
    return owned


#: Each list of a failure report shows this many items; a storm of events would flood it.
RECORDED_LIMIT = 50


def _listing(title: str, lines: list[str]) -> str:
    shown = lines if len(lines) <= RECORDED_LIMIT else lines[: RECORDED_LIMIT - 1]
    text = "\n".join(f"- {line}" for line in shown)
    if len(shown) < len(lines):
        text += f"\n- ... and {len(lines) - len(shown)} more"
    return f"{title}:\n{text}"


def describe_recorded(
    event_bus: RecordingEventBus,
    data_store: RecordingDataStore,
    config_store: ConfigStore,
    masker: Masker,
) -> str:
    """What a host's components recorded, for a failure report (secrets masked).

    Values are described with :func:`safe_repr` (a plugin's object whose
    ``__repr__`` raises cannot break the report) and each list is cut at
    :data:`RECORDED_LIMIT` items.
    """
    sections = []
    events = event_bus.published
    if events:
        sections.append(
            _listing(
                "Published events",
                [
                    f"{e.name} {safe_repr(e.data)} (source: {e.source}{_by(events, e)})"
                    for e in events
                ],
            )
        )
    ops = data_store.operations
    writes = [op for op in ops if op.op in ("set", "delete", "clear")]
    if writes:
        sections.append(
            _listing(
                "Data store writes",
                [
                    f"{op.op} {safe_repr(op.key)}"
                    + (f" = {safe_repr(op.value)}" if op.op == "set" else "")
                    + (f" (raised {safe_repr(op.error)})" if op.error else "")
                    + (f" (by {ops.origin(op) or 'the test'})" if ops.origins is not None else "")
                    for op in writes
                ],
            )
        )
    if config_store.writes:
        sections.append(
            _listing(
                "set_config writes",
                [f"{w.key} = {safe_repr(w.value)}" for w in config_store.writes],
            )
        )
    if event_bus.handler_failures:
        sections.append(
            _listing("Handler failures", [f.describe() for f in event_bus.handler_failures])
        )
    return masker("\n\n".join(sections))


def _by(records: Any, record: Any) -> str:
    """``, by users`` when several plugins share the recording (see ``_views``)."""
    if records.origins is None:
        return ""
    return f", by {records.origin(record) or 'the test'}"
