"""The console's knowledge base: the articles the reply agent answers from, and which one would answer a message."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
