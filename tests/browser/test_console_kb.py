"""Staff in a real browser: write an article in the knowledge-base editor, edit it, and preview a message it answers;
axe and no sideways scroll on the list, editor and preview pages at both sizes."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.conftest import LiveApp
from tests.browser.console import sign_in
from tests.browser.support import assert_accessible, assert_fits_width


async def checked(page: Page) -> None:
    """axe finds nothing and the page fits the viewport's width."""
    await assert_accessible(page)
    await assert_fits_width(page)


async def test_staff_write_edit_and_preview_an_article(page: Page, live_app: LiveApp) -> None:
    await sign_in(page, live_app)
    await page.get_by_role("navigation", name="Console").get_by_role("link", name="Knowledge base").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Knowledge base")
    await expect(page.locator("#no-articles")).to_contain_text("There are no articles yet")
    await checked(page)

    await page.get_by_role("link", name="New article").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("New article")
    await page.get_by_role("button", name="Save article").click()  # empty
    await expect(page.get_by_role("alert")).to_contain_text("Please write the question the article answers.")
    await checked(page)
    await page.get_by_label("Title").fill("Is there parking?")
    await page.get_by_label("Answer").fill("Free parking is behind the building.")
    await page.get_by_label("Tags").fill("parking, car")
    await page.get_by_role("button", name="Save article").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Edit article")
    await expect(page.get_by_role("status")).to_contain_text("The article is saved")
    await checked(page)

    await page.get_by_label("Answer").fill("Free parking is behind the building, with two accessible spaces.")
    await page.get_by_role("button", name="Save changes").click()
    await expect(page.get_by_role("status")).to_contain_text("Your changes are saved")
    [stored] = await live_app.container.repos.kb_articles.all()
    assert stored.answer.endswith("two accessible spaces.") and stored.version == 2
    assert stored.updated_by == "staff@clinic.test"

    await page.get_by_role("link", name="Back to the knowledge base").click()
    await expect(page.locator("#total-count")).to_have_text("1")
    await page.get_by_label("Words in the title, answer or tags").fill("accessible")
    await page.get_by_role("button", name="Search").click()
    await expect(page.get_by_role("link", name="Is there parking?")).to_be_visible()
    await checked(page)

    await page.get_by_role("link", name="Which article would answer a message?").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Which article would answer?")
    await checked(page)
    await page.get_by_label("Paste a patient's message").fill("Hello, where can I leave my car when I visit?")
    await page.get_by_role("button", name="Show the answer").click()
    await expect(page.locator("#preview-outcome")).to_have_text("The reply agent would answer with this article.")
    await expect(page.locator("#chosen-article")).to_have_text("Is there parking?")
    await expect(page.locator("#chosen-answer")).to_contain_text("two accessible spaces")
    await expect(page.get_by_label("Paste a patient's message")).to_have_value(
        "Hello, where can I leave my car when I visit?"
    )
    await checked(page)

    await page.locator("#chosen-article").click()
    await page.get_by_role("link", name="Delete this article").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Delete this article?")
    await checked(page)
    await page.get_by_role("button", name="Delete the article").click()
    await expect(page.get_by_role("status")).to_contain_text("The article is deleted")
    assert await live_app.container.repos.kb_articles.all() == []
