"""Broken on purpose: initialize() is a plain def, not async: the platform awaits it.

A copy of ../good/plugin.py with this one defect; tests/test_contract.py pins
what the lifecycle contract reports for it.
"""

import logging
from typing import Any

from fastapi import APIRouter
from nexus.plugins import BasePlugin

NAME = "load_interface_sync"
MODES = ("fast", "safe")


class GoodPlugin(BasePlugin):
    def __init__(self):
        super().__init__()
        self.name = NAME
        self.version = "1.0.0"
        self.category = "testing"
        self.logger = logging.getLogger(f"nexus.plugins.{self.category}.{self.name}")
        self.max_items = 10
        self.mode = "safe"

    def initialize(self) -> bool:
        api_key = self.config.get("api_key")
        if not isinstance(api_key, str) or not api_key:
            return False
        self.initialized = True
        return True

    async def shutdown(self) -> None:
        for event_name, handler in list(self._event_subscriptions.items()):
            await self.unsubscribe_from_event(event_name, handler)
        self.initialized = False

    def get_api_routes(self) -> list[APIRouter]:
        router = APIRouter()

        @router.get("/status")
        async def status() -> dict[str, Any]:
            return {"plugin": self.name, "initialized": self.initialized, "mode": self.mode}

        return [router]

    def get_database_schema(self) -> dict[str, Any]:
        return {"collections": {"items": {"indexes": [{"field": "id", "unique": True}]}}}

    async def _on_user_created(self, event) -> None:
        self.logger.info("user created: %s", event.data.get("username", "?"))


def create_plugin():
    return GoodPlugin()
