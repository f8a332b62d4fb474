"""Statement voting over Mastodon: a public status invites, direct messages carry the votes."""

from __future__ import annotations

import asyncio
from html import unescape

from storage.tables import Response, Statement
from tests.adapters.mastodon.conftest import World
from tests.helpers import SEED, statements_spec


async def test_statements_are_voted_by_direct_message(world: World) -> None:
    await world.launch(statements_spec() | {"channels": ["web", "mastodon"]})
    await world.start()
    server = world.server
    invite_ref = await world.post_of("ideas")
    invite = await asyncio.to_thread(server.bot().status, invite_ref)
    assert "send us a private (direct) message" in unescape(invite["content"])

    hello = await world.act(server.dm, "carol", "Hello")
    [offer] = await world.received("carol", 1)
    await world.act(server.dm, "carol", "1", in_reply_to_id=offer["id"])
    consent = (await world.received("carol", 2))[-1]
    await world.act(server.dm, "carol", "yes", in_reply_to_id=consent["id"])
    assert hello["visibility"] == "direct"

    seen = []
    for count, word in enumerate(("agree", "Disagree", "pass"), start=3):
        card = (await world.received("carol", count))[-1]
        content = unescape(card["content"])
        assert card["visibility"] == "direct"
        assert "Reply AGREE, DISAGREE or PASS" in content
        statement = next(s for s in SEED if s in content)
        assert statement not in seen
        seen.append(statement)
        await world.act(server.dm, "carol", word, in_reply_to_id=card["id"])
    invitation = (await world.received("carol", 6))[-1]
    assert "send DONE" in unescape(invitation["content"])
    await world.act(
        server.dm, "carol", "Let carers wait with patients", in_reply_to_id=invitation["id"]
    )
    # The thanks and the next invitation (sent side by side, in either order).
    after = [unescape(s["content"]) for s in (await world.received("carol", 8))[-2:]]
    assert any("your statement is now shown" in text for text in after)
    assert any("send DONE" in text for text in after)
    await world.act(server.dm, "carol", "done")
    bye = (await world.received("carol", 9))[-1]
    assert "Thank you for your ideas." in unescape(bye["content"])

    texts = {f"statement:{s.id}": s.text for s in await world.rows(Statement)}
    votes = await world.rows(Response, Response.item_type == "vote")
    assert sorted((texts[v.in_reply_to or ""], v.choices[0]) for v in votes) == sorted(
        zip(seen, ("agree", "disagree", "pass"), strict=True)
    )
    assert "Let carers wait with patients" in texts.values()
