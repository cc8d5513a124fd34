"""/api/v1/admin/kb: article CRUD (audited, bounded, 404/409/422), edits reaching the reply agent's cached knowledge
base at once, old documents, and the preview of which article would answer a message (offline and with the LLM)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import httpx
import pytest
from bson import ObjectId

from core.config import Settings
from core.container import Container
from db.repositories.kb_articles import KbArticleRepository
from domain.audit import Actor
from domain.knowledge_base import ArticleChanged, ArticleDraft
from main import create_app
from models.enums import AuditOutcome, Role
from models.system import KbArticle
from services.llm.fake_server import FakeOpenAI
from tests.support import staff_headers

KB = "/api/v1/admin/kb"
HOURS = {"title": "What are your opening hours?", "answer": "We are open Monday to Friday, 9:00 to 18:00."}
PARKING = {"title": "Is there parking?", "answer": "Free parking is behind the building.", "tags": ["Car", "car"]}


@pytest.fixture
async def staff(login: Callable[..., Any]) -> dict[str, str]:
    """Headers of a logged-in staff member (staff@clinic.test)."""
    headers: dict[str, str] = await login(Role.STAFF, "staff@clinic.test")
    return headers


async def create(client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    """Create an article through the API."""
    response = await client.post(KB, json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def kb_audit(container: Container) -> list[tuple[str, str, AuditOutcome]]:
    """The kb.* audit records as (action, actor, outcome), oldest first."""
    records, _ = await container.repos.audit.page(skip=0, limit=500)
    return [(r.action, r.actor, r.outcome) for r in sorted(records, key=lambda r: r.id) if r.action.startswith("kb.")]


async def test_create_read_list_update_delete_each_audited(
    client: httpx.AsyncClient, container: Container, staff: dict[str, str], login: Callable[..., Any]
) -> None:
    created = await create(client, staff, PARKING)
    assert created["title"] == PARKING["title"] and created["tags"] == ["car"]  # lowercased, repeat dropped
    assert created["updated_by"] == "staff@clinic.test" and created["version"] == 1
    article_id = created["id"]
    await create(client, staff, HOURS)

    got = await client.get(f"{KB}/{article_id}", headers=staff)
    assert got.status_code == 200 and got.json() == created
    listed = (await client.get(KB, headers=staff)).json()
    assert [a["title"] for a in listed["items"]] == [PARKING["title"], HOURS["title"]] and listed["total"] == 2
    for q, titles in (("PARKING", [PARKING["title"]]), ("monday", [HOURS["title"]]), ("car", [PARKING["title"]])):
        found = (await client.get(KB, headers=staff, params={"q": q})).json()
        assert [a["title"] for a in found["items"]] == titles, q  # title, answer and tags, any case
    assert (await client.get(KB, headers=staff, params={"q": ".*"})).json()["total"] == 0  # no regex injection

    changed = {"title": "Where can I park?", "answer": "Park behind the building; it is free.", "tags": ["parking"]}
    colleague = await login(Role.STAFF, "colleague@clinic.test")
    updated = await client.put(f"{KB}/{article_id}", json={**changed, "version": 1}, headers=colleague)
    assert updated.status_code == 200, updated.text
    assert {k: updated.json()[k] for k in changed} == changed and updated.json()["version"] == 2
    stored = await container.repos.kb_articles.get(article_id)
    assert stored is not None and stored.title == changed["title"] and stored.updated_by == "colleague@clinic.test"
    assert stored.updated_at > datetime.fromisoformat(created["updated_at"])

    assert (await client.delete(f"{KB}/{article_id}", headers=staff)).status_code == 204
    assert await container.repos.kb_articles.get(article_id) is None
    gone = await client.get(f"{KB}/{article_id}", headers=staff)
    assert gone.status_code == 404 and gone.json()["error"] == "kb_article_not_found"
    actor = "staff@clinic.test"
    ok, failed = AuditOutcome.SUCCESS, AuditOutcome.FAILURE
    assert await kb_audit(container) == [
        ("kb.create", actor, ok),
        ("kb.create", actor, ok),
        ("kb.read", actor, ok),
        *[("kb.list", actor, ok)] * 5,
        ("kb.update", "colleague@clinic.test", ok),
        ("kb.delete", actor, ok),
        ("kb.read", actor, failed),
    ]


async def test_staff_only(client: httpx.AsyncClient) -> None:
    some_id = str(ObjectId())
    for method, path in (("GET", KB), ("POST", KB), ("GET", f"{KB}/{some_id}"), ("POST", f"{KB}/preview")):
        response = await client.request(method, path, json=HOURS)
        assert response.status_code == 401, (method, path)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**HOURS, "title": ""}, "title"),
        ({**HOURS, "title": "x" * 201}, "title"),
        ({**HOURS, "answer": "x" * 2001}, "answer"),
        ({**HOURS, "tags": [f"t{i}" for i in range(11)]}, "tags"),
        ({**HOURS, "tags": ["a,b"]}, "tags.0"),
        ({"title": "No answer"}, "answer"),
    ],
)
async def test_bad_articles_are_422_naming_the_field_and_nothing_is_written(
    client: httpx.AsyncClient, container: Container, staff: dict[str, str], body: dict[str, Any], field: str
) -> None:
    response = await client.post(KB, json=body, headers=staff)
    assert response.status_code == 422, response.text
    assert field in [f["field"] for f in response.json()["fields"]]
    assert await container.repos.kb_articles.count() == 0


async def test_blank_after_cleaning_is_a_domain_422(
    client: httpx.AsyncClient, container: Container, staff: dict[str, str]
) -> None:
    response = await client.post(KB, json={**HOURS, "title": "  \n  "}, headers=staff)
    assert response.status_code == 422 and response.json()["fields"][0]["field"] == "title"
    assert await container.repos.kb_articles.count() == 0


async def test_unknown_and_malformed_ids(client: httpx.AsyncClient, staff: dict[str, str]) -> None:
    unknown = f"{KB}/{ObjectId()}"
    for method in ("GET", "PUT", "DELETE"):
        response = await client.request(method, unknown, json=HOURS, headers=staff)
        assert response.status_code == 404 and response.json()["error"] == "kb_article_not_found", method
        assert (await client.request(method, f"{KB}/nope", json=HOURS, headers=staff)).status_code == 422


async def test_a_title_in_use_is_409_on_create_and_on_update(
    client: httpx.AsyncClient, container: Container, staff: dict[str, str]
) -> None:
    await create(client, staff, HOURS)
    parking = await create(client, staff, PARKING)
    again = await client.post(KB, json={**PARKING, "title": "  is THERE   parking? "}, headers=staff)
    assert again.status_code == 409 and again.json()["error"] == "kb_title_taken"
    renamed = await client.put(f"{KB}/{parking['id']}", json={**PARKING, "title": HOURS["title"]}, headers=staff)
    assert renamed.status_code == 409 and renamed.json()["error"] == "kb_title_taken"
    same = await client.put(f"{KB}/{parking['id']}", json={**PARKING, "answer": "Still free."}, headers=staff)
    assert same.status_code == 200  # its own title is no conflict
    assert await container.repos.kb_articles.count() == 2


async def test_an_edit_based_on_an_old_version_is_409_and_changes_nothing(
    client: httpx.AsyncClient, container: Container, staff: dict[str, str]
) -> None:
    article = await create(client, staff, HOURS)
    path = f"{KB}/{article['id']}"
    first = await client.put(path, json={**HOURS, "answer": "Open 8 to 20.", "version": 1}, headers=staff)
    assert first.status_code == 200 and first.json()["version"] == 2
    stale = await client.put(path, json={**HOURS, "answer": "Open 10 to 16.", "version": 1}, headers=staff)
    assert stale.status_code == 409 and stale.json()["error"] == "kb_article_changed"
    assert "staff@clinic.test" in stale.json()["detail"]
    stored = await container.repos.kb_articles.get(article["id"])
    assert stored is not None and stored.answer == "Open 8 to 20." and stored.version == 2


class EditedWhileRead(KbArticleRepository):
    """The articles, where someone else saves each article right after it is read."""

    async def get(self, item_id: str) -> KbArticle | None:
        """Read, then another editor's save lands."""
        found = await super().get(item_id)
        await self.collection.update_one({"_id": ObjectId(item_id)}, {"$inc": {"version": 1}})
        return found


async def test_a_lost_race_between_read_and_write_is_409(container: Container, staff: dict[str, str]) -> None:
    service = container.kb_admin()
    actor = Actor("staff@clinic.test", None)
    article = await service.create(actor, ArticleDraft(HOURS["title"], HOURS["answer"]))
    service.articles = EditedWhileRead(container.db)
    with pytest.raises(ArticleChanged):
        await service.update(actor, article.id, ArticleDraft(HOURS["title"], "Mine."))
    stored = await container.repos.kb_articles.get(article.id)
    assert stored is not None and stored.answer == HOURS["answer"]  # my edit did not overwrite theirs


async def test_edits_reach_the_reply_agents_cached_knowledge_base_at_once(
    client: httpx.AsyncClient, container: Container, staff: dict[str, str]
) -> None:
    assert container.settings.KB_CACHE_SECONDS >= 30
    assert await container.knowledge_base() == []  # cached now
    article = await create(client, staff, HOURS)
    assert [a.id for a in await container.knowledge_base()] == [article["id"]]
    await client.put(f"{KB}/{article['id']}", json={**HOURS, "answer": "Open 8 to 20."}, headers=staff)
    assert [a.answer for a in await container.knowledge_base()] == ["Open 8 to 20."]
    await client.delete(f"{KB}/{article['id']}", headers=staff)
    assert await container.knowledge_base() == []


async def test_articles_stored_in_the_product_guides_shape_are_read_and_edited(
    client: httpx.AsyncClient, container: Container, staff: dict[str, str]
) -> None:
    old_id = ObjectId()
    await container.db.kb_articles.insert_one({"_id": old_id, "question": "Do you take cards?", "answer": "Yes."})
    [listed] = (await client.get(KB, headers=staff)).json()["items"]
    assert listed["title"] == "Do you take cards?" and listed["version"] == 0 and listed["updated_by"] is None
    body = {"title": "Do you take cards?", "answer": "Yes, all major cards.", "version": 0}
    assert (await client.put(f"{KB}/{old_id}", json=body, headers=staff)).status_code == 200
    raw = await container.db.kb_articles.find_one({"_id": old_id})
    assert raw is not None and "question" not in raw and raw["title"] == "Do you take cards?"
    assert raw["version"] == 1 and raw["updated_by"] == "staff@clinic.test"


# ---- preview ---------------------------------------------------------------------------------------------------


async def test_preview_offline_names_the_article_or_why_there_is_none(
    client: httpx.AsyncClient, container: Container, staff: dict[str, str]
) -> None:
    hours = await create(client, staff, HOURS)
    parking = await create(client, staff, PARKING)

    async def preview(text: str) -> dict[str, Any]:
        response = await client.post(f"{KB}/preview", json={"text": text}, headers=staff)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    answered = await preview("Hello, how late are you open on Fridays?\n\n> Is there parking for my car?")
    assert (answered["source"], answered["outcome"], answered["intent"]) == ("offline", "answer", "question")
    assert answered["article"]["id"] == hours["id"]
    assert answered["candidates"][0]["article"]["id"] == hours["id"] and answered["candidates"][0]["score"] > 0
    assert parking["id"] not in [c["article"]["id"] for c in answered["candidates"]]  # quoted text ignored
    assert (await preview("Where do I leave my car when I visit?"))["article"]["id"] == parking["id"]
    assert (await preview("Do you treat cats?"))["outcome"] == "no_article"
    booking = await preview("I'd like to book an appointment")
    assert (booking["outcome"], booking["intent"], booking["article"]) == ("not_a_question", "booking_request", None)
    assert (await preview("Please unsubscribe me. What are your opening hours?"))["outcome"] == "opt_out"
    assert (await client.post(f"{KB}/preview", json={"text": ""}, headers=staff)).status_code == 422
    quoted_only = await client.post(f"{KB}/preview", json={"text": "> What are your hours?"}, headers=staff)
    assert quoted_only.status_code == 422 and quoted_only.json()["fields"][0]["field"] == "text"
    too_long = await client.post(f"{KB}/preview", json={"text": "x" * 20_001}, headers=staff)
    assert too_long.status_code == 422
    audit = await kb_audit(container)
    assert audit.count(("kb.preview", "staff@clinic.test", AuditOutcome.SUCCESS)) == 5
    assert ("kb.preview", "staff@clinic.test", AuditOutcome.FAILURE) in audit


@pytest.fixture
async def llm_app(make_settings: Callable[..., Settings], openai: FakeOpenAI) -> AsyncIterator[Any]:
    """The app with the LLM configured (the loopback fake), a client and staff headers."""
    settings = make_settings(OPENAI_API_KEY="test", OPENAI_BASE_URL=openai.base_url, LLM_TIMEOUT_SECONDS=30)
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        container: Container = app.state.container
        yield http, container, await staff_headers(http, container)
        await container.client.drop_database(settings.MONGO_DB_NAME)


async def test_preview_asks_the_configured_llm_with_the_articles_and_uses_its_choice(
    llm_app: Any, openai: FakeOpenAI
) -> None:
    http, _, headers = llm_app
    await create(http, headers, HOURS)
    parking = await create(http, headers, PARKING)
    openai.queue_json(
        {"intent": "question", "confidence": 0.9, "summary": "Asks where to park", "kb_article_id": parking["id"]}
    )
    response = await http.post(f"{KB}/preview", json={"text": "Where can I leave the vehicle?"}, headers=headers)
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["source"], result["outcome"], result["article"]["id"]) == ("llm", "answer", parking["id"])
    assert result["summary"] == "Asks where to park"
    [request] = openai.requests
    assert request.schema_name == "ReplyUnderstanding"
    prompt = request.content_of("user")
    assert "Where can I leave the vehicle?" in prompt and parking["id"] in prompt and "opening hours" in prompt

    openai.queue_json({"intent": "question", "confidence": 0.3, "summary": "unclear", "kb_article_id": parking["id"]})
    unsure = (await http.post(f"{KB}/preview", json={"text": "parking?"}, headers=headers)).json()
    assert (unsure["outcome"], unsure["article"]) == ("unsure", None)  # below REPLY_MIN_CONFIDENCE: no answer
    openai.queue_raw("{not json", count=2)
    failed = (await http.post(f"{KB}/preview", json={"text": "parking?"}, headers=headers)).json()
    assert (failed["outcome"], failed["intent"], failed["article"]) == ("reading_failed", None, None)


async def test_the_openapi_schema_names_the_kb_schemas(client: httpx.AsyncClient) -> None:
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    assert {"KbArticleCreate", "KbArticleRead", "KbArticleUpdate", "KbPreviewCreate", "KbPreviewRead"} <= set(schemas)
    assert schemas["KbArticleCreate"]["properties"]["title"]["maxLength"] == 200
