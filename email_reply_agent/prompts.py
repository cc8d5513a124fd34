"""Reply texts. Every link and fact in a reply comes from here, the settings or an approved KB article."""

# The greeting and sign-off around these are in domain/reply_text.py (staff replies share them).

BOOKING_REPLY = (
    "Thank you for getting back to us. You can choose a time that suits you here: {booking_link}\n\n"
    "{slots_line}If you prefer, call us at {clinic_phone} and we will book it for you."
)
SLOTS_LINE = "The next open times are:\n{slots}\n\n"
THANK_YOU = (
    "Thank you for letting us know. We won't contact you about this again. "
    "If anything changes, you are always welcome to call us at {clinic_phone}."
)
CLARIFICATION = (
    "Sorry for any confusion. This is {clinic_name}: we wrote because our records show you may be due a visit. "
    "If you would like to book, use {booking_link} or call {clinic_phone}. If this reached you by mistake, "
    'just reply "unsubscribe" and we won\'t write again.'
)
KB_ANSWER = "Thanks for your question.\n\n{answer}\n\nYou can book online at {booking_link}."
OFFER_HUMAN_HELP = (
    "Thanks for your question. A member of our team will get back to you shortly. "
    "If it is urgent, please call us at {clinic_phone}."
)
SUMMARY_HANDOFF = (
    "Thank you for your message. We have passed it to our team and someone will reply soon. "
    "If it is urgent, please call us at {clinic_phone}."
)
