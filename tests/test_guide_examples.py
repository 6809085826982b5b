"""The Nexus testing guide's examples on nexus_testkit.testing, run with pytester.

tests/guide_examples/my_plugin/tests holds the guide's code blocks with only
the `nexus.testing` import changed.  Those the platform can support pass;
those it cannot fail with the message naming the guide's line and what the
platform does, pinned here.  The guide's style needs auto mode, as an
author's project has it.
"""

from __future__ import annotations

import shutil
import textwrap

import pytest

from nexus_testkit.testing import (
    DIVERGENCES,
    NexusGuardDivergence,
    NexusGuardDivergenceWarning,
    TestApplication,
    TestDatabase,
    TestEventBus,
)

from ._helpers import EXAMPLES, REPO, needs_platform

GUIDE_EXAMPLES = REPO / "tests" / "guide_examples" / "my_plugin"

INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
pythonpath = .
filterwarnings =
    {error}
    ignore::DeprecationWarning:nexus.*
    ignore::DeprecationWarning:sqlalchemy.*
    ignore::DeprecationWarning:pydantic.*
    ignore:.*declarative_base.*:DeprecationWarning
    ignore::pydantic.warnings.PydanticDeprecatedSince20
"""


def _guide_project(pytester: pytest.Pytester, *, error: bool = False) -> pytest.Pytester:
    shutil.copytree(GUIDE_EXAMPLES, pytester.path / "my_plugin")
    pytester.makeini(INI.format(error="error" if error else "default"))
    return pytester


@pytest.fixture
def guide(pytester: pytest.Pytester) -> pytest.Pytester:
    return _guide_project(pytester)


# -- the guide's examples, as copied --------------------------------------------------


@needs_platform
def test_event_examples_run_and_priorities_stop_naming_the_guide(guide: pytest.Pytester) -> None:
    result = guide.runpytest("my_plugin/tests/integration/test_events.py", "-rA")
    result.assert_outcomes(passed=3, failed=1, warnings=3)
    result.stdout.fnmatch_lines(
        [
            "PASSED *::test_event_emission_and_handling",
            "PASSED *::test_event_handler_error_handling",
            "PASSED *::test_cross_plugin_communication",
            "FAILED *::test_event_priority_handling*",  # CI=true: pytest does not cut the message
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "E       nexus_testkit.testing.NexusGuardDivergence: The Nexus testing guide "
            '(docs/plugins/testing.md, "Event Integration", line 704) subscribes handlers with '
            "priority=N and expects the higher priority to run first [[]subscribe('priority.test', "
            "..., priority=1)[]]; nexus-platform 0.1.5 has no subscription priorities: "
            "EventBus.subscribe(event_name, handler) takes no priority, and handlers run in the "
            "order they subscribed*",
            "E       Subscribe in the order the handlers must run, and drop priority=.",
        ]
    )
    # Subscripting a received event runs, with a warning saying what the platform does.
    result.stdout.fnmatch_lines(
        [
            "*NexusGuardDivergenceWarning: The Nexus testing guide (docs/plugins/testing.md, "
            '"Event Integration", line 662) reads a received event as a dict (event[[]key[]]) '
            "[[]event[[]'user_id'[]][]]; nexus-platform 0.1.5 hands every handler a nexus.core.Event*",
            "  Read event.data[[]key[]] (this event answered event[[]key[]] from event.data).",
        ]
    )
    # The guide's failing handler is logged and skipped, as the platform does.
    result.stdout.fnmatch_lines(
        ["ERROR    nexus.core:* Error in event handler for test.event: Handler error"]
    )
    # No frame of the harness in the report.
    result.stdout.no_fnmatch_line("*nexus_testkit/testing/*")


@needs_platform
def test_event_examples_under_filterwarnings_error_fail_on_the_subscript(
    pytester: pytest.Pytester,
) -> None:
    _guide_project(pytester, error=True)
    result = pytester.runpytest("my_plugin/tests/integration/test_events.py")
    result.assert_outcomes(passed=1, failed=3)
    result.stdout.fnmatch_lines(
        [
            "*_ TestEventIntegration.test_event_emission_and_handling _*",
            "*",
            "E       nexus_testkit.testing.NexusGuardDivergenceWarning: The Nexus testing guide "
            '(docs/plugins/testing.md, "Event Integration", line 662) reads a received event*',
        ]
    )


@needs_platform
def test_api_examples_fail_naming_the_mount_prefix(guide: pytest.Pytester) -> None:
    result = guide.runpytest("my_plugin/tests/integration/test_api.py")
    result.assert_outcomes(failed=4)
    result.stdout.fnmatch_lines(
        [
            "E       nexus_testkit.testing.NexusGuardDivergence: The Nexus testing guide "
            '(docs/plugins/testing.md, "API Integration", line 774) requests the plugin\'s routes '
            "at /my-plugin/... [[]POST /my-plugin/users; served here: /api/plugins/my_plugin/...; "
            "did you mean /api/plugins/my_plugin/users?[]]; nexus-platform 0.1.5 mounts each "
            "router of get_api_routes() at /api/plugins/{name} plus the router's own prefix*",
            "E       Request the plugin's routes under /api/plugins/{name}, the prefix named above.",
        ]
    )
    result.stdout.fnmatch_lines(["*GET /my-plugin/admin/users; served here*"])


@needs_platform
def test_end_to_end_example_starts_the_plugin_and_stops_at_the_mount_prefix(
    guide: pytest.Pytester,
) -> None:
    # setup_full_environment() found my_plugin above the test file and started it;
    # the first request names the real path.
    result = guide.runpytest("my_plugin/tests/e2e/test_workflows.py")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*[[]POST /my-plugin/users; served here: /api/plugins/my_plugin/...; *"]
    )


@needs_platform
def test_the_guides_conftest_as_written_cannot_import(guide: pytest.Pytester) -> None:
    tests = guide.path / "my_plugin" / "tests"
    (tests / "conftest.py").write_text((tests / "guide_conftest.py").read_text())
    result = guide.runpytest("my_plugin/tests/integration/test_events.py")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    # nexus-platform 0.1.5 has no nexus.events; not ours to intercept.
    result.stderr.fnmatch_lines(["*ModuleNotFoundError: No module named 'nexus.events'*"])


@needs_platform
def test_the_guides_fixtures_stop_at_raw_sql(guide: pytest.Pytester) -> None:
    tests = guide.path / "my_plugin" / "tests"
    text = (tests / "guide_conftest.py").read_text()
    # With the imports of modules 0.1.5 lacks removed, the fixtures themselves run.
    for line in (
        "from nexus.events import EventBus\n",
        "from my_plugin.services.user_service import UserService\n",
    ):
        assert line in text
        text = text.replace(line, "")
    (tests / "conftest.py").write_text(text)
    result = guide.runpytest("my_plugin/tests/integration/test_events.py")
    result.assert_outcomes(errors=4)
    result.stdout.fnmatch_lines(
        [
            "E       nexus_testkit.testing.NexusGuardDivergence: The Nexus testing guide "
            '(docs/plugins/testing.md, "Test Configuration", line 112) runs SQL on the test '
            "database (db.execute('CREATE TABLE ...'), fetch_one) [[]execute('CREATE TABLE "
            "my_plugin_users ( id SERIAL PRIMARY KEY, *...')[]]; nexus-platform 0.1.5 "
            "gives a plugin a key-value DatabaseAdapter*",
        ]
    )


@needs_platform
def test_a_plugin_built_by_the_test_is_refused_by_the_client(guide: pytest.Pytester) -> None:
    guide.makepyfile(
        **{
            "my_plugin/tests/test_built.py": """
            from nexus_testkit.testing import TestClient, TestDatabase
            from my_plugin.plugin import MyPlugin

            async def test_client_over_a_plugin_the_test_built(test_event_bus):
                plugin = MyPlugin()
                plugin.db = TestDatabase()
                plugin.event_bus = test_event_bus
                await plugin.initialize()
                client = TestClient()
                await client.setup_with_plugin(plugin)
            """
        }
    )
    result = guide.runpytest("my_plugin/tests/test_built.py")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E       nexus_testkit.testing.NexusGuardDivergence: The Nexus testing guide "
            '(docs/plugins/testing.md, "Test Configuration", line 145) builds the plugin itself '
            "(MyPlugin(config)), wires plugin.db and plugin.event_bus, and ends it with "
            "plugin.cleanup() [[]setup_with_plugin() got a MyPlugin no TestApplication started; "
            "it has plugin.db set, which the platform never reads[]]; nexus-platform 0.1.5 builds "
            "a plugin with no arguments*",
            "E       Let the harness build it: plugin = await app.register_plugin('path/to/plugin', config)*",
        ]
    )


# -- the test-case bases ----------------------------------------------------------------


@needs_platform
def test_test_case_bases_in_the_guides_style(pytester: pytest.Pytester) -> None:
    # PluginTestCase as docs/TESTING.md and docs/PLUGIN_DEVELOPMENT.md of the
    # Nexus repository use it; under filterwarnings=error, so collecting a module
    # that imports every name must not warn.
    _guide_project(pytester, error=True)
    pytester.makepyfile(
        **{
            "my_plugin/tests/test_cases.py": """
            from nexus_testkit.testing import (
                IntegrationTestCase, PluginTestCase, TestApplication, TestClient,
                TestDatabase, TestEventBus,
            )

            class TestMyPlugin(PluginTestCase):
                async def test_plugin_initialization(self, plugin):
                    assert plugin.initialized is True
                    assert plugin.name == "my_plugin"
                    assert plugin.version == "1.0.0"

                async def test_plugin_is_loaded(self):
                    assert await self.is_plugin_loaded("my_plugin")
                    assert not await self.is_plugin_loaded("auth")

                async def test_event_reaches_the_bus(self, plugin):
                    await plugin.create_user_and_emit_event({"username": "ada", "email": "a@b.io"})
                    events = await self.app.get_emitted_events()
                    assert [e["type"] for e in events] == ["user.created"]
                    assert events[0]["username"] == "ada"
                    assert events[0]["source"] == "business.my_plugin"

                async def test_emit_event_comes_from_the_test(self):
                    await self.emit_event("user.deleted", {"user_id": "u-1"})
                    events = await self.app.get_emitted_events()
                    assert events == [{"type": "user.deleted", "data": {"user_id": "u-1"},
                                       "source": "test", "timestamp": events[0]["timestamp"]}]

                async def test_hello_endpoint(self, test_client):
                    response = await test_client.post(
                        "/api/plugins/my_plugin/users", json={"username": "ada", "email": "a@b.io"}
                    )
                    assert response.status_code == 201
                    listed = await test_client.get("/api/plugins/my_plugin/users")
                    assert listed.json()["pagination"]["total"] == 1

            class TestTogether(IntegrationTestCase):
                plugins = ["my_plugin"]
                plugin_configs = {"my_plugin": {"max_retries": 5}}

                async def test_configured(self, plugin):
                    assert plugin.config["max_retries"] == 5
            """
        }
    )
    collected = pytester.runpytest("my_plugin/tests/test_cases.py", "--collect-only", "-q")
    collected.stdout.fnmatch_lines(
        [
            "my_plugin/tests/test_cases.py::TestMyPlugin::test_plugin_initialization",
            "my_plugin/tests/test_cases.py::TestMyPlugin::test_plugin_is_loaded",
            "my_plugin/tests/test_cases.py::TestMyPlugin::test_event_reaches_the_bus",
            "my_plugin/tests/test_cases.py::TestMyPlugin::test_emit_event_comes_from_the_test",
            "my_plugin/tests/test_cases.py::TestMyPlugin::test_hello_endpoint",
            "my_plugin/tests/test_cases.py::TestTogether::test_configured",
            "",
            "6 tests collected*",
        ],
        consecutive=True,
    )
    collected.stdout.no_fnmatch_line("*PytestCollectionWarning*")
    pytester.runpytest("my_plugin/tests/test_cases.py").assert_outcomes(passed=6)


@needs_platform
def test_integration_test_case_runs_two_plugins_over_one_bus(pytester: pytest.Pytester) -> None:
    _guide_project(pytester, error=True)
    shutil.copytree(
        EXAMPLES / "task_manager",
        pytester.path / "task_manager",
        ignore=shutil.ignore_patterns("tests"),
    )
    pytester.makepyfile(
        **{
            "my_plugin/tests/test_together.py": """
            from nexus_testkit.testing import IntegrationTestCase

            class TestUsersAndTasks(IntegrationTestCase):
                plugins = ["my_plugin", "task_manager"]  # the second found beside the first

                async def test_shared_bus_registry_and_routes(self, test_client):
                    assert list(self.app.hosts) == ["my_plugin", "task_manager"]
                    assert self.app.services.has_service("task_manager.tasks")
                    r = await test_client.post("/api/plugins/task_manager/tasks", json={"title": "t", "owner": "u-9"})
                    assert r.status_code == 201
                    r = await test_client.post("/api/plugins/my_plugin/users", json={"username": "ada", "email": "a@b.io"})
                    assert r.status_code == 201
                    # One plugin's event reaches the other's handler over the shared bus.
                    await self.get_plugin("my_plugin").publish_event("user.deleted", {"user_id": "u-9"})
                    tasks = (await test_client.get("/api/plugins/task_manager/tasks")).json()
                    assert tasks == []
                    events = await self.app.get_emitted_events()
                    assert [(e["type"], e["source"]) for e in events] == [
                        ("task_manager.task_created", "business.task_manager"),
                        ("user.created", "business.my_plugin"),
                        ("user.deleted", "business.my_plugin"),
                        ("task_manager.task_deleted", "business.task_manager"),
                    ]
            """
        }
    )
    pytester.runpytest("my_plugin/tests/test_together.py").assert_outcomes(passed=1)


def test_importing_the_names_collects_nothing(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\nfilterwarnings = error\n"
    )
    pytester.makepyfile(
        test_names="""
        from nexus_testkit.testing import *
        from nexus_testkit.testing import (
            IntegrationTestCase, PluginTestCase, TestApplication, TestClient,
            TestDatabase, TestEventBus,
        )

        def test_one():
            pass
        """
    )
    result = pytester.runpytest("-W", "error::pytest.PytestCollectionWarning")
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*cannot collect*")


# -- each divergence, one by one ----------------------------------------------------------


@pytest.mark.asyncio
async def test_process_events_delivers_and_returns_with_a_warning() -> None:
    bus = TestEventBus(delivery="queued")
    await bus.setup()
    seen: list[str] = []
    await bus.subscribe("a", lambda event: seen.append(event.name))
    await bus.emit({"type": "a", "data": {"n": 1}})
    assert seen == []
    with pytest.warns(
        NexusGuardDivergenceWarning, match=r"TestEventBus.process_events\(\)\) expects"
    ):
        await bus.process_events()
    assert seen == ["a"]
    assert bus.get_error_count() == 0
    await bus.cleanup()


@pytest.mark.asyncio
async def test_emit_takes_the_guides_dict_only() -> None:
    bus = TestEventBus()
    with pytest.raises(TypeError, match=r"emit\(\) takes a dict with a 'type' string"):
        await bus.emit({"data": {}})
    with pytest.raises(
        TypeError, match=r"emit\(\) got keys \['user_id'\] .* put them under 'data'"
    ):
        await bus.emit({"type": "user.created", "user_id": "1"})


@pytest.mark.asyncio
async def test_handler_errors_are_counted_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    bus = TestEventBus()

    def broken(event: object) -> None:
        raise RuntimeError("boom")

    bus.subscribe("x", broken)  # the platform's subscribe is synchronous; that works too
    await bus.emit({"type": "x"})
    await bus.emit({"type": "x"})
    assert bus.get_error_count() == 2
    assert [r.getMessage() for r in caplog.records] == ["Error in event handler for x: boom"] * 2
    bus.verify()  # allowed, as the platform allows them


@pytest.mark.asyncio
async def test_the_event_handlers_get_is_the_platforms_class() -> None:
    pytest.importorskip("nexus.core")
    import nexus.core

    bus = TestEventBus()
    got: list[object] = []
    bus.subscribe("x", got.append)
    await bus.publish("x", {"k": 1})
    assert isinstance(got[0], nexus.core.Event)
    assert bus.published.last.event is got[0]


@pytest.mark.asyncio
async def test_sql_on_the_test_database_names_the_adapter_it_really_is() -> None:
    db = TestDatabase()
    await db.setup()
    for call in (db.execute, db.fetch_one, db.fetch_all, db.fetch_val):
        with pytest.raises(
            NexusGuardDivergence, match=r"there is no execute\(\), fetch_one\(\) or table"
        ):
            await call("SELECT 1")
    await db.set("k", 1)
    assert await db.get("k") == 1
    assert await db.list_keys("*") == ["k"]
    await db.cleanup()
    assert not db.connected


@pytest.mark.asyncio
async def test_transaction_commits_rolls_back_and_warns_about_adapter_writes() -> None:
    db = TestDatabase()
    await db.setup()
    async with db.transaction() as tx:
        await tx.set("a", 1)
        assert await tx.get("a") == 1
        assert await db.get("a") is None  # buffered until commit
    assert await db.get("a") == 1

    async def rolled_back(write: str) -> None:
        async with db.transaction() as tx:
            if write == "tx":
                await tx.set("b", 2)
            else:
                await db.set("c", 3)  # what a plugin's set_data does
            raise RuntimeError("forced")

    with pytest.raises(RuntimeError, match="forced"):
        await rolled_back("tx")
    assert not await db.exists("b")

    with (
        pytest.warns(
            NexusGuardDivergenceWarning, match=r"\[1 write\(s\) through the adapter stay\]"
        ),
        pytest.raises(RuntimeError, match="forced"),
    ):
        await rolled_back("adapter")
    assert await db.get("c") == 3  # as on the platform: not part of the transaction


@pytest.mark.asyncio
async def test_register_plugin_names_where_it_looked(tmp_path: pytest.TempPathFactory) -> None:
    app = TestApplication(near=str(tmp_path))
    with pytest.raises(Exception, match=r"register_plugin\('nope'\): no plugin directory") as info:
        await app.register_plugin("nope")
    assert f"- {tmp_path}/nope" in str(info.value)
    await app.cleanup()


def test_every_divergence_is_documented() -> None:
    page = (REPO / "docs" / "from-the-nexus-testing-guide.md").read_text()
    for key, divergence in DIVERGENCES.items():
        assert f"`{key}`" in page, key
        if '"' in divergence.where:  # the guide's section is named on the page too
            section, line = divergence.where.split('"')[1], divergence.where.rsplit(" ", 1)[1]
            assert f'"{section}", line {line}' in page, key


def test_the_copied_examples_say_where_they_come_from() -> None:
    for path in sorted((GUIDE_EXAMPLES / "tests").rglob("*.py")):
        head = path.read_text().splitlines()[:2]
        assert "Nexus testing guide" in head[0], path
        text = textwrap.dedent(path.read_text())
        assert not any(line.startswith("from nexus.testing") for line in text.splitlines()), path
