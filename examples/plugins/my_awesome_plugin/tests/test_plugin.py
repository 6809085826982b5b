"""Tests of my_awesome_plugin as its author writes them: no mocks, every fixture in use.

The nexus fixtures find the plugin on their own: it is the nearest directory
holding a manifest.json above this file.
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nexus_testkit import ConfigStore, PluginStartError, load_manifest
from nexus_testkit.strategies import configs, invalid_configs, request_bodies


async def test_action(nexus_client, nexus_event_bus):
    r = await nexus_client.post("/action", json={"action": "echo", "parameters": {"message": "hi"}})
    assert r.json()["result"] == {"echo": "hi"}
    nexus_event_bus.assert_published("my_awesome_plugin.action_completed", data={"action": "echo"})


async def test_status_counts_actions(nexus_client):
    await nexus_client.post("/action", json={"action": "ping"})
    r = await nexus_client.get("/status")
    assert r.status_code == 200
    assert r.json()["action_count"] == 1
    assert r.json()["initialized"] is True


async def test_unknown_action_is_reported_not_raised(nexus_client, nexus_event_bus):
    r = await nexus_client.post("/action", json={"action": "dance"})
    assert r.json() == {
        "success": False,
        "message": "Action failed: Unknown action: dance",
        "result": None,
    }
    nexus_event_bus.assert_not_published("my_awesome_plugin.action_completed")


async def test_invalid_body_is_422(nexus_client):
    r = await nexus_client.post("/action", json={"parameters": {}})
    assert r.status_code == 422


@pytest.mark.nexus_config(enabled=False)
async def test_disabled_plugin_refuses_actions(nexus_client):
    r = await nexus_client.post("/action", json={"action": "ping"})
    assert r.status_code == 503


async def test_initialized_event_and_services(nexus_plugin, nexus_event_bus, nexus_services):
    nexus_event_bus.assert_published(
        "my_awesome_plugin.initialized", data={"version": "1.0.0"}, times=1
    )
    assert nexus_services.get("my_awesome_plugin.api") is nexus_plugin


async def test_configuration_reaches_the_plugin(nexus_plugin, nexus_config):
    # The required secret api_key got a placeholder; the rest are manifest defaults.
    assert nexus_config == {
        "api_key": "test-api_key",
        "max_retries": 3,
        "timeout": 30,
        "enabled": True,
    }
    assert await nexus_plugin.get_config("max_retries") == 3


@pytest.mark.nexus_config(max_retries=7, api_key="k-123456")
async def test_marker_overrides_defaults(nexus_plugin):
    assert await nexus_plugin.get_config("max_retries") == 7
    assert await nexus_plugin.get_config("api_key") == "k-123456"


async def test_action_is_stored(nexus_client, nexus_data_store):
    await nexus_client.post("/action", json={"action": "ping"})
    stored = nexus_data_store.assert_stored("plugin:my_awesome_plugin:last_action")
    assert stored["action"] == "ping"


async def test_maintenance_event_saves_state(nexus_host, nexus_config_store):
    await nexus_host.event_bus.publish("system.maintenance", {"window": "now"}, source="core")
    assert nexus_config_store.writes.last.key == "action_count"
    assert nexus_config_store.writes.last.value == 0


async def test_user_created_handler_logs(nexus_host, nexus_event_bus):
    await nexus_event_bus.publish("user.created", {"user_id": 7, "username": "ada"})
    assert any("New user created: ada" in line for line in nexus_host.log_lines())


async def test_health_endpoint(nexus_client, nexus_app):
    r = await nexus_client.get("/health")
    assert r.json()["healthy"] is True
    assert "/api/plugins/my_awesome_plugin/health" in nexus_app.openapi()["paths"]


async def test_restart_keeps_the_stores(nexus_host, nexus_client, nexus_data_store):
    await nexus_client.post("/action", json={"action": "ping"})
    first = nexus_host.plugin
    await nexus_host.restart()
    assert nexus_host.plugin is not first
    r = await nexus_client.get("/status")
    assert r.json()["action_count"] == 0  # a fresh instance...
    assert "plugin:my_awesome_plugin:last_action" in nexus_data_store.data  # ...over the same store


async def test_missing_api_key_is_refused(nexus_host_factory):
    with pytest.raises(PluginStartError) as info:
        async with nexus_host_factory(config={"api_key": None}):
            pass
    assert "initialize() returned False" in str(info.value)
    assert any("api_key is required" in line for line in info.value.log_lines)


@pytest.mark.parametrize("max_retries", [1, 10])
async def test_bounds_are_accepted(nexus_host_factory, max_retries):
    async with nexus_host_factory(config={"max_retries": max_retries}) as host:
        assert host.plugin.initialized


@pytest.mark.nexus_host(fidelity="sql")
async def test_sql_fidelity_round_trip(nexus_client, nexus_data_store):
    await nexus_client.post("/action", json={"action": "ping"})
    assert nexus_data_store.data["plugin:my_awesome_plugin:last_action"]["action"] == "ping"


# Property-based: configurations drawn from the manifest's own rules.


MANIFEST = load_manifest(__file__.rsplit("/tests/", 1)[0])
# The manifest allows any string as api_key, but the plugin (rightly) refuses
# an empty one: both strategies get a non-empty key.
API_KEY = st.text(min_size=1, max_size=20)


@settings(max_examples=15, deadline=None)
@given(config=configs(MANIFEST, api_key=API_KEY))
async def test_every_valid_configuration_starts(nexus_host_factory, config):
    async with nexus_host_factory(config=config) as host:
        assert (await host.client.get("/status")).status_code == 200


@settings(max_examples=15, deadline=None)
@given(bad=invalid_configs(MANIFEST, api_key=API_KEY))
async def test_every_invalid_configuration_is_refused(nexus_host_factory, bad):
    # The exact configuration: config= would lay it over the defaults and fill in a
    # missing required key, which is what this example must not do.
    with pytest.raises(PluginStartError):
        async with nexus_host_factory(config_store=ConfigStore(bad.config)):
            pass


@settings(max_examples=15, deadline=None)
@given(data=st.data())
async def test_action_bodies_from_the_openapi_schema(nexus_host_factory, data):
    async with nexus_host_factory() as host:
        body = data.draw(request_bodies(host.app, "POST", "/action"))
        assert (await host.client.post("/action", json=body)).status_code == 200
        bad = data.draw(request_bodies(host.app, "POST", "/action", valid=False))
        assert (await host.client.post("/action", json=bad)).status_code == 422
