"""PluginHost: wiring, mounting, lifecycle, time-outs, leftovers and isolation."""

from __future__ import annotations

import sys

import pytest

from nexus_testkit import (
    HostOptions,
    NexusAssertionError,
    NexusOptionsError,
    PluginHost,
    PluginLoadError,
    PluginStartError,
    RecordingDataStore,
    RecordingEventBus,
)

from ._helpers import EXAMPLES, MINIMAL_PLUGIN, minimal_manifest, needs_platform, write_plugin

pytestmark = pytest.mark.asyncio


async def test_minimal_plugin_is_served_under_its_prefix(make_plugin):
    path = make_plugin()
    async with PluginHost(path) as host:
        assert host.prefix == "/api/plugins/mini"
        r = await host.client.get("/ping")
        assert r.status_code == 200
        assert r.json() == {"pong": True}
        assert str(r.request.url) == "http://testserver/api/plugins/mini/ping"
    host.verify()


async def test_fakes_are_injected_like_plugin_manager_does(make_plugin):
    async with PluginHost(make_plugin(), config={"x": 1}) as host:
        plugin = host.plugin
        assert plugin.db_adapter is host.data_store
        assert plugin.event_bus is host.event_bus
        assert plugin.service_registry is host.services
        assert plugin.config == {"x": 1}
        assert host.data_store.connected


async def test_router_prefix_is_added_once(make_plugin):
    source = MINIMAL_PLUGIN.replace("router = APIRouter()", 'router = APIRouter(prefix="/v1")')
    async with PluginHost(make_plugin(source=source)) as host:
        assert (await host.client.get("/v1/ping")).status_code == 200
        assert "/api/plugins/mini/v1/ping" in host.app.openapi()["paths"]


async def test_initialize_returning_false_raises_with_log_lines(make_plugin):
    source = MINIMAL_PLUGIN.replace(
        "        self.initialized = True\n        return True",
        "        import logging\n"
        "        logging.getLogger(__name__).error('no api key configured')\n"
        "        return False",
    )
    path = make_plugin(source=source)
    with pytest.raises(PluginStartError) as info:
        async with PluginHost(path):
            pass
    message = str(info.value)
    assert message.startswith(f"{path / 'plugin.py'}: initialize() returned False")
    assert "no api key configured" in message
    assert info.value.log_lines
    assert "ERROR" in info.value.log_lines[0]


async def test_initialize_raising_carries_the_cause_and_own_frames(make_plugin):
    source = MINIMAL_PLUGIN.replace(
        "        self.initialized = True\n        return True",
        "        raise KeyError('api_key')",
    )
    path = make_plugin(source=source)
    with pytest.raises(PluginStartError) as info:
        await PluginHost(path).start()
    assert isinstance(info.value.cause, KeyError)
    assert "initialize() raised KeyError: 'api_key'" in str(info.value)
    assert f"{path / 'plugin.py'}" in info.value.details


async def test_system_exit_in_initialize_does_not_end_the_run(make_plugin):
    source = MINIMAL_PLUGIN.replace(
        "        self.initialized = True\n        return True", "        raise SystemExit(3)"
    )
    with pytest.raises(PluginStartError, match=r"initialize\(\) raised SystemExit: 3"):
        await PluginHost(make_plugin(source=source)).start()


async def test_initialize_hang_is_cut_off_and_says_where(make_plugin):
    source = MINIMAL_PLUGIN.replace(
        "        self.initialized = True\n        return True",
        "        import asyncio\n        await asyncio.Event().wait()",
    )
    path = make_plugin(source=source)
    with pytest.raises(PluginStartError) as info:
        await PluginHost(path, HostOptions(timeout=0.05)).start()
    message = str(info.value)
    assert "initialize() timed out" in message
    assert "did not finish within 0.05 s" in message
    assert f"waiting at {path / 'plugin.py'}:" in message
    assert "in initialize" in message


async def test_shutdown_hang_is_reported_at_verify(make_plugin):
    source = MINIMAL_PLUGIN.replace(
        "    async def shutdown(self):\n        self.initialized = False",
        "    async def shutdown(self):\n        import asyncio\n        await asyncio.sleep(60)",
    )
    host = PluginHost(make_plugin(source=source), HostOptions(timeout=0.05))
    async with host:
        pass
    with pytest.raises(NexusAssertionError, match=r"shutdown\(\) did not finish within 0\.05 s"):
        host.verify()


async def test_leaked_task_fails_verify_and_is_cancelled(make_plugin):
    source = MINIMAL_PLUGIN.replace(
        "        self.initialized = True\n",
        "        import asyncio\n"
        "        self.worker = asyncio.create_task(asyncio.sleep(3600), name='poller')\n"
        "        self.initialized = True\n",
    )
    path = make_plugin(source=source)
    host = PluginHost(path)
    async with host:
        worker = host.plugin.worker
    assert worker.cancelled()
    with pytest.raises(NexusAssertionError) as info:
        host.verify()
    message = str(info.value)
    assert "did not shut down cleanly" in message
    assert "- task still pending after shutdown: poller running sleep() created at " in message
    assert f"{path / 'plugin.py'}:" in message


async def test_task_cancelled_in_shutdown_is_not_a_leak(make_plugin):
    source = MINIMAL_PLUGIN.replace(
        "        self.initialized = True\n",
        "        import asyncio\n"
        "        self.worker = asyncio.create_task(asyncio.sleep(3600))\n"
        "        self.initialized = True\n",
    ).replace(
        "    async def shutdown(self):\n        self.initialized = False",
        "    async def shutdown(self):\n        self.worker.cancel()",
    )
    host = PluginHost(make_plugin(source=source))
    async with host:
        pass
    host.verify()
    assert not host.leftovers


async def test_restart_builds_a_fresh_instance_over_the_same_stores(make_plugin):
    source = MINIMAL_PLUGIN.replace(
        "        self.initialized = True\n",
        "        self.initialized = True\n"
        "        await self.db_adapter.set('starts', (await self.db_adapter.get('starts', 0)) + 1)\n",
    )
    async with PluginHost(make_plugin(source=source)) as host:
        client, first = host.client, host.plugin
        await host.restart()
        assert host.plugin is not first
        assert host.client is client
        assert (await client.get("/ping")).json() == {"pong": True}
        assert host.data_store.data["starts"] == 2


async def test_modules_are_removed_when_the_host_closes(make_plugin):
    path = make_plugin(**{"helpers.py": "VALUE = 1\n"})
    source = "from .helpers import VALUE\n" + MINIMAL_PLUGIN
    (path / "plugin.py").write_text(source)
    async with PluginHost(path) as host:
        package = host.loaded.package
        assert f"{package}.helpers" in sys.modules
    assert not [m for m in sys.modules if m.startswith(package)]


async def test_non_router_routes_are_a_start_error(make_plugin):
    source = MINIMAL_PLUGIN.replace("        return [router]", "        return ['/ping']")
    with pytest.raises(
        PluginStartError, match="get_api_routes\\(\\) returned '/ping'; expected a list"
    ):
        await PluginHost(make_plugin(source=source)).start()


async def test_missing_plugin_py_is_a_load_error(make_plugin):
    path = make_plugin(source=None)
    with pytest.raises(PluginLoadError, match=r"has no plugin\.py"):
        await PluginHost(path).start()


async def test_route_exception_becomes_500_when_asked(make_plugin):
    source = MINIMAL_PLUGIN.replace('return {"pong": True}', "raise RuntimeError('boom')")
    async with PluginHost(
        make_plugin(source=source), HostOptions(raise_app_exceptions=False)
    ) as host:
        assert (await host.client.get("/ping")).status_code == 500
    async with PluginHost(make_plugin(source=source)) as host:
        with pytest.raises(RuntimeError, match="boom"):
            await host.client.get("/ping")


async def test_shared_components_are_used(make_plugin):
    bus, store = RecordingEventBus(), RecordingDataStore("sql")
    async with PluginHost(make_plugin(), event_bus=bus, data_store=store) as host:
        assert host.event_bus is bus
        assert host.data_store is store


async def test_bad_timeout_is_refused(make_plugin):
    with pytest.raises(NexusOptionsError) as info:
        HostOptions(timeout=0)
    assert str(info.value) == (
        "timeout=0 is not valid. Valid values: a positive number of seconds or None."
    )
    assert isinstance(info.value, ValueError)


@needs_platform
async def test_leftover_subscriptions_and_services_are_notes(make_plugin):
    source = """
        from nexus.plugins import BasePlugin

        class SloppyPlugin(BasePlugin):
            def __init__(self):
                super().__init__()
                self.name, self.category = "sloppy", "test"

            async def initialize(self):
                await self.subscribe_to_event("user.created", self.on_user)
                self.register_service("sloppy.api", self)
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
    host = PluginHost(make_plugin("sloppy", source=source, manifest=minimal_manifest("sloppy")))
    async with host:
        pass
    host.verify()  # notes are not errors
    notes = host.leftovers.notes()
    assert notes[0].startswith("handler still subscribed to 'user.created': SloppyPlugin.on_user (")
    assert notes[1] == "service still registered: 'sloppy.api'"


@needs_platform
async def test_secrets_are_masked_in_start_errors(make_plugin):
    manifest = minimal_manifest(
        "leaky", configuration={"token": {"type": "string", "secret": True, "required": True}}
    )
    source = MINIMAL_PLUGIN.replace(
        "        self.initialized = True\n        return True",
        "        raise ValueError('bad token ' + self.config['token'])",
    )
    with pytest.raises(PluginStartError) as info:
        await PluginHost(
            make_plugin("leaky", source=source, manifest=manifest), config={"token": "s3cr3t-value"}
        ).start()
    assert "s3cr3t-value" not in str(info.value)
    assert "bad token ***" in str(info.value)


@needs_platform
async def test_example_plugin_runs_on_the_real_base_plugin():
    from nexus.plugins import BasePlugin

    async with PluginHost(EXAMPLES / "my_awesome_plugin") as host:
        assert isinstance(host.plugin, BasePlugin)
        r = await host.client.post(
            "/action", json={"action": "echo", "parameters": {"message": "hi"}}
        )
        assert r.json()["result"] == {"echo": "hi"}
    host.verify()
    assert not host.leftovers


async def test_routes_are_walked_on_every_fastapi_release(make_plugin):
    # FastAPI 0.109 copies an included router's routes into app.routes; newer
    # releases keep one entry per included router. The contract sees both.
    from nexus_testkit.contract._runner import _walk_routes

    source = MINIMAL_PLUGIN.replace("router = APIRouter()", 'router = APIRouter(prefix="/v1")')
    async with PluginHost(make_plugin(source=source)) as host:
        routes = [(method, path) for method, path, _ in _walk_routes(host.app)]
    assert routes == [("GET", "/api/plugins/mini/v1/ping")]


async def test_initialize_runs_in_one_task_so_its_timeouts_and_task_groups_work(make_plugin):
    # asyncio.timeout and TaskGroup belong to the task that entered them:
    # initialize() must not move to another task after its first step.
    source = MINIMAL_PLUGIN.replace(
        """    async def initialize(self):
        self.initialized = True
        return True""",
        """    async def initialize(self):
        import asyncio

        task = asyncio.current_task()
        try:
            async with asyncio.timeout(0.01):
                await asyncio.sleep(1)
        except TimeoutError:
            self.degraded = True
        async with asyncio.TaskGroup() as group:
            group.create_task(asyncio.sleep(0))
        self.same_task = task is asyncio.current_task()
        self.initialized = True
        return True""",
    )
    async with PluginHost(make_plugin(source=source)) as host:
        assert host.plugin.degraded
        assert host.plugin.same_task
    host.verify()


async def test_a_relative_plugin_path_follows_the_working_directory(tmp_path, monkeypatch):
    # The same relative path from two working directories is two plugins:
    # each host unloads the top-level module its own plugin imported.
    source = MINIMAL_PLUGIN.replace(
        "from fastapi import APIRouter",
        "import os, sys\nsys.path.insert(0, os.path.dirname(__file__))\n"
        "import helper_mod\nfrom fastapi import APIRouter",
    )
    for root in ("a", "b"):
        write_plugin(tmp_path / root, "p", source, **{"helper_mod.py": f"VALUE = {root!r}\n"})
        monkeypatch.chdir(tmp_path / root)
        async with PluginHost("p"):
            assert root == sys.modules["helper_mod"].VALUE
        assert "helper_mod" not in sys.modules
