"""Tests of notifications alone, as its author writes them: the nexus fixtures only.

The fixtures find the plugin on their own (the nearest manifest.json above this
file). Alone, nothing publishes task events and no task service is registered:
the tests publish task_manager's events themselves, and register a stand-in
service where the digest needs one. tests/test_with_task_manager.py runs the two
plugins together.
"""

import pytest

from nexus_testkit import PluginStartError

INBOX_KEY = "plugin:notifications:inbox"
SOURCE = "business.task_manager"  # the source BasePlugin gives task_manager's events


async def task_event(bus, kind, **data):
    await bus.publish(f"task_manager.task_{kind}", data, source=SOURCE)


async def test_a_created_task_lands_in_its_owners_inbox(nexus_client, nexus_event_bus):
    await task_event(nexus_event_bus, "created", task_id="t1", title="Write", owner="ada")
    r = await nexus_client.get("/notifications", params={"recipient": "ada"})
    assert r.status_code == 200
    (note,) = r.json()
    assert note["message"] == "New task: Write"
    assert (note["kind"], note["task_id"], note["read"]) == ("task_created", "t1", False)
    nexus_event_bus.assert_published(
        "notifications.created",
        data={"notification_id": note["id"], "recipient": "ada", "kind": "task_created"},
        times=1,
    )
    assert (await nexus_client.get("/notifications", params={"recipient": "bob"})).json() == []


async def test_newest_first_and_completion(nexus_client, nexus_event_bus):
    await task_event(nexus_event_bus, "created", task_id="t1", title="Write", owner="ada")
    await task_event(nexus_event_bus, "completed", task_id="t1", title="Write", owner="ada")
    notes = (await nexus_client.get("/notifications", params={"recipient": "ada"})).json()
    assert [n["message"] for n in notes] == ["Task completed: Write", "New task: Write"]


async def test_numeric_owners_are_user_ids_as_strings(nexus_client, nexus_event_bus):
    await task_event(nexus_event_bus, "created", task_id=7, title="Plan", owner=42)
    (note,) = (await nexus_client.get("/notifications", params={"recipient": "42"})).json()
    assert note["task_id"] == "7"


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"task_id": "t1", "title": "No owner"},
        {"owner": None},
        {"owner": ""},
        {"owner": True},
        {"owner": ["ada"]},
    ],
)
async def test_events_without_an_owner_notify_nobody(nexus_client, nexus_event_bus, data):
    await task_event(nexus_event_bus, "created", **data)
    assert not nexus_event_bus.handler_failures
    assert [e.name for e in nexus_event_bus.published] == ["task_manager.task_created"]


async def test_a_deleted_task_notifies_unless_its_owner_was_deleted(nexus_client, nexus_event_bus):
    await task_event(nexus_event_bus, "deleted", task_id="t1", owner="ada", reason="deleted")
    await task_event(nexus_event_bus, "deleted", task_id="t2", owner="bob", reason="owner_deleted")
    notes = (await nexus_client.get("/notifications", params={"recipient": "ada"})).json()
    assert [n["message"] for n in notes] == ["Task deleted: task t1"]
    assert (await nexus_client.get("/notifications", params={"recipient": "bob"})).json() == []


@pytest.mark.nexus_config(notify_on_delete=False)
async def test_deletions_can_be_left_out(nexus_client, nexus_event_bus):
    await task_event(nexus_event_bus, "deleted", task_id="t1", owner="ada", reason="deleted")
    assert (await nexus_client.get("/notifications", params={"recipient": "ada"})).json() == []


@pytest.mark.nexus_config(max_per_recipient=2)
async def test_the_oldest_notifications_go_first(nexus_client, nexus_event_bus, nexus_data_store):
    for n in range(3):
        await task_event(nexus_event_bus, "created", task_id=f"t{n}", title=f"T{n}", owner="ada")
    notes = (await nexus_client.get("/notifications", params={"recipient": "ada"})).json()
    assert [n["task_id"] for n in notes] == ["t2", "t1"]
    stored = await nexus_data_store.get(INBOX_KEY)
    assert [n["task_id"] for n in stored["ada"]] == ["t2", "t1"]  # plain JSON values


async def test_mark_read(nexus_client, nexus_event_bus):
    await task_event(nexus_event_bus, "created", task_id="t1", title="Write", owner="ada")
    await task_event(nexus_event_bus, "created", task_id="t2", title="Read", owner="ada")
    newest, _ = (await nexus_client.get("/notifications", params={"recipient": "ada"})).json()
    r = await nexus_client.post(f"/notifications/{newest['id']}/read")
    assert r.status_code == 200 and r.json()["read"] is True
    unread = await nexus_client.get("/notifications", params={"recipient": "ada", "unread": True})
    assert [n["task_id"] for n in unread.json()] == ["t1"]
    assert (await nexus_client.post("/notifications/nope/read")).status_code == 404


async def test_the_recipient_is_required(nexus_client):
    assert (await nexus_client.get("/notifications")).status_code == 422
    assert (await nexus_client.get("/digest")).status_code == 422


async def test_digest_without_task_manager(nexus_client, nexus_event_bus):
    await task_event(nexus_event_bus, "created", task_id="t1", title="Write", owner="ada")
    r = await nexus_client.get("/digest", params={"recipient": "ada"})
    assert r.json() == {
        "recipient": "ada",
        "unread": 1,
        "tasks_available": False,
        "open_tasks": [],
    }


class StandInTasks:
    """What the digest uses of task_manager's service "task_manager.tasks"."""

    def __init__(self, tasks):
        self.tasks = tasks
        self.calls = []

    async def list_tasks(self, *, status=None, owner=None):
        self.calls.append({"status": status, "owner": owner})
        return [t for t in self.tasks if t["owner"] == owner and t["status"] == status]


async def test_digest_lists_open_tasks_from_the_service(nexus_client, nexus_services):
    tasks = StandInTasks(
        [
            {"id": "t1", "title": "Write", "priority": "high", "owner": "ada", "status": "open"},
            {"id": "t2", "title": "Old", "priority": "low", "owner": "ada", "status": "completed"},
        ]
    )
    nexus_services.register("task_manager.tasks", tasks)
    digest = (await nexus_client.get("/digest", params={"recipient": "ada"})).json()
    assert digest["tasks_available"] is True
    assert digest["open_tasks"] == [{"id": "t1", "title": "Write", "priority": "high"}]
    assert tasks.calls == [{"status": "open", "owner": "ada"}]
    assert "task_manager.tasks" in nexus_services.lookups


async def test_health_says_whether_the_task_service_is_there(nexus_client, nexus_services):
    health = (await nexus_client.get("/health")).json()
    assert health["healthy"] is True
    assert health["components"]["task_service"] == {"status": "missing"}
    nexus_services.register("task_manager.tasks", StandInTasks([]))
    health = (await nexus_client.get("/health")).json()
    assert health["components"]["task_service"] == {"status": "available"}


@pytest.mark.parametrize(
    ("config", "complaint"),
    [
        ({"max_per_recipient": 0}, "max_per_recipient must be an integer from 1 to 1000"),
        ({"max_per_recipient": True}, "max_per_recipient must be an integer from 1 to 1000"),
        ({"notify_on_delete": "yes"}, "notify_on_delete must be true or false"),
    ],
)
async def test_invalid_configuration_is_refused(nexus_host_factory, config, complaint):
    host = nexus_host_factory(config=config)
    with pytest.raises(PluginStartError) as info:
        async with host:
            pass
    assert "initialize() returned False" in str(info.value)
    assert any(complaint in line for line in info.value.log_lines)
    assert not host.event_bus.subscriptions  # refused before subscribing


async def test_shutdown_unsubscribes_every_handler(nexus_host, nexus_event_bus):
    assert sorted(nexus_host.plugin_subscriptions()) == [
        "task_manager.task_completed",
        "task_manager.task_created",
        "task_manager.task_deleted",
    ]
    await nexus_host.aclose()
    assert nexus_host.plugin_subscriptions() == {}
