"""Base for stored documents: converts `_id` and ObjectId references at the repository boundary."""

from __future__ import annotations

from typing import Any, ClassVar, Self

from bson import ObjectId
from pydantic import BaseModel, ConfigDict


def new_id() -> str:
    """A fresh document id."""
    return str(ObjectId())


def is_object_id(value: str) -> bool:
    """True when the string is a well-formed ObjectId."""
    return ObjectId.is_valid(value) and isinstance(value, str) and len(value) == 24


class Document(BaseModel):
    """A stored document; `id` is the string form of `_id`."""

    model_config = ConfigDict(extra="ignore", use_enum_values=False)

    # Fields holding references stored as ObjectId in MongoDB.
    object_id_fields: ClassVar[tuple[str, ...]] = ()

    id: str

    def to_mongo(self) -> dict[str, Any]:
        """The document as stored: `_id` and references as ObjectId, enums as their values."""
        data = self.model_dump(mode="python", exclude={"id"})
        data = plain(data)
        data["_id"] = ObjectId(self.id)
        for name in self.object_id_fields:
            if data.get(name) is not None:
                data[name] = ObjectId(data[name])
        return data

    @classmethod
    def from_mongo(cls, raw: dict[str, Any]) -> Self:
        """Build the model from a stored document."""
        data = dict(raw)
        data["id"] = str(data.pop("_id"))
        for name in cls.object_id_fields:
            if isinstance(data.get(name), ObjectId):
                data[name] = str(data[name])
        return cls.model_validate(data)


def plain(value: Any) -> Any:
    """Enums to their values, recursively, so BSON can encode them."""
    from enum import Enum

    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value
