"""TwilioSms through the real twilio library against the loopback fake Twilio; FakeSms; is_e164."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from xml.etree import ElementTree

import pytest

from core.config import Settings
from db.embedded import free_port
from services.sms.fake import FakeSms
from services.sms.port import OptedOutError, SmsError, is_e164
from services.sms.twilio_adapter import TwilioSms, rebase_url
from tests.fakes.twilio import FakeTwilio

FROM_NUMBER = "+15005550006"
PATIENT = "+4915112345678"
CLINIC_PHONE = "+1-555-123-4567"


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    """A fake Twilio API on loopback."""
    server = FakeTwilio()
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def sms(fake_twilio: FakeTwilio) -> AsyncIterator[TwilioSms]:
    """The real adapter pointed at the fake, built from settings."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        ENVIRONMENT="test",
        TWILIO_ACCOUNT_SID=fake_twilio.account_sid,
        TWILIO_AUTH_TOKEN=fake_twilio.auth_token,
        TWILIO_PHONE_NUMBER=FROM_NUMBER,
        TWILIO_API_BASE_URL=fake_twilio.url,
        CLINIC_PHONE=CLINIC_PHONE,
    )
    adapter = TwilioSms.from_settings(settings)
    yield adapter
    await adapter.aclose()


async def test_sms_is_sent_with_to_from_body_and_account(sms: TwilioSms, fake_twilio: FakeTwilio) -> None:
    sid = await sms.send_sms(to=PATIENT, body="Hi Anna, time for your check-up: https://x.test/b?a=1&b=2")
    assert sid.startswith("SM")
    (request,) = fake_twilio.requests
    assert request.path == f"/2010-04-01/Accounts/{fake_twilio.account_sid}/Messages.json"
    assert request.account_sid == fake_twilio.account_sid
    assert request.auth_user == fake_twilio.account_sid
    assert request.auth_password == fake_twilio.auth_token
    assert request.form == {
        "To": PATIENT,
        "From": FROM_NUMBER,
        "Body": "Hi Anna, time for your check-up: https://x.test/b?a=1&b=2",
    }


async def test_call_twiml_has_message_and_clinic_phone(sms: TwilioSms, fake_twilio: FakeTwilio) -> None:
    sid = await sms.place_call(to=PATIENT, message="Hello <Anna> & family, we miss you.")
    assert sid.startswith("CA")
    (request,) = fake_twilio.calls
    assert request.form["To"] == PATIENT
    assert request.form["From"] == FROM_NUMBER
    root = ElementTree.fromstring(request.form["Twiml"])  # noqa: S314 - our own TwiML
    assert root.tag == "Response"
    assert [say.text for say in root.findall("Say")] == [
        "Hello <Anna> & family, we miss you.",
        f"Please call us at {CLINIC_PHONE}.",
    ]


async def test_opted_out_recipient_raises_opted_out(sms: TwilioSms, fake_twilio: FakeTwilio) -> None:
    fake_twilio.fail_next(status=400, code=21610)
    with pytest.raises(OptedOutError) as caught:
        await sms.send_sms(to=PATIENT, body="hello")
    assert caught.value.code == 21610
    assert caught.value.status == 400
    assert not caught.value.retryable


async def test_invalid_number_is_not_retryable(sms: TwilioSms) -> None:
    with pytest.raises(SmsError) as caught:
        await sms.send_sms(to="0151 123", body="hello")
    assert caught.value.code == 21211
    assert not caught.value.retryable
    assert not isinstance(caught.value, OptedOutError)


async def test_server_error_is_retryable_then_next_succeeds(sms: TwilioSms, fake_twilio: FakeTwilio) -> None:
    fake_twilio.fail_next_with_server_error()
    with pytest.raises(SmsError) as caught:
        await sms.place_call(to=PATIENT, message="hello")
    assert caught.value.retryable
    assert caught.value.status == 500
    assert caught.value.code is None
    assert (await sms.place_call(to=PATIENT, message="hello")).startswith("CA")


async def test_rate_limit_is_retryable(sms: TwilioSms, fake_twilio: FakeTwilio) -> None:
    fake_twilio.fail_next(status=429, code=20429, message="Too Many Requests")
    with pytest.raises(SmsError) as caught:
        await sms.send_sms(to=PATIENT, body="hello")
    assert caught.value.retryable
    assert caught.value.code == 20429


async def test_wrong_credentials_are_not_retryable(fake_twilio: FakeTwilio) -> None:
    adapter = TwilioSms(
        account_sid=fake_twilio.account_sid,
        auth_token="wrong",
        from_number=FROM_NUMBER,
        clinic_phone=CLINIC_PHONE,
        api_base_url=fake_twilio.url,
    )
    try:
        with pytest.raises(SmsError) as caught:
            await adapter.send_sms(to=PATIENT, body="hello")
    finally:
        await adapter.aclose()
    assert caught.value.status == 401
    assert not caught.value.retryable


async def test_unreachable_twilio_is_retryable() -> None:
    adapter = TwilioSms(
        account_sid="AC1",
        auth_token="t",
        from_number=FROM_NUMBER,
        clinic_phone=CLINIC_PHONE,
        api_base_url=f"http://127.0.0.1:{free_port()}",
        timeout=2,
    )
    try:
        with pytest.raises(SmsError) as caught:
            await adapter.send_sms(to=PATIENT, body="hello")
    finally:
        await adapter.aclose()
    assert caught.value.retryable
    assert caught.value.code is None


def test_rebase_url_keeps_path_and_query() -> None:
    url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json?PageSize=5"
    assert (
        rebase_url(url, "http://127.0.0.1:9000")
        == "http://127.0.0.1:9000/2010-04-01/Accounts/AC1/Messages.json?PageSize=5"
    )
    assert rebase_url(url, "http://h:1/prefix/") == "http://h:1/prefix/2010-04-01/Accounts/AC1/Messages.json?PageSize=5"
    assert rebase_url("https://example.com/x", "http://h:1") == "https://example.com/x"


def test_bad_base_url_and_missing_credentials_fail_fast() -> None:
    with pytest.raises(ValueError, match="http"):
        TwilioSms(
            account_sid="AC1",
            auth_token="t",
            from_number=FROM_NUMBER,
            clinic_phone=CLINIC_PHONE,
            api_base_url="ftp://x",
        )
    with pytest.raises(ValueError, match="TWILIO_ACCOUNT_SID"):
        TwilioSms(account_sid="", auth_token="t", from_number=FROM_NUMBER, clinic_phone=CLINIC_PHONE)


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("+15005550006", True),
        ("+4915112345678", True),
        ("+442071838750", True),
        ("+123456789012345", True),
        ("+1234567890123456", False),
        ("15005550006", False),
        ("+05005550006", False),
        ("+1 500 555 0006", False),
        ("+1-500-555-0006", False),
        ("+", False),
        ("", False),
        ("+1500555000\uff16", False),
        ("+15005550006\n", False),
    ],
)
def test_is_e164(number: str, expected: bool) -> None:
    assert is_e164(number) is expected


async def test_fake_sms_records_and_fails_on_request() -> None:
    fake = FakeSms()
    sid = await fake.send_sms(to=PATIENT, body="hi")
    call_sid = await fake.place_call(to=PATIENT, message="hello")
    assert [(s.sid, s.to, s.body) for s in fake.sent] == [(sid, PATIENT, "hi")]
    assert [(c.sid, c.message) for c in fake.calls] == [(call_sid, "hello")]
    fake.fail_next(2)
    for _ in range(2):
        with pytest.raises(SmsError) as caught:
            await fake.send_sms(to=PATIENT, body="again")
        assert caught.value.retryable
    fake.opt_out(PATIENT)
    with pytest.raises(OptedOutError):
        await fake.place_call(to=PATIENT, message="hello")
    with pytest.raises(SmsError) as invalid:
        await fake.send_sms(to="12345", body="x")
    assert invalid.value.code == 21211
    assert len(fake.sent) == 1


async def test_concurrent_sends_run_off_the_event_loop(sms: TwilioSms, fake_twilio: FakeTwilio) -> None:
    fake_twilio.hold()
    sends = [asyncio.create_task(sms.send_sms(to=PATIENT, body=f"n{i}")) for i in range(4)]
    # All four requests reach Twilio and wait there together: none of them blocks the loop while it waits
    # (on the loop they would go one at a time, and this loop could not even notice them arriving).
    await asyncio.to_thread(fake_twilio.wait_held, 4)
    responsive = asyncio.create_task(asyncio.sleep(0, result="ran"))
    assert await responsive == "ran" and not any(send.done() for send in sends)
    fake_twilio.release()
    sids = await asyncio.gather(*sends)
    assert len(set(sids)) == 4
    assert sorted(r.form["Body"] for r in fake_twilio.messages) == sorted(f"n{i}" for i in range(4))
