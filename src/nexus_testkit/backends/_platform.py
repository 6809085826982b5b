"""The ``platform`` backend: the real nexus-platform components, still recorded.

With ``backend="platform"`` the host gives the plugin the platform's own
``EventBus``, ``ServiceRegistry`` and ``SQLAlchemyAdapter`` (SQLite in a
temporary file by default, or any URL the platform supports, PostgreSQL
included), each wrapped so that recording and assertions keep working and
the author's tests do not change:

* the real bus delivers from its own processor task; a publish made by the
  test or a route waits until the bus is idle again (every queued event,
  including those handlers publish, has been handled), so assertions right
  after the call still hold.  A publish made by a handler does not wait (it
  would wait for itself).
* handlers are wrapped to record failures; the real bus still logs and skips
  them, exactly as in production.
* store calls go to the real adapter, whose answers the plugin gets; a mirror
  of what was written (with the SQL adapter's serialisation) keeps ``data``,
  ``describe()`` and ``assert_stored`` synchronous.

Importing this module imports ``nexus`` (about half a second): the host does
so only when the platform backend is asked for.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
import shutil
import tempfile
from typing import Any

from .._errors import NexusTestkitError
from .._masking import Masker
from .._realtime import real_io
from ..fakes._bus import Event, Handler, RecordingEventBus
from ..fakes._services import RecordingServiceRegistry
from ..fakes._store import RecordingDataStore

__all__ = ["BACKENDS", "PlatformDataStore", "PlatformEventBus", "PlatformServiceRegistry"]

from . import BACKENDS


def _nexus_core() -> Any:
    try:
        import nexus.core as core
    except ImportError as exc:
        raise NexusTestkitError(
            "backend='platform' needs nexus-platform: pip install 'nexus-platform[sqlite]==0.1.5' "
            f"({exc})"
        ) from None
    return core


def _no_fsync(engine: Any) -> None:
    """SQLite without fsync for the store's own temporary file, deleted at the end: a
    commit waited for the disk (30 ms each on a busy machine, so a plugin's job writing
    every 30 s cost seconds in the contract's simulated hour)."""
    from sqlalchemy import event

    def on_connect(dbapi_connection: Any, record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.close()

    event.listen(engine.sync_engine, "connect", on_connect)


def _copy(event: Any) -> Event:
    return Event(name=event.name, data=event.data, source=event.source)


class PlatformEventBus(RecordingEventBus):
    """The platform's ``nexus.core.EventBus``, recorded."""

    def __init__(
        self,
        *,
        allow_handler_errors: bool = False,
        handler_timeout: float | None = None,
        masker: Masker | None = None,
    ) -> None:
        super().__init__(
            delivery="queued",
            allow_handler_errors=allow_handler_errors,
            handler_timeout=handler_timeout,
            masker=masker,
        )
        self.real = _nexus_core().EventBus()
        self._wrappers: dict[tuple[str, int], list[Handler]] = {}
        self._enqueued = 0
        self._handled = 0
        self._idle = asyncio.Event()
        self._idle.set()
        call = self.real._call_event_handlers

        async def counted(event: Any) -> None:
            try:
                await call(event)
            finally:
                self._handled += 1
                if self._handled >= self._enqueued:
                    self._idle.set()

        self.real._call_event_handlers = counted

    async def start(self) -> None:
        self._running = True
        task = self.real._processor_task
        if task is not None and task.done():
            # Shut down by an earlier host sharing this bus: EventBus.start()
            # only starts a processor when it has none.
            self.real._processor_task = None
        await self.real.start()

    async def shutdown(self) -> None:
        self._running = False
        await self.real.shutdown()

    def _in_processor(self) -> bool:
        try:
            return asyncio.current_task() is self.real._processor_task
        except RuntimeError:
            return False

    async def publish(
        self,
        event_name: str,
        data: dict[str, Any] | None = None,
        priority: Any = None,
        source: str | None = None,
    ) -> None:
        core = _nexus_core()
        if priority is None:
            priority = core.EventPriority.NORMAL
        # Validate and record exactly as the fake does, then hand it to the real bus.
        self._record(event_name, data, priority, source)
        self._enqueued += 1
        self._idle.clear()
        await self.real.publish(event_name, data, priority=priority, source=source)
        if not self._in_processor():
            await self.drain()

    async def drain(self) -> None:
        """Wait until the real bus has handled every event published so far."""
        task = self.real._processor_task
        if task is None or task.done() or self._in_processor():
            return
        timeout = self.handler_timeout
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            self._fail(
                Event(name="<event bus>"),
                self.drain,
                TimeoutError(
                    f"the platform's event bus did not finish delivering within {timeout:g} s "
                    f"({self._enqueued - self._handled} event(s) pending): a handler hangs"
                ),
            )

    @property
    def pending(self) -> list[Event]:
        return []

    def _wrap(self, event_name: str, handler: Handler) -> Handler:
        bus = self

        if inspect.iscoroutinefunction(handler):

            @functools.wraps(handler)
            async def wrapper(event: Any) -> None:
                try:
                    await handler(event)
                except Exception as exc:
                    bus._fail(_copy(event), handler, exc)
                    raise

        else:

            @functools.wraps(handler)
            def wrapper(event: Any) -> None:
                try:
                    handler(event)
                except Exception as exc:
                    bus._fail(_copy(event), handler, exc)
                    raise

        return wrapper

    def subscribe(self, event_name: str, handler: Handler) -> None:
        wrapper = self._wrap(event_name, handler)
        self._wrappers.setdefault((event_name, id(handler)), []).append(wrapper)
        super().subscribe(event_name, handler)
        self.real.subscribe(event_name, wrapper)

    def unsubscribe(self, event_name: str, handler: Handler) -> None:
        wrappers = self._wrappers.get((event_name, id(handler)))
        super().unsubscribe(event_name, handler)  # ValueError if not subscribed, as on the platform
        if wrappers:
            self.real.unsubscribe(event_name, wrappers.pop())


class PlatformDataStore(RecordingDataStore):
    """The platform's ``SQLAlchemyAdapter`` (SQLite file by default, or ``url``), recorded."""

    def __init__(self, url: str | None = None, *, masker: Masker | None = None) -> None:
        super().__init__("sql", masker=masker)
        import nexus.database as database

        self._tmpdir: str | None = None
        if url is None:
            self._tmpdir = tempfile.mkdtemp(prefix="nexus-testkit-")
            path = os.path.join(self._tmpdir, "nexus.db")
            config = database.DatabaseConfig(type="sqlite", path=path)
        else:
            kind = url.split(":", 1)[0].split("+", 1)[0]
            config = database.DatabaseConfig(type=kind, url=url)
            _allow_database(url)
        self.url = url or f"sqlite+aiosqlite:///{config.path}"
        self.real = database.SQLAlchemyAdapter(config)
        self.config = config

    async def connect(self) -> None:
        await super().connect()
        await self.real.connect()
        if self._tmpdir is not None and self.real.engine is not None:
            _no_fsync(self.real.engine)
            # Connections made while connecting (the schema) are opened again with it.
            with real_io():
                await self.real.engine.dispose()
        if self._tmpdir is None:
            # A shared database (PostgreSQL): every host starts from an empty store.
            with real_io():  # a virtual clock's advance waits for the query
                await self.real.clear()

    async def disconnect(self) -> None:
        await super().disconnect()
        await self.real.disconnect()

    async def dispose(self) -> None:
        """Close the engine's connections (it can still be used afterwards)."""
        if self.real.engine is not None:
            await self.real.engine.dispose()

    def remove_files(self) -> None:
        """Remove the temporary SQLite database, if this store made one."""
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    async def get(self, key: str, default: Any = None) -> Any:
        await super().get(key, default)  # recording, faults, connection check
        with real_io():  # a virtual clock's advance waits for the query
            result = await self.real.get(key, default)
        self.operations[-1] = self.operations[-1]._replace(result=result)
        return result

    async def set(self, key: str, value: Any) -> None:
        await super().set(key, value)
        with real_io():  # a virtual clock's advance waits for the query
            await self.real.set(key, value)

    async def delete(self, key: str) -> None:
        await super().delete(key)
        with real_io():  # a virtual clock's advance waits for the query
            await self.real.delete(key)

    async def exists(self, key: str) -> bool:
        await super().exists(key)
        with real_io():  # a virtual clock's advance waits for the query
            result: bool = await self.real.exists(key)
        self.operations[-1] = self.operations[-1]._replace(result=result)
        return result

    async def list_keys(self, pattern: str = "*") -> list[str]:
        await super().list_keys(pattern)
        with real_io():  # a virtual clock's advance waits for the query
            result: list[str] = await self.real.list_keys(pattern)
        self.operations[-1] = self.operations[-1]._replace(result=result)
        return result

    async def clear(self) -> None:
        await super().clear()
        with real_io():  # a virtual clock's advance waits for the query
            await self.real.clear()

    async def health_check(self) -> dict[str, Any]:
        await super().health_check()
        with real_io():  # a virtual clock's advance waits for the query
            result: dict[str, Any] = await self.real.health_check()
        self.operations[-1] = self.operations[-1]._replace(result=result)
        return result


def _allow_database(url: str) -> None:
    # The harness's own database connection is not the plugin's network use.
    from sqlalchemy.engine import make_url

    from ..host._network import network_guard

    parsed = make_url(url)
    if parsed.host:
        default_ports = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306}
        port = parsed.port or default_ports.get(parsed.get_backend_name(), 0)
        network_guard.allow(parsed.host, port)


class PlatformServiceRegistry(RecordingServiceRegistry):
    """The platform's ``nexus.core.ServiceRegistry``, recorded."""

    def __init__(self) -> None:
        super().__init__()
        self.real = _nexus_core().ServiceRegistry()

    def register(self, name: str, service: Any, interface: type | None = None) -> None:
        self.real.register(name, service, interface)
        super().register(name, service, interface)

    def unregister(self, name: str) -> None:
        self.real.unregister(name)
        super().unregister(name)

    def get(self, name: str) -> Any | None:
        self.lookups.append(name)
        return self.real.get(name)

    def get_by_interface(self, interface: type) -> list[Any]:
        result: list[Any] = self.real.get_by_interface(interface)
        return result

    def has_service(self, name: str) -> bool:
        self.lookups.append(name)
        return bool(self.real.has_service(name))

    def list_services(self) -> list[str]:
        result: list[str] = self.real.list_services()
        return result
