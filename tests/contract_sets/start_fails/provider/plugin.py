"""Registers provider.directory, an object with find_user()."""

from fastapi import APIRouter
from pydantic import BaseModel


class Health(BaseModel):
    healthy: bool


class Directory:
    """The service: find_user(), which the client calls lookup_user() (an API drift)."""

    def find_user(self, name):
        return {"name": name}


class SetPlugin:
    def __init__(self):
        self.name = "provider"
        self.category = "test"
        self.version = "0.1.0"
        self.initialized = False
        self.config = {}
        self.db_adapter = self.event_bus = self.service_registry = None
        self.found = None
        self.seen = []

    async def initialize(self):
        self.service_registry.register("provider.directory", Directory())
        self.initialized = True
        return True

    async def shutdown(self):
        if self.initialized:  # a second shutdown() does nothing
            self.service_registry.unregister("provider.directory")
        self.initialized = False

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
