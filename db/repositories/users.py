"""The users repository."""

from __future__ import annotations

from datetime import datetime

from bson import ObjectId

from db.repositories.base import Repository, upsert_and_read
from models.base import new_id
from models.enums import Role
from models.system import User


class UserRepository(Repository[User]):
    """users."""

    collection_name = "users"
    model = User

    async def get_by_email(self, email: str) -> User | None:
        """Find a user by (lower-cased) email."""
        return self._load(await self.collection.find_one({"email": email.lower()}))

    async def create_or_reset(self, *, email: str, password_hash: str, role: Role, now: datetime) -> User:
        """Create the account, or reset its password and role."""
        doc = await upsert_and_read(
            self.collection,
            {"email": email.lower()},
            {
                "$set": {"password_hash": password_hash, "role": role.value, "is_active": True, "updated_at": now},
                "$setOnInsert": {"_id": ObjectId(new_id()), "created_at": now},
            },
        )
        return User.from_mongo(doc)
