"""Statement voting in a Telegram private chat: buttons, the next statement in place."""

from __future__ import annotations

from sqlalchemy import select

from storage.tables import Response, Statement
from tests.adapters.telegram.conftest import Running
from tests.helpers import SEED, launch, statements_spec


async def test_each_vote_replaces_the_statement_with_the_next(running: Running) -> None:
    fake = running.fake
    await launch(running.platform, statements_spec())
    alice = fake.user(3001, "Alice")
    fake.send_command(alice, "/start", "new-clinic")
    consent = await running.said(alice, 1)
    fake.press_button(alice, consent, consent.callback_data[0])  # Yes, I agree

    card = await running.said(alice, 2)
    assert card.inline_keyboard is not None
    labels = [row[0].text for row in card.inline_keyboard.inline_keyboard]
    assert labels == ["Agree", "Disagree", "Pass"]
    seen = []
    for edits, press in enumerate((0, 1, 2), start=1):
        statement = next(s for s in SEED if s in (card.text or ""))
        assert statement not in seen
        seen.append(statement)
        fake.press_button(alice, card, card.callback_data[press])
        await fake.wait_for_call("editMessageText", edits)
    # Every statement arrived in the one message: nothing new was sent.
    assert len(fake.messages_to(alice)) == 2
    assert "You have voted on every statement for now" in (card.text or "")
    assert card.callback_data == []

    async with running.platform.sessionmaker() as session:
        texts = {f"statement:{s.id}": s.text for s in await session.scalars(select(Statement))}
        votes = (await session.scalars(select(Response).where(Response.item_type == "vote"))).all()
    assert sorted((texts[v.in_reply_to or ""], v.choices[0]) for v in votes) == sorted(
        zip(seen, ("agree", "disagree", "pass"), strict=True)
    )

    fake.reply(alice, card, "Have a quiet room for children")
    thanks = await running.said(alice, 3)
    assert thanks.text == "Thank you: your statement is now shown to others to vote on."
    again = await running.said(alice, 4)
    assert "send DONE" in (again.text or "")
    fake.send_text(alice, "done")
    bye = await running.said(alice, 5)
    assert bye.text == "Thank you for your ideas."

    bob = fake.user(3002, "Bob")
    fake.send_command(bob, "/start", "new-clinic")
    consent = await running.said(bob, 1)
    fake.press_button(bob, consent, consent.callback_data[0])
    card = await running.said(bob, 2)
    shown_to_bob = []
    for _ in range(4):
        shown_to_bob.append(card.text or "")
        before = len(fake.calls_to("editMessageText"))
        fake.press_button(bob, card, card.callback_data[2])  # pass
        await fake.wait_for_call("editMessageText", before + 1)
    # Alice's statement is among Bob's (she never saw her own).
    assert any("Have a quiet room for children" in text for text in shown_to_bob)
