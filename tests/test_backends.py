"""--nexus-backend=platform: the same tests on nexus-platform's own components."""

from __future__ import annotations

import pytest

from nexus_testkit import HostOptions, PluginHost

from ._helpers import EXAMPLES, minimal_manifest, needs_platform, write_plugin

INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
filterwarnings =
    ignore::DeprecationWarning
"""

# A plugin with a bug only the SQL adapter's serialisation reveals: it stores a
# boolean and reads it back with bool(), but the SQL adapter returns "False".
FLAGS = """
from fastapi import APIRouter
from pydantic import BaseModel

from nexus.plugins import BasePlugin


class Feature(BaseModel):
    enabled: bool


class FlagsPlugin(BasePlugin):
    def __init__(self):
        super().__init__()
        self.name, self.category, self.version = "flags", "test", "0.1.0"

    async def initialize(self):
        return True

    async def shutdown(self):
        pass

    def get_api_routes(self):
        router = APIRouter()

        @router.post("/feature")
        async def set_feature(feature: Feature):
            await self.set_data("enabled", feature.enabled)
            return feature

        @router.get("/feature")
        async def get_feature():
            return {"enabled": bool(await self.get_data("enabled"))}

        return [router]

    def get_database_schema(self):
        return {"collections": {}}


def create_plugin():
    return FlagsPlugin()
"""

AUTHOR_TEST = """
async def test_feature_can_be_switched_off(nexus_client, nexus_data_store):
    await nexus_client.post("/feature", json={"enabled": False})
    nexus_data_store.assert_stored("plugin:flags:enabled", False)
    assert (await nexus_client.get("/feature")).json() == {"enabled": False}
"""


@pytest.fixture
def flags(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INI)
    plugin = write_plugin(pytester.path, "flags", source=FLAGS, manifest=minimal_manifest("flags"))
    (plugin / "tests").mkdir()
    (plugin / "tests" / "test_flags.py").write_text(AUTHOR_TEST)
    return pytester


@needs_platform
@pytest.mark.parametrize(
    "args",
    [
        pytest.param([], id="memory"),
        pytest.param(["--nexus-fidelity=sql"], id="sql-fidelity"),
        pytest.param(["--nexus-backend=platform"], id="platform-sqlite"),
    ],
)
def test_sql_only_bug_is_caught_by_sql_fidelity_and_the_real_backend(
    flags: pytest.Pytester, args: list[str]
) -> None:
    result = flags.runpytest(*args)
    if not args:
        result.assert_outcomes(passed=1)  # memory fidelity hides the bug
        return
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E       nexus_testkit.NexusAssertionError: key 'plugin:flags:enabled' holds 'False', "
            "expected False (under sql fidelity False reads back as 'False': the platform's SQL "
            "adapter stores values other than dict, list and tuple as str() and reads them back "
            "through json.loads).",
        ]
    )


@needs_platform
@pytest.mark.asyncio
async def test_platform_backend_uses_the_real_components() -> None:
    import nexus.core
    import nexus.database

    async with PluginHost(EXAMPLES / "my_awesome_plugin", HostOptions(backend="platform")) as host:
        assert isinstance(host.event_bus.real, nexus.core.EventBus)  # type: ignore[attr-defined]
        assert isinstance(host.data_store.real, nexus.database.SQLAlchemyAdapter)  # type: ignore[attr-defined]
        assert isinstance(host.services.real, nexus.core.ServiceRegistry)  # type: ignore[attr-defined]
        await host.client.post("/action", json={"action": "ping"})
        # Delivered by the real bus's processor task before publish returned.
        await host.event_bus.publish("system.maintenance", {})
        assert host.config_store.writes.last.key == "action_count"
        assert await host.data_store.list_keys("plugin:*") == [
            "plugin:my_awesome_plugin:last_action"
        ]
        path = host.data_store.url  # type: ignore[attr-defined]
    host.verify()
    assert not host.leftovers
    assert path.startswith("sqlite+aiosqlite:///")


@needs_platform
@pytest.mark.asyncio
async def test_platform_bus_records_handler_failures(make_plugin) -> None:
    async with PluginHost(make_plugin(), HostOptions(backend="platform")) as host:

        async def broken(event):
            raise ValueError("bad payload")

        host.event_bus.subscribe("user.created", broken)
        await host.event_bus.publish("user.created", {"id": 1})
        host.event_bus.assert_handler_failed("user.created", ValueError)
        host.event_bus.unsubscribe("user.created", broken)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--nexus-backend=real"],
            "ERROR: --nexus-backend: backend='real' is not valid. Valid values: fake, platform.",
        ),
        (
            ["--nexus-db-url=sqlite+aiosqlite:///x.db"],
            "ERROR: --nexus-db-url: db_url='sqlite+aiosqlite:///x.db' needs backend='platform': the fakes have no database.",
        ),
    ],
)
def test_backend_usage_errors(pytester: pytest.Pytester, args: list[str], message: str) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(test_it="def test_nothing():\n    pass\n")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


@needs_platform
def test_contract_on_the_platform_backend(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    result = pytester.runpytest(
        f"--nexus-plugin={EXAMPLES / 'task_manager'}",
        "--nexus-backend=platform",
        "-q",
        "-p",
        "no:randomly",
    )
    from nexus_testkit.contract._checks import CHECKS

    result.assert_outcomes(passed=len(CHECKS))
