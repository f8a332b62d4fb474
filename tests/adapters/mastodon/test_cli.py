"""`engage consultation create/launch/close` with Mastodon configured."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import pytest
import yaml
from sqlalchemy import select

from adapters.mastodon import limits
from bot.cli import main
from bot.config import load_settings
from consultations.keys import Keyring
from storage import queries
from storage.db import create_engine, create_sessionmaker
from storage.tables import AuditEvent, PollTally, Publication, ScheduledAction
from tests.conftest import TEST_KEY, TEST_SECRET
from tests.fakes.mastodon_server import InstanceLimits, MastodonServer
from tests.helpers import spec_data

T = TypeVar("T")


@pytest.fixture
def server(
    monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path
) -> Iterator[MastodonServer]:
    limits._looked_up.clear()
    with MastodonServer(limits=InstanceLimits(max_options=5)) as running:
        monkeypatch.setenv("ENGAGE_DATABASE_URL", database_url)
        monkeypatch.setenv("ENGAGE_SECRET_KEY", TEST_SECRET)
        monkeypatch.setenv("ENGAGE_PSEUDONYM_KEY", TEST_KEY)
        monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
        monkeypatch.setenv("MASTODON_API_BASE_URL", running.base_url)
        monkeypatch.setenv("MASTODON_ACCESS_TOKEN", running.bot_token)
        monkeypatch.chdir(tmp_path)
        yield running


async def _stored(table: type[T]) -> list[T]:
    engine = create_engine(load_settings().database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            return list((await session.scalars(select(table))).all())
    finally:
        await engine.dispose()


def test_create_launch_vote_close(
    server: MastodonServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(spec_data(channels=["web", "mastodon"]), sort_keys=False))
    assert main(["consultation", "create", str(spec)]) == 0
    assert main(["consultation", "launch", "outpatient-booking"]) == 0
    out = capsys.readouterr().out
    assert "mastodon: 4 posts published" in out

    posts = asyncio.run(_stored(Publication))
    [poll] = [p for p in posts if p.kind == "poll"]
    keys = Keyring(load_settings().pseudonym_key)
    poll_ref = queries.publication_ref(keys, poll)
    server.vote("alice", poll_ref.removeprefix("poll:"), 2)

    assert main(["consultation", "close", "outpatient-booking"]) == 0
    [tally] = asyncio.run(_stored(PollTally))
    assert (tally.final, tally.counts["Neither"]) == (True, 1)


def test_a_launch_whose_token_is_refused_says_so_on_one_line_and_leaves_it_for_later(
    server: MastodonServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(spec_data(channels=["web", "mastodon"]), sort_keys=False))
    assert main(["consultation", "create", str(spec)]) == 0
    capsys.readouterr()
    server.revoke(server.bot_token)
    assert main(["consultation", "launch", "outpatient-booking"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "MASTODON_ACCESS_TOKEN: the Mastodon instance rejected the access token" in err
    assert server.bot_token not in err
    actions = asyncio.run(_stored(ScheduledAction))
    assert [a.action for a in actions] == ["open:mastodon"]  # published after the restart
    (launch,) = [e for e in asyncio.run(_stored(AuditEvent)) if e.action == "consultation.launch"]
    assert launch.detail is not None and launch.detail["refused"] == ["mastodon"], launch.detail
