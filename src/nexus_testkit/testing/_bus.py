"""``TestEventBus``: the guide's event bus, a recording bus with the platform's interface.

It *is* a :class:`~nexus_testkit.RecordingEventBus` (so a plugin can be given
it, and every publish is recorded), with the guide's extra methods:
``setup``/``cleanup``, an awaitable ``subscribe``, ``emit(dict)``,
``process_events`` and ``get_error_count``.  As on the platform, a handler
that raises is logged and skipped (the guide's error-handling test relies on
it); ``get_error_count()`` says how many did.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Generator, Mapping
from typing import Any

from ..fakes._bus import Event, EventPriority, Handler, RecordingEventBus, _event_class
from ._divergence import DIVERGENCES

__all__ = ["EmittedEvent", "TestEventBus"]

_platform_log = logging.getLogger("nexus.core")
_EMIT_KEYS = frozenset({"type", "data", "source"})


class _Done:
    """What ``subscribe`` returns: nothing to wait for, yet ``await`` works (the guide awaits)."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield  # a generator that finishes at once


def _getitem(self: Any, key: str) -> Any:
    __tracebackhide__ = True
    DIVERGENCES["event-subscript"].warn(f"event[{key!r}]")
    return self.data[key]


@functools.cache
def _guide_event_class(base: type[Event]) -> type[Event]:
    # A subclass of the event class handlers get on the platform, so that
    # isinstance(event, nexus.core.Event) holds; only event[...] is added,
    # and it warns.
    cls: type[Event] = type(
        base.__name__, (base,), {"__getitem__": _getitem, "__module__": base.__module__}
    )
    return cls


class EmittedEvent(dict[str, Any]):
    """A published event as ``get_emitted_events()`` lists it.

    Its keys are ``type``, ``data``, ``source`` and ``timestamp``; a key of
    the event's data can be read directly too (``e["user_id"]``), as the
    guide's end-to-end test does.
    """

    def __missing__(self, key: str) -> Any:
        data = dict.get(self, "data") or {}
        if key in data:
            return data[key]
        raise KeyError(key)


class TestEventBus(RecordingEventBus):
    """The guide's ``TestEventBus``: ``await bus.setup()`` ... ``await bus.cleanup()``."""

    __test__ = False  # a test helper, not a test class for pytest to collect

    def __init__(self, *, allow_handler_errors: bool = True, **options: Any) -> None:
        super().__init__(allow_handler_errors=allow_handler_errors, **options)

    async def setup(self) -> None:
        """Start the bus (``EventBus.start``)."""
        await self.start()

    async def cleanup(self) -> None:
        """Stop the bus (``EventBus.shutdown``)."""
        await self.shutdown()

    def subscribe(  # type: ignore[override]
        self, event_name: str, handler: Handler, priority: Any = None, **options: Any
    ) -> _Done:
        """Subscribe at once, as the platform does; the result may be awaited (the guide does).

        ``priority`` raises :class:`NexusGuardDivergence`: the platform has none.
        """
        __tracebackhide__ = True
        if priority is not None or options:
            given = {"priority": priority} if priority is not None else {}
            given.update(options)
            detail = ", ".join(f"{k}={v!r}" for k, v in given.items())
            raise DIVERGENCES["subscribe-priority"].fail(
                f"subscribe({event_name!r}, ..., {detail})"
            )
        super().subscribe(event_name, handler)
        return _Done()

    async def emit(self, event: Mapping[str, Any]) -> None:
        """Publish ``{"type": name, "data": {...}, "source": ...}`` (the guide's form)."""
        __tracebackhide__ = True
        if not isinstance(event, Mapping) or not isinstance(event.get("type"), str):
            raise TypeError(
                f"emit() takes a dict with a 'type' string and optional 'data' and 'source', "
                f"got {event!r}"
            )
        unknown = sorted(set(event) - _EMIT_KEYS)
        if unknown:
            raise TypeError(
                f"emit() got keys {unknown} the platform's Event has no place for; put them "
                "under 'data' (accepted keys: type, data, source)"
            )
        source = event.get("source", "test")
        await self.publish(event["type"], event.get("data"), EventPriority.NORMAL, source)

    async def process_events(self) -> None:
        """Deliver queued events and return; warns, since the platform's never returns."""
        __tracebackhide__ = True
        DIVERGENCES["process-events"].warn()
        await self.drain()

    def get_error_count(self) -> int:
        """How many handler calls raised (the platform logs them and goes on)."""
        return len(self.handler_failures)

    def emitted_events(self) -> list[EmittedEvent]:
        """Every published event, oldest first, as :class:`EmittedEvent` dicts."""
        return [
            EmittedEvent(type=e.name, data=e.data, source=e.source, timestamp=e.timestamp)
            for e in self.published
        ]

    def __repr__(self) -> str:
        return super().__repr__().replace("<RecordingEventBus", "<TestEventBus", 1)

    # ------------------------------------------------------------ internals

    def _record(
        self, event_name: str, data: dict[str, Any] | None, priority: Any, source: str | None
    ) -> Event:
        event = super()._record(event_name, data, priority, source)
        guide_event = _guide_event_class(_event_class()).model_construct(**dict(event))
        # The recorded PublishedEvent holds the event handlers get.
        self._recorded[-1] = guide_event
        return guide_event

    def _fail(self, event: Event, handler: Handler, exc: BaseException) -> None:
        super()._fail(event, handler, exc)
        # What the platform's bus logs for a failed handler.
        _platform_log.error("Error in event handler for %s: %s", event.name, exc)
