"""The guards on the audit hook: network, subprocesses, process state and threads.

Pinned through the library (``PluginHost``: what is refused and recorded),
fixture-based tests (pytester: the teardown failure, the state restored for
the next test), the command line (exit status, JSON that validates, messages
naming the plugin's file:line) and contract items (``fnmatch_lines``),
including a run of two plugins in one inline call where the first changes
process state and the second's verdict equals its verdict alone.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from nexus_testkit import PluginHost
from nexus_testkit.contract._report import report_schema
from nexus_testkit.isolation import shared_pool  # noqa: F401 - conftest closes the pool of pytester runs

from ._helpers import needs_platform

REPO = Path(__file__).resolve().parent.parent
HOSTILE = REPO / "tests" / "hostile"
CONTRACT = REPO / "tests" / "contract_plugins"
INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
"""
#: robustness.blocking measures the machine's load as much as the plugin: not pinned here.
QUIET = "--nexus-skip=robustness.blocking=depends on the load of the machine"


def line_of(directory: Path, needle: str) -> int:
    lines = (directory / "plugin.py").read_text().splitlines()
    found = [i for i, line in enumerate(lines, 1) if needle in line]
    assert len(found) == 1, (directory, needle, found)
    return found[0]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("guards")
    for case in (
        "network_everywhere",
        "poisons_process",
        "route_500",
        "thread_left_running",
        "popen_left_running",
        "twin_a",
    ):
        shutil.copytree(HOSTILE / case, root / case)
    for case in ("process_state", "lifecycle_threads"):
        shutil.copytree(CONTRACT / case, root / case)
    return root


# ------------------------------------------------------------------ network, through the library


@pytest.mark.asyncio
async def test_every_network_api_is_refused_and_recorded_with_host_port_and_site(
    corpus: Path,
) -> None:
    path = corpus / "network_everywhere"
    file = path / "plugin.py"
    async with PluginHost(path, config={"port": 9}) as host:
        answers = {"import": (await host.client.get("/import")).json()["error"]}
        for how in ("_socket", "urllib", "asyncio", "gethostbyname", "sendmsg"):
            answers[how] = (await host.client.get(f"/reach/{how}")).json()["error"]
        health = await host.plugin.health_check()
        host.plugin.get_database_schema()
    blocked = "pytest-nexus blocked a network connection to "
    assert answers["import"].startswith(f"NetworkBlockedError: {blocked}import.example.com:443:")
    assert answers["_socket"].startswith(f"NetworkBlockedError: {blocked}127.0.0.1:9:")
    assert answers["asyncio"].startswith(f"NetworkBlockedError: {blocked}localhost:9:")
    assert f"{blocked}api.example.com:9:" in answers["urllib"]  # wrapped in a URLError
    assert f"{blocked}name.example.com (DNS lookup):" in answers["gethostbyname"]
    assert f"{blocked}127.0.0.1:9 (UDP):" in answers["sendmsg"]
    assert "health.example.com:443" in health.lookup
    lookup = f"{file}:{line_of(path, 'socket.getaddrinfo(name, 443)')} in lookup"
    attempts = [(a.kind, a.host, a.port, a.where) for a in host.leftovers.network_attempts]
    assert attempts == [
        ("dns", "import.example.com", 443, lookup),
        ("connect", "127.0.0.1", 9, f"{file}:{line_of(path, 'raw.connect(')} in reach"),
        ("dns", "api.example.com", 9, f"{file}:{line_of(path, 'urlopen(')} in reach"),
        # asyncio looks names up in its executor thread: no plugin frame there.
        ("dns", "localhost", 9, ""),
        ("dns", "name.example.com", None, f"{file}:{line_of(path, 'gethostbyname(')} in reach"),
        ("datagram", "127.0.0.1", 9, f"{file}:{line_of(path, 'udp.sendmsg(')} in reach"),
        ("dns", "health.example.com", 443, lookup),
        ("dns", "schema.example.com", 443, lookup),
    ]
    calls = [a.call for a in host.leftovers.network_attempts]
    assert calls[0] == f"the import of {path / 'plugin.py'}"
    assert calls[3] == "GET /api/plugins/network_everywhere/reach/asyncio"
    assert host.leftovers.network_attempts[3].describe() == (
        "localhost:9 during GET /api/plugins/network_everywhere/reach/asyncio"
    )
    # The attempts' text, as the guard warning lists it.
    assert host.leftovers.blocked_connections[0] == "import.example.com:443"


@pytest.mark.asyncio
async def test_the_hook_is_off_once_the_host_closed(corpus: Path) -> None:
    async with PluginHost(corpus / "twin_a"):
        with pytest.raises(OSError, match=r"blocked a network connection to nothing\.invalid:80"):
            __import__("socket").getaddrinfo("nothing.invalid", 80)
    # Closed: a lookup reaches the resolver again.
    assert __import__("socket").getaddrinfo("localhost", 80)


# ------------------------------------------------------------------ fixture-based tests


def test_fixture_tests_fail_at_teardown_listing_each_change_and_the_next_test_is_clean(
    pytester: pytest.Pytester, corpus: Path
) -> None:
    pytester.makeini(INI)
    cwd = os.getcwd()
    pytester.makepyfile(
        test_state=f"""
        import asyncio
        import os
        import sys

        import httpx
        import pytest

        SEND = httpx.AsyncClient.send


        @pytest.mark.nexus_plugin({str(corpus / "poisons_process")!r})
        async def test_poisoned(nexus_host):
            pass


        @pytest.mark.nexus_plugin({str(corpus / "thread_left_running")!r})
        async def test_thread(nexus_host):
            pass


        @pytest.mark.nexus_plugin({str(corpus / "popen_left_running")!r})
        async def test_popen(nexus_host):
            pass


        @pytest.mark.nexus_plugin({str(corpus / "twin_a")!r})
        async def test_own_changes_are_not_the_plugins(nexus_host, nexus_client, monkeypatch):
            monkeypatch.setenv("MINE", "1")
            monkeypatch.chdir("/")
            monkeypatch.setattr(httpx.AsyncClient, "send", SEND)
            await nexus_client.get("/ping")


        def test_the_state_was_put_back():
            assert os.getcwd() != "/"
            assert httpx.AsyncClient.send is SEND
            assert type(asyncio.get_event_loop_policy()).__name__ != "PoisonedPolicy"
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=5, errors=3)
    poisons = corpus / "poisons_process" / "plugin.py"
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at teardown of test_poisoned _*",
            "Plugin 'poisons_process' changed the state of the process it shares with the "
            "platform and every other plugin (restored when its host closed):",
            "- the working directory changed from * to '/' at "
            f"{poisons}:{line_of(corpus / 'poisons_process', 'os.chdir(')} in <module>",
            f"- httpx.AsyncClient.send replaced by always_ok in the import of {poisons}",
            "- the event-loop policy replaced by PoisonedPolicy in initialize()",
            "*_ ERROR at teardown of test_thread _*",
            "Plugin 'thread_left_running' left threads running after shutdown():",
            "- thread 'spinner' started in initialize(), running at "
            f"{corpus / 'thread_left_running' / 'plugin.py'}:"
            f"{line_of(corpus / 'thread_left_running', 'time.sleep(0.05)')} in spin",
            "*_ ERROR at teardown of test_popen _*",
            "Plugin 'popen_left_running' left processes running (killed when its host closed):",
            "- pid *: sleep 300 (started at "
            f"{corpus / 'popen_left_running' / 'plugin.py'}:"
            f"{line_of(corpus / 'popen_left_running', 'Popen(')} in initialize)",
        ],
        consecutive=False,
    )
    result.stdout.no_fnmatch_line("*_pytest*")
    result.stdout.no_fnmatch_line("*nexus_testkit/host*")
    assert os.getcwd() == cwd


# ------------------------------------------------------------------ the contract


def check(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "nexus_testkit", "check", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
    )


@pytest.fixture(scope="module")
def runs(corpus: Path) -> dict[str, tuple[int, str, str]]:
    """The command lines of this module, started at once; name -> (status, stdout, stderr)."""
    skip = ["--skip", "robustness.blocking=depends on the load of the machine"]
    started = {
        "guards": check(
            ["process_state", "lifecycle_threads", "--json", "--output", "guards.json", *skip],
            corpus,
        ),
        # Inline: one process for both, so only the guards keep the second plugin's verdict.
        "inline_poisoned": check(
            ["poisons_process", "route_500", "--isolation", "inline", "--json", *skip], corpus
        ),
        "inline_alone": check(["route_500", "--isolation", "inline", "--json", *skip], corpus),
    }
    done = {}
    for name, process in started.items():
        out, err = process.communicate(timeout=300)
        done[name] = (process.returncode, out, err)
    return done


def by_check(document: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    return {
        Path(p["path"]).name: {r["check"]: r for r in p["results"]} for p in document["plugins"]
    }


@needs_platform
def test_cli_reports_each_new_check_naming_the_plugins_line(
    runs: dict[str, tuple[int, str, str]], corpus: Path
) -> None:
    status, stdout, stderr = runs["guards"]
    assert status == 1, stderr
    document = json.loads(stdout)
    jsonschema.validate(document, report_schema())
    assert json.loads((corpus / "guards.json").read_text()) == document
    results = by_check(document)
    failed = {
        name: {c: r["message"] for c, r in checks.items() if r["outcome"] == "failed"}
        for name, checks in results.items()
    }
    assert list(failed["process_state"]) == ["robustness.process_state"]
    assert list(failed["lifecycle_threads"]) == ["lifecycle.threads"]
    state = failed["process_state"]["robustness.process_state"]
    file = "process_state/plugin.py"  # as given on the command line
    assert state.splitlines()[0] == f"{file}: the plugin changed the state of the process:"
    assert (
        "- environment variable PROCESS_STATE set to 'initialized' at "
        f"{file}:{line_of(corpus / 'process_state', 'os.environ[')} in initialize"
    ) in state.splitlines()
    assert any(
        line.startswith("- the recursion limit changed from ")
        and line.endswith(" to 4321 in initialize()")
        for line in state.splitlines()
    ), state
    threads = failed["lifecycle_threads"]["lifecycle.threads"]
    where = (
        "lifecycle_threads/plugin.py:"
        f"{line_of(corpus / 'lifecycle_threads', 'self._stop.wait()')} in _watch"
    )
    assert threads.splitlines()[0] == "threads still running after the plugin's last call:"
    assert threads.splitlines()[1].endswith(
        f"daemon thread 'state-watcher' started in initialize(), running at {where}"
    ), threads
    assert "nexus_testkit" not in json.dumps(document["plugins"][0]["results"])


def test_inline_a_plugins_process_state_does_not_change_the_next_ones_verdict(
    runs: dict[str, tuple[int, str, str]], corpus: Path
) -> None:
    status, stdout, stderr = runs["inline_poisoned"]
    alone_status, alone_stdout, alone_stderr = runs["inline_alone"]
    assert (status, alone_status) == (1, 1), stderr + alone_stderr
    poisoned, alone = json.loads(stdout), json.loads(alone_stdout)
    jsonschema.validate(poisoned, report_schema())
    assert by_check(poisoned)["route_500"] == by_check(alone)["route_500"]
    assert by_check(alone)["route_500"]["routes.get_ok"]["outcome"] == "failed"
    state = by_check(poisoned)["poisons_process"]["robustness.process_state"]
    assert state["outcome"] == "failed"
    file = "poisons_process/plugin.py"  # as given on the command line
    lines = state["message"].splitlines()
    assert (
        f"- the working directory changed from {str(corpus)!r} to '/' at "
        f"{file}:{line_of(corpus / 'poisons_process', 'os.chdir(')} in <module>"
    ) in lines
    assert f"- httpx.AsyncClient.send replaced by always_ok in the import of {file}" in lines


@needs_platform
def test_contract_items_name_the_change_and_the_thread(
    pytester: pytest.Pytester, corpus: Path
) -> None:
    pytester.makeini(INI)
    args = [f"--nexus-plugin={corpus / c}" for c in ("process_state", "lifecycle_threads")]
    result = pytester.runpytest(*args, "-p", "no:randomly", QUIET)
    # Per plugin (the checks over the set, ecosystem.*, judge two copies of one plugin).
    result.stdout.fnmatch_lines(
        [
            f"nexus contract process_state: {_count() - 2} passed, 1 failed "
            "(robustness.process_state), 1 skipped",
            f"nexus contract lifecycle_threads: {_count() - 2} passed, 1 failed "
            "(lifecycle.threads), 1 skipped",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*_ nexus contract process_state: robustness.process_state _*",
            "*- environment variable PROCESS_STATE set to 'initialized' at "
            f"{corpus / 'process_state' / 'plugin.py'}:"
            f"{line_of(corpus / 'process_state', 'os.environ[')} in initialize",
            "*_ nexus contract lifecycle_threads: lifecycle.threads _*",
            "*daemon thread 'state-watcher' started in initialize(), running at "
            f"{corpus / 'lifecycle_threads' / 'plugin.py'}:*in _watch",
        ],
        consecutive=False,
    )
    result.stdout.no_fnmatch_line("*INTERNALERROR*")
    result.stdout.no_fnmatch_line("*Traceback*")


def _count() -> int:
    from nexus_testkit.contract import CHECKS

    return len(CHECKS)


# ------------------------------------------------------------------ the snapshots, directly


def test_changes_without_an_audit_event_are_found_by_the_call_that_made_them(
    tmp_path: Path,
) -> None:
    """What no audit event reports (os.environ's data written directly, sys.modules,
    a library's function, a signal handler) is found by comparing before and after
    the call, named with it, and put back; the caller's changes between calls are not
    the plugin's."""
    import asyncio
    import signal

    from nexus_testkit.host._state import ProcessWatch

    raw_name, raw_value = os.environ.encodekey("NEXUS_RAW_é"), os.environ.encodevalue("1 é")
    removed = "json.decoder"
    saved_module, saved_sleep = sys.modules[removed], asyncio.sleep
    saved_handler = signal.getsignal(signal.SIGUSR1)

    def handler(*_: Any) -> None:
        pass

    watch = ProcessWatch(str(tmp_path)).start()
    try:
        os.environ["NEXUS_CALLERS_OWN"] = "x"  # between calls: the caller's
        with watch.call("initialize()"):
            os.environ._data[raw_name] = raw_value  # type: ignore[attr-defined]
            del sys.modules[removed]
            asyncio.sleep = handler  # type: ignore[assignment]
            signal.signal(signal.SIGUSR1, handler)
        with watch.call("health_check()"):
            pass
    finally:
        watch.finish()
        del os.environ["NEXUS_CALLERS_OWN"]
    try:
        assert [c.describe() for c in watch.changes] == [
            "environment variable NEXUS_RAW_é set to '1 é' in initialize()",
            "the handler of SIGUSR1 replaced (SIG_DFL -> "
            "test_changes_without_an_audit_event_are_found_by_the_call_that_made_them"
            ".<locals>.handler) in initialize()",
            "sys.modules['json.decoder'] removed in initialize()",
            "asyncio.sleep replaced by "
            "test_changes_without_an_audit_event_are_found_by_the_call_that_made_them"
            ".<locals>.handler in initialize()",
        ]
        assert watch.restore() == []
        assert raw_name not in os.environ._data  # type: ignore[attr-defined]
        assert sys.modules[removed] is saved_module
        assert asyncio.sleep is saved_sleep
        assert signal.getsignal(signal.SIGUSR1) == saved_handler
    finally:
        os.environ._data.pop(raw_name, None)  # type: ignore[attr-defined]
        sys.modules[removed] = saved_module
        asyncio.sleep = saved_sleep  # type: ignore[assignment]
        signal.signal(signal.SIGUSR1, saved_handler)


def test_attributes_replaced_in_requests_are_named_with_the_requests_and_the_tests_are_not(
    tmp_path: Path,
) -> None:
    """Requests and event deliveries compare only the small state (they come by the
    hundred); module and class attributes are compared at the next lifecycle call,
    and a replacement whose value comes from the plugin's files is named with the
    requests made since.  The test's own replacement between them is not reported."""
    import asyncio
    import importlib.util

    from nexus_testkit.host._state import ProcessWatch

    plugin_file = tmp_path / "plugin.py"
    plugin_file.write_text("async def fake_sleep(*args, **kwargs):\n    return None\n")
    spec = importlib.util.spec_from_file_location("_nexus_test_light_plugin", plugin_file)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    saved_sleep, saved_gather = asyncio.sleep, asyncio.gather

    def tests_own_gather(*args: Any, **kwargs: Any) -> None:
        pass

    watch = ProcessWatch(str(tmp_path)).start()
    try:
        with watch.call("initialize()"):
            pass
        with watch.call("GET /poison", light=True):
            asyncio.sleep = module.fake_sleep
        asyncio.gather = tests_own_gather  # type: ignore[assignment]  # between requests
        with watch.call("GET /status", light=True):
            os.environ["NEXUS_SET_IN_A_REQUEST"] = "1"
        with watch.call("shutdown()"):
            pass
    finally:
        watch.finish()
        asyncio.sleep, asyncio.gather = saved_sleep, saved_gather  # type: ignore[assignment]
        os.environ.pop("NEXUS_SET_IN_A_REQUEST", None)
    assert [c.describe() for c in watch.changes] == [
        "environment variable NEXUS_SET_IN_A_REQUEST set to '1' in GET /status",
        "asyncio.sleep replaced by fake_sleep in one of GET /poison, GET /status",
    ]
