"""nexus_testkit: test harness for Nexus Platform plugins, usable without pytest.

The only public names are those in ``__all__``; the ``_``-prefixed modules
are implementation details.  The pytest plugin ``pytest_nexus`` is a thin
layer of fixtures over these objects.
"""

from __future__ import annotations

from ._bus import Event, EventPriority, HandlerFailure, PublishedEvent, RecordingEventBus
from ._config import ConfigStore, ConfigWrite, placeholder_value, resolve_config
from ._errors import (
    ManifestError,
    NexusAssertionError,
    NexusLeftoverWarning,
    NexusTestkitError,
    PluginLoadError,
    PluginStartError,
    PluginTimeoutError,
)
from ._host import DEFAULT_TIMEOUT, HostFactory, Leftovers, PluginHost
from ._loader import LoadedPlugin, import_plugin, platform_plugin_class
from ._manifest import MISSING, ConfigOption, Endpoint, EventSpec, Manifest, load_manifest
from ._network import NetworkBlockedError
from ._recording import CallList
from ._services import RecordingServiceRegistry, ServiceCall
from ._store import DataOperation, RecordingDataStore, sql_round_trip

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_TIMEOUT",
    "MISSING",
    "CallList",
    "ConfigOption",
    "ConfigStore",
    "ConfigWrite",
    "DataOperation",
    "Endpoint",
    "Event",
    "EventPriority",
    "EventSpec",
    "HandlerFailure",
    "HostFactory",
    "Leftovers",
    "LoadedPlugin",
    "Manifest",
    "ManifestError",
    "NetworkBlockedError",
    "NexusAssertionError",
    "NexusLeftoverWarning",
    "NexusTestkitError",
    "PluginHost",
    "PluginLoadError",
    "PluginStartError",
    "PluginTimeoutError",
    "PublishedEvent",
    "RecordingDataStore",
    "RecordingEventBus",
    "RecordingServiceRegistry",
    "ServiceCall",
    "__version__",
    "import_plugin",
    "load_manifest",
    "placeholder_value",
    "platform_plugin_class",
    "resolve_config",
    "sql_round_trip",
]
