"""The in-memory plugin host: importing a plugin, wiring it to the components
as the platform's ``PluginManager`` does, mounting its routers behind an ASGI
client, and the guards around every call into plugin code (time-outs, the
network, tasks, blocking, logs); several plugins in one host over shared components."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import attach

_WHERE = {
    "DEFAULT_TIMEOUT": "_options",
    "HostOptions": "_options",
    "HostFactory": "_factory",
    "Leftovers": "_leftovers",
    "PluginGroup": "_group",
    "PluginHost": "_host",
    "discover_plugins": "_discovery",
    "plugin_dir_problem": "_discovery",
    "LoadedPlugin": "_loader",
    "import_plugin": "_loader",
    "platform_plugin_class": "_loader",
    "NetworkBlockedError": "_network",
}
__all__ = [
    "DEFAULT_TIMEOUT",
    "HostFactory",
    "HostOptions",
    "Leftovers",
    "LoadedPlugin",
    "NetworkBlockedError",
    "PluginGroup",
    "PluginHost",
    "discover_plugins",
    "import_plugin",
    "platform_plugin_class",
    "plugin_dir_problem",
]
__getattr__, __dir__ = attach(__name__, _WHERE)

if TYPE_CHECKING:
    from ._discovery import discover_plugins, plugin_dir_problem
    from ._factory import HostFactory
    from ._group import PluginGroup
    from ._host import PluginHost
    from ._leftovers import Leftovers
    from ._loader import LoadedPlugin, import_plugin, platform_plugin_class
    from ._network import NetworkBlockedError
    from ._options import DEFAULT_TIMEOUT, HostOptions
