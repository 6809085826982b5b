"""Plugin code that holds, ends or floods the pytest process, met by fixture-based tests.

Fixture-based tests run the plugin in the pytest process.  A synchronous
hang in a host call (import, ``initialize()``, ``shutdown()``, a handler, a
route) is interrupted by ``SIGALRM`` at the plugin's frame after the host's
time-out; a ``KeyboardInterrupt`` or ``SystemExit`` of the plugin fails the
test and the run goes on (a Ctrl-C of the user's still stops it); an event
storm is cut per publish, naming the chain of handlers.  The pytester runs
are subprocesses: a regression must hang a child, not this run.

The same plugins through the command line: ``CASES`` in
tests/test_robustness.py (the worker process's per-call limit cuts the hangs there).
"""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
from pathlib import Path

import pytest

from nexus_testkit import Event, RecordingEventBus
from nexus_testkit._interrupts import interrupt_after
from nexus_testkit.fakes._bus import MAX_CASCADE_DEPTH, MAX_DELIVERIES_PER_PUBLISH

from .test_robustness import INI, copy_corpus, fnmatch_each, glob_pattern, harness_traceback
from .test_robustness import line_of as _line_of

TIMEOUT = 0.3
_PLUGIN = "HostilePlugin"

pytestmark = pytest.mark.skipif(
    not hasattr(signal, "setitimer"), reason="SIGALRM interruption needs setitimer (POSIX)"
)


def line_of(case: str, needle: str) -> int:
    return _line_of(case, needle)


def at(case: str, needle: str, function: str) -> str:
    return f"{{dir}}/plugin.py:{line_of(case, needle)} in {function}"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_corpus(tmp_path_factory.mktemp("interrupts"))


def run(pytester: pytest.Pytester, *args: str, timeout: float = 60) -> pytest.RunResult:
    try:
        return pytester.runpytest_subprocess("-p", "no:randomly", *args, timeout=timeout)
    except pytester.TimeoutExpired:
        pytest.fail("the run never ended: a hang was not interrupted", pytrace=False)


def patterns(case: str, *lines: str) -> list[str]:
    return [glob_pattern(line, case) for line in lines]


# ------------------------------------------------------------------ synchronous hangs


def test_a_synchronous_hang_in_each_host_call_fails_its_test_at_the_stuck_frame(
    pytester: pytest.Pytester, corpus: Path
) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(
        test_hangs=f"""
        import asyncio

        import pytest


        @pytest.mark.nexus_plugin({str(corpus / "sleep_at_import")!r})
        async def test_import(nexus_host):
            pass


        @pytest.mark.nexus_plugin({str(corpus / "sleep_in_initialize")!r})
        async def test_initialize(nexus_host):
            pass


        @pytest.mark.nexus_plugin({str(corpus / "sleep_in_route")!r})
        async def test_route(nexus_client):
            await nexus_client.get("/stuck")


        @pytest.mark.nexus_plugin({str(corpus / "sleep_in_handler")!r})
        async def test_handler(nexus_host, nexus_event_bus):
            await nexus_event_bus.publish("user.created", {{"id": 1}})


        @pytest.mark.nexus_plugin({str(corpus / "sleep_in_shutdown")!r})
        async def test_shutdown(nexus_host):
            pass


        async def test_the_next_test_gets_a_working_loop():
            await asyncio.sleep(0)
        """
    )
    result = run(pytester, f"--nexus-timeout={TIMEOUT}")
    result.assert_outcomes(passed=3, failed=1, errors=4)
    cut = f"did not finish within {TIMEOUT:g} s; it was waiting at"
    blocked = "(blocking the event loop; interrupted)"
    fnmatch_each(
        result,
        {
            "import": [
                "*_ ERROR at setup of test_import _*",
                *patterns(
                    "sleep_at_import",
                    f"{{dir}}/plugin.py: import failed: it did not finish within {TIMEOUT:g} s; "
                    f"it was stuck at {at('sleep_at_import', 'time.sleep(3600)', '<module>')}",
                ),
            ],
            "initialize": [
                "*_ ERROR at setup of test_initialize _*",
                *patterns(
                    "sleep_in_initialize",
                    f"{{dir}}/plugin.py: initialize() timed out: {_PLUGIN}.initialize() of "
                    f"{{dir}}/plugin.py {cut} "
                    f"{at('sleep_in_initialize', 'time.sleep(3600)', 'initialize')} {blocked}",
                ),
            ],
            "route": patterns(
                "sleep_in_route",
                f"E   *nexus_testkit.PluginTimeoutError: GET /api/plugins/sleep_in_route/stuck "
                f"{cut} {at('sleep_in_route', 'time.sleep(3600)', 'stuck')} {blocked}",
            ),
            "handler": [
                "*_ ERROR at teardown of test_handler _*",
                "The following event handlers raised (the platform logs and skips them):",
                *patterns(
                    "sleep_in_handler",
                    f"- {_PLUGIN}.on_user ({{dir}}/plugin.py:"
                    f"{line_of('sleep_in_handler', 'def on_user')}) on 'user.created' raised "
                    f"TimeoutError: handler did not return within {TIMEOUT:g} s; it was waiting "
                    f"at {at('sleep_in_handler', 'time.sleep(3600)', 'on_user')} {blocked}",
                ),
            ],
            "shutdown": [
                "*_ ERROR at teardown of test_shutdown _*",
                "Plugin 'sleep_in_shutdown' (*/sleep_in_shutdown) did not shut down cleanly:",
                *patterns(
                    "sleep_in_shutdown",
                    f"- {_PLUGIN}.shutdown() {cut} "
                    f"{at('sleep_in_shutdown', 'time.sleep(3600)', 'shutdown')} {blocked}",
                ),
            ],
        },
    )
    assert not harness_traceback(result), harness_traceback(result)


CHAINED = """
import signal

import pytest


class OuterTimeout(Exception):
    pass


FIRED = []


def outer(signum, frame):
    # What pytest-timeout's signal method does when its time is up.
    FIRED.append(signum)
    raise OuterTimeout("the outer SIGALRM timer fired")


@pytest.fixture
def outer_timer(request):
    seconds = request.node.get_closest_marker("outer").args[0]
    FIRED.clear()
    previous = signal.signal(signal.SIGALRM, outer)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    yield
    left, _ = signal.getitimer(signal.ITIMER_REAL)
    signal.setitimer(signal.ITIMER_REAL, 0)
    installed = signal.getsignal(signal.SIGALRM)
    signal.signal(signal.SIGALRM, previous)
    assert installed is outer, "the outer handler was not put back"
    # Still pending, unless it fired: the harness must not leave it disarmed.
    assert left > 0 or FIRED, "the outer timer was not put back"
"""


def test_a_sigalrm_handler_already_installed_is_chained_and_put_back(
    pytester: pytest.Pytester, corpus: Path
) -> None:
    pytester.makeini(INI + "markers =\n    outer(seconds): an outer SIGALRM timer\n")
    pytester.makeconftest(CHAINED)
    plugin = corpus / "sleep_in_route"
    pytester.makepyfile(
        test_chained=f"""
        import pytest


        @pytest.mark.nexus_plugin({str(plugin)!r})
        @pytest.mark.outer(30)
        async def test_host_deadline_first(outer_timer, nexus_client):
            await nexus_client.get("/stuck")


        @pytest.mark.nexus_plugin({str(plugin)!r})
        @pytest.mark.nexus_host(timeout=60)
        @pytest.mark.outer(0.3)
        async def test_outer_deadline_first(outer_timer, nexus_client):
            await nexus_client.get("/stuck")
        """
    )
    result = run(pytester, f"--nexus-timeout={TIMEOUT}")
    # Both fail at the call, and both teardowns find the outer handler and timer back.
    result.assert_outcomes(failed=2)
    fnmatch_each(
        result,
        {
            "the host's deadline": patterns(
                "sleep_in_route",
                "E   *nexus_testkit.PluginTimeoutError: GET /api/plugins/sleep_in_route/stuck "
                f"did not finish within {TIMEOUT:g} s; it was waiting at "
                f"{at('sleep_in_route', 'time.sleep(3600)', 'stuck')} (blocking the event loop; "
                "interrupted)",
            ),
            "the outer deadline": ["E   *OuterTimeout: the outer SIGALRM timer fired"],
        },
    )


# ------------------------------------------------------------------ SystemExit and KeyboardInterrupt


def test_keyboard_interrupt_and_system_exit_of_the_plugin_fail_the_test_not_the_run(
    pytester: pytest.Pytester, corpus: Path
) -> None:
    pytester.makeini(INI)
    routes = corpus / "interrupt_in_route"
    pytester.makepyfile(
        test_exits=f"""
        import pytest


        @pytest.mark.nexus_plugin({str(corpus / "init_keyboard_interrupt")!r})
        async def test_initialize(nexus_host):
            pass


        @pytest.mark.nexus_plugin({str(routes)!r})
        async def test_route_interrupt(nexus_client):
            await nexus_client.get("/interrupt")


        @pytest.mark.nexus_plugin({str(routes)!r})
        async def test_route_exit(nexus_client):
            await nexus_client.get("/exit")


        @pytest.mark.nexus_plugin({str(routes)!r})
        async def test_handler_interrupt(nexus_host, nexus_event_bus):
            await nexus_event_bus.publish("user.created", {{"id": 1}})


        def test_the_run_goes_on():
            pass
        """
    )
    result = run(pytester)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=2, failed=2, errors=2)
    route = "the plugin raised {what} at {site}; the harness stops the call, not the test run"
    fnmatch_each(
        result,
        {
            "initialize": [
                "*_ ERROR at setup of test_initialize _*",
                *patterns(
                    "init_keyboard_interrupt",
                    "{dir}/plugin.py: initialize() raised KeyboardInterrupt",
                ),
            ],
            "route interrupt": patterns(
                "interrupt_in_route",
                "E   *nexus_testkit.PluginExitError: GET /api/plugins/interrupt_in_route/interrupt: "
                + route.format(
                    what="KeyboardInterrupt: from a route",
                    site=at("interrupt_in_route", 'KeyboardInterrupt("from a route")', "interrupt"),
                ),
            ),
            "route exit": patterns(
                "interrupt_in_route",
                "E   *nexus_testkit.PluginExitError: GET /api/plugins/interrupt_in_route/exit: "
                + route.format(
                    what="SystemExit: from a route",
                    site=at("interrupt_in_route", "sys.exit(", "exit_"),
                ),
            ),
            "handler": [
                "*_ ERROR at teardown of test_handler_interrupt _*",
                "The following event handlers raised (the platform logs and skips them):",
                *patterns(
                    "interrupt_in_route",
                    f"- {_PLUGIN}.on_user ({{dir}}/plugin.py:"
                    f"{line_of('interrupt_in_route', 'def on_user')}) on 'user.created' raised "
                    "KeyboardInterrupt: from a handler",
                ),
            ],
        },
    )
    result.stdout.no_fnmatch_line("*!!!*KeyboardInterrupt*!!!*")
    assert not harness_traceback(result), harness_traceback(result)


def test_a_ctrl_c_of_the_user_still_stops_the_run(pytester: pytest.Pytester, corpus: Path) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(
        test_ctrl_c=f"""
        import os
        import signal
        import threading

        import pytest


        @pytest.mark.nexus_plugin({str(corpus / "sleep_in_route")!r})
        async def test_stuck_when_the_user_presses_ctrl_c(nexus_client):
            # SIGINT arrives while the plugin's route holds the main thread.
            threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
            await nexus_client.get("/stuck")


        def test_never_reached():
            pass
        """
    )
    result = run(pytester, "--nexus-timeout=30", "-v")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*!!! KeyboardInterrupt !!!*"])
    result.stdout.no_fnmatch_line("*test_never_reached*")


# ------------------------------------------------------------------ event storms


def test_an_event_storm_is_cut_per_publish_naming_the_chain(
    pytester: pytest.Pytester, corpus: Path
) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(
        test_storm=f"""
        import pytest


        @pytest.mark.nexus_plugin({str(corpus / "event_storm")!r})
        async def test_storm(nexus_host, nexus_event_bus):
            await nexus_event_bus.publish("event_storm.tick", {{}})
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=1, errors=1)
    handler = f"{_PLUGIN}.on_tick ({{dir}}/plugin.py:{line_of('event_storm', 'def on_tick')})"
    fnmatch_each(
        result,
        {
            "the failure": [
                "*_ ERROR at teardown of test_storm _*",
                "The following event handlers raised (the platform logs and skips them):",
                *patterns(
                    "event_storm",
                    f"- {handler} on 'event_storm.tick' raised RecursionError: event storm: one "
                    f"publish of 'event_storm.tick' led to more than {MAX_DELIVERIES_PER_PUBLISH} "
                    "handler calls and was stopped; handlers keep publishing. The chain of "
                    f"handlers: 'event_storm.tick' -> {handler} -> 'event_storm.tick' again "
                    "(* levels deep)",
                ),
            ],
            # What was recorded is listed, not flooded.
            "the recorded section": [
                "Published events:",
                "- event_storm.tick {} (source: None)",
                "- event_storm.tick {'level': 1} (source: None)",
            ],
            "its end": ["- ... and * more"],
        },
    )
    assert len(result.outlines) < 300
    assert not harness_traceback(result), harness_traceback(result)


@pytest.mark.asyncio
async def test_a_fan_out_stops_at_the_budget_and_the_next_publish_starts_afresh() -> None:
    bus = RecordingEventBus()
    calls = []

    async def twice(event: Event) -> None:
        calls.append(event.data.get("n", 0))
        if event.data.get("n", 0) < 40:
            for _ in range(2):
                await bus.publish("e", {"n": event.data.get("n", 0) + 1})

    bus.subscribe("e", twice)
    await bus.publish("e")
    assert len(calls) == MAX_DELIVERIES_PER_PUBLISH
    [failure] = bus.handler_failures
    assert isinstance(failure.exception, RecursionError)
    assert "event storm" in str(failure.exception)
    assert "'e' -> " in str(failure.exception)
    assert "twice" in str(failure.exception)
    calls.clear()
    bus.unsubscribe("e", twice)
    bus.subscribe("e", lambda event: calls.append(0))
    await bus.publish("e")
    assert calls == [0]  # a fresh budget, the cut forgotten


@pytest.mark.asyncio
async def test_a_cascade_past_the_depth_limit_is_one_failure_naming_its_chain() -> None:
    bus = RecordingEventBus()

    async def ping(event: Event) -> None:
        await bus.publish("pong")

    async def pong(event: Event) -> None:
        await bus.publish("ping")
        await bus.publish("ping")

    bus.subscribe("ping", ping)
    bus.subscribe("pong", pong)
    await bus.publish("ping")
    [failure] = bus.handler_failures
    message = str(failure.exception)
    assert f"deeper than {MAX_CASCADE_DEPTH} levels" in message
    assert "'ping' -> " in message
    assert "-> 'pong' -> " in message
    assert "'ping' again" in message


# ------------------------------------------------------------------ the alarm itself


@pytest.mark.asyncio
async def test_the_alarm_leaves_a_waiting_loop_to_its_own_time_out() -> None:
    # Awaiting, not blocking: SIGALRM finds the loop in its selector and does nothing.
    with interrupt_after(0.01, str(Path(__file__).parent / "hostile")) as deadline:
        await asyncio.sleep(0.1)
    assert deadline is not None
    assert deadline.fired == ""
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGALRM) == signal.SIG_DFL


def test_no_alarm_outside_the_main_thread() -> None:
    seen: list[object] = []

    def worker() -> None:
        with interrupt_after(0.01, None) as deadline:
            seen.append(deadline)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == [None]


# ------------------------------------------------------------------ what plugins return and raise


def test_unprintable_exceptions_and_values_are_described_not_raised(
    pytester: pytest.Pytester, corpus: Path
) -> None:
    pytester.makeini(INI)
    plugin = corpus / "unprintable"
    pytester.makepyfile(
        test_unprintable=f"""
        import pytest

        pytestmark = pytest.mark.nexus_plugin({str(plugin)!r})


        @pytest.mark.nexus_config(mode="raise")
        async def test_raises(nexus_host):
            pass


        @pytest.mark.nexus_config(mode="return")
        async def test_returns(nexus_host):
            pass


        @pytest.mark.nexus_host(allow_errors=True)
        async def test_shutdown_raises(nexus_host):
            pass
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=1, errors=3)
    unprintable = "<unprintable Unprintable object: str() raised RuntimeError>"
    fnmatch_each(
        result,
        {
            "raises": [
                "*_ ERROR at setup of test_raises _*",
                *patterns(
                    "unprintable",
                    f"{{dir}}/plugin.py: initialize() raised Unprintable: {unprintable}",
                ),
            ],
            "returns": [
                "*_ ERROR at setup of test_returns _*",
                *patterns(
                    "unprintable",
                    "{dir}/plugin.py: initialize() returned <unprintable NoRepr object: repr() "
                    "raised RuntimeError>; the platform only loads a plugin whose initialize() "
                    "returns True",
                ),
            ],
            "shutdown": [
                "*_ ERROR at teardown of test_shutdown_raises _*",
                "Plugin 'unprintable' (*/unprintable) did not shut down cleanly:",
                f"- shutdown() raised Unprintable: {unprintable}",
            ],
        },
    )
    result.stdout.no_fnmatch_line("*INTERNALERROR*")


def test_the_cli_survives_what_a_second_call_raises_and_a_10000_key_manifest(
    corpus: Path, tmp_path: Path
) -> None:
    import json
    import subprocess

    import jsonschema

    from nexus_testkit.contract._report import report_schema

    from .test_robustness import MANY_KEYS

    process = subprocess.run(
        [
            sys.executable,
            "-m",
            "nexus_testkit",
            "check",
            str(corpus / "routes_second_call"),
            str(corpus / "manifest_many_keys"),
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    assert process.returncode == 1, process.stderr
    assert process.stderr == ""
    document = json.loads(process.stdout)
    jsonschema.validate(document, report_schema())
    second, many = ({r["check"]: r for r in plugin["results"]} for plugin in document["plugins"])
    # The platform calls get_api_routes() once: SystemExit from the contract's second call
    # is no verdict, and the run goes on.
    assert {r["outcome"] for r in second.values()} == {"passed"}
    # Every key is loaded and checked; the plugin accepts anything, which config.invalid says.
    assert many["manifest.schema"]["outcome"] == "passed"
    assert many["config.valid"]["outcome"] == "passed"
    assert many["config.invalid"]["outcome"] == "failed"
    assert "- key_00000: type: expected string, got int" in many["config.invalid"]["message"]
    assert (
        len(
            json.loads((corpus / "manifest_many_keys" / "manifest.json").read_text())[
                "configuration"
            ]
        )
        == MANY_KEYS
    )


# ------------------------------------------------------------------ secrets on every channel

SECRET = "sk-live-TOPSECRET-4242"


def test_a_secret_is_masked_on_every_channel_pytest_reports_through(
    pytester: pytest.Pytester, corpus: Path
) -> None:
    pytester.makeini(INI)
    plugin = corpus / "secret_everywhere"
    pytester.makepyfile(
        test_channels=f"""
        import logging

        import pytest

        pytestmark = [
            pytest.mark.nexus_plugin({str(plugin)!r}),
            pytest.mark.nexus_config(api_key={SECRET!r}),
        ]


        async def test_assertion_diff(nexus_client):
            assert (await nexus_client.get("/key")).json() == {{"key": "something else"}}


        async def test_exception_message(nexus_client):
            await nexus_client.get("/fail")


        def test_a_later_test_without_a_host():
            logging.getLogger("elsewhere").warning("later: %s", {SECRET!r})
            print("later:", {SECRET!r})
            assert False, {SECRET!r}
        """
    )
    junit = pytester.path / "junit.xml"
    result = run(pytester, "-rA", "-W", "always", f"--junitxml={junit}")
    result.assert_outcomes(failed=3, warnings=2)  # the DeprecationWarning, once per host
    fnmatch_each(
        result,
        {
            "the assertion's E-lines": ["E       AssertionError: assert {'key': '***...***'} == *"],
            "the exception's E-line": ["E       RuntimeError: refused key ***"],
            "captured stdout": ["*- Captured stdout setup -*", "stdout: using key ***"],
            "captured stderr (a logger that does not propagate)": [
                "*- Captured stderr setup -*",
                "stderr: using key ***",
                "quiet logger: key ***",
            ],
            "captured log of a later test": [
                "*- Captured log call -*",
                "WARNING  elsewhere:test_channels.py:* later: ***",
            ],
            "the warnings summary": ["*DeprecationWarning: deprecated key ***"],
            "the short summary": ["FAILED test_channels.py::test_a_later_test_without_a_host - *"],
        },
    )
    for text in (result.stdout.str(), result.stderr.str(), junit.read_text()):
        assert SECRET not in text
        # Nor the start or end of a repr that cut it short.
        assert "TOPSECRET" not in text


def test_config_secrets_finds_every_channel_and_says_which_keys_it_could_not_probe(
    corpus: Path, tmp_path: Path
) -> None:
    import json
    import subprocess

    process = subprocess.run(
        [sys.executable, "-m", "nexus_testkit", "check", str(corpus / "secret_rules"), "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    assert process.returncode == 1, process.stderr
    [plugin] = json.loads(process.stdout)["plugins"]
    result = {r["check"]: r for r in plugin["results"]}["config.secrets"]
    assert result["outcome"] == "failed"
    message = result["message"]
    # Probe values within a pattern, integer bounds and a length limit.
    assert message.startswith("values of secret keys (token, pin, code) appeared in:")
    site = f"{corpus / 'secret_rules' / 'plugin.py'}:"
    for line in (
        f"print (stdout): token *** at {site}{line_of('secret_rules', 'print(f')}",
        f"warnings.warn: pin *** at {site}{line_of('secret_rules', 'warnings.warn(')}",
        "(a logger that does not propagate): code *** at "
        f"{site}{line_of('secret_rules', 'quiet.warning(')}",
        "exception message (GET /api/plugins/secret_rules/fail): RuntimeError: refused token ***",
    ):
        assert line in message, line
    assert message.endswith(
        "no distinctive value fits the rules of the secret key(s) region (an enum, a boolean or "
        "bounds too narrow for 8 characters): their leaks could not be looked for"
    )
    assert "nexus-secret-" not in process.stdout
