"""What a plugin author reads: tracebacks without harness frames, the contract's
summary line, folded messages, async tests under strict mode, quiet platform
warnings.  Pinned through pytester, as users meet them."""

from __future__ import annotations

import shutil
import textwrap

import pytest

from nexus_testkit.contract._checks import CHECKS, ECOSYSTEM_CHECKS
from nexus_testkit.contract._runner import _bullets

from ._helpers import EXAMPLES, MINIMAL_PLUGIN, needs_platform, write_plugin

#: Checks of a plugin that passes all but the one skipped (and the one failed or warned).
ALL = len(CHECKS)
ECO = len(ECOSYSTEM_CHECKS)

REPO_CONTRACT = EXAMPLES.parent.parent / "tests" / "contract_plugins"

#: No asyncio_mode: pytest-asyncio's default, strict.  The loop scope line only
#: silences pytest-asyncio's own warning about it being unset.
INI = """
[pytest]
asyncio_default_fixture_loop_scope = function
"""
INI_ERROR = INI + "filterwarnings = error\n"

#: A loaded machine (2 cores, other suites running) can block a start for 0.2 s.
NO_TIMING = "--nexus-skip=robustness.blocking=timing depends on the machine's load"

#: Any frame of ours, as pytest prints it (``path:line: in name`` or ``File "path"``).
HARNESS_FRAMES = ("*nexus_testkit/*.py:*", "*pytest_nexus/*.py:*")
WEB_FRAMES = (
    "*starlette/*",
    "*httpx/*",
    "*fastapi/*",
    "*anyio/*",
    "*asyncio/*",
    "*pytest_asyncio/*",
)

#: initialize() fails when the config says so; a route raises on purpose.
PLUGIN = MINIMAL_PLUGIN.replace(
    """    async def initialize(self):
        self.initialized = True
        return True""",
    """    async def initialize(self):
        if self.config.get("refuse"):
            return False
        self.initialized = True
        return True""",
).replace(
    """        @router.get("/ping")
        async def ping():
            return {"pong": True}""",
    """        @router.get("/ping")
        async def ping():
            return {"pong": True}

        @router.get("/boom")
        async def boom():
            raise RuntimeError("the route broke")  # the plugin's line""",
)


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INI)
    write_plugin(pytester.path / "plugins", "mini", PLUGIN)
    return pytester


def _copy(pytester: pytest.Pytester, plugin: str) -> str:
    """A plugin of the examples or the contract corpus, copied into the test's
    directory (a path outside it would make the repository pytest's rootdir)."""
    source = EXAMPLES / plugin if (EXAMPLES / plugin).is_dir() else REPO_CONTRACT / plugin
    shutil.copytree(source, pytester.path / plugin, ignore=shutil.ignore_patterns("tests"))
    return plugin


def _no_harness_frames(result: pytest.RunResult) -> None:
    for pattern in HARNESS_FRAMES:
        result.stdout.no_fnmatch_line(pattern)


# ---------------------------------------------------------------------------- tracebacks


def test_a_failure_in_the_test_body_shows_the_tests_line_only(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_it="""
        import pytest

        @pytest.mark.nexus_plugin("plugins/mini")
        async def test_start(nexus_host_factory):
            async with nexus_host_factory(config={"refuse": True}):
                pass
        """
    )
    result = project.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            '>       async with nexus_host_factory(config={"refuse": True}):',
            "E       nexus_testkit.PluginStartError: */plugin.py: initialize() returned False*",
            "test_it.py:5: PluginStartError",
        ]
    )
    _no_harness_frames(result)


def test_a_setup_error_in_a_users_fixture_shows_the_fixtures_line(
    project: pytest.Pytester,
) -> None:
    project.makeconftest(
        """
        import pytest_asyncio

        @pytest_asyncio.fixture
        async def refused(nexus_host_factory):
            async with nexus_host_factory(config={"refuse": True}) as host:
                yield host
        """
    )
    project.makepyfile(
        test_it="""
        import pytest

        @pytest.mark.nexus_plugin("plugins/mini")
        async def test_uses(refused):
            pass
        """
    )
    result = project.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_uses*",
            "E       nexus_testkit.PluginStartError: */plugin.py: initialize() returned False*",
            "conftest.py:5: PluginStartError",
        ]
    )
    _no_harness_frames(result)


def test_a_teardown_warning_raised_as_an_error_is_its_message(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI_ERROR)
    leaky = MINIMAL_PLUGIN.replace(
        "        self.initialized = True\n        return True",
        "        self.initialized = True\n"
        "        self.event_bus.subscribe('user.created', self.on_user)\n"
        "        return True\n\n"
        "    def on_user(self, event):\n"
        "        pass",
        1,
    )
    write_plugin(pytester.path / "plugins", "mini", leaky)
    pytester.makepyfile(
        test_it="""
        import pytest

        @pytest.mark.nexus_plugin("plugins/mini")
        async def test_ping(nexus_client):
            assert (await nexus_client.get("/ping")).status_code == 200
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_ping*",
            "nexus_testkit.NexusLeftoverWarning: Plugin 'mini' left these behind after shutdown():",
            "- handler still subscribed to 'user.created': *on_user*",
            "(a warning raised as an error by a warnings filter: *)",
            "ERROR test_it.py::test_ping - nexus_testkit.NexusLeftoverWarning*",
        ]
    )
    _no_harness_frames(result)
    result.stdout.no_fnmatch_line("*def *")  # no source of ours


@needs_platform  # its plugins import nexus.plugins
def test_a_contract_warning_under_filterwarnings_error_is_its_message(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini(INI_ERROR)
    result = pytester.runpytest(f"--nexus-plugin={_copy(pytester, 'handler_fragile')}", NO_TIMING)
    result.assert_outcomes(passed=ALL - 2, failed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "*_ nexus contract handler_fragile: events.handlers_robust _*",
            "pytest_nexus.NexusContractWarning: handler_fragile events.handlers_robust: "
            "- (x*) GoodPlugin._on_user_created (*/plugin.py:*) on 'user.created' with data {} "
            "raised KeyError: 'username'",
            "Fix: *",
            "(a warning raised as an error by a warnings filter: *)",
        ]
    )
    _no_harness_frames(result)
    assert len(result.stdout.lines) < 40  # was ~700 lines of harness source


def test_hypothesis_failures_show_the_tests_frames_only(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_it="""
        import pytest
        from hypothesis import given, settings, strategies as st

        @pytest.mark.nexus_plugin("plugins/mini")
        @settings(max_examples=5, deadline=None, database=None)
        @given(st.booleans())
        async def test_prop(nexus_host_factory, refuse):
            async with nexus_host_factory(config={"refuse": refuse}):
                pass
        """
    )
    result = project.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            '>       async with nexus_host_factory(config={"refuse": refuse}):',
            "E       nexus_testkit.PluginStartError: */plugin.py: initialize() returned False*",
            "E       Failing test case: test_prop(*",
            "test_it.py:8: PluginStartError",
        ]
    )
    _no_harness_frames(result)
    for pattern in WEB_FRAMES:
        result.stdout.no_fnmatch_line(pattern)


def test_hypothesis_explanations_name_no_harness_line(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(
        test_it="""
        from hypothesis import given, settings, strategies as st
        from nexus_testkit import ManifestError, load_manifest

        @settings(database=None)
        @given(st.integers(0, 20))
        def test_prop(tmp_path_factory, n):
            directory = tmp_path_factory.mktemp("p")
            (directory / "manifest.json").write_text("{}" if n > 10 else '{"name": "x"}')
            try:
                load_manifest(directory)
            except ManifestError:
                raise ValueError("refused")  # the test's own line
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["E * ValueError: refused", "E * Failing test case: *"])
    _no_harness_frames(result)
    result.stdout.no_fnmatch_line("*Explanation:*")  # its every line was ours
    # --fulltrace shows what was cut.
    full = pytester.runpytest("-p", "no:cacheprovider", "--fulltrace")
    full.stdout.fnmatch_lines(["E * Explanation:", "E * */nexus_testkit/*.py:*"])


def test_a_route_exception_is_shown_from_the_plugins_line(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_it="""
        import pytest

        @pytest.mark.nexus_plugin("plugins/mini")
        @pytest.mark.nexus_host(raise_app_exceptions=True)
        async def test_boom(nexus_client):
            await nexus_client.get("/boom")
        """
    )
    result = project.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            '>       await nexus_client.get("/boom")',
            "test_it.py:6: ",
            "*async def boom():",
            '>*raise RuntimeError("the route broke")  # the plugin\'s line',
            "E*RuntimeError: the route broke",
            "plugins/mini/plugin.py:*: RuntimeError",
        ]
    )
    _no_harness_frames(result)
    for pattern in WEB_FRAMES:
        result.stdout.no_fnmatch_line(pattern)

    # --fulltrace shows every frame, as it does pytest's own.
    full = project.runpytest("--fulltrace")
    full.stdout.fnmatch_lines(["*httpx/*", "*starlette/*"])


def test_a_failure_inside_httpx_itself_keeps_its_frames(pytester: pytest.Pytester) -> None:
    # Framework frames are cut only between the test and the user's code.
    pytester.makeini(INI)
    pytester.makepyfile(
        test_it="""
        import httpx

        def test_bad_url():
            httpx.Client().get("ftp://example.com/")
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*httpx/*"])


# ---------------------------------------------------------------------------- contract summary


@needs_platform  # its plugins import nexus.plugins
def test_a_contract_run_ends_with_one_line_per_plugin(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    result = pytester.runpytest(
        *(
            f"--nexus-plugin={_copy(pytester, p)}"
            for p in ("my_awesome_plugin", "handler_fragile", "secret_in_log")
        ),
        NO_TIMING,
        # The outer run's filterwarnings = error reaches into inline runs.
        "-W",
        "always::UserWarning",
    )
    # Three plugins: each checked alone as before, then the checks over the set.
    result.assert_outcomes(passed=3 * ALL - 4 + ECO, failed=1, skipped=3)
    result.stdout.fnmatch_lines(
        [
            f"nexus contract my_awesome_plugin: {ALL - 1} passed, 1 skipped",
            f"nexus contract handler_fragile: {ALL - 2} passed, 1 warning "
            "(events.handlers_robust), 1 skipped",
            f"nexus contract secret_in_log: {ALL - 2} passed, 1 failed (config.secrets), 1 skipped",
            f"nexus ecosystem my_awesome_plugin + handler_fragile + secret_in_log: {ECO - 1} "
            "passed, 1 warning (ecosystem.events)",
            f"*= 1 failed, {3 * ALL - 4 + ECO} passed, 3 skipped, * in *",
        ]
    )


@needs_platform  # its plugins import nexus.plugins
def test_the_summary_line_adds_up_under_xdist(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    result = pytester.runpytest(
        f"--nexus-plugin={_copy(pytester, 'handler_fragile')}",
        NO_TIMING,
        "-W",
        "always::UserWarning",
        "-p",
        "xdist",
        "-n",
        "2",
    )
    result.assert_outcomes(passed=ALL - 1, skipped=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            f"nexus contract handler_fragile: {ALL - 2} passed, 1 warning "
            "(events.handlers_robust), 1 skipped"
        ]
    )


def test_no_summary_line_without_a_contract(project: pytest.Pytester) -> None:
    project.makepyfile(test_it="def test_nothing():\n    pass\n")
    result = project.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("nexus contract*")


# ---------------------------------------------------------------------------- folding


def test_identical_lines_are_folded_with_a_count() -> None:
    assert _bullets(["b", "a", "b", "c", "b"]) == "- (x3) b\n- a\n- c"
    assert _bullets(["a"]) == "- a"


@needs_platform  # its plugins import nexus.plugins
def test_a_secret_logged_at_every_start_is_one_line_with_its_site(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini(INI)
    result = pytester.runpytest(f"--nexus-plugin={_copy(pytester, 'secret_in_log')}", NO_TIMING)
    result.assert_outcomes(passed=ALL - 2, failed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "values of secret keys (api_key) appeared in:",
            "- (x*) log record DEBUG nexus.plugins.testing.secret_in_log: connecting with "
            "api_key=*** at *secret_in_log/plugin.py:32",
            "Fix: *",
        ]
    )
    assert result.stdout.str().count("connecting with api_key") == 1


# ---------------------------------------------------------------------------- asyncio


ASYNC_TESTS = """
import pytest
import pytest_asyncio

pytestmark = pytest.mark.nexus_plugin("plugins/mini")


@pytest_asyncio.fixture
async def pong(nexus_client):
    return (await nexus_client.get("/ping")).json()


async def test_client(nexus_client):
    assert (await nexus_client.get("/ping")).json() == {"pong": True}


async def test_through_a_users_fixture(pong):
    assert pong == {"pong": True}


@pytest.mark.asyncio(loop_scope="module")
async def test_own_marker_is_kept(nexus_client, request):
    assert request.node.get_closest_marker("asyncio").kwargs == {"loop_scope": "module"}


class TestInAClass:
    async def test_method(self, nexus_host):
        assert nexus_host.plugin.initialized
"""


def test_async_nexus_tests_run_in_strict_mode_without_configuration(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(test_it=ASYNC_TESTS)
    result = project.runpytest("-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["asyncio: mode=*STRICT*"])


def test_async_tests_without_a_nexus_fixture_are_left_alone(project: pytest.Pytester) -> None:
    project.makepyfile(test_it="async def test_plain():\n    pass\n")
    result = project.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*async def functions are not natively supported*"])


def test_async_nexus_tests_in_auto_mode(project: pytest.Pytester) -> None:
    project.makepyfile(test_it=ASYNC_TESTS)
    project.runpytest("-o", "asyncio_mode=auto").assert_outcomes(passed=4)


def test_nexus_asyncio_false_opts_out(project: pytest.Pytester) -> None:
    project.makepyfile(test_it=ASYNC_TESTS)
    result = project.runpytest("-o", "nexus_asyncio=false")
    result.assert_outcomes(passed=1, failed=3)  # only the test marked by its author runs
    result.stdout.fnmatch_lines(["*async def functions are not natively supported*"])


# ---------------------------------------------------------------------------- platform warnings


AUTHOR_MODULE = """
import warnings

import pytest
from nexus.plugins import BasePlugin  # the platform's own import warnings fire here

pytestmark = pytest.mark.nexus_plugin("my_awesome_plugin")


async def test_client(nexus_client):
    assert issubclass(type(await nexus_client.get("/status")), object)


def test_base_plugin():
    assert BasePlugin
"""


@pytest.fixture
def platform_project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INI)
    _copy(pytester, "my_awesome_plugin")
    return pytester


@needs_platform
@pytest.mark.parametrize("first_import", ["test module", "conftest"])
def test_minus_w_error_passes_with_the_platform_imported(
    platform_project: pytest.Pytester, first_import: str
) -> None:
    # A subprocess: in this process nexus is imported already, and warns no more.
    if first_import == "conftest":
        platform_project.makeconftest("import nexus.plugins\n")
    platform_project.makepyfile(test_it=AUTHOR_MODULE)
    result = platform_project.runpytest_subprocess("-W", "error", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    result.stdout.no_fnmatch_line("*Warning*")


@needs_platform
def test_an_authors_own_deprecation_still_fails_under_minus_w_error(
    platform_project: pytest.Pytester,
) -> None:
    platform_project.makepyfile(
        test_it=AUTHOR_MODULE
        + textwrap.dedent(
            """

            def test_own_deprecation():
                warnings.warn("old API", DeprecationWarning)
            """
        )
    )
    result = platform_project.runpytest_subprocess("-W", "error", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["E       DeprecationWarning: old API"])


@needs_platform
def test_the_platform_warnings_can_be_shown(platform_project: pytest.Pytester) -> None:
    platform_project.makepyfile(test_it=AUTHOR_MODULE)
    result = platform_project.runpytest_subprocess(
        "-W", "error", "-p", "no:cacheprovider", "-o", "nexus_platform_warnings=show"
    )
    result.stdout.fnmatch_lines(["*PydanticDeprecatedSince20*"])
    assert result.ret != 0
