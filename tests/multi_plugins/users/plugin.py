"""Corpus plugin of tests/test_multi_host.py: a plain class, no nexus-platform needed."""

from fastapi import APIRouter


class Directory:
    def __init__(self):
        self.names = []


class UsersPlugin:
    def __init__(self):
        self.name = "users"
        self.category = "accounts"
        self.version = "1.0.0"
        self.config = {}
        self.db_adapter = self.event_bus = self.service_registry = None
        self.directory = Directory()

    async def initialize(self):
        await self.event_bus.publish("plugin.started", {"name": self.name})
        self.service_registry.register("users.directory", self.directory)
        await self.db_adapter.set("users:count", 0)
        return True

    async def shutdown(self):
        await self.event_bus.publish("plugin.stopped", {"name": self.name})
        self.service_registry.unregister("users.directory")

    def get_api_routes(self):
        router = APIRouter()

        @router.post("/users")
        async def create(body: dict):
            self.directory.names.append(body["name"])
            await self.db_adapter.set(f"users:{body['name']}", body)
            await self.event_bus.publish(
                "user.created", {"name": body["name"]}, source="accounts.users"
            )
            return {"created": body["name"]}

        return [router]

    def get_database_schema(self):
        return {"collections": {}}

    async def health_check(self):
        return {"healthy": True}


def create_plugin():
    return UsersPlugin()
