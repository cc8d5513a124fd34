"""Offline reply understanding: quoted-text stripping, negation-aware intent patterns, lexical KB retrieval."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from services.llm.schemas import IntentName, KbCandidate

BOOKING: IntentName = "booking_request"
DENIAL: IntentName = "service_denial"
CONFUSED: IntentName = "irrelevant_confused"
QUESTION: IntentName = "question"
OTHER: IntentName = "other"

# When several intents match, the first in this order wins (saying no must never be read as a booking).
PRIORITY: tuple[IntentName, ...] = (DENIAL, BOOKING, CONFUSED, QUESTION)

CONFIDENCE_SINGLE = 0.9
CONFIDENCE_TWO = 0.5
CONFIDENCE_MANY = 0.4
CONFIDENCE_WEAK = 0.6
CONFIDENCE_GIBBERISH = 0.7
CONFIDENCE_OTHER = 0.3
KB_THRESHOLD = 2.0
KB_TITLE_WEIGHT = 2.0

# --- quoted text -----------------------------------------------------------------------------------------

# Every pattern here runs on one stripped line and is linear in it: one anchored start, no two adjacent quantifiers
# that can match the same characters (the old `.*\b(?:wrote)\s*:?\s*$` backtracked quadratically over spaces).
_ATTRIBUTION_START = re.compile(r"(?:on|am|le|el)\b", re.IGNORECASE)
_WROTE_END = re.compile(r"\b(?:wrote|schrieb|a écrit|escribió)$", re.IGNORECASE)
_WROTE_ONLY = re.compile(r"(?:wrote|schrieb|a écrit|escribió)\s*:$", re.IGNORECASE)
_ORIGINAL = re.compile(r"-{2,}\s*(?:original message|forwarded message)\s*-{2,}$|_{5,}$", re.IGNORECASE)
_HEADER = re.compile(r"(?:from|sent|date|to|subject)\s*:", re.IGNORECASE)


def _is_attribution(line: str) -> bool:
    """'On <date>, <name> wrote:' (and its German, French and Spanish forms) on one stripped line."""
    if not _ATTRIBUTION_START.match(line):
        return False
    return _WROTE_END.search(line.removesuffix(":").rstrip()) is not None


def strip_quoted(text: str) -> str:
    """The patient's own words: quoted lines ('>'), and everything from 'On ... wrote:' or a signature on, removed."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    for index, line in enumerate(lines):
        stripped = line.strip()
        following = lines[index + 1].strip() if index + 1 < len(lines) else ""
        if _is_attribution(stripped) or _ORIGINAL.match(stripped) or stripped == "--":
            break
        # Gmail wraps long attribution lines: "On Mon, 3 Jun 2024 at 10:00, Clinic <a@b.c>" / "wrote:".
        if stripped.lower().startswith("on ") and _WROTE_ONLY.match(following):
            break
        # Outlook: a "From:" header line followed by "Sent:"/"Date:" starts the quoted message.
        if stripped.lower().startswith("from:") and _HEADER.match(following):
            break
        if stripped.startswith(">"):
            continue
        kept.append(line)
    return "\n".join(kept).strip()


# --- normalisation ---------------------------------------------------------------------------------------

_REWRITES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"[\u2018\u2019\u02bc`]", "'"),
        (r"\bnot sure\b", "unsure"),
        (r"\b(?:don't|dont|do not) know (?=if|whether|when|what time|which|how soon)", "unsure "),
        (r"\bcan(?:'t|not| not) wait\b", "eager"),
        (r"\b(?:don't|dont|do not) mind\b", "fine with"),
        (r"\b(?:no|not a) (?:problem|worries)\b", "fine"),
        (r"\bwhy not\b", "sure"),
        (r"\bif not\b", "otherwise"),
        (r"\bnot only\b", "also"),
        (r"\s+", " "),
    )
)


def normalise(text: str) -> str:
    """Lowercase, straight apostrophes, single spaces, and idioms whose 'not' is no refusal rewritten."""
    text = text.lower()
    for pattern, replacement in _REWRITES:
        text = pattern.sub(replacement, text)
    return text.strip()


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _compile(*patterns: str) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(pattern) for pattern in patterns)


# --- intent patterns (applied to normalised clauses) -----------------------------------------------------

_NEGATION = (
    r"\b(?:don't|dont|do not|doesn't|does not|didn't|did not|won't|wont|will not|wouldn't|would not|not"
    r"|never|no longer|rather not|no need to)\b"
)
_BOOKING_TARGET = (
    r"(?:book\w*|schedul\w*|reschedul\w*|appointments?|appt|come|coming|visit\w*|return\w*"
    r"|continue|proceed|interested|go ahead|check-?up)\b"
)
_NEGATED_BOOKING = re.compile(_NEGATION + r"(?:\s+[\w'-]+){0,4}?\s+" + _BOOKING_TARGET)

_BOOKING = _compile(
    r"\bbook(?:ing|ed)?\b",
    r"\b(?:re)?schedul(?:e|ing)\b",
    r"\b(?:make|get|have|want|need|like|arrange|set up|take|request|grab|reserve|secure)\b[\w\s'-]{0,20}?"
    r"\b(?:appointments?|appt|slot|check-?up|consultation)\b",
    r"\b(?:available|free|open) (?:times?|slots?|dates?|days?|appointments?)\b",
    r"\b(?:times?|slots?|dates?|days?|appointments?) (?:are |is )?(?:available|free)\b",
    r"\bavailability\b",
    r"\b(?:can|could|may) (?:i|we) (?:come|stop by|pop in|drop by|drop in|visit|see)\b",
    r"\b(?:i'd|i would|i'll|i will|i want to|i'd like to|i would like to|i'm happy to|happy to)"
    r" (?:come|visit|stop by)\b",
    r"\b(?:fit|squeeze) (?:me|us) in\b",
    r"\bsign me up\b",
    r"\bset (?:me|it|one|something) up\b",
    r"\bwhat (?:times?|days?|dates?|slots?)\b.{0,20}\b(?:have|free|available|open|work)\b",
    r"\b(?:possible|able) to (?:come|visit|book|see)\b",
    r"\b(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|tomorrow|next week)\b.{0,15}"
    r"\b(?:works|suits|is good|is fine|would work|would suit)\b",
)
_DENIAL = _compile(
    r"\bnot interested\b",
    r"\bno,? thanks?\b",
    r"\bno,? thank you\b",
    r"\bunsubscribe\b",
    r"\bopt(?:-| )?out\b",
    r"\bremove me\b",
    r"\btake me off\b",
    r"\bleave me alone\b",
    r"\bstop (?:contacting|emailing|messaging|texting|calling|sending|writing)\b",
    r"\b(?:don't|dont|do not|never|please don't) (?:contact|email|message|text|call|write to|bother) me\b",
    r"\bno longer (?:need|want|require|interested)\b",
    r"\b(?:don't|dont|do not) (?:want|need) (?:any|further|more)\b",
    r"\b(?:another|a different|other|a new) (?:clinic|dentist|doctor|practice|practitioner|provider)\b",
    r"\b(?:moved|moving) away\b",
    r"^not (?:right )?now\b",
    r"\bmaybe (?:later|another time|next year)\b",
)
_CONFUSED = _compile(
    r"\bwho(?: is|'s| are|s) (?:this|you|that|u)\b",
    r"\bwrong (?:person|number|email|address|patient|name|recipient)\b",
    r"\b(?:i'm|i am|im) not (?:a|your) (?:patient|client|customer)\b",
    r"\bnever (?:been|visited|had|was)\b.{0,30}\b(?:clinic|practice|you|there)\b",
    r"\b(?:don't|dont|do not|didn't|did not) (?:understand|get it|know (?:you|who|what|why))\b",
    r"\bconfus(?:ed|ing)\b",
    r"\bwhat(?: is|'s) this(?: about| regarding| for)?\W*$",
    r"\bwhy (?:are|did|do|is) (?:you|this|someone) (?:\w+ )?(?:contact|email|text|messag|call|writ)\w*",
    r"\bhow did you get my\b",
    r"\bwhat are you talking about\b",
    r"^(?:huh|what|eh)\W*$",
    r"^\?+$",
)
_WEAK_BOOKING = re.compile(
    r"^(?:yes|yeah|yep|yup|sure|sounds good|absolutely|definitely|please do|let's do it|i'm in)\b"
)
# Cancelling an existing appointment is not a booking request (staff handle it, or the KB answers the policy).
_CANCEL = re.compile(r"\bcancel\w*")
_WEAK_DENIAL = re.compile(r"^(?:no|nope|nah)\b")
_QUESTION_START = re.compile(
    r"^(?:what|what's|whats|when|where|how|why|which|who|whom|whose|do you|does|did you|is there|are there|is it"
    r"|is the|are you|are the|can i|can you|could i|could you|may i|will|would|should|shall|have you|has|any)\b"
)
_GREETING = re.compile(r"^(?:hi|hello|hey|dear|good (?:morning|afternoon|evening))\b[^,.!?]{0,40}[,.!]\s*")

_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")
_CLAUSE_SPLIT = re.compile(r"[,;:]|\s[-\u2013\u2014]\s|\bbut\b")
_WORD = re.compile(r"[a-z][a-z']*")

# A small vocabulary: a message with none of these words and key-mash letter runs reads as gibberish.
_COMMON_WORDS = _words(
    "a about after again all am an and any anyone are as at be because been book booking but by call can cancel "
    "check clinic come could day dear did do does dont don't email for from get go good great had has have hello "
    "help hey hi his how i i'd i'm if in is it it's just know like me message my need next no not now number of "
    "ok okay on or our please question sorry sure text thank thanks that the their there they this time to today "
    "tomorrow too us want was we week what when where which who why will with would yes yeah you your monday "
    "tuesday wednesday thursday friday saturday sunday morning afternoon evening appointment doctor dentist"
)
_KEY_MASH = re.compile(r"[bcdfghjklmnpqrstvwxz]{4,}")


@dataclass(frozen=True)
class Classification:
    """The offline classifier's verdict on one reply."""

    intent: IntentName
    confidence: float
    evidence: str


def _sentences(text: str) -> list[str]:
    return [part.strip() for part in _SENTENCE_SPLIT.split(text) if part.strip()]


def _clause_intents(clause: str) -> set[IntentName]:
    found: set[IntentName] = set()
    if _NEGATED_BOOKING.search(clause):
        found.add(DENIAL)
    elif not _CANCEL.search(clause) and any(pattern.search(clause) for pattern in _BOOKING):
        found.add(BOOKING)
    if any(pattern.search(clause) for pattern in _DENIAL):
        found.add(DENIAL)
    if any(pattern.search(clause) for pattern in _CONFUSED):
        found.add(CONFUSED)
    return found


def _is_interrogative(sentence: str) -> bool:
    sentence = _GREETING.sub("", sentence)
    return sentence.rstrip().endswith("?") or _QUESTION_START.match(sentence) is not None


def _is_gibberish(text: str) -> bool:
    words = _WORD.findall(text)
    if not words or any(word in _COMMON_WORDS for word in words):
        return False
    return any(_KEY_MASH.search(word) or not re.search(r"[aeiouy]", word) for word in words)


def classify(email_text: str) -> Classification:
    """The intent of a reply (its quoted part ignored), with a confidence and the sentence that decided it."""
    sentences = [" ".join(sentence.split()) for sentence in _sentences(strip_quoted(email_text))]
    if not sentences:
        return Classification(OTHER, CONFIDENCE_OTHER, "")
    evidence: dict[IntentName, str] = {}
    for sentence in sentences:
        normalised = normalise(sentence)
        sentence_intents: set[IntentName] = set()
        for clause in _CLAUSE_SPLIT.split(normalised):
            if clause.strip():
                sentence_intents |= _clause_intents(clause.strip())
        if not sentence_intents and _is_interrogative(normalised):
            sentence_intents.add(QUESTION)
        for intent in sentence_intents:
            evidence.setdefault(intent, sentence)
    if evidence:
        best = next(intent for intent in PRIORITY if intent in evidence)
        confidence = {1: CONFIDENCE_SINGLE, 2: CONFIDENCE_TWO}.get(len(evidence), CONFIDENCE_MANY)
        return Classification(best, confidence, evidence[best])
    first = sentences[0]
    if _WEAK_DENIAL.match(normalise(first)):
        return Classification(DENIAL, CONFIDENCE_WEAK, first)
    if _WEAK_BOOKING.match(normalise(first)):
        return Classification(BOOKING, CONFIDENCE_WEAK, first)
    if _is_gibberish(normalise(" ".join(sentences))):
        return Classification(CONFUSED, CONFIDENCE_GIBBERISH, first)
    return Classification(OTHER, CONFIDENCE_OTHER, first)


# --- knowledge-base retrieval ----------------------------------------------------------------------------

_STOPWORDS = _words(
    "a about above after again all also am an and any anyone are as at be because been before being below "
    "between both but by can can't cannot could did do does doing don't down during each even ever every few for "
    "from further get got had has have having he her here hers him his how i i'd i'll i'm i've if in into is it "
    "it's its just know let like make me might more most much must my need no nor not now of off on once only "
    "or other our ours out over own please same say she should so some such tell than that the their them then "
    "there these they this those through to too under until up us very want was we were what when where which "
    "while who whom why will with would yes you you're your yours yourself hi hello hey dear thanks thank "
    "regards best kind clinic wondering question quick anything something exactly really still"
)
_PHRASES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"\bhow much\b", " price "),
        (r"\bget (?:to|there)\b", " address "),
        (r"\bfind you\b", " address "),
        (r"\bcar park\b", " park "),
    )
)
# Naive canonical forms so paraphrases meet: applied to a word, then to its stem.
_SYNONYMS = {
    "opening": "hour",
    "open": "hour",
    "close": "hour",
    "closing": "hour",
    "closed": "hour",
    "weekend": "saturday",
    "parking": "park",
    "car": "park",
    "garage": "park",
    "vehicle": "park",
    "insurer": "insurance",
    "insured": "insurance",
    "cover": "insurance",
    "covered": "insurance",
    "coverage": "insurance",
    "cost": "price",
    "fee": "price",
    "charge": "price",
    "expensive": "price",
    "cheap": "price",
    "pricing": "price",
    "located": "address",
    "location": "address",
    "directions": "address",
    "direction": "address",
    "cancellation": "cancel",
    "cancell": "cancel",
    "cancelling": "cancel",
    "canceling": "cancel",
    "cancelled": "cancel",
    "canceled": "cancel",
}


def stem(word: str) -> str:
    """A naive stem: possessive, -ing, -ies, -es, -ed and plural -s removed."""
    word = word.removesuffix("'s").strip("'")
    if len(word) > 5 and word.endswith("ing"):
        return word[:-3]
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("sses", "xes", "zes", "ches", "shes")):
        return word[:-2]
    if len(word) > 5 and word.endswith("ed"):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def tokenise(text: str) -> set[str]:
    """Content words of `text`: lowercase, no punctuation or stopwords, stemmed and canonicalised."""
    text = normalise(text)
    for pattern, replacement in _PHRASES:
        text = pattern.sub(replacement, text)
    tokens: set[str] = set()
    for word in re.findall(r"[a-z0-9][a-z0-9']*", text):
        if word in _STOPWORDS or len(word) < 2 or word.isdigit():
            continue
        canonical = _SYNONYMS.get(word) or _SYNONYMS.get(stem(word)) or stem(word)
        if canonical not in _STOPWORDS:
            tokens.add(canonical)
    return tokens


def score_article(query: set[str], article: KbCandidate) -> float:
    """Token overlap of `query` with the article: title matches count double."""
    title = tokenise(article.title)
    answer = tokenise(article.answer)
    return sum(KB_TITLE_WEIGHT * (token in title) + (token in answer) for token in query)


def retrieve(question: str, kb: Sequence[KbCandidate], *, threshold: float = KB_THRESHOLD) -> str | None:
    """The id of the best-matching article for `question`, or None when none scores at least `threshold`."""
    query = tokenise(question)
    if not query or not kb:
        return None
    ranked = []
    for index, article in enumerate(kb):
        covered = query & (tokenise(article.title) | tokenise(article.answer))
        # Ties go to the article matching more distinct words of the question, then to the earlier one.
        ranked.append((score_article(query, article), len(covered), -index, article.id))
    best_score, _, _, best_id = max(ranked)
    return best_id if best_score >= threshold else None
