"""SmtpEmail through real aiosmtplib against a loopback aiosmtpd; FakeEmail."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from core.config import Settings
from db.embedded import free_port
from services.email.fake import FakeEmail
from services.email.port import Attachment, EmailError, OutgoingEmail
from services.email.smtp import SmtpEmail
from tests.fakes.smtp import SmtpSink

FROM_EMAIL = "care@clinic.test"
PATIENT = "anna@patients.test"


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    """A real SMTP server on loopback."""
    server = SmtpSink()
    server.start()
    yield server
    server.stop()


def make_adapter(port: int, **overrides: Any) -> SmtpEmail:
    """An adapter for a plain loopback server."""
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "username": "",
        "password": "",
        "from_email": FROM_EMAIL,
        "from_name": "Sunrise Dental",
        "starttls": False,
        "timeout": 5.0,
    }
    values.update(overrides)
    return SmtpEmail(**values)


@pytest.fixture
async def mailer(sink: SmtpSink) -> AsyncIterator[SmtpEmail]:
    """The adapter built from settings, pointed at the sink (its pooled connections closed afterwards)."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        ENVIRONMENT="test",
        SMTP_HOST=sink.host,
        SMTP_PORT=sink.port,
        SMTP_STARTTLS=False,
        SMTP_FROM_EMAIL=FROM_EMAIL,
        SMTP_FROM_NAME="Sunrise Dental",
        SMTP_TIMEOUT_SECONDS=5,
    )
    adapter = SmtpEmail.from_settings(settings)
    yield adapter
    await adapter.aclose()


async def test_plain_message_arrives_with_headers_and_body(mailer: SmtpEmail, sink: SmtpSink) -> None:
    unsubscribe = "<https://clinic.test/api/v1/unsubscribe/tok>, <mailto:unsub@clinic.test?subject=tok>"
    message_id = await mailer.send(
        OutgoingEmail(
            to=PATIENT,
            subject="Time for your check-up, Anna",
            text="Hello Anna,\nbook here: https://x.test\n",
            headers={"List-Unsubscribe": unsubscribe, "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
            reply_to="replies@clinic.test",
        )
    )
    (received,) = sink.received
    assert received.rcpt_tos == [PATIENT]
    assert received.mail_from == FROM_EMAIL
    assert received.login is None
    msg = received.message
    assert msg["Subject"] == "Time for your check-up, Anna"
    assert msg["To"] == PATIENT
    assert msg["From"].addresses[0].display_name == "Sunrise Dental"
    assert msg["From"].addresses[0].addr_spec == FROM_EMAIL
    assert msg["Reply-To"] == "replies@clinic.test"
    assert msg["List-Unsubscribe"] == unsubscribe
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["Date"].datetime is not None
    assert msg["Message-ID"] == message_id
    assert message_id.startswith("<") and message_id.endswith("@clinic.test>")
    assert not msg.is_multipart()
    assert msg.get_content() == "Hello Anna,\nbook here: https://x.test\n"


async def test_html_alternative_is_included(mailer: SmtpEmail, sink: SmtpSink) -> None:
    await mailer.send(
        OutgoingEmail(to=PATIENT, subject="Überprüfung 🦷", text="plain body", html="<p>Hallo <b>Anna</b></p>")
    )
    (msg,) = sink.messages
    assert msg["Subject"] == "Überprüfung 🦷"
    assert msg.get_content_type() == "multipart/alternative"
    plain = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    assert plain is not None and plain.get_content().strip() == "plain body"
    assert html is not None and html.get_content().strip() == "<p>Hallo <b>Anna</b></p>"


async def test_attachments_make_a_mixed_message_with_the_body_first(mailer: SmtpEmail, sink: SmtpSink) -> None:
    ics = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nSUMMARY:Zahnreinigung \xc3\xbc\r\nEND:VCALENDAR\r\n"
    await mailer.send(
        OutgoingEmail(
            to=PATIENT,
            subject="Your appointment",
            text="See you soon.",
            html="<p>See you soon.</p>",
            attachments=(
                Attachment("appointment.ics", "text/calendar; method=PUBLISH", ics),
                Attachment("Überweisung.pdf", "application/pdf", b"%PDF-1.4 \x00\xff"),
            ),
        )
    )
    (msg,) = sink.messages
    assert msg.get_content_type() == "multipart/mixed"
    plain, html = msg.get_body(preferencelist=("plain",)), msg.get_body(preferencelist=("html",))
    assert plain is not None and plain.get_content().strip() == "See you soon."
    assert html is not None and "See you soon." in html.get_content()
    calendar, pdf = msg.iter_attachments()
    assert calendar.get_content_type() == "text/calendar" and calendar.get_param("method") == "PUBLISH"
    assert calendar.get_filename() == "appointment.ics" and calendar.get_param("name") == "appointment.ics"
    assert calendar.get_payload(decode=True) == ics
    assert pdf.get_content_type() == "application/pdf" and pdf.get_filename() == "Überweisung.pdf"
    assert pdf.get_payload(decode=True) == b"%PDF-1.4 \x00\xff"


def test_a_malformed_attachment_type_is_refused(mailer: SmtpEmail) -> None:
    for content_type in ("calendar", "text/calendar\r\nBcc: evil@x.test", "text/calendar; bad param=1"):
        with pytest.raises(ValueError):
            mailer.build(
                OutgoingEmail(to=PATIENT, subject="s", text="t", attachments=(Attachment("a.ics", content_type, b""),))
            )


async def test_fake_email_keeps_attachments() -> None:
    fake = FakeEmail()
    attachment = Attachment("appointment.ics", "text/calendar; method=PUBLISH", b"BEGIN:VCALENDAR")
    await fake.send(OutgoingEmail(to=PATIENT, subject="s", text="t", attachments=(attachment,)))
    assert fake.sent[0].attachments == (attachment,)


async def test_non_ascii_name_subject_and_body_arrive_intact(sink: SmtpSink) -> None:
    mailer = make_adapter(sink.port, from_name="Zahnarztpraxis Müller")
    long_link = "<https://clinic.test/api/v1/unsubscribe/" + "t" * 300 + ">"
    try:
        await mailer.send(
            OutgoingEmail(
                to=PATIENT,
                subject="Zeit für Ihre Kontrolle, Jürgen",
                text="Liebe Grüße,\nIhr Praxisteam, bis bald!\n",
                headers={"List-Unsubscribe": long_link},
            )
        )
    finally:
        await mailer.aclose()
    (msg,) = sink.messages
    assert msg["From"].addresses[0].display_name == "Zahnarztpraxis Müller"
    assert msg["Subject"] == "Zeit für Ihre Kontrolle, Jürgen"
    assert msg.get_content() == "Liebe Grüße,\nIhr Praxisteam, bis bald!\n"
    assert msg["Content-Transfer-Encoding"] == "quoted-printable"  # readable in a mail source view, unlike base64
    assert msg["List-Unsubscribe"] == long_link


async def test_each_message_gets_its_own_message_id_unless_given(mailer: SmtpEmail, sink: SmtpSink) -> None:
    first = await mailer.send(OutgoingEmail(to=PATIENT, subject="a", text="a"))
    second = await mailer.send(OutgoingEmail(to=PATIENT, subject="b", text="b"))
    kept = await mailer.send(
        OutgoingEmail(
            to=PATIENT,
            subject="c",
            text="c",
            headers={"Message-ID": "<fixed-1@clinic.test>", "In-Reply-To": "<their@mail.test>"},
        )
    )
    assert first != second
    assert kept == "<fixed-1@clinic.test>"
    assert [m["Message-ID"] for m in sink.messages] == [first, second, kept]
    assert sink.messages[2]["In-Reply-To"] == "<their@mail.test>"


async def test_login_happens_when_username_is_set() -> None:
    server = SmtpSink(credentials=("mailer", "s3cret"))
    server.start()
    right = make_adapter(server.port, username="mailer", password="s3cret")
    try:
        await right.send(OutgoingEmail(to=PATIENT, subject="s", text="t"))
        with pytest.raises(EmailError) as caught:
            await make_adapter(server.port, username="mailer", password="wrong").send(
                OutgoingEmail(to=PATIENT, subject="s", text="t")
            )
    finally:
        await right.aclose()
        server.stop()
    assert [r.login for r in server.received] == ["mailer"]
    assert caught.value.code == 535
    assert not caught.value.retryable


async def test_connections_are_reused_and_closed_with_quit(mailer: SmtpEmail, sink: SmtpSink) -> None:
    for n in range(3):
        await mailer.send(OutgoingEmail(to=PATIENT, subject=f"s{n}", text="t"))
    await asyncio.gather(*(mailer.send(OutgoingEmail(to=PATIENT, subject=f"c{n}", text="t")) for n in range(6)))
    peers = [r.peer for r in sink.received]
    assert len(peers) == 9
    assert len(set(peers[:3])) == 1  # one after the other: one connection
    assert len(set(peers)) <= mailer.pool_size  # at once: never more connections than the pool
    await mailer.aclose()
    assert mailer._idle == []


async def test_a_connection_the_relay_dropped_is_replaced_without_losing_the_message() -> None:
    first = SmtpSink()
    first.start()
    mailer = make_adapter(first.port)
    try:
        await mailer.send(OutgoingEmail(to=PATIENT, subject="before", text="t"))
        first.stop()  # the relay restarts: the pooled connection is dead
        second = SmtpSink(port=first.port)
        second.start()
        try:
            await mailer.send(OutgoingEmail(to=PATIENT, subject="after", text="t"))
        finally:
            await mailer.aclose()
            second.stop()
    finally:
        first.stop()
    assert [m["Subject"] for m in first.messages] == ["before"]
    assert [m["Subject"] for m in second.messages] == ["after"]


async def test_server_down_is_retryable() -> None:
    with pytest.raises(EmailError) as caught:
        await make_adapter(free_port()).send(OutgoingEmail(to=PATIENT, subject="s", text="t"))
    assert caught.value.retryable


async def test_silent_server_times_out_retryably() -> None:
    connections: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(EmailError) as caught:
            await make_adapter(port, timeout=0.3).send(OutgoingEmail(to=PATIENT, subject="s", text="t"))
    finally:
        for writer in connections:
            writer.close()
        server.close()
        await server.wait_closed()
    assert caught.value.retryable


async def test_recipient_refused_permanently_is_not_retryable(mailer: SmtpEmail, sink: SmtpSink) -> None:
    sink.reject("gone@patients.test")
    with pytest.raises(EmailError) as caught:
        await mailer.send(OutgoingEmail(to="gone@patients.test", subject="s", text="t"))
    assert caught.value.code == 550
    assert not caught.value.retryable
    assert sink.messages == []


async def test_recipient_refused_temporarily_is_retryable(mailer: SmtpEmail, sink: SmtpSink) -> None:
    sink.reject("busy@patients.test", "451 4.3.0 Try again later")
    with pytest.raises(EmailError) as caught:
        await mailer.send(OutgoingEmail(to="busy@patients.test", subject="s", text="t"))
    assert caught.value.code == 451
    assert caught.value.retryable


def test_managed_headers_and_header_injection_are_refused(mailer: SmtpEmail) -> None:
    with pytest.raises(ValueError, match="From"):
        mailer.build(OutgoingEmail(to=PATIENT, subject="s", text="t", headers={"From": "evil@x.test"}))
    with pytest.raises(ValueError):
        mailer.build(OutgoingEmail(to=PATIENT, subject="s\r\nBcc: evil@x.test", text="t"))


def test_configuration_is_checked() -> None:
    with pytest.raises(ValueError, match="SMTP_HOST"):
        make_adapter(25, host="")
    with pytest.raises(ValueError, match="SMTP_FROM_EMAIL"):
        make_adapter(25, from_email="clinic")


async def test_fake_email_records_and_fails_on_request() -> None:
    fake = FakeEmail()
    message = OutgoingEmail(to=PATIENT, subject="s", text="t")
    message_id = await fake.send(message)
    assert fake.sent == [message]
    assert fake.message_ids == [message_id]
    fake.fail_next(1, EmailError("rejected", retryable=False))
    with pytest.raises(EmailError) as caught:
        await fake.send(message)
    assert not caught.value.retryable
    assert (
        await fake.send(OutgoingEmail(to=PATIENT, subject="s", text="t", headers={"message-id": "<given@x.test>"}))
        == "<given@x.test>"
    )
    assert len(fake.sent) == 2


async def test_fake_email_default_failure_is_retryable() -> None:
    fake = FakeEmail()
    fake.fail_next(2)
    for _ in range(2):
        with pytest.raises(EmailError) as caught:
            await fake.send(OutgoingEmail(to=PATIENT, subject="s", text="t"))
        assert caught.value.retryable
    await fake.send(OutgoingEmail(to=PATIENT, subject="s", text="t"))
