# A hostile plugin for tests/test_robustness.py and tests/test_isolation.py: see README.
import asyncio
import logging
import socket

import httpx
from fastapi import APIRouter
from pydantic import BaseModel

logger = logging.getLogger(__name__)


class Health(BaseModel):
    healthy: bool


class HostilePlugin:
    def __init__(self):
        self.name = "network_client"
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
        router = APIRouter()

        @router.get("/ping")
        async def ping():
            return {"pong": True}

        @router.get("/connect/{how}")
        async def connect(how: str):
            host, port = "127.0.0.1", int(self.config["port"])
            if how == "socket":
                with socket.create_connection((host, port), timeout=2) as sock:
                    sock.sendall(b"ping\n")
                    return {"reply": sock.recv(64).decode()}
            if how == "asyncio":
                reader, writer = await asyncio.open_connection(host, port)
                writer.write(b"ping\n")
                await writer.drain()
                reply = await reader.readline()
                writer.close()
                await writer.wait_closed()
                return {"reply": reply.decode()}
            # trust_env=False: no proxy from the environment, only the loopback server.
            async with httpx.AsyncClient(trust_env=False, timeout=2) as client:
                response = await client.get(f"http://{host}:{port}/hello")
                return {"reply": response.text}

        return [router]

    def get_database_schema(self):
        return {"collections": {}}

    async def health_check(self):
        return Health(healthy=self.initialized)


def create_plugin():
    return HostilePlugin()
