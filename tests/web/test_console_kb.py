"""Console knowledge base: the searched list, the editor (new, edit, 422 and 409 pages that keep what was typed), delete
with a confirm step, CSRF on every POST, the audit trail, and the preview choosing the very article the reply agent
answers the same message with."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from bson import ObjectId

from core.container import Container
from domain.audit import Actor
from domain.knowledge_base import ArticleDraft
from models.enums import AuditOutcome, Direction
from models.system import KbArticle
from tests.agent.conversation import seed_conversation
from tests.web.conftest import Clinic
from tests.web.console import signed_in
from tests.web.pages import Page, html_page

LIST = "/console/kb"
STAFF = "staff@clinic.test"
ARTICLES = (
    ("What are your opening hours?", "We are open Monday to Friday, 9:00 to 18:00.", ("hours",)),
    ("Is there parking?", "Free parking is behind the building.", ("parking", "car")),
    ("Which insurance plans do you accept?", "We accept most PPO plans.", ("insurance",)),
    ("What is your cancellation policy?", "Please cancel at least 24 hours ahead.", ("cancel",)),
)


async def seed_articles(container: Container) -> dict[str, KbArticle]:
    """The clinic's articles, by title, written through the use case."""
    service = container.kb_admin()
    actor = Actor("seed@clinic.test", None)
    return {title: await service.create(actor, ArticleDraft(title, answer, tags)) for title, answer, tags in ARTICLES}


def row_ids(page: Page) -> list[str]:
    """The article ids of the list's rows, in order."""
    return re.findall(r'<tr id="row-([0-9a-f]{24})"', page.html)


async def kb_audit(container: Container) -> list[tuple[str, str, AuditOutcome]]:
    """The kb.* audit records as (action, actor, outcome), oldest first."""
    records, _ = await container.repos.audit.page(skip=0, limit=500)
    return [(r.action, r.actor, r.outcome) for r in sorted(records, key=lambda r: r.id) if r.action.startswith("kb.")]


# ---- the list -------------------------------------------------------------------------------------------------


async def test_the_list_by_title_with_search_needs_a_session_and_is_audited(clinic: Clinic) -> None:
    http, container = clinic.http, clinic.container
    seeded = await seed_articles(container)
    response = await http.get(LIST + "?q=park")
    assert response.status_code == 303 and response.headers["location"] == "/console/login?next=/console/kb%3Fq%3Dpark"
    await signed_in(http, container)
    page = html_page(await http.get(LIST), 200)
    assert page.ids["nav-kb"]["aria-current"] == "page" and page.h1 == "Knowledge base"
    assert row_ids(page) == [seeded[t].id for t in sorted(seeded)]
    assert "parking, car" in page.html and "by seed@clinic.test" in page.html
    found = html_page(await http.get(LIST + "?q=PPO"), 200)  # in an answer, any case
    assert row_ids(found) == [seeded["Which insurance plans do you accept?"].id] and found.value("q") == "PPO"
    assert row_ids(html_page(await http.get(LIST + "?q=car"), 200)) == [seeded["Is there parking?"].id]  # a tag
    assert "No article contains" in html_page(await http.get(LIST + "?q=dentures"), 200).html
    assert (
        await kb_audit(container)
        == [*[("kb.create", "seed@clinic.test", AuditOutcome.SUCCESS)] * 4]
        + [("kb.list", STAFF, AuditOutcome.SUCCESS)] * 4
    )


async def test_a_bad_search_or_page_is_a_422_page_and_reads_nothing(clinic: Clinic) -> None:
    http, container = clinic.http, clinic.container
    await signed_in(http, container)
    page = html_page(await http.get(LIST + "?page=0&q=" + "x" * 101), 422)
    assert "The search must be at most 100 characters." in page.html
    assert "The page must be a whole number from 1 to 10000." in page.html
    assert page.ids["form-alert"]["role"] == "alert" and page.ids["q"]["aria-invalid"] == "true"
    assert await kb_audit(container) == []


# ---- the editor -----------------------------------------------------------------------------------------------


async def test_write_edit_and_delete_an_article_through_the_forms(clinic: Clinic) -> None:
    http, container = clinic.http, clinic.container
    csrf = await signed_in(http, container)
    new = html_page(await http.get(LIST + "/new"), 200)
    assert new.h1 == "New article" and new.hidden["csrf_token"] == csrf
    assert {"title", "answer", "tags"} <= set(new.ids) and '<label for="answer">' in new.html

    body = {"csrf_token": csrf, "title": " Do you   see children? ", "answer": "Yes, from age 3.", "tags": "Kids, kids"}
    created = await http.post(LIST + "/new", data=body)
    assert created.status_code == 303
    [article] = await container.repos.kb_articles.all()
    assert created.headers["location"] == f"{LIST}/{article.id}?done=created"
    assert (article.title, article.tags, article.updated_by, article.version) == (
        "Do you see children?",
        ["kids"],
        STAFF,
        1,
    )
    editor = html_page(await http.get(created.headers["location"]), 200)
    assert editor.ids["notice"]["role"] == "status" and editor.value("title") == "Do you see children?"
    assert editor.hidden["version"] == "1" and "by staff@clinic.test" in editor.html

    edit = {**body, "answer": "Yes, from age 2.", "tags": "kids, family", "version": "1"}
    saved = await http.post(f"{LIST}/{article.id}", data=edit)
    assert saved.status_code == 303 and saved.headers["location"] == f"{LIST}/{article.id}?done=saved"
    stored = await container.repos.kb_articles.get(article.id)
    assert stored is not None and (stored.answer, stored.tags, stored.version) == (
        "Yes, from age 2.",
        ["kids", "family"],
        2,
    )

    confirm = html_page(await http.get(f"{LIST}/{article.id}/delete"), 200)
    assert confirm.h1 == "Delete this article?" and confirm.ids["delete-form"]["method"] == "post"
    assert await container.repos.kb_articles.get(article.id) is not None  # asking deletes nothing
    deleted = await http.post(f"{LIST}/{article.id}/delete", data={"csrf_token": csrf})
    assert deleted.status_code == 303 and deleted.headers["location"] == f"{LIST}?done=deleted"
    assert await container.repos.kb_articles.get(article.id) is None
    assert "The article is deleted." in html_page(await http.get(deleted.headers["location"]), 200).html
    assert html_page(await http.get(f"{LIST}/{article.id}"), 404).h1
    ok = AuditOutcome.SUCCESS
    assert await kb_audit(container) == [
        ("kb.create", STAFF, ok),
        ("kb.read", STAFF, ok),
        ("kb.read", STAFF, ok),  # the edit reads the article it saves over
        ("kb.update", STAFF, ok),
        ("kb.read", STAFF, ok),
        ("kb.delete", STAFF, ok),
        ("kb.list", STAFF, ok),
        ("kb.read", STAFF, AuditOutcome.FAILURE),
    ]


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/new", {"title": "Q?", "answer": "A."}),
        ("/{id}", {"title": "Q?", "answer": "A.", "version": "1"}),
        ("/{id}/delete", {}),
        ("/preview", {"text": "What are your opening hours?"}),
    ],
)
async def test_every_post_without_the_form_token_is_a_403_page_and_changes_nothing(
    clinic: Clinic, path: str, data: dict[str, str]
) -> None:
    http, container = clinic.http, clinic.container
    seeded = await seed_articles(container)
    article = seeded["Is there parking?"]
    await signed_in(http, container)
    before = await container.repos.kb_articles.all()
    for token in (None, "wrong"):
        form = data if token is None else {**data, "csrf_token": token}
        html_page(await http.post(LIST + path.format(id=article.id), data=form), 403)
    assert await container.repos.kb_articles.all() == before
    assert [a for a, _, _ in await kb_audit(container) if a != "kb.create"] == []


async def test_a_wrong_article_is_a_422_page_keeping_what_was_typed_and_writing_nothing(clinic: Clinic) -> None:
    http, container = clinic.http, clinic.container
    csrf = await signed_in(http, container)
    long_answer = "A" * 2001
    data = {"csrf_token": csrf, "title": "   ", "answer": long_answer, "tags": ", ".join(f"t{i}" for i in range(11))}
    page = html_page(await http.post(LIST + "/new", data=data), 422)
    assert page.title.startswith("Error: ") and page.ids["form-alert"]["role"] == "alert"
    for text in (
        "Please write the question the article answers.",
        "The answer must be at most 2000 characters.",
        "Give at most 10 tags.",
    ):
        assert text in page.html, text
    assert page.ids["title"]["aria-invalid"] == "true" and page.ids["answer"]["aria-invalid"] == "true"
    assert long_answer in page.html and page.value("tags").startswith("t0, t1")  # kept for the next try
    assert 'href="#answer"' in page.html  # the summary links to the field
    assert await container.repos.kb_articles.count() == 0 and await kb_audit(container) == []


async def test_a_title_in_use_or_an_edit_over_a_newer_version_is_a_409_page(clinic: Clinic) -> None:
    http, container = clinic.http, clinic.container
    seeded = await seed_articles(container)
    csrf = await signed_in(http, container)
    taken = {"csrf_token": csrf, "title": "is there PARKING?", "answer": "Another answer."}
    page = html_page(await http.post(LIST + "/new", data=taken), 409)
    assert "Another article already has the title" in page.html and page.value("title") == "is there PARKING?"
    assert await container.repos.kb_articles.count() == 4

    article = seeded["What are your opening hours?"]
    other = container.kb_admin()
    await other.update(
        Actor("colleague@clinic.test", None), article.id, ArticleDraft(article.title, "Open 8 to 20.", ())
    )
    mine = {"csrf_token": csrf, "title": article.title, "answer": "Open 10 to 16.", "version": "1"}
    clash = html_page(await http.post(f"{LIST}/{article.id}", data=mine), 409)
    assert "changed by colleague@clinic.test" in clash.html
    assert clash.ids["stored-answer"] and "Open 8 to 20." in clash.html  # what is stored now, beside my text
    assert "Open 10 to 16." in clash.html and clash.hidden["version"] == "2"
    stored = await container.repos.kb_articles.get(article.id)
    assert stored is not None and stored.answer == "Open 8 to 20."
    again = await http.post(f"{LIST}/{article.id}", data={**mine, "version": "2"})  # saved knowingly
    assert again.status_code == 303
    bad_version = html_page(await http.post(f"{LIST}/{article.id}", data={**mine, "version": "x"}), 422)
    assert "missing the version" in bad_version.html


async def test_unknown_or_malformed_article_addresses_are_404_pages(clinic: Clinic) -> None:
    http, container = clinic.http, clinic.container
    csrf = await signed_in(http, container)
    for path in (f"{LIST}/nope", f"{LIST}/{'a' * 25}/delete"):
        html_page(await http.get(path), 404)
    html_page(await http.post(f"{LIST}/nope", data={"csrf_token": csrf, "title": "Q", "answer": "A"}), 404)
    assert await kb_audit(container) == []  # refused by its shape, before anything is read
    for path in (f"{LIST}/{ObjectId()}", f"{LIST}/{ObjectId()}/delete"):
        html_page(await http.get(path), 404)
    html_page(await http.post(f"{LIST}/{ObjectId()}/delete", data={"csrf_token": csrf}), 404)
    assert [outcome for _, _, outcome in await kb_audit(container)] == [AuditOutcome.FAILURE] * 3


# ---- preview --------------------------------------------------------------------------------------------------


async def preview_page(clinic: Clinic, csrf: str, text: str, status: int = 200) -> Page:
    """The preview page after posting the message."""
    return html_page(await clinic.http.post(LIST + "/preview", data={"csrf_token": csrf, "text": text}), status)


def chosen_id(page: Page) -> str | None:
    """The id of the article the preview says the agent would answer with."""
    link = page.ids.get("chosen-article")
    return link["href"].rsplit("/", 1)[-1] if link else None


async def agent_answer(container: Container, text: str, key: str) -> str | None:
    """Run the reply agent on `text` from a patient of its own; the id of the article whose answer it sent."""
    email = f"patient-{key}@example.com"
    campaign, _ = await seed_conversation(container, email=email, thread_id=f"thread-{key}")
    await container.replies().manual(
        Actor(STAFF, None), thread_id=f"thread-{key}", body=text, from_address=email, message_id=f"<{key}@example.com>"
    )
    sent = [
        i.body
        for i in await container.repos.interactions.for_campaign(campaign.id)
        if i.direction == Direction.OUTGOING and i.kind == "auto_reply"
    ]
    answered = [a.id for a in await container.repos.kb_articles.all() if any(a.answer in body for body in sent)]
    assert len(answered) <= 1, answered
    return answered[0] if answered else None


MESSAGES = (
    "Hi! How late are you open on Fridays?",
    "Where can I leave my car when I come in?",
    "Do you take my insurance? I have a PPO plan.",
    "What happens if I need to cancel?",
    "Do you treat cats?",
    "I'd like to book an appointment please",
    "Thanks!\n\n> Is there parking?",
    "I want to book a visit. What are your opening hours?",  # two intents: too unsure to answer
    # The question decides, not the whole text (which shares more words with the cancellation article).
    "Is there parking? Your cancellation policy was explained well last time.",
)


async def test_the_preview_picks_the_article_the_reply_agent_answers_the_same_message_with(clinic: Clinic) -> None:
    http, container = clinic.http, clinic.container
    await seed_articles(container)
    csrf = await signed_in(http, container)
    picked = []
    for index, text in enumerate(MESSAGES):
        page = await preview_page(clinic, csrf, text)
        assert text.split("\n")[0] in html.unescape(page.html)  # the message stays in the form
        preview = chosen_id(page)
        assert preview == await agent_answer(container, text, f"m{index}"), text
        picked.append(preview)
    by_id = {a.id: a.title for a in await container.repos.kb_articles.all()}
    assert [by_id.get(p or "") for p in picked] == [
        "What are your opening hours?",
        "Is there parking?",
        "Which insurance plans do you accept?",
        "What is your cancellation policy?",
        None,
        None,
        None,
        None,
        "Is there parking?",
    ]
    audited = await kb_audit(container)
    assert audited.count(("kb.preview", STAFF, AuditOutcome.SUCCESS)) == len(MESSAGES)


async def test_an_edit_in_the_console_reaches_the_preview_and_the_agent_at_once(clinic: Clinic) -> None:
    http, container = clinic.http, clinic.container
    seeded = await seed_articles(container)
    csrf = await signed_in(http, container)
    text = "Can I bring my dog to the appointment?"
    assert chosen_id(await preview_page(clinic, csrf, text)) is None
    assert await agent_answer(container, text, "before") is None  # the agent's cache holds the articles now
    parking = seeded["Is there parking?"]
    form = {"csrf_token": csrf, "title": "Can I bring my dog?", "answer": "Dogs are welcome.", "version": "1"}
    assert (await http.post(f"{LIST}/{parking.id}", data=form)).status_code == 303
    page = await preview_page(clinic, csrf, text)
    assert chosen_id(page) == parking.id and page.ids["chosen-answer"] and "Dogs are welcome." in page.html
    assert await agent_answer(container, text, "after") == parking.id


async def test_the_preview_explains_why_no_article_would_be_sent(clinic: Clinic) -> None:
    http, container = clinic.http, clinic.container
    await seed_articles(container)
    csrf = await signed_in(http, container)
    cases: dict[str, Any] = {
        "Do you treat cats?": "no article answers it",
        "I'd like to book an appointment please": "does not read as a question",
        "Please unsubscribe me": "opt them out",
    }
    for text, why in cases.items():
        page = await preview_page(clinic, csrf, text)
        assert why in page.html and chosen_id(page) is None, text
        assert "built-in offline classifier" in page.html
    hours = await preview_page(clinic, csrf, "What are your opening hours?")
    assert "The reply agent would answer with this article." in hours.html
    assert hours.ids["candidates-table"] and "Yes" in hours.html
    empty = await preview_page(clinic, csrf, "  ", 422)
    assert "Paste the patient's message" in html.unescape(empty.html) and empty.ids["text"]["aria-invalid"] == "true"
    long = await preview_page(clinic, csrf, "x" * 20_001, 422)
    assert "at most 20000 characters" in long.html
