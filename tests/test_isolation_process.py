"""Process isolation of the contract: hostile plugins can hang, end, fool or leak only their own worker.

Each plugin of ``tests/hostile`` used here breaks the process it runs in
(see its README).  Their outcomes are pinned through the command line (one
call for all of them: exit status, JSON that validates, the failed check
and its message naming the plugin's file:line) and through pytest (one
run, ``fnmatch_lines``); then a run of two plugins in one call, the first
changing process state, whose second verdict must equal its verdict alone.
No timed assertion: hangs are cut by limits and only their messages are
checked.
"""

from __future__ import annotations

import fnmatch
import glob
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from nexus_testkit.contract import CHECKS, CheckResult, ContractOptions, PluginReport
from nexus_testkit.contract._checks import ECOSYSTEM_CHECKS
from nexus_testkit.contract._report import report_schema, report_text
from nexus_testkit.isolation import IsolationOptions, check_plugin, shared_pool
from nexus_testkit.isolation._pool import parse_stacks
from nexus_testkit.isolation._procs import cmdline, descendants

REPO = Path(__file__).resolve().parent.parent
HOSTILE = REPO / "tests" / "hostile"
TIMEOUT = 0.2
#: The isolation's per-call limit for TIMEOUT: 2 * timeout + 1.
CALL_LIMIT = "1.4"
INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
"""

#: robustness.blocking measures the machine's load as much as the plugin: not pinned here.
QUIET = "--nexus-skip=robustness.blocking=depends on the load of the machine"

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="process isolation needs Linux"
)


def line_of(case: str, needle: str) -> int:
    lines = (HOSTILE / case / "plugin.py").read_text().splitlines()
    found = [i for i, line in enumerate(lines, 1) if needle in line]
    assert len(found) == 1, (case, needle, found)
    return found[0]


def at(case: str, needle: str, function: str) -> str:
    return f"{{dir}}/plugin.py:{line_of(case, needle)} in {function}"


#: case -> (the check that fails, a line of its message); {dir} is the case's directory.
FAILS = {
    "sleep_at_import": (
        "load.import",
        f"importing {{dir}}/plugin.py did not finish within {CALL_LIMIT} s (the isolation's "
        f"per-call limit); it was at {at('sleep_at_import', 'time.sleep(3600)', '<module>')}",
    ),
    "sleep_in_initialize": (
        "lifecycle.initialize",
        f"initialize() did not finish within {CALL_LIMIT} s (the isolation's per-call limit); "
        f"it was at {at('sleep_in_initialize', 'time.sleep(3600)', 'initialize')}",
    ),
    "exit_in_task": (
        "lifecycle.initialize",
        "the contract run was ended by SystemExit: the task pulled the plug during "
        f"initialize(), raised at {at('exit_in_task', 'sys.exit(', 'quit_soon')}",
    ),
    # The plugin's own KeyboardInterrupt (not the user's Ctrl-C) is an exception the host
    # holds: the contract goes on, as it does in-process (tests/test_interrupts.py).
    "init_keyboard_interrupt": (
        "lifecycle.initialize",
        "{dir}/plugin.py: initialize() raised KeyboardInterrupt",
    ),
    "init_os_exit": (
        "lifecycle.initialize",
        "the plugin ended its worker process with os._exit(3) during initialize(), at "
        f"{at('init_os_exit', 'os._exit(3)', 'initialize')}",
    ),
    "init_segfault": (
        "lifecycle.initialize",
        "the plugin's worker process died of a segmentation fault during initialize(), at "
        f"{at('init_segfault', 'string_at(0)', 'initialize')}",
    ),
    "memory_hog": (
        "lifecycle.initialize",
        "{dir}/plugin.py: initialize() raised MemoryError*",
    ),
}
#: Cases whose worker lives and whose contract fails one check, for what they printed.
LEAKS = {
    "prints_secret": (
        "config.secrets",
        "- *print (stdout): connecting with *** at {dir}/plugin.py:"
        f"{line_of('prints_secret', 'connecting with')}",
    ),
    # What the guards report (host/_state.py): the worker survives both.
    "thread_left_running": (
        "lifecycle.threads",
        "- *thread 'spinner' started in initialize(), running at "
        f"{at('thread_left_running', 'time.sleep(0.05)', 'spin')}",
    ),
    "closes_stdout": (
        "robustness.process_state",
        "- sys.stdout closed in the import of {dir}/plugin.py",
    ),
}
#: Cases whose contract passes: what the plugin did dies with its worker.
PASSES = [
    "popen_left_running",
    "setsid_child",
    "prints_to_stdout",
]
CASES = [*FAILS, *LEAKS, *PASSES]


def pattern(text: str, case: str) -> str:
    return f"*/{case}".join(glob.escape(part).replace("[*]", "*") for part in text.split("{dir}"))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("isolation_process")
    for case in [*CASES, "poisons_process", "route_500"]:
        shutil.copytree(HOSTILE / case, root / case)
    return root


def cli(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "nexus_testkit", "check", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
    )


@pytest.fixture(scope="module")
def runs(corpus: Path) -> dict[str, tuple[int, str, str]]:
    """Every command line of this module, started at once; name -> (status, stdout, stderr)."""
    started = {
        "hostile": cli(
            [
                *(str(corpus / c) for c in CASES),
                "--timeout",
                str(TIMEOUT),
                "--json",
                "--output",
                "all.json",
                "--memory-limit",
                "1024",  # memory_hog's MemoryError sooner
            ],
            corpus,
        ),
        # Relative paths and --output: a plugin's os.chdir() must move neither.
        "poisoned": cli(
            ["poisons_process", "route_500", "--json", "--output", "poisoned.json"], corpus
        ),
        "alone": cli(["route_500", "--json"], corpus),
    }
    done = {}
    for name, process in started.items():
        try:
            out, err = process.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            for other in started.values():
                other.kill()
                other.communicate()
            raise
        done[name] = (process.returncode, out, err)
    return done


def by_check(document: dict[str, Any]) -> dict[str, dict[str, dict[str, str]]]:
    return {
        Path(p["path"]).name: {r["check"]: r for r in p["results"]} for p in document["plugins"]
    }


def test_cli_survives_every_hostile_plugin_and_reports_each_on_stdout_as_valid_json(
    runs: dict[str, tuple[int, str, str]], corpus: Path
) -> None:
    status, stdout, stderr = runs["hostile"]
    assert status == 1, stderr
    assert stderr == ""
    document = json.loads(stdout)  # print() and a closed sys.stdout in plugins: still JSON
    jsonschema.validate(document, report_schema())
    assert json.loads((corpus / "all.json").read_text()) == document
    results = by_check(document)
    assert sorted(results) == sorted(CASES)
    wrong = {}
    for case, (check, line) in {**FAILS, **LEAKS}.items():
        failed = {c: r["message"] for c, r in results[case].items() if r["outcome"] == "failed"}
        lines = failed.get(check, "").splitlines()
        if list(failed) != [check] or not any(
            fnmatch.fnmatchcase(x, pattern(line, case)) for x in lines
        ):
            wrong[case] = failed
    assert not wrong, json.dumps(wrong, indent=2)
    for case in PASSES:
        # (robustness.blocking may warn on a loaded machine: not what is pinned here.)
        assert "failed" not in {r["outcome"] for r in results[case].values()}, case


def test_a_dead_worker_says_which_checks_could_not_run(
    runs: dict[str, tuple[int, str, str]],
) -> None:
    results = by_check(json.loads(runs["hostile"][1]))["init_segfault"]
    skipped = {c: r["message"] for c, r in results.items() if r["outcome"] == "skipped"}
    assert sorted(skipped) == sorted(c.id for c in CHECKS if c.id != "lifecycle.initialize")
    assert set(skipped.values()) == {
        "not run: the plugin's worker process ended during initialize() "
        "(lifecycle.initialize failed)"
    }


def test_what_the_plugin_printed_is_in_its_report_not_on_stdout(
    runs: dict[str, tuple[int, str, str]],
) -> None:
    plugin = next(
        p for p in json.loads(runs["hostile"][1])["plugins"] if p["name"] == "prints_to_stdout"
    )
    assert plugin["output"]["stdout"].splitlines()[:4] == [
        "hello from plugin.py",
        "hello from plugin.py",
        "initialize says hi",
        "ping",
    ]
    assert set(plugin["output"]["stderr"].splitlines()) == {"and complains"}


def test_the_plugins_output_is_capped_and_its_secrets_masked(
    runs: dict[str, tuple[int, str, str]],
) -> None:
    stdout = runs["hostile"][1]
    assert "nexus-secret-" not in stdout  # the contract's secret values
    plugin = next(p for p in json.loads(stdout)["plugins"] if p["name"] == "prints_secret")
    text = plugin["output"]["stdout"]
    assert text.startswith("connecting with ***\n")
    *kept, last = text.splitlines()
    assert re.fullmatch(r"\[\.\.\. truncated: \d+ more bytes of \d+\]", last), last
    assert len("\n".join(kept).encode()) <= 64 * 1024


def test_processes_a_plugin_left_running_are_killed_and_noted(
    runs: dict[str, tuple[int, str, str]],
) -> None:
    plugins = {p["name"]: p for p in json.loads(runs["hostile"][1])["plugins"]}
    for case in ("popen_left_running", "setsid_child"):
        # The contract kills what it saw start; the worker what escaped it (a daemon's fork
        # racing the kill): one note each.
        notes = plugins[case]["notes"]
        assert 1 <= len(notes) <= 2, notes
        for note in notes:
            assert note.startswith(
                "processes the plugin left running, killed when its contract ended:"
            )
        note = "\n".join(notes)
        started = rf"started at .*/{case}/plugin\.py:\d+ in initialize"
        assert re.search(rf"^- pid \d+: (setsid )?sleep 300( \({started}\))?$", note, re.M), note
    # Nothing of them is left: as a subreaper (conftest) this process would have inherited them.
    mine = [cmdline(pid) for pid in descendants(os.getpid())]
    assert not [c for c in mine if "sleep 300" in c], mine


def test_one_plugins_process_state_does_not_change_the_next_ones_verdict(
    runs: dict[str, tuple[int, str, str]], corpus: Path
) -> None:
    status, stdout, stderr = runs["poisoned"]
    alone_status, alone_stdout, _ = runs["alone"]
    assert (status, alone_status) == (1, 1), stderr
    poisoned = by_check(json.loads(stdout))
    alone = by_check(json.loads(alone_stdout))
    # os.chdir, a patched httpx.AsyncClient.send, a replaced event-loop policy and a
    # poisoned sys.modules['nexus.core'] stayed in the first plugin's worker.
    # (robustness.blocking measures the machine's load as much as the plugin: left out.)
    for results in (poisoned, alone):
        del results["route_500"]["robustness.blocking"]
    assert poisoned["route_500"] == alone["route_500"]
    assert poisoned["route_500"]["routes.get_ok"]["outcome"] == "failed"
    # (The poisoner's own verdict is its business: its os.chdir("/") breaks its relative path.)
    assert (corpus / "poisoned.json").is_file()  # --output relative to the caller's directory


# ------------------------------------------------------------------ through pytest


def test_pytest_contract_items_report_each_hostile_plugin_and_the_session_ends(
    pytester: pytest.Pytester, corpus: Path
) -> None:
    pytester.makeini(INI)
    cases = [*FAILS, "thread_left_running", "poisons_process", "route_500"]
    args = [f"--nexus-plugin={corpus / c}" for c in cases]
    result = pytester.runpytest(*args, f"--nexus-timeout={TIMEOUT}", "-p", "no:randomly", QUIET)
    # A dead or killed worker: 1 failed, the others not run; memory_hog's MemoryError and
    # init_keyboard_interrupt's KeyboardInterrupt are exceptions the contract holds (21
    # passed, 1 failed, 24 skipped each); route_500 fails 2 (routes.get_ok, and
    # routes.no_server_error for the same GET); thread_left_running fails lifecycle.threads,
    # poisons_process robustness.process_state; robustness.blocking is skipped everywhere.
    # Over the set, ecosystem.start is skipped (plugins of it cannot start alone)
    # and the other ecosystem checks pass.
    n = len(CHECKS) - 1
    eco = len(ECOSYSTEM_CHECKS) - 1
    result.assert_outcomes(
        passed=3 * n - 4 + 2 * 21 + eco,
        failed=len(FAILS) + 4,
        skipped=n * (len(FAILS) - 2) + 2 * 24 + 3 + 1,
    )
    expected = []
    for case, (check, line) in FAILS.items():
        expected += [f"*_ nexus contract {case}: {check} _*", pattern(line, case)]
    result.stdout.fnmatch_lines(expected, consecutive=False)
    result.stdout.fnmatch_lines(
        [
            "*route_500 routes.get_ok (error)*",
            "- GET /api/plugins/route_500/ping answered 500*",
        ]
    )
    result.stdout.no_fnmatch_line("*INTERNALERROR*")
    result.stdout.no_fnmatch_line("*Traceback*")


def test_pytest_isolation_option_is_validated_and_inline_runs_in_process(
    pytester: pytest.Pytester, corpus: Path
) -> None:
    pytester.makeini(INI)
    bad = pytester.runpytest("--nexus-isolation=thread")
    bad.stderr.fnmatch_lines(
        [
            "ERROR: --nexus-isolation: 'thread' is not a valid isolation. Valid isolations: "
            "process, inline."
        ]
    )
    good = corpus / "prints_to_stdout"
    inline = pytester.runpytest(f"--nexus-plugin={good}", "--nexus-isolation=inline", QUIET)
    inline.assert_outcomes(passed=len(CHECKS) - 1, skipped=1)


def test_under_xdist_each_worker_forks_its_own_workers(
    pytester: pytest.Pytester, corpus: Path
) -> None:
    pytester.makeini(INI)
    plugins = [f"--nexus-plugin={corpus / c}" for c in ("init_os_exit", "route_500")]
    result = pytester.runpytest(*plugins, "-n", "2", "-p", "no:randomly", QUIET)
    # init_os_exit: 1 failed, the others skipped; route_500: 2 failed, blocking skipped;
    # the pair: ecosystem.start skipped (init_os_exit cannot start alone), the others pass.
    eco = len(ECOSYSTEM_CHECKS)
    result.assert_outcomes(passed=len(CHECKS) - 3 + eco - 1, failed=3, skipped=len(CHECKS) + 1)
    result.stdout.fnmatch_lines(
        [pattern(FAILS["init_os_exit"][1], "init_os_exit")], consecutive=False
    )
    result.stdout.no_fnmatch_line("*INTERNALERROR*")


# ------------------------------------------------------------------ the library


def test_report_json_round_trip_keeps_output_and_notes() -> None:
    report = PluginReport(
        Path("p"),
        "p",
        [CheckResult("load.import", "error", "failed", "boom")],
        1.5,
        output={"stdout": "hi\n"},
        notes=["killed"],
    )
    again = PluginReport.from_json(json.loads(json.dumps(report.to_json())), duration=1.5)
    assert again == report
    assert "  stdout of the plugin:\n    | hi" in report_text([report])
    for broken in ({}, {"path": 1, "results": []}, {"path": "p", "results": [{"check": 1}]}):
        with pytest.raises(ValueError, match="not a"):
            PluginReport.from_json(broken)


def test_isolation_options_are_validated() -> None:
    assert IsolationOptions().limits(5.0, 25) == (11.0, 11.0 * 120)
    assert IsolationOptions(call_timeout=2, plugin_timeout=9).limits(5.0, 25) == (2, 9)
    for bad in (
        {"mode": "thread"},
        {"call_timeout": 0},
        {"plugin_timeout": float("inf")},
        {"memory_limit": -1},
        {"output_limit": True},
    ):
        with pytest.raises(ValueError, match=r"must be|not a valid"):
            IsolationOptions(**bad)  # type: ignore[arg-type]


def test_the_per_plugin_limit_cuts_a_contract_and_names_the_frame() -> None:
    case = HOSTILE / "sleep_in_initialize"
    report = check_plugin(
        case,
        ContractOptions(timeout=TIMEOUT),
        # 3 s: enough for the contract to reach initialize() on a loaded machine.
        IsolationOptions(call_timeout=60, plugin_timeout=3),
        pool=shared_pool(),
    )
    message = report.result("lifecycle.initialize").message
    assert message.startswith(
        "the contract did not finish within 3 s (the isolation's per-plugin limit); it was at "
        f"{case}/plugin.py:{line_of('sleep_in_initialize', 'time.sleep(3600)')} in initialize"
    )
    assert not report.ok()


def test_faulthandler_dumps_are_read_thread_by_thread() -> None:
    dump = (
        "Thread 0x00007f0000000001 (most recent call first):\n"
        '  File "/x/threading.py", line 320 in wait\n\n'
        "Current thread 0x00007f0000000002 (most recent call first):\n"
        '  File "/p/plugin.py", line 7 in <module>\n'
        '  File "<frozen importlib._bootstrap>", line 241 in _call_with_frames_removed\n'
    )
    threads = parse_stacks(dump)
    assert [t.frames[0] for t in threads] == [
        ("/x/threading.py", 320, "wait"),
        ("/p/plugin.py", 7, "<module>"),
    ]
