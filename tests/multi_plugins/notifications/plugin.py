"""Corpus plugin of tests/test_multi_host.py: depends on users (map form), uses its service."""

from fastapi import APIRouter


class NotificationsPlugin:
    def __init__(self):
        self.name = "notifications"
        self.category = "messaging"
        self.version = "1.0.0"
        self.config = {}
        self.db_adapter = self.event_bus = self.service_registry = None
        self.sent = []

    async def initialize(self):
        await self.event_bus.publish("plugin.started", {"name": self.name})
        # users started first: its service is there already.
        self.directory = self.service_registry.get("users.directory")
        if self.directory is None:
            raise RuntimeError("users.directory is not registered: users did not start first")
        self.event_bus.subscribe("user.created", self.on_user_created)
        return True

    async def on_user_created(self, event):
        name = event.data["name"]
        known = name in self.directory.names
        self.sent.append(name)
        await self.db_adapter.set(f"notifications:{name}", {"known": known})
        await self.event_bus.publish("notification.sent", {"to": name})

    async def shutdown(self):
        await self.event_bus.publish("plugin.stopped", {"name": self.name})
        self.event_bus.unsubscribe("user.created", self.on_user_created)

    def get_api_routes(self):
        router = APIRouter()

        @router.get("/sent")
        async def sent():
            return {"sent": self.sent}

        return [router]

    def get_database_schema(self):
        return {"collections": {}}

    async def health_check(self):
        return {"healthy": True}


def create_plugin():
    return NotificationsPlugin()
