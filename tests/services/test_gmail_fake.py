"""The in-memory FakeGmail (what domain tests build on) and the MIME helpers shared with the real adapter."""

from __future__ import annotations

import pytest

from services.gmail.fake import FakeGmail
from services.gmail.mailbox import compose_bounce
from services.gmail.mime import build_reply, html_to_text, parse_message
from services.gmail.port import GmailError, GmailPort, HistoryGone

PATIENT = "Anna <anna@example.org>"


def test_fake_satisfies_the_port() -> None:
    port: GmailPort = FakeGmail()
    assert port is not None


async def test_history_pages_ids_and_label_filter() -> None:
    gmail = FakeGmail(page_size=2)
    start = gmail.history_id
    added = [gmail.add_incoming(PATIENT, f"s{n}", "hi").id for n in range(5)]
    gmail.add_raw(b"From: clinic@example.com\r\nTo: a@example.org\r\n\r\nx\r\n", labels=("SENT",))
    ids: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        page = await gmail.history_page(start_history_id=start, page_token=token, label_id="INBOX")
        ids.extend(page.message_ids)
        pages += 1
        token = page.next_page_token
        if token is None:
            break
    assert (ids, pages) == (added, 3)
    assert page.history_id == gmail.history_id == start + 6
    everything = await gmail.history_page(start_history_id=start, page_token=None, label_id=None)
    assert everything.next_page_token == "2"


async def test_history_gone_once_and_floor() -> None:
    gmail = FakeGmail()
    gmail.make_history_gone_once()
    with pytest.raises(HistoryGone):
        await gmail.history_page(start_history_id=gmail.history_id, page_token=None, label_id=None)
    await gmail.history_page(start_history_id=gmail.history_id, page_token=None, label_id=None)
    gmail.set_history_floor(gmail.history_id)
    with pytest.raises(HistoryGone):
        await gmail.history_page(start_history_id=gmail.history_id - 1, page_token=None, label_id=None)


async def test_add_incoming_and_get_message_agree() -> None:
    gmail = FakeGmail()
    added = gmail.add_incoming(
        "Anna Müller <Anna@Example.org>",
        "Frage",
        "Was kostet das?",
        thread_id="t-1",
        headers={"Precedence": "bulk"},
        in_reply_to="<o@example.com>",
    )
    fetched = await gmail.get_message(added.id)
    assert fetched == added
    assert (fetched.from_address, fetched.from_name, fetched.thread_id) == ("anna@example.org", "Anna Müller", "t-1")
    assert fetched.headers["precedence"] == "bulk"
    assert fetched.in_reply_to == "<o@example.com>"
    with pytest.raises(GmailError) as caught:
        await gmail.get_message("missing")
    assert caught.value.status == 404


async def test_send_reply_records_and_lands_in_sent() -> None:
    gmail = FakeGmail(email_address="clinic@example.com", from_name="Clinic")
    start = gmail.history_id
    incoming = gmail.add_incoming(PATIENT, "Termin", "buchen")
    gmail.fail_next_send(2)
    for _ in range(2):
        with pytest.raises(GmailError) as caught:
            await gmail.send_reply(
                thread_id=incoming.thread_id,
                to=incoming.from_address,
                subject="Re: Termin",
                text="Gern",
                in_reply_to=incoming.message_id_header,
                references=incoming.message_id_header,
                extra_headers={"Auto-Submitted": "auto-replied"},
            )
        assert caught.value.retryable
    assert gmail.sent == []
    sent_id = await gmail.send_reply(
        thread_id=incoming.thread_id,
        to=incoming.from_address,
        subject="Re: Termin",
        text="Gern",
        in_reply_to=incoming.message_id_header,
        references=incoming.message_id_header,
        extra_headers={"Auto-Submitted": "auto-replied"},
    )
    (sent,) = gmail.sent
    assert sent.id == sent_id
    assert sent.mime["Auto-Submitted"] == "auto-replied"
    assert sent.mime["In-Reply-To"] == incoming.message_id_header
    stored = await gmail.get_message(sent_id)
    assert stored.label_ids == ("SENT",)
    assert stored.from_address == "clinic@example.com"
    assert stored.thread_id == incoming.thread_id
    inbox = await gmail.history_page(start_history_id=start, page_token=None, label_id="INBOX")
    assert inbox.message_ids == [incoming.id]
    everything = await gmail.history_page(start_history_id=start, page_token=None, label_id=None)
    assert everything.message_ids == [incoming.id, sent_id]


async def test_watch_profile_and_recent_ids() -> None:
    gmail = FakeGmail()
    first = gmail.add_incoming(PATIENT, "a", "a").id
    second = gmail.add_incoming(PATIENT, "b", "b").id
    result = await gmail.watch(topic="projects/p/topics/t", label_ids=["INBOX"], label_filter_action="include")
    assert result.history_id == gmail.history_id
    assert gmail.watches[0].topic == "projects/p/topics/t"
    assert await gmail.recent_message_ids(max_results=10, query=None) == [second, first]
    assert await gmail.profile_email() == gmail.email_address


def test_bounce_and_loop_headers_are_parsed() -> None:
    gmail = FakeGmail()
    bounce = gmail.add_raw(compose_bounce())
    assert bounce.is_bounce
    auto = gmail.add_incoming(
        PATIENT,
        "Out of office",
        "away",
        headers={
            "Auto-Submitted": "auto-replied",
            "X-Auto-Response-Suppress": "All",
            "Return-Path": "<>",
            "List-Unsubscribe": "<mailto:u@example.org>",
        },
    )
    assert auto.headers["auto-submitted"] == "auto-replied"
    assert auto.headers["x-auto-response-suppress"] == "All"
    assert auto.headers["return-path"] == "<>"
    assert "list-unsubscribe" in auto.headers
    assert not auto.is_bounce


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<p>Hello</p><p>World</p>", "Hello\n\nWorld"),
        ('<div style="DISPLAY : NONE">x</div>visible', "visible"),
        ('<span style="opacity:0">x</span>visible', "visible"),
        ('<span style="mso-hide:all">x</span>visible', "visible"),
        ('<div style="max-height:0;overflow:hidden">x</div>visible', "visible"),
        ('<div style="height:0px; overflow:hidden">x</div>visible', "visible"),
        ('<span style="font-size:12px">shown</span>', "shown"),
        ('<span style="font-size:0.0em">x</span>ok', "ok"),
        ("<p hidden>x<p>shown", "shown"),
        ('<div style="display:none"><p>x<p>y</div>after', "after"),
        ("<ul><li>one<li>two</ul>", "one\ntwo"),
        ("a<br/>b<br>c", "a\nb\nc"),
        ("<template>x</template><noscript>n</noscript>", "n"),
        ("&lt;script&gt; is text", "<script> is text"),
        ("<a href='https://evil.example'>link text</a>", "link text"),
    ],
)
def test_html_to_text(html: str, expected: str) -> None:
    assert html_to_text(html) == expected


def test_unknown_charset_does_not_break_parsing() -> None:
    raw = (
        b"From: a@example.org\r\nTo: c@example.com\r\nSubject: x\r\n"
        b"Content-Type: text/plain; charset=x-unknown-charset\r\n\r\nhello\r\n"
    )
    message = parse_message(raw, message_id="m", thread_id="t", label_ids=["INBOX"], internal_date_ms="0")
    assert message.text == "hello"
    assert message.internal_date.year == 1970


def test_build_reply_refuses_managed_and_broken_headers() -> None:
    kwargs = {
        "from_email": "clinic@example.com",
        "from_name": "Clinic",
        "to": "a@example.org",
        "subject": "s",
        "text": "t",
        "in_reply_to": None,
        "references": None,
    }
    with pytest.raises(GmailError):
        build_reply(**kwargs, extra_headers={"Subject": "x"})  # type: ignore[arg-type]
    with pytest.raises(GmailError):
        build_reply(**{**kwargs, "in_reply_to": "<a@b>\r\nBcc: x@y"}, extra_headers={})  # type: ignore[arg-type]
    with pytest.raises(GmailError):
        build_reply(**{**kwargs, "to": ""}, extra_headers={})  # type: ignore[arg-type]
    mime = build_reply(**kwargs, extra_headers={"Message-ID": "<fixed@example.com>"})  # type: ignore[arg-type]
    assert mime["Message-ID"] == "<fixed@example.com>"
