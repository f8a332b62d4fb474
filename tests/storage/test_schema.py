"""The real migrations on both databases: up, down to base, and up again."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.platform import Platform
from migrations import apply as migrate
from storage.db import create_engine
from storage.tables import Base


async def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


async def test_upgrade_downgrade_to_base_and_upgrade_again(database_url: str) -> None:
    expected = {table.name for table in Base.metadata.sorted_tables}
    assert expected <= await _tables(database_url)
    await migrate.downgrade_async(database_url, "base")
    assert not expected & await _tables(database_url)
    await migrate.upgrade_async(database_url)
    assert expected <= await _tables(database_url)


async def test_migrations_match_the_models(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    def diff(connection: AsyncConnection) -> list[object]:
        context = MigrationContext.configure(connection)  # type: ignore[arg-type]
        return list(compare_metadata(context, Base.metadata))

    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(diff)  # type: ignore[arg-type]
    finally:
        await engine.dispose()
    assert differences == []


async def dump_all(platform: Platform) -> str:
    """Every row of every table as text, to search for what must not be there."""
    rows: list[str] = []
    async with platform.sessionmaker() as session:
        for table in Base.metadata.sorted_tables:
            for row in (await session.execute(select(table))).all():
                rows.append(json.dumps([str(value) for value in row]))
    return "\n".join(rows)


postgresql_only = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


async def _queue_options(url: str) -> dict[str, list[str]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text(
                    "SELECT relname, coalesce(reloptions, '{}') FROM pg_class "
                    "WHERE relname IN ('inbox', 'outbox') AND relkind = 'r'"
                )
            )
            return {name: sorted(options) for name, options in rows}
    finally:
        await engine.dispose()


@postgresql_only
async def test_the_queues_are_vacuumed_after_a_small_share_of_changes(database_url: str) -> None:
    # Queue tables churn: with PostgreSQL's default thresholds their statistics and
    # indexes went stale within minutes of a busy soak (migration 0012).
    wanted = [
        "autovacuum_analyze_scale_factor=0.01",
        "autovacuum_analyze_threshold=1000",
        "autovacuum_vacuum_scale_factor=0.01",
        "autovacuum_vacuum_threshold=1000",
    ]
    assert await _queue_options(database_url) == {"inbox": wanted, "outbox": wanted}
    await migrate.downgrade_async(database_url, "0011_inbox_sender")
    assert await _queue_options(database_url) == {"inbox": [], "outbox": []}
    await migrate.upgrade_async(database_url)
    assert await _queue_options(database_url) == {"inbox": wanted, "outbox": wanted}


async def _case_references(url: str) -> tuple[dict[str, str | None], set[str]]:
    """moderation_case: what deleting each referenced row does, and the columns."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:

            def read(sync: Any) -> tuple[dict[str, str | None], set[str]]:
                found = inspect(sync)
                references = {
                    fk["constrained_columns"][0]: fk.get("options", {}).get("ondelete")
                    for fk in found.get_foreign_keys("moderation_case")
                }
                columns = {c["name"] for c in found.get_columns("moderation_case")}
                return references, columns

            return await connection.run_sync(read)
    finally:
        await engine.dispose()


async def test_cases_outlive_their_person_from_0016_and_downgrade_restores_the_cascade(
    database_url: str,
) -> None:
    references, columns = await _case_references(database_url)
    assert references == {"response_id": "SET NULL", "participant_id": "SET NULL"}
    assert {"erased_at", "alert_claimed_until"} <= columns
    await migrate.downgrade_async(database_url, "0015_alert_claims")
    references, columns = await _case_references(database_url)
    assert references == {"response_id": "CASCADE", "participant_id": "CASCADE"}
    assert "erased_at" not in columns and "alert_claimed_until" in columns
    await migrate.downgrade_async(database_url, "0014_inbox_claim_index")
    assert "alert_claimed_until" not in (await _case_references(database_url))[1]
    await migrate.upgrade_async(database_url)
    references, columns = await _case_references(database_url)
    assert references == {"response_id": "SET NULL", "participant_id": "SET NULL"}
    assert {"erased_at", "alert_claimed_until"} <= columns


async def _accounts(url: str) -> tuple[dict[str, Any], list[str], set[str]]:
    """user_account: each email's removed_at (or "no column"), the sessions' owners, the
    columns."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            columns = await connection.run_sync(
                lambda sync: {c["name"] for c in inspect(sync).get_columns("user_account")}
            )
            removed = "removed_at" if "removed_at" in columns else "'no column'"
            rows = await connection.execute(
                text(f"SELECT email, {removed} FROM user_account ORDER BY email")
            )
            owners = await connection.execute(
                text(
                    "SELECT u.email FROM user_session s JOIN user_account u ON u.id = s.user_id "
                    "ORDER BY u.email"
                )
            )
            return {email: at for email, at in rows}, list(owners.scalars()), columns
    finally:
        await engine.dispose()


async def _execute(url: str, *statements: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            for statement in statements:
                await connection.execute(text(statement))
    finally:
        await engine.dispose()


async def test_removed_accounts_from_0017_and_downgrade_drops_them(database_url: str) -> None:
    await _execute(
        database_url,
        "INSERT INTO user_account (id, email, password_hash, role, created_at, removed_at) "
        "VALUES (1, 'stays@health.example', 'h', 'admin', CURRENT_TIMESTAMP, NULL), "
        "(2, 'left@health.example', 'h', 'lead', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        "INSERT INTO user_session (id, user_id, created_at, last_seen_at) "
        "VALUES ('a', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
    )
    removed, _, columns = await _accounts(database_url)
    assert {"removed_at", "last_login_at"} <= columns
    assert removed["left@health.example"] is not None

    await migrate.downgrade_async(database_url, "0016_case_erasure")

    # A removed account does not come back able to sign in: its row goes.
    removed, owners, columns = await _accounts(database_url)
    assert removed == {"stays@health.example": "no column"}
    assert owners == ["stays@health.example"]
    assert not {"removed_at", "last_login_at"} & columns

    await migrate.upgrade_async(database_url)

    removed, owners, _ = await _accounts(database_url)
    assert removed == {"stays@health.example": None}
    assert owners == ["stays@health.example"]  # signing-in sessions outlive the upgrade


async def _password_due(url: str) -> dict[str, Any]:
    """Each account's must_change_password, as stored."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT email, must_change_password FROM user_account ORDER BY email")
            )
            return {email: bool(due) for email, due in rows}
    finally:
        await engine.dispose()


async def test_a_password_change_due_from_0018_and_downgrade_keeps_the_accounts(
    database_url: str,
) -> None:
    await migrate.downgrade_async(database_url, "0017_account_removal")
    # Accounts made before: their passwords are taken as their own.
    await _execute(
        database_url,
        "INSERT INTO user_account (id, email, password_hash, role, created_at) "
        "VALUES (1, 'before@health.example', 'h', 'admin', CURRENT_TIMESTAMP)",
        "INSERT INTO user_session (id, user_id, created_at, last_seen_at) "
        "VALUES ('a', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
    )
    await migrate.upgrade_async(database_url)
    assert await _password_due(database_url) == {"before@health.example": False}
    _, owners, _ = await _accounts(database_url)
    assert owners == ["before@health.example"]  # signed in before, signed in still
    await _execute(
        database_url,
        "INSERT INTO user_account (id, email, password_hash, role, created_at, "
        "must_change_password) VALUES (2, 'reset@health.example', 'h', 'lead', "
        "CURRENT_TIMESTAMP, TRUE)",
    )
    assert await _password_due(database_url) == {
        "before@health.example": False,
        "reset@health.example": True,
    }

    await migrate.downgrade_async(database_url, "0017_account_removal")

    removed, owners, columns = await _accounts(database_url)
    assert "must_change_password" not in columns
    assert set(removed) == {"before@health.example", "reset@health.example"}
    await migrate.upgrade_async(database_url)
    assert await _password_due(database_url) == {
        "before@health.example": False,
        "reset@health.example": False,
    }


async def test_how_a_case_was_flagged_from_0019_and_downgrade_keeps_the_cases(
    database_url: str,
) -> None:
    await migrate.downgrade_async(database_url, "0018_password_change")
    assert "flagged_by" not in (await _case_references(database_url))[1]
    # A case opened before: how it was flagged was not kept, and is not guessed.
    await _execute(
        database_url,
        "INSERT INTO moderation_case (id, consultation_id, reason, status, created_at, urgent) "
        "VALUES (1, 'c', 'safety', 'open', CURRENT_TIMESTAMP, FALSE)",
    )
    await migrate.upgrade_async(database_url)
    assert "flagged_by" in (await _case_references(database_url))[1]
    await _execute(
        database_url,
        "INSERT INTO moderation_case (id, consultation_id, reason, status, created_at, urgent, "
        "flagged_by) VALUES (2, 'c', 'safety', 'open', CURRENT_TIMESTAMP, FALSE, 'model')",
    )
    assert await _column(database_url, "flagged_by") == {1: None, 2: "model"}

    await migrate.downgrade_async(database_url, "0018_password_change")

    references, columns = await _case_references(database_url)
    assert "flagged_by" not in columns
    assert references == {"response_id": "SET NULL", "participant_id": "SET NULL"}
    await migrate.upgrade_async(database_url)
    assert await _column(database_url, "flagged_by") == {1: None, 2: None}


async def test_what_a_person_was_sent_from_0020_and_downgrade_keeps_the_cases(
    database_url: str,
) -> None:
    await migrate.downgrade_async(database_url, "0019_case_flagged_by")
    assert "person_sent" not in (await _case_references(database_url))[1]
    # A case opened before: what its person was sent was not kept, and is not guessed.
    await _execute(
        database_url,
        "INSERT INTO moderation_case (id, consultation_id, reason, status, created_at, urgent) "
        "VALUES (1, 'c', 'safety', 'open', CURRENT_TIMESTAMP, FALSE)",
    )
    await migrate.upgrade_async(database_url)
    assert "person_sent" in (await _case_references(database_url))[1]
    await _execute(
        database_url,
        "INSERT INTO moderation_case (id, consultation_id, reason, status, created_at, urgent, "
        "person_sent) VALUES (2, 'c', 'safety', 'open', CURRENT_TIMESTAMP, FALSE, 'check-in')",
    )
    assert await _column(database_url, "person_sent") == {1: None, 2: "check-in"}

    await migrate.downgrade_async(database_url, "0019_case_flagged_by")

    references, columns = await _case_references(database_url)
    assert "person_sent" not in columns and "flagged_by" in columns
    assert references == {"response_id": "SET NULL", "participant_id": "SET NULL"}
    await migrate.upgrade_async(database_url)
    assert await _column(database_url, "person_sent") == {1: None, 2: None}


async def _column(url: str, column: str) -> dict[int, str | None]:
    """Each case's value of ``column``, as stored."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text(f"SELECT id, {column} FROM moderation_case ORDER BY id")
            )
            return {case_id: value for case_id, value in rows}
    finally:
        await engine.dispose()


async def test_a_case_number_is_never_given_twice_from_0021(database_url: str) -> None:
    # On SQLite a new row took the largest id plus one, so a case erased with its person
    # lent its number to the next disclosure. Cases stored before the migration keep theirs.
    await migrate.downgrade_async(database_url, "0020_case_person_sent")
    await _execute(
        database_url,
        "INSERT INTO moderation_case (consultation_id, reason, status, created_at, urgent) "
        "VALUES ('c', 'safety', 'open', CURRENT_TIMESTAMP, FALSE), "
        "('c', 'safety', 'resolved', CURRENT_TIMESTAMP, FALSE)",
    )
    await migrate.upgrade_async(database_url)
    assert set(await _column(database_url, "status")) == {1, 2}
    await _execute(
        database_url,
        "DELETE FROM moderation_case WHERE id = 2",
        "INSERT INTO moderation_case (consultation_id, reason, status, created_at, urgent) "
        "VALUES ('c', 'safety', 'open', CURRENT_TIMESTAMP, FALSE)",
    )
    assert set(await _column(database_url, "status")) == {1, 3}


async def test_ids_never_reused_keeps_every_row_that_references_a_response(
    database_url: str,
) -> None:
    # 0021 copies response into a new table on SQLite; dropping the old one must neither
    # delete the statements that reference a response (ON DELETE CASCADE) nor empty the
    # cases' reference to it (SET NULL). And a response id is never given twice after.
    await migrate.downgrade_async(database_url, "0020_case_person_sent")
    await _execute(
        database_url,
        "INSERT INTO consultation (id, title, organisation, model, qi_project, stage, cycle, "
        "state, spec, source, created_at) VALUES ('c', 't', 'o', 'feedback-prompt', 'p', "
        "'plan', 1, 'open', '{}', '', CURRENT_TIMESTAMP)",
        "INSERT INTO item (consultation_id, id, position, type, text, options, multiple) "
        "VALUES ('c', 'ideas', 0, 'statements', 'Ideas?', '[]', FALSE)",
        "INSERT INTO participant (channel, pseudonym, created_at) "
        "VALUES ('web', 'p1', CURRENT_TIMESTAMP)",
        "INSERT INTO response (consultation_id, item_id, item_type, participant_id, channel, "
        "choices, text, flags, created_at) VALUES ('c', 'ideas', 'statement', 1, 'web', '[]', "
        "'Open on Saturdays', '[]', CURRENT_TIMESTAMP), ('c', 'ideas', 'statement', 1, "
        "'web', '[]', 'A quiet room', '[]', CURRENT_TIMESTAMP)",
        "INSERT INTO statement (consultation_id, item_id, response_id, participant_id, text, "
        "status, seed, agrees, disagrees, passes, created_at) VALUES ('c', 'ideas', 1, 1, "
        "'Open on Saturdays', 'shown', FALSE, 0, 0, 0, CURRENT_TIMESTAMP)",
        "INSERT INTO moderation_case (consultation_id, response_id, reason, status, "
        "created_at, urgent) VALUES ('c', 2, 'statement', 'open', CURRENT_TIMESTAMP, FALSE)",
    )
    await migrate.upgrade_async(database_url)
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            statements = await connection.execute(text("SELECT response_id FROM statement"))
            assert list(statements.scalars()) == [1]
            cases = await connection.execute(text("SELECT response_id FROM moderation_case"))
            assert list(cases.scalars()) == [2]
            await connection.execute(text("DELETE FROM response WHERE id = 2"))
            await connection.execute(
                text(
                    "INSERT INTO response (consultation_id, item_id, item_type, "
                    "participant_id, channel, choices, flags, created_at, public) VALUES "
                    "('c', 'ideas', 'vote', 1, 'web', '[]', '[]', CURRENT_TIMESTAMP, FALSE)"
                )
            )
            ids = await connection.execute(text("SELECT id FROM response ORDER BY id"))
            assert list(ids.scalars()) == [1, 3]
    finally:
        await engine.dispose()


PRIVATE_CHAT, GROUP_CHAT, DIRECT_STATUS = "5550001234", "-1005550009876", "115550002468"
EVENT = f"1234567:{DIRECT_STATUS}"


def test_outbox_rows_from_before_sealing_hold_no_platform_id_after_db_upgrade(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Rows the code wrote before the references in outbox payloads were sealed (and
    # before sent references and idempotency keys were hashed) kept them plain.
    from channels.events import OutboundMessage
    from consultations.keys import Keyring
    from tests.conftest import TEST_KEY, TEST_SECRET
    from tests.helpers import engage

    migrate.downgrade(database_url, "0022_publication_round")
    before = [
        ("telegram", f"telegram:{EVENT}:1", {"reply_to": f"chat:{PRIVATE_CHAT}:msg:41"}, None),
        (
            "telegram",
            f"telegram:{EVENT}:2",
            {"replaces": f"chat:{GROUP_CHAT}:msg:42"},
            f"chat:{GROUP_CHAT}:msg:43",
        ),
        ("mastodon", f"mastodon:{DIRECT_STATUS}:erased", {"reply_to": DIRECT_STATUS}, None),
        ("web", "invite:c:7", {}, None),
    ]
    asyncio.run(
        _execute(
            database_url,
            *(
                "INSERT INTO outbox (channel, idempotency_key, payload, status, attempts, "
                "next_attempt_at, created_at, platform_ref, bulk, urgent) VALUES "
                f"('{channel}', '{key}', '{json.dumps({'text': 'Thanks', **refs})}', "
                f"'pending', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, "
                f"{'NULL' if ref is None else repr(ref)}, FALSE, FALSE)"
                for channel, key, refs, ref in before
            ),
        )
    )
    monkeypatch.setenv("ENGAGE_DATABASE_URL", database_url)
    monkeypatch.setenv("ENGAGE_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("ENGAGE_PSEUDONYM_KEY", TEST_KEY)
    assert engage(capsys, "db", "upgrade")[0] == 0

    rows = asyncio.run(_outbox(database_url))
    stored = json.dumps([[str(value) for value in row] for row in rows])
    for needle in (PRIVATE_CHAT, GROUP_CHAT, DIRECT_STATUS, "1234567"):
        assert needle not in stored
    keys = Keyring(TEST_KEY)
    sent = [OutboundMessage.from_stored(payload, keys.unseal) for _, _, payload, _ in rows]
    assert [(m.reply_to, m.replaces) for m in sent] == [
        (f"chat:{PRIVATE_CHAT}:msg:41", None),
        (None, f"chat:{GROUP_CHAT}:msg:42"),
        (DIRECT_STATUS, None),
        (None, None),
    ]
    # As the code writes them now, so that a lookup by the hashed reference finds them.
    assert [(key, ref) for _, key, _, ref in rows] == [
        (f"telegram:{keys.reference('telegram', EVENT)}:1", None),
        (
            f"telegram:{keys.reference('telegram', EVENT)}:2",
            keys.reference("telegram", f"chat:{GROUP_CHAT}:msg:43"),
        ),
        (f"mastodon:{keys.reference('mastodon', DIRECT_STATUS)}:erased", None),
        ("invite:c:7", None),
    ]


def test_outbox_rows_from_before_sealing_are_not_migrated_without_the_key(
    database_url: str,
) -> None:
    migrate.downgrade(database_url, "0022_publication_round")
    asyncio.run(
        _execute(
            database_url,
            "INSERT INTO outbox (channel, idempotency_key, payload, status, attempts, "
            "next_attempt_at, created_at, bulk, urgent) VALUES ('mastodon', 'mastodon:1:1', "
            f"'{json.dumps({'text': 'Thanks', 'reply_to': DIRECT_STATUS})}', 'pending', 0, "
            "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, FALSE, FALSE)",
        )
    )
    with pytest.raises(RuntimeError, match="ENGAGE_PSEUDONYM_KEY"):
        migrate.upgrade(database_url)
    assert DIRECT_STATUS in json.dumps([str(v) for v in asyncio.run(_outbox(database_url))])
    # At the newest revision again for the next test (PostgreSQL's store is shared).
    from tests.conftest import TEST_KEY

    migrate.upgrade(database_url, pseudonym_key=TEST_KEY)


async def _outbox(url: str) -> list[tuple[Any, ...]]:
    """Each outbox row's channel, idempotency key, payload and platform reference."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                select(
                    text("channel"), text("idempotency_key"), text("payload"), text("platform_ref")
                )
                .select_from(text("outbox"))
                .order_by(text("id"))
            )
            return [
                (channel, key, json.loads(payload) if isinstance(payload, str) else payload, ref)
                for channel, key, payload, ref in rows
            ]
    finally:
        await engine.dispose()


def test_references_from_before_hashing_are_hashed_by_db_upgrade(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Rows the code wrote before references at rest were keyed hashes kept them plain: a
    # private chat's message a response came from, a direct message's id in the inbox, a
    # group's post in publication (sealed as well since 0004).
    from consultations.keys import Keyring
    from storage.queries import publication_ref
    from tests.conftest import TEST_KEY, TEST_SECRET
    from tests.helpers import engage

    migrate.downgrade(database_url, "0023_outbox_sealed_refs")
    asyncio.run(
        _execute(
            database_url,
            "INSERT INTO consultation (id, title, organisation, model, qi_project, stage, cycle, "
            "state, spec, source, created_at) VALUES ('c', 't', 'o', 'feedback-prompt', 'p', "
            "'plan', 1, 'open', '{}', '', CURRENT_TIMESTAMP)",
            "INSERT INTO item (consultation_id, id, position, type, text, options, multiple) "
            "VALUES ('c', 'one', 0, 'prompt', 'One thing?', '[]', FALSE)",
            "INSERT INTO participant (channel, pseudonym, created_at) "
            "VALUES ('telegram', 'p1', CURRENT_TIMESTAMP)",
            "INSERT INTO response (consultation_id, item_id, item_type, participant_id, channel, "
            "choices, text, platform_ref, flags, created_at, public) VALUES ('c', 'one', "
            f"'prompt', 1, 'telegram', '[]', 'Later hours', 'chat:{PRIVATE_CHAT}:msg:9', '[]', "
            "CURRENT_TIMESTAMP, FALSE)",
            "INSERT INTO inbox (channel, event_id, received_at, processed_at, attempts) VALUES "
            f"('mastodon', '{DIRECT_STATUS}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 0), "
            "('telegram', '1234567:88', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 0)",
            "INSERT INTO publication (consultation_id, item_id, channel, platform_ref, kind, "
            f"created_at) VALUES ('c', 'one', 'telegram', 'chat:{GROUP_CHAT}:msg:3', 'item', "
            "CURRENT_TIMESTAMP)",
        )
    )
    monkeypatch.setenv("ENGAGE_DATABASE_URL", database_url)
    monkeypatch.setenv("ENGAGE_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("ENGAGE_PSEUDONYM_KEY", TEST_KEY)
    assert engage(capsys, "db", "upgrade")[0] == 0

    keys = Keyring(TEST_KEY)
    stored = asyncio.run(_every_row(database_url))
    for needle in (PRIVATE_CHAT, GROUP_CHAT, DIRECT_STATUS):
        assert needle not in stored
    assert keys.reference("telegram", f"chat:{PRIVATE_CHAT}:msg:9") in stored
    assert keys.reference("mastodon", DIRECT_STATUS) in stored
    assert "1234567:88" in stored  # a bot's update number names nobody; left as it was
    [published] = asyncio.run(_publications(database_url))
    assert published.platform_ref == keys.reference("telegram", f"chat:{GROUP_CHAT}:msg:3")
    assert publication_ref(keys, published) == f"chat:{GROUP_CHAT}:msg:3"


async def _publications(url: str) -> list[Any]:
    from storage.tables import Publication

    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return list((await connection.execute(select(Publication))).all())
    finally:
        await engine.dispose()


async def _every_row(url: str) -> str:
    """Every row of every table as text (as :func:`dump_all`, without a platform)."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            rows = [
                json.dumps([str(value) for value in row])
                for table in Base.metadata.sorted_tables
                for row in (await connection.execute(select(table))).all()
            ]
    finally:
        await engine.dispose()
    return "\n".join(rows)


def test_the_migrations_keys_write_what_the_code_reads() -> None:
    # Migrations keep their own copy of the sealing and hashing, frozen as they wrote it;
    # the code must still read it, and the migrations what the code wrote.
    from consultations.keys import Keyring
    from migrations.sealing import Keys
    from tests.conftest import TEST_KEY

    frozen, code = Keys(TEST_KEY), Keyring(TEST_KEY)
    assert frozen.reference("telegram", "12345:67") == code.reference("telegram", "12345:67")
    assert frozen.reference("telegram", "1") != frozen.reference("mastodon", "1")
    refs = {"reply_to": "109876543210", "replaces": "é 1"}
    assert code.unseal(frozen.seal(refs)) == refs
    assert frozen.unseal(code.seal(refs)) == refs
