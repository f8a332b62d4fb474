"""Apply and revert the Alembic migrations in ``migrations/``."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

import migrations
from migrations import NewerDatabaseError

MIGRATIONS_DIR = Path(migrations.__file__).resolve().parent


def alembic_config(database_url: str, pseudonym_key: str | None = None) -> Config:
    """An Alembic configuration pointing at the project's migrations and this database.

    ``pseudonym_key`` is for migrations that seal or hash what older code stored plain
    (``config.attributes["pseudonym_key"]``); one that finds such rows without it stops.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["pseudonym_key"] = pseudonym_key
    return config


def upgrade(database_url: str, revision: str = "head", *, pseudonym_key: str | None = None) -> None:
    """Apply migrations up to ``revision`` (blocking; runs its own event loop)."""
    command.upgrade(alembic_config(database_url, pseudonym_key), revision)


def downgrade(database_url: str, revision: str) -> None:
    """Revert migrations down to ``revision`` (``base`` removes every table)."""
    command.downgrade(alembic_config(database_url), revision)


async def upgrade_async(
    database_url: str, revision: str = "head", *, pseudonym_key: str | None = None
) -> None:
    """:func:`upgrade` from inside a running event loop."""
    await asyncio.to_thread(upgrade, database_url, revision, pseudonym_key=pseudonym_key)


async def downgrade_async(database_url: str, revision: str) -> None:
    await asyncio.to_thread(downgrade, database_url, revision)


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def previous_revision(revision: str) -> str:
    """The revision before ``revision`` (``base`` before the first)."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    found = script.get_revision(revision)
    assert found is not None
    before = found.down_revision
    assert before is None or isinstance(before, str)  # no merges among these migrations
    return before or "base"


def current_revision(connection: Connection) -> str | None:
    """The revision a database is at (``None`` for a new database)."""
    return MigrationContext.configure(connection).get_current_revision()


def refuse_unknown(revision: str | None, script: ScriptDirectory | None = None) -> None:
    """Raise :class:`NewerDatabaseError` if ``revision`` is not one of these migrations."""
    if revision is None:
        return
    script = script or ScriptDirectory.from_config(alembic_config("sqlite://"))
    if revision not in {known.revision for known in script.walk_revisions()}:
        head = head_revision()
        raise NewerDatabaseError(
            f"the database is at revision {revision}, which this version of engage does not "
            f"know (its newest is {head}): a newer version migrated it. Run that version, or "
            f"revert the database with it first (`engage db downgrade {head}`)"
        )
