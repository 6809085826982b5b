"""Depends on publisher (map form), hears its publisher.item_added and looks up its publisher.items."""

from fastapi import APIRouter
from pydantic import BaseModel


class Health(BaseModel):
    healthy: bool


class SetPlugin:
    def __init__(self):
        self.name = "consumer"
        self.category = "test"
        self.version = "0.1.0"
        self.initialized = False
        self.config = {}
        self.db_adapter = self.event_bus = self.service_registry = None
        self.found = None
        self.seen = []

    async def initialize(self):
        self.event_bus.subscribe("publisher.item_added", self._on_event)
        self.found = self.service_registry.get("publisher.items")  # None when given alone
        self.initialized = True
        return True

    async def shutdown(self):
        if self.initialized:  # a second shutdown() does nothing
            self.event_bus.unsubscribe("publisher.item_added", self._on_event)
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
