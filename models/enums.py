"""Enumerations shared by stored documents and the API."""

from enum import StrEnum


class CampaignType(StrEnum):
    """The two kinds of outreach campaign."""

    RECOVERY = "RECOVERY"
    RECALL = "RECALL"


class CampaignStatus(StrEnum):
    """Campaign lifecycle (ARCHITECTURE §4)."""

    ATTEMPTING_RECOVERY = "ATTEMPTING_RECOVERY"
    ATTEMPTING_RECALL = "ATTEMPTING_RECALL"
    ENGAGED = "ENGAGED"
    HANDOFF = "HANDOFF"
    BOOKING_COMPLETED = "BOOKING_COMPLETED"
    DECLINED = "DECLINED"
    FAILED = "FAILED"
    PAUSED = "PAUSED"


ATTEMPTING_STATUSES = (CampaignStatus.ATTEMPTING_RECOVERY, CampaignStatus.ATTEMPTING_RECALL)
ACTIVE_STATUSES = (*ATTEMPTING_STATUSES, CampaignStatus.ENGAGED, CampaignStatus.HANDOFF)


class Channel(StrEnum):
    """Outreach channels."""

    EMAIL = "email"
    SMS = "sms"
    CALL = "call"


class Direction(StrEnum):
    """Interaction direction."""

    INCOMING = "incoming"
    OUTGOING = "outgoing"


class Intent(StrEnum):
    """The fixed set of reply intents."""

    BOOKING_REQUEST = "booking_request"
    SERVICE_DENIAL = "service_denial"
    IRRELEVANT_CONFUSED = "irrelevant_confused"
    QUESTION = "question"
    OTHER = "other"


class AppointmentStatus(StrEnum):
    """Appointment lifecycle."""

    BOOKED = "booked"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"


class OutboundStatus(StrEnum):
    """At-most-once send record state."""

    CLAIMED = "claimed"
    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"


class InboundStatus(StrEnum):
    """Inbound event processing state."""

    PENDING = "pending"
    DONE = "done"
    SKIPPED = "skipped"


class InboundSource(StrEnum):
    """Where an inbound event came from."""

    GMAIL = "gmail"
    PUBSUB = "pubsub"
    TWILIO = "twilio"
    MANUAL = "manual"


class Role(StrEnum):
    """Staff roles."""

    ADMIN = "admin"
    STAFF = "staff"


class ConsentStatus(StrEnum):
    """Consent state for one channel."""

    GRANTED = "granted"
    UNKNOWN = "unknown"
    REVOKED = "revoked"


class AuditOutcome(StrEnum):
    """Outcome of an audited action."""

    SUCCESS = "success"
    FAILURE = "failure"
    DENIED = "denied"
