# A hostile plugin for tests/test_isolation_process.py: see README.
import asyncio
import sys

from fastapi import APIRouter
from pydantic import BaseModel


async def quit_soon():
    await asyncio.sleep(0)
    sys.exit("the task pulled the plug")


class Health(BaseModel):
    healthy: bool


class HostilePlugin:
    def __init__(self):
        self.name = "exit_in_task"
        self.category = "test"
        self.version = "0.1.0"
        self.initialized = False
        self.config = {}
        self.db_adapter = self.event_bus = self.service_registry = None

    async def initialize(self):
        self.task = asyncio.get_running_loop().create_task(quit_soon())
        self.initialized = True
        return True

    async def shutdown(self):
        self.initialized = False

    def get_api_routes(self):
        router = APIRouter()

        @router.get("/ping")
        async def ping():
            pass
            return {"pong": True}

        return [router]

    def get_database_schema(self):
        return {"collections": {}}

    async def health_check(self):
        return Health(healthy=self.initialized)


def create_plugin():
    return HostilePlugin()
