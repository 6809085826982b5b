"""Which components a host gives the plugin: ``fake`` (the recording fakes) or
``platform`` (nexus-platform's own event bus, service registry and SQL adapter,
wrapped so that recording and assertions keep working)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import attach

#: ``fake``: the recording fakes; ``platform``: nexus-platform's own components.
#: Defined here, not in a module of its own, so that validating an option
#: costs no import.
BACKENDS = ("fake", "platform")


def check_backend(backend: str) -> None:
    """A :class:`NexusOptionsError` unless ``backend`` is one of :data:`BACKENDS`."""
    if backend not in BACKENDS:
        from .._errors import NexusOptionsError

        raise NexusOptionsError(
            f"backend={backend!r} is not valid. Valid values: {', '.join(BACKENDS)}."
        )


_WHERE = {
    "make_data_store": "_build",
    "make_event_bus": "_build",
    "make_services": "_build",
    "release": "_build",
}
__all__ = [
    "BACKENDS",
    "check_backend",
    "make_data_store",
    "make_event_bus",
    "make_services",
    "release",
]
__getattr__, __dir__ = attach(__name__, _WHERE)

if TYPE_CHECKING:
    from ._build import make_data_store, make_event_bus, make_services, release
