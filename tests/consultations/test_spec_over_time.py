"""Spec fields of engagement over time: rounds, round_gap, at, mastodon.listen, retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from consultations.spec import SpecError, parse_spec
from tests.over_time.helpers import delphi_spec, listening_spec, timed_spec


def problems(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(SpecError) as caught:
        parse_spec(data)
    return {p.path: p.message for p in caught.value.problems}


def test_rounds_round_gap_at_listen_and_retention_are_read_and_written_back() -> None:
    spec = parse_spec(delphi_spec(rounds=3))
    [item] = spec.items
    assert (item.rounds, item.round_gap) == (3, timedelta(hours=48))
    assert parse_spec(spec.to_dict()) == spec
    start = datetime(2026, 12, 1, 9, tzinfo=UTC)
    chat = parse_spec(timed_spec(start))
    assert [i.at for i in chat.timed_items] == [
        start + timedelta(minutes=10),
        start + timedelta(minutes=20),
    ]
    assert parse_spec(chat.to_dict()) == chat
    listening = parse_spec(listening_spec())
    assert listening.mastodon.listen == ("#CityHospital",)
    assert listening.retention == timedelta(days=30) and listening.items == ()
    assert parse_spec(listening.to_dict()) == listening
    assert parse_spec(listening_spec(retention=None)).retention == timedelta(days=90)


def test_each_mistake_names_its_field() -> None:
    data = delphi_spec()
    data["items"] = [
        {"id": "a", "type": "poll", "text": "A?", "options": ["x", "y"], "rounds": 4},
        {"id": "b", "type": "poll", "text": "B?", "options": ["x", "y"], "rounds": 2},
        {"id": "c", "type": "prompt", "text": "C?", "rounds": 2, "round_gap": "1d"},
        {"id": "d", "type": "poll", "text": "D?", "options": ["x", "y"], "round_gap": "soon"},
        {"id": "e", "type": "prompt", "text": "E?", "at": "2026-12-01"},
    ]
    data["mastodon"] = {"listen": ["CityHospital", "#ok", "#OK"]}
    data["retention"] = "forever"
    found = problems(data)
    assert "from 1 to 3" in found["items[0].rounds"]
    assert "needs the time between rounds" in found["items[1].round_gap"]
    assert "only polls can be asked in rounds" in found["items[2].rounds"]
    assert "48h" in found["items[3].round_gap"]
    assert "needs a time and a timezone" in found["items[4].at"]
    assert "must be a hashtag" in found["mastodon.listen[0]"]
    assert "listed twice" in found["mastodon.listen[2]"]
    assert "length of time" in found["retention"]


def test_only_listening_may_have_no_items() -> None:
    assert "items" in problems(delphi_spec(items=[]))
