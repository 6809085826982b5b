"""Hostile plugins and manifests: one clear error naming the path, never a crash of the run.

``tests/hostile/<case>/`` holds one hostile plugin directory per case, its
``README`` saying in one line what is wrong.  :data:`CASES` pins what the
harness must say about each: the line ``PluginHost`` (and so the
``nexus_host`` fixture) fails with, and the contract check the defect fails
with a line of its message.  Every case is met three ways, each in as few runs
as possible: the fixtures (one pytester run for all cases), the contract as
pytest items (one pytester run), and ``python -m nexus_testkit check`` (a few
subprocesses started together).  Then hangs, blocking, the network guard,
secrets in every message, and records that survive a failure.

Every connection made here goes to a loopback server the test itself started.
"""

from __future__ import annotations

import fnmatch
import glob
import json
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from nexus_testkit import HostOptions, NexusAssertionError, PluginHost, PluginStartError
from nexus_testkit.contract._report import report_schema
from nexus_testkit.host._network import NetworkBlockedError

from ._helpers import write_plugin

HOSTILE = Path(__file__).resolve().parent / "hostile"
#: The time-out of every run that meets a hang.
TIMEOUT = 0.2
#: The secret the pytester runs configure; it must never appear in any output.
SECRET = "sk-live-TOPSECRET-4242"
#: The contract gives secret keys values starting with this; a report holding it leaks one.
CONTRACT_SECRET_PREFIX = "nexus-secret-"

INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
"""


def line_of(case: str, needle: str, file: str = "plugin.py") -> int:
    """The 1-based line of the only line of ``hostile/case/file`` holding ``needle``."""
    lines = (HOSTILE / case / file).read_text().splitlines()
    found = [i for i, line in enumerate(lines, 1) if needle in line]
    assert len(found) == 1, f"{needle!r} is on lines {found} of {case}/{file}"
    return found[0]


# ------------------------------------------------------------------ the corpus


@dataclass(frozen=True)
class Case:
    """What the harness must say about one hostile plugin directory.

    In the texts, ``{dir}`` stands for the case's directory.
    """

    #: manifest | load | start: bad input, met by the fixtures, the contract items and the CLI;
    #: hang | blocking | isolation | network | secrets | records | interrupt | unprintable:
    #: tests of their own;
    #: not-a-plugin: a usage error; process-exit: the command line only (it kills the process);
    #: worker: breaks the process it runs in, met in tests/test_isolation_process.py.
    kind: str
    #: The first line ``PluginHost`` fails to start with; None when the plugin starts.
    host: str | None = None
    #: The contract check the defect fails (None: the case is not run through the contract).
    check: str | None = None
    #: A line of that check's message (default: ``host``).
    report: str | None = None
    #: "failed" for error-level checks, "warning" for warning-level ones.
    outcome: str = "failed"

    @property
    def report_line(self) -> str:
        line = self.report or self.host
        assert line is not None
        return line


def _manifest(message: str, check: str = "manifest.schema") -> Case:
    return Case("manifest", f"{{dir}}/manifest.json: {message}", check)


def _plugin_py(kind: str, message: str, check: str) -> Case:
    return Case(kind, f"{{dir}}/plugin.py: {message}", check)


_HOST_PLUGIN = "HostilePlugin"

#: hostile case -> what the harness must say about it.
CASES: dict[str, Case] = {
    # manifest.json ---------------------------------------------------------------------
    "manifest_empty": _manifest("file is empty; expected a JSON object", "manifest.json"),
    "manifest_not_utf8": _manifest(
        "line 3: is not valid UTF-8 (byte 0xe9 at offset 54); save the file as UTF-8",
        "manifest.json",
    ),
    "manifest_array": _manifest(
        "expected a JSON object at the top level, got array", "manifest.json"
    ),
    "manifest_string": _manifest(
        "expected a JSON object at the top level, got string", "manifest.json"
    ),
    "manifest_number": _manifest(
        "expected a JSON object at the top level, got integer", "manifest.json"
    ),
    "manifest_null": _manifest(
        "expected a JSON object at the top level, got null", "manifest.json"
    ),
    "manifest_bad_json": _manifest(
        "line 3, column 3: invalid JSON: Expecting ',' delimiter", "manifest.json"
    ),
    "manifest_huge": _manifest(
        "is 4.4 MB; manifests larger than 4 MiB are refused (is this the right file?)",
        "manifest.json",
    ),
    "manifest_deep": _manifest("invalid JSON: nested too deeply to be a manifest", "manifest.json"),
    # It exists, so "file not found" would send the user looking for the wrong problem.
    "manifest_is_directory": _manifest("is not a regular file", "manifest.exists"),
    "manifest_name_number": _manifest("name: expected a non-empty string, got integer"),
    "manifest_name_missing": _manifest("name: missing; every manifest needs the plugin's name"),
    "manifest_version_number": _manifest("version: expected a string, got number"),
    "manifest_permissions_string": _manifest(
        "permissions: expected an array of strings, got string"
    ),
    "manifest_configuration_list": _manifest("configuration: expected an object, got array"),
    "manifest_option_required_string": _manifest(
        "configuration.api_key.required: expected true or false, got string"
    ),
    "manifest_option_unknown_type": _manifest(
        "configuration.retries.type: unknown type 'integr'; expected one of array, boolean, "
        "integer, number, object, string",
    ),
    "manifest_publishes_dict": _manifest(
        "events.publishes: expected an array of strings, got object"
    ),
    "manifest_endpoint_no_path": _manifest(
        'api_endpoints[1].path: missing; expected the endpoint\'s path, like "/status"'
    ),
    "manifest_endpoint_string": _manifest(
        "api_endpoints[0]: expected an object with method and path, got string"
    ),
    "manifest_wrong_types_everywhere": _manifest("name: expected a non-empty string, got integer"),
    # Never echoed: the name itself would move the cursor or forge a report line.
    "manifest_name_control": _manifest(
        "name: contains the control character U+000D at position 4; a plugin name appears in "
        "URLs, file names and report lines"
    ),
    "manifest_name_path": _manifest(
        "name: contains the path separator '/' at position 2; a plugin name is one path segment "
        "(the plugin is mounted at /api/plugins/<name>)"
    ),
    "manifest_name_long": _manifest(
        "name: is 100000 characters long; a plugin name has at most 100"
    ),
    # the directory ---------------------------------------------------------------------
    "no_manifest": _manifest(
        "file not found; a plugin directory needs a manifest.json",
        "manifest.exists",
    ),
    "not_a_plugin": Case(
        "not-a-plugin",
        "{dir}/manifest.json: file not found; a plugin directory needs a manifest.json",
    ),
    "no_plugin_py": Case(
        "load",
        "{dir}: has no plugin.py; a plugin directory holds manifest.json and plugin.py",
        "load.import",
    ),
    # plugin.py ---------------------------------------------------------------------------
    "syntax_error": _plugin_py(
        "load",
        f"syntax error at line {line_of('syntax_error', '(True')}: '(' was never closed",
        "load.import",
    ),
    "import_systemexit": _plugin_py("load", "import failed: SystemExit: 3", "load.import"),
    "import_halt": _plugin_py("load", "import failed: Halt: stopped at import", "load.import"),
    "no_plugin_class": _plugin_py(
        "load",
        "no plugin found: define create_plugin() or a class whose name ends in 'Plugin'",
        "load.instance",
    ),
    "constructor_raises": _plugin_py(
        "load", "create_plugin() raised KeyError: 'settings'", "load.instance"
    ),
    "create_returns_none": _plugin_py(
        "load", "create_plugin() returned None; expected a plugin instance", "load.instance"
    ),
    "create_returns_dict": _plugin_py(
        "load",
        "create_plugin() returned dict, which lacks the plugin interface (missing: initialize, "
        "shutdown, get_api_routes, get_database_schema, health_check); subclass "
        "nexus.plugins.BasePlugin",
        "load.interface",
    ),
    # Not an instance: said at load time, not as a TypeError from initialize() later.
    "create_returns_class": _plugin_py(
        "load",
        f"create_plugin() returned the class {_HOST_PLUGIN}, not an instance*",
        "load.instance",
    ),
    "init_systemexit": _plugin_py(
        "start",
        "initialize() raised SystemExit: initialize pulled the plug",
        "lifecycle.initialize",
    ),
    "routes_systemexit": _plugin_py(
        "start", "get_api_routes() raised SystemExit: no routes today", "routes.routers"
    ),
    "init_halt": _plugin_py(
        "start", "initialize() raised Halt: stopped in initialize", "lifecycle.initialize"
    ),
    # hangs and blocking -------------------------------------------------------------------
    "hang_initialize": _plugin_py(
        "start",
        f"initialize() timed out: {_HOST_PLUGIN}.initialize() of {{dir}}/plugin.py did not "
        f"finish within {TIMEOUT:g} s; it was waiting at {{dir}}/plugin.py:"
        f"{line_of('hang_initialize', 'Event().wait()')} in initialize",
        "lifecycle.initialize",
    ),
    # Run in a subprocess of its own: today it hangs the process that meets it.
    "hang_swallows_cancel": Case(
        "hang",
        f"{{dir}}/plugin.py: initialize() timed out: {_HOST_PLUGIN}.initialize() of "
        f"{{dir}}/plugin.py did not finish within {TIMEOUT:g} s; it was waiting at "
        f"{{dir}}/plugin.py:{line_of('hang_swallows_cancel', 'asyncio.sleep(3600)')} in "
        "initialize*",
    ),
    "hang_shutdown": Case(
        "hang",
        check="lifecycle.shutdown",
        report=f"- {_HOST_PLUGIN}.shutdown() did not finish within {TIMEOUT:g} s; it was waiting "
        f"at {{dir}}/plugin.py:{line_of('hang_shutdown', 'Event().wait()')} in shutdown",
    ),
    "hang_handler": Case(
        "hang",
        check="events.handlers_robust",
        outcome="warning",
        report=f"- *{_HOST_PLUGIN}.on_user ({{dir}}/plugin.py:{line_of('hang_handler', 'def on_user')}) "
        f"on 'user.created' with data {{}} raised TimeoutError: handler did not return within "
        f"{TIMEOUT:g} s; it was waiting at {{dir}}/plugin.py:"
        f"{line_of('hang_handler', 'Event().wait()')} in on_user",
    ),
    "hang_route": Case(
        "hang",
        check="routes.get_ok",
        report=f"- GET /api/plugins/hang_route/stuck did not finish within {TIMEOUT:g} s; it was "
        f"waiting at {{dir}}/plugin.py:{line_of('hang_route', 'Event().wait()')} in stuck",
    ),
    "blocking_route": Case(
        "blocking",
        check="robustness.blocking",
        outcome="warning",
        report="- 0.* s during GET /api/plugins/blocking_route/slow at {dir}/plugin.py:"
        f"{line_of('blocking_route', 'time.sleep(0.3)')} in slow",
    ),
    "init_os_exit": Case("process-exit"),
    # what the host interrupts in-process (tests/test_interrupts.py); in the contract's
    # worker, the isolation's per-call limit cuts the hang -----------------------------------
    "sleep_in_route": Case(
        "interrupt",
        check="routes.get_ok",
        report="GET /api/plugins/sleep_in_route/stuck did not finish within 1.4 s (the "
        "isolation's per-call limit); it was at {dir}/plugin.py:"
        f"{line_of('sleep_in_route', 'time.sleep(3600)')} in stuck",
    ),
    "sleep_in_handler": Case(
        "interrupt",
        check="events.handlers_robust",
        report="handler of 'user.created' did not finish within 1.4 s (the isolation's per-call "
        f"limit); it was at {{dir}}/plugin.py:{line_of('sleep_in_handler', 'time.sleep(3600)')} "
        "in on_user",
    ),
    "sleep_in_shutdown": Case(
        "interrupt",
        check="lifecycle.shutdown",
        report="shutdown() did not finish within 1.4 s (the isolation's per-call limit); it was "
        f"at {{dir}}/plugin.py:{line_of('sleep_in_shutdown', 'time.sleep(3600)')} in shutdown",
    ),
    "interrupt_in_route": Case(
        "interrupt",
        check="routes.get_ok",
        report="- GET /api/plugins/interrupt_in_route/exit raised PluginExitError: GET "
        "/api/plugins/interrupt_in_route/exit: the plugin raised SystemExit: from a route at "
        f"{{dir}}/plugin.py:{line_of('interrupt_in_route', 'sys.exit(')} in exit_; the harness "
        "stops the call, not the test run",
    ),
    # what plugins return and raise is described safely (tests/test_interrupts.py) ------------
    "unprintable": Case(
        "unprintable",
        check="health.before_init",
        report="{dir}/plugin.py: health_check() before initialize() returned Health whose "
        "`healthy` raised Unprintable: <unprintable Unprintable object: str() raised RuntimeError>",
    ),
    "routes_second_call": Case("unprintable"),
    "manifest_many_keys": Case("unprintable"),
    "event_storm": Case(
        "interrupt",
        check="events.handlers_robust",
        outcome="warning",
        report="- (x*) HostilePlugin.on_tick ({dir}/plugin.py:"
        f"{line_of('event_storm', 'async def on_tick')}) on 'event_storm.tick' with data * "
        "raised RecursionError: event storm: one publish of 'event_storm.tick' led to more "
        "than 1000 handler calls and was stopped; handlers keep publishing. The chain of "
        "handlers: 'event_storm.tick' -> HostilePlugin.on_tick ({dir}/plugin.py:"
        f"{line_of('event_storm', 'async def on_tick')}) -> 'event_storm.tick' again (* levels "
        "deep)",
    ),
    # what only a worker process survives (tests/test_isolation_process.py) -------------------
    **{
        case: Case("worker")
        for case in (
            "sleep_at_import",
            "sleep_in_initialize",
            "thread_left_running",
            "exit_in_task",
            "init_keyboard_interrupt",
            "init_segfault",
            "memory_hog",
            "popen_left_running",
            "setsid_child",
            "prints_to_stdout",
            "prints_secret",
            "closes_stdout",
            "poisons_process",
            "route_500",
        )
    },
    # isolation (tests/test_isolation.py) ---------------------------------------------------
    "twin_a": Case("isolation"),
    "twin_b": Case("isolation"),
    "stateful": Case("isolation"),
    "sys_path_hack": Case("isolation"),
    "leaky_task": Case(
        "isolation",
        check="lifecycle.tasks",
        report="- leaky-poller running sleep() created at {dir}/plugin.py:"
        f"{line_of('leaky_task', 'create_task')} in initialize",
    ),
    # network, secrets, records -----------------------------------------------------------
    "network_client": Case("network"),
    "network_initialize": Case("network"),
    "network_everywhere": Case("network"),
    "secret_leaker": Case(
        "secrets",
        check="config.secrets",
        report="- *log record WARNING _nexus_plugin_*_secret_leaker.plugin: connecting with key *** "
        "at {dir}/plugin.py:*",
    ),
    "secret_everywhere": Case(
        "secrets",
        check="config.secrets",
        report="- *print (stdout): stdout: using key *** at {dir}/plugin.py:"
        f"{line_of('secret_everywhere', 'stdout: using key')}",
    ),
    "secret_rules": Case(
        "secrets",
        check="config.secrets",
        report="no distinctive value fits the rules of the secret key(s) region (an enum, a "
        "boolean or bounds too narrow for 8 characters): their leaks could not be looked for",
    ),
    "writes_then_fails": Case("records"),
}

BAD_INPUT = [c for c, case in CASES.items() if case.kind in ("manifest", "load", "start")]


def _generate_huge() -> bytes:
    head = b'{"name": "manifest_huge", "version": "0.1.0", "category": "test", "description": "'
    return head + b"x" * (4_400_000 - len(head) - 2) + b'"}'


def _generate_deep() -> bytes:
    depth = 100_000
    return b'{"name": "manifest_deep", "nested": ' + b"[" * depth + b"]" * depth + b"}"


def _generate_long_name() -> bytes:
    return json.dumps({"name": "n" * 100_000, "version": "0.1.0", "category": "test"}).encode()


#: How many configuration keys manifest_many_keys declares.
MANY_KEYS = 10_000


def _generate_many_keys() -> bytes:
    configuration = {
        f"key_{i:05d}": {"type": "string", "default": f"value {i}", "description": f"option {i}"}
        for i in range(MANY_KEYS)
    }
    document = {
        "name": "manifest_many_keys",
        "version": "0.1.0",
        "category": "test",
        "configuration": configuration,
    }
    return json.dumps(document).encode()


#: Cases whose manifest.json is written by the tests (too large to keep in the repository).
GENERATED: dict[str, Callable[[], bytes]] = {
    "manifest_huge": _generate_huge,
    "manifest_deep": _generate_deep,
    "manifest_name_long": _generate_long_name,
    "manifest_many_keys": _generate_many_keys,
}


def copy_corpus(root: Path) -> Path:
    """A copy of tests/hostile under ``root``, generated manifests included."""
    target = root / "hostile"
    shutil.copytree(HOSTILE, target, ignore=shutil.ignore_patterns("__pycache__", ".*"))
    for case, generate in GENERATED.items():
        (target / case / "manifest.json").write_bytes(generate())
    return target


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plugin that passes every contract check."""
    return write_plugin(tmp_path_factory.mktemp("good"), "mini")


def glob_pattern(text: str, case: str) -> str:
    """``text`` as an fnmatch pattern matching a terminal line: ``{dir}`` is ``*/<case>``."""
    literal = [glob.escape(part).replace("[*]", "*") for part in text.split("{dir}")]
    return f"*/{case}".join(literal)


def parametrized_source(corpus: Path, cases: list[str], test: str) -> str:
    """A test module running ``test`` once per case, marked with the case's plugin directory."""
    params = "".join(
        f"    pytest.param({c!r}, marks=pytest.mark.nexus_plugin({str(corpus / c)!r}), id={c!r}),\n"
        for c in cases
    )
    return f"import pytest\n\n\n@pytest.mark.parametrize('case', [\n{params}])\n{test}"


def missing_lines(result: pytest.RunResult, expected: dict[str, list[str]]) -> list[str]:
    """``fnmatch_lines(lines, consecutive=True)`` for each group; every group that misses."""
    missing = []
    for what, lines in expected.items():
        try:
            result.stdout.fnmatch_lines(lines, consecutive=True)
        except pytest.fail.Exception:
            missing.append(f"{what}: no lines matching {lines}")
    return missing


def fnmatch_each(result: pytest.RunResult, expected: dict[str, list[str]]) -> None:
    """Assert every group of :func:`missing_lines`, reporting all that miss at once."""
    missing = missing_lines(result, expected)
    assert not missing, "\n".join(missing)


_HARNESS_FRAMES = (
    "*INTERNALERROR*",
    "Traceback (most recent call last)*",
    "*/nexus_testkit/_*.py*",
)


def harness_traceback(result: pytest.RunResult) -> list[str]:
    """Lines of the output that belong to a traceback of the harness rather than the plugin's."""
    return [
        f"harness traceback: {line}"
        for line in result.outlines
        if any(fnmatch.fnmatchcase(line, p) for p in _HARNESS_FRAMES)
    ]


def test_every_corpus_directory_has_a_case_and_a_one_line_readme() -> None:
    directories = sorted(p.name for p in HOSTILE.iterdir() if p.is_dir() and p.name[0] not in "._")
    assert directories == sorted(CASES)
    assert len(directories) >= 25
    for name in directories:
        readme = (HOSTILE / name / "README").read_text()
        assert readme.strip(), name
        assert readme.count("\n") == 1, f"{name}/README: one line saying what is wrong"
    for case in GENERATED:
        assert not (HOSTILE / case / "manifest.json").exists(), f"{case}: generated by the tests"


# ------------------------------------------------------------------ bad input: the fixtures


def test_bad_input_fails_the_fixture_with_one_line_naming_the_path(
    pytester: pytest.Pytester, corpus: Path
) -> None:
    pytester.makeini(INI)
    cases = [*BAD_INPUT, "not_a_plugin"]
    pytester.makepyfile(
        test_hostile=parametrized_source(
            corpus, cases, "async def test_host(case, nexus_host):\n    pass\n"
        )
    )
    result = pytester.runpytest(f"--nexus-timeout={TIMEOUT}", "-p", "no:randomly")
    result.assert_outcomes(errors=len(cases))
    problems = missing_lines(
        result,
        {
            case: [f"*_ ERROR at setup of test_host[[]{case}] _*", glob_pattern(host_line, case)]
            for case in cases
            if (host_line := CASES[case].host)
        },
    ) + harness_traceback(result)
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------ bad input: the contract items


def test_bad_input_fails_its_contract_item_with_a_line_naming_the_path(
    pytester: pytest.Pytester, corpus: Path
) -> None:
    pytester.makeini(INI)
    args = [f"--nexus-plugin={corpus / case}" for case in BAD_INPUT]
    result = pytester.runpytest(*args, f"--nexus-timeout={TIMEOUT}", "-p", "no:randomly", "-rf")
    expected = {}
    for case in BAD_INPUT:
        spec = CASES[case]
        assert spec.check is not None
        expected[case] = [
            f"*_ nexus contract {case}: {spec.check} _*",
            f"* {spec.check} (error): *",
            glob_pattern(spec.report_line, case),
        ]
    problems = missing_lines(result, expected) + harness_traceback(result)
    # One clear error: the defect fails its own check, every other check passes or is skipped.
    failed: dict[str, list[str]] = {}
    for line in result.outlines:
        if line.startswith("FAILED ") and "/manifest.json::" in line:
            path, _, check = line.removeprefix("FAILED ").partition("/manifest.json::")
            failed.setdefault(Path(path).name, []).append(check.split(" ")[0])
    problems += [
        f"{case}: failed {failed.get(case)}, expected only {[CASES[case].check]}"
        for case in BAD_INPUT
        if failed.get(case) != [CASES[case].check]
    ]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("not_a_plugin/README", "is a file; expected a plugin directory"),
        ("no_such_plugin", "no such directory"),
        (
            "not_a_plugin",
            "not a plugin directory (it holds neither manifest.json nor plugin.py)",
        ),
    ],
    ids=["file", "missing", "neither-manifest-nor-plugin"],
)
def test_nexus_plugin_that_is_not_a_plugin_directory_is_a_usage_error(
    pytester: pytest.Pytester, corpus: Path, target: str, message: str
) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(test_it="def test_nothing():\n    pass\n")
    path = corpus / target
    result = pytester.runpytest(f"--nexus-plugin={path}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"ERROR: --nexus-plugin={glob.escape(str(path))}: {glob.escape(message)}"]
    )
    assert len([line for line in result.errlines if line.strip()]) == 1, result.errlines
    result.stdout.no_fnmatch_line("*INTERNALERROR*")
    result.stderr.no_fnmatch_line("*Traceback*")


# ------------------------------------------------------------------ bad input: the command line


@dataclass
class CliRun:
    args: list[str]
    process: subprocess.Popen[str]
    stdout: str = ""
    stderr: str = ""

    @property
    def returncode(self) -> int:
        return self.process.returncode


#: The cases the command line runs in one call (network cases need a server of the test's).
CLI_CASES = [c for c, case in CASES.items() if case.check is not None and case.kind != "network"]


@pytest.fixture(scope="module")
def cli(corpus: Path, good: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every command line of this module, started at once."""
    tmp = tmp_path_factory.mktemp("cli")
    commands = {
        # Contract failures only: exit 1, every plugin reported, the good one too.
        "bad": [
            "check",
            str(good),
            *[str(corpus / c) for c in CLI_CASES],
            "--timeout",
            str(TIMEOUT),
            "--output",
            str(tmp / "bad.json"),
        ],
        # Paths that are not plugin directories at all: exit 2, the others still reported.
        "usage": [
            "check",
            str(good),
            str(corpus / "no_manifest"),
            str(corpus / "not_a_plugin"),
            str(corpus / "no_such_plugin"),
            str(corpus / "not_a_plugin" / "README"),
            "--json",
        ],
        # Inline, the second plugin ends the process in initialize(): the report of the
        # first survives.  (In a worker process of its own, the default, it is one failed
        # check: tests/test_isolation_process.py.)
        "dies": [
            "check",
            str(good),
            str(corpus / "init_os_exit"),
            "--isolation",
            "inline",
            "--output",
            str(tmp / "dies.json"),
        ],
    }
    runs = {
        name: CliRun(
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
    return {"runs": runs, "tmp": tmp}


def parse_text_report(text: str) -> dict[str, dict[str, tuple[str, list[str]]]]:
    """plugin directory name -> check -> (label, lines of the message) of a text report."""
    plugins: dict[str, dict[str, tuple[str, list[str]]]] = {}
    checks: dict[str, tuple[str, list[str]]] = {}
    last: list[str] | None = None
    for line in text.splitlines():
        head = re.match(r"^\S.* \((.+)\): \d+ passed, \d+ failed, \d+ warnings, \d+ skipped", line)
        if head:
            checks = plugins.setdefault(Path(head.group(1)).name, {})
            last = None
            continue
        item = re.match(
            r"^  (FAILED |WARNING|SKIPPED|passed ) ([a-z_]+\.[a-z_]+)(?:: (.*))?$", line
        )
        if item:
            last = [item.group(3) or ""]
            checks[item.group(2)] = (item.group(1).strip(), last)
        elif line.startswith(" " * 11) and last is not None:
            last.append(line[11:])
    return plugins


_LABEL = {"failed": "FAILED", "warning": "WARNING"}


def test_cli_reports_every_bad_plugin_and_the_good_one_and_exits_1(cli: dict[str, Any]) -> None:
    run = cli["runs"]["bad"]
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    assert run.stderr == ""
    report = parse_text_report(run.stdout)
    assert sorted(report) == sorted(["mini", *CLI_CASES])
    assert {label for label, _ in report["mini"].values()} <= {"passed"}
    wrong = {}
    for case in CLI_CASES:
        spec = CASES[case]
        assert spec.check is not None
        label, lines = report[case].get(spec.check, ("passed", []))
        pattern = glob_pattern(spec.report_line, case)
        if label != _LABEL[spec.outcome] or not any(fnmatch.fnmatchcase(x, pattern) for x in lines):
            wrong[case] = (spec.check, label, lines[:4])
    assert not wrong, "\n".join(
        f"{c}: expected {CASES[c].report_line!r}, got {w}" for c, w in wrong.items()
    )


def test_cli_json_report_has_the_same_line_for_every_bad_plugin(cli: dict[str, Any]) -> None:
    document = json.loads((cli["tmp"] / "bad.json").read_text())
    jsonschema.validate(document, report_schema())
    results = {
        Path(p["path"]).name: {r["check"]: r for r in p["results"]} for p in document["plugins"]
    }
    assert sorted(results) == sorted(["mini", *CLI_CASES])
    assert {r["outcome"] for r in results["mini"].values()} == {"passed"}
    wrong = {}
    for case in CLI_CASES:
        spec = CASES[case]
        assert spec.check is not None
        result = results[case][spec.check]
        pattern = glob_pattern(spec.report_line, case)
        lines = result["message"].splitlines()
        if result["outcome"] != spec.outcome or not any(
            fnmatch.fnmatchcase(x, pattern) for x in lines
        ):
            wrong[case] = (result["outcome"], lines[:4])
    assert not wrong, "\n".join(
        f"{c}: expected {CASES[c].report_line!r}, got {w}" for c, w in wrong.items()
    )


def test_cli_exit_2_for_paths_that_are_not_plugins_and_the_others_are_still_reported(
    cli: dict[str, Any], corpus: Path
) -> None:
    run = cli["runs"]["usage"]
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    document = json.loads(run.stdout)
    jsonschema.validate(document, report_schema())
    assert [p["name"] for p in document["plugins"]] == ["mini", None]
    no_manifest = {r["check"]: r for r in document["plugins"][1]["results"]}["manifest.exists"]
    assert no_manifest["outcome"] == "failed"
    assert no_manifest["message"] == (
        f"{corpus / 'no_manifest' / 'manifest.json'}: file not found; a plugin directory needs a "
        "manifest.json"
    )
    not_a_plugin, missing, file = (
        corpus / "not_a_plugin",
        corpus / "no_such_plugin",
        corpus / "not_a_plugin" / "README",
    )
    assert document["errors"] == [
        {
            "path": str(not_a_plugin),
            "error": f"{not_a_plugin}: not a plugin directory (it holds neither manifest.json nor plugin.py)",
        },
        {"path": str(missing), "error": f"{missing}: no such directory"},
        {"path": str(file), "error": f"{file}: is a file; expected a plugin directory"},
    ]
    assert run.stderr.splitlines() == [f"error: {e['error']}" for e in document["errors"]]


def test_cli_output_file_survives_a_plugin_that_kills_the_process(cli: dict[str, Any]) -> None:
    run = cli["runs"]["dies"]
    assert run.returncode == 3  # os._exit(3) in the second plugin's initialize()
    output = cli["tmp"] / "dies.json"
    assert output.is_file(), "nothing was written before the process died"
    document = json.loads(output.read_text())
    jsonschema.validate(document, report_schema())
    assert [p["name"] for p in document["plugins"]] == ["mini"]
    assert {r["outcome"] for r in document["plugins"][0]["results"]} == {"passed"}


# ------------------------------------------------------------------ hangs and blocking


def test_hangs_are_cut_by_the_time_out_and_name_the_awaiting_frame(
    pytester: pytest.Pytester, corpus: Path
) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(
        test_hangs=f"""
        import pytest


        @pytest.mark.nexus_plugin({str(corpus / "hang_shutdown")!r})
        async def test_shutdown(nexus_host):
            pass


        @pytest.mark.nexus_plugin({str(corpus / "hang_handler")!r})
        async def test_handler(nexus_host, nexus_event_bus):
            await nexus_event_bus.publish("user.created", {{"id": 1}})


        @pytest.mark.nexus_plugin({str(corpus / "hang_route")!r})
        async def test_route(nexus_client):
            await nexus_client.get("/stuck")


        @pytest.mark.nexus_plugin({str(corpus / "blocking_route")!r})
        # Longer than the hangs' time-out, which would interrupt the 0.3 s sleep.
        @pytest.mark.nexus_host(detect_blocking=0.1, timeout=30)
        async def test_blocking(nexus_client):
            assert (await nexus_client.get("/slow")).json() == {{"slept": 0.3}}
        """
    )
    # No timing assertion (speed belongs to benchmarks/): the messages below
    # prove each hang was cut by the time-out, at the frame it waited in.
    result = pytester.runpytest(
        f"--nexus-timeout={TIMEOUT}",
        "-p",
        "no:randomly",
        "-W",
        "always::nexus_testkit.NexusWarning",
    )
    result.assert_outcomes(passed=3, failed=1, errors=2, warnings=1)
    problems = missing_lines(
        result,
        {
            "hang_shutdown": [
                "*_ ERROR at teardown of test_shutdown _*",
                "Plugin 'hang_shutdown' (*/hang_shutdown) did not shut down cleanly:",
                glob_pattern(CASES["hang_shutdown"].report_line, "hang_shutdown"),
            ],
            "hang_handler": [
                "*_ ERROR at teardown of test_handler _*",
                "The following event handlers raised (the platform logs and skips them):",
                glob_pattern(
                    f"- {_HOST_PLUGIN}.on_user ({{dir}}/plugin.py:"
                    f"{line_of('hang_handler', 'def on_user')}) on 'user.created' raised "
                    f"TimeoutError: handler did not return within {TIMEOUT:g} s; it was waiting "
                    f"at {{dir}}/plugin.py:{line_of('hang_handler', 'Event().wait()')} in on_user",
                    "hang_handler",
                ),
            ],
            "hang_route": [
                glob_pattern(
                    f"E   *PluginTimeoutError: GET /api/plugins/hang_route/stuck did not finish "
                    f"within {TIMEOUT:g} s; it was waiting at {{dir}}/plugin.py:"
                    f"{line_of('hang_route', 'Event().wait()')} in stuck",
                    "hang_route",
                ),
            ],
            "blocking_route": [
                "*NexusGuardWarning: Plugin 'blocking_route' blocked the event loop:",
                glob_pattern(
                    "  - 0.* s at {dir}/plugin.py:"
                    f"{line_of('blocking_route', 'time.sleep(0.3)')} in slow",
                    "blocking_route",
                ),
                "  Every request and event waits meanwhile; move blocking work to "
                "asyncio.to_thread() or use an async library.",
            ],
        },
    )
    # The time-out is the plugin's problem: the harness's transport is no part of the story.
    problems += harness_traceback(result)
    assert not problems, "\n".join(problems)


def test_a_plugin_that_swallows_cancellation_does_not_hang_the_run(
    pytester: pytest.Pytester, corpus: Path
) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(
        test_stubborn=f"""
        import pytest


        @pytest.mark.nexus_plugin({str(corpus / "hang_swallows_cancel")!r})
        async def test_stubborn(nexus_host):
            pass


        def test_next():
            pass
        """
    )
    try:
        # A subprocess: a run that never ends must not take this one with it.
        result = pytester.runpytest_subprocess(
            f"--nexus-timeout={TIMEOUT}", "-p", "no:randomly", timeout=8
        )
    except pytester.TimeoutExpired:
        pytest.fail(
            "the run never ended: after the time-out the harness left initialize()'s task "
            "running, and closing the event loop waits for it forever",
            pytrace=False,
        )
    result.assert_outcomes(passed=1, errors=1)
    host_line = CASES["hang_swallows_cancel"].host
    assert host_line is not None
    result.stdout.fnmatch_lines(
        ["*_ ERROR at setup of test_stubborn _*", glob_pattern(host_line, "hang_swallows_cancel")]
    )
    result.stdout.no_fnmatch_line("*INTERNALERROR*")


# ------------------------------------------------------------------ no network by default

_HTTP_REPLY = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"


class LoopbackServer:
    """A TCP server of the test's own on a loopback address, answering with a tiny HTTP reply."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.create_server((host, 0), family=family)
        self.sock.settimeout(0.05)
        self.host = host
        self.port: int = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="loopback-server", daemon=True)
        self._thread.start()

    @property
    def destination(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(1024)
                    conn.sendall(_HTTP_REPLY)
                except OSError:
                    pass

    def accepted(self, expected: int) -> int:
        """The connections accepted, once ``expected`` are (or after 2 s)."""
        deadline = time.monotonic() + 2
        while self.connections < expected and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.connections

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    srv = LoopbackServer()
    yield srv
    srv.close()


def plain_connect(port: int, host: str = "127.0.0.1") -> None:
    """Connect from the test itself (not from a plugin) to a loopback server of the test's."""
    with socket.create_connection((host, port), timeout=2) as sock:
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        assert sock.recv(64).startswith(b"HTTP/1.1 200 OK")


def assert_blocked_message(text: str, server: LoopbackServer) -> None:
    assert f"pytest-nexus blocked a network connection to {server.destination}" in text, text
    assert "@pytest.mark.nexus_host(allow_network=True) / HostOptions(allow_network=True)" in text


@pytest.mark.asyncio
@pytest.mark.parametrize("how", ["socket", "asyncio"])
async def test_plugin_connections_are_blocked_at_once_naming_the_destination(
    corpus: Path, server: LoopbackServer, how: str
) -> None:
    async with PluginHost(corpus / "network_client", config={"port": server.port}) as host:
        # "At once": the guard refuses before any packet leaves, so the server
        # sees no connection and the error is ours, not a time-out.
        with pytest.raises(NetworkBlockedError) as info:
            await host.client.get(f"/connect/{how}")
    assert_blocked_message(str(info.value), server)
    assert isinstance(info.value, ConnectionRefusedError)
    assert server.connections == 0


@pytest.mark.asyncio
async def test_a_blocked_httpx_call_is_explained(corpus: Path, server: LoopbackServer) -> None:
    # httpx requests meet the host's HTTP fakes before any socket: the error
    # names the host the plugin used and the line that mocks it.
    from nexus_testkit.world import UnmockedRequestError

    url = f"http://127.0.0.1:{server.port}/hello"
    async with PluginHost(corpus / "network_client", config={"port": server.port}) as host:
        with pytest.raises(UnmockedRequestError) as info:
            await host.client.get("/connect/httpx")
    assert server.connections == 0
    assert f"no mock for the plugin's request GET {url} (host '127.0.0.1')" in str(info.value)
    assert f"nexus_http.get({url!r}).respond(200, json=...)" in str(info.value)
    with pytest.raises(NexusAssertionError, match="HTTP requests that no mock answered"):
        host.verify()


@pytest.mark.asyncio
async def test_allow_network_lets_the_same_connections_through(
    corpus: Path, server: LoopbackServer
) -> None:
    config = {"port": server.port}
    async with PluginHost(
        corpus / "network_client", HostOptions(allow_network=True), config=config
    ) as host:
        replies = {
            how: (await host.client.get(f"/connect/{how}")).json()
            for how in ("socket", "asyncio", "httpx")
        }
    assert replies == {
        "socket": {"reply": _HTTP_REPLY.decode()},
        "asyncio": {"reply": "HTTP/1.1 200 OK\r\n"},
        "httpx": {"reply": "hello"},
    }
    assert server.accepted(3) == 3


@pytest.mark.asyncio
async def test_a_connection_in_initialize_is_blocked_then_allowed(
    corpus: Path, server: LoopbackServer
) -> None:
    path, config = corpus / "network_initialize", {"port": server.port}
    with pytest.raises(PluginStartError) as info:
        async with PluginHost(path, config=config):
            pass
    first = str(info.value).splitlines()[0]
    assert first.startswith(
        f"{path / 'plugin.py'}: initialize() raised NetworkBlockedError: pytest-nexus blocked "
        f"a network connection to {server.destination}: "
    )
    assert_blocked_message(first, server)
    plain_connect(server.port)  # a host that failed to start leaves no guard behind
    async with PluginHost(path, HostOptions(allow_network=True), config=config):
        pass
    assert server.accepted(2) == 2


@pytest.mark.asyncio
async def test_the_guard_is_gone_when_the_host_closes(corpus: Path, server: LoopbackServer) -> None:
    async with PluginHost(corpus / "twin_a"):
        with pytest.raises(NetworkBlockedError):
            plain_connect(server.port)
    plain_connect(server.port)
    assert server.accepted(1) == 1


@pytest.mark.asyncio
async def test_nested_hosts_keep_the_guard_until_the_last_one_closes(
    corpus: Path, server: LoopbackServer
) -> None:
    outer = PluginHost(corpus / "twin_a")
    inner = PluginHost(corpus / "twin_b")
    await outer.start()
    try:
        await inner.start()
        await inner.aclose()
        with pytest.raises(NetworkBlockedError) as info:
            plain_connect(server.port)
        assert_blocked_message(str(info.value), server)
    finally:
        await outer.aclose()
    plain_connect(server.port)
    assert server.accepted(1) == 1


@pytest.mark.asyncio
async def test_ipv6_loopback_and_udp_are_blocked_too(corpus: Path) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        server6 = LoopbackServer("::1")
    except OSError:
        pytest.skip("::1 is not available")
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    try:
        async with PluginHost(corpus / "twin_a"):
            with pytest.raises(NetworkBlockedError) as info:
                plain_connect(server6.port, "::1")
            assert_blocked_message(str(info.value), server6)
            with (
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender,
                pytest.raises(
                    NetworkBlockedError, match=rf"127\.0\.0\.1:{udp.getsockname()[1]} \(UDP\)"
                ),
            ):
                sender.sendto(b"ping", udp.getsockname())
        plain_connect(server6.port, "::1")
        assert server6.accepted(1) == 1
    finally:
        udp.close()
        server6.close()


@pytest.mark.asyncio
async def test_respx_serves_a_plugins_httpx_call_under_the_host(
    corpus: Path, server: LoopbackServer
) -> None:
    respx = pytest.importorskip("respx")
    async with PluginHost(corpus / "network_client", config={"port": server.port}) as host:
        with respx.mock(assert_all_called=True) as mock:
            route = mock.get(f"http://127.0.0.1:{server.port}/hello").respond(text="from respx")
            response = await host.client.get("/connect/httpx")
    assert response.json() == {"reply": "from respx"}
    assert route.call_count == 1
    assert server.connections == 0


def test_network_marker_as_users_meet_it(
    pytester: pytest.Pytester, corpus: Path, server: LoopbackServer
) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(
        test_net=f"""
        import socket

        import pytest

        pytestmark = [
            pytest.mark.nexus_plugin({str(corpus / "network_client")!r}),
            pytest.mark.nexus_config(port={server.port}),
        ]


        async def test_blocked(nexus_client):
            await nexus_client.get("/connect/socket")


        @pytest.mark.nexus_host(allow_network=True)
        async def test_allowed(nexus_client):
            assert (await nexus_client.get("/connect/asyncio")).json() == {{"reply": "HTTP/1.1 200 OK\\r\\n"}}


        def test_no_guard_outside_the_host():
            socket.create_connection(("127.0.0.1", {server.port}), timeout=2).close()
        """
    )
    # The end-of-test warning about the blocked attempt is a warning for users; the
    # outer run's filterwarnings=error would turn it into an error here.
    result = pytester.runpytest("-p", "no:randomly", "-W", "always::nexus_testkit.NexusWarning")
    result.assert_outcomes(passed=2, failed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            f"E   *NetworkBlockedError: pytest-nexus blocked a network connection to "
            f"127.0.0.1:{server.port}: plugins under the test host get no network by default. "
            "Serve the call in the test (respx or pytest-httpx for httpx clients), or allow it with "
            "@pytest.mark.nexus_host(allow_network=True) / HostOptions(allow_network=True).",
        ]
    )
    result.stdout.no_fnmatch_line("*INTERNALERROR*")
    assert server.accepted(2) == 2


def test_network_blocked_error_is_importable_under_the_name_it_is_shown_with() -> None:
    import nexus_testkit

    assert NetworkBlockedError.__module__ == "nexus_testkit"
    # Shown as nexus_testkit.NetworkBlockedError in every traceback: users catch it by that name.
    assert getattr(nexus_testkit, "NetworkBlockedError", None) is NetworkBlockedError


# ------------------------------------------------------------------ secrets are masked everywhere


def test_a_secret_is_masked_in_every_message_pytest_prints(
    pytester: pytest.Pytester, corpus: Path
) -> None:
    pytester.makeini(INI)
    plugin = corpus / "secret_leaker"
    pytester.makepyfile(
        test_secret=f"""
        import pytest

        pytestmark = [
            pytest.mark.nexus_plugin({str(plugin)!r}),
            pytest.mark.nexus_config(api_key={SECRET!r}),
        ]


        @pytest.mark.nexus_config(mode="fail")
        async def test_start_error(nexus_host):
            pass


        @pytest.mark.nexus_config(mode="leak")
        async def test_leaked_task(nexus_host):
            pass


        async def test_published(nexus_host, nexus_event_bus):
            nexus_event_bus.assert_published("secret_leaker.stopped")


        async def test_stored(nexus_host, nexus_data_store):
            nexus_data_store.assert_stored("plugin:secret_leaker:last_key", "another value")


        async def test_recorded_and_captured_log(nexus_client):
            assert (await nexus_client.get("/key")).status_code == 200
            assert False, "the plugin misbehaved"
        """
    )
    result = pytester.runpytest(f"--nexus-plugin={plugin}", "-p", "no:randomly", "-rfE")
    logger = "_nexus_plugin_*_secret_leaker.plugin"
    init_line = line_of("secret_leaker", 'name=f"poll-{key}"')
    fnmatch_each(
        result,
        {
            "PluginStartError and its log lines": [
                "*_ ERROR at setup of test_start_error _*",
                "*/secret_leaker/plugin.py: initialize() raised RuntimeError: upstream refused key ***",
            ],
            "the log lines of PluginStartError": [
                "Plugin log:",
                f"  WARNING  {logger}: connecting with key ***",
                f"  ERROR    {logger}: upstream refused key ***",
            ],
            "leaked task at teardown": [
                "*_ ERROR at teardown of test_leaked_task _*",
                "Plugin 'secret_leaker' (*/secret_leaker) did not shut down cleanly:",
                "- task still pending after shutdown: poll-*** running sleep() created at "
                f"*/secret_leaker/plugin.py:{init_line} in initialize",
            ],
            "assert_published listing": [
                "E       nexus_testkit.NexusAssertionError: Expected event 'secret_leaker.stopped' "
                "to be published at least once, but it was never published.",
                "E       Published events:",
                "E       - secret_leaker.started {'key': '***'} (source: secret_leaker)",
            ],
            "assert_stored listing": [
                "E       nexus_testkit.NexusAssertionError: key 'plugin:secret_leaker:last_key' "
                "holds '***', expected 'another value'.",
                "E       Stored keys (memory fidelity):",
                "E       - plugin:secret_leaker:last_key = '***'",
                "E       - plugins.test.secret_leaker.config.token = '***'",
            ],
            "the recorded section": [
                "*- nexus: recorded by secret_leaker (call) -*",
                "Published events:",
                "- secret_leaker.started {'key': '***'} (source: secret_leaker)",
                "",
                "Data store writes:",
                "- set 'plugin:secret_leaker:last_key' = '***'",
                "- set 'plugins.test.secret_leaker.config.token' = '***'",
                "",
                "set_config writes:",
                "- token = '***'",
            ],
            "pytest's captured log": [
                "*- Captured log setup -*",
                f"WARNING  {logger}:plugin.py:* connecting with key ***",
            ],
            "the contract item": [
                "*_ nexus contract secret_leaker: config.secrets _*",
                "secret_leaker config.secrets (error): *",
                "values of secret keys (api_key) appeared in:",
                f"- *log record WARNING {logger}: connecting with key *** at *plugin.py:*",
            ],
        },
    )
    for stream in (result.stdout, result.stderr):
        stream.no_fnmatch_line(f"*{SECRET}*")
        stream.no_fnmatch_line(f"*{CONTRACT_SECRET_PREFIX}*")
    result.stdout.no_fnmatch_line("*INTERNALERROR*")


def test_cli_reports_mask_secrets(cli: dict[str, Any]) -> None:
    run = cli["runs"]["bad"]
    document = (cli["tmp"] / "bad.json").read_text()
    for text in (run.stdout, run.stderr, document):
        assert CONTRACT_SECRET_PREFIX not in text
    report = parse_text_report(run.stdout)["secret_leaker"]
    label, lines = report["config.secrets"]
    assert label == "FAILED"
    assert fnmatch.filter(lines, '- *event secret_leaker.started: {"key": "[*][*][*]"}')
    results = {
        Path(p["path"]).name: {r["check"]: r for r in p["results"]}
        for p in json.loads(document)["plugins"]
    }
    assert '{"key":"***"}' in results["secret_leaker"]["config.secrets"]["message"]


@pytest.mark.asyncio
async def test_start_error_attributes_are_masked_too(corpus: Path) -> None:
    host = PluginHost(corpus / "secret_leaker", config={"api_key": SECRET, "mode": "fail"})
    with pytest.raises(PluginStartError) as info:
        await host.start()
    error = info.value
    for text in (str(error), error.problem, error.details, *error.log_lines, *host.log_lines()):
        assert SECRET not in text
    assert error.problem == "initialize() raised RuntimeError: upstream refused key ***"
    # The records themselves are masked at creation (pytest's handlers see them so).
    assert [r.getMessage() for r in host.logs] == [
        "connecting with key ***",
        "upstream refused key ***",
    ]
    plain_leak = PluginHost(corpus / "secret_leaker", config={"api_key": SECRET, "mode": "leak"})
    async with plain_leak:
        pass
    with pytest.raises(NexusAssertionError) as leak:
        plain_leak.verify()
    assert "poll-*** running sleep()" in str(leak.value)
    assert SECRET not in str(leak.value)


# ------------------------------------------------------------------ nothing recorded is lost


def test_writes_before_a_failure_are_in_the_failing_tests_report(
    pytester: pytest.Pytester, corpus: Path
) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(
        test_records=f"""
        import pytest

        pytestmark = pytest.mark.nexus_plugin({str(corpus / "writes_then_fails")!r})


        async def test_save(nexus_client):
            await nexus_client.post("/save")


        @pytest.mark.nexus_config(fail_in_initialize=True)
        async def test_boot(nexus_client):
            pass
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(failed=1, errors=1)
    fnmatch_each(
        result,
        {
            "a route that fails after writing": [
                "*- nexus: recorded by writes_then_fails (call) -*",
                "Data store writes:",
                "- set 'plugin:writes_then_fails:draft' = {'title': 'kept'}",
                "- set 'plugins.test.writes_then_fails.config.saves' = 1",
                "",
                "set_config writes:",
                "- saves = 1",
            ],
            "initialize() that fails after writing": [
                "*- nexus: recorded by writes_then_fails (setup) -*",
                "Data store writes:",
                "- set 'plugin:writes_then_fails:boot' = {'step': 1}",
                "- set 'plugins.test.writes_then_fails.config.boots' = 1",
                "",
                "set_config writes:",
                "- boots = 1",
            ],
        },
    )
    result.stdout.no_fnmatch_line("*INTERNALERROR*")
