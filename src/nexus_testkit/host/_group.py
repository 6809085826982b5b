"""A host of several plugins over one bus, one service registry and one data store.

``PluginHost(["plugins/users", "plugins/notifications"])`` builds a
:class:`PluginGroup`: as on the platform, the plugins share the components;
they start in the order their manifests' ``dependencies`` give
(``manifest._dependencies``) and stop in the reverse order.  Each plugin is a
``Member`` (``_members``): a :class:`PluginHost` that enters no guards of its
own and sees the shared components through views that mark what it records
(``_views``), so ``group.event_bus.published.by("users")`` lists what users
published and each leak is reported under the plugin that left it.

The group enters the process-wide guards once and starts the shared
components with the single-plugin host's own code (``_enter_guards`` and
``_components`` are PluginHost's functions, used on the group's attributes),
so one plugin and several run under the same guards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import NexusAssertionError, NexusOptionsError, PluginDependencyError
from .._masking import Masker
from ..backends._build import make_data_store, make_event_bus, make_services
from ..fakes._config import ConfigStore
from ..fakes._services import RecordingServiceRegistry
from ..fakes._store import RecordingDataStore
from ..manifest._dependencies import dependency_order
from ..manifest._load import Manifest, load_manifest
from ..world._world import OutsideWorld
from ._host import PluginHost
from ._leftovers import Leftovers
from ._loader import resolved_directory
from ._logs import LogCapture
from ._members import GroupTracker, Member
from ._options import HostOptions
from ._outbound import OutboundAttempt
from ._state import ProcessWatch

if TYPE_CHECKING:
    import httpx

    from ..fakes._bus import RecordingEventBus
    from ..world._clock import VirtualClock
    from ..world._http import NexusHTTP

__all__ = ["PluginGroup"]


class PluginGroup:
    """Several plugins in one host, sharing the event bus, data store and service registry.

    Use it as an async context manager::

        async with PluginHost(["plugins/users", "plugins/notifications"]) as host:
            await host.client_for("users").post("/users", json={"name": "ada"})
            host.event_bus.assert_published("user.created", source="users")

    ``host.plugins["users"]`` is a plugin instance, ``host.members["users"]``
    its :class:`PluginHost` (its app, logs, leftovers), ``host.client`` the
    first plugin's client.  ``config`` maps a plugin name to its configuration
    over its manifest's defaults; ``config_stores`` gives a plugin's
    :class:`ConfigStore` itself.  The other arguments are those of
    :class:`PluginHost`, for the shared components.  Dependencies missing from
    the set, a cycle, or two manifests of one name raise
    :class:`PluginDependencyError` naming the manifests.
    """

    def __init__(
        self,
        paths: Sequence[Path | str],
        options: HostOptions | None = None,
        *,
        config: Mapping[str, Mapping[str, Any]] | None = None,
        config_stores: Mapping[str, ConfigStore] | None = None,
        manifests: Sequence[Manifest] | None = None,
        event_bus: RecordingEventBus | None = None,
        data_store: RecordingDataStore | None = None,
        services: RecordingServiceRegistry | None = None,
        clock: VirtualClock | None = None,
        http: NexusHTTP | None = None,
    ) -> None:
        self.options = o = options if options is not None else HostOptions()
        if not paths:
            raise ValueError("PluginHost([...]) needs at least one plugin directory")
        given = list(manifests) if manifests is not None else [load_manifest(p) for p in paths]
        _check_names(given)
        order = dependency_order(given)
        self._owned_store = data_store is None
        self.event_bus = event_bus or make_event_bus(
            o.backend, delivery=o.delivery, allow_handler_errors=o.allow_handler_errors
        )
        if self.event_bus.handler_timeout is None:
            self.event_bus.handler_timeout = o.timeout
        directories = [resolved_directory(str(m.directory)) for m in order]
        self._prefer = directories[0]
        if self.event_bus.prefer is None:
            self.event_bus.prefer = self._prefer
        self.data_store = data_store or make_data_store(
            o.backend, fidelity=o.fidelity, db_url=o.db_url
        )
        self.services = services or make_services(o.backend)
        self.world = OutsideWorld(
            clock=clock if clock is not None else o.clock,
            http=http,
            allow_hosts=o.allow_hosts,
            allow_errors=o.allow_errors,
            allow_network=o.allow_network,
            prefer=directories,
        )
        self.leftovers = Leftovers()
        #: What the plugins changed in the process, the threads and subprocesses they left.
        self.watch = ProcessWatch(directories[0], more_roots=tuple(directories[1:]))
        self._owns_watch = True
        #: Every destination the plugins tried to reach (see ``_outbound``), all of them.
        self.outbound: list[OutboundAttempt] = []
        self._tracker = GroupTracker()
        self._capture = LogCapture()
        self._guards = contextlib.ExitStack()
        self._stack: contextlib.AsyncExitStack | None = None
        configs = config or {}
        stores = config_stores or {}
        _check_configs(given, configs, stores)
        by_path = {id(m): p for m, p in zip(given, paths, strict=True)}
        members = {
            m.name: Member(
                by_path[id(m)],
                o,
                group=self,
                manifest=m,
                config=configs.get(m.name),
                config_store=stores.get(m.name),
            )
            for m in order
        }
        #: Each plugin's host, in start order.
        self.members: dict[str, PluginHost] = dict(members)
        self._members = list(members.values())
        self._first = members[given[0].name]
        self.masker = Masker()
        for member in self._members:
            self.masker.add(member.masker._secrets)
        self._started = False
        self._closed = False

    # ------------------------------------------------------------ public API

    @property
    def names(self) -> list[str]:
        """The plugins' names, in start order."""
        return list(self.members)

    @property
    def plugins(self) -> dict[str, Any]:
        """Each plugin's current instance by name (a new one after :meth:`restart`)."""
        return {name: host.plugin for name, host in self.members.items()}

    @property
    def plugin(self) -> Any:
        """The first plugin's instance (the first path given)."""
        return self._first.plugin

    @property
    def manifest(self) -> Manifest:
        return self._first.manifest

    @property
    def name(self) -> str:
        return self._first.name

    @property
    def prefix(self) -> str:
        return self._first.prefix

    @property
    def app(self) -> Any:
        """The first plugin's app; each plugin is served by its own (``members[name].app``)."""
        return self._first.app

    @property
    def client(self) -> httpx.AsyncClient:
        """The first plugin's client, at its mount prefix."""
        return self._first.client

    def client_for(self, name: str) -> httpx.AsyncClient:
        """A client based at plugin ``name``'s mount prefix, ``/api/plugins/{name}``."""
        return self._host(name).client

    @property
    def config_store(self) -> ConfigStore:
        return self._first.config_store

    async def __aenter__(self) -> PluginGroup:
        await self.start()
        return self

    async def start(self) -> None:
        """Start the shared components, then each plugin in dependency order."""
        if self._started:
            raise RuntimeError("this host was already started; build a new PluginHost")
        self._started = True
        stack = contextlib.AsyncExitStack()
        try:
            # PluginHost's functions on a group (see _enter_guards below): mypy
            # checks the self type they were written for.
            stack.enter_context(self._enter_guards())  # type: ignore[misc]
            await stack.enter_async_context(self._components())  # type: ignore[misc]
            stack.push_async_callback(self._settle_unowned)
            for member in self._members:
                await member.start()  # a failed start closed what it opened
                stack.push_async_callback(member.aclose)
        except BaseException:
            self._closed = True
            await stack.aclose()
            raise
        self._stack = stack

    async def restart(self, name: str | None = None) -> None:
        """Restart plugin ``name`` (default: every plugin, in order), the others running.

        As the platform's hot swap does: its module is imported again and a
        new instance initialized over the same shared components.
        """
        if not self._started or self._closed:
            raise RuntimeError("the host is not running")
        for member in self._members if name is None else [self._host(name)]:
            await member.restart()

    async def aclose(self) -> None:
        """Shut the plugins down in reverse start order, then the shared components."""
        self._closed = True
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()

    def verify(self) -> None:
        """End-of-test check over every plugin: each problem under the plugin that caused it."""
        parts = []
        for member in self._members:
            try:
                member.leftovers.verify(member.name, member.directory, None, member.masker)
            except NexusAssertionError as exc:
                parts.append(str(exc))
        try:
            self.leftovers.verify(
                ", ".join(self.members),
                self._first.directory,
                self.event_bus,
                self.masker,
                [*self.world.problems(), *self.watch.problems(", ".join(self.members))],
            )
        except NexusAssertionError as exc:
            parts.append(str(exc))
        if parts:
            raise NexusAssertionError("\n\n".join(parts))

    def warn(self) -> None:
        """Each plugin's leftover warnings, then what the shared guards saw."""
        for member in self._members:
            member.warn()
        self.leftovers.emit_warnings(", ".join(self.members), str(self._first.directory))

    def describe_recorded(self) -> str:
        from ._leftovers import describe_recorded

        return describe_recorded(
            self.event_bus, self.data_store, self._first.config_store, self.masker
        )

    # ------------------------------------------------------------ the stack's pieces

    # The single-plugin host's own code, on the group's attributes of the same names.
    clock = PluginHost.clock
    http = PluginHost.http
    closed = PluginHost.closed
    logs = PluginHost.logs
    log_lines = PluginHost.log_lines
    __aexit__ = PluginHost.__aexit__
    abandon = PluginHost.abandon
    _enter_guards = PluginHost._enter_guards
    _components = PluginHost._components
    _harness_tasks = PluginHost._harness_tasks
    _end_watch = PluginHost._end_watch

    def _unload_modules(self) -> None:
        for member in self._members:
            member._unload_modules()

    async def _settle_unowned(self) -> None:
        """Tasks no plugin's own code created, still pending once all are shut down."""
        if self._tracker.unowned():
            self.leftovers.tasks.extend(await self._tracker.settle())
        await self._tracker.cancel_pending()

    def _host(self, name: str) -> Member:
        host = self.members.get(name)
        if host is None:
            raise KeyError(
                f"no plugin named {name!r} in this host; its plugins are "
                + ", ".join(repr(n) for n in self.members)
            )
        assert isinstance(host, Member)
        return host

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("running" if self._started else "new")
        return f"<PluginHost of {', '.join(self.members)} {state}>"


def _check_names(manifests: Sequence[Manifest]) -> None:
    seen: dict[str, Manifest] = {}
    for manifest in manifests:
        first = seen.setdefault(manifest.name, manifest)
        if first is not manifest:
            raise PluginDependencyError(
                f"two plugins are named {manifest.name!r}: {first.path} and {manifest.path}\n"
                "Plugins of one host are told apart by name (their mount prefix "
                "/api/plugins/{name}); rename one of them.",
                kind="duplicate",
                paths=(first.path, manifest.path),
            )


def _check_configs(
    manifests: Sequence[Manifest],
    configs: Mapping[str, Any],
    stores: Mapping[str, ConfigStore],
) -> None:
    names = [m.name for m in manifests]
    for key in (*configs, *stores):
        if key not in names:
            raise NexusOptionsError(
                f"config names {key!r}, which is not among the plugins of this host "
                f"({', '.join(names)})"
            )
    both = sorted(set(configs) & set(stores))
    if both:
        raise NexusOptionsError(
            f"plugin {both[0]!r} was given both a config and a config store; give one "
            "(under pytest, @pytest.mark.nexus_config configures the first plugin of "
            "@pytest.mark.nexus_plugins)"
        )
