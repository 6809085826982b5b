"""The pytest plugin as users meet it, run through pytester with output pinned."""

from __future__ import annotations

import json
import textwrap

import pytest

from nexus_testkit.contract._checks import CHECKS

from ._helpers import EXAMPLES, MINIMAL_PLUGIN, minimal_manifest, needs_platform, write_plugin

INI_AUTO = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
"""
INI_STRICT = INI_AUTO.replace("auto", "strict")


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A user project: plugins/mini with the minimal plugin, auto mode."""
    pytester.makeini(INI_AUTO)
    write_plugin(pytester.path / "plugins", "mini")
    return pytester


def test_client_fixture_reaches_the_plugin_in_auto_mode(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_it="""
        import pytest

        @pytest.mark.nexus_plugin("plugins/mini")
        async def test_ping(nexus_client):
            r = await nexus_client.get("/ping")
            assert r.json() == {"pong": True}
        """
    )
    project.runpytest().assert_outcomes(passed=1)


def test_fixtures_work_in_strict_mode(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI_STRICT)
    write_plugin(pytester.path / "plugins", "mini")
    pytester.makepyfile(
        test_it="""
        import pytest

        @pytest.mark.asyncio
        @pytest.mark.nexus_plugin("plugins/mini")
        async def test_ping(nexus_client, nexus_plugin, nexus_app):
            assert (await nexus_client.get("/ping")).status_code == 200
            assert nexus_plugin.initialized
            assert "/api/plugins/mini/ping" in nexus_app.openapi()["paths"]
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_plugin_found_from_the_nearest_manifest(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI_AUTO)
    plugin = write_plugin(pytester.path / "plugins", "mini")
    (plugin / "tests").mkdir()
    (plugin / "tests" / "test_own.py").write_text(
        textwrap.dedent(
            """
            def test_path(nexus_plugin_path, nexus_manifest):
                assert nexus_plugin_path.name == "mini"
                assert nexus_manifest.name == "mini"
            """
        )
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_plugin_from_the_command_line(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_it="def test_path(nexus_manifest):\n    assert nexus_manifest.name == 'mini'\n"
    )
    result = project.runpytest("--nexus-plugin=plugins/mini", "test_it.py", "-rf")
    result.assert_outcomes(passed=1 + len(CHECKS))  # the contract runs too


def test_no_plugin_found_says_how_to_name_one(project: pytest.Pytester) -> None:
    project.makepyfile(test_it="def test_path(nexus_manifest):\n    pass\n")
    result = project.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "No Nexus plugin to test for test_it.py::test_path: mark the test with "
            '@pytest.mark.nexus_plugin("path/to/plugin"), put it under a plugin directory '
            "(one holding manifest.json), or pass --nexus-plugin=DIR.",
        ]
    )
    result.stdout.no_fnmatch_line("*INTERNALERROR*")


def test_marker_path_that_does_not_exist(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_it="""
        import pytest

        @pytest.mark.nexus_plugin("plugins/nope")
        def test_path(nexus_plugin_path):
            pass
        """
    )
    result = project.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["@pytest.mark.nexus_plugin('plugins/nope'): no such directory (tried *)"]
    )


def test_broken_manifest_names_file_line_and_column(project: pytest.Pytester) -> None:
    (project.path / "plugins" / "mini" / "manifest.json").write_text(
        '{\n  "name": "mini",\n  "version": 1.0.0\n}'
    )
    project.makepyfile(
        test_it="""
        import pytest

        @pytest.mark.nexus_plugin("plugins/mini")
        async def test_ping(nexus_client):
            pass
        """
    )
    result = project.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*/plugins/mini/manifest.json: line 3, column 17: invalid JSON: Expecting ',' delimiter"]
    )
    result.stdout.no_fnmatch_line("*INTERNALERROR*")
    result.stdout.no_fnmatch_line("*nexus_testkit/_manifest.py*")


def test_import_error_names_plugin_py_and_its_own_frame(project: pytest.Pytester) -> None:
    (project.path / "plugins" / "mini" / "plugin.py").write_text(
        "import json\nraise ImportError('no requests here')\n"
    )
    project.makepyfile(
        test_it="""
        import pytest

        @pytest.mark.nexus_plugin("plugins/mini")
        async def test_ping(nexus_client):
            pass
        """
    )
    result = project.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*/plugins/mini/plugin.py: import failed: ImportError: no requests here",
            '*File "*/plugins/mini/plugin.py", line 2, in <module>',
        ]
    )


def test_initialize_false_fails_with_the_plugins_log(project: pytest.Pytester) -> None:
    source = MINIMAL_PLUGIN.replace(
        "        self.initialized = True\n        return True",
        "        import logging\n"
        "        logging.getLogger(__name__).error('api_key is missing')\n"
        "        return False",
    )
    (project.path / "plugins" / "mini" / "plugin.py").write_text(source)
    project.makepyfile(
        test_it="""
        import pytest

        @pytest.mark.nexus_plugin("plugins/mini")
        async def test_ping(nexus_client):
            pass
        """
    )
    result = project.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*/plugins/mini/plugin.py: initialize() returned False; the platform only "
            "loads a plugin whose initialize() returns True",
            "Plugin log:",
            "  ERROR    _nexus_plugin_*_mini.plugin: api_key is missing",
        ],
        consecutive=True,
    )


def test_leaked_task_fails_the_test_at_teardown(project: pytest.Pytester) -> None:
    source = MINIMAL_PLUGIN.replace(
        "        self.initialized = True\n",
        "        import asyncio\n"
        "        self.poller = asyncio.create_task(asyncio.sleep(3600), name='poller')\n"
        "        self.initialized = True\n",
    )
    (project.path / "plugins" / "mini" / "plugin.py").write_text(source)
    project.makepyfile(
        test_it="""
        import pytest

        @pytest.mark.nexus_plugin("plugins/mini")
        async def test_ping(nexus_client):
            assert (await nexus_client.get("/ping")).status_code == 200
        """
    )
    result = project.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_ping*",
            "Plugin 'mini' (*plugins/mini) did not shut down cleanly:",
            "- task still pending after shutdown: poller running sleep() created at */plugins/mini/plugin.py:* in initialize",
            "",
            "Cancel and await background tasks in shutdown()*",
        ],
        consecutive=True,
    )


def test_handler_error_fails_at_teardown_unless_acknowledged(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_it="""
        import pytest

        pytestmark = pytest.mark.nexus_plugin("plugins/mini")

        def on_user(event):
            raise ValueError("bad payload " + repr(event.data))

        async def test_unacknowledged(nexus_host, nexus_event_bus):
            nexus_event_bus.subscribe("user.created", on_user)
            await nexus_event_bus.publish("user.created", {"id": 1})

        async def test_acknowledged(nexus_host, nexus_event_bus):
            nexus_event_bus.subscribe("user.created", on_user)
            await nexus_event_bus.publish("user.created", {"id": 1})
            nexus_event_bus.assert_handler_failed("user.created", ValueError)

        @pytest.mark.nexus_host(allow_handler_errors=True)
        async def test_allowed(nexus_host, nexus_event_bus):
            nexus_event_bus.subscribe("user.created", on_user)
            await nexus_event_bus.publish("user.created", {"id": 1})
        """
    )
    result = project.runpytest()
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(
        [
            "The following event handlers raised (the platform logs and skips them):",
            "- on_user (*test_it.py:*) on 'user.created' raised ValueError: bad payload {'id': 1}",
            "",
            "If this is on purpose, acknowledge it with event_bus.assert_handler_failed(event_name, "
            "ExceptionType) in the test, or allow it with @pytest.mark.nexus_host(allow_handler_errors=True).",
        ],
        consecutive=True,
    )


def test_assert_published_lists_what_was_published(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_it="""
        import pytest

        @pytest.mark.nexus_plugin("plugins/mini")
        async def test_events(nexus_host, nexus_event_bus):
            await nexus_event_bus.publish("a.one", {"n": 1}, source="test")
            await nexus_event_bus.publish("a.two", {"n": 2})
            nexus_event_bus.assert_published("a.one", data={"n": 2})
        """
    )
    result = project.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.no_fnmatch_line("*def assert_published*")
    result.stdout.fnmatch_lines(
        [
            "E       nexus_testkit.NexusAssertionError: Expected event 'a.one' with data matching "
            "{'n': 2} to be published at least once, but it was never published.",
            "E       Published events:",
            "E       - a.one {'n': 1} (source: test)",
            "E       - a.two {'n': 2} (source: None)",
        ],
        consecutive=True,
    )


def test_failing_test_report_keeps_what_was_recorded(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_it="""
        import pytest

        @pytest.mark.nexus_plugin("plugins/mini")
        async def test_fails(nexus_host, nexus_plugin):
            await nexus_plugin.db_adapter.set("plugin:mini:draft", {"title": "x"})
            await nexus_host.event_bus.publish("mini.saved", {"id": 3})
            assert False, "the plugin did something wrong"
        """
    )
    result = project.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- nexus: recorded by mini (call) -*",
            "Published events:",
            "- mini.saved {'id': 3} (source: None)",
            "",
            "Data store writes:",
            "- set 'plugin:mini:draft' = {'title': 'x'}",
        ],
        consecutive=True,
    )


def test_config_marker_overrides_and_removes(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI_AUTO)
    manifest = minimal_manifest(
        configuration={
            "api_key": {"type": "string", "required": True, "secret": True},
            "retries": {"type": "integer", "default": 3, "min": 1},
            "mode": {"type": "string", "enum": ["a", "b"], "default": "a"},
        }
    )
    write_plugin(pytester.path / "plugins", "mini", manifest=manifest)
    pytester.makepyfile(
        test_it="""
        import pytest

        pytestmark = [pytest.mark.nexus_plugin("plugins/mini"), pytest.mark.nexus_config(retries=5)]

        def test_defaults_and_placeholder(nexus_config):
            assert nexus_config == {"api_key": "test-api_key", "retries": 5, "mode": "a"}

        @pytest.mark.nexus_config(mode=None, retries=9)
        def test_none_removes(nexus_config):
            assert nexus_config == {"api_key": "test-api_key", "retries": 9}

        @pytest.mark.nexus_config(api_key=None)
        def test_required_removed_is_not_filled(nexus_config):
            assert "api_key" not in nexus_config

        async def test_plugin_receives_it(nexus_plugin, nexus_config_store):
            assert nexus_plugin.config == nexus_config_store.values
            assert "test-api_key" not in repr(nexus_config_store)

        async def test_factory_applies_config_over_marker(nexus_host_factory):
            async with nexus_host_factory(config={"mode": None}) as host:
                assert host.plugin.config == {"api_key": "test-api_key", "retries": 5}
        """
    )
    pytester.runpytest().assert_outcomes(passed=5)


def test_host_uses_the_component_fixtures_a_conftest_overrides(project: pytest.Pytester) -> None:
    # nexus_host builds what nobody asked for itself; an override anywhere on
    # the test's path (conftest, module, class, parametrize) must still win.
    project.makeconftest(
        """
        import pytest
        from nexus_testkit import RecordingDataStore

        @pytest.fixture
        def nexus_config(nexus_config):
            return {**nexus_config, "from_conftest": True}

        @pytest.fixture
        def nexus_data_store():
            store = RecordingDataStore()
            store.seed({"seeded": 1})
            return store
        """
    )
    project.makepyfile(
        test_it="""
        import pytest
        from nexus_testkit import RecordingEventBus

        pytestmark = pytest.mark.nexus_plugin("plugins/mini")

        async def test_conftest_overrides(nexus_plugin):
            assert nexus_plugin.config == {"from_conftest": True}
            assert await nexus_plugin.db_adapter.get("seeded") == 1

        @pytest.mark.parametrize("nexus_config", [{"param": 1}])
        async def test_parametrized(nexus_plugin):
            assert nexus_plugin.config == {"param": 1}

        @pytest.mark.parametrize(("n", "nexus_config"), [(1, {"n": 1}), (2, {"n": 2})])
        async def test_parametrized_with_others(nexus_plugin, n):
            assert nexus_plugin.config == {"n": n}

        class TestInClass:
            @pytest.fixture
            def nexus_event_bus(self):
                bus = RecordingEventBus()
                bus.marked = "class"
                return bus

            async def test_class_override(self, nexus_plugin):
                assert nexus_plugin.event_bus.marked == "class"

        async def test_same_objects_as_the_fixtures(
            nexus_plugin, nexus_event_bus, nexus_services, nexus_config_store, nexus_manifest
        ):
            assert nexus_plugin.event_bus is nexus_event_bus
            assert nexus_plugin.service_registry is nexus_services
            assert nexus_plugin.config == nexus_config_store.values
            assert nexus_manifest.name == "mini"
        """
    )
    project.runpytest().assert_outcomes(passed=6)


def test_a_client_test_sets_up_the_host_over_the_component_fixtures(
    project: pytest.Pytester,
) -> None:
    # No rewriting of pytest's fixture closure: nexus_client needs nexus_host,
    # which needs each component fixture, and pytest sets them up in order.
    project.makepyfile(
        test_it="""
        import pytest

        pytestmark = pytest.mark.nexus_plugin("plugins/mini")

        async def test_client(nexus_client):
            assert (await nexus_client.get("/ping")).status_code == 200

        async def test_bus_too(nexus_client, nexus_event_bus, nexus_host):
            assert nexus_host.event_bus is nexus_event_bus
            assert "standalone" not in repr(nexus_event_bus)
        """
    )
    result = project.runpytest("--setup-show", "-p", "no:randomly")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*SETUP    F nexus_plugin_path*",
            "*SETUP    F nexus_manifest*",
            "*SETUP    F nexus_config *",
            "*SETUP    F nexus_config_store*",
            "*SETUP    F nexus_event_bus*",
            "*SETUP    F nexus_data_store*",
            "*SETUP    F nexus_services*",
            "*SETUP    F nexus_host *",
            "*SETUP    F nexus_client*",
            "*test_client*",
            "*TEARDOWN F nexus_client*",
            "*TEARDOWN F nexus_host*",
        ]
    )


def test_host_and_client_in_one_test_share_one_host(project: pytest.Pytester) -> None:
    # Whichever is set up first starts the host and, torn down last, closes it:
    # a fixture over nexus_host still sees it running in its own teardown.
    project.makepyfile(
        test_it="""
        import pytest

        pytestmark = pytest.mark.nexus_plugin("plugins/mini")
        seen = []

        @pytest.fixture
        async def uses_host(nexus_host):
            yield nexus_host
            seen.append(nexus_host.closed)
            assert (await nexus_host.client.get("/ping")).status_code == 200

        async def test_host_first(nexus_host, nexus_client):
            assert nexus_client is nexus_host.client
            assert nexus_host.plugin.initialized

        async def test_client_first(nexus_client, nexus_host, nexus_plugin):
            assert nexus_client is nexus_host.client
            assert nexus_plugin is nexus_host.plugin

        async def test_fixture_over_host_then_client(uses_host, nexus_client):
            assert nexus_client is uses_host.client

        def test_host_open_in_fixture_teardown():
            assert seen == [False]
        """
    )
    project.runpytest("-p", "no:randomly").assert_outcomes(passed=4)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--nexus-timeout=soon"],
            "ERROR: --nexus-timeout: timeout='soon' is not valid. Valid values: a positive number of seconds.",
        ),
        (
            ["--nexus-timeout=0"],
            "ERROR: --nexus-timeout: timeout='0' is not valid. Valid values: a positive number of seconds.",
        ),
        (
            ["--nexus-fidelity=disk"],
            "ERROR: --nexus-fidelity: fidelity='disk' is not valid. Valid values: memory, sql.",
        ),
    ],
)
def test_bad_options_are_usage_errors(
    pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    pytester.makeini(INI_AUTO)
    pytester.makepyfile(test_it="def test_nothing():\n    pass\n")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_bad_host_marker_option(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_it="""
        import pytest

        @pytest.mark.nexus_plugin("plugins/mini")
        @pytest.mark.nexus_host(timout=3)
        async def test_it(nexus_host):
            pass
        """
    )
    result = project.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "@pytest.mark.nexus_host got 'timout'; valid options: timeout, fidelity, delivery, allow_handler_errors, raise_app_exceptions, allow_network, mask_logs, detect_blocking, backend, db_url, allow_undeclared, clock, allow_hosts, allow_errors."
        ]
    )


def test_markers_are_registered(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI_AUTO)
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(
        [
            "@pytest.mark.nexus_plugin(path): *",
            "@pytest.mark.nexus_config(**values): *",
            "@pytest.mark.nexus_host(**options): *",
        ]
    )


def test_options_show_in_help(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI_AUTO)
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(
        ["*Nexus Platform plugin testing (pytest-nexus)*", "*--nexus-plugin=DIR*"]
    )


def test_sql_fidelity_from_the_command_line(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_it="""
        import pytest

        @pytest.mark.nexus_plugin("plugins/mini")
        async def test_it(nexus_plugin, nexus_data_store):
            await nexus_plugin.db_adapter.set("flag", True)
            assert await nexus_plugin.db_adapter.get("flag") == "True"
        """
    )
    project.runpytest("--nexus-fidelity=sql").assert_outcomes(passed=1)


@needs_platform
def test_leftover_handlers_warn(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI_AUTO)
    source = """
        from nexus.plugins import BasePlugin

        class SloppyPlugin(BasePlugin):
            def __init__(self):
                super().__init__()
                self.name, self.category = "sloppy", "test"

            async def initialize(self):
                await self.subscribe_to_event("user.created", self.on_user)
                return True

            async def on_user(self, event):
                pass

            async def shutdown(self):
                pass

            def get_api_routes(self):
                return []

            def get_database_schema(self):
                return {}
    """
    write_plugin(
        pytester.path / "plugins", "sloppy", source=source, manifest=minimal_manifest("sloppy")
    )
    pytester.makepyfile(
        test_it="""
        import pytest

        @pytest.mark.nexus_plugin("plugins/sloppy")
        async def test_it(nexus_host):
            pass
        """
    )
    # The outer run's filterwarnings=error reaches inline runs; say what the user would see.
    result = pytester.runpytest(
        "-W", "ignore::DeprecationWarning", "-W", "always::nexus_testkit.NexusLeftoverWarning"
    )
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*NexusLeftoverWarning: Plugin 'sloppy' left these behind after shutdown():",
            "  - handler still subscribed to 'user.created': SloppyPlugin.on_user (*plugin.py:*)",
        ]
    )


@needs_platform
def test_example_plugin_tests_pass(pytester: pytest.Pytester) -> None:
    """The README's promise: the example test passes against the example plugin, no mocks."""
    pytester.makeini(INI_AUTO)
    pytester.makepyfile(
        test_it=f"""
        import pytest

        @pytest.mark.nexus_plugin({str(EXAMPLES / "my_awesome_plugin")!r})
        async def test_action(nexus_client, nexus_event_bus):
            r = await nexus_client.post("/action", json={{"action": "echo", "parameters": {{"message": "hi"}}}})
            assert r.json()["result"] == {{"echo": "hi"}}
            nexus_event_bus.assert_published("my_awesome_plugin.action_completed", data={{"action": "echo"}})
        """
    )
    pytester.runpytest("-W", "ignore::DeprecationWarning").assert_outcomes(passed=1)


def test_manifest_json_errors_are_one_line(project: pytest.Pytester) -> None:
    (project.path / "plugins" / "mini" / "manifest.json").write_text(
        json.dumps({"name": "mini", "permissions": ["a", 3]})
    )
    project.makepyfile(
        test_it="""
        import pytest

        @pytest.mark.nexus_plugin("plugins/mini")
        def test_it(nexus_manifest):
            pass
        """
    )
    result = project.runpytest()
    result.stdout.fnmatch_lines(
        ["*/manifest.json: permissions[[]1]: expected a string, got integer"]
    )
    result.stdout.no_fnmatch_line("During handling of the above exception*")


def test_host_factory_under_given_needs_no_health_check_suppression(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(
        test_it="""
        import pytest
        from hypothesis import given, settings, strategies as st

        @pytest.mark.nexus_plugin("plugins/mini")
        @settings(max_examples=5, deadline=None)
        @given(n=st.integers(min_value=1, max_value=3))
        async def test_fresh_host_per_example(nexus_host_factory, n):
            async with nexus_host_factory(config={"n": n}) as host:
                assert host.plugin.config == {"n": n}
                assert (await host.client.get("/ping")).status_code == 200
        """
    )
    result = project.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*function_scoped_fixture*")


def test_host_factory_checks_its_hosts_at_teardown(project: pytest.Pytester) -> None:
    source = MINIMAL_PLUGIN.replace(
        "        self.initialized = True\n",
        "        import asyncio\n"
        "        self.poller = asyncio.create_task(asyncio.sleep(3600), name='poller')\n"
        "        self.initialized = True\n",
    )
    write_plugin(
        project.path / "plugins", "leaky", source=source, manifest=minimal_manifest("leaky")
    )
    project.makepyfile(
        test_it="""
        import pytest

        @pytest.mark.nexus_plugin("plugins/leaky")
        async def test_leak(nexus_host_factory):
            async with nexus_host_factory():
                pass

        @pytest.mark.nexus_plugin("plugins/mini")
        async def test_left_running(nexus_host_factory):
            await nexus_host_factory().start()

        @pytest.mark.nexus_plugin("plugins/mini")
        async def test_clean(nexus_host_factory):
            async with nexus_host_factory():
                pass
        """
    )
    result = project.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=3, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_leak*",
            "Plugin 'leaky' (*plugins/leaky) did not shut down cleanly:",
            "- task still pending after shutdown: poller running sleep() created at *",
            "*ERROR at teardown of test_left_running*",
            "nexus_host_factory built hosts the test left running: <PluginHost 'mini' running *>; "
            "use `async with nexus_host_factory(...) as host:` so they are shut down.",
        ]
    )


def test_overrides_resolved_by_pytest_as_usual(project: pytest.Pytester) -> None:
    # Overridden and parametrized components are put back in the test's
    # closure ahead of the host: fixture params, async fixtures, a fixture
    # over nexus_plugin and parametrize on a nexus_client-only test all work.
    project.makeconftest(
        """
        import pytest
        import pytest_asyncio
        from nexus_testkit import RecordingDataStore

        @pytest.fixture(params=["a", "b"])
        def nexus_config(request):
            return {"variant": request.param}

        @pytest_asyncio.fixture
        async def nexus_data_store():
            store = RecordingDataStore(connected=True)
            await store.set("seeded", 1)
            yield store
        """
    )
    project.makepyfile(
        test_it="""
        import pytest

        pytestmark = pytest.mark.nexus_plugin("plugins/mini")

        async def test_params_and_async_override(nexus_plugin):
            assert nexus_plugin.config["variant"] in ("a", "b")
            assert await nexus_plugin.db_adapter.get("seeded") == 1
        """,
        test_client_only="""
        import pytest

        @pytest.mark.nexus_plugin("plugins/mini")
        @pytest.mark.parametrize("nexus_config", [{"x": 1}])
        async def test_client_param(nexus_client):
            assert (await nexus_client.get("/ping")).status_code == 200
        """,
    )
    result = project.runpytest("-v", "-p", "no:randomly")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "*test_params_and_async_override?a? PASSED*",
            "*test_params_and_async_override?b? PASSED*",
        ]
    )


def test_a_component_asked_for_after_the_host_is_the_hosts(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_it="""
        import pytest

        pytestmark = pytest.mark.nexus_plugin("plugins/mini")

        @pytest.fixture
        def seeded(request, nexus_host):
            store = request.getfixturevalue("nexus_data_store")
            store.seed({"k": 1})
            return store

        async def test_dynamic(nexus_host, request):
            assert request.getfixturevalue("nexus_event_bus") is nexus_host.event_bus
            assert request.getfixturevalue("nexus_config_store") is nexus_host.config_store
            assert request.getfixturevalue("nexus_services") is nexus_host.services

        async def test_seeded_through_a_fixture(seeded, nexus_plugin):
            assert await nexus_plugin.db_adapter.get("k") == 1
        """
    )
    project.runpytest().assert_outcomes(passed=2)
