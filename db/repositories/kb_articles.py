"""The kb_articles repository."""

from __future__ import annotations

import re
from typing import Any

from db.repositories.base import Mongo, Repository, oid
from models.system import KbArticle

# Articles written in the product guide's shape keep the title in `question`.
SEARCHED_FIELDS = ("title", "question", "answer", "tags")


class KbArticleRepository(Repository[KbArticle]):
    """kb_articles."""

    collection_name = "kb_articles"
    model = KbArticle

    async def all(self) -> list[KbArticle]:
        """Every article (the knowledge base is small)."""
        return [KbArticle.from_mongo(doc) async for doc in self.collection.find({})]

    async def page(self, *, q: str | None, skip: int, limit: int) -> tuple[list[KbArticle], int]:
        """Articles whose title, answer or a tag contains `q` (any case), by title, with the total."""
        query: Mongo = {}
        if q:
            pattern = {"$regex": re.escape(q), "$options": "i"}
            query = {"$or": [{name: pattern} for name in SEARCHED_FIELDS]}
        cursor = self.collection.find(query, sort=[("title", 1), ("_id", 1)], skip=skip, limit=limit)
        items = [KbArticle.from_mongo(doc) async for doc in cursor]
        return items, await self.collection.count_documents(query)

    async def replace_at_version(self, article: KbArticle, *, expected_version: int) -> bool:
        """Store the edited article only if the stored one is still at `expected_version`; False otherwise."""
        key = oid(article.id)
        if key is None:
            return False
        fields = article.to_mongo()
        fields.pop("_id")
        # A document written before versions existed has no `version`: it is at version 0.
        version: Any = expected_version if expected_version else {"$in": [0, None]}
        result = await self._update_one({"_id": key, "version": version}, {"$set": fields, "$unset": {"question": ""}})
        return result.matched_count == 1
