"""Per-plugin views of the components several plugins share, marking who made each record.

In a host of several plugins every plugin gets its own view of the one event
bus, data store and service registry (as ``event_bus``, ``db_adapter`` and
``service_registry``).  A view forwards every call to the shared component;
a call that records something (a publish, a subscription, a data operation, a
registration) has its record marked with the view's plugin in the
recording's :class:`~nexus_testkit.fakes._recording.Origins`, so that
``bus.published.by("users")`` and the leak reports can say which plugin it was.

Each component records synchronously at the start of the call, before its
first ``await`` (the fakes and the platform wrappers alike), so the record a
call made is the one at the position the recording had when the call began,
however long the call then runs and whatever other plugins record meanwhile.
A single-plugin host uses no view: its plugin gets the components themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..fakes._recording import CallList, FlatRecording, Origins
from ..fakes._store import OPERATIONS

__all__ = ["attribute", "bus_view", "services_view", "store_view"]


def attribute(recording: CallList[Any]) -> Origins:
    """The recording's origins, created on first use (one per shared recording)."""
    if recording.origins is None:
        recording.origins = Origins()
    return recording.origins


def _count(recording: CallList[Any]) -> int:
    # The number of records without building the buffered ones (see FlatRecording).
    if isinstance(recording, FlatRecording):
        return list.__len__(recording) + len(recording.buffer) // recording._width
    return len(recording)


def _mark(recording: CallList[Any], index: int, plugin: str) -> None:
    if recording.origins is not None and _count(recording) > index:
        recording.origins.mark(recording[index], plugin)


class _View:
    """Forwards every attribute to ``target``; the marking methods are added per view."""

    def __init__(self, target: Any, plugin: str) -> None:
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_plugin", plugin)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._target, name, value)

    def __contains__(self, item: object) -> bool:
        return item in self._target

    def __repr__(self) -> str:
        return f"<view of {self._target!r} for plugin {self._plugin!r}>"


def _marking_sync(view: _View, method: str, recording: CallList[Any]) -> Callable[..., Any]:
    call = getattr(view._target, method)
    plugin = view._plugin

    def marked(*args: Any, **kwargs: Any) -> Any:
        index = _count(recording)
        try:
            return call(*args, **kwargs)
        finally:
            _mark(recording, index, plugin)

    return marked


def _marking_async(view: _View, method: str, recording: CallList[Any]) -> Callable[..., Any]:
    call = getattr(view._target, method)
    plugin = view._plugin

    async def marked(*args: Any, **kwargs: Any) -> Any:
        index = _count(recording)
        try:
            return await call(*args, **kwargs)
        finally:
            _mark(recording, index, plugin)

    return marked


def _install(view: _View, methods: dict[str, Callable[..., Any]]) -> _View:
    for name, method in methods.items():
        object.__setattr__(view, name, method)
    return view


def bus_view(bus: Any, plugin: str) -> Any:
    """``bus`` as ``plugin`` sees it: its publishes and (un)subscriptions marked as its own."""
    attribute(bus.published)
    attribute(bus.subscription_calls)
    view = _View(bus, plugin)
    return _install(
        view,
        {
            "publish": _marking_async(view, "publish", bus.published),
            "subscribe": _marking_sync(view, "subscribe", bus.subscription_calls),
            "unsubscribe": _marking_sync(view, "unsubscribe", bus.subscription_calls),
        },
    )


def store_view(store: Any, plugin: str) -> Any:
    """``store`` as ``plugin`` sees it: each of its operations marked as its own."""
    attribute(store.operations)
    view = _View(store, plugin)
    return _install(view, {op: _marking_async(view, op, store.operations) for op in OPERATIONS})


def services_view(services: Any, plugin: str) -> Any:
    """``services`` as ``plugin`` sees it: its registrations marked as its own."""
    attribute(services.calls)
    view = _View(services, plugin)
    return _install(
        view,
        {
            "register": _marking_sync(view, "register", services.calls),
            "unregister": _marking_sync(view, "unregister", services.calls),
        },
    )
