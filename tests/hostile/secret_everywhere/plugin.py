# A hostile plugin for tests/test_robustness.py: see README.
import logging
import sys
import warnings

from fastapi import APIRouter
from pydantic import BaseModel

# A logger that does not propagate: nothing above it (pytest's capture included) sees it.
quiet = logging.getLogger(__name__ + ".quiet")
quiet.propagate = False
quiet.addHandler(logging.StreamHandler(sys.stderr))


class Health(BaseModel):
    healthy: bool


class HostilePlugin:
    def __init__(self):
        self.name = "secret_everywhere"
        self.category = "test"
        self.version = "0.1.0"
        self.initialized = False
        self.config = {}
        self.db_adapter = self.event_bus = self.service_registry = None

    async def initialize(self):
        key = self.config.get("api_key")
        print(f"stdout: using key {key}")
        print(f"stderr: using key {key}", file=sys.stderr)
        warnings.warn(f"deprecated key {key}", DeprecationWarning, stacklevel=1)
        quiet.warning("quiet logger: key %s", key)
        self.initialized = True
        return True

    async def shutdown(self):
        self.initialized = False

    def get_api_routes(self):
        router = APIRouter()

        @router.get("/key")
        async def key():
            return {"key": self.config.get("api_key")}

        @router.get("/fail")
        async def fail():
            raise RuntimeError(f"refused key {self.config.get('api_key')}")

        return [router]

    def get_database_schema(self):
        return {"collections": {}}

    async def health_check(self):
        return Health(healthy=self.initialized)


def create_plugin():
    return HostilePlugin()
