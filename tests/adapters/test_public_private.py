"""Public and private (CONTRACT.md): what a person says privately is never shown to others."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot.platform import Platform
from channels.events import EventKind
from storage.tables import ModerationCase, Response
from tests.fakes.channel import Person
from tests.helpers import form_fields, launch, spec_data

Client = TestClient[Any, Any]


async def _through_consent(platform: Platform, person: Person) -> None:
    for event in (
        person.starts("outpatient-booking"),
        person.answers("@consent", "Yes, I agree"),
        person.answers("@recontact", "No, please don't"),
        person.answers("role", "Carer"),
        person.answers("ease", "Easy"),
        person.says("Ring me the day before"),
    ):
        await platform.inbox.receive(event)
        await platform.inbox.process_pending()


async def _on_the_page(web_client: Client) -> str:
    """The consultation's page for someone who consented and said who they are."""
    page = await (await web_client.get("/c/outpatient-booking")).text()
    consent = form_fields(page, "/c/outpatient-booking/consent")
    page = await (
        await web_client.post("/c/outpatient-booking/consent", data={**consent, "answer": "yes"})
    ).text()
    answers = form_fields(page, "/c/outpatient-booking/answers")
    return await (
        await web_client.post(
            "/c/outpatient-booking/answers", data={**answers, "segment:role": "Carer"}
        )
    ).text()


async def test_the_public_page_shows_only_what_was_said_in_public(
    platform: Platform, web_client: Client
) -> None:
    await launch(platform, spec_data(channels=["web", "telegram", "mastodon"]))
    # A private chat on Telegram: the thread answer is private.
    private = Person("1001", channel="telegram")
    await _through_consent(platform, private)
    await platform.inbox.receive(private.says("PRIVATE: the letters never arrive at my flat"))
    await platform.inbox.process_pending()
    # A Mastodon direct message: private too.
    direct = Person("dm-account", channel="mastodon")
    await _through_consent(platform, direct)
    await platform.inbox.receive(direct.says("DIRECT: my daughter reads the texts for me"))
    await platform.inbox.process_pending()
    # A reply in a Telegram group to the thread post: said in public.
    group = Person("2002", channel="telegram")
    await platform.inbox.receive(
        group.event(
            EventKind.TEXT,
            text="GROUP: put the clinic's name first",
            consultation_id="outpatient-booking",
            item_id="reminder",
            public=True,
            platform_ref="chat:-100500:msg:7",
        )
    )
    await platform.inbox.process_pending()
    # On the page itself: public by the page's nature.
    page = await _on_the_page(web_client)
    fields = form_fields(page, "/c/outpatient-booking/threads/reminder")
    await web_client.post(
        "/c/outpatient-booking/threads/reminder", data={**fields, "text": "WEB: say the time"}
    )

    shown = await (await web_client.get("/c/outpatient-booking")).text()
    assert "GROUP: put the clinic" in shown and "WEB: say the time" in shown
    assert "PRIVATE:" not in shown and "DIRECT:" not in shown


async def test_a_thread_reply_released_as_no_disclosure_stays_off_the_page(
    platform: Platform, web_client: Client
) -> None:
    from consultations import moderation

    await launch(platform, spec_data(channels=["web", "telegram"]))
    group = Person("2003", channel="telegram")
    for n, text in enumerate(
        ("GROUP: put the clinic's name first", "GROUP: I keep thinking about killing myself")
    ):
        await platform.inbox.receive(
            group.event(
                EventKind.TEXT,
                text=text,
                consultation_id="outpatient-booking",
                item_id="reminder",
                public=True,
                platform_ref=f"chat:-100500:msg:{20 + n}",
            )
        )
        await platform.inbox.process_pending()
    async with platform.sessionmaker.begin() as session:
        case = await session.scalar(select(ModerationCase))
        assert case is not None
        await moderation.release(session, case.id, "mo@health.example", "Lyrics; checked.")
    async with platform.sessionmaker() as session:
        flags = list(await session.scalars(select(Response.flags).order_by(Response.id)))
    assert flags == [[], ["released"]]

    shown = await _on_the_page(web_client)
    assert "GROUP: put the clinic" in shown
    assert "killing myself" not in shown


async def test_a_thread_post_the_screen_could_not_read_stays_off_the_page(
    platform: Platform, web_client: Client
) -> None:
    await launch(platform, spec_data(channels=["web"]))
    page = await _on_the_page(web_client)
    thread = "/c/outpatient-booking/threads/reminder"
    for text in (
        "WEB: say the time first",
        "Je ne veux plus vivre. J'ai gardé des comprimés et je vais le faire ce soir.",
    ):
        page = await (
            await web_client.post(thread, data={**form_fields(page, thread), "text": text})
        ).text()
    async with platform.sessionmaker() as session:
        flags = list(
            await session.scalars(
                select(Response.flags).where(Response.item_id == "reminder").order_by(Response.id)
            )
        )
        reasons = list(await session.scalars(select(ModerationCase.reason)))
    assert flags == [[], ["review"]]
    assert reasons == ["review"]

    # Someone else on the page: the post waits for a person, it is not shown.
    web_client.session.cookie_jar.clear()
    shown = await _on_the_page(web_client)
    assert "WEB: say the time first" in shown
    assert "comprimés" not in shown
