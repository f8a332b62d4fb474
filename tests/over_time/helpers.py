"""Specs and steps shared by the tests of engagement over time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from bot.platform import Platform
from storage.tables import Consultation
from tests.helpers import spec_data

OPTIONS = ["Essential", "Important", "Neutral", "Unimportant", "Not needed"]
NO_QUIET_HOURS = {"start": "00:00", "end": "00:00"}


def delphi_spec(rounds: int = 2, **changes: Any) -> dict[str, Any]:
    """A priority-setting consultation: one poll asked in rounds 48 hours apart.

    No quiet hours unless a test gives some: a round's question is held in them, and the
    tests open rounds at whatever time of day they run.
    """
    data = spec_data(
        id="evening-clinics",
        title="Evening clinics",
        model="priority-setting",
        segments=[],
        consent={"text": "We use your answers to plan clinics. Reply STOP to leave."},
        items=[
            {
                "id": "priority",
                "type": "poll",
                "text": "How important are evening clinics to you?",
                "options": list(OPTIONS),
                "rounds": rounds,
                "round_gap": "48h",
            }
        ],
    )
    data["consent"]["recontact"] = False
    data["quiet_hours"] = NO_QUIET_HOURS
    data.update(changes)
    return data


async def opened_at(platform: Platform, consultation_id: str) -> datetime:
    async with platform.sessionmaker() as session:
        row = await session.get(Consultation, consultation_id)
    assert row is not None and row.opened_at is not None
    return row.opened_at


def clock_at(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


def after(start: datetime, hours: float) -> Callable[[], datetime]:
    return clock_at(start + timedelta(hours=hours))


async def rows(platform: Platform, table: Any, *where: Any) -> list[Any]:
    async with platform.sessionmaker() as session:
        return list((await session.scalars(select(table).where(*where))).all())


def timed_spec(start: datetime, **changes: Any) -> dict[str, Any]:
    """A timed chat: two questions, ten and twenty minutes after ``start``."""
    data = spec_data(
        id="clinic-chat",
        title="Clinic chat hour",
        model="timed-chat",
        segments=[],
        consent={"text": "We use this chat to improve the clinic. Reply STOP to leave."},
        items=[
            {
                "id": "waiting",
                "type": "prompt",
                "text": "What is the waiting room like?",
                "at": (start + timedelta(minutes=10)).isoformat(),
            },
            {
                "id": "parking",
                "type": "prompt",
                "text": "How was parking?",
                "at": (start + timedelta(minutes=20)).isoformat(),
            },
        ],
    )
    data["consent"]["recontact"] = False
    data.update(changes)
    return data


def listening_spec(**changes: Any) -> dict[str, Any]:
    """A listening consultation: public #CityHospital posts, kept 30 days."""
    data = spec_data(
        id="city-hospital-listening",
        title="What people say about City Hospital",
        model="listening",
        channels=["mastodon"],
        segments=[],
        consent={"text": "We read public posts tagged #CityHospital to improve our services."},
        items=[],
        mastodon={"listen": ["#CityHospital"]},
        retention="30d",
    )
    data["consent"]["recontact"] = False
    data.update(changes)
    return data
