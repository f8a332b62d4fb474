"""A consultation in Welsh, Spanish, Arabic or Hebrew: its words on every channel.

The conversation runs through the inbox with the in-memory channel standing in for
Telegram and Mastodon (the runtime words every reply; the adapters only add their hints,
tested in tests/adapters/test_wording_limits.py); the web pages are fetched over HTTP.
"""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, make_mocked_request
from sqlalchemy import select

from bot.platform import Platform
from bot.web.operations import unavailable
from channels.events import CONSENT, RECONTACT, OutboundMessage
from consultations.spec import parse_spec
from consultations.texts import BUILTIN, texts_for
from storage.tables import Participant, Response
from tests.bot.test_cli import write_spec
from tests.bot.test_runtime import deliver, send_all
from tests.fakes.channel import FakeChannel, Person
from tests.helpers import engage, form_fields, launch, spec_data

Client = TestClient[Any, Any]
PAGE_LIMIT = 50 * 1024


def _in(language: str, **changes: Any) -> dict[str, Any]:
    return spec_data(language=language, **changes)


async def _conversation(platform: Platform, person: Person, *words: str) -> list[OutboundMessage]:
    """What the person was sent, having said each of ``words`` in turn (each reply sent
    before the next word, as STOP cancels what is still queued)."""
    channel = FakeChannel(person.channel)
    await send_all(platform, channel)
    for word in words:
        await deliver(platform, person.says(word))
        await send_all(platform, channel)
    return channel.to({"chat": person.platform_id})


@pytest.mark.parametrize("channel", ["telegram", "mastodon"])
@pytest.mark.parametrize(
    ("language", "stop", "help_word"),
    [
        ("cy", "STOPIO", "cymorth"),
        ("cy", "Gadael", "help"),
        ("es", "BASTA", "AYUDA"),
        ("es", "alto", "?"),
        # Spanish opens an exclamation or a question with a mark of its own.
        ("es", "¡Basta!", "¿Ayuda?"),
        ("es", "¿Parar?", "?"),
    ],
)
async def test_stop_and_help_in_the_consultations_language(
    platform: Platform, channel: str, language: str, stop: str, help_word: str
) -> None:
    await launch(platform, _in(language))
    texts = texts_for(language)
    person = Person(f"{language}-{stop}", channel)
    await deliver(platform, person.starts("outpatient-booking"))
    await deliver(platform, person.answers(CONSENT, texts("consent_yes")))
    said = await _conversation(platform, person, help_word, stop)
    assert said[0].text.endswith(texts("consent_ask"))
    assert said[0].options == (texts("consent_yes"), texts("consent_no"))
    assert said[1].text == texts("recontact_ask")
    assert said[-2].text == texts("help_reply")
    # Nothing answered yet: the goodbye does not speak of answers kept.
    assert said[-1].text == texts("stop_reply_none")
    assert all(message.language == language for message in said)
    async with platform.sessionmaker() as session:
        left = await session.scalar(
            select(Participant.opted_out_at).where(Participant.channel == channel)
        )
    assert left is not None


async def test_english_stop_works_in_every_language_and_other_languages_words_do_not(
    platform: Platform,
) -> None:
    await launch(platform, _in("cy"))
    welsh = Person("cy-stop")
    await deliver(platform, welsh.starts("outpatient-booking"))
    said = await _conversation(platform, welsh, "basta", "STOP")
    texts = texts_for("cy")
    # "basta" is Spanish: in a Welsh consultation it is no keyword, just words where
    # consent was asked, so consent is asked again.
    assert said[1].text.startswith(texts("consent_first"))
    assert said[-1].text == texts("stop_reply_none")


async def test_welsh_dim_is_an_answer_not_stop(platform: Platform) -> None:
    # "dim" means "nothing" or "no" in Welsh: someone who answers with it stays in.
    await launch(platform, _in("cy"))
    person = Person("cy-dim")
    await deliver(platform, person.starts("outpatient-booking"))
    said = await _conversation(platform, person, "Dim")
    texts = texts_for("cy")
    assert said[-1].text.startswith(texts("consent_first"))
    assert all(
        message.text not in (texts("stop_reply"), texts("stop_reply_none")) for message in said
    )
    async with platform.sessionmaker() as session:
        left = await session.scalar(
            select(Participant.opted_out_at).where(Participant.channel == person.channel)
        )
    assert left is None


async def test_typed_yes_and_no_in_the_language(platform: Platform) -> None:
    await launch(platform, _in("es", segments=[]))
    person = Person("es-yes")
    await deliver(platform, person.starts("outpatient-booking"))
    said = await _conversation(platform, person, "vale", "no gracias")
    texts = texts_for("es")
    assert said[1].text == texts("recontact_ask")
    assert said[2].text == "How easy was it to book your last appointment?"


@pytest.mark.parametrize(
    ("language", "region", "helpline"),
    [
        ("cy", None, "- Samaritans, 24 awr: 116 123"),  # Welsh: the UK's helplines
        ("es", "US", "- 988 Suicide and Crisis Lifeline: llame o envíe un mensaje de texto al 988"),
    ],
)
async def test_the_safety_reply_describes_its_helplines_in_the_language(
    platform: Platform, language: str, region: str | None, helpline: str
) -> None:
    safety = {"safety": {"region": region}} if region else {}
    await launch(platform, _in(language, **safety))
    person = Person(f"{language}-safety")
    await deliver(platform, person.starts("outpatient-booking"))
    said = await _conversation(platform, person, "I want to end my life tonight")
    texts = texts_for(language)
    reply = said[-1].text.split("\n")
    assert reply[2] == texts("safety_danger")
    assert helpline in reply
    assert reply[3] == f"- {texts('helpline_emergency')}: {'999' if region is None else '911'}"


async def test_spec_overrides_reach_the_person(platform: Platform) -> None:
    await launch(platform, _in("cy", texts={"stop_reply": "Hwyl fawr am y tro."}))
    person = Person("cy-override")
    await deliver(platform, person.starts("outpatient-booking"))
    said = await _conversation(platform, person, "stopio")
    assert said[-1].text == "Hwyl fawr am y tro."


# -- the web pages -------------------------------------------------------------------------


async def _post(client: Client, action: str, page: str, **data: Any) -> Any:
    return await client.post(action, data={**form_fields(page, action), **data})


@pytest.mark.parametrize(
    ("language", "direction"), [("cy", "ltr"), ("es", "ltr"), ("ar", "rtl"), ("he", "rtl")]
)
async def test_web_pages_speak_the_language_and_run_in_its_direction(
    platform: Platform, web_client: Client, language: str, direction: str
) -> None:
    await launch(platform, _in(language))
    texts = texts_for(language)
    opening = f'<html lang="{language}" dir="{direction}">'
    pages = [await (await web_client.get("/c/outpatient-booking")).text()]
    assert texts("web_before_you_start") in unescape(pages[0])
    pages.append(
        await (
            await _post(web_client, "/c/outpatient-booking/consent", pages[0], answer="yes")
        ).text()
    )
    assert texts("web_about_you") in unescape(pages[1])
    pages.append(
        await (
            await _post(
                web_client, "/c/outpatient-booking/answers", pages[1], **{"segment:role": "Carer"}
            )
        ).text()
    )
    assert texts("web_send") in unescape(pages[2])
    assert texts("web_leave") in unescape(pages[2])
    stop = await _post(web_client, "/c/outpatient-booking/stop", pages[2])
    pages.append(await stop.text())
    assert texts("web_left") in unescape(pages[3])
    for page in pages:
        assert page.startswith(f"<!doctype html>{opening}")
        assert texts("web_skip") in unescape(page)


async def test_empty_thread_post_is_announced_and_tied_to_its_box(
    platform: Platform, web_client: Client
) -> None:
    await launch(platform, _in("es", segments=[]))
    page = await (await web_client.get("/c/outpatient-booking")).text()
    page = await (
        await _post(web_client, "/c/outpatient-booking/consent", page, answer="yes")
    ).text()
    answered = await _post(web_client, "/c/outpatient-booking/threads/reminder", page, text="  ")
    page = await answered.text()
    assert str(answered.url).endswith("/c/outpatient-booking?missing=reminder")
    error = re.search(r'<p class="error" id="thread-reminder-error">([^<]+)</p>', page)
    assert error and unescape(error.group(1)) == texts_for("es")("web_write_something")
    # Named at the top too, announced and focused, with a link to the box.
    summary = re.search(
        r'<div class="error-summary" role="alert" tabindex="-1" autofocus '
        r'aria-labelledby="problem"><h2 id="problem">([^<]+)</h2>'
        r'<p><a href="#thread-reminder">([^<]+)</a></p></div>',
        page,
    )
    assert summary, page
    assert unescape(summary.group(1)) == texts_for("es")("web_error_heading")
    assert unescape(summary.group(2)) == texts_for("es")("web_write_something")
    assert (
        '<textarea id="thread-reminder" name="text" required maxlength="10000" '
        'aria-invalid="true" aria-describedby="thread-reminder-error">' in page
    )


@pytest.mark.parametrize("language", ["cy", "es"])
async def test_thread_posts_are_dated_in_the_language(
    platform: Platform, web_client: Client, language: str
) -> None:
    await launch(platform, _in(language, segments=[]))
    page = await (await web_client.get("/c/outpatient-booking")).text()
    page = await (
        await _post(web_client, "/c/outpatient-booking/consent", page, answer="yes")
    ).text()
    page = await (
        await _post(web_client, "/c/outpatient-booking/threads/reminder", page, text="Say the time")
    ).text()
    async with platform.sessionmaker() as session:
        posted = await session.scalar(select(Response.created_at))
    assert posted is not None
    texts = texts_for(language)
    shown = re.findall(r'<strong>[^<]*</strong> <span class="hint">([^<]*)</span>', page)
    assert [unescape(s) for s in shown] == [texts.moment(posted)]
    assert f"{posted:%b}" not in shown[0]  # not the English month


async def test_a_spanish_phone_number_is_stored_and_shown_as_a_phone_in_spanish(
    platform: Platform, web_client: Client
) -> None:
    await launch(platform, _in("es", segments=[]))
    page = await (await web_client.get("/c/outpatient-booking")).text()
    page = await (
        await _post(web_client, "/c/outpatient-booking/consent", page, answer="yes")
    ).text()
    post = "Que avisen el día antes. Escríbanme al 612 34 56 78"
    page = await (
        await _post(web_client, "/c/outpatient-booking/threads/reminder", page, text=post)
    ).text()
    async with platform.sessionmaker() as session:
        stored = await session.scalar(select(Response.text))
    # Stored, exported and shown on the thread page in the consultation's words.
    assert stored == "Que avisen el día antes. Escríbanme al [teléfono]"
    assert "Escríbanme al [teléfono]" in unescape(page)
    assert "612" not in page


async def test_web_errors_are_pages_in_the_language(platform: Platform, web_client: Client) -> None:
    await launch(platform, _in("cy", segments=[]))
    page = await (await web_client.get("/c/outpatient-booking")).text()
    refused = await _post(web_client, "/c/outpatient-booking/consent", page, answer="maybe")
    assert refused.status == 400
    body = unescape(await refused.text())
    assert '<html lang="cy" dir="ltr">' in body
    assert f'<div class="error" role="alert">{texts_for("cy")("web_choose_consent")}</div>' in body


async def test_a_page_number_there_is_not_is_an_error_page_in_the_language(
    platform: Platform, web_client: Client
) -> None:
    await launch(platform, _in("cy", segments=[]))
    for bad in ("abc", "0"):
        refused = await web_client.get("/c/outpatient-booking", params={"page": bad})
        assert refused.status == 400
        body = unescape(await refused.text())
        assert '<html lang="cy" dir="ltr">' in body
        assert f'<div class="error" role="alert">{texts_for("cy")("web_no_page")}</div>' in body


async def test_a_refused_form_is_answered_in_the_consultations_language(
    platform: Platform, web_client: Client
) -> None:
    # A form whose token has expired, and one sent without the cookie, posted to a Welsh
    # consultation by a browser that asks for nothing in particular: Welsh, as the page.
    await launch(platform, _in("cy"))
    page = await (await web_client.get("/c/outpatient-booking")).text()
    fields = form_fields(page, "/c/outpatient-booking/consent")
    expired = await web_client.post(
        "/c/outpatient-booking/consent", data={**fields, "csrf": "x" * 40, "answer": "yes"}
    )
    assert expired.status == 403
    assert texts_for("cy")("web_form_expired") in unescape(await expired.text())
    web_client.session.cookie_jar.clear()
    cookieless = await web_client.post(
        "/c/outpatient-booking/consent", data={**fields, "answer": "yes"}
    )
    assert cookieless.status == 400
    assert texts_for("cy")("web_needs_cookies") in unescape(await cookieless.text())


async def test_pages_tied_to_no_consultation_follow_the_browser(web_client: Client) -> None:
    page = await (await web_client.get("/", headers={"Accept-Language": "es-ES,es;q=0.9"})).text()
    assert '<html lang="es-ES" dir="ltr">' in page
    assert texts_for("es")("web_index_title") in unescape(page)
    missing = await web_client.get("/c/nothing-here", headers={"Accept-Language": "fr, cy;q=0.5"})
    assert missing.status == 404
    assert texts_for("cy")("web_not_found") in unescape(await missing.text())
    english = await (await web_client.get("/")).text()
    assert BUILTIN["web_index_title"] in english


async def test_every_participant_page_is_small_and_needs_no_script(
    platform: Platform, web_client: Client
) -> None:
    await launch(platform, _in("cy"))
    seen = [await (await web_client.get("/")).text()]
    seen.append(await (await web_client.get("/c/outpatient-booking")).text())
    seen.append(
        await (
            await _post(web_client, "/c/outpatient-booking/consent", seen[-1], answer="yes")
        ).text()
    )
    seen.append(
        await (
            await _post(
                web_client, "/c/outpatient-booking/answers", seen[-1], **{"segment:role": "Staff"}
            )
        ).text()
    )
    seen.append(
        await (
            await _post(
                web_client,
                "/c/outpatient-booking/answers",
                seen[-1],
                **{"item:ease": "Hard", "item:one-thing": "Atgoffa fi"},
            )
        ).text()
    )
    seen.append(await (await web_client.get("/c/nothing-here")).text())
    seen.append(await (await _post(web_client, "/c/outpatient-booking/erase", seen[4])).text())
    assert '<li lang="cy"><a href="/c/outpatient-booking">' in seen[0]  # language of parts
    sizes = [len(page.encode("utf-8")) for page in seen]
    assert max(sizes) < PAGE_LIMIT, sizes
    assert not any("<script" in page.lower() for page in seen)


# -- the command line ----------------------------------------------------------------------


def test_validate_warns_about_a_language_without_a_full_catalogue(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    french = write_spec(tmp_path, _in("fr", texts={"stop_reply": "Au revoir."}), "fr.yaml")
    code, out, err = engage(capsys, "consultation", "validate", french)
    assert code == 0
    assert "valid" in out
    assert f"{french}: warning: language: 'fr' has no full catalogue" in err
    assert "consent_yes" in err and "help_reply" in err
    assert "stop_reply" not in err  # the spec words it itself

    welsh = write_spec(tmp_path, _in("cy"), "cy.yaml")
    code, _, err = engage(capsys, "consultation", "validate", welsh)
    assert code == 0
    assert "warning: language" not in err
    # Without a region of its own, a consultation in Welsh offers the UK's helplines.
    assert "helplines of UK" in err
    assert parse_spec(_in("cy")).safety.region == "UK"
    assert parse_spec(_in("cy", safety={"region": "AU"})).safety.region == "AU"


async def test_web_recontact_question_and_statement_errors_in_the_language(
    platform: Platform, web_client: Client
) -> None:
    await launch(platform, _in("cy", segments=[]))
    welsh = texts_for("cy")
    page = unescape(await (await web_client.get("/c/outpatient-booking")).text())
    assert welsh("recontact_ask") in page
    assert f'<label for="recontact-yes">{welsh("recontact_yes")}</label>' in page
    assert welsh("web_recontact_hint") in page
    assert "May we contact you again" not in page
    # A vote sent to an item that takes no statements: an error page in Welsh.
    page = await (await web_client.get("/c/outpatient-booking")).text()
    refused = await _post(
        web_client,
        "/c/outpatient-booking/consent",
        page,
        answer="yes",
    )
    page = await refused.text()
    wrong = await web_client.post(
        "/c/outpatient-booking/statements/reminder",
        data={**form_fields(page, "/c/outpatient-booking/answers"), "vote": "agree"},
    )
    assert wrong.status == 404
    body = unescape(await wrong.text())
    assert '<html lang="cy" dir="ltr">' in body
    assert welsh("statements_web_no_item") in body


async def test_outage_page_follows_the_browser(web_client: Client) -> None:
    request = make_mocked_request(
        "GET", "/c/outpatient-booking", headers={"Accept-Language": "es"}, app=web_client.app
    )
    answer = unavailable(request)
    assert answer.status == 503
    assert answer.headers["Retry-After"].isdigit()
    body = unescape(answer.text or "")
    assert texts_for("es")("web_unavailable") in body
    # How long to wait, in the language, as Retry-After says it.
    assert f"dentro de {answer.headers['Retry-After']} segundos." in body
    assert "try again in a moment" not in body
    english = unavailable(make_mocked_request("GET", "/c/x", app=web_client.app))
    assert "try again in a moment" in (english.text or "")


async def test_a_spec_that_keeps_staff_names_keeps_them_in_a_thread_post(
    platform: Platform, web_client: Client
) -> None:
    data = spec_data(segments=[], safety={"region": "UK", "keep_staff_names": True})
    await launch(platform, data)
    page = await (await web_client.get("/c/outpatient-booking")).text()
    page = await (
        await _post(web_client, "/c/outpatient-booking/consent", page, answer="yes")
    ).text()
    post = "Nurse Amy rang the day before, like that. I'm Sarah Jones, 07700 900123."
    page = await (
        await _post(web_client, "/c/outpatient-booking/threads/reminder", page, text=post)
    ).text()
    async with platform.sessionmaker() as session:
        stored = await session.scalar(select(Response.text))
    assert stored == "Nurse Amy rang the day before, like that. I'm [name], [phone]."


async def test_the_goodbye_speaks_of_answers_kept_only_to_someone_who_gave_any(
    platform: Platform,
) -> None:
    """STOP after an answer says the answers are kept and how to erase them; STOP before
    any says only that nothing more will be asked, in the consultation's language."""
    await launch(platform, _in("es"))
    texts = texts_for("es")
    answered, silent = Person("es-answered"), Person("es-silent")
    for person in (answered, silent):
        await deliver(platform, person.starts("outpatient-booking"))
        await deliver(platform, person.answers(CONSENT, texts("consent_yes")))
        await deliver(platform, person.answers(RECONTACT, texts("recontact_no")))
    await deliver(platform, answered.answers("role", "Patient"))
    said = await _conversation(platform, answered, "BASTA")
    assert said[-1].text == texts("stop_reply")
    assert "/delete" in said[-1].text
    said = await _conversation(platform, silent, "BASTA")
    assert said[-1].text == texts("stop_reply_none")
    assert "/delete" not in said[-1].text
