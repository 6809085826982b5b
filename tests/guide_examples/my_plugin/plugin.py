"""The plugin of the Nexus testing guide's examples, as nexus-platform 0.1.5 loads it.

Users are kept under the data key "users"; creating one publishes
"user.created" with the user's fields.  The guide's examples call
emit_user_created_event() and create_user_and_emit_event() on it.
"""

import uuid
from typing import Any, Dict, List, Optional

from fastapi import APIRouter, HTTPException, Response
from nexus.plugins import BasePlugin
from pydantic import BaseModel, Field


class UserCreate(BaseModel):
    username: str = Field(min_length=3, max_length=50)
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    full_name: Optional[str] = None
    tags: List[str] = Field(default_factory=list)


class UserUpdate(BaseModel):
    full_name: Optional[str] = None
    tags: Optional[List[str]] = None


class MyPlugin(BasePlugin):
    def __init__(self):
        super().__init__()
        self.name = "my_plugin"
        self.version = "1.0.0"
        self.category = "business"

    async def initialize(self) -> bool:
        self.initialized = True
        return True

    async def shutdown(self) -> None:
        self.initialized = False

    async def _users(self) -> Dict[str, Dict[str, Any]]:
        return dict(await self.get_data("users") or {})

    async def emit_user_created_event(self, user: Dict[str, Any]) -> None:
        await self.publish_event("user.created", dict(user))

    async def create_user_and_emit_event(self, fields: Dict[str, Any]) -> Dict[str, Any]:
        users = await self._users()
        user = {"user_id": uuid.uuid4().hex, **UserCreate(**fields).model_dump()}
        users[user["user_id"]] = user
        await self.set_data("users", users)
        await self.emit_user_created_event(user)
        return user

    def get_api_routes(self) -> List[APIRouter]:
        router = APIRouter()

        @router.post("/users", status_code=201)
        async def create_user(payload: UserCreate):
            users = await self._users()
            if any(u["username"] == payload.username for u in users.values()):
                raise HTTPException(status_code=409, detail="Username already exists")
            return await self.create_user_and_emit_event(payload.model_dump())

        @router.get("/users")
        async def list_users():
            users = list((await self._users()).values())
            return {"users": users, "pagination": {"total": len(users)}}

        @router.get("/users/{user_id}")
        async def get_user(user_id: str):
            user = (await self._users()).get(user_id)
            if user is None:
                raise HTTPException(status_code=404, detail="User not found")
            return user

        @router.put("/users/{user_id}")
        async def update_user(user_id: str, payload: UserUpdate):
            users = await self._users()
            if user_id not in users:
                raise HTTPException(status_code=404, detail="User not found")
            users[user_id].update(payload.model_dump(exclude_unset=True))
            await self.set_data("users", users)
            return users[user_id]

        @router.delete("/users/{user_id}", status_code=204)
        async def delete_user(user_id: str):
            users = await self._users()
            if users.pop(user_id, None) is None:
                raise HTTPException(status_code=404, detail="User not found")
            await self.set_data("users", users)
            return Response(status_code=204)

        return [router]

    def get_database_schema(self) -> Dict[str, Any]:
        return {"collections": {"users": {"indexes": [{"field": "username", "unique": True}]}}}


def create_plugin():
    return MyPlugin()
