"""A small hand-written consultation about outpatient booking, used across the tests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from consultations.insights import PollTotal, ResponseRow, analyse_text


@dataclass(frozen=True)
class QI:
    project: str = "Outpatient booking redesign"
    stage: str = "plan"
    cycle: int = 2


@dataclass(frozen=True)
class Segment:
    id: str
    text: str
    options: tuple[str, ...]


@dataclass(frozen=True)
class Item:
    id: str
    type: str
    text: str
    options: tuple[str, ...] | None = None
    multiple: bool = False


@dataclass(frozen=True)
class Spec:
    id: str = "outpatient-booking"
    title: str = "Improving outpatient booking"
    organisation: str = "Example Health Service"
    model: str = "feedback-prompt"
    qi: QI = field(default_factory=QI)
    channels: tuple[str, ...] = ("web", "telegram", "mastodon")
    segments: tuple[Segment, ...] = (
        Segment(
            "role", "Which best describes you?", ("Patient", "Carer", "Staff", "Community member")
        ),
    )
    items: tuple[Item, ...] = (
        Item(
            "ease",
            "poll",
            "How easy was it to book your last appointment?",
            ("Very easy", "Easy", "Neither", "Hard", "Very hard"),
        ),
        Item("one-thing", "prompt", "What one thing would make booking easier?"),
    )
    closing_message: str | None = "Thank you. We will share what we change."


SPEC = Spec()
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

COMMENTS: tuple[str, ...] = (
    # Phone line and getting through
    "The phone line rang out every time I tried to book.",
    "I was on hold for forty minutes before anyone answered the phone.",
    "Nobody answers the booking phone line in the morning.",
    "Hard to get through on the phone, I gave up twice.",
    "Phone queue is far too long, please add more staff to answer calls.",
    "Could not get through on the phone at all, very frustrating.",
    "Waited ages on the phone just to change my appointment.",
    # Reminders and letters
    "A text message reminder the day before would really help.",
    "The appointment letter arrived after the appointment date.",
    "Please send reminders by text instead of letters.",
    "I never got a reminder and missed my appointment.",
    "Letters go to my old address, a text reminder would be better.",
    "An email confirmation with the time and place would help.",
    # Online booking
    "Let me book online so I do not have to ring.",
    "An online booking system would save everyone time.",
    "The website should show free appointment slots.",
    "Online booking in the evening would suit working people.",
    "I would like to choose my appointment time online.",
    # Staff and reception
    "The receptionist was very kind and helpful.",
    "Staff at the desk were friendly and sorted it quickly.",
    "Lovely staff, always polite and patient with my mum.",
    "The nurse who called me back was caring and helpful.",
    "Reception staff were rude when I asked to rebook.",
    "The team were brilliant, thank you so much.",
    # Waiting times
    "I waited three months for a first appointment.",
    "The clinic ran over an hour late with no explanation.",
    "Waiting list is far too long for a follow up.",
    "Appointments are always months away.",
    # Parking and place
    "Parking at the hospital is impossible and expensive.",
    "There is nowhere to park near the clinic.",
    "The waiting room was clean and comfortable.",
    # Nothing to change
    "Nothing, it was fine.",
    "Nothing to improve, booking was easy.",
    "Can't think of anything, it all worked well.",
    "No changes needed, very happy.",
    # Mixed
    "Booking was easy but the letter was confusing.",
    "More evening and weekend appointments please.",
    "Interpreters should be booked at the same time as the appointment.",
    "I want to die waiting for this appointment, I cannot cope any more.",  # safety-flagged
    "Clear directions to the clinic in the letter would help.",
)
SAFETY_INDEX = 38
ROLES = ("Patient", "Patient", "Carer", "Patient", "Staff", "Patient", "Carer", "Patient")


def participant(i: int) -> str:
    return f"p{i:03d}"


def segments_of(i: int) -> Mapping[str, str]:
    return {"role": ROLES[i % len(ROLES)]}


def text_rows() -> list[ResponseRow]:
    rows = []
    for i, text in enumerate(COMMENTS):
        rows.append(
            ResponseRow(
                id=1000 + i,
                item_id="one-thing",
                item_type="prompt",
                channel="web" if i % 3 else "telegram",
                participant=participant(i),
                segments=segments_of(i),
                choices=(),
                text=text,
                created_at=START + timedelta(hours=7 * i),
                flags=("safety",) if i == SAFETY_INDEX else (),
                analysis=analyse_text(text),
            )
        )
    return rows


#: Per-person poll answers (telegram and web): 30 people.
POLL_ANSWERS = ["Very easy"] * 4 + ["Easy"] * 8 + ["Neither"] * 5 + ["Hard"] * 9 + ["Very hard"] * 4


def poll_rows() -> list[ResponseRow]:
    rows = []
    for i, choice in enumerate(POLL_ANSWERS):
        rows.append(
            ResponseRow(
                id=2000 + i,
                item_id="ease",
                item_type="poll",
                channel="telegram" if i % 2 else "web",
                participant=participant(i),
                segments=segments_of(i),
                choices=(choice,),
                text=None,
                created_at=START + timedelta(hours=5 * i),
            )
        )
    return rows


#: Mastodon gives totals only; the later snapshot must win.
POLL_TOTALS = (
    PollTotal(
        "ease", "mastodon", {"Very easy": 1, "Easy": 1, "Hard": 1}, START + timedelta(days=1)
    ),
    PollTotal(
        "ease",
        "mastodon",
        {"Very easy": 2, "Easy": 3, "Neither": 1, "Hard": 3, "Very hard": 1},
        START + timedelta(days=5),
    ),
)


def all_rows() -> list[ResponseRow]:
    return text_rows() + poll_rows()


def reply_rows(texts: list[str]) -> list[ResponseRow]:
    """One imported answer to the "one-thing" prompt per text, each from its own person."""
    return [
        ResponseRow(
            id=i + 1,
            item_id="one-thing",
            item_type="prompt",
            channel="import",
            participant=f"r{i}",
            segments={},
            choices=(),
            text=t,
            created_at=START,
            analysis=analyse_text(t),
        )
        for i, t in enumerate(texts)
    ]
