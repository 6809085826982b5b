"""nexus_testkit: test harness for Nexus Platform plugins, usable without pytest.

The layers, each a subpackage:

- :mod:`nexus_testkit.manifest`: ``manifest.json`` loaded into a typed model,
  and the rules a configuration value must meet;
- :mod:`nexus_testkit.fakes`: recording fakes of the platform's event bus,
  key-value store, service registry and configuration;
- :mod:`nexus_testkit.backends`: which components a host gives a plugin, the
  fakes or nexus-platform's own;
- :mod:`nexus_testkit.host`: loading a plugin and running it in an in-memory
  host with an ASGI client, under guards (time-outs, network, tasks, logs);
- :mod:`nexus_testkit.contract`: the lifecycle contract run against any plugin;
- :mod:`nexus_testkit.strategies`: hypothesis strategies from manifests.

The public names are re-exported here and imported on first use, so that
``import nexus_testkit`` alone loads none of pydantic, FastAPI or hypothesis.
The ``_``-prefixed modules are implementation details.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import attach

__version__ = "0.1.0"

_WHERE = {
    "DEFAULT_TIMEOUT": "host._options",
    "HostOptions": "host._options",
    "HostFactory": "host._factory",
    "Leftovers": "host._leftovers",
    "PluginHost": "host._host",
    "LoadedPlugin": "host._loader",
    "import_plugin": "host._loader",
    "platform_plugin_class": "host._loader",
    "NetworkBlockedError": "host._network",
    "MISSING": "manifest._load",
    "ConfigOption": "manifest._load",
    "Endpoint": "manifest._load",
    "EventSpec": "manifest._load",
    "Manifest": "manifest._load",
    "load_manifest": "manifest._load",
    "Event": "fakes._bus",
    "EventPriority": "fakes._bus",
    "HandlerFailure": "fakes._bus",
    "PublishedEvent": "fakes._bus",
    "RecordingEventBus": "fakes._bus",
    "ConfigStore": "fakes._config",
    "ConfigWrite": "fakes._config",
    "placeholder_value": "fakes._config",
    "resolve_config": "fakes._config",
    "CallList": "fakes._recording",
    "RecordingServiceRegistry": "fakes._services",
    "ServiceCall": "fakes._services",
    "DataOperation": "fakes._store",
    "RecordingDataStore": "fakes._store",
    "sql_round_trip": "fakes._store",
    "ManifestError": "_errors",
    "NexusAssertionError": "_errors",
    "NexusContractWarning": "_errors",
    "NexusGuardWarning": "_errors",
    "NexusLeftoverWarning": "_errors",
    "NexusOptionsError": "_errors",
    "NexusWarning": "_errors",
    "NexusTestkitError": "_errors",
    "PluginExitError": "_errors",
    "PluginLoadError": "_errors",
    "PluginDependencyError": "_errors",
    "PluginStartError": "_errors",
    "PluginTimeoutError": "_errors",
}

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
    "HostOptions",
    "Leftovers",
    "LoadedPlugin",
    "Manifest",
    "ManifestError",
    "NetworkBlockedError",
    "NexusAssertionError",
    "NexusContractWarning",
    "NexusGuardWarning",
    "NexusLeftoverWarning",
    "NexusOptionsError",
    "NexusTestkitError",
    "NexusWarning",
    "PluginDependencyError",
    "PluginExitError",
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

__getattr__, __dir__ = attach(__name__, _WHERE)

if TYPE_CHECKING:  # what the lazy lookups return, for type checkers and IDEs
    from ._errors import (
        ManifestError,
        NexusAssertionError,
        NexusContractWarning,
        NexusGuardWarning,
        NexusLeftoverWarning,
        NexusOptionsError,
        NexusTestkitError,
        NexusWarning,
        PluginDependencyError,
        PluginExitError,
        PluginLoadError,
        PluginStartError,
        PluginTimeoutError,
    )
    from .fakes._bus import Event, EventPriority, HandlerFailure, PublishedEvent, RecordingEventBus
    from .fakes._config import ConfigStore, ConfigWrite, placeholder_value, resolve_config
    from .fakes._recording import CallList
    from .fakes._services import RecordingServiceRegistry, ServiceCall
    from .fakes._store import DataOperation, RecordingDataStore, sql_round_trip
    from .host._factory import HostFactory
    from .host._host import PluginHost
    from .host._leftovers import Leftovers
    from .host._loader import LoadedPlugin, import_plugin, platform_plugin_class
    from .host._network import NetworkBlockedError
    from .host._options import DEFAULT_TIMEOUT, HostOptions
    from .manifest._load import (
        MISSING,
        ConfigOption,
        Endpoint,
        EventSpec,
        Manifest,
        load_manifest,
    )
