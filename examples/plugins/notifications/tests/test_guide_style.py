"""notifications tested in the style of the Nexus testing guide (docs/plugins/testing.md).

The guide imports `from nexus.testing import ...`, a module no nexus-platform
release has; `nexus_testkit.testing` provides those names on the harness (see
docs/from-the-nexus-testing-guide.md). One TestApplication holds both plugins,
task_manager registered first since notifications depends on it; they share the
application's event bus, database and service registry, as on the platform.
"""

import asyncio

import pytest

from nexus_testkit.testing import IntegrationTestCase, TestApplication, TestDatabase, TestEventBus

TASKS = "/api/plugins/task_manager"
NOTIFICATIONS = "/api/plugins/notifications"


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
    """Create the application with task_manager, then notifications, over one bus and database."""
    app = TestApplication(database=test_db, event_bus=test_event_bus)
    await app.setup()
    await app.register_plugin("task_manager")
    await app.register_plugin("notifications", {"max_per_recipient": 10})
    yield app
    await app.cleanup()


@pytest.fixture
def test_client(test_app):
    return test_app.get_client()


class TestNotificationsAPI:
    """Test API endpoint integration across the two plugins."""

    async def test_task_to_notification_workflow(self, test_client, test_db):
        response = await test_client.post(f"{TASKS}/tasks", json={"title": "Ship", "owner": "ada"})
        assert response.status_code == 201
        task = response.json()

        response = await test_client.get(f"{NOTIFICATIONS}/notifications?recipient=ada")
        assert response.status_code == 200
        (note,) = response.json()
        assert note["message"] == "New task: Ship"
        assert note["task_id"] == task["id"]

        response = await test_client.post(f"{NOTIFICATIONS}/notifications/{note['id']}/read")
        assert response.json()["read"] is True

        stored = await test_db.get("plugin:notifications:inbox")
        assert stored["ada"][0]["read"] is True

    async def test_digest_reads_task_managers_service(self, test_client):
        await test_client.post(f"{TASKS}/tasks", json={"title": "Open", "owner": "bo"})
        response = await test_client.get(f"{NOTIFICATIONS}/digest?recipient=bo")
        digest = response.json()
        assert digest["tasks_available"] is True
        assert [t["title"] for t in digest["open_tasks"]] == ["Open"]

    async def test_api_validation(self, test_client):
        response = await test_client.get(f"{NOTIFICATIONS}/notifications")
        assert response.status_code == 422
        response = await test_client.post(f"{NOTIFICATIONS}/notifications/missing/read")
        assert response.status_code == 404


class TestNotificationEvents:
    """Test event system integration."""

    async def test_a_notification_is_announced(self, test_app, test_event_bus, test_client):
        handler_called = asyncio.Event()
        received_events = []

        async def test_handler(event):
            received_events.append(event)
            handler_called.set()

        await test_event_bus.subscribe("notifications.created", test_handler)
        await test_client.post(f"{TASKS}/tasks", json={"title": "Plan", "owner": "cy"})
        await asyncio.wait_for(handler_called.wait(), timeout=1.0)

        assert len(received_events) == 1
        assert received_events[0].data["recipient"] == "cy"
        assert received_events[0].source == "communication.notifications"

    async def test_events_emitted_by_the_test_reach_the_plugin(self, test_app, test_client):
        await test_app.emit_event(
            "task_manager.task_completed", {"task_id": "t9", "title": "Outside", "owner": "di"}
        )
        response = await test_client.get(f"{NOTIFICATIONS}/notifications?recipient=di")
        assert [n["message"] for n in response.json()] == ["Task completed: Outside"]
        events = await test_app.get_emitted_events()
        assert [e["type"] for e in events] == [
            "task_manager.task_completed",
            "notifications.created",
        ]


class TestNotificationsWithTaskManager(IntegrationTestCase):
    """The guide's integration test case: the plugins listed start in that order."""

    plugins = ["task_manager", "notifications"]
    plugin_configs = {"task_manager": {"notify_on_complete": False}}

    async def test_both_plugins_are_loaded(self):
        assert await self.is_plugin_loaded("task_manager")
        assert await self.is_plugin_loaded("notifications")
        assert self.get_plugin("notifications").initialized is True

    async def test_no_completion_notice_when_task_manager_publishes_none(self, test_client):
        response = await test_client.post(f"{TASKS}/tasks", json={"title": "Quiet", "owner": "ed"})
        await test_client.post(f"{TASKS}/tasks/{response.json()['id']}/complete")
        response = await test_client.get(f"{NOTIFICATIONS}/notifications?recipient=ed")
        assert [n["kind"] for n in response.json()] == ["task_created"]

    async def test_a_deleted_user_is_not_told_of_it(self, test_client):
        await test_client.post(f"{TASKS}/tasks", json={"title": "Mine", "owner": "u-5"})
        await self.emit_event("user.deleted", {"user_id": "u-5"})
        response = await test_client.get(f"{NOTIFICATIONS}/notifications?recipient=u-5")
        assert [n["kind"] for n in response.json()] == ["task_created"]
