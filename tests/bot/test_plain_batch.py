"""The plain-row path of the web group commit stores what the ORM path stores.

The same scripted batches of web requests go through a runtime with the plain path and
one without it, for different people in one database; what each person ends with (their
answers, dialogue, consent, moderation cases) and what each request was told must match.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from bot import plain_batch
from bot.platform import Platform
from bot.runtime import Outcome, Runtime, StoredAnswer
from channels.events import CONSENT, RECONTACT, EventKind, InboundEvent
from storage.tables import Consent, Dialogue, ModerationCase, Participant, Response
from tests.helpers import launch

CID = "outpatient-booking"
DISCLOSURE = "Honestly I want to kill myself after how I was treated"
NAMES = ("ann", "ben", "cat", "dev", "eve")


def analyse(text: str) -> tuple[float | None, dict[str, Any] | None]:
    return len(text) / 100, {"words": len(text.split())}


async def _admit(session: Any, tickets: Sequence[str | None]) -> list[bool]:
    """Every ticket taken (the web channel's nonce claim, without its nonces)."""
    return [ticket is not None for ticket in tickets]


class Script:
    """Web requests of one runtime's people (their ids carry the runtime's prefix)."""

    def __init__(
        self, platform: Platform, prefix: str, *, plain: bool, tickets: bool = False
    ) -> None:
        self.platform = platform
        self.prefix = prefix
        # As the web channel batches: each request with a ticket, claimed by ``admit``.
        self.tickets = tickets
        self.runtime = Runtime(
            platform.sessionmaker,
            platform.keyring,
            inline_channels=frozenset({"web"}),
            analyse=analyse,
            plain_batch=plain_batch.handle if plain else None,
        )
        self._counter = 0

    def event(self, name: str, kind: EventKind, **values: Any) -> InboundEvent:
        self._counter += 1
        return InboundEvent(
            channel="web",
            event_id=f"{self.prefix}-{self._counter}",
            sender=f"{self.prefix}-{name}",
            kind=kind,
            consultation_id=CID,
            **values,
        )

    def consent(self, name: str, *, recontact: str | None = None) -> list[InboundEvent]:
        events = [
            self.event(name, EventKind.START),
            self.event(name, EventKind.ANSWER, item_id=CONSENT, choices=("yes",)),
        ]
        if recontact is not None:
            events.append(
                self.event(name, EventKind.ANSWER, item_id=RECONTACT, choices=(recontact,))
            )
        return events

    def answer(self, name: str, item: str, *choices: str, text: str | None = None) -> list[Any]:
        return [self.event(name, EventKind.ANSWER, item_id=item, choices=choices, text=text)]

    async def batch(self, *groups: Sequence[InboundEvent]) -> list[Outcome | Exception]:
        # As GroupCommit.submit does: texts screened and analysed ahead of the batch.
        self.runtime.prepare(e.text for g in groups for e in g if e.text)
        if self.tickets:
            self._counter += 1
            tickets = [f"{self.prefix}-{self._counter}-{n}" for n in range(len(groups))]
            return await self.runtime.handle_groups(list(groups), tickets=tickets, admit=_admit)
        return await self.runtime.handle_groups(list(groups))

    async def run(self) -> list[Any]:
        """The scripted batches; returns what each request was told."""
        said: list[Any] = []
        a = self.answer
        batches: list[list[list[InboundEvent]]] = [
            [self.consent(n, recontact="Yes" if n == "ann" else None) for n in NAMES],
            [
                a("ann", "role", "Carer"),
                a("ben", "role", "Patient"),
                a("cat", "role", "Staff"),
                a("dev", "role", "Patient"),
            ],
            [
                a("ann", "ease", "Easy"),
                a("ben", "ease", "Hard"),
                a("cat", "one-thing", text="Text me a reminder, my email is a@b.org"),
                a("dev", "ease", "Not an option"),
                a("eve", "one-thing", text="Before the segment question"),
            ],
            [
                a("ann", "one-thing", text="Evening slots"),
                a("ann", "one-thing", text="Call me back"),
                a("ben", "one-thing", text=DISCLOSURE),
                a("cat", "ease", "Hard"),
                a("cat", "ease", "Easy"),
                a("dev", "ease", "Very hard"),
                a("eve", "ease", "Neither"),
            ],
            [
                a("ann", "one-thing", text="Call me back"),
                a("ben", "one-thing", text="Evening slots"),
                a("cat", "one-thing", text="Text me a reminder, my email is a@b.org"),
                a("dev", "one-thing", text="Online booking please"),
                a("eve", "one-thing", text="Changed my mind"),
            ],
            [
                a("ann", "ease", "Very easy"),
                a("dev", "one-thing", text="Online booking, and a phone line"),
                a("dev", "ease", "Hard"),
                [self.event("eve", EventKind.STOP)],
            ],
            [a("eve", "one-thing", text="After leaving")],
        ]
        for groups in batches:
            for outcome in await self.batch(*groups):
                assert not isinstance(outcome, Exception), outcome
                said.append(
                    (
                        outcome.duplicate,
                        [(m.kind, m.question, m.text) for m in outcome.messages],
                        [(r.item_id, r.text, list(r.choices)) for r in outcome.stored],
                    )
                )
        return said

    async def stored(self, names: Sequence[str] = NAMES) -> dict[str, Any]:
        """What each person ends with, by name."""
        found: dict[str, Any] = {}
        async with self.platform.sessionmaker() as session:
            for name in names:
                pseudonym = self.platform.keyring.pseudonym("web", f"{self.prefix}-{name}")
                person = await session.scalar(
                    select(Participant).where(Participant.pseudonym == pseudonym)
                )
                assert person is not None
                responses = await session.scalars(
                    select(Response)
                    .where(Response.participant_id == person.id)
                    .order_by(Response.id)
                )
                dialogue = await session.scalar(
                    select(Dialogue).where(Dialogue.participant_id == person.id)
                )
                assert dialogue is not None
                consents = await session.scalars(
                    select(Consent)
                    .where(Consent.participant_id == person.id)
                    .order_by(Consent.purpose)
                )
                cases = await session.scalars(
                    select(ModerationCase)
                    .where(ModerationCase.participant_id == person.id)
                    .order_by(ModerationCase.id)
                )
                case_rows = await session.execute(
                    select(ModerationCase.reason, Response.text)
                    .join(Response, Response.id == ModerationCase.response_id)
                    .where(Response.participant_id == person.id)
                    .order_by(ModerationCase.id)
                )
                found[name] = {
                    "responses": [
                        (
                            r.item_id,
                            r.item_type,
                            r.text,
                            r.choices,
                            r.flags,
                            r.public,
                            r.in_reply_to,
                            r.round,
                            r.channel,
                            r.platform_ref,
                            r.sentiment,
                            r.analysis,
                        )
                        for r in responses
                    ],
                    "dialogue": (
                        dialogue.state,
                        dialogue.pending,
                        dialogue.segments,
                        dialogue.finished_items,
                    ),
                    "current": person.current_consultation_id,
                    "opted_out": person.opted_out_at is not None,
                    "consents": [
                        (c.purpose, c.given, c.method, c.withdrawn_at is None) for c in consents
                    ],
                    "cases": [(c.reason, c.categories, c.urgent) for c in cases],
                    "case_texts": [tuple(row) for row in case_rows],
                }
        return found


async def test_the_plain_path_stores_and_says_what_the_orm_path_does(platform: Platform) -> None:
    await launch(platform)
    orm = Script(platform, "orm", plain=False)
    plain = Script(platform, "plain", plain=True)

    said_orm = await orm.run()
    said_plain = await plain.run()

    assert said_plain == said_orm
    assert await plain.stored() == await orm.stored()


async def test_batches_with_tickets_store_and_say_the_same(platform: Platform) -> None:
    """As the web channel batches (tickets claimed in the transaction, the batch's
    consultations read first for it): what is stored and said is the same, with the
    plain path and without it."""
    await launch(platform)
    orm = Script(platform, "orm", plain=False)
    orm_tickets = Script(platform, "ormt", plain=False, tickets=True)
    plain_tickets = Script(platform, "plaint", plain=True, tickets=True)

    said = await orm.run()
    assert await orm_tickets.run() == said
    assert await plain_tickets.run() == said
    stored = await orm.stored()
    assert await orm_tickets.stored() == stored
    assert await plain_tickets.stored() == stored


async def test_the_plain_path_takes_the_common_answers_and_leaves_the_rest(
    platform: Platform,
) -> None:
    await launch(platform)
    script = Script(platform, "plain", plain=True)
    await script.batch(*(script.consent(n) for n in NAMES[:3]))
    await script.batch(*(script.answer(n, "role", "Carer") for n in NAMES[:3]))
    outcomes = await script.batch(
        script.answer("ann", "ease", "Easy"),
        script.answer("ben", "one-thing", text="Evening slots"),
        script.answer("cat", "one-thing", text=DISCLOSURE),
    )
    kinds = [[type(r) for r in o.stored] for o in outcomes if isinstance(o, Outcome)]
    # The poll and the plain text with plain rows; the disclosure the usual way, with
    # its case and the safety reply.
    assert kinds == [[StoredAnswer], [StoredAnswer], [Response]]
    last = outcomes[2]
    assert isinstance(last, Outcome)
    assert [m.kind for m in last.messages] == ["safety"]
    stored = await script.stored(NAMES[:3])
    assert stored["cat"]["dialogue"][0] == "held"
    assert [reason for reason, _ in stored["cat"]["case_texts"]] == ["safety"]
    assert stored["ann"]["dialogue"][1] == "one-thing"


async def test_a_group_commit_reads_a_spec_once_per_version(platform: Platform) -> None:
    """The batch's consultation read leaves the spec column out once it was parsed.

    The first read of a version takes its spec (with its created_at) and parses it; later
    reads get the same spec without the column, and a new version is read whole again.
    """

    from bot.runtime import _consultations
    from consultations import service
    from consultations.spec import parse_spec
    from tests.helpers import spec_data, statements_sent

    await launch(platform)

    def selected(sent: list[tuple[str, Any]]) -> list[str]:
        return [statement for statement, _ in sent if "FROM consultation" in statement]

    with statements_sent(platform.engine) as sent:
        service._spec_cache.clear()
        async with platform.sessionmaker() as session:
            first = (await _consultations(session, {CID}))[CID]
            spec = service.spec_of(first)
        assert any("consultation.spec" in s for s in selected(sent)), selected(sent)
        sent.clear()
        async with platform.sessionmaker() as session:
            again = (await _consultations(session, {CID}))[CID]
            assert service.spec_of(again) is spec
            assert again.spec == first.spec and again.spec["id"] == CID
        read = selected(sent)
        assert read and not any("consultation.spec" in s for s in read), read
        # A new version (a draft stored again) is read and parsed anew.
        draft = "draft-again"
        async with platform.sessionmaker.begin() as session:
            await service.create(
                session, parse_spec(spec_data(id=draft, title="First")), source="test"
            )
        async with platform.sessionmaker() as session:
            service.spec_of((await _consultations(session, {draft}))[draft])
        async with platform.sessionmaker.begin() as session:
            await service.create(
                session, parse_spec(spec_data(id=draft, title="Second")), source="test"
            )
        async with platform.sessionmaker() as session:
            row = (await _consultations(session, {draft}))[draft]
            assert service.spec_of(row).title == "Second"
