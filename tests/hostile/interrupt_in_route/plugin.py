# A hostile plugin for tests/test_robustness.py: see README.
import sys

from fastapi import APIRouter
from pydantic import BaseModel


class Health(BaseModel):
    healthy: bool


class HostilePlugin:
    def __init__(self):
        self.name = "interrupt_in_route"
        self.category = "test"
        self.version = "0.1.0"
        self.initialized = False
        self.config = {}
        self.db_adapter = self.event_bus = self.service_registry = None

    async def initialize(self):
        self.event_bus.subscribe("user.created", self.on_user)
        self.initialized = True
        return True

    async def on_user(self, event):
        raise KeyboardInterrupt("from a handler")

    async def shutdown(self):
        if self.initialized:
            self.event_bus.unsubscribe("user.created", self.on_user)
        self.initialized = False

    def get_api_routes(self):
        router = APIRouter()

        @router.get("/ping")
        async def ping():
            return {"pong": True}

        @router.get("/interrupt")
        async def interrupt():
            raise KeyboardInterrupt("from a route")

        @router.get("/exit")
        async def exit_():
            sys.exit("from a route")

        return [router]

    def get_database_schema(self):
        return {"collections": {}}

    async def health_check(self):
        return Health(healthy=self.initialized)


def create_plugin():
    return HostilePlugin()
