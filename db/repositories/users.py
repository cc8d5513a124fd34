"""The users repository."""

from __future__ import annotations

from datetime import datetime

from bson import ObjectId
from pymongo import ReturnDocument

from db.repositories.base import Repository, oid, upsert_and_read
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

    async def page(self, *, skip: int, limit: int) -> tuple[list[User], int]:
        """Every account by email, with the total."""
        cursor = self.collection.find({}, sort=[("email", 1)], skip=skip, limit=limit, hint="email_unique")
        items = [User.from_mongo(doc) async for doc in cursor]
        return items, await self.collection.estimated_document_count()

    async def set_password(self, user_id: str, *, password_hash: str, now: datetime) -> User | None:
        """Store a new password hash and raise the token version (older tokens and sessions stop working)."""
        doc = await self.collection.find_one_and_update(
            {"_id": oid(user_id)},
            {"$set": {"password_hash": password_hash, "updated_at": now}, "$inc": {"token_version": 1}},
            return_document=ReturnDocument.AFTER,
        )
        return self._load(doc)

    async def set_active(self, user_id: str, *, active: bool, now: datetime) -> bool:
        """Activate or deactivate the account; True when this call changed it (False: already so, or unknown)."""
        result = await self._update_one(
            {"_id": oid(user_id), "is_active": {"$ne": active}}, {"$set": {"is_active": active, "updated_at": now}}
        )
        return result.modified_count == 1

    async def revoke_tokens(self, user_id: str) -> None:
        """Raise the token version: every token and session issued before stops working."""
        await self._update_one({"_id": oid(user_id)}, {"$inc": {"token_version": 1}})

    async def count_active_admins(self) -> int:
        """How many admin accounts can sign in."""
        return await self.collection.count_documents({"role": Role.ADMIN.value, "is_active": {"$ne": False}})
