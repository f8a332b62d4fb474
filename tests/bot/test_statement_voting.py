"""Statement voting through the runtime, with the in-memory channel (Mastodon-like text)."""

from __future__ import annotations

from sqlalchemy import select

from bot.platform import Platform
from channels.events import CONSENT, EventKind, OutboundMessage
from storage import queries
from storage.tables import ModerationCase, Response, Statement
from tests.bot.test_runtime import deliver, send_all
from tests.fakes.channel import FakeChannel, Person
from tests.helpers import launch, statements_spec


async def consented(platform: Platform, channel: FakeChannel, person: Person) -> OutboundMessage:
    """Start, agree, and return the first statement the person is asked about."""
    await deliver(platform, person.starts("new-clinic"))
    await deliver(platform, person.answers(CONSENT, "Yes, I agree"))
    await send_all(platform, channel)
    return channel.sent[-1][1]


async def statements(platform: Platform) -> list[Statement]:
    async with platform.sessionmaker() as session:
        return list((await session.scalars(select(Statement).order_by(Statement.id))).all())


async def test_votes_one_statement_at_a_time_then_an_invitation_to_add(platform: Platform) -> None:
    await launch(platform, statements_spec())
    channel = FakeChannel()
    ann = Person("2001")
    first = await consented(platform, channel, ann)
    assert first.question_type == "vote"
    assert first.options == ("Agree", "Disagree", "Pass")
    assert "What should the new clinic do differently?" in first.text
    seen = []
    for word in ("agree", "DISAGREE", "3"):
        asked = channel.sent[-1][1]
        assert asked.question is not None and asked.question.startswith("ideas#")
        seen.append(asked.question)
        await deliver(platform, ann.says(word))
        await send_all(platform, channel)
    assert len(set(seen)) == 3  # never the same statement twice
    last = channel.sent[-1][1]
    assert last.question == "ideas#add"
    assert "send DONE" in last.text

    async with platform.sessionmaker() as session:
        votes = (await session.scalars(select(Response).where(Response.item_type == "vote"))).all()
    assert sorted(v.choices[0] for v in votes) == ["agree", "disagree", "pass"]
    assert {v.in_reply_to for v in votes} == {
        f"statement:{s.id}" for s in await statements(platform)
    }
    counts = {s.id: (s.agrees, s.disagrees, s.passes) for s in await statements(platform)}
    assert sorted(counts.values()) == [(0, 0, 1), (0, 1, 0), (1, 0, 0)]

    await deliver(platform, ann.says("Done"))
    await send_all(platform, channel)
    assert channel.sent[-1][1].text == "Thank you for your ideas."


async def test_a_vote_changed_keeps_one_vote_and_true_counts(platform: Platform) -> None:
    await launch(platform, statements_spec())
    channel = FakeChannel()
    ann = Person("2002")
    first = await consented(platform, channel, ann)
    assert first.question is not None
    await deliver(platform, ann.answers(first.question, "Agree"))
    await deliver(platform, ann.answers(first.question, "Disagree"))
    async with platform.sessionmaker() as session:
        votes = (await session.scalars(select(Response).where(Response.item_type == "vote"))).all()
        sid = int(first.question.split("#")[1])
        statement = await session.get(Statement, sid)
    assert [v.choices for v in votes] == [["disagree"]]
    assert statement is not None
    assert (statement.agrees, statement.disagrees, statement.passes) == (0, 1, 0)


async def test_an_erased_persons_votes_leave_the_counts(platform: Platform) -> None:
    await launch(platform, statements_spec())
    channel = FakeChannel()
    ann, bob = Person("2010"), Person("2011")
    for person, words in ((ann, ("agree", "disagree", "pass")), (bob, ("agree", "agree"))):
        await consented(platform, channel, person)
        for word in words:
            await deliver(platform, person.says(word))
            await send_all(platform, channel)
    before = {s.id: (s.agrees, s.disagrees, s.passes) for s in await statements(platform)}
    assert sum(sum(c) for c in before.values()) == 5
    async with platform.sessionmaker.begin() as session:
        pid = await session.scalar(
            select(Response.participant_id)
            .where(Response.item_type == "vote", Response.choices.is_not(None))
            .order_by(Response.id)
        )
        assert pid is not None
        await queries.erase_participant(session, pid)
    async with platform.sessionmaker() as session:
        left = (await session.execute(select(Response.in_reply_to, Response.choices))).all()
    expected = {s.id: [0, 0, 0] for s in await statements(platform)}
    column = {"agree": 0, "disagree": 1, "pass": 2}
    for ref, choices in left:
        if ref is not None and ref.startswith("statement:"):
            expected[int(ref.split(":")[1])][column[choices[0]]] += 1
    after = {s.id: (s.agrees, s.disagrees, s.passes) for s in await statements(platform)}
    assert after == {sid: tuple(counts) for sid, counts in expected.items()}
    assert sum(sum(c) for c in after.values()) == 2  # Bob's two agrees, Ann's three gone


async def test_own_statement_is_shown_to_others_but_never_to_its_author(
    platform: Platform,
) -> None:
    await launch(platform, statements_spec(seed=()))
    channel = FakeChannel()
    ann, ben = Person("2003"), Person("2004")
    first = await consented(platform, channel, ann)
    assert first.question == "ideas#add"
    assert "no statements to vote on yet" in first.text
    await deliver(platform, ann.says("Have a quiet room for children, call me on 0412 345 678"))
    await send_all(platform, channel)
    said = [m.text for _, m in channel.sent[-2:]]
    assert said[0] == "Thank you: your statement is now shown to others to vote on."
    assert channel.sent[-1][1].question == "ideas#add"  # nothing of others' to vote on
    (added,) = await statements(platform)
    assert added.status == "shown" and "0412" not in added.text  # redacted

    to_ben = await consented(platform, channel, ben)
    assert to_ben.question == f"ideas#{added.id}"
    assert added.text in to_ben.text


async def test_a_near_repeat_is_refused_with_a_pointer_and_offered_for_a_vote(
    platform: Platform,
) -> None:
    await launch(platform, statements_spec())
    channel = FakeChannel()
    ann = Person("2005")
    await consented(platform, channel, ann)
    await deliver(platform, ann.says("open on saturday morning!"))
    await send_all(platform, channel)
    pointer, nxt = channel.sent[-2][1], channel.sent[-1][1]
    assert pointer.text.startswith("Someone has already said something very like this")
    assert "“Open on Saturday mornings”" in pointer.text
    saturday = next(s for s in await statements(platform) if s.text.startswith("Open on"))
    assert nxt.question == f"ideas#{saturday.id}"
    assert len(await statements(platform)) == 3  # nothing added


async def test_a_spanish_idea_sharing_only_small_words_is_not_a_repeat(
    platform: Platform,
) -> None:
    data = statements_spec(seed=("Que haya más médicos en el turno de la noche",))
    data["language"] = "es"
    await launch(platform, data)
    channel = FakeChannel()
    ann = Person("2015")
    await consented(platform, channel, ann)
    await deliver(platform, ann.says("Que haya más enfermeras en el turno de la noche"))
    await send_all(platform, channel)
    assert any(
        m.text == "Gracias. Otras personas ya pueden votar su frase." for _, m in channel.sent
    )
    assert [s.text for s in await statements(platform)][-1] == (
        "Que haya más enfermeras en el turno de la noche"
    )
    await deliver(platform, ann.says("que haya mas medicos en los turnos de noche"))
    await send_all(platform, channel)
    assert channel.sent[-2][1].text.startswith("Alguien ya dijo algo muy parecido")
    assert len(await statements(platform)) == 2


async def test_pre_moderation_queues_a_statement_until_approved(platform: Platform) -> None:
    await launch(platform, statements_spec(moderation="pre"))
    channel = FakeChannel()
    ann, ben = Person("2006"), Person("2007")
    await consented(platform, channel, ann)
    await deliver(platform, ann.says("Have a water fountain in the waiting room"))
    await send_all(platform, channel)
    assert any("once a moderator has read it" in m.text for _, m in channel.sent)
    added = (await statements(platform))[-1]
    assert added.status == "pending"
    async with platform.sessionmaker() as session:
        case = await session.scalar(select(ModerationCase))
    assert case is not None and case.reason == "statement" and case.due_at is None

    # Ben votes on every seed and is then asked to add: the pending one is never shown.
    await consented(platform, channel, ben)
    for _ in range(3):
        await deliver(platform, ben.says("pass"))
    await send_all(platform, channel)
    to_ben = [m for address, m in channel.sent if address == {"chat": "2007"}]
    assert all("water fountain" not in m.text for m in to_ben)
    assert to_ben[-1].question == "ideas#add"


async def test_a_flagged_statement_is_withheld_with_a_case_and_the_safety_reply(
    platform: Platform,
) -> None:
    await launch(platform, statements_spec())
    channel = FakeChannel()
    ann, ben = Person("2008"), Person("2009")
    await consented(platform, channel, ann)
    await deliver(platform, ann.says("I want to kill myself, nobody at the clinic listens"))
    await send_all(platform, channel)
    assert channel.sent[-1][1].kind == "safety"
    added = (await statements(platform))[-1]
    assert added.status == "withheld"
    async with platform.sessionmaker() as session:
        case = await session.scalar(select(ModerationCase))
    assert case is not None and case.reason == "safety"
    await consented(platform, channel, ben)
    for _ in range(3):
        await deliver(platform, ben.says("agree"))
    await send_all(platform, channel)
    assert all("kill" not in m.text for address, m in channel.sent if address == {"chat": "2009"})


async def test_stop_while_voting_ends_it(platform: Platform) -> None:
    await launch(platform, statements_spec())
    channel = FakeChannel()
    ann = Person("2010")
    await consented(platform, channel, ann)
    await deliver(platform, ann.says("STOP"))
    await deliver(platform, ann.says("agree"))
    await send_all(platform, channel)
    assert channel.sent[-1][1].text.startswith("You have left all our consultations")
    async with platform.sessionmaker() as session:
        votes = (await session.scalars(select(Response).where(Response.item_type == "vote"))).all()
    assert votes == []


async def test_erasure_removes_a_persons_statements_and_votes(platform: Platform) -> None:
    await launch(platform, statements_spec())
    channel = FakeChannel()
    ann = Person("2011")
    await consented(platform, channel, ann)
    await deliver(platform, ann.says("agree"))
    await deliver(platform, ann.says("Have a quiet room for children"))
    assert len(await statements(platform)) == 4
    await deliver(platform, ann.event(EventKind.ERASE))
    assert [s.seed for s in await statements(platform)] == [True, True, True]
    async with platform.sessionmaker() as session:
        left = (await session.scalars(select(Response))).all()
    assert left == []


async def test_a_public_reply_to_the_statements_post_is_an_added_statement(
    platform: Platform,
) -> None:
    await launch(platform, statements_spec(moderation="pre"))
    channel = FakeChannel()
    carl = Person("2012")
    await deliver(
        platform,
        carl.says(
            "Longer opening hours on Thursdays",
            consultation_id="new-clinic",
            item_id="ideas",
            public=True,
            platform_ref="chat:-100:msg:7",
        ),
    )
    await send_all(platform, channel)
    added = (await statements(platform))[-1]
    assert (added.text, added.status) == ("Longer opening hours on Thursdays", "pending")
    assert channel.sent == []  # nothing said in public about it


async def test_erasing_a_statements_author_takes_everyones_votes_on_it_too(
    platform: Platform,
) -> None:
    """Her statement goes with her words; Ben's vote on it would otherwise name a statement
    that no longer exists (the export and the report then counted different votes). His
    votes on the seeds stay."""
    await launch(platform, statements_spec(seed=("Open on Saturdays",)))
    channel = FakeChannel()
    ann, ben = Person("2020"), Person("2021")
    await consented(platform, channel, ann)
    await deliver(platform, ann.says("agree"))
    await deliver(platform, ann.says("Have a quiet room for children"))
    await send_all(platform, channel)
    seed, added = await statements(platform)
    await consented(platform, channel, ben)
    for _ in range(2):
        await deliver(platform, ben.says("agree"))
        await send_all(platform, channel)
    async with platform.sessionmaker() as session:
        voted = set(
            await session.scalars(select(Response.in_reply_to).where(Response.item_type == "vote"))
        )
    assert f"statement:{added.id}" in voted and f"statement:{seed.id}" in voted
    await deliver(platform, ann.event(EventKind.ERASE))
    async with platform.sessionmaker() as session:
        votes = list(
            await session.execute(
                select(Response.in_reply_to, Response.participant_id).where(
                    Response.item_type == "vote"
                )
            )
        )
    assert [s.id for s in await statements(platform)] == [seed.id]
    assert [ref for ref, _ in votes] == [f"statement:{seed.id}"]  # Ben's vote on the seed
