"""Corpus plugin of tests/test_multi_host.py on nexus-platform's BasePlugin (needs_platform)."""

from fastapi import APIRouter
from nexus.plugins import BasePlugin


class AuditPlugin(BasePlugin):
    def __init__(self):
        super().__init__()
        self.name = "audit"
        self.category = "compliance"
        self.version = "1.0.0"
        self.entries = []

    async def initialize(self):
        await self.subscribe_to_event("user.created", self.on_user_created)
        self.register_service("audit.log", self.entries)
        return True

    async def on_user_created(self, event):
        self.entries.append(event.data["name"])
        await self.publish_event("audit.recorded", {"name": event.data["name"]})

    async def shutdown(self):
        await self.unsubscribe_from_event("user.created", self.on_user_created)
        self.service_registry.unregister("audit.log")

    def get_api_routes(self):
        router = APIRouter()

        @router.get("/entries")
        async def entries():
            return {"entries": self.entries}

        return [router]

    def get_database_schema(self):
        return {"collections": {}}
