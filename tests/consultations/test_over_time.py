"""Spec settings for engagement over time: follow-ups, reminders, quiet hours, time zone."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from consultations.spec import QuietHours, SpecError, parse_spec
from consultations.spec.outreach import held_until, parse_duration
from tests.helpers import spec_data


def test_follow_up_reminder_quiet_hours_and_timezone_are_read_and_written_back() -> None:
    spec = parse_spec(
        spec_data(
            id="booking-loop",
            model="closing-the-loop",
            follow_up={"of": ["outpatient-booking"], "invite": "recontact"},
            reminder={"after": "48h"},
            quiet_hours={"start": "22:00", "end": "07:30"},
            timezone="Australia/Sydney",
        )
    )
    assert spec.follow_up is not None and spec.follow_up.of == ("outpatient-booking",)
    assert spec.reminder is not None and spec.reminder.after == timedelta(hours=48)
    assert spec.quiet_hours == QuietHours(time(22, 0), time(7, 30))
    assert spec.timezone == "Australia/Sydney"
    assert parse_spec(spec.to_dict()) == spec
    assert spec.to_dict()["reminder"] == {"after": "2d"}


def test_defaults_are_quiet_from_nine_to_eight_in_utc_and_not_written_out() -> None:
    spec = parse_spec(spec_data())
    assert spec.follow_up is None and spec.reminder is None
    assert spec.quiet_hours == QuietHours(time(21, 0), time(8, 0))
    assert spec.timezone == "UTC"
    assert not {"follow_up", "reminder", "quiet_hours", "timezone"} & set(spec.to_dict())


def test_every_problem_is_named_with_its_field() -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(
            spec_data(
                follow_up={"of": ["outpatient-booking", "Old Survey"], "invite": "everyone"},
                reminder={"after": "soon"},
                quiet_hours={"start": "25:00", "end": "8"},
                timezone="Mars/Olympus",
            )
        )
    problems = {p.path: p.message for p in caught.value.problems}
    assert "is this consultation" in problems["follow_up.of[0]"]
    assert "not a valid id" in problems["follow_up.of[1]"]
    assert "choose recontact" in problems["follow_up.invite"]
    assert "48h, 2d or 90m" in problems["reminder.after"]
    assert "24-hour time" in problems["quiet_hours.start"]
    assert "24-hour time" in problems["quiet_hours.end"]
    assert "IANA name" in problems["timezone"]


def test_unknown_fields_inside_the_new_sections_are_errors() -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(spec_data(id="x", follow_up={"of": ["y"], "invite": "recontact", "when": 1}))
    assert [p.path for p in caught.value.problems] == ["follow_up.when"]


@pytest.mark.parametrize("text", ["0h", "48", "h", "-1d", "1y", "2 weeks", ""])
def test_durations_that_are_not_durations(text: str) -> None:
    assert parse_duration(text) is None


def test_one_parser_reads_reminders_round_gaps_and_retention() -> None:
    assert parse_duration("90m") == timedelta(minutes=90)
    assert parse_duration("48h") == timedelta(hours=48)
    assert parse_duration("1w") == timedelta(days=7)


def test_quiet_hours_across_midnight_in_a_time_zone() -> None:
    quiet = QuietHours()  # 21:00-08:00
    sydney = ZoneInfo("Australia/Sydney")
    late = datetime(2031, 6, 10, 21, 0, tzinfo=sydney)
    assert quiet.contains(late, "Australia/Sydney")
    assert not quiet.contains(late - timedelta(seconds=1), "Australia/Sydney")
    assert quiet.ends_after(late, "Australia/Sydney") == datetime(
        2031, 6, 11, 8, 0, tzinfo=sydney
    ).astimezone(UTC)
    early = datetime(2031, 6, 11, 7, 59, tzinfo=sydney)
    assert quiet.ends_after(early, "Australia/Sydney") == datetime(
        2031, 6, 11, 8, 0, tzinfo=sydney
    ).astimezone(UTC)
    assert held_until(quiet.to_json("Australia/Sydney"), early + timedelta(minutes=1)) is None


def test_quiet_hours_end_at_local_eight_across_a_daylight_saving_change() -> None:
    # Sydney moves its clocks forward at 02:00 on 5 October 2031.
    sydney = ZoneInfo("Australia/Sydney")
    evening = datetime(2031, 10, 4, 22, 0, tzinfo=sydney)
    end = QuietHours().ends_after(evening, "Australia/Sydney")
    assert end.astimezone(sydney).hour == 8
    assert end - evening.astimezone(UTC) == timedelta(hours=9)  # one hour fewer that night


def test_equal_start_and_end_means_no_quiet_hours() -> None:
    never = QuietHours(time(0, 0), time(0, 0))
    assert never.none
    assert not never.contains(datetime(2031, 1, 1, 3, 0, tzinfo=UTC), "UTC")
