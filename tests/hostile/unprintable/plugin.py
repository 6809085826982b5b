# A hostile plugin for tests/test_robustness.py: see README.
from fastapi import APIRouter


class Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("no str for you")

    def __repr__(self):
        raise RuntimeError("no repr for you")


class NoRepr:
    def __repr__(self):
        raise RuntimeError("no repr for you")

    __str__ = __repr__


class Health:
    @property
    def healthy(self):
        raise Unprintable()

    def __repr__(self):
        raise RuntimeError("no repr for you")


class HostilePlugin:
    def __init__(self):
        self.name = "unprintable"
        self.category = "test"
        self.version = "0.1.0"
        self.initialized = False
        self.config = {}
        self.db_adapter = self.event_bus = self.service_registry = None

    async def initialize(self):
        if self.config.get("mode") == "raise":
            raise Unprintable()
        if self.config.get("mode") == "return":
            return NoRepr()
        self.initialized = True
        return True

    async def shutdown(self):
        self.initialized = False
        raise Unprintable()

    def get_api_routes(self):
        router = APIRouter()

        @router.get("/ping")
        async def ping():
            raise Unprintable()

        return [router]

    def get_database_schema(self):
        return NoRepr()

    async def health_check(self):
        return Health()


def create_plugin():
    return HostilePlugin()
