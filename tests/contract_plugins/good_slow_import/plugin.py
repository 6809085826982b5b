"""A correct plugin whose module does slow, synchronous work at import time.

Importing blocks by nature (the platform imports plugins synchronously too),
so the contract must not report it as blocking the event loop: it should pass
every check, like ../good.  It has no configuration, which keeps the number of
imports the contract makes (one per hosted instance) small.
"""

import logging
import time
from typing import Any

from fastapi import APIRouter
from nexus.plugins import BasePlugin

NAME = "good_slow_import"

time.sleep(0.25)  # e.g. loading a lookup table when the module is imported


class GoodSlowImportPlugin(BasePlugin):
    def __init__(self):
        super().__init__()
        self.name = NAME
        self.version = "1.0.0"
        self.category = "testing"
        self.logger = logging.getLogger(f"nexus.plugins.{self.category}.{self.name}")

    async def initialize(self) -> bool:
        await self.subscribe_to_event("user.created", self._on_user_created)
        self.initialized = True
        await self.publish_event(f"{NAME}.started", {})
        return True

    async def shutdown(self) -> None:
        for event_name, handler in list(self._event_subscriptions.items()):
            await self.unsubscribe_from_event(event_name, handler)
        self.initialized = False

    def get_api_routes(self) -> list[APIRouter]:
        router = APIRouter()

        @router.get("/status")
        async def status() -> dict[str, Any]:
            return {"plugin": self.name, "initialized": self.initialized}

        return [router]

    def get_database_schema(self) -> dict[str, Any]:
        return {"collections": {}}

    async def _on_user_created(self, event) -> None:
        self.logger.info("user created: %s", event.data.get("username", "?"))


def create_plugin():
    return GoodSlowImportPlugin()
