"""The in-memory plugin host.

``PluginHost`` does for one plugin what the platform's ``PluginManager`` and
application do for all of them, with the recording fakes in place of the real
components:

1. import ``plugin.py`` under a package of its own and build the instance
   (``create_plugin()`` or the platform's class rule);
2. inject ``db_adapter``, ``event_bus`` and ``service_registry`` as
   ``PluginManager.load_plugin`` does, and the configuration as ``plugin.config``;
3. await ``initialize()`` with a time-out; anything but ``True`` is a
   :class:`PluginStartError` carrying the plugin's error and log lines;
4. serve its routers in-process (``_app``);
5. on close, await ``shutdown()`` with a time-out and record what the plugin
   left behind (``_leftovers``).

A running host is an ``AsyncExitStack`` of small context managers, closed in
reverse: the process-wide guards (task tracking, log capture and masking, the
network guard, the blocking monitor, the plugin's modules), then the
components, the client, and the running plugin with its app's lifespan.  The
guards are a synchronous ``ExitStack`` of their own so that :meth:`abandon`
can undo them without an event loop.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .._deadlines import run_with_timeout
from .._describe import describe_exception, safe_repr
from .._errors import PluginStartError, PluginTimeoutError
from .._interrupts import (
    PluginKeyboardInterrupt,
    holding_alarm,
    interrupt_after,
    watching_ctrl_c,
)
from .._masking import Masker
from ..backends._build import make_data_store, make_event_bus, make_services, release
from ..fakes._bus import RecordingEventBus
from ..fakes._config import ConfigStore
from ..fakes._services import RecordingServiceRegistry
from ..fakes._store import RecordingDataStore
from ..manifest._load import Manifest, load_manifest
from ..world._world import OutsideWorld
from ._app import HostClient, build_app
from ._guards import blocking_monitored, network_guarded, tracking
from ._leftovers import Leftovers, describe_recorded, owned_handlers
from ._loader import LoadedPlugin, import_plugin, plugin_frames, resolved_directory
from ._logs import LOG_FORMAT, LogCapture, masking_records
from ._options import HostOptions
from ._outbound import OutboundAttempt, outbound
from ._state import ProcessWatch, shared_watch
from ._tasks import TaskTracker

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI

    from ..world._clock import VirtualClock
    from ..world._http import NexusHTTP

__all__ = ["PluginHost"]


class PluginHost:
    """Runs one plugin against recording fakes and serves its routes in-process.

    Given a list of plugin directories, ``PluginHost([...])`` is a host of
    several plugins over shared components (:class:`~nexus_testkit.host.PluginGroup`).

    Use it as an async context manager::

        async with PluginHost("plugins/my_plugin", config={"api_key": "k"}) as host:
            response = await host.client.get("/status")
            host.event_bus.assert_published("my_plugin.initialized")

    ``options`` (a :class:`HostOptions`) says how it runs.  ``config`` is
    applied over the manifest's defaults (``None`` removes a key; a key the
    manifest does not declare is an error unless
    ``HostOptions(allow_undeclared=True)``).  Pass your own ``event_bus``,
    ``data_store``, ``config_store`` or ``services`` to share them between
    hosts (a restarted plugin sees the same stores); the options that build
    those (``delivery``, ``fidelity``...) then do not apply to them.

    The plugin's outside world (:mod:`nexus_testkit.world`): ``host.clock`` is
    a virtual clock unless ``HostOptions(clock="real")`` (pass ``clock=`` to
    share one); ``host.http`` answers the plugin's httpx requests while the
    network is blocked (pass ``http=`` to share one); exceptions the plugin
    only logged fail :meth:`verify` unless ``HostOptions(allow_errors=...)``.
    """

    def __new__(
        cls, path: Path | str | Sequence[Path | str] = "", *args: Any, **kwargs: Any
    ) -> Any:
        # PluginHost([a, b]) is a host of several plugins (_group.PluginGroup);
        # path has a default for copy and pickle, which call __new__(cls) alone.
        if cls is PluginHost and isinstance(path, list | tuple):
            from ._group import PluginGroup

            return PluginGroup(path, *args, **kwargs)
        return super().__new__(cls)

    def __init__(
        self,
        path: Path | str,
        options: HostOptions | None = None,
        *,
        config: Mapping[str, Any] | None = None,
        manifest: Manifest | None = None,
        event_bus: RecordingEventBus | None = None,
        data_store: RecordingDataStore | None = None,
        config_store: ConfigStore | None = None,
        services: RecordingServiceRegistry | None = None,
        clock: VirtualClock | None = None,
        http: NexusHTTP | None = None,
    ) -> None:
        self.options = o = options if options is not None else HostOptions()
        self.path = Path(path)
        self.manifest: Manifest = manifest if manifest is not None else load_manifest(self.path)
        self.directory = self.manifest.directory if self.path.is_file() else self.path
        self.config_store = config_store or ConfigStore.from_manifest(
            self.manifest, config, allow_undeclared=o.allow_undeclared
        )
        secrets = [self.config_store.values.get(k) for k in self.manifest.secret_keys]
        self.masker = Masker(secrets)
        self._owned_store = data_store is None
        self.event_bus = event_bus or make_event_bus(
            o.backend, delivery=o.delivery, allow_handler_errors=o.allow_handler_errors
        )
        if self.event_bus.handler_timeout is None:
            self.event_bus.handler_timeout = o.timeout
        # Where a stuck plugin is reported: the first frame in its own files.
        self._prefer = resolved_directory(str(self.directory))
        if self.event_bus.prefer is None:
            self.event_bus.prefer = self._prefer
        self.data_store = data_store or make_data_store(
            o.backend, fidelity=o.fidelity, db_url=o.db_url
        )
        self.data_store.observe_sets(self.config_store._observe_set)
        # Components passed in were built without knowing the secrets.
        self.event_bus.masker.add(secrets)
        self.data_store.masker.add(secrets)
        self.services = services or make_services(o.backend)
        # The bus's own check reports its handler failures; allow_handler_errors=True
        # says they are expected, so they are not swallowed errors either.
        self.world = OutsideWorld(
            clock=clock if clock is not None else o.clock,
            http=http,
            allow_hosts=o.allow_hosts,
            allow_errors=o.allow_errors,  # validated by HostOptions
            allow_network=o.allow_network,
            prefer=self._prefer,
        )

        self.plugin: Any = None
        self.loaded: LoadedPlugin | None = None
        self.app: FastAPI | None = None
        self.leftovers = Leftovers()
        #: Every destination the plugin tried to reach while the host ran (see
        #: :mod:`nexus_testkit.host._outbound`): httpx requests, refused connections.
        self.outbound: list[OutboundAttempt] = []
        self._http = HostClient(
            f"http://testserver{self.prefix}",
            timeout=o.timeout,
            prefer=self._prefer,
            raise_app_exceptions=o.raise_app_exceptions,
        )
        self._tracker = TaskTracker()
        #: What the plugin changed in the process, the threads and subprocesses it left
        #: (see :mod:`._state`); a contract run's own watch when one is on for this plugin.
        self.watch = ProcessWatch(self._prefer)
        self._owns_watch = True
        self._capture = LogCapture()
        self._all_loaded: list[LoadedPlugin] = []
        self._guards = contextlib.ExitStack()
        self._stack: contextlib.AsyncExitStack | None = None
        self._serving: contextlib.AsyncExitStack | None = None
        self._started = False
        self._closed = False
        self._instance_up = False

    # ------------------------------------------------------------ public API

    @property
    def name(self) -> str:
        """The mount name: the manifest's ``name``."""
        return self.manifest.name

    @property
    def prefix(self) -> str:
        """Where the plugin's routers are mounted."""
        return f"/api/plugins/{self.name}"

    @property
    def closed(self) -> bool:
        """True once the host was closed (or if it never started)."""
        return self._closed or not self._started

    @property
    def clock(self) -> VirtualClock | None:
        """The virtual clock (``None`` with ``clock="real"``); running once the host started."""
        return self.world.clock

    @property
    def http(self) -> NexusHTTP | None:
        """The HTTP fakes answering the plugin's httpx requests (``None`` with the network on)."""
        return self.world.http

    @property
    def client(self) -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` whose base URL is the plugin's mount prefix."""
        if self._http.client is None:
            raise RuntimeError("the host is not started: use `async with PluginHost(...)` first")
        return self._http.client

    @property
    def logs(self) -> list[logging.LogRecord]:
        """Log records of the plugin's loggers (DEBUG upward) while the host ran."""
        return list(self._capture.records)

    def log_lines(self, *, mask: bool = True) -> list[str]:
        """The plugin's log records, formatted, with secrets masked.

        ``mask=False`` shows each record as it was made: raw, unless it was
        masked at creation (``HostOptions(mask_logs=True)``, the default), so
        that with ``mask_logs=False`` a test can check what a plugin really logged.
        """
        lines = [LOG_FORMAT.format(r) for r in self.logs]
        return [self.masker(line) for line in lines] if mask else lines

    async def __aenter__(self) -> PluginHost:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Load and initialize the plugin, mount its routes, open the client."""
        if self._started:
            raise RuntimeError("this host was already started; build a new PluginHost")
        self._started = True
        stack = contextlib.AsyncExitStack()
        try:
            stack.enter_context(self._enter_guards())
            await stack.enter_async_context(self._components())
            stack.push_async_callback(self._http.aclose)
            # Tasks left by a plugin that did not even import or initialize.
            stack.push_async_callback(self._tracker.cancel_pending)
            stack.push_async_callback(self._stop_serving)
            await self._start_serving()
        except BaseException:
            self._closed = True
            await stack.aclose()
            raise
        self._stack = stack

    async def restart(self) -> None:
        """Shut the plugin down and start a fresh instance over the same stores.

        As the platform does on disable/enable, the module is imported again.
        ``host.client`` (and so the ``nexus_client`` fixture) then reaches the
        new instance.
        """
        if not self._started or self._closed:
            raise RuntimeError("the host is not running")
        await self._stop_serving()
        await self._start_serving()

    async def aclose(self) -> None:
        """Shut the plugin down, close the client and record what was left behind."""
        self._closed = True
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()

    def abandon(self) -> None:
        """Undo the process-wide changes of a host that was started and never closed.

        The network guard, the task factory, log handlers and the plugin's
        modules are restored; the plugin itself is not shut down (that needs
        its event loop).  ``aclose()`` remains the way to end a host.
        """
        if self._started and not self._closed:
            self._closed = True
            self._stack = None
            self._guards.close()

    def verify(self) -> None:
        """End-of-test check: leaked tasks, a failed shutdown, handler failures.

        Raises :class:`NexusAssertionError` listing each problem on its own
        line.  Handlers and services left registered are not errors; they are
        in ``host.leftovers.notes()``.
        """
        more = list(self.world.problems())
        if self._owns_watch:
            more += self.watch.problems(self.name)
        self.leftovers.verify(self.name, self.directory, self.event_bus, self.masker, more)

    def warn(self) -> None:
        """Warn about :attr:`leftovers` worth a note (a :class:`NexusLeftoverWarning` for
        handlers and services left registered, a :class:`NexusGuardWarning` for what the
        guards saw), attributed to the plugin's file."""
        where = self.loaded.file if self.loaded else self.directory
        self.leftovers.emit_warnings(self.name, str(where))

    def describe_recorded(self) -> str:
        """Everything recorded so far, for a failure report (secrets masked)."""
        return describe_recorded(self.event_bus, self.data_store, self.config_store, self.masker)

    # ------------------------------------------------------------ the stack's pieces

    def _enter_guards(self) -> contextlib.ExitStack:
        """The process-wide state a host changes, each undone by the guard stack."""
        guards = self._guards
        try:
            guards.callback(self._unload_modules)  # last: after everything that ran plugin code
            shared = shared_watch(self._prefer)
            if shared is not None:
                self.watch, self._owns_watch = shared, False
            else:
                self.watch.start()
                guards.callback(self._end_watch)  # after the plugin's last call
            # A host of several plugins (_group) runs its members' calls under its watch.
            for member in getattr(self, "_members", None) or [self]:
                member.watch = self.watch
                member._http.watch = self.watch
            self.event_bus.call_watch = self.watch
            # The plugin's loggers: BasePlugin's (created in __init__, before the
            # subclass sets its name, so usually "nexus.plugins..") and, added at
            # each load, the plugin module's own (logging.getLogger(__name__)).
            guards.enter_context(self._capture.attached(logging.getLogger("nexus.plugins")))
            # Tells the user's Ctrl-C (stops the run) from a plugin's KeyboardInterrupt (fails it).
            guards.enter_context(watching_ctrl_c())
            # SIGALRM's handler stays installed while the host runs: arming a deadline
            # for each call into the plugin then costs no system call.
            guards.enter_context(holding_alarm())
            guards.enter_context(tracking(self._tracker))
            guards.enter_context(outbound.recording(self.outbound, (self._prefer,)))
            if not self.options.allow_network:
                guards.enter_context(
                    network_guarded(
                        self.leftovers.blocked_connections,
                        self.leftovers.network_attempts,
                        self._prefer,
                    )
                )
            if self.options.mask_logs and self.masker:
                guards.enter_context(masking_records(self.masker))
            if self.options.detect_blocking is not None:
                guards.enter_context(
                    blocking_monitored(
                        self.options.detect_blocking, self._prefer, self.leftovers.blocks
                    )
                )
            # The clock, HTTP fakes and swallowed-errors collector: entered last, so
            # they are undone first, before the network guard they open holes in.
            guards.enter_context(self.world)
        except BaseException:
            guards.close()
            raise
        return guards

    def _end_watch(self) -> None:
        self.watch.finish()
        self.leftovers.unrestored.extend(self.watch.restore())

    def _unload_modules(self) -> None:
        for loaded in self._all_loaded:
            loaded.unload()

    @contextlib.asynccontextmanager
    async def _components(self) -> AsyncIterator[None]:
        """The data store connected and the bus started for the block; then shut down."""
        try:
            if not self.data_store.connected:
                await self.data_store.connect()
            with self._harness_tasks():
                await self.event_bus.start()
            real_bus = getattr(self.event_bus, "real", None)
            if real_bus is not None:
                import inspect

                self._tracker.ignored_files += (inspect.getfile(type(real_bus)),)
            yield
        finally:
            await self.event_bus.shutdown()
            dispose = getattr(self.data_store, "dispose", None)
            if dispose is not None:
                await dispose()
            if self._owned_store:
                release(self.data_store)

    @contextlib.contextmanager
    def _harness_tasks(self) -> Iterator[None]:
        """Tasks created in the block are the harness's, not the plugin's."""
        self._tracker.paused += 1
        try:
            yield
        finally:
            self._tracker.paused -= 1

    async def _start_serving(self) -> None:
        serving = contextlib.AsyncExitStack()
        try:
            plugin = await serving.enter_async_context(self._instance())
            # Only this host's synchronous code ran since initialize() ended.
            with self.watch.call("get_api_routes()", chained=True):
                app = build_app(
                    plugin,
                    self.name,
                    self.prefix,
                    self.directory,
                    self._routes_error,
                    self.options.timeout,
                )
            self.app = await serving.enter_async_context(self._http.serve(app))
        except BaseException:
            await serving.aclose()
            raise
        self._serving = serving

    async def _stop_serving(self) -> None:
        serving, self._serving = self._serving, None
        if serving is not None:
            await serving.aclose()

    @contextlib.asynccontextmanager
    async def _instance(self) -> AsyncIterator[Any]:
        """A fresh instance of the plugin, initialized for the block, then shut down."""
        # A synchronous hang at import (time.sleep at module level) is cut by SIGALRM.
        with (
            interrupt_after(self.options.timeout, self._prefer),
            self.watch.call(f"the import of {self.directory / 'plugin.py'}"),
        ):
            loaded = import_plugin(self.directory, log_level=logging.DEBUG)
        self._all_loaded.append(loaded)
        # The plugin module's own logger (logging.getLogger(__name__)) lives
        # under the fresh package name of this load; unload() discards it.
        self._capture.attach(logging.getLogger(loaded.package))
        plugin = loaded.instance
        self.loaded = loaded
        self.plugin = plugin
        self._inject(plugin)
        category = getattr(plugin, "category", "") or ""
        name = getattr(plugin, "name", "") or ""
        plugin.config = self.config_store.for_instance(str(category), str(name))
        try:
            await self._initialize(plugin, loaded)
            yield plugin
        finally:
            await self._shutdown(plugin)

    def _inject(self, plugin: Any) -> None:
        """What PluginManager.load_plugin injects (the configuration follows)."""
        plugin.db_adapter = self.data_store
        plugin.event_bus = self.event_bus
        plugin.service_registry = self.services

    async def _initialize(self, plugin: Any, loaded: LoadedPlugin) -> None:
        what = f"{type(plugin).__name__}.initialize() of {loaded.file}"
        try:
            # Only this host's synchronous code ran since the import ended.
            with self.watch.call("initialize()", chained=True):
                result = await run_with_timeout(
                    plugin.initialize(), self.options.timeout, what, self._tracker, self._prefer
                )
        except KeyboardInterrupt:
            raise
        except PluginTimeoutError as exc:
            raise self._start_error(f"initialize() timed out: {exc}", None) from None
        except BaseException as exc:  # SystemExit in a plugin must not end the run
            if isinstance(exc, PluginKeyboardInterrupt):
                exc = exc.interrupt
            raise self._start_error(
                f"initialize() raised {describe_exception(exc)}",
                exc,
                plugin_frames(exc, loaded.directory),
            ) from None
        if result is not True:
            raise self._start_error(
                f"initialize() returned {safe_repr(result)}; the platform only loads a plugin "
                "whose initialize() returns True",
                None,
            )
        self._instance_up = True

    async def _shutdown(self, plugin: Any) -> None:
        if self._instance_up:
            self._instance_up = False
            what = f"{type(plugin).__name__}.shutdown()"
            try:
                with self.watch.call("shutdown()"):
                    await run_with_timeout(
                        plugin.shutdown(), self.options.timeout, what, self._tracker, self._prefer
                    )
            except KeyboardInterrupt:
                raise
            except PluginTimeoutError as exc:
                self.leftovers.shutdown_errors.append(str(exc))
            except BaseException as exc:
                if isinstance(exc, PluginKeyboardInterrupt):
                    exc = exc.interrupt
                self.leftovers.shutdown_errors.append(
                    f"shutdown() raised {describe_exception(exc)}"
                )
        self._collect_leftovers(plugin)
        self.leftovers.tasks.extend(await self._tracker.settle())
        await self._tracker.cancel_pending()

    def _start_error(
        self,
        problem: str,
        cause: BaseException | None,
        details: str = "",
        *,
        stage: str = "initialize",
    ) -> PluginStartError:
        assert self.loaded is not None
        return PluginStartError(
            self.loaded.file,
            self.masker(problem),
            details=self.masker(details),
            log_lines=self.log_lines(),
            cause=cause,
            stage=stage,
        )

    def _routes_error(
        self, problem: str, cause: BaseException | None, details: str
    ) -> PluginStartError:
        return self._start_error(problem, cause, details, stage="routes")

    def plugin_subscriptions(self, plugin: Any = None) -> dict[str, list[Any]]:
        """The bus's handlers that belong to ``plugin`` (default: the current instance):
        its bound methods and functions defined in its own modules."""
        plugin = self.plugin if plugin is None else plugin
        package = self.loaded.package if self.loaded else None
        return owned_handlers(self.event_bus, plugin, package)

    def _collect_leftovers(self, plugin: Any) -> None:
        self.leftovers.collect(self.plugin_subscriptions(plugin), plugin, self.services)

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("running" if self._started else "new")
        return f"<PluginHost {self.name!r} {state} path={str(self.directory)!r}>"
