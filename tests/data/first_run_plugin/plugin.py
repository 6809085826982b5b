"""The plugin tests/test_first_run.py copies into a fresh plugin repository."""

import logging

from fastapi import APIRouter
from nexus.plugins import BasePlugin


class MyPlugin(BasePlugin):
    def __init__(self):
        super().__init__()
        self.name = "my_plugin"
        self.version = "0.1.0"
        self.category = "productivity"
        self.logger = logging.getLogger(f"nexus.plugins.{self.category}.{self.name}")

    async def initialize(self) -> bool:
        greeting = await self.get_config("greeting", "hello")
        if not isinstance(greeting, str):
            self.logger.error("greeting must be a string, got %r", greeting)
            return False
        self.initialized = True
        await self.publish_event("my_plugin.initialized", {"version": self.version})
        return True

    async def shutdown(self) -> None:
        self.initialized = False

    def get_api_routes(self):
        router = APIRouter()

        @router.get("/hello")
        async def hello():
            return {"greeting": await self.get_config("greeting", "hello")}

        return [router]

    def get_database_schema(self):
        return {"collections": {}}


def create_plugin():
    return MyPlugin()
