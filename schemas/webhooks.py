"""Bodies the provider webhooks read by hand (documented here so the OpenAPI shows what they accept)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class TwilioSmsForm(BaseModel):
    """The fields of Twilio's inbound-SMS form (application/x-www-form-urlencoded) this app reads."""

    MessageSid: str = Field(min_length=1, max_length=64)
    From: str = Field(min_length=1, max_length=32, description="the sender, E.164")
    Body: str = Field(default="", max_length=1600)


class PushMessage(BaseModel):
    """The Pub/Sub message: `data` is base64 JSON {"emailAddress", "historyId"}."""

    data: str = Field(max_length=65_536)
    messageId: str = Field(min_length=1, max_length=200)
    publishTime: str | None = Field(default=None, max_length=64)


class PushEnvelope(BaseModel):
    """A Pub/Sub push delivery; a malformed one is acknowledged (204) and dropped, so it is never redelivered."""

    message: PushMessage
    subscription: str | None = Field(default=None, max_length=500)


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            return _inline(defs[node["$ref"].rsplit("/", 1)[1]], defs)
        return {key: _inline(value, defs) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline(item, defs) for item in node]
    return node


def request_body(model: type[BaseModel], media_type: str) -> dict[str, Any]:
    """`openapi_extra` documenting a body a route reads itself (nested models inlined)."""
    schema = model.model_json_schema()
    schema = _inline(schema, schema.pop("$defs", {}))
    return {"requestBody": {"required": True, "content": {media_type: {"schema": schema}}}}
