"""The contract under pytest: --nexus-plugin items, selection, reports, options."""

from __future__ import annotations

import textwrap

import pytest

from nexus_testkit.contract._checks import CHECKS, ECOSYSTEM_CHECKS

from ._helpers import EXAMPLES, MINIMAL_PLUGIN, minimal_manifest, needs_platform, write_plugin

INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
filterwarnings =
    ignore::DeprecationWarning
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INI)
    return pytester


def _leaky_plugin(root):
    source = MINIMAL_PLUGIN.replace(
        "        self.initialized = True\n",
        "        import asyncio\n"
        # A day: a task that sleeps an hour ends within the contract's simulated hour.
        "        self.poller = asyncio.create_task(asyncio.sleep(86400), name='poller')\n"
        "        self.initialized = True\n",
    )
    return write_plugin(
        root / "plugins", "leaky", source=source, manifest=minimal_manifest("leaky")
    )


@needs_platform
def test_good_plugin_gives_one_passing_item_per_check(project: pytest.Pytester) -> None:
    result = project.runpytest(
        f"--nexus-plugin={EXAMPLES / 'my_awesome_plugin'}", "-q", "-p", "no:randomly"
    )
    result.assert_outcomes(passed=len(CHECKS))


def test_items_are_named_by_plugin_and_check(project: pytest.Pytester) -> None:
    write_plugin(project.path / "plugins", "mini")
    result = project.runpytest("--nexus-plugin=plugins/mini", "--collect-only", "-q")
    result.stdout.fnmatch_lines(
        [f"plugins/mini/manifest.json::{check.id}" for check in CHECKS], consecutive=True
    )


def test_failure_message_says_what_where_and_how_to_fix(project: pytest.Pytester) -> None:
    _leaky_plugin(project.path)
    result = project.runpytest("--nexus-plugin=plugins/leaky", "-k", "lifecycle.tasks")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ nexus contract leaky: lifecycle.tasks _*",
            "leaky lifecycle.tasks (error): No asyncio task the plugin started is still pending after shutdown().",
            "tasks still pending after shutdown():",
            "- poller running sleep() created at *plugins/leaky/plugin.py:* in initialize",
            "Fix: Keep a reference to each task you create, cancel and await it in shutdown().",
        ],
        consecutive=True,
    )
    result.stdout.no_fnmatch_line("*Traceback*")
    # The short summary says what failed, not just which item.
    result.stdout.fnmatch_lines(
        ["FAILED plugins/leaky/manifest.json::lifecycle.tasks - leaky lifecycle.tasks (*"]
    )


def test_k_selects_a_plugin_and_an_area(project: pytest.Pytester) -> None:
    write_plugin(project.path / "plugins", "mini")
    _leaky_plugin(project.path)
    result = project.runpytest(
        "--nexus-plugin=plugins/mini",
        "--nexus-plugin=plugins/leaky",
        "-k",
        "leaky and lifecycle",
        "--collect-only",
        "-q",
    )
    lifecycle = [c for c in CHECKS if c.area == "lifecycle"]
    total = 2 * len(CHECKS) + len(ECOSYSTEM_CHECKS)
    result.stdout.fnmatch_lines(
        [f"plugins/leaky/manifest.json::{c.id}" for c in lifecycle]
        + [
            "",
            # Two plugins: their checks, and those over the pair (ecosystem.*).
            f"{len(lifecycle)}/{total} tests collected ({total - len(lifecycle)} deselected)*",
        ],
        consecutive=True,
    )


def test_junitxml_lists_the_checks(project: pytest.Pytester) -> None:
    _leaky_plugin(project.path)
    project.runpytest("--nexus-plugin=plugins/leaky", "--junitxml=report.xml", "-k", "lifecycle")
    xml = (project.path / "report.xml").read_text()
    assert 'name="lifecycle.tasks"' in xml
    assert "tasks still pending after shutdown()" in xml


def test_warnings_show_and_strict_makes_them_fail(project: pytest.Pytester) -> None:
    source = MINIMAL_PLUGIN.replace("router = APIRouter()", 'router = APIRouter(prefix="/v1")')
    write_plugin(project.path / "plugins", "mini", source=source)
    result = project.runpytest(
        "--nexus-plugin=plugins/mini", "-k", "routes.prefix", "-W", "always::UserWarning"
    )
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        ["*NexusContractWarning: mini routes.prefix: routers with a prefix of their own ('/v1')*"]
    )
    strict = project.runpytest(
        "--nexus-plugin=plugins/mini", "-k", "routes.prefix", "--nexus-strict"
    )
    strict.assert_outcomes(failed=1)


def test_skips_need_a_reason_and_are_listed(project: pytest.Pytester) -> None:
    write_plugin(project.path / "plugins", "mini")
    result = project.runpytest(
        "--nexus-plugin=plugins/mini",
        "--nexus-skip=routes.get_ok=needs an auth token",
        "-k",
        "routes.get_ok",
        "-rs",
    )
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(
        ["SKIPPED [[]1] *: mini routes.get_ok: skipped by the user: needs an auth token"]
    )


def test_ini_skips_and_plugin_globs(project: pytest.Pytester) -> None:
    project.makeini(
        INI + "nexus_plugins = plugins/*\nnexus_skip =\n    routes.get_ok=flaky upstream\n"
    )
    write_plugin(project.path / "plugins", "one", manifest=minimal_manifest("one"))
    write_plugin(project.path / "plugins", "two", manifest=minimal_manifest("two"))
    result = project.runpytest("-k", "routes.get_ok", "-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*one routes.get_ok: skipped by the user: flaky upstream*"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--nexus-plugin=plugins/nope"], "ERROR: --nexus-plugin=plugins/nope: no such directory"),
        (
            ["--nexus-plugin=plugins/mini/plugin.py"],
            "ERROR: --nexus-plugin=plugins/mini/plugin.py: is a file; expected a plugin directory",
        ),
        (
            ["--nexus-plugin=plugins"],
            "ERROR: --nexus-plugin=plugins: not a plugin directory (it holds neither manifest.json nor plugin.py)",
        ),
        (
            ["--nexus-skip=routes.get_ok"],
            "ERROR: --nexus-skip: 'routes.get_ok' is not a valid skip. Valid form: [[]PLUGIN:]CHECK_ID=REASON (a reason is required, so that the opt-out shows in every report).",
        ),
        (
            ["--nexus-skip=routes.get=flaky"],
            "ERROR: 'routes.get' is not a contract check. Valid checks: manifest.exists, *",
        ),
        (
            ["--nexus-examples=lots"],
            "ERROR: --nexus-examples: 'lots' is not a valid number of examples. Valid values: a whole number from 1.",
        ),
    ],
)
def test_usage_errors_name_the_value(
    project: pytest.Pytester, args: list[str], message: str
) -> None:
    write_plugin(project.path / "plugins", "mini")
    result = project.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    result.stdout.no_fnmatch_line("*INTERNALERROR*")


def test_broken_manifest_is_a_contract_failure_not_a_crash(project: pytest.Pytester) -> None:
    plugin = write_plugin(project.path / "plugins", "mini")
    (plugin / "manifest.json").write_text('{"name": "mini",\n "version": }')
    result = project.runpytest("--nexus-plugin=plugins/mini", "-rs")
    outcomes = result.parseoutcomes()
    assert outcomes["failed"] == 1
    result.stdout.fnmatch_lines(
        ["*plugins/mini/manifest.json: line 2, column 13: invalid JSON: Expecting value"]
    )
    result.stdout.no_fnmatch_line("*INTERNALERROR*")


def test_hanging_plugin_costs_one_timeout(project: pytest.Pytester) -> None:
    source = MINIMAL_PLUGIN.replace(
        "        self.initialized = True\n        return True",
        "        import asyncio\n        await asyncio.Event().wait()",
    )
    write_plugin(project.path / "plugins", "mini", source=source)
    result = project.runpytest(
        "--nexus-plugin=plugins/mini", "--nexus-timeout=0.1", "-rs", "-k", "lifecycle"
    )
    result.assert_outcomes(failed=1, passed=2, skipped=6)  # lifecycle.threads judges the import
    result.stdout.fnmatch_lines(
        [
            "*initialize() timed out: * did not finish within 0.1 s; it was waiting at *plugins/mini/plugin.py:* in initialize",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "SKIPPED [[]1] *: mini lifecycle.shutdown: the plugin did not start (lifecycle.initialize failed)"
        ]
    )


def test_contract_and_author_tests_in_one_run(project: pytest.Pytester) -> None:
    plugin = write_plugin(project.path / "plugins", "mini")
    (plugin / "tests").mkdir()
    (plugin / "tests" / "test_mini.py").write_text(
        textwrap.dedent(
            """
            async def test_ping(nexus_client):
                assert (await nexus_client.get("/ping")).json() == {"pong": True}
            """
        )
    )
    result = project.runpytest(
        "--nexus-plugin=plugins/mini", "plugins/mini/tests", "-k", "ping or lifecycle", "-rf"
    )
    result.assert_outcomes(passed=1 + sum(c.area == "lifecycle" for c in CHECKS))


def test_contract_tests_helper_in_a_test_module(project: pytest.Pytester) -> None:
    write_plugin(project.path / "plugins", "mini")
    project.makepyfile(
        test_contract="""
        from pytest_nexus import contract_tests

        TestMini = contract_tests("plugins/mini", skip={"routes.get_ok": "covered elsewhere"})
        """
    )
    result = project.runpytest("-q", "-rs")
    outcomes = result.parseoutcomes()
    assert outcomes["skipped"] >= 1
    assert sum(outcomes.get(k, 0) for k in ("passed", "failed", "skipped")) == len(CHECKS)
    result.stdout.fnmatch_lines(
        ["SKIPPED [[]1] *: mini routes.get_ok: skipped by the user: covered elsewhere"]
    )


# ------------------------------------------------------------------ time, the network, logged errors

_JOB_PLUGIN = MINIMAL_PLUGIN.replace(
    "        self.initialized = True\n        return True\n",
    "        import asyncio\n"
    "        self.job = asyncio.create_task(self.sync(), name='sync-job')\n"
    "        self.initialized = True\n"
    "        return True\n",
).replace(
    "    async def shutdown(self):\n        self.initialized = False\n",
    "    async def shutdown(self):\n"
    "        self.job.cancel()\n"
    "        self.initialized = False\n"
    "\n"
    "    async def sync(self):\n"
    "        import asyncio\n"
    "        runs = 0\n"
    "        while True:\n"
    "            await asyncio.sleep(300)\n"
    "            runs += 1\n"
    "            if runs == 2:\n"
    "                raise ConnectionError('upstream gone')\n",
)


def test_a_crashing_periodic_job_fails_lifecycle_background(project: pytest.Pytester) -> None:
    write_plugin(project.path / "plugins", "mini", source=_JOB_PLUGIN)
    result = project.runpytest("--nexus-plugin=plugins/mini", "-k", "lifecycle.background")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ nexus contract mini: lifecycle.background _*",
            "mini lifecycle.background (error): Once started under the default configuration,*",
            "*plugins/mini/plugin.py: in 3600 s of simulated time after initialize(), "
            "background tasks failed:",
            "- sync-job running MiniPlugin.sync() created at *plugins/mini/plugin.py:* in "
            "initialize crashed with ConnectionError: upstream gone at "
            "*plugins/mini/plugin.py:* in sync",
            "Fix: Catch and handle the error inside the task's loop*",
        ],
        consecutive=True,
    )
    result.stdout.no_fnmatch_line("*Traceback*")


def test_no_simulated_time_skips_lifecycle_background(project: pytest.Pytester) -> None:
    write_plugin(project.path / "plugins", "mini", source=_JOB_PLUGIN)
    result = project.runpytest(
        "--nexus-plugin=plugins/mini", "--nexus-simulate=0", "-k", "lifecycle.background", "-rs"
    )
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(
        ["SKIPPED * mini lifecycle.background: no simulated time in this run (simulate=0)"]
    )
    # The ini key says the same; a job that crashes after 300 s passes a 200 s run.
    project.makeini(INI + "nexus_simulate = 200\n")
    result = project.runpytest("--nexus-plugin=plugins/mini", "-k", "lifecycle.background")
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--nexus-simulate=soon"],
            "ERROR: --nexus-simulate: 'soon' is not a valid simulated time. Valid values: a "
            "number of seconds from 0 (0: no simulated time).",
        ),
        (
            ["--nexus-simulate=-1"],
            "ERROR: --nexus-simulate: '-1' is not a valid simulated time.*",
        ),
    ],
)
def test_a_bad_simulated_time_is_a_usage_error(
    project: pytest.Pytester, args: list[str], message: str
) -> None:
    write_plugin(project.path / "plugins", "mini")
    result = project.runpytest("--nexus-plugin=plugins/mini", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_a_logged_exception_warns_robustness_swallowed_errors(project: pytest.Pytester) -> None:
    source = MINIMAL_PLUGIN.replace(
        "        self.initialized = True\n        return True\n",
        "        import logging\n"
        "        try:\n"
        "            {}['cache']\n"
        "        except KeyError:\n"
        "            logging.getLogger('mini.cache').exception('no cache, starting empty')\n"
        "        self.initialized = True\n"
        "        return True\n",
    )
    write_plugin(project.path / "plugins", "mini", source=source)
    result = project.runpytest(
        "--nexus-plugin=plugins/mini", "-k", "robustness.swallowed_errors", "--nexus-strict"
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "mini robustness.swallowed_errors (warning): No exception is only logged*",
            "exceptions were logged or swallowed instead of raised:",
            "- (x*) mini.cache: no cache, starting empty: KeyError: 'cache' at "
            "*plugins/mini/plugin.py:* in initialize",
            "Fix: Let the exception raise where the caller can see it*",
        ],
        consecutive=True,
    )


def test_an_http_request_without_the_permission_fails_permissions_declared(
    project: pytest.Pytester,
) -> None:
    source = MINIMAL_PLUGIN.replace(
        "        self.initialized = True\n        return True\n",
        "        import httpx\n"
        "        try:\n"
        "            async with httpx.AsyncClient() as client:\n"
        "                await client.get('https://billing.example.com/v2/ping')\n"
        "        except Exception:\n"
        "            pass\n"
        "        self.initialized = True\n"
        "        return True\n",
    )
    write_plugin(project.path / "plugins", "mini", source=source)
    result = project.runpytest("--nexus-plugin=plugins/mini", "-k", "permissions.declared")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*plugins/mini/manifest.json: permissions missing for what the plugin did:",
            "- (x*) network.http: the plugin reached out to 'billing.example.com':443 (httpx, "
            "refused) at *plugins/mini/plugin.py:* in initialize",
            "Fix: Add the missing permission to the manifest's permissions list.",
        ],
        consecutive=True,
    )
    # Declared, the refusal is a note: the check passes.
    write_plugin(
        project.path / "plugins",
        "mini",
        source=source,
        manifest=minimal_manifest(permissions=["network.http"]),
    )
    result = project.runpytest("--nexus-plugin=plugins/mini", "-k", "permissions.declared")
    result.assert_outcomes(passed=1)
