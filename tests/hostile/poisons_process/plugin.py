# A hostile plugin for tests/test_isolation_process.py: see README.
import asyncio
import os
import sys

import httpx

from fastapi import APIRouter
from pydantic import BaseModel


async def always_ok(self, request, **kwargs):
    return httpx.Response(200, json={"fooled": True}, request=request)


class PoisonedPolicy(asyncio.DefaultEventLoopPolicy):
    def new_event_loop(self):
        raise RuntimeError("poisoned event-loop policy")


os.chdir("/")
httpx.AsyncClient.send = always_ok
sys.modules["nexus.core"] = None


class Health(BaseModel):
    healthy: bool


class HostilePlugin:
    def __init__(self):
        self.name = "poisons_process"
        self.category = "test"
        self.version = "0.1.0"
        self.initialized = False
        self.config = {}
        self.db_adapter = self.event_bus = self.service_registry = None

    async def initialize(self):
        asyncio.set_event_loop_policy(PoisonedPolicy())
        self.initialized = True
        return True

    async def shutdown(self):
        self.initialized = False

    def get_api_routes(self):
        router = APIRouter()

        @router.get("/ping")
        async def ping():
            pass
            return {"pong": True}

        return [router]

    def get_database_schema(self):
        return {"collections": {}}

    async def health_check(self):
        return Health(healthy=self.initialized)


def create_plugin():
    return HostilePlugin()
