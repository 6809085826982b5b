# A hostile plugin for tests/test_robustness.py: see README.
import time

from fastapi import APIRouter
from pydantic import BaseModel


class Health(BaseModel):
    healthy: bool


class HostilePlugin:
    def __init__(self):
        self.name = "sleep_in_shutdown"
        self.category = "test"
        self.version = "0.1.0"
        self.initialized = False
        self.config = {}
        self.db_adapter = self.event_bus = self.service_registry = None

    async def initialize(self):
        self.initialized = True
        return True

    async def shutdown(self):
        if self.initialized:
            time.sleep(3600)
        self.initialized = False

    def get_api_routes(self):
        router = APIRouter()

        @router.get("/ping")
        async def ping():
            return {"pong": True}

        return [router]

    def get_database_schema(self):
        return {"collections": {}}

    async def health_check(self):
        return Health(healthy=self.initialized)


def create_plugin():
    return HostilePlugin()
