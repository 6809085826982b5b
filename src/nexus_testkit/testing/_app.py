"""``TestApplication`` and ``TestClient``: the guide's application, on ``PluginHost``.

A ``TestApplication`` owns one :class:`TestEventBus`, one :class:`TestDatabase`
and one service registry; each ``register_plugin`` starts the plugin in a
:class:`~nexus_testkit.PluginHost` over those shared components, as the
platform's ``PluginManager`` injects its one bus, adapter and registry into
every plugin.  ``TestClient`` sends requests at the application's real paths
(``/api/plugins/{name}/...``) to the host that mounts them.
"""

from __future__ import annotations

import os
import sys
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import NexusAssertionError, NexusTestkitError
from ..fakes._services import RecordingServiceRegistry
from ..host._host import PluginHost
from ._bus import EmittedEvent, TestEventBus
from ._db import TestDatabase
from ._divergence import DIVERGENCES

if TYPE_CHECKING:
    import httpx

__all__ = ["TestApplication", "TestClient"]

_HERE = str(Path(__file__).resolve().parent.parent) + os.sep
#: Plugin instance id -> the host running it, for TestClient.setup_with_plugin.
_HOSTS: weakref.WeakValueDictionary[int, PluginHost] = weakref.WeakValueDictionary()
#: Paths the host's app serves outside the plugins' prefixes.
_APP_PATHS = ("/openapi.json", "/docs", "/redoc")


def _new_host(path: Path, config: Mapping[str, Any] | None, app: TestApplication) -> PluginHost:
    # The one place that builds a PluginHost for this layer.
    return PluginHost(
        path,
        config=config,
        event_bus=app.event_bus,
        data_store=app.database,
        services=app.services,
    )


def _caller_directory() -> Path:
    """The directory of the first frame outside nexus_testkit: the test module or conftest."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_HERE):
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None:
        return Path.cwd()
    return Path(frame.f_code.co_filename).resolve().parent


def nearest_plugin(start: Path) -> Path | None:
    """The nearest directory at or above ``start`` holding a manifest.json."""
    for candidate in (start, *start.parents):
        if (candidate / "manifest.json").is_file():
            return candidate
    return None


class TestApplication:
    """The guide's ``TestApplication``: plugins started over one shared set of fakes.

    ::

        app = TestApplication()
        await app.setup()
        plugin = await app.register_plugin("plugins/users", {"api_key": "k"})
        response = await app.get_client().get("/api/plugins/users/health")
        await app.cleanup()

    ``cleanup()`` shuts the plugins down in reverse order and fails
    (:class:`~nexus_testkit.NexusAssertionError`) if one leaked a task or its
    ``shutdown()`` raised or hung.
    """

    __test__ = False  # a test helper, not a test class for pytest to collect

    def __init__(
        self,
        *,
        event_bus: TestEventBus | None = None,
        database: TestDatabase | None = None,
        services: RecordingServiceRegistry | None = None,
        plugins_dir: Path | str | None = None,
        near: Path | str | None = None,
    ) -> None:
        #: Shared by every plugin; pass the guide's ``test_event_bus``/``test_db`` to use them.
        self.event_bus = event_bus if event_bus is not None else TestEventBus()
        self.database = database if database is not None else TestDatabase()
        self.services = services if services is not None else RecordingServiceRegistry()
        self._owned = (event_bus is None, database is None)
        self.hosts: dict[str, PluginHost] = {}
        self.plugins_dir = Path(plugins_dir) if plugins_dir is not None else None
        #: Where the tests' own plugin is looked for (default: the calling file's directory).
        self._near = Path(near).resolve() if near is not None else _caller_directory()
        self._set_up = False

    async def setup(self) -> None:
        """Connect the database and start the bus."""
        if self._set_up:
            return
        self._set_up = True
        await self.database.setup()
        await self.event_bus.setup()

    async def setup_full_environment(self, *plugins: Path | str) -> None:
        """Set up and start ``plugins`` in order (default: the plugin the tests belong to,
        the nearest directory holding a manifest.json above the calling file)."""
        await self.setup()
        if not plugins:
            found = nearest_plugin(self._near)
            if found is None:
                raise NexusTestkitError(
                    f"setup_full_environment(): no manifest.json at or above {self._near}; "
                    "pass the plugin directories: setup_full_environment('plugins/a', ...)"
                )
            plugins = (found,)
        for plugin in plugins:
            await self.register_plugin(plugin)

    async def register_plugin(
        self, name_or_path: Path | str, config: Mapping[str, Any] | None = None
    ) -> Any:
        """Start a plugin (a directory, or the name of one beside the tests' plugin or
        under ``plugins_dir``) with ``config`` over the manifest's defaults; return the
        initialized instance."""
        await self.setup()
        path = self._resolve(name_or_path)
        host = _new_host(path, config, self)
        if host.name in self.hosts:
            raise NexusTestkitError(
                f"{path}: a plugin named {host.name!r} is already registered "
                f"(from {self.hosts[host.name].directory})"
            )
        await host.start()
        self.hosts[host.name] = host
        _HOSTS[id(host.plugin)] = host
        return host.plugin

    def _resolve(self, name_or_path: Path | str) -> Path:
        given = Path(name_or_path)
        candidates = [given] if given.is_absolute() else [Path.cwd() / given, self._near / given]
        if not given.is_absolute() and len(given.parts) == 1:
            home = nearest_plugin(self._near)
            if home is not None:
                candidates += [home] if home.name == given.name else []
                candidates.append(home.parent / given)
            if self.plugins_dir is not None:
                candidates.append(self.plugins_dir / given)
            candidates.append(Path.cwd() / "plugins" / given)
        for candidate in candidates:
            if (candidate / "manifest.json").is_file() or (candidate / "plugin.py").is_file():
                return candidate.resolve()
        looked = "\n".join(f"- {c}" for c in dict.fromkeys(candidates))
        raise NexusTestkitError(
            f"register_plugin({str(name_or_path)!r}): no plugin directory (manifest.json or "
            f"plugin.py) found. Looked at:\n{looked}\n"
            "Pass the plugin's directory, or TestApplication(plugins_dir=...)."
        )

    def get_plugin(self, name: str) -> Any:
        """The running instance of the plugin named ``name`` (its manifest's name)."""
        return self._host(name).plugin

    async def is_plugin_loaded(self, name: str) -> bool:
        """Whether a plugin named ``name`` was registered and is running."""
        host = self.hosts.get(name)
        return host is not None and not host.closed

    def _host(self, name: str) -> PluginHost:
        try:
            return self.hosts[name]
        except KeyError:
            known = ", ".join(sorted(self.hosts)) or "none"
            raise KeyError(
                f"no plugin named {name!r} is registered (registered: {known})"
            ) from None

    def get_client(self) -> TestClient:
        """A :class:`TestClient` over every plugin of this application."""
        return TestClient(self)

    async def emit_event(
        self, event_name: str, data: Mapping[str, Any] | None = None, source: str = "test"
    ) -> None:
        """Publish an event on the shared bus, as another plugin would."""
        await self.event_bus.publish(event_name, dict(data or {}), source=source)

    async def get_emitted_events(self) -> list[EmittedEvent]:
        """Every event published on the shared bus, oldest first."""
        return self.event_bus.emitted_events()

    async def cleanup(self) -> None:
        """Shut the plugins down (last registered first), then the bus and the database."""
        failures = []
        for host in reversed(list(self.hosts.values())):
            _HOSTS.pop(id(host.plugin), None)
            await host.aclose()
            try:
                host.verify()
            except NexusAssertionError as exc:
                failures.append(str(exc))
        self.hosts.clear()
        # Components the test passed in are the test's to clean up.
        if self._owned[0]:
            await self.event_bus.cleanup()
        if self._owned[1]:
            await self.database.cleanup()
        if failures:
            raise NexusAssertionError("\n\n".join(failures))

    def __repr__(self) -> str:
        return f"<TestApplication plugins={sorted(self.hosts)}>"


class TestClient:
    """The guide's ``TestClient``: requests at the application's paths, ``/api/plugins/{name}/...``.

    Build it with ``app.get_client()``, or ``TestClient()`` then
    ``await client.setup_with_plugin(plugin)`` for a plugin an application
    started.  Responses are ``httpx.Response`` objects.
    """

    __test__ = False  # a test helper, not a test class for pytest to collect

    def __init__(self, app: TestApplication | None = None) -> None:
        self._app = app
        self._hosts: list[PluginHost] = []
        self.headers: dict[str, str] = {}

    async def setup_with_plugin(self, plugin: Any) -> None:
        """Serve the routes of ``plugin``, a plugin a :class:`TestApplication` started."""
        __tracebackhide__ = True
        host = _HOSTS.get(id(plugin))
        if host is None or host.plugin is not plugin:
            detail = f"setup_with_plugin() got a {type(plugin).__name__} no TestApplication started"
            if getattr(plugin, "db", None) is not None:
                detail += "; it has plugin.db set, which the platform never reads"
            raise DIVERGENCES["plugin-built-by-test"].fail(detail)
        self._hosts = [host]

    async def cleanup(self) -> None:
        """Nothing to release: the application owns the hosts and closes them."""
        self._hosts = []

    def set_auth_token(self, token: str) -> None:
        """Send ``Authorization: Bearer <token>`` with every request from now on.

        Only the plugin's own code looks at it: the platform adds no
        authentication in front of plugin routes.
        """
        self.headers["Authorization"] = f"Bearer {token}"

    def _served(self) -> list[PluginHost]:
        if self._hosts:
            return self._hosts
        return list(self._app.hosts.values()) if self._app is not None else []

    def _route(self, method: str, path: str) -> PluginHost:
        __tracebackhide__ = True
        hosts = self._served()
        if not hosts:
            raise NexusTestkitError(
                f"{method} {path}: no plugin to serve it; call setup_with_plugin(plugin) or "
                "register a plugin in the TestApplication first"
            )
        bare = path.split("?", 1)[0]
        for host in hosts:
            if bare == host.prefix or bare.startswith(host.prefix + "/"):
                return host
        if bare in _APP_PATHS:
            return hosts[0]
        detail = f"{method} {path}; served here: " + ", ".join(f"{h.prefix}/..." for h in hosts)
        rest = bare.lstrip("/").partition("/")[2]
        if len(hosts) == 1 and not bare.startswith("/api/"):
            # /my-plugin/users in the guide is the plugin's /users route.
            detail += f"; did you mean {hosts[0].prefix}/{rest}?"
        raise DIVERGENCES["mount-path"].fail(detail)

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send ``method path`` (a path from the application's root) to the plugin serving it."""
        __tracebackhide__ = True
        host = self._route(method, path)
        headers = {**self.headers, **(kwargs.pop("headers", None) or {})}
        # An absolute URL: the host's client is based at the plugin's prefix.
        return await host.client.request(
            method, f"http://testserver{path}", headers=headers, **kwargs
        )

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        __tracebackhide__ = True
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> httpx.Response:
        __tracebackhide__ = True
        return await self.request("POST", path, **kwargs)

    async def put(self, path: str, **kwargs: Any) -> httpx.Response:
        __tracebackhide__ = True
        return await self.request("PUT", path, **kwargs)

    async def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        __tracebackhide__ = True
        return await self.request("PATCH", path, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        __tracebackhide__ = True
        return await self.request("DELETE", path, **kwargs)
