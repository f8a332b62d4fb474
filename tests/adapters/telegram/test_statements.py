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


async def _own_statements(running: Running) -> list[str]:
    async with running.platform.sessionmaker() as session:
        rows = await session.scalars(select(Statement).where(Statement.seed.is_(False)))
        return [s.text for s in rows]


async def _votes(running: Running) -> dict[str, str]:
    """Each statement's words -> the vote on it."""
    async with running.platform.sessionmaker() as session:
        texts = {f"statement:{s.id}": s.text for s in await session.scalars(select(Statement))}
        votes = await session.scalars(select(Response).where(Response.item_type == "vote"))
        return {texts[v.in_reply_to or ""]: v.choices[0] for v in votes}


async def test_everyday_replies_at_the_add_step_are_never_statements(running: Running) -> None:
    fake = running.fake
    await launch(running.platform, statements_spec())
    alice = fake.user(3011, "Alice")
    fake.send_command(alice, "/start", "new-clinic")
    consent = await running.said(alice, 1)
    fake.press_button(alice, consent, consent.callback_data[0])
    card = await running.said(alice, 2)
    for edits in (1, 2, 3):
        last = next(s for s in SEED if s in (card.text or ""))
        fake.press_button(alice, card, card.callback_data[1])  # disagree
        await fake.wait_for_call("editMessageText", edits)
    assert "send DONE" in (card.text or "")

    said = 2
    for reply in ("ok", "yes", "thanks!", "👍🏽", "7"):
        fake.send_text(alice, reply)
        said += 1
        prompt = await running.said(alice, said)
        assert prompt.text == "Please write your idea in a few words, or send DONE to go on."
    # A vote word takes the statement just shown: her disagree becomes an agree.
    fake.send_text(alice, "agree")
    said += 1
    again = await running.said(alice, said)
    assert "send DONE" in (again.text or "")
    assert (await _votes(running))[last] == "agree"
    assert await _own_statements(running) == []

    fake.send_text(alice, "no")
    said += 1
    assert (await running.said(alice, said)).text == "Thank you for your ideas."
    assert await _own_statements(running) == []
    assert sorted((await _votes(running)).values()) == ["agree", "disagree", "disagree"]


async def test_spanish_votes_and_done_words_are_read_in_spanish(running: Running) -> None:
    fake = running.fake
    data = statements_spec()
    data["language"] = "es"
    await launch(running.platform, data)
    ana = fake.user(3012, "Ana")
    fake.send_command(ana, "/start", "new-clinic")
    consent = await running.said(ana, 1)
    fake.press_button(ana, consent, consent.callback_data[0])
    card = await running.said(ana, 2)
    labels = [row[0].text for row in card.inline_keyboard.inline_keyboard]  # type: ignore[union-attr]
    assert labels == ["De acuerdo", "En desacuerdo", "Paso"]

    # Typed, not pressed: "sí" and "vale" agree, "no" disagrees.
    shown = []
    for said, reply in enumerate(("sí", "Vale.", "no"), start=2):
        shown.append(next(s for s in SEED if s in (fake.messages_to(ana)[said - 1].text or "")))
        fake.send_text(ana, reply)
        await running.said(ana, said + 1)
    assert await _votes(running) == dict(zip(shown, ("agree", "agree", "disagree"), strict=True))
    invitation = fake.messages_to(ana)[-1]
    assert "envíe LISTO para seguir" in (invitation.text or "")
    assert "DONE" not in (invitation.text or "")

    said = 5
    for reply in ("sí", "vale", "de acuerdo", "1", "gracias"):
        fake.send_text(ana, reply)
        said += 1
        answer = await running.said(ana, said)
        if reply in ("de acuerdo", "1"):
            # A vote on the statement just shown, the invitation again.
            assert "envíe LISTO" in (answer.text or "")
        else:
            assert answer.text == "Escriba su idea en pocas palabras, o envíe LISTO para seguir."
    assert (await _votes(running))[shown[-1]] == "agree"
    assert await _own_statements(running) == []

    fake.send_text(ana, "Que haya más médicos en el turno de la noche")
    said += 1
    assert (
        await running.said(ana, said)
    ).text == "Gracias. Otras personas ya pueden votar su frase."
    said += 1
    await running.said(ana, said)
    fake.send_text(ana, "nada")
    said += 1
    assert (await running.said(ana, said)).text == "Thank you for your ideas."
    assert await _own_statements(running) == ["Que haya más médicos en el turno de la noche"]
