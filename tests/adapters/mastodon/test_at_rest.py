"""No platform id at rest (CONTRACT.md): a consultation on every channel, then every column.

Web; Telegram in a private chat and in a group; Mastodon as a public reply and as direct
messages. Afterwards every column of every table, on SQLite and PostgreSQL, is searched
for the platform ids that took part: user and chat ids, account names and ids, the ids of
direct messages, the web cookie. After ``participant erase`` none of that person's words
are left anywhere either.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from channels.adapter import ChannelAdapter
from storage import queries
from storage.tables import Base, Response
from tests.adapters.mastodon.conftest import World
from tests.adapters.telegram.conftest import make_adapter as telegram_adapter
from tests.fakes.telegram_api import FakeTelegram
from tests.helpers import form_fields, spec_data
from tests.waiting import wait_until

Client = TestClient[Any, Any]

PRIVATE_USER, GROUP_USER, GROUP = 5550001234, 5550004321, -1005550009876
PUBLIC_ACCOUNT, DIRECT_ACCOUNT = "zqpublicperson", "zqdirectperson"
CRISIS_ACCOUNT = "zqpubliccrisis"
ALICE_WORDS = "Evening clinics would help me most of all"


async def _dump(world: World, *, leave_out: tuple[str, ...] = ()) -> list[str]:
    """Every value of every column of every table (but those named), as text."""
    values: list[str] = []
    async with world.platform.sessionmaker() as session:
        for table in Base.metadata.sorted_tables:
            if table.name in leave_out:
                continue
            for row in (await session.execute(select(table))).all():
                for value in row:
                    if isinstance(value, dict | list):
                        values.append(json.dumps(value, ensure_ascii=False))
                    elif value is not None:
                        values.append(str(value))
    return values


async def _web(client: Client) -> str:
    page = await (await client.get("/c/outpatient-booking")).text()
    for action, data in (
        ("/c/outpatient-booking/consent", {"answer": "yes"}),
        ("/c/outpatient-booking/answers", {"segment:role": "Patient"}),
        ("/c/outpatient-booking/threads/reminder", {"text": "Web thread post"}),
    ):
        fields = form_fields(page, action)
        page = await (await client.post(action, data={**fields, **data})).text()
    cookie = next(c for c in client.session.cookie_jar if c.key == "engage_p")
    return cookie.value


async def test_no_platform_id_is_stored_and_erasure_leaves_no_words(
    world: World, web_client: Client
) -> None:
    data = spec_data(channels=["web", "telegram", "mastodon"], telegram={"chats": [GROUP]})
    async with FakeTelegram(token="123456:TEST-TOKEN") as fake:
        telegram = telegram_adapter(fake, world.platform)
        spec = await world.launch(data)
        group = fake.group(GROUP, "Clinic group", supergroup=True)
        posts = await telegram.publish(spec)
        async with world.platform.sessionmaker.begin() as session:
            for post in posts:
                session.add(
                    queries.new_publication(
                        world.platform.keyring,
                        consultation_id=spec.id,
                        item_id=post.item_id,
                        channel="telegram",
                        platform_ref=post.platform_ref,
                        kind=post.kind,
                    )
                )
        extra: dict[str, ChannelAdapter] = {"telegram": telegram}
        await world.start(extra=extra)
        cookie = await _web(web_client)

        # Telegram, private chat: through consent to the prompt.
        alice = fake.user(PRIVATE_USER, "Alice")
        fake.send_command(alice, "/start", "outpatient-booking")
        sent = await fake.wait_for_sent(1, chat=alice)
        fake.press_button(alice, sent[0], sent[0].callback_data[0])  # agree
        sent = await fake.wait_for_sent(2, chat=alice)
        fake.press_button(alice, sent[1], sent[1].callback_data[1])  # no re-contact
        sent = await fake.wait_for_sent(3, chat=alice)
        fake.press_button(alice, sent[2], sent[2].callback_data[0])  # Patient
        sent = await fake.wait_for_sent(4, chat=alice)
        fake.vote(alice, sent[3], [0])
        await fake.wait_for_sent(5, chat=alice)
        fake.send_text(alice, ALICE_WORDS)

        # Telegram, group: a reply to the thread post.
        bob = fake.user(GROUP_USER, "Bob")
        thread_post = fake.messages_to(group)[-1]
        fake.reply(bob, thread_post, "Group reply about reminders")

        # Mastodon: a public reply, and a conversation by direct message.
        server = world.server
        prompt = await world.post_of("one-thing")
        await world.act(server.reply, PUBLIC_ACCOUNT, prompt, "Public reply on Mastodon")
        # A disclosure in public: the safety message goes privately, in answer to it.
        crisis = await world.act(
            server.reply, CRISIS_ACCOUNT, prompt, "I have decided to end my life tonight"
        )
        hello = await world.act(server.dm, DIRECT_ACCOUNT, "start outpatient-booking")
        consent = (await world.received(DIRECT_ACCOUNT, 1))[-1]
        answer = await world.act(server.dm, DIRECT_ACCOUNT, "1", in_reply_to_id=consent["id"])

        async def everyone() -> bool:
            rows = await world.rows(Response)
            texts = {r.text for r in rows}
            return {
                ALICE_WORDS,
                "Group reply about reminders",
                "Public reply on Mastodon",
                "Web thread post",
            } <= texts and len(await world.received(DIRECT_ACCOUNT, 2)) >= 2

        async def signposted() -> bool:
            return len(await world.received(CRISIS_ACCOUNT, 1)) >= 1

        await wait_until(everyone, what="answers from every channel")
        await wait_until(signposted, what="the safety message to the public disclosure")
        needles = {
            str(PRIVATE_USER),
            str(GROUP_USER),
            str(GROUP),
            PUBLIC_ACCOUNT,
            DIRECT_ACCOUNT,
            str(hello["id"]),
            str(answer["id"]),
            # The status a safety message answered: public, it names its account.
            str(crisis["id"]),
            CRISIS_ACCOUNT,
            cookie,
        }
        for account in (PUBLIC_ACCOUNT, DIRECT_ACCOUNT, CRISIS_ACCOUNT):
            account_id = server.account_id(account)
            if len(str(account_id)) >= 6:  # shorter ids would match unrelated numbers
                needles.add(str(account_id))

        stored = await _dump(world)
        found = sorted({n for n in needles for value in stored if n in value})
        # The group's id is the service's own configuration (the spec's telegram.chats),
        # kept with the consultation; nowhere else.
        assert found == [str(GROUP)]
        elsewhere = await _dump(world, leave_out=("consultation",))
        assert not [value for value in elsewhere if str(GROUP) in value]

        # Erasure: nothing of Alice's words is left in any table.
        async with world.platform.sessionmaker.begin() as session:
            person = await queries.find_participant(
                session,
                "telegram",
                world.platform.keyring.pseudonym("telegram", str(PRIVATE_USER)),
            )
            assert person is not None
            await queries.erase_participant(session, person.id)
        await world.stop()
    assert not [value for value in await _dump(world) if ALICE_WORDS in value]
