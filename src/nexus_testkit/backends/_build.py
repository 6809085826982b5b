"""Building the components a host gives a plugin, for either backend.

``fake`` gives the recording fakes; ``platform`` gives nexus-platform's own
components wrapped for recording (see ``_platform``).  The pytest fixtures
and the contract build their components here, so the choice is made in one
place.
"""

from __future__ import annotations

from typing import Any

from ..fakes._bus import RecordingEventBus
from ..fakes._services import RecordingServiceRegistry
from ..fakes._store import RecordingDataStore
from . import check_backend

__all__ = ["check_backend", "make_data_store", "make_event_bus", "make_services", "release"]


def make_event_bus(
    backend: str = "fake", *, delivery: str = "inline", allow_handler_errors: bool = False
) -> RecordingEventBus:
    """The event bus: recording fake (``delivery`` inline or queued) or the platform's."""
    check_backend(backend)
    if backend == "platform":
        from ._platform import PlatformEventBus

        return PlatformEventBus(allow_handler_errors=allow_handler_errors)
    return RecordingEventBus(delivery=delivery, allow_handler_errors=allow_handler_errors)  # type: ignore[arg-type]


def make_data_store(
    backend: str = "fake", *, fidelity: str = "memory", db_url: str | None = None
) -> RecordingDataStore:
    """The data store: a recording fake of ``fidelity``, or the platform's SQL adapter."""
    check_backend(backend)
    if backend == "platform":
        from ._platform import PlatformDataStore

        return PlatformDataStore(db_url)
    return RecordingDataStore(fidelity)  # type: ignore[arg-type]


def make_services(backend: str = "fake") -> RecordingServiceRegistry:
    """The service registry: recording fake or the platform's."""
    check_backend(backend)
    if backend == "platform":
        from ._platform import PlatformServiceRegistry

        return PlatformServiceRegistry()
    return RecordingServiceRegistry()


def release(store: Any) -> None:
    """Remove what a platform store left on disk (a temporary SQLite file)."""
    remove = getattr(store, "remove_files", None)
    if remove is not None:
        remove()
