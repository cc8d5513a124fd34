"""A loopback fake of OpenAI's chat completions endpoint, recording every request and answering from a script.

Scripted answers are consumed in order, one per request (a retry consumes the next one). With the queue empty
the fake calls `default` when one is set (request body -> JSON object for the content), else answers 500, so an
unscripted call is never mistaken for a model answer. Used by tests and bench only; needs runtime packages alone.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from services.loopback import LoopbackFake

DEFAULT_API_KEY = "test"


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The chat messages sent."""
        return list(self.body.get("messages", []))

    def content_of(self, role: str) -> str:
        """The text of the messages with `role`, joined by newlines."""
        return "\n".join(_text(message.get("content")) for message in self.messages if message.get("role") == role)

    @property
    def schema_name(self) -> str | None:
        """The name of the JSON schema asked for in response_format, if any."""
        response_format = self.body.get("response_format") or {}
        return (response_format.get("json_schema") or {}).get("name")


@dataclass(frozen=True)
class _Scripted:
    content: str | None = None
    status: int = 200
    delay: float = 0.0
    refusal: str | None = None
    finish_reason: str = "stop"
    extra: dict[str, Any] = field(default_factory=dict)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


class FakeOpenAI(LoopbackFake):
    """`POST /v1/chat/completions` served by uvicorn on a free loopback port, scriptable per request."""

    def __init__(self, *, api_key: str = DEFAULT_API_KEY) -> None:
        self.api_key = api_key
        self.requests: list[RecordedRequest] = []
        self.default: Callable[[dict[str, Any]], dict[str, Any]] | None = None
        self._queue: list[_Scripted] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.app = self._build_app()
        self.serve(self.app)

    @property
    def base_url(self) -> str:
        """The value for OPENAI_BASE_URL."""
        return self._server.url + "/v1"

    def stop(self) -> None:
        """Stop serving; delayed answers still pending are cut short."""
        self._stopping.set()
        super().stop()

    def _enqueue(self, item: _Scripted, count: int) -> None:
        with self._lock:
            self._queue.extend([item] * count)

    def queue_json(self, obj: Any, *, delay: float = 0.0, count: int = 1) -> None:
        """Answer with `json.dumps(obj)` as the assistant message content."""
        self._enqueue(_Scripted(content=json.dumps(obj), delay=delay), count)

    def queue_raw(self, text: str, *, delay: float = 0.0, count: int = 1) -> None:
        """Answer with `text` verbatim as the content (e.g. invalid JSON)."""
        self._enqueue(_Scripted(content=text, delay=delay), count)

    def queue_delay(self, seconds: float, *, count: int = 1) -> None:
        """Sleep `seconds` before answering (to force a client timeout), then answer 500."""
        self._enqueue(_Scripted(status=500, delay=seconds), count)

    def queue_status(self, status: int, *, count: int = 1) -> None:
        """Answer with HTTP `status` and an OpenAI error body."""
        self._enqueue(_Scripted(status=status), count)

    def queue_refusal(self, text: str = "I can't help with that.", *, count: int = 1) -> None:
        """Answer with a model refusal (content null, refusal text)."""
        self._enqueue(_Scripted(refusal=text), count)

    @property
    def pending(self) -> int:
        """Scripted answers not used yet."""
        with self._lock:
            return len(self._queue)

    def _completion(self, body: dict[str, Any], item: _Scripted) -> dict[str, Any]:
        prompt = "".join(_text(message.get("content")) for message in body.get("messages", []))
        completion = item.content or item.refusal or ""
        prompt_tokens, completion_tokens = _tokens(prompt), _tokens(completion)
        return {
            "id": "chatcmpl-" + uuid.uuid4().hex[:24],
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "gpt-4o-mini"),
            "system_fingerprint": "fp_fake",
            "service_tier": "default",
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": item.content,
                        "refusal": item.refusal,
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": item.finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {
                    "reasoning_tokens": 0,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            },
        }

    async def _sleep(self, seconds: float) -> None:
        # Waits on the stop event in a worker thread, so stop() cuts a long scripted delay short.
        await asyncio.to_thread(self._stopping.wait, seconds)

    def _build_app(self) -> FastAPI:
        app = FastAPI(openapi_url=None)

        def error(status: int, message: str, kind: str, code: str | None = None) -> Response:
            return JSONResponse(
                {"error": {"message": message, "type": kind, "param": None, "code": code}}, status_code=status
            )

        @app.post("/v1/chat/completions")
        async def chat_completions(request: Request) -> Response:
            try:
                body = json.loads(await request.body())
            except ValueError:
                body = {}
            with self._lock:
                self.requests.append(RecordedRequest(request.url.path, dict(request.headers), body))
                item = self._queue.pop(0) if self._queue else None
            if request.headers.get("authorization") != f"Bearer {self.api_key}":
                return error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
            if not isinstance(body, dict) or not body.get("messages") or not body.get("model"):
                return error(400, "'messages' and 'model' are required.", "invalid_request_error")
            if item is None and self.default is not None:
                item = _Scripted(content=json.dumps(self.default(body)))
            if item is None:
                return error(500, "FakeOpenAI: no scripted response queued.", "server_error")
            if item.delay:
                await self._sleep(item.delay)
            if item.status != 200:
                return error(item.status, f"FakeOpenAI: scripted status {item.status}.", "server_error")
            return JSONResponse(self._completion(body, item))

        return app
