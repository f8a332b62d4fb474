"""/healthz, /readyz, /metrics and JSON log lines, as operators use them."""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.config import ConfigError, Settings, load_settings
from bot.console import JsonLogFormatter
from bot.platform import Platform, configured_adapters, create_platform
from bot.web.app import create_app
from consultations import moderation
from storage.tables import InboxEntry
from tests.conftest import TEST_KEY, TEST_SECRET
from tests.helpers import launch

Client = TestClient[Any, Any]


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in the metrics")


async def test_alive_ready_and_metrics(platform: Platform, settings: Settings) -> None:
    await launch(platform)
    async with platform.sessionmaker.begin() as session:
        session.add(InboxEntry(channel="telegram", event_id="r:one", payload="sealed"))
        session.add(InboxEntry(channel="telegram", event_id="r:two", payload="sealed"))
        moderation.open_case(
            session, consultation_id="outpatient-booking", response_id=None, reason="review"
        )
    # Without its background work the process is alive but not ready.
    quiet = create_app(settings, platform=platform, adapters=configured_adapters, background=False)
    quiet.cleanup_ctx.clear()
    async with TestClient(TestServer(quiet)) as client:
        assert (await client.get("/healthz")).status == 200
        not_ready = await client.get("/readyz")
        assert not_ready.status == 503
        assert "background work not started" in (await not_ready.json())["problems"]
        await client.get("/c/outpatient-booking")
        page = await client.get("/metrics")  # from the loopback address
        assert page.status == 200
        body = await page.text()
    assert _metric(body, "engage_inbox_depth") == 2
    assert _metric(body, "engage_inbox_lag_seconds") >= 0
    assert _metric(body, "engage_safety_cases_open") == 1
    assert 'engage_request_seconds_count{method="GET",route="/c/{cid}"}' in body


async def test_ready_once_the_background_work_runs(platform: Platform, settings: Settings) -> None:
    app = create_app(settings, platform=platform, adapters=configured_adapters)
    async with TestClient(TestServer(app)) as client:
        ready = await client.get("/readyz")
        assert ready.status == 200 and (await ready.json()) == {"status": "ready"}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_not_ready_while_another_process_holds_the_sqlite_write_lock(
    platform: Platform, settings: Settings
) -> None:
    app = create_app(settings, platform=platform, adapters=configured_adapters)
    path = platform.engine.url.database
    assert path is not None
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/readyz")).status == 200
        # Another process's exclusive transaction: reads still answer, writes wait.
        holder = sqlite3.connect(path, isolation_level=None)
        try:
            holder.execute("BEGIN EXCLUSIVE")
            locked = await client.get("/readyz")
            assert locked.status == 503
            assert (await locked.json())["problems"] == [
                "database: the database is locked by another process"
            ]
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert (await client.get("/readyz")).status == 200


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A folder on a file system of its own, 8 MiB, to fill."""
    if os.geteuid() != 0:
        pytest.skip("a small file system of its own needs root (mount)")
    folder = tmp_path / "small"
    folder.mkdir()
    # As root the mount must work: a failure is the test's, not a reason to pass over it.
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(folder)],
        capture_output=True,
        check=True,
    )
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def _fill(path: Path) -> None:
    """Write ``path`` until the disk has no room left."""
    with path.open("wb") as filler:
        try:
            while True:
                filler.write(b"\0" * 65536)
                filler.flush()
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise


async def test_not_ready_while_the_sqlite_files_disk_is_full(
    small_disk: Path, sqlite_template: Path
) -> None:
    shutil.copy(sqlite_template, small_disk / "engage.db")
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{small_disk / 'engage.db'}",
        public_url="http://127.0.0.1:8080",
        secret_key=TEST_SECRET,
        pseudonym_key=TEST_KEY,
    )
    platform = create_platform(settings)
    app = create_app(settings, platform=platform, adapters=configured_adapters)
    try:
        async with TestClient(TestServer(app)) as client:
            assert (await client.get("/readyz")).status == 200
            _fill(small_disk / "filler")
            full = await client.get("/readyz")
            assert full.status == 503
            assert (await full.json())["problems"] == ["database: the disk is full"]
            (small_disk / "filler").unlink()
            assert (await client.get("/readyz")).status == 200
    finally:
        await platform.aclose()


async def test_metrics_with_a_token_need_it(platform: Platform, settings: Settings) -> None:
    guarded = replace(settings, metrics_token="m" * 24)
    app = create_app(guarded, platform=platform, adapters=configured_adapters, background=False)
    app.cleanup_ctx.clear()
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/metrics")).status == 403
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status == 403
        right = await client.get("/metrics", headers={"Authorization": "Bearer " + "m" * 24})
        assert right.status == 200 and "engage_outbox_rows" in await right.text()


async def test_metrics_behind_a_proxy_on_this_machine_are_for_local_clients_only(
    platform: Platform, settings: Settings
) -> None:
    """The proxy connects from the loopback; the client it forwards for is who asks."""
    proxied = replace(settings, trusted_proxies=("127.0.0.1/32",))
    app = create_app(proxied, platform=platform, adapters=configured_adapters, background=False)
    app.cleanup_ctx.clear()
    async with TestClient(TestServer(app)) as client:
        for forwarded_for, status in [
            (None, 200),  # a scraper on this machine, not through the proxy
            ("127.0.0.1", 200),  # a client on this machine, through the proxy
            ("::1", 200),
            ("8.8.8.8", 403),
            ("127.0.0.1, 8.8.8.8", 403),  # the left entry was written by the client
            ("2001:db8::1", 403),
            ("not an address", 403),
        ]:
            headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
            response = await client.get("/metrics", headers=headers)
            assert response.status == status, forwarded_for


def test_json_log_lines() -> None:
    record = logging.LogRecord("engage.test", logging.WARNING, __file__, 1, "sent %d", (3,), None)
    line = JsonLogFormatter().format(record)
    entry = json.loads(line)
    assert (entry["level"], entry["logger"], entry["message"]) == (
        "warning",
        "engage.test",
        "sent 3",
    )
    assert "\n" not in line


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"ENGAGE_LOG_FORMAT": "xml"}, "ENGAGE_LOG_FORMAT"),
        ({"ENGAGE_METRICS_TOKEN": "short"}, "ENGAGE_METRICS_TOKEN"),
        ({"TELEGRAM_MESSAGES_PER_SECOND": "fast"}, "TELEGRAM_MESSAGES_PER_SECOND"),
        ({"TELEGRAM_MESSAGES_PER_SECOND": "0"}, "TELEGRAM_MESSAGES_PER_SECOND"),
        ({"TELEGRAM_MESSAGES_PER_SECOND": "5000"}, "TELEGRAM_MESSAGES_PER_SECOND"),
        ({"MASTODON_STREAM_TIMEOUT": "soon"}, "MASTODON_STREAM_TIMEOUT"),
        ({"MASTODON_STREAM_TIMEOUT": "0"}, "MASTODON_STREAM_TIMEOUT"),
    ],
)
def test_bad_operations_settings_name_the_variable(
    env: dict[str, str], name: str, tmp_path: Any
) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings(env, key_dir=tmp_path)


def test_pace_and_stream_timeout_are_read(tmp_path: Any) -> None:
    settings = load_settings(
        {"TELEGRAM_MESSAGES_PER_SECOND": "100", "MASTODON_STREAM_TIMEOUT": "20"},
        key_dir=tmp_path,
    )
    assert settings.telegram_messages_per_second == 100.0
    assert settings.mastodon_stream_timeout == 20.0
    defaults = load_settings({}, key_dir=tmp_path)
    assert (defaults.telegram_messages_per_second, defaults.mastodon_stream_timeout) == (30.0, 45.0)
