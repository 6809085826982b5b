"""The lifecycle contract against a corpus of purpose-built plugins.

``tests/contract_plugins/good`` passes every check; every other directory there
is a copy of it with one defect, and :data:`CASES` pins what the contract must
report for it: the outcome of the check the defect targets, fragments of the
message (file, key, event, line...), and the few other checks the defect
unavoidably breaks too.  Every other check must not fail.

Reports are cached per (plugin, time-out): the corpus runs once, and the
invariants over all reports (secrets masked, JSON schema, reasons for skips)
reuse the same reports.  The command line runs in a handful of subprocesses
started together.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from nexus_testkit.contract._checks import CHECKS, CHECKS_BY_ID, ECOSYSTEM_CHECKS
from nexus_testkit.contract._report import report_json, report_schema
from nexus_testkit.contract._runner import ContractOptions, PluginReport, run_contract

from ._helpers import EXAMPLES, needs_platform

# The corpus plugins subclass nexus.plugins.BasePlugin: a test that runs one is
# marked needs_platform; the tests of the corpus' layout, the options and the
# check list run without the platform too.
CORPUS = Path(__file__).resolve().parent / "contract_plugins"
GOOD = CORPUS / "good"
REFERENCE_PLUGINS = {
    "good": GOOD,
    "my_awesome_plugin": EXAMPLES / "my_awesome_plugin",
    "task_manager": EXAMPLES / "task_manager",
    "notifications": EXAMPLES / "notifications",
}
#: The time-out of the cases that hang; every other case runs with the default.
HANG_TIMEOUT = 0.2
#: The contract gives secret keys values starting with this; a report holding it leaks one.
SECRET_PREFIX = "nexus-secret-"

#: The checks that need a started plugin: skipped when initialize() fails.
NEED_STARTED = (
    "lifecycle.shutdown",
    "lifecycle.tasks",
    "lifecycle.unsubscribe",
    "lifecycle.restart",
    "lifecycle.double_shutdown",
    "config.required",
    "config.invalid",
    "events.handlers_robust",
    "routes.routers",
    "routes.openapi",
    "routes.declared",
    "routes.unique",
    "routes.get_ok",
    "routes.prefix",
    "routes.no_server_error",
    "routes.response_schema",
    "routes.rejects_invalid",
    "routes.not_found",
    "health.after_init",
    "store.round_trip",
    "security.filesystem",
)


def line_of(case: str, needle: str, file: str = "plugin.py") -> int:
    """The 1-based line of the only line of ``case/file`` holding ``needle``."""
    lines = (CORPUS / case / file).read_text().splitlines()
    found = [i for i, line in enumerate(lines, 1) if needle in line]
    assert len(found) == 1, f"{needle!r} is on lines {found} of {case}/{file}"
    return found[0]


def _json_error_position(case: str) -> str:
    # The trailing comma of manifest_bad_json: the parser fails at the "]" after it.
    lines = (CORPUS / case / "manifest.json").read_text().splitlines()
    (number,) = [i for i, line in enumerate(lines, 1) if ",]" in line]
    column = lines[number - 1].index(",]") + 2
    return f"line {number}, column {column}"


@dataclass(frozen=True)
class Case:
    """What the contract must report for one corpus plugin."""

    check: str
    outcome: str  # "failed" for error-level checks, "warning" for warning-level ones
    fragments: tuple[str, ...]
    #: Other checks the defect unavoidably breaks, with their outcome.
    also: dict[str, str] = field(default_factory=dict)
    timeout: float = 5.0


#: corpus case -> the check it targets and what the report must say.
CASES: dict[str, Case] = {
    # manifest ------------------------------------------------------------------
    "manifest_missing": Case(
        "manifest.exists", "failed", ("manifest_missing/manifest.json", "file not found")
    ),
    "manifest_bad_json": Case(
        "manifest.json",
        "failed",
        (
            "manifest_bad_json/manifest.json",
            _json_error_position("manifest_bad_json"),
            "invalid JSON: Expecting value",
        ),
    ),
    "manifest_bad_version": Case(
        "manifest.schema",
        "failed",
        ("manifest_bad_version/manifest.json", "version: 'one' is not a semantic version"),
    ),
    "manifest_bad_default": Case(
        "manifest.config_defaults",
        "failed",
        (
            "manifest_bad_default/manifest.json",
            "max_items: default 0 breaks min: 0 is below the minimum 1",
        ),
    ),
    "manifest_identity": Case(
        "manifest.identity",
        "failed",
        (
            "manifest_identity/plugin.py",
            "name: the manifest says 'manifest_identity', the instance has 'identity_renamed'",
        ),
    ),
    # load ----------------------------------------------------------------------
    "load_import_error": Case(
        "load.import",
        "failed",
        (
            "load_import_error/plugin.py: import failed: RuntimeError: cannot reach the licence server",
            f'plugin.py", line {line_of("load_import_error", "raise RuntimeError")}, in <module>',
        ),
    ),
    "load_systemexit": Case(
        "load.import",
        "failed",
        (
            "load_systemexit/plugin.py: import failed: SystemExit: 3",
            f'plugin.py", line {line_of("load_systemexit", "raise SystemExit")}, in <module>',
        ),
    ),
    "load_instance_none": Case(
        "load.instance",
        "failed",
        (
            "load_instance_none/plugin.py",
            "create_plugin() returned None; expected a plugin instance",
        ),
    ),
    "load_interface_sync": Case(
        "load.interface",
        "failed",
        ("load_interface_sync/plugin.py", "initialize() must be async"),
        # The platform awaits initialize(): awaiting the bool it returns fails there too.
        also={"lifecycle.initialize": "failed"},
    ),
    "load_platform_class": Case(
        "load.platform_class",
        "failed",
        (
            "load_platform_class/plugin.py",
            "the platform would instantiate BusinessPlugin (from nexus.plugins)",
            "create_plugin() builds ZetaPlugin",
        ),
    ),
    # lifecycle -----------------------------------------------------------------
    "init_returns_false": Case(
        "lifecycle.initialize",
        "failed",
        ("init_returns_false/plugin.py", "initialize() returned False"),
    ),
    "init_returns_none": Case(
        "lifecycle.initialize",
        "failed",
        ("init_returns_none/plugin.py", "initialize() returned None"),
    ),
    "init_hangs": Case(
        "lifecycle.initialize",
        "failed",
        (
            "initialize() timed out",
            f"did not finish within {HANG_TIMEOUT:g} s",
            f"init_hangs/plugin.py:{line_of('init_hangs', 'asyncio.Event().wait()')} in initialize",
        ),
        timeout=HANG_TIMEOUT,
    ),
    "init_base_exception": Case(
        "lifecycle.initialize",
        "failed",
        ("init_base_exception/plugin.py", "initialize() raised Halt: halted by the plugin"),
    ),
    "shutdown_raises": Case(
        "lifecycle.shutdown",
        "failed",
        ("shutdown() raised RuntimeError: could not flush the outbox",),
    ),
    "shutdown_hangs": Case(
        "lifecycle.shutdown",
        "failed",
        (
            f"did not finish within {HANG_TIMEOUT:g} s",
            f"shutdown_hangs/plugin.py:{line_of('shutdown_hangs', 'asyncio.Event().wait()')} in shutdown",
        ),
        timeout=HANG_TIMEOUT,
    ),
    "lifecycle_threads": Case(
        "lifecycle.threads",
        "failed",
        (
            "threads still running after the plugin's last call:",
            "daemon thread 'state-watcher' started in initialize(), running at ",
            f"lifecycle_threads/plugin.py:{line_of('lifecycle_threads', 'self._stop.wait()')} "
            "in _watch",
        ),
    ),
    "process_state": Case(
        "robustness.process_state",
        "failed",
        (
            "process_state/plugin.py: the plugin changed the state of the process:",
            " to 4321 in initialize()",
            "- environment variable PROCESS_STATE set to 'initialized' at ",
            f"process_state/plugin.py:{line_of('process_state', 'os.environ[')} in initialize",
        ),
    ),
    "task_leak": Case(
        "lifecycle.tasks",
        "failed",
        (
            "tasks still pending after shutdown()",
            "GoodPlugin._tick()",
            f"task_leak/plugin.py:{line_of('task_leak', 'create_task')} in initialize",
        ),
    ),
    "no_unsubscribe": Case(
        "lifecycle.unsubscribe",
        "warning",
        ("handlers still subscribed after shutdown()", "'user.created'", "_on_user_created"),
    ),
    "restart_lock": Case(
        "lifecycle.restart",
        "failed",
        (
            "a fresh instance over the same stores did not start",
            "restart_lock/plugin.py: initialize() returned False",
            "another instance holds the lock",
        ),
    ),
    "double_shutdown": Case(
        "lifecycle.double_shutdown",
        "warning",
        (
            "double_shutdown/plugin.py",
            "a second shutdown() raised RuntimeError: shutdown() called twice",
        ),
    ),
    "shutdown_uninitialized": Case(
        "lifecycle.shutdown_uninitialized",
        "warning",
        (
            "shutdown_uninitialized/plugin.py",
            "never initialized raised TypeError: 'NoneType' object does not support item assignment",
        ),
    ),
    # config --------------------------------------------------------------------
    "config_required": Case(
        "config.required",
        "failed",
        ("api_key: required: the key is missing: initialize() returned True",),
    ),
    "config_refusal_leaks_task": Case(
        "config.required",
        "failed",
        (
            "api_key: required: the key is missing: refused, but left tasks running",
            "GoodPlugin._tick()",
            f"config_refusal_leaks_task/plugin.py:{line_of('config_refusal_leaks_task', 'create_task')}",
        ),
        # Every refused configuration leaves the task behind, the invalid ones too.
        also={"config.invalid": "failed"},
    ),
    "config_valid_refused": Case(
        "config.valid",
        "failed",
        (
            "valid configurations (by the manifest's rules) the plugin refused:",
            "'max_items': 100",
            "initialize() returned False",
        ),
    ),
    "config_invalid": Case(
        "config.invalid",
        "failed",
        (
            "max_items: min: 0 is below the minimum 1: initialize() returned True",
            "max_items: max: 101 is above the maximum 100: initialize() returned True",
        ),
    ),
    "secret_in_log": Case(
        "config.secrets",
        "failed",
        (
            "values of secret keys (api_key)",
            "log record DEBUG nexus.plugins.testing.secret_in_log: connecting with api_key=***",
        ),
    ),
    "secret_in_response": Case(
        "config.secrets",
        "failed",
        ("response to GET /api/plugins/secret_in_response/status", '"api_key":"***"'),
    ),
    "secret_in_error_page": Case(
        "config.secrets",
        "failed",
        ("response to GET /api/plugins/secret_in_error_page/debug", "api_key=***"),
        # The error page is a 502.
        also={"routes.get_ok": "failed"},
    ),
    "secret_in_event": Case(
        "config.secrets",
        "failed",
        ("event secret_in_event.started", '"api_key": "***"'),
    ),
    # events --------------------------------------------------------------------
    "events_undeclared": Case(
        "events.declared",
        "failed",
        (
            "events_undeclared/manifest.json",
            "published 'events_undeclared.ready', not in events.publishes",
        ),
    ),
    "events_not_declared_at_all": Case(
        "events.declared",
        "warning",
        (
            "the manifest declares no events",
            "published events_not_declared_at_all.started",
            "subscribed to user.created",
        ),
    ),
    "events_datetime": Case(
        "events.serialisable",
        "failed",
        ("events_datetime.started: Object of type datetime is not JSON serializable",),
    ),
    "handler_fragile": Case(
        "events.handlers_robust",
        "warning",
        (
            "GoodPlugin._on_user_created (",
            f"handler_fragile/plugin.py:{line_of('handler_fragile', 'async def _on_user_created')})",
            "on 'user.created' with data {} raised KeyError: 'username'",
        ),
    ),
    # permissions ---------------------------------------------------------------
    "permissions_missing": Case(
        "permissions.declared",
        "failed",
        (
            "permissions_missing/manifest.json",
            "database.write: the plugin set('plugin:permissions_missing:last_mode')",
        ),
    ),
    "permissions_unknown": Case(
        "permissions.known", "warning", ("unknown permission(s) 'database.destroy'",)
    ),
    # routes --------------------------------------------------------------------
    "routes_not_a_list": Case(
        "routes.routers",
        "failed",
        (
            "routes_not_a_list/plugin.py",
            "get_api_routes() returned APIRouter; expected a list of fastapi.APIRouter",
        ),
    ),
    "routes_strings": Case(
        "routes.routers",
        "failed",
        ("routes_strings/plugin.py", "get_api_routes() returned '/status'"),
    ),
    "routes_openapi": Case(
        "routes.openapi",
        "failed",
        ("the OpenAPI schema does not build", "PydanticInvalidForJsonSchema", "Handle"),
    ),
    "routes_declared_missing": Case(
        "routes.declared",
        "failed",
        ("GET /items (expected at /api/plugins/routes_declared_missing/items)",),
    ),
    "routes_duplicate": Case(
        "routes.unique",
        "failed",
        ("GET /api/plugins/routes_duplicate/status is defined twice",),
    ),
    "routes_get_500": Case(
        "routes.get_ok",
        "failed",
        ("GET /api/plugins/routes_get_500/items answered 500",),
        # The exercise sends the same GET.
        also={"routes.no_server_error": "failed"},
    ),
    "routes_server_error": Case(
        "routes.no_server_error",
        "failed",
        (
            "await nexus_client.get(\"/files/info\", params={'path': ",
            "->  500",
            "raised HTTPException: 500: 404: no such file (while handling HTTPException: 404",
            f'routes_server_error/plugin.py", line '
            f"{line_of('routes_server_error', 'status_code=500')}, in file_info",
        ),
    ),
    "routes_response_schema": Case(
        "routes.response_schema",
        "failed",
        (
            'await nexus_client.get("/items/latest")  ->  200',
            "'name' is a required property",
        ),
    ),
    "routes_rejects_invalid": Case(
        "routes.rejects_invalid",
        "warning",
        ('await nexus_client.post("/items", json=', "->  201"),
    ),
    "routes_not_found": Case(
        "routes.not_found",
        "warning",
        ('await nexus_client.get("/items/987654321")  ->  200',),
    ),
    "routes_prefix": Case(
        "routes.prefix",
        "warning",
        ("'/v1'", "/api/plugins/routes_prefix/v1/v1/"),
    ),
    # health, schema, robustness ------------------------------------------------
    "health_before_init": Case(
        "health.before_init",
        "failed",
        (
            "health_before_init/plugin.py",
            "raised RuntimeError: health_check() called before initialize()",
        ),
    ),
    "health_unhealthy": Case(
        "health.after_init",
        "failed",
        ("reports healthy=False ('upstream unreachable')",),
    ),
    "schema_list": Case(
        "schema.database",
        "failed",
        ("schema_list/plugin.py", "get_database_schema() returned list; expected a dict"),
    ),
    "schema_index_without_field": Case(
        "schema.database",
        "failed",
        ("collection 'items' index 0 is {'unique': True}",),
    ),
    "store_round_trip": Case(
        "store.round_trip",
        "failed",
        (
            'await nexus_client.get("/cache"): body.fast is False on a memory store, '
            "'False' on an sql store",
            "plugin:store_round_trip:fast_mode (False read back as 'False')",
        ),
    ),
    "security_filesystem": Case(
        "security.filesystem",
        "failed",
        (
            "await nexus_client.get(\"/files/read\", params={'path': '../nexus-corpus-files-",
            "-nexus-sibling/secret.txt'})  ->  200: open /",
        ),
    ),
    "security_cwd_writes": Case(
        "security.cwd_writes",
        "warning",
        (
            "security_cwd_writes/plugin.py: the import or the constructor created in the "
            "working directory",
            "/.security_cwd_writes_cache",
        ),
    ),
    "background_crash": Case(
        "lifecycle.background",
        "failed",
        (
            "background_crash/plugin.py: in 3600 s of simulated time after initialize(), "
            "background tasks failed:",
            f"running GoodPlugin._sync() created at {CORPUS}/background_crash/plugin.py:"
            f"{line_of('background_crash', 'self._jobs = [')} in initialize crashed with "
            "RuntimeError: sync backlog exhausted at ",
            f"background_crash/plugin.py:{line_of('background_crash', '# the crash')} in _sync",
            # Every ten minutes of the hour: six times, listed once.
            "- (x6) Task-",
            "running GoodPlugin._report() created at",
            "logged nexus.plugins.testing.background_crash: report failed (KeyError: 'report') "
            f"at {CORPUS}/background_crash/plugin.py:"
            f"{line_of('background_crash', '# the logged exception')} in _report",
        ),
    ),
    "swallowed_errors": Case(
        "robustness.swallowed_errors",
        "warning",
        (
            "exceptions were logged or swallowed instead of raised:",
            "nexus.plugins.testing.swallowed_errors: cache unreadable, starting empty: "
            "JSONDecodeError: Expecting property name",
            f"swallowed_errors/plugin.py:{line_of('swallowed_errors', 'json.loads(')} "
            "in initialize",
        ),
    ),
    "permissions_http": Case(
        "permissions.declared",
        "failed",
        (
            "permissions_http/manifest.json: permissions missing for what the plugin did:",
            "network.http: the plugin reached out to 'api.example.com':443 (httpx, refused) at ",
            f"permissions_http/plugin.py:{line_of('permissions_http', '# the undeclared')} "
            "in initialize",
        ),
    ),
    "blocking_initialize": Case(
        "robustness.blocking",
        "warning",
        (
            "blocked for more than 0.2 s",
            "during initialize()",
            f"blocking_initialize/plugin.py:{line_of('blocking_initialize', 'time.sleep(0.3)  #')} in initialize",
        ),
    ),
}

# ------------------------------------------------------------------ running the contract


@pytest.fixture(autouse=True, scope="module")
def _no_cache_left_in_the_working_directory():
    """security_cwd_writes makes a folder in the working directory on purpose; its
    shutdown() removes it, but a refused start never shuts down."""
    yield
    import shutil

    shutil.rmtree(Path.cwd() / ".security_cwd_writes_cache", ignore_errors=True)


_REPORTS: dict[tuple[Path, float], PluginReport] = {}


async def report_for(path: Path, seconds: float = 5.0) -> PluginReport:
    """The contract's report for ``path`` with time-out ``seconds``, run once per module."""
    key = (path, seconds)
    if key not in _REPORTS:
        _REPORTS[key] = await run_contract(path, ContractOptions(timeout=seconds))
    return _REPORTS[key]


async def case_report(case: str) -> PluginReport:
    return await report_for(CORPUS / case, CASES[case].timeout)


def _not_passed(report: PluginReport) -> list[str]:
    return [f"{r.check}: {r.outcome}: {r.message}" for r in report.results if r.outcome != "passed"]


# ------------------------------------------------------------------ the corpus itself


def test_every_check_has_a_corpus_case():
    assert {case.check for case in CASES.values()} == set(CHECKS_BY_ID)
    for name, case in CASES.items():
        # A warning-level check never fails; an error-level one warns only for
        # events.declared when the manifest declares no events at all.
        if CHECKS_BY_ID[case.check].severity == "warning":
            assert case.outcome == "warning", name
        else:
            assert case.outcome == "failed" or name == "events_not_declared_at_all", name


def test_corpus_directories_are_the_cases():
    on_disk = {p.name for p in CORPUS.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))}
    assert on_disk == set(CASES) | {"good", "good_slow_import", "good_sql_timing"}


# ------------------------------------------------------------------ plugins that pass


@needs_platform
@pytest.mark.asyncio
@pytest.mark.parametrize("name", sorted(REFERENCE_PLUGINS))
async def test_reference_plugins_pass_every_check(name):
    report = await report_for(REFERENCE_PLUGINS[name])
    assert report.error is None
    assert report.name == name
    assert [r.check for r in report.results] == [c.id for c in CHECKS]
    assert _not_passed(report) == []
    assert report.ok(strict=True)


@needs_platform
@pytest.mark.asyncio
async def test_import_time_work_is_not_reported_as_blocking():
    """Imports block by nature and are not judged, also when a host imports plugin.py again."""
    report = await report_for(CORPUS / "good_slow_import")
    assert report.error is None
    assert _not_passed(report) == []


@needs_platform
@pytest.mark.asyncio
async def test_timing_noise_seen_only_on_the_sql_store_is_not_a_round_trip_finding():
    """Two memory runs can measure the same uptime; the sql run's value then differs.

    The second sql run shows the value is noise (CI once failed my_awesome_plugin
    on ``body.uptime is 0.005656 on a memory store, 0.005837 on an sql store``).
    """
    report = await report_for(CORPUS / "good_sql_timing")
    assert report.error is None
    assert _not_passed(report) == []


# ------------------------------------------------------------------ each broken plugin


@needs_platform
@pytest.mark.asyncio
@pytest.mark.parametrize("case", sorted(CASES))
async def test_corpus_case_is_caught_by_its_check(case):
    spec = CASES[case]
    report = await case_report(case)
    assert report.error is None, report.error
    result = report.result(spec.check)
    assert result.severity == CHECKS_BY_ID[spec.check].severity
    assert result.outcome == spec.outcome, result.message
    for fragment in spec.fragments:
        assert fragment in result.message, f"{fragment!r} not in:\n{result.message}"
    for check_id, outcome in spec.also.items():
        assert report.result(check_id).outcome == outcome, report.result(check_id).message
    unrelated = [
        f"{r.check}: {r.message}"
        for r in report.errors
        if r.check != spec.check and r.check not in spec.also
    ]
    assert unrelated == [], "checks failed that the defect should not break:\n" + "\n".join(
        unrelated
    )
    if spec.outcome == "failed" or spec.also:
        assert not report.ok()
    else:  # warnings fail only a strict run
        assert report.ok()
        assert not report.ok(strict=True)


@needs_platform
@pytest.mark.asyncio
@pytest.mark.parametrize("case", sorted(CASES))
async def test_skipped_checks_say_why(case):
    """A skipped check names what it waited for; "not reached" tells the user nothing."""
    report = await case_report(case)
    vague = [
        f"{r.check}: {r.message!r}" for r in report.skipped if r.message in ("", "not reached")
    ]
    assert vague == []


@needs_platform
@pytest.mark.asyncio
@pytest.mark.parametrize("case", ["init_returns_false", "init_hangs", "init_base_exception"])
async def test_checks_needing_a_started_plugin_are_skipped_when_initialize_fails(case):
    report = await case_report(case)
    assert report.result("lifecycle.initialize").outcome == "failed"
    for check_id in NEED_STARTED:
        result = report.result(check_id)
        assert result.outcome == "skipped", (check_id, result.message)
        assert "lifecycle.initialize failed" in result.message
    # Checks of the never-initialized instance and of the manifest still run.
    assert report.result("lifecycle.shutdown_uninitialized").outcome == "passed"
    assert report.result("health.before_init").outcome == "passed"
    assert report.result("manifest.schema").outcome == "passed"


@needs_platform
@pytest.mark.asyncio
async def test_a_hanging_initialize_costs_one_time_out():
    report = await case_report("init_hangs")
    timed_out = [r.check for r in report.results if "did not finish within" in r.message]
    assert timed_out == ["lifecycle.initialize"]


@needs_platform
@pytest.mark.asyncio
@pytest.mark.parametrize("case", ["routes_not_a_list", "routes_strings"])
async def test_routes_failure_gives_reasons_for_what_it_stops(case):
    report = await case_report(case)
    assert report.result("lifecycle.initialize").outcome == "passed"
    for check_id in (
        "routes.openapi",
        "routes.declared",
        "routes.unique",
        "routes.get_ok",
        "routes.prefix",
        "routes.no_server_error",
        "store.round_trip",
    ):
        result = report.result(check_id)
        assert result.outcome == "skipped"
        assert result.message.startswith("get_api_routes() failed (routes.routers)")
    for check_id in NEED_STARTED:
        result = report.result(check_id)
        if result.outcome == "skipped":
            assert "get_api_routes()" in result.message or "routes.routers" in result.message, (
                check_id,
                result.message,
            )


@needs_platform
@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("case", "check_id", "fragment"),
    [
        ("load_systemexit", "load.import", "SystemExit: 3"),
        ("init_base_exception", "lifecycle.initialize", "Halt: halted by the plugin"),
    ],
)
async def test_plugin_exits_give_a_normal_report(case, check_id, fragment):
    # Reaching these lines at all means SystemExit / a BaseException did not end the run.
    report = await case_report(case)
    assert report.error is None
    assert report.name == case
    assert len(report.results) == len(CHECKS)
    assert report.result(check_id).outcome == "failed"
    assert fragment in report.result(check_id).message


# ------------------------------------------------------------------ invariants of every report


#: Every plugin a report is made for: name -> (directory, time-out).
ALL_PLUGINS: dict[str, tuple[Path, float]] = {
    **{name: (path, 5.0) for name, path in REFERENCE_PLUGINS.items()},
    **{case: (CORPUS / case, spec.timeout) for case, spec in CASES.items()},
}


@needs_platform
@pytest.mark.asyncio
@pytest.mark.parametrize("name", sorted(ALL_PLUGINS))
async def test_secret_values_never_reach_a_report(name):
    report = await report_for(*ALL_PLUGINS[name])
    leaking = [r.check for r in report.results if SECRET_PREFIX in r.message]
    assert leaking == [], "an unmasked (part of a) secret value is in these messages"
    assert SECRET_PREFIX not in json.dumps(report.to_json())


@needs_platform
@pytest.mark.asyncio
@pytest.mark.parametrize(
    "case", ["secret_in_log", "secret_in_response", "secret_in_event", "secret_in_error_page"]
)
async def test_leaked_secrets_are_shown_masked(case):
    message = (await case_report(case)).result("config.secrets").message
    assert "***" in message
    assert SECRET_PREFIX not in message


@needs_platform
@pytest.mark.asyncio
async def test_json_reports_validate_against_the_schema():
    reports = [await report_for(*ALL_PLUGINS[name]) for name in sorted(ALL_PLUGINS)]
    document = json.loads(
        report_json(reports, [{"path": "nowhere", "error": "nowhere: no such directory"}])
    )
    jsonschema.validate(document, report_schema())
    assert len(document["plugins"]) == len(reports)


# ------------------------------------------------------------------ options


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"skip": {"routes.nope": "because"}}, "routes.nope"),
        ({"skip": {"routes.get_ok": ""}}, "routes.get_ok"),
        ({"skip": {"routes.get_ok": "   "}}, "routes.get_ok"),
        ({"skip": {"routes.get_ok": None}}, "routes.get_ok"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": -1.0}, "timeout"),
        ({"timeout": math.nan}, "timeout"),
        ({"timeout": "5"}, "timeout"),
        ({"examples": 0}, "examples"),
        ({"examples": 2.5}, "examples"),
        ({"simulate": -1}, "simulate"),
        ({"simulate": math.nan}, "simulate"),
        ({"simulate": math.inf}, "simulate"),
        ({"simulate": "3600"}, "simulate"),
        ({"max_task_wakeups": 0}, "max_task_wakeups"),
    ],
    ids=[
        "unknown-skip-id",
        "empty-reason",
        "blank-reason",
        "none-reason",
        "zero-timeout",
        "negative-timeout",
        "nan-timeout",
        "str-timeout",
        "zero-examples",
        "fractional-examples",
        "negative-simulate",
        "nan-simulate",
        "infinite-simulate",
        "str-simulate",
        "zero-wakeups",
    ],
)
def test_options_are_validated(kwargs: dict[str, Any], named):
    with pytest.raises(ValueError, match=named.replace(".", r"\.")):
        ContractOptions(**kwargs)


def test_unknown_skip_id_error_lists_the_valid_ids():
    with pytest.raises(ValueError, match="Valid checks") as info:
        ContractOptions(skip={"lifecycle.restrat": "typo"})
    assert "lifecycle.restart" in str(info.value)


@needs_platform
@pytest.mark.asyncio
async def test_checks_skipped_by_the_user_are_reported_with_the_reason():
    options = ContractOptions(
        skip={"events.declared": "events are declared upstream", "routes.get_ok": "no network"}
    )
    report = await run_contract(CORPUS / "events_undeclared", options)
    for check_id, reason in options.skip.items():
        result = report.result(check_id)
        assert (result.outcome, result.message) == ("skipped", f"skipped by the user: {reason}")
    assert report.errors == []
    assert report.ok()


# ------------------------------------------------------------------ command line


@dataclass
class _Run:
    args: list[str]
    process: subprocess.Popen[str]
    stdout: str = ""
    stderr: str = ""

    @property
    def returncode(self) -> int:
        return self.process.returncode


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every command line of the tests, started at once (each costs about a second)."""
    tmp = tmp_path_factory.mktemp("cli")
    not_a_plugin = tmp / "not_a_plugin"
    not_a_plugin.mkdir()
    (not_a_plugin / "README.md").write_text("neither manifest.json nor plugin.py\n")
    missing = tmp / "missing"
    output = tmp / "report.json"
    commands = {
        "ok": ["check", str(GOOD), str(CORPUS / "permissions_unknown")],
        "broken": [
            "check",
            str(CORPUS / "events_undeclared"),
            "--skip",
            "health.after_init=not under test",
        ],
        "strict": ["check", str(CORPUS / "permissions_unknown"), "--strict"],
        "usage": [
            "check",
            str(GOOD),
            str(missing),
            str(CORPUS / "events_undeclared"),
            str(not_a_plugin),
            "--json",
            "--output",
            str(output),
        ],
        "markdown": ["checks", "--markdown"],
        "no_time": ["check", str(CORPUS / "background_crash"), "--simulate", "0", "--json"],
        "bad_time": ["check", str(GOOD), "--simulate", "soon"],
    }
    runs = {
        name: _Run(
            args,
            subprocess.Popen(
                [sys.executable, "-m", "nexus_testkit", *args],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=tmp,
            ),
        )
        for name, args in commands.items()
    }
    for run in runs.values():
        run.stdout, run.stderr = run.process.communicate(timeout=120)
    return {
        "runs": runs,
        "missing": missing,
        "not_a_plugin": not_a_plugin,
        "output": output,
    }


@needs_platform
def test_cli_exit_0_when_only_warnings(cli):
    run = cli["runs"]["ok"]
    assert run.returncode == 0, run.stderr
    assert "good (" in run.stdout
    assert "permissions_unknown (" in run.stdout
    assert "WARNING permissions.known: unknown permission(s) 'database.destroy'" in run.stdout


@needs_platform
def test_cli_exit_1_for_a_broken_plugin_and_user_skips_are_shown(cli):
    run = cli["runs"]["broken"]
    assert run.returncode == 1, run.stderr
    assert "FAILED  events.declared" in run.stdout
    assert "published 'events_undeclared.ready', not in events.publishes" in run.stdout
    assert "SKIPPED health.after_init: skipped by the user: not under test" in run.stdout


@needs_platform
def test_cli_strict_turns_a_warning_into_exit_1(cli):
    run = cli["runs"]["strict"]
    assert run.returncode == 1, run.stderr
    assert "WARNING permissions.known" in run.stdout


@needs_platform
def test_cli_exit_2_for_paths_that_are_not_plugins_and_the_others_are_still_reported(cli):
    run = cli["runs"]["usage"]
    assert run.returncode == 2, run.stderr
    document = json.loads(run.stdout)
    jsonschema.validate(document, report_schema())
    assert [p["name"] for p in document["plugins"]] == ["good", "events_undeclared"]
    outcomes = {
        p["name"]: {r["check"]: r["outcome"] for r in p["results"]} for p in document["plugins"]
    }
    assert set(outcomes["good"].values()) == {"passed"}
    assert outcomes["events_undeclared"]["events.declared"] == "failed"
    errors = {e["path"]: e["error"] for e in document["errors"]}
    assert errors == {
        str(cli["missing"]): f"{cli['missing']}: no such directory",
        str(cli["not_a_plugin"]): (
            f"{cli['not_a_plugin']}: not a plugin directory (it holds neither manifest.json nor plugin.py)"
        ),
    }
    assert f"error: {cli['missing']}: no such directory" in run.stderr
    # --output holds the same document.
    assert json.loads(cli["output"].read_text()) == document
    assert SECRET_PREFIX not in run.stdout


@needs_platform
def test_cli_simulate_sets_the_simulated_time(cli):
    run = cli["runs"]["no_time"]
    assert run.returncode == 0, run.stderr
    document = json.loads(run.stdout)
    jsonschema.validate(document, report_schema())
    (result,) = [
        r for r in document["plugins"][0]["results"] if r["check"] == "lifecycle.background"
    ]
    assert result == {
        "check": "lifecycle.background",
        "severity": "error",
        "outcome": "skipped",
        "message": "no simulated time in this run (simulate=0)",
    }
    bad = cli["runs"]["bad_time"]
    assert bad.returncode == 2
    assert bad.stderr == (
        "error: --simulate: 'soon' is not a valid simulated time. Valid values: a number of "
        "seconds from 0 (0: no simulated time).\n"
    )


def test_cli_checks_markdown_lists_every_check(cli):
    run = cli["runs"]["markdown"]
    assert run.returncode == 0, run.stderr
    # Two tables: the checks of each plugin, then those over a set of plugins.
    plugin_table, set_table = run.stdout.split("\n\n")
    for table, checks in ((plugin_table, CHECKS), (set_table, ECOSYSTEM_CHECKS)):
        lines = table.splitlines()
        assert lines[0] == "| id | severity | what it checks | how to fix a failure |"
        rows = [line for line in lines[2:] if line.startswith("| `")]
        assert [row.split("`")[1] for row in rows] == [c.id for c in checks]
        for check, row in zip(checks, rows, strict=True):
            assert f"| {check.severity} |" in row


# ------------------------------------------------------------------ the registry


def test_every_check_needs_evidence_some_probe_records():
    from nexus_testkit.contract._probes import EVIDENCE, PROBES

    known = set(PROBES) | set(EVIDENCE)
    for check in CHECKS:
        assert check.needs, check.id
        assert check.needs <= known, (check.id, check.needs - known)
        assert check.uses <= known, (check.id, check.uses - known)
        assert check.judge is not None


def test_skipping_checks_runs_only_the_probes_the_others_need():
    from nexus_testkit.contract._runner import needed_probes

    everything = needed_probes(list(CHECKS))
    assert {"exercise", "get_ok", "round_trip"} <= everything
    without_routes = needed_probes([c for c in CHECKS if c.area not in ("routes", "store")])
    assert {"exercise", "get_ok", "round_trip"}.isdisjoint(without_routes)
    # The checks over everything recorded read the exercise without needing it.
    assert "exercise" in CHECKS_BY_ID["events.declared"].uses


def _copy_of_good(tmp_path: Path, name: str, routes: str = "", extra: str = "") -> Path:
    target = tmp_path / name
    target.mkdir()
    anchor = '            return {"plugin": self.name, "initialized": self.initialized, "mode": self.mode}\n'
    source = (GOOD / "plugin.py").read_text().replace('NAME = "good"', f'NAME = "{name}"')
    source = source.replace(anchor, anchor + routes).replace(
        "    def get_database_schema", extra + "    def get_database_schema"
    )
    (target / "plugin.py").write_text(source)
    manifest = json.loads((GOOD / "manifest.json").read_text())
    manifest["name"] = name
    manifest["events"] = {"publishes": [f"{name}.started"], "subscribes": ["user.created"]}
    (target / "manifest.json").write_text(json.dumps(manifest))
    return target


HANGING_GET = """
        @router.get("/export")
        async def export() -> dict[str, Any]:
            import asyncio
            from pathlib import Path

            Path(__file__).with_name("export-was-called").touch()
            await asyncio.Event().wait()
            return {}
"""


@needs_platform  # its plugins import nexus.plugins
@pytest.mark.asyncio
async def test_a_skipped_check_runs_no_probe_only_it_needs(tmp_path):
    """A hanging GET route costs nothing when the checks that call routes are skipped."""
    plugin = _copy_of_good(tmp_path, "hangs_on_get", HANGING_GET)
    skip = {c.id: "the route needs S3" for c in CHECKS if c.area in ("routes", "store")}
    skip.pop("routes.routers")
    report = await run_contract(plugin, ContractOptions(timeout=0.2, skip=skip))
    assert report.error is None
    assert _not_passed(report) == [
        f"{cid}: skipped: skipped by the user: the route needs S3" for cid in skip
    ]
    assert not (plugin / "export-was-called").exists()  # no request reached the route
    # Not skipped, the same plugin fails on the time-out, once per route, with a time-out fix.
    hung = await run_contract(plugin, ContractOptions(timeout=0.2))
    assert (plugin / "export-was-called").exists()
    get_ok = hung.result("routes.get_ok")
    assert get_ok.outcome == "failed"
    assert "did not finish within 0.2 s" in get_ok.message
    assert get_ok.fix is not None
    assert "time-out" in get_ok.fix
    exercised = hung.result("routes.no_server_error").message
    assert exercised.count("did not finish within") == 1, exercised


@needs_platform  # its plugins import nexus.plugins
@pytest.mark.asyncio
async def test_time_out_failures_say_how_to_fix_a_time_out():
    result = (await case_report("init_hangs")).result("lifecycle.initialize")
    assert result.fix is not None
    assert "time-out" in result.fix
    assert "payload" not in result.fix
    assert (await case_report("init_returns_false")).result("lifecycle.initialize").fix is None


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("routes.get_ok=needs S3", ("routes.get_ok", "needs S3")),
        ("routes.get_ok:needs S3", ("routes.get_ok", "needs S3")),
        ("my_plugin:routes.get_ok=needs S3", ("my_plugin:routes.get_ok", "needs S3")),
        ("routes.get_ok", None),
        ("my_plugin:routes.get_ok=", None),
    ],
)
def test_parse_skip(text, parsed):
    from nexus_testkit.contract._checks import parse_skip

    assert parse_skip(text) == parsed


def test_a_scoped_skip_names_a_real_check():
    ContractOptions(skip={"my_plugin:routes.get_ok": "needs S3"})
    with pytest.raises(ValueError, match=r"my_plugin:routes\.nope"):
        ContractOptions(skip={"my_plugin:routes.nope": "typo"})


@needs_platform  # its plugins import nexus.plugins
@pytest.mark.asyncio
async def test_a_skip_scoped_to_a_plugin_skips_it_there_only():
    skip = {"events_undeclared:events.declared": "declared upstream"}
    report = await run_contract(CORPUS / "events_undeclared", ContractOptions(skip=skip))
    assert report.result("events.declared").outcome == "skipped"
    other = await run_contract(
        CORPUS / "events_undeclared", ContractOptions(skip={"other:events.declared": "x"})
    )
    assert other.result("events.declared").outcome == "failed"


VALIDATE_CONFIG = """
    def validate_config(self, config: dict[str, Any]) -> bool:
        return bool(config.get("api_key"))

"""


@needs_platform  # its plugins import nexus.plugins
@pytest.mark.asyncio
async def test_validate_config_returning_false_is_a_refusal(tmp_path):
    """The platform's own hook: a plugin that refuses there need not refuse in initialize()."""
    plugin = _copy_of_good(tmp_path, "validates", extra=VALIDATE_CONFIG)
    source = (plugin / "plugin.py").read_text()
    # initialize() no longer refuses a missing api_key itself.
    source = source.replace("if not isinstance(api_key, str) or not api_key:", "if False:")
    (plugin / "plugin.py").write_text(source)
    report = await run_contract(plugin)
    assert report.result("config.required").outcome == "passed", report.result(
        "config.required"
    ).message


@pytest.mark.parametrize(
    ("method", "template", "judged"),
    [
        ("GET", "/items/{item_id}", True),
        ("DELETE", "/items/{item_id}", True),
        ("PATCH", "/items/{item_id}", True),
        ("POST", "/messages/{message_id}/like", True),
        # PUT or POST to the id itself may create the object (hello_world's POST /languages/{code}).
        ("PUT", "/items/{item_id}", False),
        ("POST", "/languages/{code}", False),
    ],
)
def test_not_found_judges_requests_that_need_the_object(method, template, judged):
    from nexus_testkit.contract._evidence import Exchange
    from nexus_testkit.contract.checks.routes import _on_an_object

    exchange = Exchange(method, template.replace("{", "").replace("}", ""), template, "", "unknown")
    assert _on_an_object(exchange) is judged


FLAT_PLUGIN = """
from fastapi import APIRouter


class FlatPlugin:
    def __init__(self):
        self.name = "flat"
        self.category = "test"
        self.version = "0.1.0"
        self.config = {}
        self.db_adapter = self.event_bus = self.service_registry = None

    async def initialize(self):
        # Reads every key the flat section declares, by its default's type.
        if not isinstance(self.config["retries"], int) or isinstance(self.config["retries"], bool):
            return False
        if not isinstance(self.config["greeting"], str):
            return False
        return STRICT_GREETING is None or self.config["greeting"] == STRICT_GREETING

    async def shutdown(self):
        pass

    def get_api_routes(self):
        return [APIRouter()]

    async def health_check(self):
        return {"healthy": True}

    def get_database_schema(self):
        return {}


def create_plugin():
    return FlatPlugin()
"""


@pytest.mark.parametrize("strict", [False, True], ids=["types-only", "refuses-other-greetings"])
@pytest.mark.asyncio
async def test_config_valid_on_the_flat_dialect_varies_values_within_their_types(tmp_path, strict):
    """The flat `config` section states no rule: config.valid keeps every key and
    varies each value within its default's type, and says so when it fails."""
    from ._helpers import write_plugin

    manifest = {
        "name": "flat",
        "version": "0.1.0",
        "category": "test",
        "config": {"greeting": "hello", "retries": 3},
    }
    source = f"STRICT_GREETING = {'hello' if strict else None!r}\n" + FLAT_PLUGIN
    plugin = write_plugin(tmp_path, "flat", source=source, manifest=manifest)
    result = (await run_contract(plugin)).result("config.valid")
    if not strict:
        # Every draw keeps both keys with values of the defaults' types.
        assert result.outcome == "passed", result.message
    else:
        assert result.outcome == "failed", result.message
        assert "only type-preserving variations of the defaults were drawn, every key kept" in (
            result.message
        )


@needs_platform
@pytest.mark.asyncio
async def test_a_handler_exception_the_bus_swallowed_is_a_swallowed_error(tmp_path):
    """The plugin's own event, handled by its own handler that raises: the bus logs and
    goes on, so the contract warns; the contract's fed payloads stay handlers_robust's."""
    from ._helpers import MINIMAL_PLUGIN, minimal_manifest, write_plugin

    source = MINIMAL_PLUGIN.replace(
        "        self.initialized = True\n        return True\n",
        "        self.event_bus.subscribe('mini.tick', self.on_tick)\n"
        "        await self.event_bus.publish('mini.tick', {'origin': 'mini-self'}, source='mini')\n"
        "        self.initialized = True\n"
        "        return True\n"
        "\n"
        "    async def on_tick(self, event):\n"
        "        if event.data.get('origin') == 'mini-self':\n"
        "            raise LookupError('no tick state')\n",
    ).replace(
        "    async def shutdown(self):\n",
        "    async def shutdown(self):\n        self.event_bus.unsubscribe('mini.tick', self.on_tick)\n",
    )
    manifest = minimal_manifest(
        permissions=["events.publish", "events.subscribe"],
        events={"publishes": ["mini.tick"], "subscribes": ["mini.tick"]},
    )
    directory = write_plugin(tmp_path, "mini", source=source, manifest=manifest)
    report = await run_contract(directory, ContractOptions(simulate=0))
    result = report.result("robustness.swallowed_errors")
    assert result.outcome == "warning", result.message
    assert (
        "event bus: handler for 'mini.tick' raised: LookupError: no tick state at "
        f"{directory.resolve() / 'plugin.py'}:"
    ) in result.message
    assert report.result("events.handlers_robust").outcome == "passed"


@needs_platform
@pytest.mark.asyncio
async def test_a_task_that_wakes_too_often_is_capped_and_named_in_a_note(tmp_path):
    from ._helpers import MINIMAL_PLUGIN, write_plugin

    source = MINIMAL_PLUGIN.replace(
        "        self.initialized = True\n        return True\n",
        "        import asyncio\n"
        "        self.poll = asyncio.create_task(self.spin(), name='poll')\n"
        "        self.initialized = True\n"
        "        return True\n"
        "\n"
        "    async def spin(self):\n"
        "        import asyncio\n"
        "        while True:\n"
        "            await asyncio.sleep(0.01)\n",
    ).replace(
        "    async def shutdown(self):\n",
        "    async def shutdown(self):\n        self.poll.cancel()\n",
    )
    directory = write_plugin(tmp_path, "mini", source=source)
    report = await run_contract(directory, ContractOptions(max_task_wakeups=50))
    result = report.result("lifecycle.background")
    assert result.outcome == "passed", result.message
    assert result.message.startswith("poll running MiniPlugin.spin() created at ")
    assert re.search(
        r"/mini/plugin.py:\d+ in initialize woke 50 times in the first 0\.\d\d s and slept "
        r"through the rest$",
        result.message,
    ), result.message
    assert report.result("lifecycle.tasks").outcome == "passed"
