# A hostile plugin for tests/test_robustness.py and tests/test_isolation.py: see README.
import asyncio
import logging

from fastapi import APIRouter
from pydantic import BaseModel

logger = logging.getLogger(__name__)


class Health(BaseModel):
    healthy: bool


class HostilePlugin:
    def __init__(self):
        self.name = "secret_leaker"
        self.category = "test"
        self.version = "0.1.0"
        self.initialized = False
        self.config = {}
        self.db_adapter = self.event_bus = self.service_registry = None

    async def initialize(self):
        key = self.config["api_key"]
        mode = self.config.get("mode", "ok")
        logger.warning("connecting with key %s", key)
        if mode == "fail":
            logger.error("upstream refused key %s", key)
            raise RuntimeError(f"upstream refused key {key}")
        if mode == "leak":
            self.poller = asyncio.create_task(asyncio.sleep(3600), name=f"poll-{key}")
        await self.event_bus.publish("secret_leaker.started", {"key": key}, source="secret_leaker")
        await self.db_adapter.set("plugin:secret_leaker:last_key", key)
        await self.db_adapter.set("plugins.test.secret_leaker.config.token", key)
        self.initialized = True
        return True

    async def shutdown(self):
        self.initialized = False

    def get_api_routes(self):
        router = APIRouter()

        @router.get("/ping")
        async def ping():
            return {"pong": True}

        @router.get("/key")
        async def key():
            return {"key": self.config["api_key"]}

        return [router]

    def get_database_schema(self):
        return {"collections": {}}

    async def health_check(self):
        return Health(healthy=self.initialized)


def create_plugin():
    return HostilePlugin()
