"""What the probes record about a plugin, for the checks to judge.

Probes drive the plugin and write here; checks only read.  ``done`` names the
probes whose evidence is complete; ``missing`` says, for a probe that could
not run, why (the reason a check needing it is skipped with).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._masking import Masker

__all__ = ["NO_BODY", "Attempt", "Evidence", "Exchange", "LoggedError"]

#: The body of a request sent without one.
NO_BODY: Any = type("NoBody", (), {"__repr__": lambda self: "NO_BODY"})()


@dataclass
class Attempt:
    """A call into the plugin: what it returned, or the problem it raised."""

    value: Any = None
    problem: str | None = None


@dataclass
class Exchange:
    """One HTTP request the contract sent, and what came back."""

    method: str
    #: The mounted path the request went to (``/api/plugins/p/items/3``).
    url_path: str
    #: The operation's path template (``/api/plugins/p/items/{item_id}``).
    template: str
    prefix: str
    #: ``valid``: drawn from the schema; ``state``: path parameters fed from
    #: earlier responses; ``invalid``: a body or parameter the schema refuses;
    #: ``unknown``: a path parameter no response returned.
    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = NO_BODY
    status: int | None = None
    text: str = ""
    content_type: str = ""
    location: str | None = None
    #: The transport's problem (a time-out) when no response came.
    problem: str | None = None
    #: The exception behind a 500 and the plugin's frames of it.
    raised: str = ""
    frames: str = ""
    #: The declared 2xx response schema, when the route declares one.
    response_schema: Any = None
    #: Where the schema's $ref pointers resolve (the OpenAPI document).
    document: Any = None
    #: Files the plugin reached while serving the request: (open/list/write/delete, path).
    files: list[tuple[str, str]] = field(default_factory=list)

    @property
    def relative(self) -> str:
        path = self.url_path
        return path[len(self.prefix) :] or "/" if path.startswith(self.prefix) else path

    def call(self) -> str:
        """The request as a line to paste into a test using the ``nexus_client`` fixture."""
        args = [json.dumps(self.relative)]
        if self.params:
            args.append(f"params={self.params!r}")
        if self.headers:
            args.append(f"headers={self.headers!r}")
        if self.body is not NO_BODY:
            args.append(f"json={self.body!r}")
        return f"await nexus_client.{self.method.lower()}({', '.join(args)})"

    def json(self) -> Any:
        if "json" not in self.content_type:
            return NO_BODY
        try:
            return json.loads(self.text)
        except ValueError:
            return NO_BODY


@dataclass
class LoggedError:
    """A log record at ERROR or above that carries an exception, seen during the run."""

    record: logging.LogRecord
    #: The asyncio task that logged it (None: a callback, a thread, the harness).
    task: Any
    #: What the contract was doing (the blocking monitor's label).
    during: str
    #: Reported by lifecycle.background (a background task's), so not again as swallowed.
    claimed: bool = False

    @property
    def exception(self) -> BaseException | None:
        info = self.record.exc_info
        return info[1] if info else None


@dataclass
class Evidence:
    """Everything one contract run recorded about one plugin."""

    directory: Path
    masker: Masker = field(default_factory=Masker)
    done: set[str] = field(default_factory=set)
    missing: dict[str, str] = field(default_factory=dict)
    #: Options of the run the checks read (bounds named in messages).
    blocking_threshold: float = 0.2
    # manifest -------------------------------------------------------------
    manifest_file: Path | None = None
    manifest_file_problem: str | None = None
    manifest_error: Any = None  # ManifestError
    manifest: Any = None  # Manifest
    secret_values: dict[str, str] = field(default_factory=dict)
    valid_config: dict[str, Any] = field(default_factory=dict)
    #: Secret keys no distinctive probe value fits (their leaks cannot be looked for).
    untestable_secrets: list[str] = field(default_factory=list)
    # load -------------------------------------------------------------------
    load_error: Any = None  # PluginLoadError
    #: Files the plugin reached while plugin.py was imported and the instance built.
    load_files: list[tuple[str, str]] = field(default_factory=list)
    #: The working directory of the run.
    cwd: Path = field(default_factory=Path.cwd)
    loaded: Any = None  # LoadedPlugin
    platform_class: Any = None
    health_before: Attempt | None = None
    db_schema: Attempt | None = None
    shutdown_uninitialized: Attempt | None = None
    # main host --------------------------------------------------------------
    start_error: Any = None  # PluginStartError | PluginLoadError
    prefix: str = ""
    health_after: Attempt | None = None
    openapi: Attempt | None = None
    routes: list[tuple[str, str]] = field(default_factory=list)
    router_prefixes: list[str] = field(default_factory=list)
    get_ok: list[Exchange] = field(default_factory=list)
    exchanges: list[Exchange] = field(default_factory=list)
    #: Requests with traversal payloads on path-like parameters (security.filesystem).
    traversals: list[Exchange] = field(default_factory=list)
    #: Files the plugin reached while it was built and initialized.
    start_files: list[tuple[str, str]] = field(default_factory=list)
    #: Directories the plugin keeps its data in (made or written at start, on valid input).
    data_roots: list[str] = field(default_factory=list)
    handler_failures: list[str] = field(default_factory=list)
    handler_timeouts: list[str] = field(default_factory=list)
    shutdown_errors: list[str] = field(default_factory=list)
    leftover_tasks: list[str] = field(default_factory=list)
    leftover_subscriptions: list[str] = field(default_factory=list)
    double_shutdown: Attempt | None = None
    restart: Attempt | None = None
    # the simulated time after initialize() ----------------------------------
    #: Seconds of simulated time the main host ran (0: none).
    simulated: float = 0.0
    #: Background tasks that crashed or logged an exception meanwhile, one line each.
    background_failures: list[str] = field(default_factory=list)
    #: Tasks that hit the wake-up cap and slept through the rest, one line each.
    background_notes: list[str] = field(default_factory=list)
    # configuration ------------------------------------------------------------
    valid_configs: list[tuple[dict[str, Any], str | None]] = field(default_factory=list)
    required_cases: list[tuple[str, str | None]] = field(default_factory=list)
    invalid_cases: list[tuple[str, str | None]] = field(default_factory=list)
    # storage fidelity -------------------------------------------------------
    round_trip_differences: list[str] = field(default_factory=list)
    round_trip_changed: list[str] = field(default_factory=list)
    round_trip_runs: int = 0
    # recorded by every host -----------------------------------------------
    buses: list[Any] = field(default_factory=list)
    stores: list[Any] = field(default_factory=list)
    #: Service registries the plugin saw (its registrations and lookups: ecosystem.services).
    registries: list[Any] = field(default_factory=list)
    responses: list[tuple[str, str]] = field(default_factory=list)
    log_records: list[logging.LogRecord] = field(default_factory=list)
    #: Records at ERROR or above carrying an exception (robustness.swallowed_errors).
    logged_errors: list[LoggedError] = field(default_factory=list)
    #: Every destination the plugin tried to reach (``OutboundAttempt``s: httpx
    #: requests, refused connections), from load to the last host.
    outbound: list[Any] = field(default_factory=list)
    #: Secrets written where the host's capture does not look (contract/_leaks.py).
    leaks: list[str] = field(default_factory=list)
    blocks: list[Any] = field(default_factory=list)
    # the guards, from the import to the last call (host._network, host._state) ------
    #: Network uses refused (``NetworkAttempt``: kind, host, port, where, call).
    network_attempts: list[Any] = field(default_factory=list)
    #: Process state the plugin changed, each described with where or in which call.
    state_changes: list[str] = field(default_factory=list)
    #: Threads the plugin started that were still running at the end.
    threads_left: list[str] = field(default_factory=list)
    #: Processes the plugin left running, killed at the end (``pid N: command ...``).
    processes_left: list[str] = field(default_factory=list)

    # -- helpers the checks share ------------------------------------------

    @property
    def file(self) -> Path:
        """plugin.py when it loaded, else the directory (where messages point)."""
        return Path(self.loaded.file) if self.loaded is not None else self.directory

    def published(self, source: str) -> list[Any]:
        """Events the plugin published (not those the contract fed it, from ``source``)."""
        return [e for bus in self.buses for e in bus.published if e.source != source]

    def subscribed(self) -> list[Any]:
        return [s for bus in self.buses for s in bus.subscription_calls if s.op == "subscribe"]

    def operations(self) -> list[Any]:
        return [op for store in self.stores for op in store.operations]
