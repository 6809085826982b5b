"""Probes: the half of a contract run that drives the plugin and records evidence.

Each probe is one method of :class:`Session`, named in :data:`PROBES` with
the evidence it needs first.  The runner asks for the probes some wanted
check needs (and what they need in turn); a probe whose needed evidence is
missing is not run, and its own evidence is missing for the same reason.

Order of a run: the manifest; the import and a never-initialized instance;
the main host (started with a valid configuration, secret keys holding
distinctive values), and while it runs the simulated hour (its background
tasks), health, routes, the API exercise and the handlers; its shutdown;
then a second shutdown, a restart over the same stores, one host per
configuration, and the storage-fidelity replay.

Every :class:`~nexus_testkit.PluginHost` of the run is built by
:meth:`Session.host`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import math
import secrets as _secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._deadlines import run_with_timeout
from .._describe import describe_exception as safe_describe
from .._errors import ManifestError, PluginLoadError, PluginStartError
from .._interrupts import PluginKeyboardInterrupt, is_user_interrupt, user_interrupts
from ..backends._build import make_data_store, release
from ..fakes._bus import RecordingEventBus, handler_name
from ..fakes._config import ConfigStore, placeholder_value, resolve_config
from ..fakes._services import RecordingServiceRegistry
from ..fakes._store import RecordingDataStore
from ..host._blocking import BlockingMonitor
from ..host._guards import network_guarded
from ..host._host import PluginHost
from ..host._loader import import_plugin, platform_plugin_class, resolved_directory
from ..host._logs import LogCapture
from ..host._options import HostOptions
from ..host._state import ProcessWatch
from ..manifest._load import Manifest, load_manifest
from ..manifest._rules import Violation, check_value, violations
from ._evidence import Attempt, Evidence, LoggedError

__all__ = ["CONTRACT_SOURCE", "EVIDENCE", "PROBES", "Session", "describe_exception"]

CONTRACT_SOURCE = "nexus-testkit.contract"

#: probe -> the evidence it needs (a probe's evidence is named after it).
PROBES: dict[str, tuple[str, ...]] = {
    "manifest": (),
    "load": (),
    "health_before": ("loaded",),
    "db_schema": ("loaded",),
    "shutdown_uninitialized": ("loaded",),
    "start": ("manifest", "loaded"),
    "background": ("running",),
    "health_after": ("running",),
    "routes": ("running",),
    "get_ok": ("routes",),
    "exercise": ("routes",),
    "traversal": ("routes",),
    "handlers": ("running",),
    "double_shutdown": ("running",),
    "restart": ("running",),
    "config_valid": ("running",),
    "config_required": ("running",),
    "config_invalid": ("running",),
    "round_trip": ("routes",),
}
#: Evidence recorded by a probe under another name than its own.
EVIDENCE: dict[str, str] = {
    "manifest_file": "manifest",
    "manifest_json": "manifest",
    "manifest_doc": "manifest",
    "import": "load",
    "instance": "load",
    "loaded": "load",
    "initialized": "start",
    "running": "start",
    "shutdown": "start",
}
_UNEXPECTED_PAYLOADS: tuple[dict[str, Any], ...] = (
    {},
    {"unexpected": ["payload", 1, None], "id": None},
)


#: config.required tries at most this many required keys (or ``examples``, if more).
REQUIRED_CASES = 100
#: Drawn configurations vary at most this many optional keys (see ``drawn_manifest``).
MAX_DRAWN_KEYS = 100


#: A probe value for a secret key is distinctive when it has at least this many
#: characters (digits for a number) and this many different ones.
DISTINCTIVE_LENGTH = 8
DISTINCTIVE_CHARACTERS = 5


def _distinctive(value: Any) -> bool:
    text = str(value)
    return len(text) >= DISTINCTIVE_LENGTH and len(set(text)) >= DISTINCTIVE_CHARACTERS


def distinctive_secret(option: Any) -> Any | None:
    """A value of ``option`` (a secret key) that satisfies its rules and appears nowhere by chance.

    Strings: ``nexus-secret-<random hex>``, cut or padded to the length rules, or,
    under a ``pattern``, the longest of a few values drawn from the pattern.
    Integers and numbers: a random whole number of at least eight digits within the
    bounds.  ``None`` when nothing distinctive fits (an ``enum``, whose members are
    in the manifest for anyone to read; a boolean; bounds too narrow).
    """
    if option.enum is not None or option.type in ("boolean", "array", "object"):
        return None
    token = _secrets.token_hex(16)
    candidates: list[Any] = []
    if option.type in ("integer", "number"):
        low = 10 ** (DISTINCTIVE_LENGTH - 1)
        high = 10**DISTINCTIVE_LENGTH * 10 - 1
        if option.minimum is not None:
            low = max(low, math.ceil(option.minimum))
        if option.maximum is not None:
            high = min(high, math.floor(option.maximum))
        if high >= low:
            candidates += [low + _secrets.randbelow(high - low + 1) for _ in range(20)]
    elif option.pattern is not None:
        import hypothesis.strategies as st

        try:
            drawn = draw(st.from_regex(option.pattern, fullmatch=True), 30)
        except Exception:  # a pattern hypothesis cannot draw from
            drawn = []
        candidates += sorted((d for d in drawn if _distinctive(d)), key=len, reverse=True)
    else:
        value = f"nexus-secret-{token}"
        if option.max_length is not None:
            value = value[: option.max_length]
        if option.min_length is not None and len(value) < option.min_length:
            value += (token * (option.min_length // len(token) + 1))[
                : option.min_length - len(value)
            ]
        candidates.append(value)
    for candidate in candidates:
        if _distinctive(candidate) and check_value(option, candidate) is None:
            return candidate
    return None


def probe_of(evidence: str) -> str:
    return EVIDENCE.get(evidence, evidence)


def describe_exception(exc: BaseException) -> str:
    from .._errors import PluginTimeoutError

    if isinstance(exc, PluginTimeoutError):
        return f"nothing: {exc}"
    return safe_describe(exc)


class _Blocks(list):  # type: ignore[type-arg]
    """The monitor's list of blocks, each judged: the plugin's, or a busy machine's.

    A stall is the plugin's when the loop thread waited in a blocking call
    (``time.sleep``, a sync socket: the thread sleeps in the kernel when the
    watchdog sees the stall) or did at least the threshold's worth of work (its
    CPU time over the whole stall, read by the next heartbeat).  A thread that
    was runnable but got little CPU was descheduled by a busy machine: nobody's
    blocking, not counted (``blocked_by_plugin`` stays False).
    """

    def __init__(self, monitor: _ContractMonitor) -> None:
        super().__init__()
        self.monitor = monitor

    def append(self, block: Any) -> None:
        block.blocked_by_plugin = self.monitor.loop_is_waiting()
        self.monitor.open_block = (block, self.monitor.beat_cpu)
        super().append(block)


class _ContractMonitor(BlockingMonitor):
    def __init__(self, threshold: float, prefer: tuple[str, ...]) -> None:
        super().__init__(threshold, prefer=prefer)
        self.blocks = _Blocks(self)
        self.beat_cpu = 0.0
        self.open_block: tuple[Any, float] | None = None
        self._native_id: int | None = None

    def _heartbeat(self) -> None:
        # Runs on the loop thread: its own CPU clock.
        now = time.thread_time()
        if self.open_block is not None:
            block, started = self.open_block
            self.open_block = None
            block.cpu_seconds = now - started
            if block.cpu_seconds >= self.threshold:
                block.blocked_by_plugin = True
        self.beat_cpu = now
        super()._heartbeat()

    async def __aenter__(self) -> _ContractMonitor:
        self._native_id = threading.get_native_id()
        await super().__aenter__()
        return self

    def loop_is_waiting(self) -> bool:
        """The loop thread sleeps in a blocking call (or the state cannot be read)."""
        if self._native_id is None:
            return True
        return _thread_state(self._native_id) not in ("R",)


def _thread_state(native_id: int) -> str | None:
    """The kernel's state letter of a thread of this process (Linux), else None."""
    try:
        stat = Path(f"/proc/self/task/{native_id}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[0]


@dataclass
class HostSettings:
    timeout: float
    examples: int
    blocking_threshold: float
    backend: str
    db_url: str | None
    simulate: float = 3600.0
    max_task_wakeups: int = 1000


#: What the monitor says while the simulated time runs (robustness.blocking names it).
SIMULATED_TIME = "a background task, in simulated time"
#: Probes whose plugin is expected to fail: what it logs then is its report, not swallowed.
REFUSALS = ("initialize() with an invalid configuration",)


class _ErrorLog(logging.Handler):
    """Keeps each record at ERROR or above carrying an exception, with the task that logged it."""

    def __init__(self, session: Session) -> None:
        super().__init__(level=logging.ERROR)
        self.session = session

    def emit(self, record: logging.LogRecord) -> None:
        if not record.exc_info or record.exc_info[1] is None:
            return
        try:
            task = asyncio.current_task()
        except RuntimeError:  # another thread
            task = None
        self.session.ev.logged_errors.append(LoggedError(record, task, self.session.monitor.during))


class Session:
    """One contract run's driving of one plugin; fills :attr:`evidence`."""

    def __init__(self, directory: Path, settings: HostSettings, needed: set[str]) -> None:
        self.directory = directory
        self.settings = settings
        self.needed = needed
        self.ev = Evidence(directory, blocking_threshold=settings.blocking_threshold)
        self.monitor = _ContractMonitor(
            settings.blocking_threshold, prefer=(str(directory.resolve()),)
        )
        self.ev.blocks = self.monitor.blocks
        # From the import to the last call: the hosts of the run join this watch.
        self.root = resolved_directory(str(directory))
        self.watch = ProcessWatch(self.root, shared=True)
        self.main: PluginHost | None = None
        self.state: Any = None  # the exercise's values, for the handlers
        self.exerciser: Any = None
        self._config_cases: tuple[list[Violation], list[Violation]] | None = None
        #: The exercise's draws, shared by its replays (store.round_trip).
        self.draws: dict[tuple[str, int], list[Any]] = {}

    # -- the one place hosts are built -----------------------------------------

    def host(
        self, config: Mapping[str, Any], *, fidelity: str | None = None, **shared: Any
    ) -> PluginHost:
        manifest = self.ev.manifest
        assert manifest is not None
        if "data_store" not in shared:
            # Built here, not by the host, so a restart can share it and the
            # run removes its files at the end.
            if fidelity is not None:
                shared["data_store"] = make_data_store("fake", fidelity=fidelity)
            else:
                shared["data_store"] = make_data_store(
                    self.settings.backend, db_url=self.settings.db_url
                )
        if "config_store" not in shared:
            shared["config_store"] = ConfigStore(config, secret_keys=manifest.secret_keys)
        options = HostOptions(
            timeout=self.settings.timeout,
            raise_app_exceptions=False,
            allow_handler_errors=True,
            # Raw records: config.secrets looks for the values in them.
            mask_logs=False,
            backend=self.settings.backend if fidelity is None else "fake",
        )
        host = PluginHost(self.directory, options, manifest=manifest, **shared)
        if host.event_bus not in self.ev.buses:
            self.ev.buses.append(host.event_bus)
        if host.data_store not in self.ev.stores:
            self.ev.stores.append(host.data_store)
        if host.services not in self.ev.registries:
            self.ev.registries.append(host.services)
        return host

    # -- running ---------------------------------------------------------------

    def missing(self, probe: str) -> str | None:
        for evidence in PROBES[probe]:
            if evidence in self.ev.missing:
                return self.ev.missing[evidence]
        return None

    async def step(self, probe: str) -> bool:
        if probe not in self.needed:
            return False
        reason = self.missing(probe)
        if reason is not None:
            for evidence in [probe, *(e for e, p in EVIDENCE.items() if p == probe)]:
                self.ev.missing.setdefault(evidence, reason)
            return False
        try:
            await getattr(self, "probe_" + probe)()
        except (KeyboardInterrupt, asyncio.CancelledError):
            raise
        except Exception as exc:  # a bug of the harness: this probe's checks are skipped
            reason = (
                f"the contract could not record this evidence ({probe}: "
                f"{safe_describe(exc)}); a bug of nexus-testkit, please report it"
            )
            for evidence in [probe, *(e for e, p in EVIDENCE.items() if p == probe)]:
                self.ev.missing.setdefault(evidence, reason)
        self.ev.done.add(probe)
        return probe not in self.ev.missing

    @contextmanager
    def _logs(self) -> Iterator[None]:
        root = logging.getLogger()
        level = root.level
        capture = LogCapture(self.ev.log_records)
        errors = _ErrorLog(self)
        root.addHandler(capture)
        root.addHandler(errors)
        root.setLevel(logging.DEBUG)
        try:
            yield
        finally:
            root.removeHandler(errors)
            root.removeHandler(capture)
            root.setLevel(level)

    async def run(self) -> None:
        from ..host._outbound import outbound

        ev = self.ev
        prefer = (str(self.directory.resolve()),)
        try:
            blocked: list[str] = []
            with (
                self.watch.watching(),
                network_guarded(blocked, ev.network_attempts, self.root),
                self._logs(),
                outbound.recording(self.ev.outbound, prefer),
            ):
                async with self.monitor:
                    await self._run()
        finally:
            watch = self.watch
            watch.finish()
            ev.state_changes = [c.describe() for c in watch.changes]
            ev.state_changes += [f"could not be put back: {u}" for u in watch.restore()]
            ev.threads_left = [t.describe() for t in watch.threads_left]
            ev.processes_left = list(watch.killed)
            if self.ev.loaded is not None:
                self.ev.loaded.unload()
            for store in self.ev.stores:
                release(store)

    async def _run(self) -> None:
        self.probe_manifest()
        self.ev.done.add("manifest")
        await self.step("load")
        for probe in ("health_before", "db_schema", "shutdown_uninitialized"):
            await self.step(probe)
        await self.step("start")
        try:
            # Without a running plugin these are marked missing, not run.
            for probe in (
                "background",
                "health_after",
                "routes",
                "get_ok",
                "exercise",
                "traversal",
                "handlers",
            ):
                await self.step(probe)
        finally:
            await self.stop_main()
        for probe in (
            "double_shutdown",
            "restart",
            "config_valid",
            "config_required",
            "config_invalid",
            "round_trip",
        ):
            await self.step(probe)

    # -- manifest ------------------------------------------------------------------

    def probe_manifest(self) -> None:
        ev = self.ev
        file = self.directory / "manifest.json"
        ev.manifest_file = file
        if not file.is_file():
            ev.manifest_file_problem = (
                "is not a regular file"
                if file.exists()
                else "file not found; a plugin directory needs a manifest.json"
            )
            for name in ("manifest_json", "manifest_doc", "manifest"):
                ev.missing[name] = "no manifest.json"
            return
        try:
            manifest = load_manifest(file)
        except ManifestError as exc:
            ev.manifest_error = exc
            if exc.kind in ("syntax", "file"):
                ev.missing["manifest_doc"] = "manifest.json does not parse"
                ev.missing["manifest"] = "manifest.json does not parse"
            else:
                ev.missing["manifest"] = "the manifest does not follow the schema"
            return
        ev.manifest = manifest
        # Secret keys get distinctive values, long enough never to appear by chance,
        # within their rules; a key none fits is named by config.secrets.
        for key in manifest.secret_keys:
            value = distinctive_secret(manifest.configuration[key])
            if value is not None:
                ev.secret_values[key] = value
            else:
                ev.untestable_secrets.append(key)
        ev.masker.add(ev.secret_values.values())
        config = resolve_config(manifest, ev.secret_values)
        # A default that breaks its own rule (manifest.config_defaults) must not
        # make the plugin look broken when it rightly refuses it.
        for key, value in list(config.items()):
            declared = manifest.configuration.get(key)
            if declared is not None and check_value(declared, value) is not None:
                config[key] = placeholder_value(declared)
        ev.valid_config = config

    # -- load --------------------------------------------------------------------

    async def probe_load(self) -> None:
        ev = self.ev
        try:
            # Imports block by nature (and the first one pays for FastAPI): not judged.
            self.monitor.during = ""
            from ._audit import recording

            with (
                recording(ev.load_files),
                self.watch.call(f"the import of {self.directory / 'plugin.py'}"),
            ):
                ev.loaded = import_plugin(self.directory)
        except PluginLoadError as exc:
            ev.load_error = exc
            order = ("import", "instance", "interface")
            stage = exc.stage if exc.stage in order else "import"
            if stage == "import":
                ev.missing["instance"] = "load.import failed"
            ev.missing["loaded"] = f"load.{stage} failed"
            reason = "plugin.py could not be loaded"
            ev.missing.setdefault("loaded", reason)
            return
        ev.platform_class = platform_plugin_class(ev.loaded.module)
        instance = ev.loaded.instance
        # Injected as PluginManager does before initialize(); nothing started.
        instance.db_adapter = RecordingDataStore(connected=True)
        instance.event_bus = RecordingEventBus()
        instance.service_registry = RecordingServiceRegistry()
        self.ev.registries.append(instance.service_registry)

    async def _call(self, label: str, during: str, call: Any) -> Attempt:
        self.monitor.during = during
        since = user_interrupts()
        try:
            with self.watch.call(during):
                value = call()
                if inspect.iscoroutine(value):
                    value = await run_with_timeout(value, self.settings.timeout, label)
            return Attempt(value)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # SystemExit and the plugin's own KeyboardInterrupt
            if isinstance(exc, KeyboardInterrupt) and is_user_interrupt(since):
                raise
            if isinstance(exc, PluginKeyboardInterrupt):
                exc = exc.interrupt
            return Attempt(problem=describe_exception(exc))

    async def probe_health_before(self) -> None:
        instance = self.ev.loaded.instance
        self.ev.health_before = await self._call(
            "health_check()", "health_check() before initialize()", instance.health_check
        )

    async def probe_db_schema(self) -> None:
        instance = self.ev.loaded.instance
        self.ev.db_schema = await self._call(
            "get_database_schema()", "get_database_schema()", instance.get_database_schema
        )

    async def probe_shutdown_uninitialized(self) -> None:
        instance = self.ev.loaded.instance
        self.ev.shutdown_uninitialized = await self._call(
            "shutdown()", "shutdown() without initialize()", instance.shutdown
        )

    # -- the main host -------------------------------------------------------------

    async def probe_start(self) -> None:
        ev = self.ev
        host = self.host(ev.valid_config)
        ev.prefix = host.prefix
        self.monitor.during = "initialize()"
        from ._audit import recording

        try:
            with recording(ev.start_files):
                await host.start()
        except PluginStartError as exc:
            ev.start_error = exc
            if exc.stage == "routes":
                # initialize() succeeded and the host has shut the plugin down again.
                reason = "get_api_routes() failed (routes.routers), so the plugin cannot be served"
                ev.missing["running"] = reason
                self.record_leftovers(host)
            else:
                reason = "the plugin did not start (lifecycle.initialize failed)"
                ev.missing["initialized"] = reason
                ev.missing["running"] = reason
                ev.missing["shutdown"] = reason
            return
        except PluginLoadError as exc:  # plugin.py changed between loads
            ev.start_error = exc
            reason = "plugin.py could not be loaded again for the host"
            for name in ("initialized", "running", "shutdown"):
                ev.missing[name] = reason
            return
        self.main = host

    async def stop_main(self) -> None:
        host = self.main
        if host is None:
            return
        self.monitor.during = "shutdown()"
        await host.aclose()
        self.record_leftovers(host)

    def record_leftovers(self, host: PluginHost) -> None:
        left = host.leftovers
        self.ev.shutdown_errors = list(left.shutdown_errors)
        self.ev.leftover_tasks = [t.describe() for t in left.tasks]
        self.ev.leftover_subscriptions = [f"{name!r}: {h}" for name, h in left.subscriptions]

    async def probe_background(self) -> None:
        """Run the started plugin for the simulated time: its periodic jobs wake."""
        from .._frames import is_harness_file
        from ..world._clock import ClockError
        from ..world._swallowed import _site

        host = self.main
        assert host is not None
        ev, seconds = self.ev, self.settings.simulate
        clock = host.clock
        if not seconds or clock is None:
            ev.missing["background"] = "no simulated time in this run (simulate=0)"
            return
        tracker = host._tracker
        first_log = len(ev.logged_errors)
        self.monitor.during = SIMULATED_TIME
        ev.simulated = seconds
        try:
            await clock.advance(seconds, max_task_wakeups=self.settings.max_task_wakeups)
        except ClockError as exc:
            ev.background_failures.append(f"the simulated time stopped: {exc}")
        finally:
            self.monitor.during = ""
        prefer = (str(self.directory.resolve()),)
        tracked = {id(t.task): t for t in tracker.tasks}
        crashed: dict[int, Any] = {}
        for entry in tracker.tasks:
            task = entry.task
            if not task.done() or task.cancelled():
                continue
            # Retrieved already: the plugin awaited the task and saw its error.
            unseen = getattr(task, "_log_traceback", True)
            error = task.exception()
            if error is None or not unseen:
                continue
            crashed[id(error)] = entry
            site = _site(error, prefer, "<unknown>")
            ev.background_failures.append(
                f"{entry.describe()} crashed with {describe_exception(error)} at {site}"
            )
        for logged in ev.logged_errors[first_log:]:
            error = logged.exception
            owner = crashed.get(id(error)) or tracked.get(id(logged.task))
            if owner is None:
                continue
            logged.claimed = True
            if id(error) in crashed:
                continue  # the crash is listed; a done-callback logged it
            record = logged.record
            fallback = f"{record.pathname}:{record.lineno} in {record.funcName}"
            site = _site(error, prefer, fallback)
            ev.background_failures.append(
                f"{owner.describe()} logged {record.name}: {_message(record)} "
                f"({describe_exception(error) if error else 'no exception'}) at {site}"
            )
        for throttled, when in clock.throttled.items():
            found = tracked.get(id(throttled))
            if found is None or is_harness_file(found.created_at):
                continue
            ev.background_notes.append(
                f"{found.describe()} woke {self.settings.max_task_wakeups} times in the first "
                f"{when:.2f} s and slept through the rest"
            )

    async def probe_health_after(self) -> None:
        assert self.main is not None
        self.ev.health_after = await self._call(
            "health_check()", "health_check() after initialize()", self.main.plugin.health_check
        )

    async def probe_routes(self) -> None:
        from ._exercise import walk_routes

        host = self.main
        assert host is not None
        assert host.app is not None
        try:
            document = host.app.openapi()
            self.ev.openapi = Attempt(document)
        except Exception as exc:
            self.ev.openapi = Attempt(problem=describe_exception(exc))
        self.ev.routes = [(m, p) for m, p, _ in walk_routes(host.app)]
        # A second call (the platform makes one): what it raises or returns is no
        # verdict, and cannot end the run (SystemExit included).
        try:
            routers = list(host.plugin.get_api_routes() or [])
            prefixes = [r.prefix for r in routers if isinstance(getattr(r, "prefix", ""), str)]
        except KeyboardInterrupt:
            raise
        except BaseException:
            prefixes = []
        self.ev.router_prefixes = [p for p in prefixes if p]

    async def probe_get_ok(self) -> None:
        from ._exercise import Exerciser

        assert self.main is not None
        exerciser = Exerciser(self.main, self.ev, self.monitor, self.settings.examples)
        self.ev.get_ok = await exerciser.plain_gets()

    async def probe_exercise(self) -> None:
        from ._exercise import Exerciser

        assert self.main is not None
        exerciser = Exerciser(self.main, self.ev, self.monitor, self.settings.examples, self.draws)
        self.ev.exchanges = await exerciser.run()
        self.state = exerciser.pool
        self.exerciser = exerciser

    async def probe_traversal(self) -> None:
        from ._exercise import Exerciser

        assert self.main is not None
        exerciser = self.exerciser or Exerciser(
            self.main, self.ev, self.monitor, self.settings.examples, self.draws
        )
        self.ev.traversals = await exerciser.traversals()

    async def probe_handlers(self) -> None:
        host = self.main
        assert host is not None
        bus = host.event_bus
        before = len(bus.handler_failures)
        for name in host.plugin_subscriptions():
            for payload in [*_UNEXPECTED_PAYLOADS, *self.handler_payloads(name)]:
                self.monitor.during = f"handler of {name!r}"
                await bus.publish(name, payload, source=CONTRACT_SOURCE)
        from .._errors import PluginTimeoutError

        # One line per handler, event and error, with the smallest payload
        # that raised it: generated payloads make every line different.
        smallest: dict[tuple[str, str, str], str] = {}
        count: Counter[tuple[str, str, str]] = Counter()
        timeouts: set[tuple[str, str, str]] = set()
        for failure in bus.handler_failures[before:]:
            raised = safe_describe(failure.exception)
            if self.ev.masker.contains_secret(raised) and len(self.ev.leaks) < 50:
                self.ev.leaks.append(
                    f"exception message ({handler_name(failure.handler)} on "
                    f"{failure.event.name!r}): {self.ev.masker(raised)[:300]}"
                )
            key = (
                handler_name(failure.handler),
                failure.event.name,
                describe_exception(failure.exception),
            )
            data = repr(failure.event.data)
            count[key] += 1
            if key not in smallest or len(data) < len(smallest[key]):
                smallest[key] = data
            if isinstance(failure.exception, PluginTimeoutError):
                timeouts.add(key)
        for key, data in smallest.items():
            handler, event, error = key
            times = f"(x{count[key]}) " if count[key] > 1 else ""
            line = f"{times}{handler} on {event!r} with data {data} raised {error}"
            if key in timeouts:
                self.ev.handler_timeouts.append(line)
            self.ev.handler_failures.append(line)

    def handler_payloads(self, event_name: str) -> list[dict[str, Any]]:
        """Drawn payloads, then the same with values the exercise saw (ids of created objects)."""
        from hypothesis.errors import InvalidArgument

        from ..strategies import event_payloads

        manifest = self.ev.manifest
        try:
            strategy = event_payloads(manifest, event_name)
        except InvalidArgument:  # a subscription the manifest does not declare
            from hypothesis import strategies as st

            strategy = st.dictionaries(st.text(max_size=8), st.integers() | st.text(max_size=8))
        payloads: list[dict[str, Any]] = self.draw(strategy)
        seen = self.state.values() if self.state is not None else {}
        if seen:
            base = payloads[0] if payloads else {}
            for key, values in sorted(seen.items()):
                for value in values[:2]:
                    payloads.append({**base, key: value})
        return payloads

    # -- after the main host -------------------------------------------------------

    async def probe_double_shutdown(self) -> None:
        host = self.main
        assert host is not None
        self.ev.double_shutdown = await self._call(
            "second shutdown()", "second shutdown()", host.plugin.shutdown
        )

    async def probe_restart(self) -> None:
        first = self.main
        assert first is not None
        host = self.host(
            self.ev.valid_config,
            event_bus=first.event_bus,
            data_store=first.data_store,
            config_store=ConfigStore(
                first.config_store.values, secret_keys=first.config_store.secret_keys
            ),
            services=first.services,
        )
        self.monitor.during = "initialize() after a restart"
        try:
            await host.start()
        except (PluginStartError, PluginLoadError) as exc:
            self.ev.restart = Attempt(problem=str(exc))
            return
        self.monitor.during = "shutdown() after a restart"
        await host.aclose()
        self.ev.restart = Attempt(True)

    # -- configuration -------------------------------------------------------------

    def draw(self, strategy: Any, examples: int | None = None) -> list[Any]:
        """Up to ``examples`` values of ``strategy``, reproducibly (derandomised)."""
        return draw(strategy, examples or self.settings.examples, self.monitor)

    async def probe_config_valid(self) -> None:
        manifest = self.ev.manifest
        if not manifest.configuration:
            return
        from ..strategies import configs

        # The flat `config` dialect states no rule, only defaults: what can be
        # drawn as valid is the defaults with each value varied within its
        # type, every key kept (no rule says a key may be left out).
        defaults = (
            {k: o.default for k, o in manifest.configuration.items() if o.has_default}
            if manifest.config_dialect == "config"
            else {}
        )
        for drawn in self.draw(configs(self.drawn_manifest(), **self.ev.secret_values)):
            config = {**defaults, **drawn}
            problem = await self.accepted(config)
            self.ev.valid_configs.append((config, problem))
            if sum(p is not None for _, p in self.ev.valid_configs) >= 3:
                break

    def drawn_manifest(self) -> Manifest:
        """The manifest whose keys the drawn configurations vary.

        Drawing a whole configuration costs time per key and per example: past
        :data:`MAX_DRAWN_KEYS` keys, the required and secret keys are drawn
        with an evenly spread sample of the others (the rest are left out,
        which an optional key allows), so that the contract of a manifest of
        10,000 keys takes seconds.
        """
        manifest: Manifest = self.ev.manifest
        options = manifest.configuration
        if len(options) <= MAX_DRAWN_KEYS or manifest.config_schema is not None:
            return manifest
        kept = [k for k, o in options.items() if o.required or o.secret]
        others = [k for k in options if k not in set(kept)]
        step = max(1, len(others) // MAX_DRAWN_KEYS)
        kept += others[::step][:MAX_DRAWN_KEYS]
        return dataclasses.replace(manifest, configuration={k: options[k] for k in kept})

    def _cases(self) -> tuple[list[Violation], list[Violation]]:
        if self._config_cases is None:
            self._config_cases = self._draw_cases()
        return self._config_cases

    def _draw_cases(self) -> tuple[list[Violation], list[Violation]]:
        manifest = self.ev.manifest
        # Each violation is a copy of the whole configuration: taken lazily and
        # only as many as are tried, so that a manifest of 10,000 keys costs
        # time linear in its size, not quadratic.
        required: list[Violation] = []
        invalid: list[Violation] = []
        limit = self.settings.examples
        for v in violations(manifest, self.ev.valid_config):
            if v.rule.startswith("required"):
                if len(required) < max(limit, REQUIRED_CASES):
                    required.append(v)
            elif len(invalid) < limit:
                invalid.append(v)
            if len(invalid) >= limit and len(required) >= max(limit, REQUIRED_CASES):
                break
        seen = {(v.key, v.rule.split(":")[0]) for v in invalid}
        for drawn in self.draw_invalid():
            key, rule = drawn.violation.key, drawn.violation.rule
            if rule != "required" and (key, rule) not in seen:
                seen.add((key, rule))
                invalid.append(Violation(drawn.config, key, str(drawn.violation.message)))
        return required, invalid[: self.settings.examples]

    async def probe_config_required(self) -> None:
        for violation in self._cases()[0]:
            self.ev.required_cases.append((str(violation), await self.refused(violation.config)))

    async def probe_config_invalid(self) -> None:
        for violation in self._cases()[1]:
            self.ev.invalid_cases.append((str(violation), await self.refused(violation.config)))

    def draw_invalid(self) -> list[Any]:
        from hypothesis.errors import InvalidArgument

        from ..strategies import invalid_configs

        try:
            return self.draw(invalid_configs(self.drawn_manifest(), **self.ev.secret_values))
        except InvalidArgument:  # nothing left to break once secrets are fixed
            return []

    async def accepted(self, config: Mapping[str, Any]) -> str | None:
        """``None`` if the plugin starts with ``config`` (and stops cleanly), else why not."""
        host = self.host(config)
        self.monitor.during = "initialize() with a drawn valid configuration"
        try:
            await host.start()
        except PluginStartError as exc:
            return exc.problem
        except PluginLoadError as exc:
            return str(exc)
        await host.aclose()
        return None

    def validate_config_refuses(self, config: Mapping[str, Any]) -> bool:
        """The plugin's own ``validate_config(config)`` (the platform's hook) returns False."""
        if self.ev.loaded is None:
            return False
        instance = self.ev.loaded.instance
        hook = getattr(type(instance), "validate_config", None)
        if hook is None or getattr(hook, "__module__", "").startswith("nexus."):
            return False  # BasePlugin's default accepts everything
        try:
            return instance.validate_config(dict(config)) is False
        except Exception:
            return True  # raising refuses too

    async def refused(self, config: Mapping[str, Any]) -> str | None:
        """``None`` if the plugin refuses ``config`` cleanly, else what went wrong."""
        if self.validate_config_refuses(config):
            return None
        host = self.host(config)
        self.monitor.during = "initialize() with an invalid configuration"
        try:
            await host.start()
        except PluginStartError as exc:
            if "timed out" in exc.problem:
                return f"initialize() hung instead of refusing ({exc.problem})"
            if host.leftovers.tasks:
                return "refused, but left tasks running: " + "; ".join(
                    t.describe() for t in host.leftovers.tasks
                )
            return None
        except PluginLoadError as exc:
            return str(exc)
        await host.aclose()
        return "initialize() returned True"

    # -- storage fidelity ------------------------------------------------------

    async def probe_round_trip(self) -> None:
        from ._fidelity import replay

        await replay(self)


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # a broken format string: what was written
        return str(record.msg)


def draw(strategy: Any, examples: int, monitor: BlockingMonitor | None = None) -> list[Any]:
    """Up to ``examples`` values of ``strategy``, reproducibly (derandomised)."""
    from hypothesis import HealthCheck, Phase, given, settings

    drawn: list[Any] = []

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(value: Any) -> None:
        drawn.append(value)

    # Generating examples is the harness's work, not the plugin's blocking.
    if monitor is not None:
        monitor.during = ""
    collect()
    return drawn
