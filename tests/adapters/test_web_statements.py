"""Statement voting on the web page: the next statement asked, every other a form too."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

from aiohttp.test_utils import TestClient

from bot.platform import Platform
from tests.adapters.test_web import _export, _post
from tests.bot.test_dashboard import as_role
from tests.helpers import SEED, form_fields, launch, statements_spec

Client = TestClient[Any, Any]
ACTION = "/c/new-clinic/statements/ideas"


def shown_statement(page: str) -> str | None:
    """The statement the page asks about, if any."""
    found = re.search(r'<fieldset class="statement">.*?<blockquote>(.*?)</blockquote>', page, re.S)
    return unescape(found.group(1)) if found else None


def statement_forms(page: str) -> dict[str, str]:
    """Every statement the page offers a vote on, by the id its form posts."""
    found = {}
    for form in re.findall(r'<form method="post" action="[^"]+">(.*?)</form>', page, re.S):
        statement = re.search(r'name="statement" value="(\d+)"', form)
        if statement is None or 'name="vote"' not in form:
            continue
        words = re.search(r"<blockquote>(.*?)</blockquote>", form, re.S) or re.search(
            r"<legend>(.*?)</legend>", form, re.S
        )
        assert words is not None, form
        found[statement.group(1)] = unescape(words.group(1))
    return found


async def joined(client: Client) -> str:
    page = await (await client.get("/c/new-clinic")).text()
    return str(await (await _post(client, "/c/new-clinic/consent", page, answer="yes")).text())


async def test_statements_are_voted_one_form_at_a_time_then_exported(
    platform: Platform, web_client: Client
) -> None:
    await launch(platform, statements_spec())
    page = await joined(web_client)
    assert "<script" not in page
    # The next statement is the one asked; every other is a form of its own below it.
    buttons = re.findall(r'<button name="vote" value="(\w+)">', page)
    assert buttons == ["agree", "disagree", "pass"] * len(SEED)
    assert sorted(statement_forms(page).values()) == sorted(SEED)
    seen = []
    for vote in ("agree", "disagree", "pass"):
        statement = shown_statement(page)
        assert statement in SEED and statement not in seen
        seen.append(statement)
        response = await _post(web_client, ACTION, page, vote=vote)
        assert response.status == 200
        page = await response.text()
    assert shown_statement(page) is None
    assert "You have voted on every statement so far" in page

    response = await _post(web_client, ACTION, page, text="Have a quiet room for children")
    page = await response.text()
    assert "your statement is now shown to others" in page

    response = await _post(web_client, ACTION, page, text="A quiet room for the children")
    page = unescape(await response.text())
    assert "You have already added a statement very like this one." in page

    exported = await _export(platform, "new-clinic")
    statements = [r for r in exported if r["item_type"] == "statement"]
    votes = [r for r in exported if r["item_type"] == "vote"]
    assert [s["text"] for s in statements] == [*SEED, "Have a quiet room for children"]
    assert all(re.fullmatch(r"statement:\d+", s["id"]) for s in statements)
    by_text = {s["text"]: s["id"] for s in statements}
    given = zip(seen, ("agree", "disagree", "pass"), strict=True)
    assert sorted((by_text[t], v) for t, v in given) == sorted(
        (v["in_reply_to"], v["choices"][0]) for v in votes
    )
    assert {v["channel"] for v in votes} == {"web"}
    assert statements[-1]["participant"] == votes[0]["participant"]
    assert statements[0]["participant"] is None and statements[0]["flags"] == ["seed"]


async def test_one_persons_statement_is_shown_to_another(
    platform: Platform, web_client: Client, settings: Any
) -> None:
    await launch(platform, statements_spec(seed=()))
    page = await joined(web_client)
    assert shown_statement(page) is None
    await _post(web_client, ACTION, page, text="Put water fountains in the waiting room")
    web_client.session.cookie_jar.clear()  # someone else, on the same page
    page = await joined(web_client)
    assert shown_statement(page) == "Put water fountains in the waiting room"


async def test_bad_votes_get_400_and_store_nothing(platform: Platform, web_client: Client) -> None:
    await launch(platform, statements_spec())
    page = await joined(web_client)
    fields = re.findall(r'<input type="hidden" name="(csrf|nonce)" value="([^"]*)">', page)
    data = dict(fields)
    bad = await web_client.post(ACTION, data={**data, "vote": "maybe", "statement": "1"})
    assert bad.status == 400
    exported = await _export(platform, "new-clinic")
    assert [r for r in exported if r["item_type"] == "vote"] == []


async def test_a_vote_before_consent_or_on_a_hidden_statement_stores_nothing(
    platform: Platform, web_client: Client
) -> None:
    await launch(platform, statements_spec())
    page = await (await web_client.get("/c/new-clinic")).text()
    fields = dict(re.findall(r'<input type="hidden" name="(csrf|nonce)" value="([^"]*)">', page))
    response = await web_client.post(ACTION, data={**fields, "vote": "agree", "statement": "1"})
    assert "Before you start" in await response.text()  # consent first
    page = await joined(web_client)
    response = await _post(web_client, ACTION, page, vote="agree", statement="999999")
    assert response.status == 200
    assert shown_statement(await response.text()) in SEED  # another statement offered
    exported = await _export(platform, "new-clinic")
    assert [r for r in exported if r["item_type"] == "vote"] == []


async def test_the_dashboard_shows_a_statements_consultation_and_its_report(
    platform: Platform, web_client: Client
) -> None:
    await launch(platform, statements_spec())
    page = await joined(web_client)
    await _post(web_client, ACTION, page, vote="agree")
    await as_role(platform, web_client, "lead")
    overview = await web_client.get("/dashboard/c/new-clinic")
    assert overview.status == 200
    report = await web_client.get("/dashboard/c/new-clinic/report")
    assert report.status == 200
    assert "Opinion groups" in await report.text()


async def test_a_vote_on_a_statement_not_shown_is_not_said_to_be_counted(
    platform: Platform, web_client: Client
) -> None:
    await launch(platform, statements_spec())
    page = await joined(web_client)
    # The form edited to name a statement that does not exist.
    page = page.replace('name="statement" value="', 'name="statement" value="9', 1)
    response = await _post(web_client, ACTION, page, vote="agree")
    text = unescape(await response.text())
    assert "your vote is counted" not in text
    assert "That statement is not open for votes." in text
    assert [r for r in await _export(platform, "new-clinic") if r["item_type"] == "vote"] == []
    # A vote on the statement shown is counted, and says so.
    page = await (await web_client.get("/c/new-clinic")).text()
    response = await _post(web_client, ACTION, page, vote="agree")
    assert "your vote is counted" in await response.text()


async def test_a_statement_with_nothing_to_read_is_not_added(
    platform: Platform, web_client: Client
) -> None:
    """A zero-width space, punctuation or an emoji alone is no statement: nothing stored,
    nothing for others to vote on (it was shown as an empty quote)."""
    await launch(platform, statements_spec(seed=()))
    page = await joined(web_client)
    for text in ("\u200b", "\u200b\u200d ", "...", "🙂"):
        await _post(web_client, ACTION, page, text=text)
        page = await (await web_client.get("/c/new-clinic")).text()
    exported = await _export(platform, "new-clinic")
    assert [r for r in exported if r["item_type"] == "statement"] == []
    await _post(web_client, ACTION, page, text="A quiet room\u200b for children")
    exported = await _export(platform, "new-clinic")
    assert len([r for r in exported if r["item_type"] == "statement"]) == 1


async def test_the_funnel_never_counts_more_finished_than_answered(
    platform: Platform, web_client: Client
) -> None:
    """People who agree on the page and then vote on nothing are not "finished" (the
    report said 11 finished of 9 answered)."""
    from consultations import reporting

    await launch(platform, statements_spec())
    for _ in range(3):
        web_client.session.cookie_jar.clear()
        page = await joined(web_client)
    fields = re.findall(r'<input type="hidden" name="(csrf|nonce)" value="([^"]*)">', page)
    statement = re.search(r'name="statement" value="(\d+)"', page)
    assert statement is not None
    await web_client.post(
        ACTION, data={**dict(fields), "vote": "agree", "statement": statement.group(1)}
    )
    async with platform.sessionmaker() as session:
        rows = await reporting.load_rows(session, "new-clinic")
        funnel = await reporting.load_funnel(session, "new-clinic", rows)
    assert (funnel.consented, funnel.answered) == (3, 1)
    assert funnel.finished <= funnel.answered


async def test_a_near_repeat_is_refused_and_the_statement_it_repeats_is_offered(
    platform: Platform, web_client: Client
) -> None:
    """The notice says "vote on it instead": the next form is that statement, not the one
    the page would have chosen anyway."""
    await launch(platform, statements_spec())
    page = await joined(web_client)
    first = shown_statement(page)
    target = SEED[-1]
    assert first != target  # not the one the page offers first
    answer = await _post(web_client, ACTION, page, text=target.upper() + "!")
    page = unescape(await answer.text())
    assert "very like this" in page
    assert shown_statement(page) == target


async def test_a_vote_on_ones_own_statement_says_so(platform: Platform, web_client: Client) -> None:
    """Not "no longer open for votes": the person is told they cannot vote on their own."""
    await launch(platform, statements_spec(seed=()))
    page = await joined(web_client)
    await _post(web_client, ACTION, page, text="Put water fountains in the waiting room")
    (own,) = [r for r in await _export(platform, "new-clinic") if r["item_type"] == "statement"]
    page = await (await web_client.get("/c/new-clinic")).text()
    fields = re.findall(r'<input type="hidden" name="(csrf|nonce)" value="([^"]*)">', page)
    response = await web_client.post(
        ACTION,
        data={**dict(fields), "vote": "agree", "statement": own["id"].split(":")[1]},
    )
    text = unescape(await response.text())
    assert "You can't vote on your own statement." in text
    assert [r for r in await _export(platform, "new-clinic") if r["item_type"] == "vote"] == []


async def test_a_vote_may_name_its_statement_by_the_exported_record_id(
    platform: Platform, web_client: Client
) -> None:
    """The statement a vote is on, given as the record id the export shows (and votes'
    ``in_reply_to`` carry, ``statement:N``), is taken as the page's own ``N``."""
    await launch(platform, statements_spec())
    page = await joined(web_client)
    statements = [r for r in await _export(platform, "new-clinic") if r["item_type"] == "statement"]
    target = statements[-1]["id"]
    fields = re.findall(r'<input type="hidden" name="(csrf|nonce)" value="([^"]*)">', page)
    response = await web_client.post(
        ACTION, data={**dict(fields), "vote": "disagree", "statement": target}
    )
    assert response.status == 200
    assert "your vote is counted" in await response.text()
    votes = [r for r in await _export(platform, "new-clinic") if r["item_type"] == "vote"]
    assert [(v["in_reply_to"], v["choices"]) for v in votes] == [(target, ["disagree"])]
    # Anything else around the number is still no statement.
    page = await (await web_client.get("/c/new-clinic")).text()
    fields = re.findall(r'<input type="hidden" name="(csrf|nonce)" value="([^"]*)">', page)
    bad = await web_client.post(
        ACTION, data={**dict(fields), "vote": "agree", "statement": "response:1"}
    )
    assert bad.status == 400


async def test_any_statement_on_the_page_may_be_voted_on_by_its_own_form(
    platform: Platform, web_client: Client
) -> None:
    # CONTRACT.md: each statement is a form whose button carries name="vote". A person (or
    # an outside client) may vote on any of them, not only the one asked next.
    await launch(platform, statements_spec())
    page = await joined(web_client)
    offered = statement_forms(page)
    asked = shown_statement(page)
    target, text = next((sid, t) for sid, t in offered.items() if t != asked)
    fields = form_fields(page, ACTION)
    response = await web_client.post(
        ACTION, data={**fields, "statement": target, "vote": "disagree"}, allow_redirects=True
    )
    assert response.status == 200
    page = await response.text()
    assert "Thank you: your vote is counted." in page
    # Voted on, it is offered no more; the one asked before is still asked.
    assert text not in statement_forms(page).values()
    assert shown_statement(page) == asked

    exported = await _export(platform, "new-clinic")
    by_text = {r["text"]: r["id"] for r in exported if r["item_type"] == "statement"}
    [vote] = [r for r in exported if r["item_type"] == "vote"]
    assert (vote["in_reply_to"], vote["choices"]) == (by_text[text], ["disagree"])
