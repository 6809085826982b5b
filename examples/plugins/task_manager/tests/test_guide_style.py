"""task_manager tested in the style of the Nexus testing guide (docs/plugins/testing.md).

The guide imports `from nexus.testing import ...`, a module no nexus-platform
release has; `nexus_testkit.testing` provides those names on the harness.
Written the way the platform really works (see docs/from-the-nexus-testing-guide.md):
the application builds the plugin (no `TaskManagerPlugin(config)`), routes
live under /api/plugins/task_manager, handlers get an Event (`event.data[...]`),
and subscriptions have no priorities.
"""

import asyncio

import pytest

from nexus_testkit.testing import (
    PluginTestCase,
    TestApplication,
    TestDatabase,
    TestEventBus,
)

PREFIX = "/api/plugins/task_manager"


@pytest.fixture
async def test_event_bus():
    """Create test event bus."""
    event_bus = TestEventBus()
    await event_bus.setup()
    yield event_bus
    await event_bus.cleanup()


@pytest.fixture
async def test_db():
    """Create test database."""
    db = TestDatabase()
    await db.setup()
    yield db
    await db.cleanup()


@pytest.fixture
async def test_app(test_db, test_event_bus):
    """Create test application over the test database and event bus."""
    app = TestApplication(database=test_db, event_bus=test_event_bus)
    await app.setup()
    yield app
    await app.cleanup()


@pytest.fixture
async def plugin_instance(test_app):
    """Create plugin instance for testing: the application builds and initializes it."""
    plugin = await test_app.register_plugin("task_manager", {"default_priority": "high"})
    yield plugin


@pytest.fixture
def test_client(test_app, plugin_instance):
    return test_app.get_client()


class TestTaskAPI:
    """Test API endpoint integration."""

    async def test_task_api_workflow(self, test_client, test_db):
        body = {"title": "Write", "owner": "u-1"}
        response = await test_client.post(f"{PREFIX}/tasks", json=body)
        assert response.status_code == 201
        task = response.json()
        assert task["priority"] == "high"  # the configuration given to register_plugin

        response = await test_client.get(f"{PREFIX}/tasks/{task['id']}")
        assert response.status_code == 200
        assert response.json()["title"] == "Write"

        response = await test_client.post(f"{PREFIX}/tasks/{task['id']}/complete")
        assert response.json()["status"] == "completed"

        stored = await test_db.get("plugin:task_manager:tasks")
        assert stored[task["id"]]["status"] == "completed"

        response = await test_client.delete(f"{PREFIX}/tasks/{task['id']}")
        assert response.status_code == 204
        response = await test_client.get(f"{PREFIX}/tasks/{task['id']}")
        assert response.status_code == 404

    async def test_api_validation(self, test_client):
        response = await test_client.post(f"{PREFIX}/tasks", json={})
        assert response.status_code == 422
        body = {"title": "x", "priority": "urgent"}
        response = await test_client.post(f"{PREFIX}/tasks", json=body)
        assert response.status_code == 422

    async def test_webhook_rejects_a_wrong_token(self, test_app, test_client):
        # set_auth_token sends a bearer token; this webhook wants its own header.
        test_client.set_auth_token("valid-test-token")
        response = await test_client.post(f"{PREFIX}/webhook/tasks", json={"title": "x"})
        assert response.status_code == 403  # no webhook_token configured


class TestTaskEvents:
    """Test event system integration."""

    async def test_created_event_reaches_a_subscriber(
        self, plugin_instance, test_event_bus, test_client
    ):
        handler_called = asyncio.Event()
        received_events = []

        async def test_handler(event):
            received_events.append(event)
            handler_called.set()

        await test_event_bus.subscribe("task_manager.task_created", test_handler)
        await test_client.post(f"{PREFIX}/tasks", json={"title": "Plan", "owner": "u-2"})
        await asyncio.wait_for(handler_called.wait(), timeout=1.0)

        assert len(received_events) == 1
        assert received_events[0].data["owner"] == "u-2"
        assert received_events[0].source == "business.task_manager"

    async def test_user_deleted_removes_their_tasks(self, test_app, test_client):
        await test_client.post(f"{PREFIX}/tasks", json={"title": "Mine", "owner": "u-3"})
        await test_client.post(f"{PREFIX}/tasks", json={"title": "Theirs", "owner": "u-4"})

        await test_app.emit_event("user.deleted", {"user_id": "u-3"})

        events = await test_app.get_emitted_events()
        deleted = [e for e in events if e["type"] == "task_manager.task_deleted"]
        assert [e["reason"] for e in deleted] == ["owner_deleted"]
        remaining = (await test_client.get(f"{PREFIX}/tasks")).json()
        assert [t["owner"] for t in remaining] == ["u-4"]

    async def test_handlers_run_in_subscription_order(self, test_event_bus):
        execution_order = []

        async def first(event):
            execution_order.append("first")

        async def second(event):
            execution_order.append("second")

        await test_event_bus.subscribe("order.test", first)
        await test_event_bus.subscribe("order.test", second)
        await test_event_bus.emit({"type": "order.test", "data": {}})
        assert execution_order == ["first", "second"]
        assert test_event_bus.get_error_count() == 0


class TestTaskManagerPlugin(PluginTestCase):
    """The test-case base of the guide: `self.app`, `plugin` and `test_client` are provided."""

    plugin_config = {"max_tasks": 2}

    async def test_plugin_initialization(self, plugin):
        assert plugin.initialized is True
        assert plugin.name == "task_manager"
        assert plugin.version == "1.2.0"
        assert await self.is_plugin_loaded("task_manager")

    async def test_service_is_registered(self, plugin):
        service = self.app.services.get("task_manager.tasks")
        assert service is plugin.service
        assert await service.count() == 0

    async def test_task_limit(self, test_client):
        for title in ("a", "b"):
            response = await test_client.post(f"{PREFIX}/tasks", json={"title": title})
            assert response.status_code == 201
        response = await test_client.post(f"{PREFIX}/tasks", json={"title": "c"})
        assert response.status_code == 409

    async def test_plugin_event_handling(self, test_client):
        await test_client.post(f"{PREFIX}/tasks", json={"title": "Mine", "owner": "7"})
        await self.emit_event("user.deleted", {"user_id": 7})
        assert (await test_client.get(f"{PREFIX}/tasks")).json() == []
