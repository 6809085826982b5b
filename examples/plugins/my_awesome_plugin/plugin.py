"""
My Awesome Plugin

The example plugin of the Nexus "Plugin Basics" guide, made correct:
- the events it publishes are the ones its manifest declares;
- configuration is validated against the manifest's rules and refused when wrong;
- shutdown() unsubscribes its handlers and unregisters its service;
- pydantic v2 API (model_dump) and timezone-aware timestamps.
"""

import logging
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field

from nexus.plugins import BasePlugin, HealthStatus


class ActionRequest(BaseModel):
    """Request model for plugin actions."""

    action: str = Field(..., description="Action to perform")
    parameters: Dict[str, Any] = Field(default_factory=dict)


class ActionResponse(BaseModel):
    """Response model for plugin actions."""

    success: bool
    message: str
    result: Optional[Dict[str, Any]] = None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


class MyAwesomePlugin(BasePlugin):
    """Demonstrates routes, events, configuration, health and data."""

    def __init__(self):
        super().__init__()
        self.name = "my_awesome_plugin"
        self.version = "1.0.0"
        self.description = "An awesome plugin demonstrating Nexus capabilities"
        self.author = "Your Name"
        self.category = "productivity"
        # BasePlugin names its logger before the subclass sets name/category.
        self.logger = logging.getLogger(f"nexus.plugins.{self.category}.{self.name}")

        self.action_count = 0
        self.last_action: Optional[Dict[str, Any]] = None

    async def initialize(self) -> bool:
        try:
            self.logger.info("Initializing %s plugin v%s", self.name, self.version)
            await self._load_configuration()
            await self.subscribe_to_event("user.created", self._handle_user_created)
            await self.subscribe_to_event("system.maintenance", self._handle_maintenance)
            self.register_service(f"{self.name}.api", self)

            self.initialized = True
            self._startup_time = datetime.utcnow()
            await self.publish_event(
                f"{self.name}.initialized", {"version": self.version, "timestamp": _now()}
            )
            return True
        except Exception as e:
            self.logger.error("Failed to initialize %s: %s", self.name, e)
            return False

    async def shutdown(self) -> None:
        self.logger.info("Shutting down %s plugin", self.name)
        try:
            await self._save_state()
        except Exception as e:  # the store may be gone; shutdown must still finish
            self.logger.error("Could not save state: %s", e)
        for event_name, handler in list(self._event_subscriptions.items()):
            await self.unsubscribe_from_event(event_name, handler)
        if self.service_registry:
            for service in list(self._registered_services):
                self.service_registry.unregister(service)
                self._registered_services.discard(service)
        if self.initialized:
            await self.publish_event(f"{self.name}.shutdown", {"action_count": self.action_count})
        self.initialized = False

    def get_api_routes(self) -> List[APIRouter]:
        router = APIRouter(tags=[self.name])

        @router.get("/status")
        async def get_status():
            """Plugin status and statistics."""
            return {
                "plugin": self.name,
                "version": self.version,
                "initialized": self.initialized,
                "action_count": self.action_count,
                "last_action": self.last_action,
                "uptime": self.get_metrics().get("uptime", 0),
            }

        @router.post("/action", response_model=ActionResponse)
        async def perform_action(request: ActionRequest):
            """Perform an action: ping, echo or count."""
            if not await self.get_config("enabled", True):
                raise HTTPException(
                    status_code=status.HTTP_503_SERVICE_UNAVAILABLE, detail="Plugin is disabled"
                )
            try:
                result = await self._execute_action(request.action, request.parameters)
            except ValueError as e:
                return ActionResponse(success=False, message=f"Action failed: {e}")

            self.action_count += 1
            self.last_action = {"action": request.action, "timestamp": _now()}
            await self.set_data("last_action", self.last_action)
            await self.publish_event(
                f"{self.name}.action_completed",
                {"action": request.action, "parameters": request.parameters, "result": result},
            )
            return ActionResponse(
                success=True,
                message=f"Action '{request.action}' completed successfully",
                result=result,
            )

        @router.get("/health")
        async def health():
            """Plugin health check."""
            health_status = await self.health_check()
            return health_status.model_dump(mode="json")

        return [router]

    def get_database_schema(self) -> Dict[str, Any]:
        return {
            "collections": {
                "plugin_actions": {
                    "indexes": [
                        {"field": "id", "unique": True},
                        {"field": "action"},
                        {"field": "timestamp"},
                    ]
                }
            },
            "initial_data": {"config": {"enabled": True, "max_actions_per_minute": 60}},
        }

    async def health_check(self) -> HealthStatus:
        health = await super().health_check()
        health.components["actions"] = {"status": "healthy", "count": self.action_count}
        enabled = await self.get_config("enabled", True)
        health.components["configuration"] = {"status": "healthy" if enabled else "disabled"}
        health.metrics["actions_total"] = float(self.action_count)
        return health

    # -- private ---------------------------------------------------------------

    async def _load_configuration(self) -> None:
        api_key = await self.get_config("api_key")
        if not isinstance(api_key, str) or not api_key:
            raise ValueError("api_key is required and must be a non-empty string")
        max_retries = await self.get_config("max_retries", 3)
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or not 1 <= max_retries <= 10:
            raise ValueError(f"max_retries must be an integer from 1 to 10, got {max_retries!r}")
        timeout = await self.get_config("timeout", 30)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 1 <= timeout <= 300:
            raise ValueError(f"timeout must be a number from 1 to 300, got {timeout!r}")
        enabled = await self.get_config("enabled", True)
        if not isinstance(enabled, bool):
            raise ValueError(f"enabled must be true or false, got {enabled!r}")
        self.logger.debug("Configuration loaded: %d settings", len(self.config))

    async def _handle_user_created(self, event):
        username = event.data.get("username", "Unknown")
        self.logger.info("New user created: %s (ID: %s)", username, event.data.get("user_id"))

    async def _handle_maintenance(self, event):
        self.logger.info("System maintenance event received")
        await self._save_state()

    async def _execute_action(self, action: str, parameters: Dict[str, Any]) -> Dict[str, Any]:
        if action == "ping":
            return {"message": "pong", "timestamp": _now()}
        if action == "echo":
            return {"echo": parameters.get("message", "Hello, World!")}
        if action == "count":
            return {"current_count": self.action_count}
        raise ValueError(f"Unknown action: {action}")

    async def _save_state(self) -> None:
        await self.set_config("action_count", self.action_count)
        await self.set_data("last_action", self.last_action)


def create_plugin():
    """Create and return the plugin instance."""
    return MyAwesomePlugin()
