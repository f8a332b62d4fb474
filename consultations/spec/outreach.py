"""Engagement over time: follow-ups, reminders and quiet hours, as spec settings.

A consultation may follow earlier ones (``follow_up``: their participants who agreed to
be contacted again are invited on their own channel), remind people who started and
did not finish (``reminder``), and keep what it sends out of the night (``quiet_hours``
in the spec's ``timezone``). These are pure values and the arithmetic on them; the
runtime decides when to apply them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "INVITE_MODES",
    "FollowUp",
    "QuietHours",
    "Reminder",
    "format_duration",
    "parse_duration",
    "parse_time_of_day",
    "zone",
]

INVITE_MODES: tuple[str, ...] = ("recontact",)
"""Who a follow-up invites: ``recontact``, only people who agreed to be contacted again."""

_DURATION = re.compile(r"^\s*(\d{1,5})\s*(m|h|d|w)\s*\Z")
_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}
_TIME_OF_DAY = re.compile(r"^\s*([01]?\d|2[0-3]):([0-5]\d)\s*\Z")


def parse_duration(text: str) -> timedelta | None:
    """``"90m"``, ``"48h"``, ``"2d"`` or ``"1w"`` as a timedelta; ``None`` if it is not one."""
    match = _DURATION.match(text)
    if match is None or int(match.group(1)) == 0:
        return None
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def format_duration(value: timedelta) -> str:
    """The shortest spec form of a duration made by :func:`parse_duration`."""
    seconds = int(value.total_seconds())
    for unit in ("w", "d", "h", "m"):
        if seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds // 60}m"


def parse_time_of_day(text: str) -> time | None:
    """``"21:00"`` as a time; ``None`` if it is not a 24-hour ``HH:MM``."""
    match = _TIME_OF_DAY.match(text)
    if match is None:
        return None
    return time(int(match.group(1)), int(match.group(2)))


def zone(name: str) -> ZoneInfo | None:
    """The IANA time zone called ``name`` (e.g. ``Australia/Sydney``), if there is one."""
    if not name or name.startswith(("/", ".")) or ".." in name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


@dataclass(frozen=True)
class FollowUp:
    """Earlier consultations whose participants this one invites, and who among them."""

    of: tuple[str, ...]
    invite: str = "recontact"

    def to_dict(self) -> dict[str, Any]:
        """As written in a spec."""
        return {"of": list(self.of), "invite": self.invite}


@dataclass(frozen=True)
class Reminder:
    """One reminder to people who started and did not finish, ``after`` their last answer."""

    after: timedelta

    def to_dict(self) -> dict[str, Any]:
        """As written in a spec."""
        return {"after": format_duration(self.after)}


@dataclass(frozen=True)
class QuietHours:
    """Hours of the day (in the spec's time zone) when nothing is sent out unasked.

    ``start`` equal to ``end`` means no quiet hours. A window that crosses midnight
    (21:00-08:00, the default) is the usual case. Replies to a person who has just
    written are not held: they asked.
    """

    start: time = time(21, 0)
    end: time = time(8, 0)

    @property
    def none(self) -> bool:
        """Whether there are no quiet hours at all."""
        return self.start == self.end

    def to_dict(self) -> dict[str, Any]:
        """As written in a spec."""
        return {"start": self.start.strftime("%H:%M"), "end": self.end.strftime("%H:%M")}

    def to_json(self, timezone: str) -> dict[str, str]:
        """What an outbox row carries so that the sender can hold it (see :func:`wait`)."""
        return {**self.to_dict(), "timezone": timezone}

    def contains(self, moment: datetime, timezone: str) -> bool:
        """Whether ``moment`` (aware) falls inside the quiet hours in ``timezone``."""
        if self.none:
            return False
        local = moment.astimezone(zone(timezone) or UTC).time().replace(tzinfo=None)
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def ends_after(self, moment: datetime, timezone: str) -> datetime:
        """When the quiet hours around ``moment`` end (UTC); ``moment`` if outside them.

        Computed on the local calendar, so a change of daylight-saving time in between
        still ends them at the stated local time.
        """
        if not self.contains(moment, timezone):
            return moment
        tz = zone(timezone) or UTC
        local = moment.astimezone(tz)
        end = datetime.combine(local.date(), self.end, tzinfo=tz)
        if end <= local:
            end = datetime.combine(local.date() + timedelta(days=1), self.end, tzinfo=tz)
        return end.astimezone(UTC)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> tuple[QuietHours, str]:
        """The quiet hours and time zone an outbox row carries (see :meth:`to_json`)."""
        start = parse_time_of_day(str(data.get("start", ""))) or time(21, 0)
        end = parse_time_of_day(str(data.get("end", ""))) or time(8, 0)
        return cls(start, end), str(data.get("timezone") or "UTC")


def held_until(quiet: dict[str, Any] | None, moment: datetime) -> datetime | None:
    """When a message carrying ``quiet`` (from :meth:`QuietHours.to_json`) may go, if held.

    ``None`` when it may go at ``moment``.
    """
    if not quiet:
        return None
    hours, timezone = QuietHours.from_json(quiet)
    if not hours.contains(moment, timezone):
        return None
    return hours.ends_after(moment, timezone)
