"""Base for stored documents: converts `_id` and ObjectId references at the repository boundary.

Other writers (an older version, an import tool) store documents in the product guide's shape without the fields
this code adds: reading fills them with defaults instead of failing (a stored null in a defaulted field reads as
the default; a missing required creation time is the id's own timestamp).
"""

from __future__ import annotations

import types
from datetime import datetime
from typing import Any, ClassVar, Self, Union, get_args, get_origin

from bson import ObjectId
from pydantic import BaseModel, ConfigDict, model_validator
from pydantic.fields import FieldInfo


def new_id() -> str:
    """A fresh document id."""
    return str(ObjectId())


def is_object_id(value: str) -> bool:
    """True when the string is a well-formed ObjectId."""
    return ObjectId.is_valid(value) and isinstance(value, str) and len(value) == 24


def _accepts_none(field: FieldInfo) -> bool:
    annotation = field.annotation
    if annotation is None or annotation is Any:
        return True
    return get_origin(annotation) in (Union, types.UnionType) and type(None) in get_args(annotation)


class Stored(BaseModel):
    """A stored document or sub-document: a null where the field has a default (and allows no null) reads as it."""

    model_config = ConfigDict(extra="ignore", use_enum_values=False)

    # Fields with a default that allow no null (computed once per class).
    _null_means_default: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls._null_means_default = frozenset(
            name for name, field in cls.model_fields.items() if not field.is_required() and not _accepts_none(field)
        )

    @model_validator(mode="before")
    @classmethod
    def _null_is_default(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        dropped = {name for name in cls._null_means_default if name in data and data[name] is None}
        return {k: v for k, v in data.items() if k not in dropped} if dropped else data


class Document(Stored):
    """A stored document; `id` is the string form of `_id`."""

    # Fields holding references stored as ObjectId in MongoDB.
    object_id_fields: ClassVar[tuple[str, ...]] = ()
    # Required times that a document written elsewhere may lack, in order: the first missing one is the id's
    # timestamp, a later one the field before it (an update never precedes the creation).
    id_time_fields: ClassVar[tuple[str, ...]] = ("created_at", "updated_at")

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
        key = data.pop("_id")
        data["id"] = str(key)
        for name in cls.object_id_fields:
            if isinstance(data.get(name), ObjectId):
                data[name] = str(data[name])
        if isinstance(key, ObjectId):
            _fill_times(data, cls.id_time_fields, cls.model_fields, key.generation_time)
        return cls.model_validate(data)


def _fill_times(data: dict[str, Any], names: tuple[str, ...], fields: dict[str, FieldInfo], start: datetime) -> None:
    previous = start
    for name in names:
        if name not in fields or not fields[name].is_required():
            continue
        if data.get(name) is None:
            data[name] = previous
        previous = data[name]


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
