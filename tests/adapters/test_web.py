"""The web channel end to end: a consultation answered over HTTP, then exported."""

from __future__ import annotations

import json
from html import unescape
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from bot.config import Settings
from bot.platform import Platform
from bot.web.templating import TEXT_MAX
from consultations import records
from consultations.spec import parse_spec
from storage.tables import Consent, ModerationCase, Participant, Response
from tests.bot.test_dashboard import app_client
from tests.fakes.channel import Person
from tests.helpers import form_fields, launch, spec_data, tentative_flag

Client = TestClient[Any, Any]


async def _export(platform: Platform, consultation_id: str) -> list[dict[str, Any]]:
    import io

    out = io.StringIO()
    async with platform.sessionmaker() as session:
        await records.write_export(session, consultation_id, out, "json")
    return list(json.loads(out.getvalue()))


async def _post(client: Client, action: str, page: str, **data: Any) -> Any:
    fields = form_fields(page, action)
    return await client.post(action, data={**fields, **data}, allow_redirects=True)


async def _consented(client: Client, consultation: str = "outpatient-booking") -> str:
    """The page a person sees once they have agreed, reached as a browser reaches it."""
    page = await (await client.get(f"/c/{consultation}")).text()
    answered = await _post(client, f"/c/{consultation}/consent", page, answer="yes")
    return str(await answered.text())


async def test_full_consultation_over_http_then_export(
    platform: Platform, web_client: Client
) -> None:
    await launch(platform)
    page = await (await web_client.get("/c/outpatient-booking")).text()
    assert "Before you start" in page
    assert "We use your answers" in page

    response = await _post(web_client, "/c/outpatient-booking/consent", page, answer="yes")
    page = await response.text()
    assert "Which best describes you?" in page

    response = await _post(
        web_client, "/c/outpatient-booking/answers", page, **{"segment:role": "Carer"}
    )
    page = await response.text()
    assert "How easy was it to book" in page

    response = await _post(
        web_client,
        "/c/outpatient-booking/answers",
        page,
        **{"item:ease": "Hard", "item:one-thing": "Text me a reminder, my email is a@b.org"},
    )
    page = await response.text()
    assert "Thank you. We will share what we change." in page

    response = await _post(
        web_client, "/c/outpatient-booking/threads/reminder", page, text="Say the clinic name"
    )
    page = await response.text()
    assert "Say the clinic name" in page
    parent = next(
        ref for ref in __import__("re").findall(r'name="parent" value="(response:\d+)"', page)
    )
    action = "/c/outpatient-booking/threads/reminder"
    fields = dict(
        __import__("re").findall(r'<input type="hidden" name="(csrf|nonce)" value="([^"]*)">', page)
    )
    response = await web_client.post(
        action, data={**fields, "parent": parent, "text": "And the time, please"}
    )
    assert response.status == 200

    exported = await _export(platform, "outpatient-booking")
    assert [tuple(r) for r in exported] == [records.RECORD_KEYS] * len(exported)
    by_item = {r["item"]: r for r in exported}
    assert set(by_item) == {"role", "ease", "one-thing", "reminder"}
    assert by_item["role"]["item_type"] == "segment"
    assert by_item["role"]["choices"] == ["Carer"]
    assert by_item["ease"]["choices"] == ["Hard"]
    assert by_item["ease"]["segments"] == {"role": "Carer"}
    assert by_item["one-thing"]["text"] == "Text me a reminder, my email is [email]"
    assert by_item["one-thing"]["flags"] == ["redacted"]
    replies = [r for r in exported if r["item"] == "reminder"]
    assert [r["text"] for r in replies] == ["Say the clinic name", "And the time, please"]
    assert replies[0]["in_reply_to"] == "item:reminder"
    assert replies[1]["in_reply_to"] == parent
    participants = {r["participant"] for r in exported}
    assert len(participants) == 1
    assert all(r["channel"] == "web" for r in exported)
    assert all(r["created_at"].endswith("Z") for r in exported)


async def test_resubmitted_form_is_stored_once(platform: Platform, web_client: Client) -> None:
    await launch(platform, spec_data(segments=[]))
    page = await _consented(web_client)
    fields = form_fields(page, "/c/outpatient-booking/answers")
    for _ in range(3):
        await web_client.post(
            "/c/outpatient-booking/answers", data={**fields, "item:one-thing": "Online booking"}
        )
    async with platform.sessionmaker() as session:
        count = await session.scalar(select(func.count(Response.id)))
    assert count == 1


async def test_no_answers_stored_before_consent(platform: Platform, web_client: Client) -> None:
    await launch(platform)
    page = await (await web_client.get("/c/outpatient-booking")).text()
    fields = form_fields(page, "/c/outpatient-booking/consent")
    response = await web_client.post(
        "/c/outpatient-booking/answers", data={**fields, "item:ease": "Hard"}
    )
    assert "Before you start" in await response.text()
    async with platform.sessionmaker() as session:
        assert await session.scalar(select(func.count(Response.id))) == 0


async def test_declining_consent_stores_nothing(platform: Platform, web_client: Client) -> None:
    await launch(platform)
    page = await (await web_client.get("/c/outpatient-booking")).text()
    response = await _post(web_client, "/c/outpatient-booking/consent", page, answer="no")
    assert "we won't ask you anything" in unescape(await response.text())
    page = await (await web_client.get("/c/outpatient-booking")).text()
    assert "Before you start" in page
    # Known to the page by the consent record it keeps: that, too, may be deleted.
    assert 'action="/c/outpatient-booking/erase"' in page


async def test_form_without_valid_csrf_is_refused(platform: Platform, web_client: Client) -> None:
    await launch(platform)
    await web_client.get("/c/outpatient-booking")
    response = await web_client.post(
        "/c/outpatient-booking/consent", data={"csrf": "x" * 32, "nonce": "n" * 16, "answer": "yes"}
    )
    assert response.status == 403


async def test_closed_consultation_says_so_politely(platform: Platform, web_client: Client) -> None:
    from consultations import service

    await launch(platform)
    async with platform.sessionmaker.begin() as session:
        await service.close(session, "outpatient-booking")
    response = await web_client.get("/c/outpatient-booking")
    assert response.status == 200
    assert "has closed and is no longer taking answers" in await response.text()
    missing = await web_client.get("/c/no-such-thing")
    assert missing.status == 404


@pytest.mark.parametrize(
    ("disclosure", "care", "danger"),
    [
        (
            "Honestly I have been thinking about ending my life",
            "It sounds like things are really hard right now.",
            "If you are in danger now, call emergency services.",
        ),
        (  # a worried parent: the words for someone else at risk
            "My son keeps saying he wants to die and I don't know what to do",
            "It sounds like you are worried about someone.",
            "If they are in danger now, call emergency services.",
        ),
    ],
)
async def test_safety_disclosure_gets_signposting_and_no_more_questions(
    platform: Platform, web_client: Client, disclosure: str, care: str, danger: str
) -> None:
    await launch(platform, spec_data(segments=[]))
    page = await _consented(web_client)
    response = await _post(
        web_client, "/c/outpatient-booking/answers", page, **{"item:one-thing": disclosure}
    )
    text = unescape(await response.text())
    assert care in text and danger in text
    assert "Lifeline" in text and "13 11 14" in text
    # Coming back to the page: the same words, and no more questions.
    again = unescape(await (await web_client.get("/c/outpatient-booking")).text())
    assert care in again and danger in again
    assert "How easy was it" not in again
    exported = await _export(platform, "outpatient-booking")
    assert exported[0]["flags"] == ["safety"]


async def _page_after(platform: Platform, web_client: Client, answer: str) -> str:
    """The page a person is shown for ``answer`` to the prompt, the poll answered too."""
    await launch(platform, spec_data(segments=[]))
    page = await _consented(web_client)
    response = await _post(
        web_client,
        "/c/outpatient-booking/answers",
        page,
        **{"item:ease": "Easy", "item:one-thing": answer},
    )
    return unescape(await response.text())


async def test_after_a_disclosure_leaving_and_deleting_are_a_button_away(
    platform: Platform, web_client: Client
) -> None:
    # The safety page holds the questions, not the person: "Leave" and "Delete my
    # answers" are on it, right after the disclosure and when they come back.
    held = await _page_after(platform, web_client, "I want to end my life, nothing helps")
    again = await (await web_client.get("/c/outpatient-booking")).text()
    for shown in (held, again):
        assert form_fields(shown, "/c/outpatient-booking/stop")
        assert form_fields(shown, "/c/outpatient-booking/erase")
    left = unescape(await (await _post(web_client, "/c/outpatient-booking/stop", again)).text())
    assert "You have left" in left
    assert await _consents(platform) == {"outpatient-booking": False}
    page = await (await web_client.get("/c/outpatient-booking")).text()
    await _post(web_client, "/c/outpatient-booking/erase", page)
    assert await _export(platform, "outpatient-booking") == []


async def test_a_tentative_flag_shows_help_and_lets_the_person_carry_on(
    platform: Platform, web_client: Client
) -> None:
    """Only the model flagged the answer, and only just: the page gives help and a way
    on; the next question follows, and the case waits for a moderator."""
    text = await _page_after(platform, web_client, tentative_flag())
    assert "Thank you for your answer" in text and "Thank you for telling us" not in text
    assert "If any of it is about a hard time" in text and "Lifeline" in text
    assert 'href="/c/outpatient-booking"' in text and "Carry on answering" in text
    again = unescape(await (await web_client.get("/c/outpatient-booking")).text())
    assert "If any of it is about a hard time" not in again
    assert "reminder" in again  # the thread, the question after the prompt
    async with platform.sessionmaker() as session:
        cases = list(await session.scalars(select(ModerationCase.flagged_by)))
    assert cases == ["model"]


async def test_a_disclosure_page_offers_no_way_on(platform: Platform, web_client: Client) -> None:
    text = await _page_after(
        platform, web_client, "I've got a knife and I'm going to the pub to find him"
    )
    assert "Thank you for telling us" in text and "Carry on answering" not in text


DISCLOSURE = "Honestly I have been thinking about ending my life"


async def _two_prompts(platform: Platform, web_client: Client) -> str:
    """The consultation with a second free-text question first ("worst"), consented to:
    one form with two texts."""
    items = [
        {"id": "worst", "type": "prompt", "text": "What was the worst part?"},
        *spec_data()["items"],
    ]
    await launch(platform, spec_data(segments=[], items=items))
    return await _consented(web_client)


@pytest.mark.parametrize("disclosure_first", [True, False])
async def test_a_disclosure_keeps_the_other_answers_of_the_same_form(
    platform: Platform, web_client: Client, disclosure_first: bool
) -> None:
    page = await _two_prompts(platform, web_client)
    others = {"item:ease": "Hard", "item:one-thing": "Text me on 0412 345 678 the day before"}
    form = (
        {"item:worst": DISCLOSURE, **others}
        if disclosure_first
        else {**others, "item:worst": DISCLOSURE}
    )
    response = await _post(web_client, "/c/outpatient-booking/answers", page, **form)
    assert "Lifeline" in unescape(await response.text())

    exported = await _export(platform, "outpatient-booking")
    by_item = {r["item"]: r for r in exported}
    assert sorted(by_item) == ["ease", "one-thing", "worst"]
    assert by_item["worst"]["flags"] == ["safety"]
    assert by_item["ease"]["choices"] == ["Hard"]
    assert by_item["one-thing"]["text"] == "Text me on [phone] the day before"
    assert by_item["one-thing"]["flags"] == ["redacted"]
    async with platform.sessionmaker() as session:
        cases = list(await session.scalars(select(ModerationCase.reason)))
    assert cases == ["safety"]

    # Held as after any disclosure: the page shows the safety words and no questions,
    # and a later answer from this person is not stored.
    again = unescape(await (await web_client.get("/c/outpatient-booking")).text())
    assert "Lifeline" in again and "What was the worst part?" not in again
    cookie = next(c.value for c in web_client.session.cookie_jar if c.key == "engage_p")
    later = Person(cookie, channel="web").answers(
        "ease", "Easy", consultation_id="outpatient-booking"
    )
    await platform.runtime.handle_now(later)
    assert [
        r["choices"] for r in await _export(platform, "outpatient-booking") if r["item"] == "ease"
    ] == [["Hard"]]


@pytest.mark.parametrize("disclosure_first", [True, False])
async def test_a_disclosure_beside_a_tentative_flag_in_one_form_holds(
    platform: Platform, web_client: Client, disclosure_first: bool
) -> None:
    """Whatever their order, the page gives the reply that held the dialogue, no way on."""
    page = await _two_prompts(platform, web_client)
    tentative = {"item:one-thing": tentative_flag()}
    form = (
        {"item:worst": DISCLOSURE, **tentative}
        if disclosure_first
        else {**tentative, "item:worst": DISCLOSURE}
    )
    response = await _post(web_client, "/c/outpatient-booking/answers", page, **form)
    text = unescape(await response.text())
    assert "Thank you for telling us" in text
    assert "It sounds like things are really hard right now." in text
    assert "If any of it is about a hard time" not in text
    assert "Carry on answering" not in text
    async with platform.sessionmaker() as session:
        flagged = sorted(await session.scalars(select(ModerationCase.flagged_by)))
    assert flagged == ["model", "phrase"]


async def test_a_disclosure_at_the_end_of_a_long_answer_is_screened_and_the_answer_kept_whole(
    platform: Platform, web_client: Client
) -> None:
    # Over 5,000 characters of ordinary feedback and then the disclosure: the answer was
    # cut to its first 5,000 characters before the screen saw it.
    await launch(platform, spec_data(segments=[]))
    page = await _consented(web_client)
    long = "The booking line rang out every morning and nobody called back. " * 85
    answer = long + "After all this I am going to kill myself tonight, the rope is ready."
    assert len(answer) > 5500
    response = await _post(
        web_client, "/c/outpatient-booking/answers", page, **{"item:one-thing": answer}
    )
    assert "Lifeline" in unescape(await response.text())
    stored = [r for r in await _export(platform, "outpatient-booking") if r["item"] == "one-thing"]
    assert len(stored) == 1 and stored[0]["flags"] == ["safety"]
    assert len(stored[0]["text"]) == len(answer)
    async with platform.sessionmaker() as session:
        assert list(await session.scalars(select(ModerationCase.reason))) == ["safety"]


async def test_stop_then_nothing_more_is_stored(platform: Platform, web_client: Client) -> None:
    await launch(platform, spec_data(segments=[]))
    page = await _consented(web_client)
    answers = form_fields(page, "/c/outpatient-booking/answers")
    response = await _post(web_client, "/c/outpatient-booking/stop", page)
    left = unescape(await response.text())
    assert "You have left" in left
    # Nothing was answered: the page does not speak of answers kept.
    assert "We hold no answers from you." in left
    assert "We keep the answers you gave before" not in left
    await web_client.post("/c/outpatient-booking/answers", data={**answers, "item:ease": "Easy"})
    async with platform.sessionmaker() as session:
        assert await session.scalar(select(func.count(Response.id))) == 0


async def _held_about(platform: Platform) -> dict[str, int]:
    """How many rows of each kind name anyone: what erasure must leave at nothing."""
    counts = {}
    async with platform.sessionmaker() as session:
        for table in (Participant, Consent, Response):
            counts[table.__tablename__] = await session.scalar(
                select(func.count()).select_from(table)
            )
    return counts


ERASE = "/c/outpatient-booking/erase"


async def test_after_leaving_the_page_still_lets_the_person_delete_their_answers(
    platform: Platform, web_client: Client
) -> None:
    await launch(platform, spec_data(segments=[]))
    page = await (await web_client.get("/c/outpatient-booking")).text()
    assert f'action="{ERASE}"' not in page  # nobody the page knows yet
    page = await (
        await _post(web_client, "/c/outpatient-booking/consent", page, answer="yes")
    ).text()
    page = await (
        await _post(web_client, "/c/outpatient-booking/answers", page, **{"item:ease": "Easy"})
    ).text()
    left = unescape(await (await _post(web_client, "/c/outpatient-booking/stop", page)).text())
    assert "go back to the page and choose “Delete my answers”" in left
    assert "We hold no answers from you." not in left
    assert f'action="{ERASE}"' in left
    # Back on the page, as the words say: asked to consent again, and able to delete.
    back = await (await web_client.get("/c/outpatient-booking")).text()
    assert "Before you start" in back
    assert "Delete my answers" in back
    assert await _held_about(platform) == {"participant": 1, "consent": 1, "response": 1}

    deleted = await _post(web_client, ERASE, back)
    assert deleted.status == 200
    assert "Your answers have been deleted" in await deleted.text()
    assert await _held_about(platform) == {"participant": 0, "consent": 0, "response": 0}
    again = await (await web_client.get("/c/outpatient-booking")).text()
    assert f'action="{ERASE}"' not in again  # a stranger to the page now


async def test_after_the_close_the_page_still_lets_the_person_delete_their_answers(
    platform: Platform, web_client: Client
) -> None:
    from consultations import service

    await launch(platform, spec_data(segments=[]))
    page = await _consented(web_client)
    await _post(web_client, "/c/outpatient-booking/answers", page, **{"item:ease": "Easy"})
    async with platform.sessionmaker.begin() as session:
        await service.close(session, "outpatient-booking")

    closed = await (await web_client.get("/c/outpatient-booking")).text()
    assert "has closed and is no longer taking answers" in closed
    assert "Delete my answers" in closed
    assert await _held_about(platform) == {"participant": 1, "consent": 1, "response": 1}
    # Someone the page does not know is offered nothing to delete.
    mine = web_client.session.cookie_jar.filter_cookies(web_client.make_url("/"))
    web_client.session.cookie_jar.clear()
    stranger = await (await web_client.get("/c/outpatient-booking")).text()
    assert "has closed" in stranger and f'action="{ERASE}"' not in stranger
    web_client.session.cookie_jar.clear()
    web_client.session.cookie_jar.update_cookies(mine)

    deleted = await _post(web_client, ERASE, closed)
    # Done, and answered 410 as any form to a closed consultation is (CONTRACT.md).
    assert deleted.status == 410
    assert "Your answers have been deleted" in await deleted.text()
    assert await _held_about(platform) == {"participant": 0, "consent": 0, "response": 0}


async def test_an_erase_form_resent_after_the_close_gets_410_not_the_page(
    platform: Platform, web_client: Client
) -> None:
    """CONTRACT.md: a form posted to a closed consultation gets 410, whatever its nonce.
    An erase form whose nonce was used already (sent twice, or kept from an earlier
    page) is not answered with the 303 to the page that an open consultation gives."""
    from consultations import service

    await launch(platform, spec_data(segments=[]))
    page = await _consented(web_client)
    # The page's forms share one nonce: answering uses it for its erase form too.
    await _post(web_client, "/c/outpatient-booking/answers", page, **{"item:ease": "Easy"})
    async with platform.sessionmaker.begin() as session:
        await service.close(session, "outpatient-booking")
    used = form_fields(page, ERASE)
    for fields in (used, {**used, "nonce": "my-own-nonce-123"}):
        late = await web_client.post(ERASE, data=fields, allow_redirects=False)
        assert late.status == 410
        assert "Location" not in late.headers
    # Nothing was done with them: the person's answers are there until a fresh form asks.
    assert await _held_about(platform) == {"participant": 1, "consent": 1, "response": 1}
    closed = await (await web_client.get("/c/outpatient-booking")).text()
    deleted = await _post(web_client, ERASE, closed)
    assert deleted.status == 410
    assert await _held_about(platform) == {"participant": 0, "consent": 0, "response": 0}


async def test_a_worker_that_never_saw_the_person_erases_after_the_close(
    settings: Settings, platform: Platform, web_client: Client
) -> None:
    from consultations import service

    await launch(platform, spec_data(segments=[]))
    page = await _consented(web_client)
    async with platform.sessionmaker.begin() as session:
        await service.close(session, "outpatient-booking")
    mine = web_client.session.cookie_jar.filter_cookies(web_client.make_url("/"))
    async with app_client(settings) as other:
        other.session.cookie_jar.update_cookies(mine)
        closed = await (await other.get("/c/outpatient-booking")).text()
        # The close is found before the erasure is handed on, not taken for a refusal.
        deleted = await _post(other, ERASE, closed)
        assert deleted.status == 410
        assert "Your answers have been deleted" in await deleted.text()
    assert await _held_about(platform) == {"participant": 0, "consent": 0, "response": 0}
    # A form to a closed consultation is still refused (CONTRACT.md).
    late = await _post(web_client, "/c/outpatient-booking/stop", page)
    assert late.status == 410


async def test_pages_are_accessible_basics(platform: Platform, web_client: Client) -> None:
    await launch(platform, spec_data(segments=[]))
    page = await _consented(web_client)
    assert '<html lang="en" dir="ltr">' in page
    assert 'name="viewport"' in page
    assert page.count("<h1>") == 1
    # every radio button and text area has a label pointing at it
    import re

    ids = re.findall(r'<(?:input type="radio"|textarea) id="([^"]+)"', page)
    assert ids
    for control in ids:
        assert f'<label for="{control}">' in page
    assert "<legend>How easy was it to book your last appointment?</legend>" in page


async def test_each_step_has_its_own_title_and_an_error_says_so_first(
    platform: Platform, web_client: Client
) -> None:
    import re

    def title(page: str) -> str:
        found = re.search(r"<title>(.*?)</title>", page)
        assert found is not None
        return unescape(found.group(1))

    await launch(platform)
    page = await (await web_client.get("/c/outpatient-booking")).text()
    assert title(page) == "Before you start – Improving outpatient booking"
    page = await _post(web_client, "/c/outpatient-booking/consent", page, answer="yes")
    page = await page.text()
    assert title(page) == "About you – Improving outpatient booking"
    page = await _post(web_client, "/c/outpatient-booking/answers", page)
    page = await page.text()
    assert title(page) == "Your views – Improving outpatient booking"
    empty = await _post(web_client, "/c/outpatient-booking/threads/reminder", page, text=" ")
    page = await empty.text()
    assert title(page).startswith("Error: ")
    assert title(page).endswith(" – Improving outpatient booking")


async def test_an_empty_reply_is_sent_back_with_its_box_open_and_the_error_tied_to_it(
    platform: Platform, web_client: Client
) -> None:
    import re

    await launch(platform, spec_data(segments=[]))
    page = await _consented(web_client)
    action = "/c/outpatient-booking/threads/reminder"
    page = await (await _post(web_client, action, page, text="Say the clinic")).text()
    parent = re.findall(r'name="parent" value="(response:\d+)"', page)[0]
    fields = form_fields(page, action)
    answered = await web_client.post(action, data={**fields, "parent": parent, "text": "  "})
    page = await answered.text()
    assert str(answered.url).endswith(f"?missing=reminder&reply={parent}")
    box = f"reply-{parent}"
    assert f'<a href="#{box}">Please write something before you send it.</a>' in page
    assert f'<p class="error" id="{box}-error">Please write something' in page
    assert (
        f'<textarea id="{box}" name="text" required maxlength="{TEXT_MAX}" '
        f'aria-invalid="true" aria-describedby="{box}-error">' in page
    )
    assert page.count("<details open>") == 1
    # The post box of the thread is not the one marked.
    assert f'<textarea id="thread-reminder" name="text" required maxlength="{TEXT_MAX}">' in page


async def test_each_reply_control_names_the_post_it_answers(
    platform: Platform, web_client: Client
) -> None:
    import re

    await launch(platform, spec_data(segments=[]))
    page = await _consented(web_client)
    action = "/c/outpatient-booking/threads/reminder"
    page = await (await _post(web_client, action, page, text="Say the clinic")).text()
    page = await (await _post(web_client, action, page, text="Say the time")).text()
    hidden = '<span class="visually-hidden"> – {}</span>'
    names = {
        kind: re.findall(rf"{opening}(<span[^<]*</span>)?{closing}", page)
        for kind, opening, closing in (
            ("summary", "<summary>Reply", "</summary>"),
            ("button", "<button>Send reply", "</button>"),
            ("label", '<label for="reply-[^"]+">Your reply', "</label>"),
        )
    }
    for kind, found in names.items():
        assert sorted(found) == [hidden.format("Say the clinic"), hidden.format("Say the time")], (
            kind
        )


async def test_with_several_discussions_each_box_and_button_names_its_topic(
    platform: Platform, web_client: Client
) -> None:
    import re

    threads = [
        {"id": "reminder", "type": "thread", "text": "What should the reminder say?"},
        {"id": "waiting", "type": "thread", "text": "What would make waiting easier?"},
    ]
    await launch(platform, spec_data(segments=[], items=threads))
    page = await _consented(web_client)
    labels = re.findall(r'<label for="thread-[^"]+">Add your idea(.*?)</label>', page)
    buttons = re.findall(r"<button>Post(.*?)</button>", page)
    named = [f'<span class="visually-hidden"> – {t["text"]}</span>' for t in threads]
    assert [unescape(label) for label in labels] == named
    assert [unescape(button) for button in buttons] == named
    # One discussion alone: its box and button need no more than their words.
    await launch(platform, spec_data(id="one", segments=[]))
    page = await _consented(web_client, "one")
    assert '<label for="thread-reminder">Add your idea</label>' in page
    assert "<button>Post</button>" in page
    # Statement items alike: the vote, the box and the button of each say its question.
    asked = ["What would make the clinic better?", "What would make parking better?"]
    await launch(
        platform,
        spec_data(
            id="ideas",
            model="idea-crowdsourcing",
            segments=[],
            items=[
                {"id": f"s{n}", "type": "statements", "text": text, "seed": ["Open later"]}
                for n, text in enumerate(asked)
            ],
        ),
    )
    page = unescape(await _consented(web_client, "ideas"))
    for text in asked:
        hidden = f'<span class="visually-hidden"> – {text}</span>'
        assert f"<legend>Do you agree with this statement?{hidden}</legend>" in page
        assert f"Add a statement of your own (one short idea){hidden}</label>" in page
        assert f'<button class="secondary">Add my statement{hidden}</button>' in page


async def test_answering_every_question_on_the_page_counts_as_finished(
    platform: Platform, web_client: Client
) -> None:
    from consultations import service

    await launch(platform, spec_data(segments=[]))
    page = await _consented(web_client)
    await _post(
        web_client,
        "/c/outpatient-booking/answers",
        page,
        **{"item:ease": "Easy", "item:one-thing": "Text reminders"},
    )
    async with platform.sessionmaker() as session:
        states = await service.funnel(session, "outpatient-booking")
    assert states == {"finished": 1}


async def test_a_returning_person_s_page_needs_one_connection(
    settings: Any, platform: Platform, web_client: Client
) -> None:
    """A page holds one connection; the follow-ups it shows are read in it too.

    Were the page to take a second connection while holding its first, pages opened at
    once would each hold one and wait for another until the pool ran dry and every page
    answered 503. With a pool of one connection a returning person's page still loads.
    """
    import dataclasses

    from aiohttp.test_utils import TestServer

    from bot.platform import configured_adapters
    from bot.web.app import create_app
    from storage.db import create_engine, create_sessionmaker

    await launch(platform)
    page = await (await web_client.get("/c/outpatient-booking")).text()
    response = await _post(web_client, "/c/outpatient-booking/consent", page, answer="yes")
    assert response.status == 200

    engine = create_engine(settings.database_url, pool_size=1, max_overflow=0, pool_timeout=3)
    narrow = dataclasses.replace(platform, engine=engine, sessionmaker=create_sessionmaker(engine))
    app = create_app(settings, platform=narrow, adapters=configured_adapters, background=False)
    app.cleanup_ctx.clear()
    try:
        async with TestClient(TestServer(app)) as client:
            client.session.cookie_jar.update_cookies(
                {c.key: c.value for c in web_client.session.cookie_jar}
            )
            response = await client.get("/c/outpatient-booking")
            assert response.status == 200, await response.text()
            assert "Which best describes you?" in await response.text()
    finally:
        await engine.dispose()


async def test_sending_the_questions_empty_keeps_the_about_you_answer(
    platform: Platform, web_client: Client
) -> None:
    # A browser sends the empty text box, so "Send my answers" with nothing chosen posts a
    # form without answers; the "about you" answer given before must stay.
    await launch(platform, spec_data())
    page = await _consented(web_client)
    response = await _post(
        web_client, "/c/outpatient-booking/answers", page, **{"segment:role": "Carer"}
    )
    page = await response.text()
    assert "How easy was it to book" in page
    response = await _post(
        web_client, "/c/outpatient-booking/answers", page, **{"item:one-thing": ""}
    )
    assert response.status == 200
    response = await _post(
        web_client, "/c/outpatient-booking/answers", await response.text(), **{"item:ease": "Easy"}
    )
    records_now = await _export(platform, "outpatient-booking")
    assert [(r["item"], r["choices"]) for r in records_now if r["item_type"] == "segment"] == [
        ("role", ["Carer"])
    ]
    assert [r["segments"] for r in records_now if r["item"] == "ease"] == [{"role": "Carer"}]


async def test_skipping_the_about_you_questions_moves_on(
    platform: Platform, web_client: Client
) -> None:
    await launch(platform, spec_data())
    page = await _consented(web_client)
    assert "Which best describes you?" in page
    response = await _post(web_client, "/c/outpatient-booking/answers", page)
    page = await response.text()
    assert "How easy was it to book" in page
    assert "Which best describes you?" not in page


@pytest.mark.parametrize("typed", ["STOP", "stop please", "Unsubscribe!", "¡Stop!", "«stop»"])
async def test_stop_typed_as_an_answer_leaves_and_is_not_stored(
    platform: Platform, web_client: Client, typed: str
) -> None:
    await launch(platform, spec_data(segments=[]))
    page = await _consented(web_client)
    response = await _post(
        web_client, "/c/outpatient-booking/answers", page, **{"item:one-thing": typed}
    )
    assert "You have left" in await response.text()
    async with platform.sessionmaker() as session:
        assert await session.scalar(select(func.count(Response.id))) == 0
    assert await _consents(platform) == {"outpatient-booking": False}
    # Nothing more is stored, as after the page's "Leave" button.
    await web_client.post(
        "/c/outpatient-booking/answers",
        data={**form_fields(page, "/c/outpatient-booking/answers"), "item:ease": "Easy"},
    )
    assert await _export(platform, "outpatient-booking") == []


async def test_stop_posted_in_a_thread_leaves_and_is_never_shown(
    platform: Platform, web_client: Client
) -> None:
    await launch(platform, spec_data(segments=[]))
    page = await _consented(web_client)
    response = await _post(web_client, "/c/outpatient-booking/threads/reminder", page, text="Stop")
    assert "You have left" in await response.text()
    assert await _export(platform, "outpatient-booking") == []
    # Someone else's view of the thread shows no post.
    web_client.session.cookie_jar.clear()
    other = await _consented(web_client)
    assert ">Stop<" not in other


async def test_an_answer_that_only_mentions_stop_is_stored(
    platform: Platform, web_client: Client
) -> None:
    await launch(platform, spec_data(segments=[]))
    page = await _consented(web_client)
    await _post(
        web_client,
        "/c/outpatient-booking/answers",
        page,
        **{"item:one-thing": "Stop cancelling my appointments"},
    )
    assert [r["text"] for r in await _export(platform, "outpatient-booking")] == [
        "Stop cancelling my appointments"
    ]


async def test_no_thanks_from_an_older_page_after_agreeing_withdraws_consent(
    platform: Platform, web_client: Client
) -> None:
    # Two tabs on the consent page: "yes" (and yes to re-contact) in one, then "No thanks"
    # in the other. The page says "we won't ask you anything": so it must be so.
    await launch(platform, spec_data(segments=[]))
    first = await (await web_client.get("/c/outpatient-booking")).text()
    second = await (await web_client.get("/c/outpatient-booking")).text()
    await _post(web_client, "/c/outpatient-booking/consent", first, answer="yes", recontact="yes")
    page = await (await web_client.get("/c/outpatient-booking")).text()
    await _post(web_client, "/c/outpatient-booking/answers", page, **{"item:ease": "Easy"})
    response = await _post(web_client, "/c/outpatient-booking/consent", second, answer="no")
    assert "we won't ask you anything" in unescape(await response.text())
    async with platform.sessionmaker() as session:
        consents = (await session.scalars(select(Consent))).all()
        assert consents and all(not c.given or c.withdrawn_at is not None for c in consents), [
            (c.purpose, c.given, c.withdrawn_at) for c in consents
        ]
    # The answer given before is kept (STOP does not erase), and nothing more is taken.
    assert [r["item"] for r in await _export(platform, "outpatient-booking")] == ["ease"]
    page = await (await web_client.get("/c/outpatient-booking")).text()
    assert "Before you start" in page


async def test_a_reply_can_only_answer_a_post_shown_in_its_thread(
    platform: Platform, web_client: Client
) -> None:
    # A form edited to name someone's private answer (or any record that is not a post in
    # this thread) as the parent is posted in the thread instead, and shown there.
    await launch(platform, spec_data(segments=[]))
    page = await _consented(web_client)
    await _post(web_client, "/c/outpatient-booking/answers", page, **{"item:one-thing": "Private"})
    async with platform.sessionmaker() as session:
        private = await session.scalar(select(Response.id).where(Response.item_id == "one-thing"))
    web_client.session.cookie_jar.clear()
    page = await _consented(web_client)
    response = await _post(
        web_client,
        "/c/outpatient-booking/threads/reminder",
        page,
        parent=f"response:{private}",
        text="Replying to nothing I can see",
    )
    assert "Replying to nothing I can see" in await response.text()
    post = next(
        r
        for r in await _export(platform, "outpatient-booking")
        if r["text"] == "Replying to nothing I can see"
    )
    assert post["in_reply_to"] == "item:reminder"


async def test_a_consultation_not_yet_open_is_offered_nowhere_until_its_time(
    platform: Platform, web_client: Client
) -> None:
    # Launched ahead of its opens_at: its own page says when it opens, but the index and
    # "/start" in a chat offer only what takes answers now.
    from datetime import UTC, datetime, timedelta

    from tests.bot.test_runtime import deliver, send_all
    from tests.fakes.channel import FakeChannel

    later = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    await launch(
        platform,
        spec_data(
            id="future-clinic", title="Future clinic", opens_at=later, channels=["web", "telegram"]
        ),
    )
    await launch(platform, spec_data(segments=[], channels=["web", "telegram"]))
    index = await (await web_client.get("/")).text()
    assert "outpatient-booking" in index and "future-clinic" not in index
    assert "opens on" in unescape(await (await web_client.get("/c/future-clinic")).text())
    person = Person("early-bird")
    channel = FakeChannel(person.channel)
    await deliver(platform, person.starts())
    await send_all(platform, channel)
    [offer] = channel.to({"chat": person.platform_id})
    assert offer.options == ("outpatient-booking",)


async def _consents(platform: Platform) -> dict[str, bool]:
    """Each consultation's consent to take part: whether it stands (not withdrawn)."""
    async with platform.sessionmaker() as session:
        rows = await session.execute(
            select(Consent.consultation_id, Consent.withdrawn_at).where(
                Consent.purpose == "consultation"
            )
        )
        return {cid: withdrawn is None for cid, withdrawn in rows}


async def test_leave_leaves_this_consultation_and_no_other(
    platform: Platform, web_client: Client
) -> None:
    # The page says "Leave this consultation" and then "You have left this consultation":
    # the person's part in another consultation on the web stays as it was.
    await launch(platform, spec_data(segments=[]))
    await launch(platform, spec_data(id="clinic-hours", title="Clinic hours", segments=[]))
    other = await _consented(web_client, "clinic-hours")
    await _post(web_client, "/c/clinic-hours/answers", other, **{"item:ease": "Easy"})
    page = await _consented(web_client)
    assert "Leave this consultation" in page
    left = unescape(await (await _post(web_client, "/c/outpatient-booking/stop", page)).text())
    assert "You have left this consultation" in left

    assert await _consents(platform) == {"outpatient-booking": False, "clinic-hours": True}
    # Asked to agree again here; there, the questions go on without asking again.
    assert "Before you start" in await (await web_client.get("/c/outpatient-booking")).text()
    there = await (await web_client.get("/c/clinic-hours")).text()
    assert "Before you start" not in there
    await _post(web_client, "/c/clinic-hours/answers", there, **{"item:one-thing": "Later hours"})
    async with platform.sessionmaker() as session:
        kept = await session.scalars(
            select(Response.item_id).where(Response.consultation_id == "clinic-hours")
        )
        assert sorted(kept) == ["ease", "one-thing"]


async def test_the_hint_about_names_is_shown_only_where_there_is_a_box_to_write_in(
    platform: Platform, web_client: Client
) -> None:
    await launch(platform, spec_data(segments=[]))
    page = await _consented(web_client)
    assert "Please don&#39;t put in names" in page or "Please don't put in names" in page

    polls = [item for item in spec_data()["items"] if item["type"] == "poll"]
    assert polls
    await launch(platform, spec_data(id="polls-only", segments=[], items=polls))
    page = await _consented(web_client, "polls-only")
    assert polls[0]["text"] in page
    assert "put in names" not in page


async def test_an_answer_not_among_the_options_is_named_and_the_rest_of_the_form_stored(
    platform: Platform, web_client: Client
) -> None:
    """A choice that is not one of the question's options (a form edited by hand, or an
    option gone since the page was loaded) is not stored: the page says which question's
    answer was not taken, and the form's other answers are stored as usual."""
    await launch(platform, spec_data())
    page = await _consented(web_client)
    response = await _post(
        web_client, "/c/outpatient-booking/answers", page, **{"segment:role": "Astronaut"}
    )
    assert response.status == 200
    page = unescape(await response.text())
    assert (
        '<div class="notice" role="status">Your answer to “Which best describes you?” was '
        "not saved: it is not one of the choices given for it. Please choose again.</div>" in page
    )
    assert "Which best describes you?" in page  # asked again, not taken as skipped
    assert await _export(platform, "outpatient-booking") == []

    response = await _post(
        web_client, "/c/outpatient-booking/answers", page, **{"segment:role": "Carer"}
    )
    page = await response.text()
    response = await _post(
        web_client,
        "/c/outpatient-booking/answers",
        page,
        **{"item:ease": "Effortless", "item:one-thing": "Phone reminders would help"},
    )
    assert response.status == 200
    page = unescape(await response.text())
    question = next(i.text for i in parse_spec(spec_data()).items if i.id == "ease")
    assert (
        f"Your answer to “{question}” was not saved: it is not one of the choices given "
        "for it. Please choose again." in page
    )
    assert "Thank you. We will share what we change." not in page
    stored = [
        (r["item"], r["choices"], r["text"]) for r in await _export(platform, "outpatient-booking")
    ]
    assert sorted(stored, key=lambda r: r[0]) == [
        ("one-thing", [], "Phone reminders would help"),
        ("role", ["Carer"], None),
    ]

    # The poll answered alone with a choice it does not offer: said the same way.
    fields = form_fields(page, "/c/outpatient-booking/answers")
    response = await web_client.post(
        "/c/outpatient-booking/answers", data={**fields, "item:ease": "Effortless"}
    )
    assert f"Your answer to “{question}” was not saved" in unescape(await response.text())
    response = await _post(
        web_client, "/c/outpatient-booking/answers", page, **{"item:ease": "Hard"}
    )
    assert response.status == 200
    assert [
        r["choices"] for r in await _export(platform, "outpatient-booking") if r["item"] == "ease"
    ] == [["Hard"]]
