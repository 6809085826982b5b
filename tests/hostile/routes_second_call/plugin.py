# A hostile plugin for tests/test_robustness.py: see README.
from fastapi import APIRouter
from pydantic import BaseModel


class Health(BaseModel):
    healthy: bool


CALLS = []


class HostilePlugin:
    def __init__(self):
        self.name = "routes_second_call"
        self.category = "test"
        self.version = "0.1.0"
        self.initialized = False
        self.config = {}
        self.db_adapter = self.event_bus = self.service_registry = None

    async def initialize(self):
        self.initialized = True
        return True

    async def shutdown(self):
        self.initialized = False

    def get_api_routes(self):
        CALLS.append(1)
        if len(CALLS) > 1:
            raise SystemExit(f"get_api_routes() called {len(CALLS)} times")
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
