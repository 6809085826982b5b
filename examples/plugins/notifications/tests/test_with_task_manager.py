"""notifications and task_manager in one host, as on the platform.

@pytest.mark.nexus_plugins starts both over one event bus, service registry and
data store, task_manager first (notifications depends on it), and stops them in
reverse order. The nexus fixtures are those of the first plugin named
(notifications: nexus_client is at /api/plugins/notifications);
nexus_host.client_for("task_manager") reaches the other.
"""

import pytest

pytestmark = pytest.mark.nexus_plugins("..", "../../task_manager")


async def inbox(client, recipient, **params):
    r = await client.get("/notifications", params={"recipient": recipient, **params})
    assert r.status_code == 200, r.text
    return r.json()


async def test_task_manager_starts_first_and_stops_last(nexus_host):
    assert nexus_host.names == ["task_manager", "notifications"]
    assert nexus_host.plugins["notifications"].initialized
    assert nexus_host.plugins["task_manager"].initialized


async def test_a_task_created_in_task_manager_notifies_its_owner(
    nexus_host, nexus_client, nexus_event_bus
):
    tasks = nexus_host.client_for("task_manager")
    r = await tasks.post("/tasks", json={"title": "Write the report", "owner": "ada"})
    assert r.status_code == 201
    task = r.json()

    (note,) = await inbox(nexus_client, "ada")
    assert (note["kind"], note["task_id"], note["message"]) == (
        "task_created",
        task["id"],
        "New task: Write the report",
    )
    # Each record says which plugin made it.
    nexus_event_bus.assert_published("task_manager.task_created", source="task_manager")
    nexus_event_bus.assert_published(
        "notifications.created",
        data={"notification_id": note["id"], "recipient": "ada", "kind": "task_created"},
        source="notifications",
    )


async def test_complete_and_delete_notify_too(nexus_host, nexus_client):
    tasks = nexus_host.client_for("task_manager")
    task = (await tasks.post("/tasks", json={"title": "Plan", "owner": "ada"})).json()
    await tasks.post(f"/tasks/{task['id']}/complete")
    await tasks.delete(f"/tasks/{task['id']}")
    assert [n["kind"] for n in await inbox(nexus_client, "ada")] == [
        "task_deleted",
        "task_completed",
        "task_created",
    ]


async def test_a_deleted_user_gets_no_more_notifications(nexus_host, nexus_client, nexus_event_bus):
    tasks = nexus_host.client_for("task_manager")
    await tasks.post("/tasks", json={"title": "Mine", "owner": "u-3"})
    # user.deleted comes from outside the two plugins (events.external in task_manager's manifest).
    await nexus_event_bus.publish("user.deleted", {"user_id": "u-3"}, source="platform.users")
    assert (await tasks.get("/tasks", params={"owner": "u-3"})).json() == []
    # task_manager published task_deleted with reason owner_deleted: nobody to tell.
    assert [n["kind"] for n in await inbox(nexus_client, "u-3")] == ["task_created"]


async def test_the_digest_uses_task_managers_service(nexus_host, nexus_client, nexus_services):
    tasks = nexus_host.client_for("task_manager")
    first = (
        await tasks.post("/tasks", json={"title": "A", "owner": "ada", "priority": "high"})
    ).json()
    second = (await tasks.post("/tasks", json={"title": "B", "owner": "ada"})).json()
    await tasks.post(f"/tasks/{second['id']}/complete")
    await nexus_client.post(f"/notifications/{(await inbox(nexus_client, 'ada'))[0]['id']}/read")

    digest = (await nexus_client.get("/digest", params={"recipient": "ada"})).json()
    assert digest == {
        "recipient": "ada",
        "unread": 2,
        "tasks_available": True,
        "open_tasks": [{"id": first["id"], "title": "A", "priority": "high"}],
    }
    assert nexus_services.calls.by("task_manager").last.name == "task_manager.tasks"
    health = (await nexus_client.get("/health")).json()
    assert health["components"]["task_service"] == {"status": "available"}


async def test_a_restarted_task_manager_keeps_notifications_working(nexus_host, nexus_client):
    """Hot swap: task_manager registers a new service; notifications looks it up on each use."""
    tasks = nexus_host.client_for("task_manager")
    await tasks.post("/tasks", json={"title": "Before", "owner": "ada"})
    kept = nexus_host.plugins["notifications"]
    await nexus_host.restart("task_manager")
    assert nexus_host.plugins["notifications"] is kept

    await nexus_host.client_for("task_manager").post(
        "/tasks", json={"title": "After", "owner": "ada"}
    )
    assert [n["message"] for n in await inbox(nexus_client, "ada")] == [
        "New task: After",
        "New task: Before",
    ]
    digest = (await nexus_client.get("/digest", params={"recipient": "ada"})).json()
    assert [t["title"] for t in digest["open_tasks"]] == ["Before", "After"]


@pytest.mark.nexus_plugins(
    "..", "../../task_manager", config={"task_manager": {"notify_on_complete": False}}
)
async def test_no_completion_notice_when_task_manager_publishes_none(nexus_host, nexus_client):
    tasks = nexus_host.client_for("task_manager")
    task = (await tasks.post("/tasks", json={"title": "Quiet", "owner": "ada"})).json()
    await tasks.post(f"/tasks/{task['id']}/complete")
    assert [n["kind"] for n in await inbox(nexus_client, "ada")] == ["task_created"]
