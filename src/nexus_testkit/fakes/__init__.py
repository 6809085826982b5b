"""Recording fakes of the platform's components: the event bus, the key-value
store behind ``get_data``/``set_data``, the service registry and the
configuration, each with the interface of nexus-platform 0.1.5 and a record of
every call (``CallList``: ``called``, ``call_count``, ``last``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import attach

_WHERE = {
    "Event": "_bus",
    "EventPriority": "_bus",
    "HandlerFailure": "_bus",
    "PublishedEvent": "_bus",
    "RecordingEventBus": "_bus",
    "Subscription": "_bus",
    "ConfigStore": "_config",
    "ConfigWrite": "_config",
    "placeholder_value": "_config",
    "resolve_config": "_config",
    "CallList": "_recording",
    "RecordingServiceRegistry": "_services",
    "ServiceCall": "_services",
    "DataOperation": "_store",
    "RecordingDataStore": "_store",
    "sql_round_trip": "_store",
}
__all__ = [
    "CallList",
    "ConfigStore",
    "ConfigWrite",
    "DataOperation",
    "Event",
    "EventPriority",
    "HandlerFailure",
    "PublishedEvent",
    "RecordingDataStore",
    "RecordingEventBus",
    "RecordingServiceRegistry",
    "ServiceCall",
    "Subscription",
    "placeholder_value",
    "resolve_config",
    "sql_round_trip",
]
__getattr__, __dir__ = attach(__name__, _WHERE)

if TYPE_CHECKING:
    from ._bus import (
        Event,
        EventPriority,
        HandlerFailure,
        PublishedEvent,
        RecordingEventBus,
        Subscription,
    )
    from ._config import ConfigStore, ConfigWrite, placeholder_value, resolve_config
    from ._recording import CallList
    from ._services import RecordingServiceRegistry, ServiceCall
    from ._store import DataOperation, RecordingDataStore, sql_round_trip
