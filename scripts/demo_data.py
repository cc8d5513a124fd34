"""The demo clinic's constant data: names, message texts, replies, status weights and knowledge-base articles.

Texts are templates filled by scripts/seed_demo.py: {first}, {clinic}, {phone}, {open}, {close} in messages;
{clinic}, {days}, {hours}, {address}, {phone}, {cancel_hours} in knowledge-base answers.
"""

from __future__ import annotations

from models.enums import CampaignStatus, CampaignType, Channel, Intent


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST_NAMES = _words(
    "Olivia Liam Emma Noah Ava Mateo Sophia Lucas Isabella Ethan Mia Aarav Amelia Hiroshi Chloe Diego Fatima "
    "Oliver Zoe Kwame Grace Mohammed Hannah Raj Lily Samuel Aisha Daniel Nora Wei Elena James Priya Lucía "
    "Benjamin Sofia Omar Ingrid Carlos Yuki Maya Thomas Leila André Rosa Jonas Eleanor Tariq Camille Kenji "
    "Anna Marcus Chiara Dmitri Julia Kofi Beatriz Seán Mei Gabriel"
)
LAST_NAMES = _words(
    "Smith Johnson Garcia Nguyen Patel Kim Müller Rossi O'Brien Hernández Chen Williams Okafor Kowalski "
    "Silva Brown Tanaka Haddad Andersson Dubois Ivanova Martinez Lopez Singh Cohen Murphy Fischer Costa "
    "Khan Jones Wilson Davies Nakamura Moreau Rahman Schmidt Novak Walker Lee Ahmed Taylor Mensah Ramos "
    "Larsen Park Bianchi Clark Hughes Yilmaz Santos"
)
CONSENT_SOURCES = ("intake_form", "web_booking", "front_desk", "phone_call")

# Outreach messages by campaign type and channel, one per attempt (the last repeats).
OUTREACH: dict[tuple[CampaignType, Channel], tuple[str, ...]] = {
    (CampaignType.RECOVERY, Channel.EMAIL): (
        "Hi {first}, we missed you at your recent appointment at {clinic}. Would you like to pick a new "
        "time? Reply here or call us at {phone}.",
        "Hi {first}, just following up: we still have openings this week at {clinic}. Reply to this email "
        "and we will find a time that suits you.",
        "Hi {first}, this is our last note about rescheduling your visit. If now is not a good time, "
        "simply let us know.",
    ),
    (CampaignType.RECALL, Channel.EMAIL): (
        "Hi {first}, it has been about six months since your last check-up at {clinic}. Shall we book your next visit?",
        "Hi {first}, a friendly reminder that you are due for a check-up and cleaning. Reply with a day that "
        "works for you.",
        "Hi {first}, we would love to see you for your routine check-up. Book online or call {phone}.",
    ),
    (CampaignType.RECOVERY, Channel.SMS): (
        "{clinic}: Hi {first}, we missed you at your appointment. Reply YES to rebook. Reply STOP to opt out.",
        "{clinic}: Hi {first}, still want to reschedule? We have openings this week. Reply STOP to opt out.",
        "{clinic}: Last reminder, {first}: reply YES and we will find you a time. Reply STOP to opt out.",
    ),
    (CampaignType.RECALL, Channel.SMS): (
        "{clinic}: Hi {first}, you are due for your check-up. Reply YES to book. Reply STOP to opt out.",
        "{clinic}: Hi {first}, your 6-month check-up is overdue. Reply with a good day. Reply STOP to opt out.",
        "{clinic}: {first}, book your check-up online or call {phone}. Reply STOP to opt out.",
    ),
    (CampaignType.RECOVERY, Channel.CALL): (
        "Outbound call to {first}: no answer, left a voicemail offering to reschedule the missed visit.",
        "Outbound call to {first}: voicemail left again, asked to call {phone} to rebook.",
        "Final call attempt to {first}: no answer, voicemail left.",
    ),
    (CampaignType.RECALL, Channel.CALL): (
        "Outbound call to {first}: no answer, left a voicemail about the overdue check-up.",
        "Outbound call to {first}: voicemail left, asked to call {phone} to book a check-up.",
        "Final recall call to {first}: no answer, voicemail left.",
    ),
}

# (patient reply, reply summary, our answer or None) by intent.
BOOKING_REPLIES = (
    ("Yes please, could I come in next week in the afternoon?", "Patient wants an afternoon slot next week."),
    ("Thanks for the reminder, I'd like to book a cleaning.", "Patient asked to book a cleaning."),
    ("Sure, any morning next week works for me.", "Patient is available mornings next week."),
    ("YES", "Patient replied yes to rebooking."),
)
DECLINE_REPLIES = (
    ("No thank you, I've moved to another clinic.", "Patient moved to another clinic."),
    ("Please stop contacting me.", "Patient asked not to be contacted."),
    ("Not interested at the moment, thanks.", "Patient is not interested for now."),
    ("I'm moving abroad next month, so no thanks.", "Patient is moving abroad."),
)
ENGAGED_REPLIES = (
    (
        Intent.QUESTION,
        "How much does a cleaning cost?",
        "Patient asked about the price of a cleaning.",
        "A professional cleaning is $95, {first}. Would you like me to suggest a few times?",
    ),
    (
        Intent.QUESTION,
        "Are you open on Saturdays?",
        "Patient asked about Saturday hours.",
        "Yes, we are open on Saturdays from {open} to {close}. Shall I look for a Saturday slot?",
    ),
    (
        Intent.QUESTION,
        "Is there parking near the clinic?",
        "Patient asked about parking.",
        "There is free patient parking behind the building. Would you like to book a visit?",
    ),
    (
        Intent.BOOKING_REQUEST,
        "Could I come in on a weekday evening?",
        "Patient wants a weekday evening slot.",
        "We have evening slots until {close}. Here is the link to pick the one that suits you best.",
    ),
    (
        Intent.OTHER,
        "Thanks, let me check my calendar and get back to you.",
        "Patient will check their calendar.",
        "Of course, {first}. Just reply whenever you are ready.",
    ),
)
HANDOFF_REPLIES = (
    (
        Intent.QUESTION,
        "Does my insurance cover a crown? I have a Cigna PPO plan.",
        "Patient asked about crown coverage under their insurance.",
        "Insurance coverage question for staff",
    ),
    (
        Intent.OTHER,
        "I've had pain in my lower left molar since last week, is that urgent?",
        "Patient reports tooth pain.",
        "Patient reports pain; needs clinical triage",
    ),
    (
        Intent.IRRELEVANT_CONFUSED,
        "I was charged twice for my last visit??",
        "Patient reports a double charge.",
        "Billing question for the front desk",
    ),
    (
        Intent.IRRELEVANT_CONFUSED,
        "Who is this? I don't remember booking anything.",
        "Patient is confused about the message.",
        "Unclear reply; a staff member should call",
    ),
)
PAUSE_REASONS = (
    "Paused by staff: patient is travelling until next month.",
    "Paused by staff: waiting for the insurance pre-authorisation.",
    "Paused by staff: patient asked to be contacted after their surgery.",
)
HOLDING_MESSAGE = "Thanks, {first}. A member of our team will get back to you shortly."
CONFIRMATION = "You're booked, {first}! See you soon at {clinic}. Manage your visit from your confirmation email."
DECLINE_ACK = "Understood, {first}. We won't contact you about this again. Take care!"

# Weights of the latest campaign's status (after the first patients, who get every status once).
STATUS_WEIGHTS = {
    "attempting": 14,
    CampaignStatus.ENGAGED: 6,
    CampaignStatus.HANDOFF: 4,
    CampaignStatus.BOOKING_COMPLETED: 32,
    CampaignStatus.DECLINED: 14,
    CampaignStatus.FAILED: 26,
    CampaignStatus.PAUSED: 4,
}

# How often each consented channel is picked for a campaign.
CHANNEL_WEIGHTS = {Channel.EMAIL: 70, Channel.SMS: 20, Channel.CALL: 10}

# (slug, title, answer template, tags): the clinic's approved answers to common questions.
KB_ARTICLES: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    (
        "opening-hours",
        "What are your opening hours?",
        "{clinic} is open {days}, {hours}. We are closed on public holidays.",
        ("hours", "opening", "schedule"),
    ),
    (
        "address",
        "Where is the clinic?",
        "{clinic} is at {address}. Call {phone} if you need directions.",
        ("address", "location", "directions"),
    ),
    (
        "parking",
        "Is there parking?",
        "Free patient parking is available behind the building, including two accessible spaces. Street "
        "parking nearby is metered.",
        ("parking", "car", "accessibility"),
    ),
    (
        "insurance",
        "Which insurance plans do you accept?",
        "We accept most PPO plans, including Delta Dental, Cigna, Aetna, MetLife and Guardian. We file "
        "claims for you; bring your insurance card to your visit. HMO plans are not accepted.",
        ("insurance", "coverage", "billing"),
    ),
    (
        "price-cleaning",
        "How much does a cleaning cost?",
        "A professional cleaning costs $95 without insurance. With a PPO plan it is usually fully covered "
        "twice a year.",
        ("prices", "cleaning", "cost"),
    ),
    (
        "price-checkup",
        "How much does a check-up cost?",
        "A check-up with examination costs $75 without insurance; X-rays, when needed, are $45.",
        ("prices", "check-up", "exam", "cost"),
    ),
    (
        "price-whitening",
        "How much does teeth whitening cost?",
        "In-office whitening costs $350 and takes about 45 minutes. Take-home whitening trays are $220.",
        ("prices", "whitening", "cosmetic", "cost"),
    ),
    (
        "services",
        "Which services do you offer?",
        "Check-ups, cleanings, fillings, crowns, root canal treatment, whitening, children's dentistry and "
        "emergency appointments.",
        ("services", "treatments"),
    ),
    (
        "cancellation",
        "What is your cancellation policy?",
        "Please cancel or reschedule at least {cancel_hours} hours before your visit using "
        "the link in your confirmation email or by calling {phone}. Late cancellations may incur "
        "a $25 fee.",
        ("cancellation", "reschedule", "policy"),
    ),
    (
        "payment",
        "Which payment methods do you accept?",
        "We accept cash, all major credit and debit cards, Apple Pay, Google Pay and HSA/FSA cards. Payment "
        "plans are available for treatments over $500.",
        ("payment", "billing", "cards"),
    ),
    (
        "emergency",
        "Do you take emergency appointments?",
        "Yes. We keep same-day slots for dental emergencies such as severe pain, swelling or a broken "
        "tooth. Call {phone} as early as possible. For life-threatening symptoms call 911.",
        ("emergency", "pain", "urgent"),
    ),
    (
        "children",
        "Do you treat children?",
        "Yes, we see children from their first tooth. A parent or guardian must attend with patients under 18.",
        ("children", "kids", "family"),
    ),
    (
        "first-visit",
        "What should I bring to my first visit?",
        "Please arrive 10 minutes early with a photo ID, your insurance card and a list of your "
        "medications. Your first visit includes an examination and a treatment plan.",
        ("first visit", "new patient"),
    ),
    (
        "hygiene",
        "What hygiene and COVID-19 precautions do you take?",
        "All instruments are sterilised between patients, treatment rooms are disinfected after each visit "
        "and the air is HEPA-filtered. If you have a fever or flu-like symptoms, please reschedule.",
        ("covid", "hygiene", "safety"),
    ),
)
