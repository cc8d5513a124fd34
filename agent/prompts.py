"""Fixed texts of outreach messages (the LLM prompts live with the LLM adapter in services/llm/prompts.py)."""

EMAIL_FOOTER = """
—
{clinic_name}
{clinic_address}
Phone: {clinic_phone}
Book online: {booking_link}

You receive this because you are a patient of {clinic_name}.
Unsubscribe from these emails: {unsubscribe_link}
"""

SMS_OPT_OUT = "Reply STOP to opt out."
