# A hostile plugin for tests/test_guards.py: see README.
import _socket
import asyncio
import socket
import urllib.request

from fastapi import APIRouter
from pydantic import BaseModel


def lookup(name):
    try:
        socket.getaddrinfo(name, 443)
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    return "resolved"


AT_IMPORT = lookup("import.example.com")


class Health(BaseModel):
    healthy: bool
    lookup: str


class HostilePlugin:
    def __init__(self):
        self.name = "network_everywhere"
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

        @router.get("/import")
        async def at_import():
            return {"error": AT_IMPORT}

        @router.get("/reach/{how}")
        async def reach(how: str):
            port = int(self.config.get("port", 9))
            try:
                if how == "_socket":
                    raw = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
                    try:
                        raw.connect(("127.0.0.1", port))
                    finally:
                        raw.close()
                elif how == "urllib":
                    urllib.request.urlopen(f"http://api.example.com:{port}/hello", timeout=2)
                elif how == "asyncio":
                    await asyncio.open_connection("localhost", port)
                elif how == "gethostbyname":
                    socket.gethostbyname("name.example.com")
                elif how == "sendmsg":
                    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                        udp.sendmsg([b"ping"], [], 0, ("127.0.0.1", port))
            except OSError as exc:
                return {"error": f"{type(exc).__name__}: {exc}"}
            return {"error": None}

        return [router]

    def get_database_schema(self):
        self.schema_lookup = lookup("schema.example.com")
        return {"collections": {}}

    async def health_check(self):
        return Health(healthy=self.initialized, lookup=lookup("health.example.com"))


def create_plugin():
    return HostilePlugin()
