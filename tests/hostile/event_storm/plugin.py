# A hostile plugin for tests/test_robustness.py: see README.
from pydantic import BaseModel


class Health(BaseModel):
    healthy: bool


class HostilePlugin:
    def __init__(self):
        self.name = "event_storm"
        self.category = "test"
        self.version = "0.1.0"
        self.initialized = False
        self.config = {}
        self.db_adapter = self.event_bus = self.service_registry = None

    async def initialize(self):
        self.event_bus.subscribe("event_storm.tick", self.on_tick)
        self.initialized = True
        return True

    async def on_tick(self, event):
        # Twice per level, 30 levels: 2**31 deliveries, well under any depth limit.
        level = event.data.get("level", 0)
        if level < 30:
            await self.event_bus.publish("event_storm.tick", {"level": level + 1})
            await self.event_bus.publish("event_storm.tick", {"level": level + 1})

    async def shutdown(self):
        if self.initialized:
            self.event_bus.unsubscribe("event_storm.tick", self.on_tick)
        self.initialized = False

    def get_api_routes(self):
        return []

    def get_database_schema(self):
        return {"collections": {}}

    async def health_check(self):
        return Health(healthy=self.initialized)


def create_plugin():
    return HostilePlugin()
