"""Outreach copy for the offline LLM: per campaign type and attempt, an email, an SMS and a spoken version."""

from __future__ import annotations

import re
from dataclasses import dataclass

from models.enums import CampaignType, Channel
from services.llm.schemas import BODY_MAX, SHORT_TEXT_MAX, SUBJECT_MAX

MAX_TEMPLATE_ATTEMPT = 3
_FIELD = re.compile(r"\{(first_name|clinic|phone|link)\}")


@dataclass(frozen=True)
class OutreachTemplate:
    """The four texts of one outreach step; `{first_name}`, `{clinic}`, `{phone}`, `{link}` are filled in."""

    subject: str
    body: str
    sms: str
    call: str


_SIGN_OFF = "\n\n{closing},\nThe team at {clinic}"

TEMPLATES: dict[tuple[CampaignType, int], OutreachTemplate] = {
    (CampaignType.RECOVERY, 1): OutreachTemplate(
        subject="{first_name}, let's finish your treatment at {clinic}",
        body=(
            "Hi {first_name},\n\n"
            "We noticed that your treatment at {clinic} isn't finished yet, and we'd love to help you complete it.\n\n"
            "You can pick a day and time that suits you here:\n{link}\n\n"
            "If you'd rather talk it through first, call us at {phone} or simply reply to this email. "
            "We're happy to help." + _SIGN_OFF.replace("{closing}", "Warm regards")
        ),
        sms=(
            "Hi {first_name}, this is {clinic}. Your treatment with us isn't finished yet and we'd love to help "
            "you complete it. Book a time that suits you: {link} or call {phone}."
        ),
        call=(
            "Hello {first_name}, this is {clinic}. We noticed that your treatment with us isn't finished yet, and "
            "we'd be glad to help you complete it. To choose a time that suits you, please call us at {phone}. "
            "Thank you, and have a lovely day."
        ),
    ),
    (CampaignType.RECOVERY, 2): OutreachTemplate(
        subject="A quick follow-up from {clinic}",
        body=(
            "Hi {first_name},\n\n"
            "We're following up on our last message: your treatment at {clinic} is still open, and we'd like to "
            "make it as easy as possible for you to continue.\n\n"
            "Booking online only takes a minute:\n{link}\n\n"
            "Have a question first? Call us at {phone} or reply to this email and we'll get back to you."
            + _SIGN_OFF.replace("{closing}", "Best wishes")
        ),
        sms=(
            "Hi {first_name}, a quick follow-up from {clinic}: your treatment with us is still open. "
            "Book online in a minute: {link} or call us at {phone}."
        ),
        call=(
            "Hello {first_name}, this is {clinic} following up on our last message. Your treatment with us is "
            "still open, and we'd like to make it easy for you to continue. Please call us at {phone} and we'll "
            "find a time together. Thank you."
        ),
    ),
    (CampaignType.RECOVERY, 3): OutreachTemplate(
        subject="We're still here for you, {first_name}",
        body=(
            "Hi {first_name},\n\n"
            "We haven't heard back from you, so we're checking in once more. Whenever you're ready to continue "
            "your treatment, {clinic} is here to help.\n\n"
            "Book a time here:\n{link}\n\n"
            "Or call us at {phone}. If you've already taken care of this, or you'd prefer not to hear from us, "
            "just reply and let us know." + _SIGN_OFF.replace("{closing}", "Take care")
        ),
        sms=(
            "Hi {first_name}, {clinic} checking in once more. Whenever you're ready to continue your treatment, "
            "book here: {link} or call {phone}. Reply STOP to opt out."
        ),
        call=(
            "Hello {first_name}, this is {clinic} checking in once more. Whenever you're ready to continue your "
            "treatment, we're here to help. Please call us at {phone}. If you'd prefer not to hear from us, "
            "just let us know when you call. Take care."
        ),
    ),
    (CampaignType.RECALL, 1): OutreachTemplate(
        subject="{first_name}, it's time for your check-up",
        body=(
            "Hi {first_name},\n\n"
            "It's been a while since your last visit to {clinic}, which means it's time for your regular "
            "check-up.\n\n"
            "Choose a day and time that works for you:\n{link}\n\n"
            "Prefer to book by phone? Call us at {phone}. We look forward to seeing you."
            + _SIGN_OFF.replace("{closing}", "Kind regards")
        ),
        sms=(
            "Hi {first_name}, it's time for your check-up at {clinic}. Choose a day and time that works for "
            "you: {link} or call {phone}."
        ),
        call=(
            "Hello {first_name}, this is {clinic}. It's been a while since your last visit, so it's time for "
            "your regular check-up. To choose a day and time that works for you, please call us at {phone}. "
            "We look forward to seeing you."
        ),
    ),
    (CampaignType.RECALL, 2): OutreachTemplate(
        subject="Friendly reminder: your check-up at {clinic} is due",
        body=(
            "Hi {first_name},\n\n"
            "Just a friendly reminder that your regular check-up at {clinic} is due. Regular visits are the "
            "easiest way to stay on top of things, and booking only takes a minute:\n{link}\n\n"
            "If none of the times online suit you, call us at {phone} and we'll find one together."
            + _SIGN_OFF.replace("{closing}", "Best wishes")
        ),
        sms=(
            "Hi {first_name}, a friendly reminder from {clinic}: your check-up is due. Book in a minute: "
            "{link} or call {phone}."
        ),
        call=(
            "Hello {first_name}, this is a friendly reminder from {clinic}: your regular check-up is due. "
            "Please call us at {phone} and we'll find a time that suits you. Thank you."
        ),
    ),
    (CampaignType.RECALL, 3): OutreachTemplate(
        subject="Still time to book your check-up, {first_name}",
        body=(
            "Hi {first_name},\n\n"
            "We haven't heard back from you, so here's one more reminder that your check-up at {clinic} is "
            "due. Whenever it suits you, you can book here:\n{link}\n\n"
            "Or call us at {phone}. If you've already booked elsewhere, or you'd prefer not to hear from us, "
            "just reply and let us know." + _SIGN_OFF.replace("{closing}", "Take care")
        ),
        sms=(
            "Hi {first_name}, one more reminder from {clinic}: your check-up is due. Book whenever it suits "
            "you: {link} or call {phone}. Reply STOP to opt out."
        ),
        call=(
            "Hello {first_name}, this is {clinic} with one more reminder that your regular check-up is due. "
            "Whenever it suits you, please call us at {phone}. If you'd prefer not to hear from us, just let "
            "us know when you call. Take care."
        ),
    ),
}


# The follow-up on a patient's reply when no booking followed it (an engaged campaign's one nudge).
NUDGE = OutreachTemplate(
    subject="Following up on your reply, {first_name}",
    body=(
        "Hi {first_name},\n\n"
        "Thank you again for getting back to us. We're following up on your reply: we haven't seen a booking "
        "yet, and we'd be glad to help you find a time that suits you.\n\n"
        "You can book here:\n{link}\n\n"
        "Or call us at {phone}, or simply reply to this email." + _SIGN_OFF.replace("{closing}", "Best wishes")
    ),
    sms=(
        "Hi {first_name}, {clinic} following up on your reply. We'd be glad to find a time that suits you: "
        "{link} or call {phone}."
    ),
    call=(
        "Hello {first_name}, this is {clinic}, following up on your reply. We'd be glad to find a time that "
        "suits you. Please call us at {phone}. Thank you."
    ),
)


# Fallbacks for long names, clinic names or links: each text falls back on its own to the compact version of
# its campaign type, then to the minimal one, whichever first fits its limit.
COMPACT: dict[CampaignType, OutreachTemplate] = {
    CampaignType.RECOVERY: OutreachTemplate(
        subject="Finish your treatment at {clinic}",
        body=(
            "Hi {first_name},\n\nYour treatment at {clinic} isn't finished yet. Book your next visit here:\n"
            "{link}\n\nOr call us at {phone}." + _SIGN_OFF.replace("{closing}", "Warm regards")
        ),
        sms="{clinic}: your treatment isn't finished yet. Book: {link} or call {phone}.",
        call=(
            "Hello {first_name}, this is {clinic}. Your treatment with us isn't finished yet. "
            "Please call us at {phone}."
        ),
    ),
    CampaignType.RECALL: OutreachTemplate(
        subject="Your check-up at {clinic} is due",
        body=(
            "Hi {first_name},\n\nYour check-up at {clinic} is due. Book it here:\n{link}\n\n"
            "Or call us at {phone}." + _SIGN_OFF.replace("{closing}", "Kind regards")
        ),
        sms="{clinic}: your check-up is due. Book: {link} or call {phone}.",
        call="Hello {first_name}, this is {clinic}. Your check-up is due. Please call us at {phone}.",
    ),
}
MINIMAL = OutreachTemplate(
    subject="Book your next visit",
    body="Hi {first_name},\n\nBook your next visit here:\n{link}\n\nOr call us at {phone}.\n\nThe team at {clinic}",
    sms="Book: {link} or call {phone}",
    call="Hello, this is {clinic}. Please call us at {phone}.",
)


def template_for(campaign_type: CampaignType, attempt: int) -> OutreachTemplate:
    """The template of `campaign_type` for `attempt` (1, 2, or 3 and later)."""
    return TEMPLATES[(campaign_type, min(max(attempt, 1), MAX_TEMPLATE_ATTEMPT))]


def _first_fitting(candidates: list[str], limit: int) -> str:
    return next((text for text in candidates if len(text) <= limit), candidates[-1])


def render(
    campaign_type: CampaignType,
    attempt: int,
    *,
    channel: Channel,
    first_name: str,
    clinic: str,
    phone: str,
    link: str,
    nudge: bool = False,
) -> tuple[str, str, str]:
    """(subject, email body, short text for `channel`), each from the fullest template version that fits; with
    `nudge`, the follow-up on the patient's reply."""
    values = {"first_name": first_name, "clinic": clinic, "phone": phone, "link": link}

    def fill(text: str) -> str:
        # One pass, not str.format: a name or link containing braces must come out verbatim.
        return _FIELD.sub(lambda match: values[match.group(1)], text)

    chain = (NUDGE if nudge else template_for(campaign_type, attempt), COMPACT[campaign_type], MINIMAL)
    subject = _first_fitting([fill(t.subject) for t in chain], SUBJECT_MAX)
    body = _first_fitting([fill(t.body) for t in chain], BODY_MAX)
    short = _first_fitting([fill(t.call if channel == Channel.CALL else t.sms) for t in chain], SHORT_TEXT_MAX)
    return subject, body, short
