"""The interactions repository."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bson import ObjectId
from pymongo import DESCENDING

from db.group_commit import grouped_lookup
from db.repositories.base import Mongo, Repository, oid
from models.enums import Direction
from models.interaction import Interaction


class InteractionRepository(Repository[Interaction]):
    """interactions."""

    collection_name = "interactions"
    model = Interaction

    def __init__(self, db: Any):
        super().__init__(db)
        self._recent = grouped_lookup(self._recent_of)
        self._by_message_ids = grouped_lookup(self._latest_by_message_ids)
        self._by_thread = grouped_lookup(self._latest_in_threads)

    async def for_campaign(self, campaign_id: str) -> list[Interaction]:
        """A campaign's conversation, oldest first."""
        return (await self.for_campaigns([campaign_id])).get(campaign_id, [])

    async def for_campaigns(self, campaign_ids: list[str]) -> dict[str, list[Interaction]]:
        """Several campaigns' conversations, oldest first each (campaigns without any are left out): ONE query."""
        cursor = self.collection.find({"campaign_id": {"$in": [oid(i) for i in campaign_ids]}}).sort("timestamp", 1)
        by_campaign: dict[str, list[Interaction]] = {}
        async for doc in cursor:
            by_campaign.setdefault(str(doc["campaign_id"]), []).append(Interaction.from_mongo(doc))
        return by_campaign

    async def last_outgoing(self, campaign_ids: list[str]) -> dict[str, Interaction]:
        """Each campaign's latest outgoing interaction (campaigns without one are left out): ONE aggregate."""
        keys = [key for key in (oid(i) for i in campaign_ids) if key is not None]
        if not keys:
            return {}
        pipeline: list[Mongo] = [
            {"$match": {"campaign_id": {"$in": keys}, "direction": Direction.OUTGOING.value}},
            {"$sort": {"timestamp": -1, "_id": -1}},
            {"$group": {"_id": "$campaign_id", "doc": {"$first": "$$ROOT"}}},
        ]
        cursor = await self.collection.aggregate(pipeline, hint="campaign_direction_timestamp")
        return {str(row["_id"]): Interaction.from_mongo(row["doc"]) async for row in cursor}

    async def recent_for_campaign(self, campaign_id: str, *, limit: int) -> list[Interaction]:
        """The last `limit` interactions of a campaign, oldest first (concurrent calls share one find)."""
        key = oid(campaign_id)
        if key is None:
            return []
        docs = await self._recent.submit((key, limit))
        return [Interaction.from_mongo(doc) for doc in reversed(docs)]

    async def by_message_ids(self, message_ids: list[str]) -> Interaction | None:
        """The most recent interaction carrying one of these Message-ID headers (threading by reference)."""
        if not message_ids:
            return None
        return self._load(await self._by_message_ids.submit(frozenset(message_ids)))

    async def by_thread(self, thread_id: str) -> Interaction | None:
        """The most recent interaction in a mail thread (concurrent calls share one find)."""
        return self._load(await self._by_thread.submit(thread_id))

    # Each lookup below answers several waiting callers with one index-range find, split per caller; the ones
    # that read newest first stop as soon as every caller has its answer.

    async def _scan_newest(
        self, query: dict[str, Any], enough: Callable[[Mongo], bool], projection: dict[str, Any] | None = None
    ) -> None:
        """Feed matching documents, newest first, to `enough` until it says every waiting caller has its answer."""
        cursor = self.collection.find(query, projection).sort("timestamp", DESCENDING)
        try:
            async for doc in cursor:
                if enough(doc):
                    break
        finally:
            await cursor.close()

    async def _newest_match_each(
        self, query: dict[str, Any], asks: list[Any], fits: Callable[[Mongo, Any], bool]
    ) -> list[Any]:
        answers: list[Mongo | None] = [None] * len(asks)

        def take(doc: Mongo) -> bool:
            for n, ask in enumerate(asks):
                if answers[n] is None and fits(doc, ask):
                    answers[n] = doc
            return all(a is not None for a in answers)

        await self._scan_newest(query, take)
        return answers

    async def _recent_of(self, asks: list[tuple[ObjectId, int]]) -> list[list[Mongo]]:
        wanted: dict[ObjectId, int] = {}
        for key, limit in asks:
            wanted[key] = max(limit, wanted.get(key, 0))
        found: dict[ObjectId, list[Mongo]] = {key: [] for key in wanted}
        short = {key for key, limit in wanted.items() if limit > 0}

        def take(doc: Mongo) -> bool:
            key = doc["campaign_id"]
            if key in short:
                found[key].append(doc)
                if len(found[key]) == wanted[key]:
                    short.discard(key)
            return not short

        if short:
            await self._scan_newest({"campaign_id": {"$in": list(short)}}, take)
        return [found[key][:limit] for key, limit in asks]

    async def _latest_by_message_ids(self, asks: list[frozenset[str]]) -> list[Mongo | None]:
        query = {"message_id_header": {"$in": sorted(set().union(*asks))}}
        return await self._newest_match_each(query, asks, lambda doc, ids: doc.get("message_id_header") in ids)

    async def _latest_in_threads(self, asks: list[str]) -> list[Mongo | None]:
        query = {"thread_id": {"$in": list(set(asks))}}
        return await self._newest_match_each(query, asks, lambda doc, thread_id: doc.get("thread_id") == thread_id)
