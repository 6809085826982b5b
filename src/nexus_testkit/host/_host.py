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
4. mount each router of ``get_api_routes()`` at ``/api/plugins/{name}`` plus
   the router's own prefix, in a FastAPI app run under ``LifespanManager``,
   reached through ``httpx.AsyncClient`` over ``ASGITransport`` (no socket);
5. on close, await ``shutdown()`` with a time-out and report what the plugin
   left behind: pending tasks, handlers still subscribed, services still
   registered.

Heavy imports (FastAPI, httpx, asgi-lifespan) happen when a host starts, not
when this module is imported.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .._deadlines import Deadline, run_with_timeout
from .._errors import (
    NexusAssertionError,
    PluginStartError,
    PluginTimeoutError,
)
from .._masking import Masker
from ..backends._build import check_backend, make_data_store, make_event_bus, make_services, release
from ..fakes._bus import RecordingEventBus, handler_name
from ..fakes._config import ConfigStore
from ..fakes._services import RecordingServiceRegistry
from ..fakes._store import RecordingDataStore
from ..manifest._load import Manifest, load_manifest
from ..world._world import OutsideWorld
from ._blocking import Block, BlockingMonitor
from ._loader import LoadedPlugin, import_plugin, plugin_frames, resolved_directory
from ._network import network_guard
from ._tasks import TaskTracker, TrackedTask

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI

    from ..world._clock import VirtualClock
    from ..world._http import NexusHTTP

__all__ = ["DEFAULT_TIMEOUT", "HostFactory", "Leftovers", "PluginHost"]

DEFAULT_TIMEOUT = 5.0
_LOG_FORMAT = logging.Formatter("%(levelname)-8s %(name)s: %(message)s")


@dataclass
class Leftovers:
    """What a plugin left behind when it was shut down."""

    tasks: list[TrackedTask] = field(default_factory=list)
    subscriptions: list[tuple[str, str]] = field(default_factory=list)
    services: list[str] = field(default_factory=list)
    shutdown_errors: list[str] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    blocked_connections: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(
            self.tasks
            or self.subscriptions
            or self.services
            or self.shutdown_errors
            or self.blocks
            or self.blocked_connections
        )

    def errors(self) -> list[str]:
        """Problems that fail a test: leaked tasks and a shutdown that raised or hung."""
        lines = list(self.shutdown_errors)
        lines += [f"task still pending after shutdown: {t.describe()}" for t in self.tasks]
        return lines

    def notes(self) -> list[str]:
        """Problems worth a warning, one line each (see :meth:`warning`)."""
        lines = [f"handler still subscribed to {name!r}: {h}" for name, h in self.subscriptions]
        lines += [f"service still registered: {s!r}" for s in self.services]
        lines += [
            f"the event loop was blocked for {b.duration:.2f} s during {b.during or 'the test'} "
            f"at {b.site}"
            for b in self.blocks
        ]
        lines += [f"network connection blocked: {d}" for d in self.blocked_connections]
        return lines

    def warning(self, plugin: str) -> str:
        """The text of the warning for :meth:`notes`, with advice for each kind."""
        parts = []
        kept = [f"- handler still subscribed to {n!r}: {h}" for n, h in self.subscriptions]
        kept += [f"- service still registered: {s!r}" for s in self.services]
        if kept:
            parts.append(
                f"Plugin {plugin!r} left these behind after shutdown():\n"
                + "\n".join(kept)
                + "\nThe platform keeps them alive after the plugin is unloaded; remove them "
                "in shutdown() (unsubscribe_from_event, service_registry.unregister)."
            )
        if self.blocks:
            parts.append(
                f"Plugin {plugin!r} blocked the event loop:\n"
                + "\n".join(f"- {b.duration:.2f} s at {b.site}" for b in self.blocks)
                + "\nEvery request and event waits meanwhile; move blocking work to "
                "asyncio.to_thread() or use an async library."
            )
        if self.blocked_connections:
            parts.append(
                f"Plugin {plugin!r} tried to reach the network:\n"
                + "\n".join(f"- {d}" for d in self.blocked_connections)
                + "\nServe the calls in the test (respx, pytest-httpx) or allow them with "
                "@pytest.mark.nexus_host(allow_network=True)."
            )
        return "\n\n".join(parts)


class _MaskingRecordFactory:
    """Masks secrets in log records as they are created, so that every handler
    (pytest's captured-log sections included) sees ``***`` instead."""

    def __init__(self, previous: Any, masker: Masker) -> None:
        self.previous = previous
        self.masker: Masker | None = masker

    @classmethod
    def install(cls, masker: Masker) -> _MaskingRecordFactory:
        factory = cls(logging.getLogRecordFactory(), masker)
        logging.setLogRecordFactory(factory)
        return factory

    def uninstall(self) -> None:
        if logging.getLogRecordFactory() is self:
            logging.setLogRecordFactory(self.previous)
        else:  # another factory was installed over ours: make ours inert
            self.masker = None

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = self.previous(*args, **kwargs)
        masker = self.masker
        if not masker:
            return record
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is the handler's to report
            return record
        if masker.contains_secret(message):
            record.msg, record.args = masker(message), None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            if masker.contains_secret(text):
                record.exc_text = masker(text)
        return record


def _transport_class() -> Any:
    import httpx

    # One class per httpx module object: built once per process, but rebuilt
    # if httpx itself was imported again (pytester's inline runs do that).
    return _build_transport_class(httpx.ASGITransport)


@functools.cache
def _build_transport_class(base: type) -> Any:
    class _HostTransport(base):  # type: ignore[misc]
        """ASGI transport whose requests time out, saying where the route was stuck."""

        request_timeout: float | None = None
        prefer: str | None = None

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            __tracebackhide__ = True
            what = f"{request.method} {request.url.path}"
            async with Deadline(self.request_timeout, what, self.prefer):
                response: httpx.Response = await super().handle_async_request(request)
                return response

    return _HostTransport


class _LogCapture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class PluginHost:
    """Runs one plugin against recording fakes and serves its routes in-process.

    Use it as an async context manager::

        async with PluginHost("plugins/my_plugin", config={"api_key": "k"}) as host:
            response = await host.client.get("/status")
            host.event_bus.assert_published("my_plugin.initialized")

    ``config`` is applied over the manifest's defaults (``None`` removes a
    key).  Pass your own ``event_bus``, ``data_store``, ``config_store`` or
    ``services`` to share them between hosts (a restarted plugin sees the same
    stores).  ``timeout`` bounds ``initialize()``, ``shutdown()`` and each
    async event handler.  ``raise_app_exceptions=False`` turns an exception in
    a route into a 500 response instead of raising in the test.

    The plugin's outside world (:mod:`nexus_testkit.world`): ``clock``
    (``"virtual"``, the default, ``"real"`` or a shared ``VirtualClock``) is
    ``host.clock``; ``http`` (built when the network is blocked, with
    ``allow_hosts``) is ``host.http``; exceptions the plugin only logged fail
    :meth:`verify` unless ``allow_errors`` (``True`` or patterns) allows them.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        config: Mapping[str, Any] | None = None,
        manifest: Manifest | None = None,
        event_bus: RecordingEventBus | None = None,
        data_store: RecordingDataStore | None = None,
        config_store: ConfigStore | None = None,
        services: RecordingServiceRegistry | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        fidelity: str = "memory",
        delivery: str = "inline",
        allow_handler_errors: bool = False,
        raise_app_exceptions: bool = True,
        allow_network: bool = False,
        mask_logs: bool = True,
        detect_blocking: float | None = None,
        backend: str = "fake",
        db_url: str | None = None,
        clock: str | VirtualClock = "virtual",
        http: NexusHTTP | None = None,
        allow_hosts: Sequence[str] = (),
        allow_errors: bool | str | Sequence[str] = False,
    ) -> None:
        if timeout is not None and not timeout > 0:
            raise ValueError(
                f"timeout must be a positive number of seconds or None, got timeout={timeout!r}"
            )
        if detect_blocking is not None and not detect_blocking > 0:
            raise ValueError(
                "detect_blocking must be a positive number of seconds or None, "
                f"got detect_blocking={detect_blocking!r}"
            )
        self.allow_network = allow_network
        self.mask_logs = mask_logs
        self.detect_blocking = detect_blocking
        self.path = Path(path)
        self.manifest: Manifest = manifest if manifest is not None else load_manifest(self.path)
        self.directory = self.manifest.directory if self.path.is_file() else self.path
        self.timeout = timeout
        self.raise_app_exceptions = raise_app_exceptions
        self.config_store = config_store or ConfigStore.from_manifest(self.manifest, config)
        self.masker = Masker(self.config_store.values.get(k) for k in self.manifest.secret_keys)
        check_backend(backend)
        self.backend = backend
        self._owned_store = data_store is None
        self.event_bus = event_bus or make_event_bus(
            backend, delivery=delivery, allow_handler_errors=allow_handler_errors
        )
        if self.event_bus.handler_timeout is None:
            self.event_bus.handler_timeout = timeout
        # Where a stuck plugin is reported: the first frame in its own files.
        self._prefer = resolved_directory(str(self.directory))
        if self.event_bus.prefer is None:
            self.event_bus.prefer = self._prefer
        self.data_store = data_store or make_data_store(backend, fidelity=fidelity, db_url=db_url)
        self.data_store.observe_sets(self.config_store._observe_set)
        # Components passed in were built without knowing the secrets.
        secrets = [self.config_store.values.get(k) for k in self.manifest.secret_keys]
        self.event_bus.masker.add(secrets)
        self.data_store.masker.add(secrets)
        self.services = services or make_services(backend)
        self.world = OutsideWorld(
            clock=clock,
            http=http,
            allow_hosts=allow_hosts,
            allow_errors=allow_errors,
            allow_network=allow_network,
            prefer=self._prefer,
        )
        # The bus's own check reports its handler failures; allow_handler_errors=True
        # says they are expected, so they are not swallowed errors either.

        self.plugin: Any = None
        self.loaded: LoadedPlugin | None = None
        self.app: FastAPI | None = None
        self._client: httpx.AsyncClient | None = None
        self._transport: Any = None
        self._lifespan: Any = None
        self.leftovers = Leftovers()
        self._tracker = TaskTracker()
        self._capture = _LogCapture()
        self._saved_levels: list[tuple[logging.Logger, int]] = []
        self._module_loggers: list[logging.Logger] = []
        self._all_loaded: list[LoadedPlugin] = []
        self._started = False
        self._closed = False
        self._instance_up = False
        self._network_guarded = False
        self._blocked_from = 0
        self._log_factory: _MaskingRecordFactory | None = None
        self._monitor: BlockingMonitor | None = None

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
        if self._client is None:
            raise RuntimeError("the host is not started: use `async with PluginHost(...)` first")
        return self._client

    @property
    def logs(self) -> list[logging.LogRecord]:
        """Log records of the plugin's loggers (DEBUG upward) while the host ran."""
        return list(self._capture.records)

    def log_lines(self) -> list[str]:
        """The plugin's log records, formatted and with secrets masked."""
        return [self.masker(_LOG_FORMAT.format(r)) for r in self._capture.records]

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
        self._attach_logs()
        self._tracker.install()
        if not self.allow_network:
            network_guard.acquire()
            self._network_guarded = True
            self._blocked_from = len(network_guard.blocked)
        if self.mask_logs and self.masker:
            self._log_factory = _MaskingRecordFactory.install(self.masker)
        if self.detect_blocking is not None:
            self._monitor = BlockingMonitor(self.detect_blocking, prefer=(self._prefer,))
            await self._monitor.__aenter__()
        try:
            self.world.enter()
            if not self.data_store.connected:
                await self.data_store.connect()
            self._tracker.paused += 1
            try:
                await self.event_bus.start()
            finally:
                self._tracker.paused -= 1
            real_bus = getattr(self.event_bus, "real", None)
            if real_bus is not None:
                import inspect

                self._tracker.ignored_files = (inspect.getfile(type(real_bus)),)
            await self._start_instance()
            await self._mount()
        except BaseException:
            await self._teardown()
            raise

    async def restart(self) -> None:
        """Shut the plugin down and start a fresh instance over the same stores.

        As the platform does on disable/enable, the module is imported again.
        ``host.client`` (and so the ``nexus_client`` fixture) then reaches the
        new instance.
        """
        self._require_running()
        await self._unmount()
        await self._stop_instance()
        await self._start_instance()
        await self._mount()

    async def aclose(self) -> None:
        """Shut the plugin down, close the client and record what was left behind."""
        if self._closed or not self._started:
            self._closed = True
            return
        await self._teardown()

    def verify(self) -> None:
        """End-of-test check: leaked tasks, a failed shutdown, handler failures.

        Raises :class:`NexusAssertionError` listing each problem on its own
        line.  Handlers and services left registered are not errors; they are
        in ``host.leftovers.notes()``.
        """
        problems = self.leftovers.errors()
        world = self.world.problems()
        bus_error: NexusAssertionError | None = None
        try:
            self.event_bus.verify()
        except NexusAssertionError as exc:
            bus_error = exc
        if not problems and bus_error is None and not world:
            return
        parts = []
        if problems:
            listing = "\n".join(f"- {p}" for p in problems)
            parts.append(
                f"Plugin {self.name!r} ({self.directory}) did not shut down cleanly:\n{listing}\n\n"
                "Cancel and await background tasks in shutdown(); if a task is meant to "
                "outlive the plugin, the platform will not wait for it either."
            )
        if bus_error is not None:
            parts.append(str(bus_error))
        parts += world
        raise NexusAssertionError(self.masker("\n\n".join(parts)))

    def describe_recorded(self) -> str:
        """Everything recorded so far, for a failure report (secrets masked)."""
        sections = []
        events = self.event_bus.published
        if events:
            sections.append(
                "Published events:\n"
                + "\n".join(f"- {e.name} {e.data!r} (source: {e.source})" for e in events)
            )
        writes = [op for op in self.data_store.operations if op.op in ("set", "delete", "clear")]
        if writes:
            sections.append(
                "Data store writes:\n"
                + "\n".join(
                    f"- {op.op} {op.key!r}"
                    + (f" = {op.value!r}" if op.op == "set" else "")
                    + (f" (raised {op.error!r})" if op.error else "")
                    for op in writes
                )
            )
        if self.config_store.writes:
            sections.append(
                "set_config writes:\n"
                + "\n".join(f"- {w.key} = {w.value!r}" for w in self.config_store.writes)
            )
        if self.event_bus.handler_failures:
            sections.append(
                "Handler failures:\n"
                + "\n".join(f"- {f.describe()}" for f in self.event_bus.handler_failures)
            )
        return self.masker("\n\n".join(sections))

    # ------------------------------------------------------------ lifecycle internals

    def _require_running(self) -> None:
        if not self._started or self._closed:
            raise RuntimeError("the host is not running")

    def _attach_logs(self) -> None:
        # The plugin's loggers: BasePlugin's (created in __init__, before the
        # subclass sets its name, so usually "nexus.plugins..") and the
        # plugin module's own (logging.getLogger(__name__)).
        logger = logging.getLogger("nexus.plugins")
        self._saved_levels.append((logger, logger.level))
        if logger.level == logging.NOTSET or logger.level > logging.DEBUG:
            logger.setLevel(logging.DEBUG)  # setLevel walks every logger: only when needed
        logger.addHandler(self._capture)

    def _detach_logs(self) -> None:
        for logger, level in self._saved_levels:
            logger.removeHandler(self._capture)
            if logger.level != level:
                logger.setLevel(level)
        self._saved_levels.clear()
        for module_logger in self._module_loggers:
            module_logger.removeHandler(self._capture)
        self._module_loggers.clear()

    async def _start_instance(self) -> None:
        loaded = import_plugin(self.directory, log_level=logging.DEBUG)
        self._all_loaded.append(loaded)
        # The plugin module's own logger (logging.getLogger(__name__)) lives
        # under the fresh package name of this load; unload() discards it.
        module_logger = logging.getLogger(loaded.package)
        module_logger.addHandler(self._capture)
        self._module_loggers.append(module_logger)
        plugin = loaded.instance
        self.loaded = loaded
        self.plugin = plugin
        # What PluginManager.load_plugin injects, plus the configuration.
        plugin.db_adapter = self.data_store
        plugin.event_bus = self.event_bus
        plugin.service_registry = self.services
        category = getattr(plugin, "category", "") or ""
        name = getattr(plugin, "name", "") or ""
        plugin.config = self.config_store.for_instance(str(category), str(name))

        what = f"{type(plugin).__name__}.initialize() of {loaded.file}"
        try:
            result = await run_with_timeout(
                plugin.initialize(), self.timeout, what, self._tracker, self._prefer
            )
        except KeyboardInterrupt:
            raise
        except PluginTimeoutError as exc:
            raise self._start_error(f"initialize() timed out: {exc}", None) from None
        except BaseException as exc:  # SystemExit in a plugin must not end the run
            raise self._start_error(
                f"initialize() raised {type(exc).__name__}: {exc}",
                exc,
                plugin_frames(exc, loaded.directory),
            ) from None
        if result is not True:
            raise self._start_error(
                f"initialize() returned {result!r}; the platform only loads a plugin "
                "whose initialize() returns True",
                None,
            )
        self._instance_up = True

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

    async def _mount(self) -> None:
        from asgi_lifespan import LifespanManager
        from fastapi import APIRouter, FastAPI

        plugin = self.plugin
        try:
            routers = plugin.get_api_routes()
        except Exception as exc:
            raise self._start_error(
                f"get_api_routes() raised {type(exc).__name__}: {exc}",
                exc,
                plugin_frames(exc, self.directory),
                stage="routes",
            ) from None
        if routers is None:
            routers = []
        if not isinstance(routers, (list, tuple)):
            raise self._start_error(
                f"get_api_routes() returned {type(routers).__name__}; expected a list of "
                "fastapi.APIRouter",
                None,
                stage="routes",
            )
        bad = [r for r in routers if not isinstance(r, APIRouter)]
        if bad:
            raise self._start_error(
                f"get_api_routes() returned {bad[0]!r}; expected a list of fastapi.APIRouter",
                None,
                stage="routes",
            )
        app = FastAPI(title=f"{self.name} under nexus-testkit")
        try:
            for router in routers:
                # include_router adds router.prefix after this one, which is the
                # documented mount point /api/plugins/{name}{router.prefix}.
                app.include_router(router, prefix=self.prefix, tags=[self.name])
        except Exception as exc:
            raise self._start_error(
                f"mounting the routers failed: {type(exc).__name__}: {exc}",
                exc,
                plugin_frames(exc, self.directory),
                stage="routes",
            ) from None
        self.app = app
        self._tracker.paused += 1
        try:
            lifespan = LifespanManager(app)
            await lifespan.__aenter__()
        finally:
            self._tracker.paused -= 1
        self._lifespan = lifespan
        if self._transport is None:
            import httpx

            self._transport = _transport_class()(
                app=lifespan.app, raise_app_exceptions=self.raise_app_exceptions
            )
            self._transport.request_timeout = self.timeout
            self._transport.prefer = self._prefer
            self._client = httpx.AsyncClient(
                transport=self._transport, base_url=f"http://testserver{self.prefix}"
            )
        else:
            # Same client object across restarts: tests keep their reference.
            self._transport.app = lifespan.app

    async def _unmount(self) -> None:
        lifespan, self._lifespan = self._lifespan, None
        if lifespan is not None:
            self._tracker.paused += 1
            try:
                await lifespan.__aexit__(None, None, None)
            finally:
                self._tracker.paused -= 1

    async def _stop_instance(self) -> None:
        plugin = self.plugin
        if plugin is None:
            return
        if self._instance_up:
            self._instance_up = False
            what = f"{type(plugin).__name__}.shutdown()"
            try:
                await run_with_timeout(
                    plugin.shutdown(), self.timeout, what, self._tracker, self._prefer
                )
            except KeyboardInterrupt:
                raise
            except PluginTimeoutError as exc:
                self.leftovers.shutdown_errors.append(str(exc))
            except BaseException as exc:
                self.leftovers.shutdown_errors.append(
                    f"shutdown() raised {type(exc).__name__}: {exc}"
                )
        self._collect_leftovers(plugin)
        self.leftovers.tasks.extend(await self._tracker.settle())
        await self._tracker.cancel_pending()

    def plugin_subscriptions(self, plugin: Any = None) -> dict[str, list[Any]]:
        """The bus's handlers that belong to ``plugin`` (default: the current instance):
        its bound methods and functions defined in its own modules."""
        plugin = self.plugin if plugin is None else plugin
        package = self.loaded.package + "." if self.loaded else None
        owned: dict[str, list[Any]] = {}
        for event_name, handlers in self.event_bus.subscriptions.items():
            for handler in handlers:
                module = getattr(handler, "__module__", "") or ""
                if getattr(handler, "__self__", None) is plugin or (
                    package is not None and (module + ".").startswith(package)
                ):
                    owned.setdefault(event_name, []).append(handler)
        return owned

    def _collect_leftovers(self, plugin: Any) -> None:
        for event_name, handlers in self.plugin_subscriptions(plugin).items():
            for handler in handlers:
                self.leftovers.subscriptions.append((event_name, handler_name(handler)))
        registered = getattr(plugin, "_registered_services", ()) or ()
        for service in sorted(registered):
            if self.services.has_service(service):
                self.leftovers.services.append(service)

    async def _teardown(self) -> None:
        self._closed = True
        try:
            await self._unmount()
            if self.plugin is not None:
                await self._stop_instance()
            else:
                await self._tracker.cancel_pending()
            if self._client is not None:
                await self._client.aclose()
            await self.event_bus.shutdown()
            dispose = getattr(self.data_store, "dispose", None)
            if dispose is not None:
                await dispose()
            if self._owned_store:
                release(self.data_store)
        finally:
            self._release()

    def _release(self) -> None:
        # The process-wide state a host changes, undone synchronously so that
        # abandon() can do it for a host nobody closed.
        self._tracker.uninstall()
        self.world.exit()
        self._detach_logs()
        if self._network_guarded:
            self._network_guarded = False
            self.leftovers.blocked_connections.extend(network_guard.blocked[self._blocked_from :])
            network_guard.release()
        if self._log_factory is not None:
            self._log_factory.uninstall()
            self._log_factory = None
        if self._monitor is not None:
            self._monitor.stop()
            self.leftovers.blocks.extend(b for b in self._monitor.blocks if not b.importing)
            self._monitor = None
        for loaded in self._all_loaded:
            loaded.unload()

    def abandon(self) -> None:
        """Undo the process-wide changes of a host that was started and never closed.

        The network guard, the task factory, log handlers and the plugin's
        modules are restored; the plugin itself is not shut down (that needs
        its event loop).  ``aclose()`` remains the way to end a host.
        """
        if self._started and not self._closed:
            self._closed = True
            self._release()

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("running" if self._started else "new")
        return f"<PluginHost {self.name!r} {state} path={str(self.directory)!r}>"


class HostFactory:
    """Builds hosts on demand, all sharing one set of defaults.

    ``factory(config={...})`` returns a :class:`PluginHost` to use with
    ``async with``; keyword arguments override the factory's defaults.  Hosts
    are fresh each call, so a factory is safe under ``@given``.
    """

    def __init__(self, path: Path | str, **defaults: Any) -> None:
        self.path = Path(path)
        self.defaults = defaults
        self.hosts: list[PluginHost] = []

    def __call__(self, **options: Any) -> PluginHost:
        merged = {**self.defaults, **options}
        if "config" in self.defaults and "config" in options:
            merged["config"] = {**self.defaults["config"], **(options["config"] or {})}
        host = PluginHost(self.path, **merged)
        self.hosts.append(host)
        return host

    async def aclose(self) -> None:
        """Close every host a test left open."""
        for host in self.hosts:
            await host.aclose()

    def verify(self) -> None:
        """Run each host's end-of-test check; report all failures together."""
        failures = []
        for host in self.hosts:
            try:
                host.verify()
            except NexusAssertionError as exc:
                failures.append(str(exc))
        if failures:
            raise NexusAssertionError("\n\n".join(failures))
