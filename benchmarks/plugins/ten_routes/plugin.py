"""A good plugin with ten routes: an inventory with CRUD, search, stats and settings."""

import logging
from typing import Any

from fastapi import APIRouter, HTTPException, Query
from nexus.plugins import BasePlugin
from pydantic import BaseModel, Field


class ItemIn(BaseModel):
    name: str = Field(min_length=1, max_length=40)
    quantity: int = Field(ge=0, le=1000)
    active: bool = True


class Item(ItemIn):
    id: int


class TenPlugin(BasePlugin):
    def __init__(self):
        super().__init__()
        self.name = "ten_routes"
        self.version = "1.0.0"
        self.category = "testing"
        self.logger = logging.getLogger("nexus.plugins.testing.ten_routes")
        self.items: dict[int, Item] = {}
        self.next_id = 1

    async def initialize(self) -> bool:
        self.initialized = True
        return True

    async def shutdown(self) -> None:
        self.initialized = False

    def get_api_routes(self) -> list[APIRouter]:
        router = APIRouter()

        def find(item_id: int) -> Item:
            if item_id not in self.items:
                raise HTTPException(status_code=404, detail="no such item")
            return self.items[item_id]

        @router.get("/status")
        async def status() -> dict[str, Any]:
            return {"initialized": self.initialized, "items": len(self.items)}

        @router.get("/items", response_model=list[Item])
        async def list_items(limit: int = Query(10, ge=1, le=100)) -> list[Item]:
            return list(self.items.values())[:limit]

        @router.post("/items", response_model=Item, status_code=201)
        async def create(item: ItemIn) -> Item:
            created = Item(id=self.next_id, **item.model_dump())
            self.items[created.id] = created
            self.next_id += 1
            await self.set_data(f"item:{created.id}", created.model_dump())
            return created

        @router.get("/items/{item_id}", response_model=Item)
        async def read(item_id: int) -> Item:
            return find(item_id)

        @router.put("/items/{item_id}", response_model=Item)
        async def replace(item_id: int, item: ItemIn) -> Item:
            find(item_id)
            self.items[item_id] = Item(id=item_id, **item.model_dump())
            return self.items[item_id]

        @router.patch("/items/{item_id}/quantity", response_model=Item)
        async def adjust(item_id: int, delta: int = Query(ge=-1000, le=1000)) -> Item:
            item = find(item_id)
            item.quantity = max(0, min(1000, item.quantity + delta))
            return item

        @router.delete("/items/{item_id}", status_code=204)
        async def delete(item_id: int) -> None:
            find(item_id)
            del self.items[item_id]
            await self.set_data(f"item:{item_id}", {"deleted": True})

        @router.get("/search", response_model=list[Item])
        async def search(q: str = Query(min_length=1, max_length=20)) -> list[Item]:
            return [i for i in self.items.values() if q.lower() in i.name.lower()]

        @router.get("/stats")
        async def stats() -> dict[str, int]:
            return {"count": len(self.items), "total": sum(i.quantity for i in self.items.values())}

        @router.get("/health/detail")
        async def detail() -> dict[str, Any]:
            return {"ok": True}

        return [router]

    def get_database_schema(self) -> dict[str, Any]:
        return {"collections": {"items": {"indexes": [{"field": "id", "unique": True}]}}}


def create_plugin():
    return TenPlugin()
