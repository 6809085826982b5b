"""The in-memory plugin host: importing a plugin, wiring it to the components
as the platform's ``PluginManager`` does, mounting its routers behind an ASGI
client, and the guards around every call into plugin code (time-outs, the
network, tasks, blocking, logs)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import attach

_WHERE = {
    "DEFAULT_TIMEOUT": "_host",
    "HostFactory": "_host",
    "Leftovers": "_host",
    "PluginHost": "_host",
    "LoadedPlugin": "_loader",
    "import_plugin": "_loader",
    "platform_plugin_class": "_loader",
    "NetworkBlockedError": "_network",
}
__all__ = [
    "DEFAULT_TIMEOUT",
    "HostFactory",
    "Leftovers",
    "LoadedPlugin",
    "NetworkBlockedError",
    "PluginHost",
    "import_plugin",
    "platform_plugin_class",
]
__getattr__, __dir__ = attach(__name__, _WHERE)

if TYPE_CHECKING:
    from ._host import DEFAULT_TIMEOUT, HostFactory, Leftovers, PluginHost
    from ._loader import LoadedPlugin, import_plugin, platform_plugin_class
    from ._network import NetworkBlockedError
