"""Registers publisher.items and publishes publisher.item_added; hears platform.tick from outside the set."""

from fastapi import APIRouter
from pydantic import BaseModel


class Health(BaseModel):
    healthy: bool


class SetPlugin:
    def __init__(self):
        self.name = "publisher"
        self.category = "test"
        self.version = "0.1.0"
        self.initialized = False
        self.config = {}
        self.db_adapter = self.event_bus = self.service_registry = None
        self.found = None
        self.seen = []

    async def initialize(self):
        self.event_bus.subscribe("platform.tick", self._on_event)
        self.service_registry.register("publisher.items", {"owner": self.name})
        await self.event_bus.publish("publisher.item_added", {"by": self.name}, source=self.name)
        self.initialized = True
        return True

    async def shutdown(self):
        if self.initialized:  # a second shutdown() does nothing
            self.event_bus.unsubscribe("platform.tick", self._on_event)
            self.service_registry.unregister("publisher.items")
        self.initialized = False

    async def _on_event(self, event):
        self.seen.append(event.name)

    def get_api_routes(self):
        router = APIRouter()

        @router.get("/ping")
        async def ping():
            return {"plugin": self.name, "found": self.found is not None}

        return [router]

    def get_database_schema(self):
        return {"collections": {}}

    async def health_check(self):
        return Health(healthy=self.initialized)


def create_plugin():
    return SetPlugin()
