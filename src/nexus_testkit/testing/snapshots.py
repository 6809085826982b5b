"""Snapshots of what a plugin did, stable across runs (syrupy, the ``[snapshot]`` extra).

``NexusSnapshotExtension`` is a syrupy extension: ``snapshot.use_extension(
NexusSnapshotExtension)``, or the ``nexus_snapshot`` fixture, turns the
harness's records into plain data and scrubs what changes from run to run::

    assert nexus_event_bus.published == nexus_snapshot
    assert nexus_data_store == nexus_snapshot(name="stored")
    assert openapi_paths(nexus_app) == nexus_snapshot(name="routes")
    assert await health_output(nexus_plugin) == nexus_snapshot(name="health")

What is turned into plain data (:func:`snapshot_data`): a
``RecordingEventBus`` (its ``published`` list), each ``PublishedEvent``
(``name``, ``source``, ``priority``, ``data``; the timestamp and the event
object are left out), a ``RecordingDataStore`` (what is stored, as read back),
a FastAPI app (its OpenAPI paths and methods), an ``httpx.Response``
(status and JSON or text body), pydantic models (``model_dump``), named
tuples, mappings and sequences.

The scrubbing rule (:func:`scrub`), applied to keys and values at any depth:

1. a UUID (``8-4-4-4-12`` hex digits, or 32 hex digits as ``uuid4().hex``),
   alone or inside a string, becomes ``<uuid:N>``: N counts distinct UUIDs in
   order of first appearance in the snapshot, so the same id in an event and
   in the store stays visibly the same;
2. an ISO 8601 date and time (``2026-01-02T03:04:05``, with optional
   fraction and zone), alone or inside a string, and every ``datetime``
   object become ``<datetime>``;
3. the value of a field named ``id``, ``correlation_id`` or ``timestamp``
   becomes ``<id>``, ``<correlation_id>`` or ``<timestamp>`` (a UUID there
   is numbered as in rule 1; ``None`` stays ``None``).

Everything else is kept, so a real change (another event, another value) is a
diff.  syrupy is imported when the extension is first used, never by
``import nexus_testkit.testing.snapshots``.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from syrupy.extensions.amber import AmberSnapshotExtension

    NexusSnapshotExtension: type[AmberSnapshotExtension]

__all__ = [
    "SCRUBBED_FIELDS",
    "NexusSnapshotExtension",
    "health_output",
    "openapi_paths",
    "scrub",
    "snapshot_data",
]

#: Fields whose values are replaced whatever they hold (rule 3).
SCRUBBED_FIELDS = frozenset({"id", "correlation_id", "timestamp"})

_UUID = re.compile(
    r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-"
    r"[0-9A-Fa-f]{12}|[0-9A-Fa-f]{32})(?![0-9A-Fa-f])"
)
_DATETIME = re.compile(
    r"(?<!\d)\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?(?!\d)"
)


class _Scrubber:
    def __init__(self) -> None:
        self.uuids: dict[str, int] = {}

    def _uuid(self, match: re.Match[str]) -> str:
        key = match.group(0).lower().replace("-", "")
        number = self.uuids.setdefault(key, len(self.uuids) + 1)
        return f"<uuid:{number}>"

    def text(self, value: str) -> str:
        return _DATETIME.sub("<datetime>", _UUID.sub(self._uuid, value))

    def field(self, name: str, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, str) and _UUID.fullmatch(value):
            return self.text(value)
        return f"<{name}>"

    def __call__(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        # Dates alone are kept: a due date is data, not the moment of the run.
        if isinstance(value, (_dt.datetime, _dt.time)):
            return "<datetime>"
        if isinstance(value, Mapping):
            out = {}
            for key, item in value.items():
                new_key = self(key) if isinstance(key, str) else key
                if isinstance(key, str) and key in SCRUBBED_FIELDS:
                    out[new_key] = self.field(key, item)
                else:
                    out[new_key] = self(item)
            return out
        if isinstance(value, tuple) and hasattr(value, "_fields"):
            return self(value._asdict())  # type: ignore[attr-defined]
        if isinstance(value, (list, tuple)):
            return [self(item) for item in value]
        if isinstance(value, (set, frozenset)):
            return sorted((self(item) for item in value), key=repr)
        return value


def scrub(data: Any) -> Any:
    """``data`` with UUIDs, date-times and id/timestamp fields replaced (the rule above)."""
    return _Scrubber()(data)


def openapi_paths(app: Any) -> dict[str, list[str]]:
    """``{path: [METHOD, ...]}`` of a FastAPI app (or a ``PluginHost``'s app), sorted."""
    app = getattr(app, "app", None) if not hasattr(app, "openapi") else app
    if app is None:
        raise ValueError("openapi_paths() needs a FastAPI app or a started PluginHost")
    paths = app.openapi().get("paths", {})
    return {path: sorted(m.upper() for m in ops) for path, ops in sorted(paths.items())}


async def health_output(plugin: Any) -> Any:
    """What ``await plugin.health_check()`` returns, as plain data (a host's plugin too)."""
    plugin = getattr(plugin, "plugin", None) or plugin
    return snapshot_data(await plugin.health_check())


def snapshot_data(obj: Any) -> Any:
    """The plain data a snapshot of ``obj`` holds (before scrubbing)."""
    from ..fakes._bus import PublishedEvent, RecordingEventBus
    from ..fakes._store import RecordingDataStore

    if isinstance(obj, RecordingEventBus):
        return snapshot_data(obj.published)
    if isinstance(obj, PublishedEvent):
        return {
            "name": obj.name,
            "source": obj.source,
            "priority": obj.priority,
            "data": snapshot_data(obj.data),
        }
    if isinstance(obj, RecordingDataStore):
        return snapshot_data(obj.data)
    if hasattr(obj, "openapi") and hasattr(obj, "routes"):
        return openapi_paths(obj)
    if hasattr(obj, "model_dump"):
        return snapshot_data(obj.model_dump(mode="json"))
    if hasattr(obj, "status_code") and hasattr(obj, "headers") and hasattr(obj, "text"):
        try:
            body: Any = obj.json()
        except ValueError:
            body = obj.text
        return {"status_code": obj.status_code, "body": snapshot_data(body)}
    if isinstance(obj, tuple) and hasattr(obj, "_asdict"):
        return snapshot_data(obj._asdict())
    if isinstance(obj, Mapping):
        return {key: snapshot_data(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [snapshot_data(item) for item in obj]
    return obj


def _build_extension() -> type[AmberSnapshotExtension]:
    from syrupy.extensions.amber import AmberSnapshotExtension

    class NexusSnapshotExtension(AmberSnapshotExtension):
        """Amber snapshots of the harness's records, scrubbed (see the module's rule)."""

        def serialize(self, data: Any, **kwargs: Any) -> str:
            return super().serialize(scrub(snapshot_data(data)), **kwargs)

    NexusSnapshotExtension.__module__ = __name__
    return NexusSnapshotExtension


def __getattr__(name: str) -> Any:
    # The extension subclasses syrupy's: built, and syrupy imported, on first use.
    if name == "NexusSnapshotExtension":
        cls = _build_extension()
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
