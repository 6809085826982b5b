"""
Task Manager Plugin

A business plugin keeping tasks in the plugin's data store:
- CRUD routes on one router, mounted at /api/plugins/task_manager;
- the whole task map is one JSON-compatible value under the data key "tasks"
  (string ids, ISO timestamps), so it survives the SQL adapter's json round trip;
- configuration is validated in initialize(), which refuses bad values;
- tasks of a deleted user are removed when "user.deleted" arrives;
- a small background task refreshes a stats snapshot under the data key "stats";
- with notify_url configured, a completed task is also POSTed to that URL (httpx);
  a failed call is logged and does not fail the completion;
- shutdown() cancels that task, unsubscribes its handler and unregisters its service.
"""

import asyncio
import copy
import hmac
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Annotated, Any, Dict, List, Literal, Optional

from fastapi import APIRouter, Header, HTTPException, Query, Response, status
from nexus.plugins import BasePlugin, HealthStatus
from pydantic import BaseModel, ConfigDict, StringConstraints, model_validator

Priority = Literal["low", "normal", "high"]
TaskStatus = Literal["open", "completed"]
PRIORITIES = ("low", "normal", "high")
# The pattern tells the OpenAPI schema (and clients) what strip_whitespace implies:
# a title of spaces alone is empty.
Title = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=r"\S")
]
Description = Annotated[str, StringConstraints(max_length=2000)]
Owner = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=r"\S")
]

TASKS_KEY = "tasks"
STATS_KEY = "stats"
SERVICE_NAME = "task_manager.tasks"
MIN_TOKEN_LENGTH = 16


# -- models --------------------------------------------------------------------


class TaskCreate(BaseModel):
    """Body of POST /tasks. Without a priority the configured default_priority applies."""

    # Owners are user ids; the platform's are sometimes numbers.
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    title: Title
    description: Optional[Description] = None
    priority: Optional[Priority] = None
    owner: Optional[Owner] = None


class TaskUpdate(BaseModel):
    """Body of PATCH /tasks/{task_id}: only the fields sent are changed."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    title: Optional[Title] = None
    description: Optional[Description] = None
    priority: Optional[Priority] = None
    owner: Optional[Owner] = None

    @model_validator(mode="after")
    def _no_null_for_required_fields(self) -> "TaskUpdate":
        # description and owner may be cleared with null; a task always has a title and priority.
        for field in ("title", "priority"):
            if field in self.model_fields_set and getattr(self, field) is None:
                raise ValueError(f"{field} cannot be null")
        return self


class Task(BaseModel):
    """A stored task, as the API returns it."""

    id: str
    title: str
    description: Optional[str] = None
    priority: Priority
    status: TaskStatus
    owner: Optional[str] = None
    created_at: str
    updated_at: str
    completed_at: Optional[str] = None


class TaskStats(BaseModel):
    total: int
    open: int
    completed: int
    by_priority: Dict[str, int]
    max_tasks: int
    remaining: int


# -- configuration ---------------------------------------------------------------


class ConfigurationError(ValueError):
    """A configuration value the plugin cannot run with. Messages never quote secrets."""


@dataclass(frozen=True)
class Settings:
    max_tasks: int
    default_priority: str
    notify_on_complete: bool
    stats_refresh_seconds: float
    webhook_token: Optional[str]
    notify_url: Optional[str] = None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


class StorageUnavailable(Exception):
    """The data store failed; routes answer 503."""


# -- the service other plugins use ----------------------------------------------------


class TaskService:
    """Registered as "task_manager.tasks": read access for other plugins."""

    def __init__(self, plugin: "TaskManagerPlugin") -> None:
        self._plugin = plugin

    async def list_tasks(
        self, *, status: Optional[str] = None, owner: Optional[str] = None
    ) -> List[Dict[str, Any]]:
        tasks = await self._plugin._load_tasks()
        return [
            t
            for t in tasks.values()
            if (status is None or t["status"] == status)
            and (owner is None or t["owner"] == str(owner))
        ]

    async def get_task(self, task_id: str) -> Optional[Dict[str, Any]]:
        return (await self._plugin._load_tasks()).get(task_id)

    async def count(self) -> int:
        return len(await self._plugin._load_tasks())


# -- the plugin ----------------------------------------------------------------------


class TaskManagerPlugin(BasePlugin):
    """Tasks with priorities, owners and completion."""

    def __init__(self):
        super().__init__()
        self.name = "task_manager"
        self.version = "1.2.0"
        self.description = "Tasks with priorities, owners and completion"
        self.author = "Nexus Examples"
        self.category = "business"
        # BasePlugin names its logger before the subclass sets name/category.
        self.logger = logging.getLogger(f"nexus.plugins.{self.category}.{self.name}")

        self.settings: Optional[Settings] = None
        self.service = TaskService(self)
        self.last_stats: Optional[Dict[str, Any]] = None
        self._lock = asyncio.Lock()
        self._refresher: Optional[asyncio.Task] = None

    # -- lifecycle -------------------------------------------------------------------

    async def initialize(self) -> bool:
        self.logger.info("Initializing %s plugin v%s", self.name, self.version)
        try:
            self.settings = await self._load_settings()
        except ConfigurationError as e:
            self.logger.error("Invalid configuration of %s: %s", self.name, e)
            return False
        try:
            tasks = await self._load_tasks()
            await self.subscribe_to_event("user.deleted", self._handle_user_deleted)
            self.register_service(SERVICE_NAME, self.service)
            self._refresher = asyncio.create_task(
                self._refresh_stats_periodically(), name=f"{self.name}.stats_refresher"
            )
            self._background_tasks.append(self._refresher)
        except Exception as e:
            self.logger.error("Failed to initialize %s: %s", self.name, e)
            await self._release_resources()
            return False

        self.initialized = True
        # Naive UTC, as BasePlugin.get_metrics() subtracts it from datetime.utcnow().
        self._startup_time = datetime.now(timezone.utc).replace(tzinfo=None)
        self.logger.info(
            "%s ready: %d stored tasks, max_tasks=%d, webhook %s",
            self.name,
            len(tasks),
            self.settings.max_tasks,
            "enabled" if self.settings.webhook_token else "disabled",
        )
        return True

    async def shutdown(self) -> None:
        self.logger.info("Shutting down %s plugin", self.name)
        await self._release_resources()
        self.initialized = False

    async def _release_resources(self) -> None:
        refresher, self._refresher = self._refresher, None
        if refresher is not None:
            refresher.cancel()
            try:
                await refresher
            except asyncio.CancelledError:
                # The refresher's cancellation is expected; our own (a platform time-out) is not.
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise
            except Exception as e:  # the loop logs its own errors; this is belt and braces
                self.logger.error("Stats refresher ended with %s", e)
            if refresher in self._background_tasks:
                self._background_tasks.remove(refresher)
        for event_name, handler in list(self._event_subscriptions.items()):
            await self.unsubscribe_from_event(event_name, handler)
        if self.service_registry:
            for service in list(self._registered_services):
                self.service_registry.unregister(service)
                self._registered_services.discard(service)

    # -- routes ------------------------------------------------------------------------

    def get_api_routes(self) -> List[APIRouter]:
        router = APIRouter(tags=[self.name])

        @router.get("/tasks", response_model=List[Task])
        async def list_tasks(
            status_filter: Optional[TaskStatus] = Query(None, alias="status"),
            owner: Optional[str] = None,
        ):
            """List tasks in creation order."""
            return await self._guarded(self.service.list_tasks(status=status_filter, owner=owner))

        @router.post("/tasks", response_model=Task, status_code=status.HTTP_201_CREATED)
        async def create_task(payload: TaskCreate):
            """Create a task; 409 once max_tasks tasks exist."""
            return await self._create_task(payload, via="api")

        @router.get("/tasks/{task_id}", response_model=Task)
        async def get_task(task_id: str):
            task = await self._guarded(self.service.get_task(task_id))
            if task is None:
                raise self._not_found(task_id)
            return task

        @router.patch("/tasks/{task_id}", response_model=Task)
        async def update_task(task_id: str, payload: TaskUpdate):
            """Change the fields sent; task_updated lists the fields that changed."""
            changes = payload.model_dump(exclude_unset=True)
            async with self._lock:
                tasks = await self._guarded(self._load_tasks())
                task = tasks.get(task_id)
                if task is None:
                    raise self._not_found(task_id)
                changed = sorted(k for k, v in changes.items() if task.get(k) != v)
                if not changed:
                    return task
                task.update({k: changes[k] for k in changed})
                task["updated_at"] = _now()
                await self._guarded(self._save_tasks(tasks))
            await self.publish_event(
                f"{self.name}.task_updated", {"task_id": task_id, "changed": changed}
            )
            return task

        @router.post("/tasks/{task_id}/complete", response_model=Task)
        async def complete_task(task_id: str):
            """Complete a task. Completing a completed task changes nothing."""
            async with self._lock:
                tasks = await self._guarded(self._load_tasks())
                task = tasks.get(task_id)
                if task is None:
                    raise self._not_found(task_id)
                if task["status"] == "completed":
                    return task
                now = _now()
                task.update(status="completed", completed_at=now, updated_at=now)
                await self._guarded(self._save_tasks(tasks))
            if self.settings.notify_on_complete:
                await self.publish_event(
                    f"{self.name}.task_completed",
                    {
                        "task_id": task_id,
                        "title": task["title"],
                        "owner": task["owner"],
                        "completed_at": task["completed_at"],
                    },
                )
            if self.settings.notify_url:
                await self._notify_completed(task)
            return task

        @router.delete("/tasks/{task_id}", status_code=status.HTTP_204_NO_CONTENT)
        async def delete_task(task_id: str):
            async with self._lock:
                tasks = await self._guarded(self._load_tasks())
                task = tasks.pop(task_id, None)
                if task is None:
                    raise self._not_found(task_id)
                await self._guarded(self._save_tasks(tasks))
            await self.publish_event(
                f"{self.name}.task_deleted",
                {"task_id": task_id, "owner": task["owner"], "reason": "deleted"},
            )
            return Response(status_code=status.HTTP_204_NO_CONTENT)

        @router.get("/stats", response_model=TaskStats)
        async def get_stats():
            return self._compute_stats(await self._guarded(self._load_tasks()))

        @router.post("/webhook/tasks", response_model=Task, status_code=status.HTTP_201_CREATED)
        async def webhook_create_task(
            payload: TaskCreate, x_webhook_token: Optional[str] = Header(None)
        ):
            """Create a task for an external system that sends the shared X-Webhook-Token."""
            expected = self.settings.webhook_token
            if not expected:
                raise HTTPException(
                    status_code=status.HTTP_403_FORBIDDEN,
                    detail="The webhook is disabled: no webhook_token is configured",
                )
            if x_webhook_token is None or not hmac.compare_digest(
                x_webhook_token.encode(), expected.encode()
            ):
                self.logger.warning("Rejected a webhook call: missing or wrong X-Webhook-Token")
                raise HTTPException(
                    status_code=status.HTTP_401_UNAUTHORIZED, detail="Invalid webhook token"
                )
            return await self._create_task(payload, via="webhook")

        @router.get("/health")
        async def health():
            return (await self.health_check()).model_dump(mode="json")

        return [router]

    def get_database_schema(self) -> Dict[str, Any]:
        return {
            "collections": {
                "tasks": {
                    "indexes": [
                        {"field": "id", "unique": True},
                        {"field": "status"},
                    ]
                }
            }
        }

    async def health_check(self) -> HealthStatus:
        health = await super().health_check()
        try:
            stats = self._compute_stats(await self._load_tasks())
        except Exception as e:
            health.healthy = False
            health.message = f"Task storage unavailable: {type(e).__name__}"
            health.components["tasks"] = {"status": "unavailable"}
            return health
        health.components["tasks"] = {
            "status": "healthy",
            "total": stats["total"],
            "open": stats["open"],
            "completed": stats["completed"],
        }
        running = self._refresher is not None and not self._refresher.done()
        health.components["stats_refresher"] = {"status": "running" if running else "stopped"}
        health.metrics["tasks_total"] = float(stats["total"])
        health.metrics["tasks_open"] = float(stats["open"])
        health.metrics["tasks_completed"] = float(stats["completed"])
        return health

    # -- configuration -------------------------------------------------------------------

    async def _load_settings(self) -> Settings:
        max_tasks = await self.get_config("max_tasks", 100)
        if not _is_int(max_tasks) or not 1 <= max_tasks <= 10000:
            raise ConfigurationError(
                f"max_tasks must be an integer from 1 to 10000, got {max_tasks!r}"
            )
        default_priority = await self.get_config("default_priority", "normal")
        if default_priority not in PRIORITIES:
            raise ConfigurationError(
                f"default_priority must be one of {', '.join(PRIORITIES)}, got {default_priority!r}"
            )
        notify = await self.get_config("notify_on_complete", True)
        if not isinstance(notify, bool):
            raise ConfigurationError(f"notify_on_complete must be true or false, got {notify!r}")
        refresh = await self.get_config("stats_refresh_seconds", 30)
        if not _is_number(refresh) or not 0.01 <= refresh <= 3600:
            raise ConfigurationError(
                f"stats_refresh_seconds must be a number from 0.01 to 3600, got {refresh!r}"
            )
        token = await self.get_config("webhook_token")
        if token is not None and (not isinstance(token, str) or len(token) < MIN_TOKEN_LENGTH):
            # Never quote the value: it is a secret, even when it is a wrong one.
            raise ConfigurationError(
                f"webhook_token must be a string of at least {MIN_TOKEN_LENGTH} characters"
            )
        notify_url = await self.get_config("notify_url")
        if notify_url is not None and (
            not isinstance(notify_url, str) or not notify_url.startswith(("http://", "https://"))
        ):
            raise ConfigurationError(f"notify_url must be an http(s) URL, got {notify_url!r}")
        return Settings(
            max_tasks, default_priority, notify, float(refresh), token or None, notify_url
        )

    # -- storage -------------------------------------------------------------------------

    async def _load_tasks(self) -> Dict[str, Dict[str, Any]]:
        # get_data ignores its default when a database is attached: a missing key is None.
        stored = await self.get_data(TASKS_KEY)
        # The memory adapter hands out the stored object itself; work on a copy so that
        # a failed save leaves the stored tasks as they were.
        return copy.deepcopy(stored) if isinstance(stored, dict) else {}

    async def _save_tasks(self, tasks: Dict[str, Dict[str, Any]]) -> None:
        await self.set_data(TASKS_KEY, copy.deepcopy(tasks))

    async def _guarded(self, awaitable):
        """Await a storage operation; a store failure becomes 503 instead of a crash."""
        try:
            return await awaitable
        except HTTPException:
            raise
        except Exception as e:
            self.logger.error("Task storage failed: %s: %s", type(e).__name__, e)
            raise HTTPException(
                status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
                detail="Task storage is unavailable, try again later",
            ) from e

    # -- behaviour -----------------------------------------------------------------------

    async def _create_task(self, payload: TaskCreate, via: str) -> Dict[str, Any]:
        settings = self.settings
        async with self._lock:
            tasks = await self._guarded(self._load_tasks())
            if len(tasks) >= settings.max_tasks:
                raise HTTPException(
                    status_code=status.HTTP_409_CONFLICT,
                    detail=f"Task limit reached: at most {settings.max_tasks} tasks",
                )
            now = _now()
            task = Task(
                id=uuid.uuid4().hex,
                title=payload.title,
                description=payload.description,
                priority=payload.priority or settings.default_priority,
                status="open",
                owner=payload.owner,
                created_at=now,
                updated_at=now,
            ).model_dump()
            tasks[task["id"]] = task
            await self._guarded(self._save_tasks(tasks))
        self.logger.info("Task %s created via %s", task["id"], via)
        await self.publish_event(
            f"{self.name}.task_created",
            {
                "task_id": task["id"],
                "title": task["title"],
                "priority": task["priority"],
                "owner": task["owner"],
                "via": via,
            },
        )
        return task

    async def _handle_user_deleted(self, event) -> None:
        user_id = event.data.get("user_id")
        if user_id is None:
            self.logger.warning("Ignoring user.deleted without a user_id (from %s)", event.source)
            return
        owner = str(user_id)
        async with self._lock:
            tasks = await self._load_tasks()
            removed = [t for t in tasks.values() if t["owner"] == owner]
            if not removed:
                return
            for task in removed:
                del tasks[task["id"]]
            # A store failure propagates: the platform logs the failed handler.
            await self._save_tasks(tasks)
        self.logger.info("Deleted %d tasks of deleted user %s", len(removed), owner)
        for task in removed:
            await self.publish_event(
                f"{self.name}.task_deleted",
                {"task_id": task["id"], "owner": owner, "reason": "owner_deleted"},
            )

    def _compute_stats(self, tasks: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
        by_priority = dict.fromkeys(PRIORITIES, 0)
        open_count = 0
        for task in tasks.values():
            by_priority[task["priority"]] = by_priority.get(task["priority"], 0) + 1
            if task["status"] == "open":
                open_count += 1
        max_tasks = self.settings.max_tasks if self.settings else 0
        return {
            "total": len(tasks),
            "open": open_count,
            "completed": len(tasks) - open_count,
            "by_priority": by_priority,
            "max_tasks": max_tasks,
            "remaining": max(max_tasks - len(tasks), 0),
        }

    async def _refresh_stats_periodically(self) -> None:
        """Keep a stats snapshot under the "stats" data key for dashboards."""
        while True:
            await asyncio.sleep(self.settings.stats_refresh_seconds)
            try:
                snapshot = self._compute_stats(await self._load_tasks())
                snapshot["refreshed_at"] = _now()
                await self.set_data(STATS_KEY, snapshot)
                self.last_stats = snapshot
            except Exception as e:  # a store hiccup must not end the refresher
                self.logger.warning("Stats refresh failed: %s: %s", type(e).__name__, e)

    async def _notify_completed(self, task: Dict[str, Any]) -> None:
        """POST a completed task to notify_url; a failure is logged, the completion stands."""
        import httpx  # only plugins that notify need it

        url = self.settings.notify_url
        try:
            async with httpx.AsyncClient(timeout=5.0) as client:
                response = await client.post(url, json={"event": "task_completed", "task": task})
                response.raise_for_status()
        except Exception:  # a notification must never fail the completion itself
            self.logger.error("Notifying %s of task %s failed", url, task["id"], exc_info=True)

    @staticmethod
    def _not_found(task_id: str) -> HTTPException:
        return HTTPException(
            status_code=status.HTTP_404_NOT_FOUND, detail=f"Task {task_id} not found"
        )


def create_plugin():
    """Create and return the plugin instance."""
    return TaskManagerPlugin()
