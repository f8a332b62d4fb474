"""Follow-ups end to end: who is invited, on which channel, once; and the reach it had.

People take part in a consultation on Telegram (private chat), Mastodon (direct
messages) and the web page, each saying yes or no to being contacted again; some then
say STOP or have their answers erased. Launching a follow-up invites exactly those who
agreed and are still here, on their own channel, and never twice.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient

from adapters.web import WebAdapter
from bot import followups, publishing
from consultations import service
from consultations.spec import parse_spec
from storage import queries
from storage.tables import Invitation, OutboxEntry, Publication
from tests.adapters.mastodon.conftest import World
from tests.adapters.telegram.conftest import make_adapter as telegram_adapter
from tests.fakes.telegram_api import FakeTelegram
from tests.helpers import form_fields, launch, spec_data
from tests.waiting import wait_until

Client = TestClient[Any, Any]

EARLIER = spec_data(
    segments=[],
    items=[{"id": "one-thing", "type": "prompt", "text": "What one thing would help?"}],
)
LOOP: dict[str, Any] = {
    "id": "booking-loop",
    "title": "What we changed in booking",
    "organisation": "Example Health Service",
    "model": "closing-the-loop",
    "qi": {"project": "Outpatient booking redesign", "stage": "act", "cycle": 1},
    "channels": ["web", "telegram", "mastodon"],
    "consent": {"text": "Tell us what you think of the change. Reply STOP to leave."},
    "items": [
        {
            "id": "reaction",
            "type": "poll",
            # As draft-loop writes it: what people said, what changed, then the question.
            "text": (
                "You said: reminders came too late. We did: a text two days before. "
                "How do you feel about this change?"
            ),
            "options": ["Yes", "Somewhat", "No"],
        }
    ],
    "follow_up": {"of": ["outpatient-booking"], "invite": "recontact"},
    # The test runs at any hour: no quiet hours here (they have tests of their own).
    "quiet_hours": {"start": "00:00", "end": "00:00"},
}


async def _telegram_person(fake: FakeTelegram, uid: int, name: str, recontact: bool) -> Any:
    person = fake.user(uid, name)
    fake.send_command(person, "/start", "outpatient-booking")
    consent = (await fake.wait_for_sent(1, chat=person))[0]
    fake.press_button(person, consent, consent.callback_data[0])  # agree
    asked = (await fake.wait_for_sent(2, chat=person))[1]
    assert "contact you again" in (asked.text or "")
    fake.press_button(person, asked, asked.callback_data[0 if recontact else 1])
    prompt = (await fake.wait_for_sent(3, chat=person))[2]
    fake.reply(person, prompt, f"Shorter queues, says {name}")
    await fake.wait_for_sent(4, chat=person)  # thanks
    return person


async def _web_person(client: Client) -> None:
    page = await (await client.get("/c/outpatient-booking")).text()
    assert "May we contact you again" in page  # the page asks it too now
    fields = form_fields(page, "/c/outpatient-booking/consent")
    page = await (
        await client.post(
            "/c/outpatient-booking/consent", data={**fields, "answer": "yes", "recontact": "yes"}
        )
    ).text()
    fields = form_fields(page, "/c/outpatient-booking/answers")
    await client.post(
        "/c/outpatient-booking/answers", data={**fields, "item:one-thing": "Text reminders"}
    )


async def test_a_follow_up_invites_who_agreed_on_their_own_channel_once(
    world: World, web_client: Client
) -> None:
    platform = world.platform
    async with FakeTelegram(token="123456:TEST-TOKEN") as fake:
        telegram = telegram_adapter(fake, platform)
        await world.launch(EARLIER)
        await world.start(extra={"telegram": telegram, "web": WebAdapter()})

        alice = await _telegram_person(fake, 2001, "Alice", recontact=True)
        await _telegram_person(fake, 2002, "Bob", recontact=False)  # declined
        carol = await _telegram_person(fake, 2003, "Carol", recontact=True)
        fake.send_text(carol, "STOP")  # left afterwards
        await fake.wait_for_sent(5, chat=carol)
        erin = await _telegram_person(fake, 2004, "Erin", recontact=True)
        fake.send_command(erin, "/delete")
        confirm = (await fake.wait_for_sent(5, chat=erin))[4]
        fake.press_button(erin, confirm, confirm.callback_data[0])  # erase everything
        await fake.wait_for_sent(6, chat=erin)

        # Mastodon, by direct message: Dave agrees to be contacted again.
        server = world.server
        await world.act(server.dm, "dave", "start outpatient-booking")
        for count, reply in ((1, "1"), (2, "1"), (3, "Fewer phone calls")):
            got = await world.received("dave", count)
            await world.act(server.dm, "dave", reply, in_reply_to_id=got[-1]["id"])
        await world.received("dave", 4)

        await _web_person(web_client)

        # The follow-up: stored, then launched as the CLI and dashboard do.
        spec = await _store(platform, LOOP)
        launched = await publishing.launch(
            platform.sessionmaker,
            platform.adapters,
            spec,
            list(spec.channels),
            keys=platform.keyring,
        )
        assert launched.invited == {"web": 1, "telegram": 1, "mastodon": 1}

        # In public, the follow-up is posted in the earlier consultation's thread, under
        # its last post, where the people who replied there will see it.
        earlier_end = await world.post_of("one-thing")
        (intro_row,) = await world.rows(
            Publication,
            Publication.consultation_id == "booking-loop",
            Publication.channel == "mastodon",
            Publication.kind == "intro",
        )
        intro_ref = queries.publication_ref(platform.keyring, intro_row)
        intro = await asyncio.to_thread(world.server.bot().status, intro_ref)
        assert str(intro["in_reply_to_id"]) == earlier_end
        assert intro["visibility"] == "public"
        assert "What we changed in booking" in intro["content"]

        # Telegram: Alice gets the invitation privately, with a button that starts it.
        invitation = (await fake.wait_for_sent(5, chat=alice))[4]
        assert "said we could contact you again" in (invitation.text or "")
        assert "What we changed in booking" in (invitation.text or "")
        # "You said, we did" in the invitation itself, on each person's own channel.
        assert (invitation.text or "").startswith(
            "You said: reminders came too late. We did: a text two days before.\n\n"
        )
        fake.press_button(alice, invitation, invitation.callback_data[0])
        consent = (await fake.wait_for_sent(6, chat=alice))[5]
        assert "Tell us what you think of the change" in (consent.text or "")
        fake.press_button(alice, consent, consent.callback_data[0])
        poll = (await fake.wait_for_sent(7, chat=alice))[6]
        assert poll.poll is not None
        fake.vote(alice, poll, [0])

        # Mastodon: Dave gets a direct message.
        dm = (await world.received("dave", 5))[4]
        assert dm["visibility"] == "direct"
        assert "said we could contact you again" in dm["content"]
        assert "We did: a text two days before." in dm["content"]
        await world.act(server.dm, "dave", "1", in_reply_to_id=dm["id"])  # takes part
        consent = (await world.received("dave", 6))[5]
        assert "Tell us what you think of the change" in consent["content"]

        # Nobody else: Bob declined, Carol left, Erin was erased.
        await asyncio.sleep(0.3)
        assert len(fake.messages_to(2002)) == 4
        assert len(fake.messages_to(2003)) == 5
        assert len(fake.messages_to(2004)) == 6

        # The web: the earlier page shows the invitation when the person comes back.
        page = await (await web_client.get("/c/outpatient-booking")).text()
        assert 'href="/c/booking-loop"' in page
        assert "would like to hear from you about: What we changed in booking" in page

        # Never twice: launching again invites nobody.
        again = await publishing.launch(
            platform.sessionmaker,
            platform.adapters,
            spec,
            list(spec.channels),
            keys=platform.keyring,
        )
        assert again.invited == {"web": 0, "telegram": 0, "mastodon": 0}
        assert await world.count(Invitation) == 3
        assert await world.count(OutboxEntry, OutboxEntry.idempotency_key.like("invite:%")) == 2

        async def answered() -> bool:
            async with platform.sessionmaker() as session:
                rows = await followups.reach(session, "booking-loop")
            return {r.channel: r.answered for r in rows}.get("telegram") == 1

        await wait_until(answered, what="Alice's reaction")
        async with platform.sessionmaker() as session:
            reach = {r.channel: r.to_json() for r in await followups.reach(session, spec.id)}
        await world.stop()

    assert reach["telegram"] == {"channel": "telegram", "invited": 1, "delivered": 1, "answered": 1}
    assert reach["mastodon"]["invited"] == 1 and reach["mastodon"]["delivered"] == 1
    assert reach["web"] == {"channel": "web", "invited": 1, "delivered": 1, "answered": 0}


async def _store(platform: Any, data: dict[str, Any]) -> Any:
    spec = parse_spec(data)
    async with platform.sessionmaker.begin() as session:
        await service.create(session, spec, source="test")
    return spec


async def test_a_follow_up_of_a_consultation_nobody_agreed_in_invites_nobody(
    platform: Any,
) -> None:
    await launch(platform, EARLIER)
    spec = await _store(platform, LOOP)
    async with platform.sessionmaker.begin() as session:
        counts = await followups.invite(session, platform.keyring, spec)
    assert counts == {"web": 0, "telegram": 0, "mastodon": 0}


async def test_nobody_is_invited_while_their_disclosure_waits_for_a_moderator(
    platform: Any, web_client: Client
) -> None:
    """The first contact after a disclosure is a person's: the invitation waits until a
    moderator has resolved the case, and launching again then sends it."""
    from consultations import moderation

    await launch(platform, EARLIER)
    spec = await _store(platform, LOOP)
    await _web_person(web_client)
    web_client.session.cookie_jar.clear()
    await _web_person(web_client)
    # The second person goes back and tells us more than we asked.
    page = await (await web_client.get("/c/outpatient-booking")).text()
    fields = form_fields(page, "/c/outpatient-booking/answers")
    await web_client.post(
        "/c/outpatient-booking/answers",
        data={**fields, "item:one-thing": "I have decided to end my life after the next visit"},
    )
    async with platform.sessionmaker() as session:
        [case] = await moderation.open_cases(session, "outpatient-booking")
    async with platform.sessionmaker.begin() as session:
        assert await followups.invite(session, platform.keyring, spec, channels=["web"]) == {
            "web": 1
        }
    async with platform.sessionmaker.begin() as session:
        await moderation.acknowledge(session, case.id, "moderator@example.org")
    async with platform.sessionmaker.begin() as session:
        # Acknowledged is not resolved: still nobody new.
        assert await followups.invite(session, platform.keyring, spec, channels=["web"]) == {
            "web": 0
        }
    async with platform.sessionmaker.begin() as session:
        await moderation.resolve(session, case.id, "moderator@example.org", "Called; safe")
    async with platform.sessionmaker.begin() as session:
        assert await followups.invite(session, platform.keyring, spec, channels=["web"]) == {
            "web": 1
        }


async def _web_answer(client: Client, cid: str, recontact: str) -> None:
    page = await (await client.get(f"/c/{cid}")).text()
    fields = form_fields(page, f"/c/{cid}/consent")
    page = await (
        await client.post(
            f"/c/{cid}/consent", data={**fields, "answer": "yes", "recontact": recontact}
        )
    ).text()
    fields = form_fields(page, f"/c/{cid}/answers")
    await client.post(f"/c/{cid}/answers", data={**fields, "item:one-thing": "Text reminders"})


async def test_a_follow_up_of_two_is_shown_on_either_earlier_page_and_invites_once(
    platform: Any, web_client: Client
) -> None:
    """Someone who took part in both consultations a follow-up names is invited once,
    and whichever of the two pages they come back to shows the invitation; a page the
    follow-up does not name does not."""
    await launch(platform, EARLIER)
    await launch(platform, {**EARLIER, "id": "second-survey"})
    await launch(platform, {**EARLIER, "id": "unrelated"})
    for cid in ("outpatient-booking", "second-survey", "unrelated"):
        await _web_answer(web_client, cid, "yes")
    data = {**LOOP, "follow_up": {"of": ["outpatient-booking", "second-survey"]}}
    spec = await _store(platform, data)
    async with platform.sessionmaker.begin() as session:
        await service.open_(session, spec.id)
        assert await followups.invite(session, platform.keyring, spec, channels=["web"]) == {
            "web": 1
        }
    for cid, shown in (("second-survey", True), ("outpatient-booking", True), ("unrelated", False)):
        page = await (await web_client.get(f"/c/{cid}")).text()
        assert ('href="/c/booking-loop"' in page) is shown, cid


async def test_someone_in_both_consultations_a_follow_up_names_gets_one_telegram_invitation(
    world: World,
) -> None:
    """Alice takes part in both earlier consultations on Telegram and agrees in both; the
    follow-up of the two sends her one invitation, privately, naming the first; Bob, who
    agreed in one and declined in the other, gets none."""
    platform = world.platform
    second = {**EARLIER, "id": "second-survey", "title": "Second survey"}
    async with FakeTelegram(token="123456:TEST-TOKEN") as fake:
        telegram = telegram_adapter(fake, platform)
        await world.launch(EARLIER)
        await world.launch(second)
        await world.start(extra={"telegram": telegram})
        alice = await _telegram_person(fake, 2001, "Alice", recontact=True)
        bob = await _telegram_person(fake, 2002, "Bob", recontact=True)
        for person, agrees, sent in ((alice, True, 4), (bob, False, 4)):
            fake.send_command(person, "/start", "second-survey")
            consent = (await fake.wait_for_sent(sent + 1, chat=person))[sent]
            fake.press_button(person, consent, consent.callback_data[0])
            asked = (await fake.wait_for_sent(sent + 2, chat=person))[sent + 1]
            fake.press_button(person, asked, asked.callback_data[0 if agrees else 1])
            prompt = (await fake.wait_for_sent(sent + 3, chat=person))[sent + 2]
            fake.reply(person, prompt, "Evening hours")
            await fake.wait_for_sent(sent + 4, chat=person)
        data = {
            **LOOP,
            "channels": ["telegram"],
            "follow_up": {"of": ["outpatient-booking", "second-survey"]},
        }
        spec = await _store(platform, data)
        launched = await publishing.launch(
            platform.sessionmaker, platform.adapters, spec, ["telegram"], keys=platform.keyring
        )
        assert launched.invited == {"telegram": 1}
        invitation = (await fake.wait_for_sent(9, chat=alice))[8]
        assert "said we could contact you again" in (invitation.text or "")
        assert "Improving outpatient booking" in (invitation.text or "")
        await asyncio.sleep(0.3)
        assert len(fake.messages_to(2001)) == 9
        assert len(fake.messages_to(2002)) == 8
        await world.stop()


async def test_a_web_invitation_is_not_shown_after_the_person_leaves(
    platform: Any, web_client: Client
) -> None:
    """Invited on the web, the person says STOP on an earlier page: like a private
    channel's invitation waiting in the outbox, it is not shown after that, on that page
    or on another the follow-up names."""
    await launch(platform, EARLIER)
    await launch(platform, {**EARLIER, "id": "second-survey"})
    await _web_answer(web_client, "outpatient-booking", "yes")
    await _web_answer(web_client, "second-survey", "yes")
    spec = await _store(
        platform, {**LOOP, "follow_up": {"of": ["outpatient-booking", "second-survey"]}}
    )
    async with platform.sessionmaker.begin() as session:
        await service.open_(session, spec.id)
        assert await followups.invite(session, platform.keyring, spec, channels=["web"]) == {
            "web": 1
        }
    page = await (await web_client.get("/c/outpatient-booking")).text()
    fields = form_fields(page, "/c/outpatient-booking/stop")
    left = await web_client.post("/c/outpatient-booking/stop", data=fields)
    assert left.status == 200
    for cid in ("outpatient-booking", "second-survey"):
        page = await (await web_client.get(f"/c/{cid}")).text()
        assert 'href="/c/booking-loop"' not in page, cid


async def test_a_persons_invitations_are_in_what_is_held_about_them(
    platform: Any, web_client: Client
) -> None:
    """`engage participant export` gives everything stored about a person: the follow-ups
    they were invited to are among it (on the web, nothing else records them)."""
    from consultations import records

    await launch(platform, EARLIER)
    await _web_answer(web_client, "outpatient-booking", "yes")
    spec = await _store(platform, LOOP)
    async with platform.sessionmaker.begin() as session:
        await service.open_(session, spec.id)
        await followups.invite(session, platform.keyring, spec, channels=["web"])
    await web_client.get("/c/outpatient-booking")  # shown to them
    [token] = [c.value for c in web_client.session.cookie_jar if c.key == "engage_p"]
    async with platform.sessionmaker() as session:
        held = await records.participant_data(session, platform.keyring, "web", token)
    assert held is not None
    [invited] = held["invitations"]
    assert invited["consultation"] == "booking-loop"
    assert invited["earlier"] == "outpatient-booking"
    assert invited["channel"] == "web"
    assert invited["invited_at"] and invited["shown_at"]


async def test_a_web_invitation_declined_on_the_follow_up_is_not_shown_again(
    platform: Any, web_client: Client
) -> None:
    """Someone who follows the invitation and says "No thanks" to the follow-up's consent
    (or leaves it) is not invited again each time they come back to the earlier page."""
    await launch(platform, EARLIER)
    await _web_answer(web_client, "outpatient-booking", "yes")
    spec = await _store(platform, LOOP)
    async with platform.sessionmaker.begin() as session:
        await service.open_(session, spec.id)
        await followups.invite(session, platform.keyring, spec, channels=["web"])
    page = await (await web_client.get("/c/outpatient-booking")).text()
    assert 'href="/c/booking-loop"' in page
    page = await (await web_client.get("/c/booking-loop")).text()
    fields = form_fields(page, "/c/booking-loop/consent")
    declined = await web_client.post("/c/booking-loop/consent", data={**fields, "answer": "no"})
    assert declined.status == 200
    page = await (await web_client.get("/c/outpatient-booking")).text()
    assert 'href="/c/booking-loop"' not in page


async def test_a_web_invitation_is_not_shown_while_a_disclosure_waits_for_a_moderator(
    platform: Any, web_client: Client
) -> None:
    """As on the private channels: someone invited who then makes a safety disclosure is
    not shown the invitation until a moderator has resolved the case."""
    from consultations import moderation
    from tests.helpers import BY_PHRASE

    await launch(platform, EARLIER)
    await launch(platform, {**EARLIER, "id": "second-survey"})
    await _web_answer(web_client, "outpatient-booking", "yes")
    spec = await _store(platform, {**LOOP, "follow_up": {"of": ["outpatient-booking"]}})
    async with platform.sessionmaker.begin() as session:
        await service.open_(session, spec.id)
        await followups.invite(session, platform.keyring, spec, channels=["web"])
    page = await (await web_client.get("/c/second-survey")).text()
    fields = form_fields(page, "/c/second-survey/consent")
    page = await (
        await web_client.post("/c/second-survey/consent", data={**fields, "answer": "yes"})
    ).text()
    fields = form_fields(page, "/c/second-survey/answers")
    await web_client.post("/c/second-survey/answers", data={**fields, "item:one-thing": BY_PHRASE})
    async with platform.sessionmaker() as session:
        [case] = await moderation.open_cases(session, "second-survey")
    page = await (await web_client.get("/c/outpatient-booking")).text()
    assert 'href="/c/booking-loop"' not in page
    async with platform.sessionmaker.begin() as session:
        await moderation.resolve(session, case.id, "moderator@example.org", "Called; safe")
    page = await (await web_client.get("/c/outpatient-booking")).text()
    assert 'href="/c/booking-loop"' in page
