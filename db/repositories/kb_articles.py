"""The kb_articles repository."""

from __future__ import annotations

from db.repositories.base import Repository
from models.system import KbArticle


class KbArticleRepository(Repository[KbArticle]):
    """kb_articles."""

    collection_name = "kb_articles"
    model = KbArticle

    async def all(self) -> list[KbArticle]:
        """Every article (the knowledge base is small)."""
        return [KbArticle.from_mongo(doc) async for doc in self.collection.find({})]
