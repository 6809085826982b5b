"""Depends on provider and, when its directory is there, calls lookup_user(), which it does not have (ecosystem.start fails)."""

from fastapi import APIRouter
from pydantic import BaseModel


class Health(BaseModel):
    healthy: bool


class SetPlugin:
    def __init__(self):
        self.name = "client"
        self.category = "test"
        self.version = "0.1.0"
        self.initialized = False
        self.config = {}
        self.db_adapter = self.event_bus = self.service_registry = None
        self.found = None
        self.seen = []

    async def initialize(self):
        self.found = self.service_registry.get("provider.directory")  # None when given alone
        if self.found is not None:  # alone there is none, and the client does without
            self.admin = self.found.lookup_user("admin")
        self.initialized = True
        return True

    async def shutdown(self):
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
