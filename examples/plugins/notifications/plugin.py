"""
Notifications Plugin

An inbox per user of what happened to their tasks, built on task_manager:
- it depends on task_manager (manifest "dependencies"), so the platform starts it after;
- it subscribes to task_manager.task_created / task_completed / task_deleted and keeps one
  notification per event for the task's owner, under the data key "inbox"
  (recipient -> newest first, at most max_per_recipient each);
- GET /digest uses the service task_manager registers, "task_manager.tasks", for the
  recipient's open tasks. The service is looked up on each use, not kept: when
  task_manager is restarted (hot swap) it registers a new one. Without task_manager
  running the digest still answers, with tasks_available false;
- each notification is published as notifications.created;
- shutdown() unsubscribes its handlers.
"""

import asyncio
import copy
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional

from fastapi import APIRouter, HTTPException, Query, status
from nexus.plugins import BasePlugin, HealthStatus
from pydantic import BaseModel

INBOX_KEY = "inbox"
TASK_SERVICE = "task_manager.tasks"
EVENTS = {
    "task_manager.task_created": "task_created",
    "task_manager.task_completed": "task_completed",
    "task_manager.task_deleted": "task_deleted",
}


class Notification(BaseModel):
    id: str
    recipient: str
    kind: str
    task_id: Optional[str] = None
    message: str
    created_at: str
    read: bool = False


class OpenTask(BaseModel):
    id: str
    title: str
    priority: str


class Digest(BaseModel):
    recipient: str
    unread: int
    tasks_available: bool
    open_tasks: List[OpenTask]


class ConfigurationError(ValueError):
    """A configuration value the plugin cannot run with."""


@dataclass(frozen=True)
class Settings:
    max_per_recipient: int
    notify_on_delete: bool


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _text(value: Any) -> Optional[str]:
    """A non-empty string from an event field, or None (payloads come from other plugins)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (str, int)):
        text = str(value).strip()
        return text or None
    return None


class NotificationsPlugin(BasePlugin):
    """An inbox per user of what happened to their tasks."""

    def __init__(self):
        super().__init__()
        self.name = "notifications"
        self.version = "1.0.0"
        self.description = "An inbox per user of what happened to their tasks in task_manager"
        self.author = "Nexus Examples"
        self.category = "communication"
        # BasePlugin names its logger before the subclass sets name/category.
        self.logger = logging.getLogger(f"nexus.plugins.{self.category}.{self.name}")
        self.settings: Optional[Settings] = None
        self._lock = asyncio.Lock()

    # -- lifecycle -------------------------------------------------------------------

    async def initialize(self) -> bool:
        try:
            self.settings = await self._load_settings()
        except ConfigurationError as e:
            self.logger.error("Invalid configuration of %s: %s", self.name, e)
            return False
        for event_name in EVENTS:
            await self.subscribe_to_event(event_name, self._on_task_event)
        self.initialized = True
        self._startup_time = datetime.now(timezone.utc).replace(tzinfo=None)
        self.logger.info(
            "%s ready; task_manager's service is %s",
            self.name,
            "available" if self.get_service(TASK_SERVICE) is not None else "not available",
        )
        return True

    async def shutdown(self) -> None:
        for event_name, handler in list(self._event_subscriptions.items()):
            await self.unsubscribe_from_event(event_name, handler)
        self.initialized = False

    async def _load_settings(self) -> Settings:
        limit = await self.get_config("max_per_recipient", 50)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise ConfigurationError(
                f"max_per_recipient must be an integer from 1 to 1000, got {limit!r}"
            )
        on_delete = await self.get_config("notify_on_delete", True)
        if not isinstance(on_delete, bool):
            raise ConfigurationError(f"notify_on_delete must be true or false, got {on_delete!r}")
        return Settings(limit, on_delete)

    # -- events ------------------------------------------------------------------------

    async def _on_task_event(self, event) -> None:
        kind = EVENTS.get(event.name)
        data = event.data if isinstance(event.data, dict) else {}
        recipient = _text(data.get("owner"))
        if kind is None or recipient is None:
            return  # a task without an owner has nobody to tell
        task_id = _text(data.get("task_id"))
        title = _text(data.get("title")) or (f"task {task_id}" if task_id else "a task")
        if kind == "task_created":
            message = f"New task: {title}"
        elif kind == "task_completed":
            message = f"Task completed: {title}"
        else:
            if not self.settings.notify_on_delete or data.get("reason") == "owner_deleted":
                return  # an owner who was deleted reads no inbox
            message = f"Task deleted: {title}"
        note = Notification(
            id=uuid.uuid4().hex,
            recipient=recipient,
            kind=kind,
            task_id=task_id,
            message=message,
            created_at=_now(),
        ).model_dump()
        async with self._lock:
            inbox = await self._load_inbox()
            kept = [note, *inbox.get(recipient, [])]
            inbox[recipient] = kept[: self.settings.max_per_recipient]
            await self._save_inbox(inbox)
        await self.publish_event(
            f"{self.name}.created",
            {"notification_id": note["id"], "recipient": recipient, "kind": kind},
        )

    # -- storage -----------------------------------------------------------------------

    async def _load_inbox(self) -> Dict[str, List[Dict[str, Any]]]:
        stored = await self.get_data(INBOX_KEY)
        return copy.deepcopy(stored) if isinstance(stored, dict) else {}

    async def _save_inbox(self, inbox: Dict[str, List[Dict[str, Any]]]) -> None:
        await self.set_data(INBOX_KEY, copy.deepcopy(inbox))

    # -- routes ------------------------------------------------------------------------

    def get_api_routes(self) -> List[APIRouter]:
        router = APIRouter(tags=[self.name])

        @router.get("/notifications", response_model=List[Notification])
        async def list_notifications(
            recipient: str = Query(..., min_length=1, max_length=100),
            unread: bool = False,
        ):
            """A recipient's notifications, newest first; ?unread=true for the unread only."""
            notes = (await self._load_inbox()).get(recipient, [])
            return [n for n in notes if not (unread and n["read"])]

        @router.post("/notifications/{notification_id}/read", response_model=Notification)
        async def mark_read(notification_id: str):
            async with self._lock:
                inbox = await self._load_inbox()
                for notes in inbox.values():
                    for note in notes:
                        if note["id"] == notification_id:
                            if not note["read"]:
                                note["read"] = True
                                await self._save_inbox(inbox)
                            return note
            raise HTTPException(
                status_code=status.HTTP_404_NOT_FOUND,
                detail=f"Notification {notification_id} not found",
            )

        @router.get("/digest", response_model=Digest)
        async def digest(recipient: str = Query(..., min_length=1, max_length=100)):
            """Unread count and open tasks of a recipient, from task_manager's service."""
            notes = (await self._load_inbox()).get(recipient, [])
            service = self.get_service(TASK_SERVICE)  # looked up now: a restart replaces it
            tasks = await service.list_tasks(status="open", owner=recipient) if service else []
            return {
                "recipient": recipient,
                "unread": sum(not n["read"] for n in notes),
                "tasks_available": service is not None,
                "open_tasks": [
                    {"id": t["id"], "title": t["title"], "priority": t["priority"]} for t in tasks
                ],
            }

        @router.get("/health")
        async def health():
            return (await self.health_check()).model_dump(mode="json")

        return [router]

    def get_database_schema(self) -> Dict[str, Any]:
        return {"collections": {"inbox": {"indexes": [{"field": "recipient"}]}}}

    async def health_check(self) -> HealthStatus:
        health = await super().health_check()
        available = self.get_service(TASK_SERVICE) is not None
        # Degraded, not unhealthy: the inbox works without task_manager, the digest lists no tasks.
        health.components["task_service"] = {"status": "available" if available else "missing"}
        return health


def create_plugin():
    """Create and return the plugin instance."""
    return NotificationsPlugin()
