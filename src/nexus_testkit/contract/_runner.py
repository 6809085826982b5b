"""The lifecycle contract: a fixed, named set of checks run against any plugin.

``run_contract(path)`` runs every check of :data:`CHECKS` against one plugin
directory and returns a :class:`PluginReport`.  It never raises for a broken
plugin: a manifest that does not parse, a plugin.py that raises SystemExit,
an initialize() that hangs are each reported as the checks they break, and
the checks that need a started plugin are skipped with the reason, so a
plugin that hangs costs one time-out, not one per check.

The run is one in-process pass, in stages, sharing the recording fakes:

1. manifest: the file alone;
2. load: import plugin.py, build an instance, compare with the platform's
   class rule; then, on that never-initialized instance, health_check(),
   get_database_schema() and shutdown();
3. main host: initialize with a valid configuration (secret keys set to
   distinctive values), health, routes, handlers fed unexpected payloads,
   shutdown, a second shutdown, a restart over the same stores;
4. configuration: one host per configuration that must be refused;
5. verdicts over everything recorded: events declared and serialisable,
   permissions, secrets in logs/events/responses, event-loop blocking.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import re
import secrets as _secrets
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .._deadlines import run_with_timeout
from .._errors import (
    ManifestError,
    NexusOptionsError,
    PluginLoadError,
    PluginStartError,
    PluginTimeoutError,
)
from .._masking import Masker
from ..backends._build import check_backend, make_data_store, release
from ..fakes._bus import RecordingEventBus, handler_name
from ..fakes._config import ConfigStore, placeholder_value, resolve_config
from ..fakes._services import RecordingServiceRegistry
from ..fakes._store import RecordingDataStore
from ..host._blocking import BlockingMonitor
from ..host._host import PluginHost
from ..host._loader import LoadedPlugin, import_plugin, platform_plugin_class
from ..host._logs import LogCapture
from ..host._options import HostOptions, check_positive
from ..manifest._load import HTTP_METHODS, Manifest, load_manifest
from ..manifest._rules import Violation, check_value, violations
from ._checks import CHECKS, CHECKS_BY_ID, KNOWN_PERMISSIONS

__all__ = ["CheckResult", "ContractOptions", "Outcome", "PluginReport", "run_contract"]

Outcome = Literal["passed", "failed", "warning", "skipped"]
CONTRACT_SOURCE = "nexus-testkit.contract"

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)
_PERMISSION = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
_EVENT = re.compile(r"^[A-Za-z0-9_*-]+(\.[A-Za-z0-9_*-]+)*$")
_UNEXPECTED_PAYLOADS: tuple[dict[str, Any], ...] = (
    {},
    {"unexpected": ["payload", 1, None], "id": None},
)


@dataclass(frozen=True)
class ContractOptions:
    """How the contract runs.

    ``skip`` maps check ids to the reason they are skipped (a reason is
    required: opt-outs are visible in every report).  ``examples`` bounds the
    number of invalid configurations tried.
    """

    timeout: float = 5.0
    skip: Mapping[str, str] = field(default_factory=dict)
    examples: int = 25
    blocking_threshold: float = 0.2
    backend: str = "fake"
    db_url: str | None = None

    def __post_init__(self) -> None:
        check_backend(self.backend)
        unknown = sorted(set(self.skip) - set(CHECKS_BY_ID))
        if unknown:
            raise NexusOptionsError(
                f"{', '.join(map(repr, unknown))} is not a contract check. Valid checks: "
                f"{', '.join(CHECKS_BY_ID)}."
            )
        missing = [
            cid
            for cid, reason in self.skip.items()
            if not isinstance(reason, str) or not reason.strip()
        ]
        if missing:
            raise NexusOptionsError(f"skipping a check needs a reason: {', '.join(missing)}")
        check_positive("timeout", self.timeout)
        check_positive("blocking_threshold", self.blocking_threshold)
        if (
            isinstance(self.examples, bool)
            or not isinstance(self.examples, int)
            or self.examples < 1
        ):
            raise NexusOptionsError(
                f"examples={self.examples!r} is not valid. Valid values: a whole number from 1."
            )


@dataclass
class CheckResult:
    """The outcome of one check for one plugin."""

    check: str
    severity: str
    outcome: Outcome
    message: str = ""

    def to_json(self) -> dict[str, str]:
        return {
            "check": self.check,
            "severity": self.severity,
            "outcome": self.outcome,
            "message": self.message,
        }

    @classmethod
    def from_json(cls, document: Any) -> CheckResult:
        """The inverse of :meth:`to_json`; ValueError for anything else."""
        if not isinstance(document, dict) or set(document) != {
            "check",
            "severity",
            "outcome",
            "message",
        }:
            raise ValueError(f"not a check result: {document!r:.200}")
        if not all(isinstance(v, str) for v in document.values()) or document["outcome"] not in (
            "passed",
            "failed",
            "warning",
            "skipped",
        ):
            raise ValueError(f"not a check result: {document!r:.200}")
        return cls(
            document["check"], document["severity"], document["outcome"], document["message"]
        )


@dataclass
class PluginReport:
    """Every check's result for one plugin directory, in the order of :data:`CHECKS`."""

    path: Path
    name: str | None
    results: list[CheckResult]
    duration: float = 0.0
    #: Set when the contract run itself could not finish (a harness failure).
    error: str | None = None
    #: What the plugin wrote to ``"stdout"`` / ``"stderr"`` in its worker process
    #: (capped, masked); empty when it wrote nothing or ran inline.
    output: dict[str, str] = field(default_factory=dict)
    #: What the isolation did besides the checks (processes killed, output cut).
    notes: list[str] = field(default_factory=list)

    def result(self, check_id: str) -> CheckResult:
        for r in self.results:
            if r.check == check_id:
                return r
        raise KeyError(check_id)

    @property
    def errors(self) -> list[CheckResult]:
        return [r for r in self.results if r.outcome == "failed"]

    @property
    def warnings(self) -> list[CheckResult]:
        return [r for r in self.results if r.outcome == "warning"]

    @property
    def skipped(self) -> list[CheckResult]:
        return [r for r in self.results if r.outcome == "skipped"]

    def ok(self, *, strict: bool = False) -> bool:
        return self.error is None and not self.errors and not (strict and self.warnings)

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "path": str(self.path),
            "name": self.name,
            "results": [r.to_json() for r in self.results],
        }
        if self.error is not None:
            document["error"] = self.error
        if self.output:
            document["output"] = dict(self.output)
        if self.notes:
            document["notes"] = list(self.notes)
        return document

    @classmethod
    def from_json(cls, document: Any, *, duration: float = 0.0) -> PluginReport:
        """The inverse of :meth:`to_json` (the duration is not in the JSON); ValueError
        for a document that is not one."""
        if not isinstance(document, dict) or not isinstance(document.get("results"), list):
            raise ValueError("not a plugin report")
        path, name, error = document.get("path"), document.get("name"), document.get("error")
        output, notes = document.get("output", {}), document.get("notes", [])
        if (
            not isinstance(path, str)
            or not isinstance(name, (str, type(None)))
            or not isinstance(error, (str, type(None)))
            or not isinstance(output, dict)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in output.items())
            or not isinstance(notes, list)
            or not all(isinstance(n, str) for n in notes)
        ):
            raise ValueError("not a plugin report")
        results = [CheckResult.from_json(r) for r in document["results"]]
        return cls(Path(path), name, results, duration, error, dict(output), list(notes))


async def run_contract(path: Path | str, options: ContractOptions | None = None) -> PluginReport:
    """Run every contract check against the plugin in ``path``.

    Never raises for a broken plugin.  Should the run itself fail (a bug of
    the harness), the checks recorded so far are kept, the others are
    skipped, and ``report.error`` says what happened.
    """
    run = _Run(Path(path), options or ContractOptions())
    loop = asyncio.get_running_loop()
    started = loop.time()
    error = None
    try:
        await run.run()
    except (KeyboardInterrupt, asyncio.CancelledError):
        raise
    except BaseException as exc:
        error = f"the contract run stopped: {type(exc).__name__}: {exc}"
    report = run.report()
    report.error = error and run.masker(error)
    report.duration = loop.time() - started
    return report


# ---------------------------------------------------------------------------- the run


def _bullets(lines: list[str]) -> str:
    """One ``- line`` per line; a line that occurs more than once is written
    once, where it first occurred, as ``- (xN) line``.  A contract run starts
    the plugin many times, so the same log record or task would otherwise be
    listed once per start."""
    counts = Counter(lines)
    return "\n".join(
        f"- (x{counts[line]}) {line}" if counts[line] > 1 else f"- {line}"
        for line in counts  # first occurrences, in order
    )


def _norm_path(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path.rstrip("/") or "/")


class _Run:
    def __init__(self, path: Path, options: ContractOptions) -> None:
        self.path = path
        self.directory = path.parent if path.name == "manifest.json" else path
        self.options = options
        self.results: dict[str, CheckResult] = {}
        self.manifest: Manifest | None = None
        self.loaded: LoadedPlugin | None = None
        self.masker = Masker()
        self.capture = LogCapture()
        self.buses: list[RecordingEventBus] = []
        self.stores: list[RecordingDataStore] = []
        self.responses: list[tuple[str, str]] = []
        self.secret_values: dict[str, str] = {}
        self.valid_config: dict[str, Any] = {}
        self.monitor = BlockingMonitor(
            options.blocking_threshold, prefer=(str(self.directory.resolve()),)
        )

    # -- recording results ---------------------------------------------------

    def passed(self, check_id: str, message: str = "") -> None:
        self.results.setdefault(check_id, CheckResult(check_id, _sev(check_id), "passed", message))

    def failed(self, check_id: str, message: str) -> None:
        outcome: Outcome = "failed" if _sev(check_id) == "error" else "warning"
        self.results.setdefault(check_id, CheckResult(check_id, _sev(check_id), outcome, message))

    def warn(self, check_id: str, message: str) -> None:
        self.results.setdefault(check_id, CheckResult(check_id, _sev(check_id), "warning", message))

    def skipped(self, check_id: str, reason: str) -> None:
        self.results.setdefault(check_id, CheckResult(check_id, _sev(check_id), "skipped", reason))

    def skip_rest(self, prefix_or_ids: tuple[str, ...], reason: str) -> None:
        for check in CHECKS:
            if check.id in prefix_or_ids or check.area in prefix_or_ids:
                self.skipped(check.id, reason)

    def wanted(self, check_id: str) -> bool:
        return check_id not in self.options.skip and check_id not in self.results

    def report(self) -> PluginReport:
        results = []
        for check in CHECKS:
            if check.id in self.options.skip:
                result = CheckResult(
                    check.id,
                    check.severity,
                    "skipped",
                    f"skipped by the user: {self.options.skip[check.id]}",
                )
            else:
                result = self.results.get(check.id) or CheckResult(
                    check.id, check.severity, "skipped", "not reached"
                )
            result.message = self.masker(result.message)
            results.append(result)
        name = self.manifest.name if self.manifest else None
        return PluginReport(self.directory, name, results)

    # -- helpers -------------------------------------------------------------

    @contextmanager
    def _logs(self) -> Iterator[None]:
        root = logging.getLogger()
        level = root.level
        root.addHandler(self.capture)
        root.setLevel(logging.DEBUG)
        try:
            yield
        finally:
            root.removeHandler(self.capture)
            root.setLevel(level)

    def host(self, config: Mapping[str, Any], **kwargs: Any) -> PluginHost:
        assert self.manifest is not None
        if "data_store" not in kwargs:
            # Built here, not by the host, so a restart can share it and the
            # run removes its files at the end.
            kwargs["data_store"] = make_data_store(self.options.backend, db_url=self.options.db_url)
        options = HostOptions(
            timeout=self.options.timeout,
            raise_app_exceptions=False,
            allow_handler_errors=True,
            # Raw records: config.secrets looks for the values in them.
            mask_logs=False,
            backend=self.options.backend,
        )
        host = PluginHost(
            self.directory,
            options,
            manifest=self.manifest,
            config_store=kwargs.pop("config_store", None)
            or ConfigStore(config, secret_keys=self.manifest.secret_keys),
            **kwargs,
        )
        if host.event_bus not in self.buses:
            self.buses.append(host.event_bus)
        if host.data_store not in self.stores:
            self.stores.append(host.data_store)
        return host

    # -- stages --------------------------------------------------------------

    async def run(self) -> None:
        with self._logs():
            async with self.monitor:
                self.stage_manifest()
                await self.stage_load()
                if self.manifest is None:
                    self.skip_rest(
                        ("lifecycle", "config", "events", "permissions", "routes", "health"),
                        "the manifest could not be loaded, so the plugin cannot be hosted",
                    )
                    self.skip_rest(
                        ("manifest.identity", "robustness.blocking"), "manifest not loaded"
                    )
                elif self.loaded is None:
                    reason = "plugin.py could not be loaded"
                    self.skip_rest(
                        (
                            "lifecycle",
                            "config",
                            "events",
                            "permissions",
                            "routes",
                            "health",
                            "schema",
                        ),
                        reason,
                    )
                    self.skip_rest(("manifest.identity", "robustness.blocking"), reason)
                else:
                    started = await self.stage_main()
                    if started:
                        await self.stage_config()
                    self.stage_verdicts()
        if self.loaded is not None:
            self.loaded.unload()
        for store in self.stores:
            release(store)

    # 1. manifest -------------------------------------------------------------

    def stage_manifest(self) -> None:
        file = self.directory / "manifest.json"
        if not file.is_file():
            problem = (
                "is not a regular file"
                if file.exists()
                else "file not found; a plugin directory needs a manifest.json"
            )
            self.failed("manifest.exists", f"{file}: {problem}")
            self.skip_rest(
                ("manifest.json", "manifest.schema", "manifest.config_defaults"), "no manifest.json"
            )
            return
        self.passed("manifest.exists")
        try:
            manifest = load_manifest(file)
        except ManifestError as exc:
            if exc.kind in ("syntax", "file"):
                self.failed("manifest.json", str(exc))
                self.skip_rest(
                    ("manifest.schema", "manifest.config_defaults"), "manifest.json does not parse"
                )
            else:
                self.passed("manifest.json")
                self.failed("manifest.schema", str(exc))
                self.skipped("manifest.config_defaults", "the manifest does not follow the schema")
            return
        self.passed("manifest.json")
        self.manifest = manifest
        problems = _schema_problems(manifest)
        if problems:
            self.failed(
                "manifest.schema", f"{file}: the manifest breaks the schema:\n{_bullets(problems)}"
            )
        else:
            self.passed("manifest.schema")
        bad_defaults = []
        for key, option in manifest.configuration.items():
            if option.has_default:
                broken = check_value(option, option.default)
                if broken:
                    bad_defaults.append(f"{key}: default {option.default!r} breaks {broken}")
        if bad_defaults:
            self.failed("manifest.config_defaults", f"{file}:\n{_bullets(bad_defaults)}")
        else:
            self.passed("manifest.config_defaults")
        # Secret keys get distinctive values, long enough never to appear by chance.
        for key in manifest.secret_keys:
            option = manifest.configuration[key]
            value = f"nexus-secret-{_secrets.token_hex(10)}"
            if check_value(option, value) is None:
                self.secret_values[key] = value
        self.masker.add(self.secret_values.values())
        config = resolve_config(manifest, self.secret_values)
        # A default that breaks its own rule (manifest.config_defaults) must not
        # make the plugin look broken when it rightly refuses it.
        for key, value in list(config.items()):
            declared = manifest.configuration.get(key)
            if declared is not None and check_value(declared, value) is not None:
                config[key] = placeholder_value(declared)
        self.valid_config = config

    # 2. load ------------------------------------------------------------------

    async def stage_load(self) -> None:
        try:
            # Imports block by nature (and the first one pays for FastAPI): not judged.
            self.monitor.during = ""
            loaded = import_plugin(self.directory)
        except PluginLoadError as exc:
            stages = ("import", "instance", "interface")
            ids = ("load.import", "load.instance", "load.interface")
            at = stages.index(exc.stage) if exc.stage in stages else 0
            for check_id in ids[:at]:
                self.passed(check_id)
            self.failed(ids[at], str(exc))
            for check_id in ids[at + 1 :]:
                self.skipped(check_id, f"{ids[at]} failed")
            self.skipped("load.platform_class", f"{ids[at]} failed")
            return
        self.loaded = loaded
        instance = loaded.instance
        self.passed("load.import")
        self.passed("load.instance", f"built with {loaded.factory}")
        not_async = [
            m
            for m in ("initialize", "shutdown", "health_check")
            if not inspect.iscoroutinefunction(getattr(instance, m))
        ]
        if not_async:
            self.failed(
                "load.interface",
                f"{loaded.file}: {', '.join(m + '()' for m in not_async)} must be async "
                "(the platform awaits them)",
            )
        else:
            self.passed("load.interface")
        self.check_platform_class(loaded)
        if self.manifest is not None:
            self.check_identity(instance)
        await self.check_uninitialized(loaded)

    def check_platform_class(self, loaded: LoadedPlugin) -> None:
        picked = platform_plugin_class(loaded.module)
        built = type(loaded.instance)
        if picked is None:
            self.failed(
                "load.platform_class",
                f"{loaded.file}: the platform's rule finds no class whose name ends in 'Plugin' "
                f"in plugin.py, so nexus-platform cannot load it ({loaded.factory} builds "
                f"{built.__name__})",
            )
        elif picked is not built:
            origin = getattr(picked, "__module__", "?")
            self.failed(
                "load.platform_class",
                f"{loaded.file}: the platform would instantiate {picked.__name__} (from {origin}), "
                f"the first *Plugin name in dir(module), but {loaded.factory} builds "
                f"{built.__name__}",
            )
        else:
            self.passed("load.platform_class")

    def check_identity(self, instance: Any) -> None:
        assert self.manifest is not None
        wrong = []
        for attr in ("name", "version", "category"):
            declared = getattr(self.manifest, attr)
            actual = getattr(instance, attr, None)
            if declared is not None and actual != declared:
                wrong.append(f"{attr}: the manifest says {declared!r}, the instance has {actual!r}")
        if wrong:
            self.failed(
                "manifest.identity",
                f"{self.loaded.file if self.loaded else self.directory}:\n{_bullets(wrong)}",
            )
        else:
            self.passed("manifest.identity")

    async def check_uninitialized(self, loaded: LoadedPlugin) -> None:
        instance = loaded.instance
        # Injected as PluginManager does before initialize(); nothing started.
        instance.db_adapter = RecordingDataStore(connected=True)
        instance.event_bus = RecordingEventBus()
        instance.service_registry = RecordingServiceRegistry()
        timeout = self.options.timeout
        try:
            self.monitor.during = "health_check() before initialize()"
            status = await run_with_timeout(instance.health_check(), timeout, "health_check()")
            problem = _health_problem(status)
            if problem:
                self.failed(
                    "health.before_init",
                    f"{loaded.file}: health_check() before initialize() {problem}",
                )
            else:
                self.passed("health.before_init")
        except (Exception, SystemExit) as exc:
            self.failed(
                "health.before_init",
                f"{loaded.file}: health_check() before initialize() raised {_exc(exc)}",
            )
        try:
            schema = instance.get_database_schema()
            problem = _schema_db_problem(schema)
            if problem:
                self.failed("schema.database", f"{loaded.file}: get_database_schema() {problem}")
            else:
                self.passed("schema.database")
        except (Exception, SystemExit) as exc:
            self.failed(
                "schema.database", f"{loaded.file}: get_database_schema() raised {_exc(exc)}"
            )
        try:
            self.monitor.during = "shutdown() without initialize()"
            await run_with_timeout(instance.shutdown(), timeout, "shutdown()")
            self.passed("lifecycle.shutdown_uninitialized")
        except (Exception, SystemExit) as exc:
            self.failed(
                "lifecycle.shutdown_uninitialized",
                f"{loaded.file}: shutdown() on a plugin that was never initialized raised "
                f"{_exc(exc)}",
            )

    # 3. main host ------------------------------------------------------------

    async def stage_main(self) -> bool:
        host = self.host(self.valid_config)
        self.monitor.during = "initialize()"
        try:
            await host.start()
        except PluginStartError as exc:
            if exc.stage == "routes":
                # initialize() succeeded and the host has shut the plugin down again.
                self.passed("lifecycle.initialize")
                self.failed("routes.routers", str(exc))
                self.leftover_checks(host)
                self.skip_rest(
                    (
                        "lifecycle",
                        "config",
                        "routes",
                        "health.after_init",
                        "events.handlers_robust",
                    ),
                    "get_api_routes() failed (routes.routers), so the plugin cannot be served",
                )
            else:
                self.failed("lifecycle.initialize", str(exc))
                self.skip_rest(
                    (
                        "lifecycle",
                        "config",
                        "routes",
                        "health.after_init",
                        "events.handlers_robust",
                    ),
                    "the plugin did not start (lifecycle.initialize failed)",
                )
            return False
        except PluginLoadError as exc:  # plugin.py changed between loads
            self.failed("lifecycle.initialize", str(exc))
            self.skip_rest(
                ("lifecycle", "config", "routes", "health.after_init", "events.handlers_robust"),
                "plugin.py could not be loaded again for the host",
            )
            return False
        self.passed("lifecycle.initialize")
        self.passed("routes.routers")
        await self.check_health_after(host)
        await self.check_routes(host)
        await self.check_handlers(host)
        self.monitor.during = "shutdown()"
        await host.aclose()
        self.leftover_checks(host)
        plugin = host.plugin
        try:
            self.monitor.during = "second shutdown()"
            await run_with_timeout(plugin.shutdown(), self.options.timeout, "second shutdown()")
            self.passed("lifecycle.double_shutdown")
        except (Exception, SystemExit) as exc:
            self.failed(
                "lifecycle.double_shutdown",
                f"{host.loaded.file if host.loaded else self.directory}: a second shutdown() "
                f"raised {_exc(exc)}",
            )
        await self.check_restart(host)
        return True

    def leftover_checks(self, host: PluginHost) -> None:
        left = host.leftovers
        if left.shutdown_errors:
            self.failed("lifecycle.shutdown", _bullets(left.shutdown_errors))
        else:
            self.passed("lifecycle.shutdown")
        if left.tasks:
            self.failed(
                "lifecycle.tasks",
                "tasks still pending after shutdown():\n"
                + _bullets([t.describe() for t in left.tasks]),
            )
        else:
            self.passed("lifecycle.tasks")
        if left.subscriptions:
            self.failed(
                "lifecycle.unsubscribe",
                "handlers still subscribed after shutdown():\n"
                + _bullets([f"{name!r}: {h}" for name, h in left.subscriptions]),
            )
        else:
            self.passed("lifecycle.unsubscribe")

    async def check_health_after(self, host: PluginHost) -> None:
        try:
            status = await run_with_timeout(
                host.plugin.health_check(), self.options.timeout, "health_check()"
            )
        except (Exception, SystemExit) as exc:
            self.failed(
                "health.after_init", f"health_check() after initialize() raised {_exc(exc)}"
            )
            return
        problem = _health_problem(status)
        if problem:
            self.failed("health.after_init", f"health_check() after initialize() {problem}")
        elif not status.healthy:
            message = getattr(status, "message", "")
            self.failed(
                "health.after_init",
                "health_check() after a successful initialize() reports healthy=False "
                f"({message!r})",
            )
        else:
            self.passed("health.after_init")

    async def check_routes(self, host: PluginHost) -> None:
        assert host.app is not None
        assert self.manifest is not None
        try:
            host.app.openapi()
            self.passed("routes.openapi")
        except Exception as exc:
            self.failed("routes.openapi", f"the OpenAPI schema does not build: {_exc(exc)}")
        routes = list(_walk_routes(host.app))
        prefix = host.prefix
        seen: dict[tuple[str, str], str] = {}
        clashes = []
        for method, path, _route in routes:
            key = (method, _norm_path(path))
            if key in seen:
                clashes.append(f"{method} {path} is defined twice")
            seen.setdefault(key, path)
        if clashes:
            self.failed("routes.unique", _bullets(sorted(set(clashes))))
        else:
            self.passed("routes.unique")
        missing = []
        for endpoint in self.manifest.api_endpoints:
            full = _norm_path(
                prefix + ("" if endpoint.path.startswith("/") else "/") + endpoint.path
            )
            if (endpoint.method, full) not in seen:
                missing.append(
                    f"{endpoint.method} {endpoint.path} (expected at {prefix}{endpoint.path})"
                )
        if missing:
            self.failed(
                "routes.declared",
                "endpoints declared in api_endpoints that the plugin does not serve:\n"
                + _bullets(missing)
                + "\nserved routes:\n"
                + _bullets([f"{m} {p}" for m, p, _ in routes] or ["(none)"]),
            )
        else:
            self.passed("routes.declared")
        prefixed = [
            r.prefix for r in (host.plugin.get_api_routes() or []) if getattr(r, "prefix", "")
        ]
        if prefixed:
            self.warn(
                "routes.prefix",
                f"routers with a prefix of their own ({', '.join(map(repr, prefixed))}): the "
                "harness "
                f"mounts them at {prefix}<prefix>/..., but nexus-platform 0.1.5 applies the prefix "
                "twice, so on that release the routes are at "
                f"{prefix}{prefixed[0]}{prefixed[0]}/...",
            )
        else:
            self.passed("routes.prefix")
        errors = []
        for method, path, _route in routes:
            if method != "GET" or "{" in path:
                continue
            self.monitor.during = f"GET {path}"
            try:
                # The host's transport cuts a hanging route after the time-out and
                # names the frame it waits in (a PluginTimeoutError).
                response = await host.client.get(f"http://testserver{path}")
            except PluginTimeoutError as exc:
                errors.append(str(exc))
                continue
            except (Exception, SystemExit) as exc:
                errors.append(f"GET {path} raised {_exc(exc)}")
                continue
            self.responses.append((f"GET {path}", _response_text(response)))
            if response.status_code >= 500:
                # Mask before cutting: a cut secret would no longer be recognised.
                errors.append(
                    f"GET {path} answered {response.status_code}: "
                    f"{self.masker(response.text)[:200]}"
                )
        if errors:
            self.failed("routes.get_ok", _bullets(errors))
        else:
            self.passed("routes.get_ok")

    async def check_handlers(self, host: PluginHost) -> None:
        bus = host.event_bus
        failures = []
        before = len(bus.handler_failures)
        for name in host.plugin_subscriptions():
            for payload in [*_UNEXPECTED_PAYLOADS, *self.draw_payloads(name)]:
                self.monitor.during = f"handler of {name!r}"
                await bus.publish(name, payload, source=CONTRACT_SOURCE)
        # One line per handler, event and error, with the smallest payload
        # that raised it: generated payloads make every line different.
        smallest: dict[tuple[str, str, str], str] = {}
        count: Counter[tuple[str, str, str]] = Counter()
        for failure in bus.handler_failures[before:]:
            key = (handler_name(failure.handler), failure.event.name, _exc(failure.exception))
            data = repr(failure.event.data)
            count[key] += 1
            if key not in smallest or len(data) < len(smallest[key]):
                smallest[key] = data
        for key, data in smallest.items():
            handler, event, error = key
            times = f"(x{count[key]}) " if count[key] > 1 else ""
            failures.append(f"{times}{handler} on {event!r} with data {data} raised {error}")
        if failures:
            self.warn("events.handlers_robust", _bullets(failures))
        else:
            self.passed("events.handlers_robust")

    def draw_payloads(self, event_name: str) -> list[dict[str, Any]]:
        from hypothesis.errors import InvalidArgument

        from ..strategies import event_payloads

        assert self.manifest is not None
        try:
            strategy = event_payloads(self.manifest, event_name)
        except InvalidArgument:  # a subscription the manifest does not declare
            from hypothesis import strategies as st

            strategy = st.dictionaries(st.text(max_size=8), st.integers() | st.text(max_size=8))
        payloads: list[dict[str, Any]] = self.draw(strategy)
        return payloads

    async def check_restart(self, first: PluginHost) -> None:
        host = self.host(
            self.valid_config,
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
            self.failed(
                "lifecycle.restart", f"a fresh instance over the same stores did not start: {exc}"
            )
            return
        self.monitor.during = "shutdown() after a restart"
        await host.aclose()
        self.passed("lifecycle.restart")

    # 4. configuration ----------------------------------------------------------

    async def stage_config(self) -> None:
        assert self.manifest is not None
        await self.check_valid_configs()
        all_violations = list(violations(self.manifest, self.valid_config))
        required = [v for v in all_violations if v.rule.startswith("required")]
        invalid: list[Any] = [v for v in all_violations if not v.rule.startswith("required")]
        seen = {(v.key, v.rule.split(":")[0]) for v in invalid}
        for drawn in self.draw_invalid():
            key, rule = drawn.violation.key, drawn.violation.rule
            if rule != "required" and (key, rule) not in seen:
                seen.add((key, rule))
                invalid.append(Violation(drawn.config, key, str(drawn.violation.message)))
        invalid = invalid[: self.options.examples]
        for check_id, cases in (("config.required", required), ("config.invalid", invalid)):
            if not self.wanted(check_id):
                continue
            if not cases:
                self.passed(check_id, "no rule to break: the manifest declares none")
                continue
            problems = []
            for violation in cases:
                problem = await self.refused(violation.config)
                if problem:
                    problems.append(f"{violation}: {problem}")
            if problems:
                self.failed(
                    check_id,
                    "configurations the plugin must refuse:\n" + _bullets(problems),
                )
            else:
                self.passed(check_id, f"{len(cases)} configuration(s) refused")

    def draw(self, strategy: Any) -> list[Any]:
        """Up to ``examples`` values of ``strategy``, reproducibly (derandomised)."""
        from hypothesis import HealthCheck, Phase, given, settings

        drawn: list[Any] = []

        @settings(
            max_examples=self.options.examples,
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
        self.monitor.during = ""
        collect()
        return drawn

    def draw_invalid(self) -> list[Any]:
        from hypothesis.errors import InvalidArgument

        from ..strategies import invalid_configs

        assert self.manifest is not None
        try:
            return self.draw(invalid_configs(self.manifest, **self.secret_values))
        except InvalidArgument:  # nothing left to break once secrets are fixed
            return []

    async def check_valid_configs(self) -> None:
        assert self.manifest is not None
        if not self.wanted("config.valid"):
            return
        if not self.manifest.configuration:
            self.passed("config.valid", "the manifest declares no configuration")
            return
        from ..strategies import configs

        drawn = self.draw(configs(self.manifest, **self.secret_values))
        problems = []
        for config in drawn:
            problem = await self.accepted(config)
            if problem:
                problems.append(f"{config!r}: {problem}")
            if len(problems) >= 3:
                break
        if problems:
            self.failed(
                "config.valid",
                "valid configurations (by the manifest's rules) the plugin refused:\n"
                + _bullets(problems),
            )
        else:
            self.passed("config.valid", f"{len(drawn)} configuration(s) accepted")

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

    async def refused(self, config: Mapping[str, Any]) -> str | None:
        """``None`` if the plugin refuses ``config`` cleanly, else what went wrong."""
        host = self.host(config)
        self.monitor.during = "initialize() with an invalid configuration"
        try:
            await host.start()
        except PluginStartError as exc:
            timed_out = "timed out" in exc.problem
            if timed_out:
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

    # 5. verdicts -----------------------------------------------------------------

    def stage_verdicts(self) -> None:
        assert self.manifest is not None
        manifest = self.manifest
        published = [e for bus in self.buses for e in bus.published if e.source != CONTRACT_SOURCE]
        subscribed = [
            s for bus in self.buses for s in bus.subscription_calls if s.op == "subscribe"
        ]
        # events.declared
        if self.wanted("events.declared"):
            pub_names = sorted({e.name for e in published})
            sub_names = sorted({s.event_name for s in subscribed})
            if not manifest.events.declared:
                if pub_names or sub_names:
                    self.warn(
                        "events.declared",
                        "the manifest declares no events, but the plugin "
                        + "; ".join(
                            part
                            for part in (
                                f"published {', '.join(pub_names)}" if pub_names else "",
                                f"subscribed to {', '.join(sub_names)}" if sub_names else "",
                            )
                            if part
                        )
                        + ": declare them under events.publishes / events.subscribes",
                    )
                else:
                    self.passed("events.declared")
            else:
                undeclared = [
                    f"published {n!r}, not in events.publishes"
                    for n in pub_names
                    if n not in manifest.events.publishes
                ]
                undeclared += [
                    f"subscribed to {n!r}, not in events.subscribes"
                    for n in sub_names
                    if n not in manifest.events.subscribes
                ]
                if undeclared:
                    self.failed("events.declared", f"{manifest.path}:\n" + _bullets(undeclared))
                else:
                    self.passed("events.declared")
        # events.serialisable
        bad = []
        for e in published:
            try:
                json.dumps(e.data)
            except (TypeError, ValueError) as exc:
                bad.append(f"{e.name}: {exc}")
        if bad:
            self.failed("events.serialisable", _bullets(sorted(set(bad))))
        else:
            self.passed("events.serialisable")
        # permissions
        needs: dict[str, str] = {}
        if published:
            needs.setdefault("events.publish", f"published {published[0].name!r}")
        if subscribed:
            needs.setdefault("events.subscribe", f"subscribed to {subscribed[0].event_name!r}")
        config_keys = set(manifest.configuration) | set(self.valid_config)
        for store in self.stores:
            for op in store.operations:
                if op.op in ("get", "exists", "list_keys"):
                    # BasePlugin.get_config reads the raw key first: not the plugin's doing.
                    if op.op == "get" and op.key in config_keys:
                        continue
                    needs.setdefault("database.read", f"{op.op}({op.key or op.value!r})")
                elif op.op in ("set", "delete", "clear"):
                    needs.setdefault("database.write", f"{op.op}({op.key!r})")
        missing = [
            f"{perm}: the plugin {why}"
            for perm, why in needs.items()
            if perm not in manifest.permissions
        ]
        if missing:
            self.failed(
                "permissions.declared",
                f"{manifest.path}: permissions missing for what the plugin did:\n"
                + _bullets(missing),
            )
        else:
            self.passed("permissions.declared")
        unknown = [p for p in manifest.permissions if p not in KNOWN_PERMISSIONS]
        if unknown:
            self.warn(
                "permissions.known",
                f"unknown permission(s) {', '.join(map(repr, unknown))}; known: "
                f"{', '.join(KNOWN_PERMISSIONS)}",
            )
        else:
            self.passed("permissions.known")
        self.check_secrets(published)
        blocks = [b for b in self.monitor.blocks if b.during and not b.importing]
        if blocks:
            self.warn(
                "robustness.blocking",
                f"the event loop was blocked for more than {self.options.blocking_threshold:g} s:\n"
                + _bullets([f"{b.duration:.2f} s during {b.during} at {b.site}" for b in blocks]),
            )
        else:
            self.passed("robustness.blocking")

    def check_secrets(self, published: list[Any]) -> None:
        if not self.secret_values:
            reason = (
                "the manifest declares no secret keys"
                if not (self.manifest and self.manifest.secret_keys)
                else "no distinctive value fits the secret keys' rules"
            )
            self.passed("config.secrets", reason)
            return
        leaks = []
        for record in self.capture.records:
            text = _record_text(record)
            if self.masker.contains_secret(text):
                leaks.append(
                    f"log record {record.levelname} {record.name}: {self.masker(text)[:300]}"
                    f" at {record.pathname}:{record.lineno}"
                )
        for event in published:
            text = json.dumps(event.data, default=str)
            if self.masker.contains_secret(text):
                leaks.append(f"event {event.name}: {self.masker(text)[:300]}")
        for what, text in self.responses:
            if self.masker.contains_secret(text):
                leaks.append(f"response to {what}: {self.masker(text)[:300]}")
        if leaks:
            keys = ", ".join(self.secret_values)
            self.failed(
                "config.secrets", f"values of secret keys ({keys}) appeared in:\n" + _bullets(leaks)
            )
        else:
            self.passed("config.secrets")


# ---------------------------------------------------------------------------- helpers


def _sev(check_id: str) -> str:
    return CHECKS_BY_ID[check_id].severity


def _exc(exc: BaseException) -> str:
    if isinstance(exc, PluginTimeoutError):
        return f"nothing: {exc}"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _record_text(record: logging.LogRecord) -> str:
    try:
        text = record.getMessage()
    except Exception:
        text = str(record.msg)
    if record.exc_info and record.exc_info[1] is not None:
        text += f" {record.exc_info[1]!r}"
    return text


def _response_text(response: Any) -> str:
    headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
    return f"{headers}\n{response.text}"


def _health_problem(status: Any) -> str | None:
    healthy = getattr(status, "healthy", None)
    if not isinstance(healthy, bool):
        return f"returned {type(status).__name__}, not a HealthStatus with a boolean `healthy`"
    dump = getattr(status, "model_dump_json", None) or getattr(status, "json", None)
    try:
        if dump is not None:
            dump()
        else:
            json.dumps(vars(status))
    except Exception as exc:
        return f"returned a HealthStatus that does not serialise to JSON: {_exc(exc)}"
    return None


def _schema_db_problem(schema: Any) -> str | None:
    if not isinstance(schema, dict):
        return f"returned {type(schema).__name__}; expected a dict"
    try:
        json.dumps(schema)
    except (TypeError, ValueError) as exc:
        return f"returned a dict that is not JSON-serialisable: {exc}"
    collections = schema.get("collections", {})
    if not isinstance(collections, dict):
        return (
            f"has collections of type {type(collections).__name__}; expected a dict of name -> spec"
        )
    for name, spec in collections.items():
        if not isinstance(spec, dict):
            return f"collection {name!r} is {type(spec).__name__}; expected a dict with indexes"
        indexes = spec.get("indexes", [])
        if not isinstance(indexes, list):
            return (
                f"collection {name!r} has indexes of type {type(indexes).__name__}; expected a list"
            )
        for i, index in enumerate(indexes):
            if not isinstance(index, dict) or not isinstance(index.get("field"), str):
                return (
                    f"collection {name!r} index {i} is {index!r}; "
                    "expected {'field': str, 'unique'?: bool}"
                )
            if "unique" in index and not isinstance(index["unique"], bool):
                return (
                    f"collection {name!r} index {i} has unique={index['unique']!r}; expected a bool"
                )
    return None


def _walk_routes(app: Any) -> Iterator[tuple[str, str, Any]]:
    """(method, path, route) of every HTTP route, through included routers and mounts."""

    def walk(routes: list[Any], base: str) -> Iterator[tuple[str, str, Any]]:
        for route in routes:
            contexts = getattr(route, "effective_route_contexts", None)
            if callable(contexts):
                # FastAPI >= 0.16x keeps an included router as one entry whose
                # effective routes carry their full paths.
                for context in contexts():
                    for method in sorted(getattr(context, "methods", None) or ()):
                        if method != "HEAD":
                            yield method, base + context.path, context
                continue
            methods = getattr(route, "methods", None)
            path = getattr(route, "path", "")
            if methods:
                for method in sorted(methods):
                    if method != "HEAD":
                        yield method, base + path, route
                continue
            inner = getattr(route, "routes", None)
            if inner is None:
                inner = getattr(getattr(route, "app", None), "routes", None)
            if inner:
                yield from walk(list(inner), base + path)

    openapi_paths = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
    for method, path, route in walk(list(app.routes), ""):
        if path not in openapi_paths:
            yield method, path, route


def _schema_problems(manifest: Manifest) -> list[str]:
    raw = manifest.raw
    problems = []
    if not _NAME.match(manifest.name):
        problems.append(
            f"name: {manifest.name!r} is not a valid plugin name (letters, digits and _, "
            "not starting with a digit: it becomes a Python module path on the platform)"
        )
    if manifest.version is None:
        problems.append("version: missing; expected a semantic version like 1.0.0")
    elif not _SEMVER.match(manifest.version):
        problems.append(f"version: {manifest.version!r} is not a semantic version like 1.0.0")
    if manifest.category is None:
        problems.append("category: missing; the platform reads it when it discovers plugins")
    elif not _NAME.match(manifest.category):
        problems.append(f"category: {manifest.category!r} is not a valid category name")
    for i, permission in enumerate(manifest.permissions):
        if not _PERMISSION.match(permission):
            problems.append(f"permissions[{i}]: {permission!r} is not of the form area.action")
    if manifest.config_dialect == "configuration":
        for key, entry in raw.get("configuration", {}).items():
            if "type" not in entry and "default" not in entry:
                problems.append(f"configuration.{key}: declares neither a type nor a default")
            option = manifest.configuration[key]
            if (
                option.minimum is not None
                and option.maximum is not None
                and option.minimum > option.maximum
            ):
                problems.append(
                    f"configuration.{key}: min {option.minimum} is above max {option.maximum}"
                )
    for section in ("publishes", "subscribes"):
        for i, name in enumerate(getattr(manifest.events, section)):
            if not _EVENT.match(name):
                problems.append(f"events.{section}[{i}]: {name!r} is not a dotted event name")
    for i, endpoint in enumerate(manifest.api_endpoints):
        if endpoint.method not in HTTP_METHODS:
            problems.append(f"api_endpoints[{i}].method: {endpoint.method!r} is not an HTTP method")
        if not endpoint.path.startswith("/"):
            problems.append(f"api_endpoints[{i}].path: {endpoint.path!r} must start with /")
    return problems
