"""Passes every check: a copy of ../good/plugin.py whose /status carries a timing value.

On a memory store the value is always 0.0 (as two quick runs can measure
the same uptime to the microsecond); on an sql store it changes from run to
run.  store.round_trip must treat that as noise, not as a finding: the
difference does not come back in a second sql run.
"""

import logging
import random
from typing import Any

from fastapi import APIRouter
from nexus.plugins import BasePlugin

NAME = "good_sql_timing"
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

    async def initialize(self) -> bool:
        api_key = await self.get_config("api_key")
        if not isinstance(api_key, str) or not api_key:
            self.logger.error("api_key is required and must be a non-empty string")
            return False
        max_items = await self.get_config("max_items", 10)
        if (
            isinstance(max_items, bool)
            or not isinstance(max_items, int)
            or not 1 <= max_items <= 100
        ):
            self.logger.error("max_items must be an integer from 1 to 100, got %r", max_items)
            return False
        mode = await self.get_config("mode", "safe")
        if mode not in MODES:
            self.logger.error("mode must be one of %s, got %r", MODES, mode)
            return False
        self.max_items, self.mode = max_items, mode
        await self.subscribe_to_event("user.created", self._on_user_created)
        self.initialized = True
        await self.publish_event(f"{NAME}.started", {"max_items": max_items, "mode": mode})
        return True

    async def shutdown(self) -> None:
        for event_name, handler in list(self._event_subscriptions.items()):
            await self.unsubscribe_from_event(event_name, handler)
        self.initialized = False

    def get_api_routes(self) -> list[APIRouter]:
        router = APIRouter()

        @router.get("/status")
        async def status() -> dict[str, Any]:
            store = await self.db_adapter.health_check()
            took = 0.0 if store.get("type") == "memory" else random.random()
            return {"plugin": self.name, "initialized": self.initialized, "took": took}

        return [router]

    def get_database_schema(self) -> dict[str, Any]:
        return {"collections": {"items": {"indexes": [{"field": "id", "unique": True}]}}}

    async def _on_user_created(self, event) -> None:
        self.logger.info("user created: %s", event.data.get("username", "?"))


def create_plugin():
    return GoodPlugin()
