"""What each ``engage`` command does; :mod:`bot.cli` parses and dispatches."""

from __future__ import annotations

import argparse
import asyncio
import errno
import fcntl
import logging
import os
import re
import socket
import sys
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import get_args
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.telegram.limits import TELEGRAM_LIMITS
from bot import publishing, schedule
from bot.config import Settings, load_settings, sqlite_path
from bot.console import (
    UsageError,
    check_output,
    cli_actor,
    install_stop_signals,
    output,
    print_json,
)
from bot.key_check import check_before_upgrade, check_keys
from bot.platform import Platform, configured_adapters, create_platform, warm_up
from bot.preparation import default_processes
from bot.progress import Progress
from bot.web.app import STOPPING, create_app
from bot.web.auth import hash_password as hash_password
from bot.web.auth import verify_password as verify_password
from bot.web.middleware import AppRunner
from channels.adapter import CredentialsRejected
from consultations import moderation, records, service
from consultations.spec import (
    ID_MAX_LENGTH,
    ChannelLimits,
    ConsultationSpec,
    Problem,
    Region,
    SpecError,
    is_valid_id,
    read_spec_file,
    unfinished,
)
from migrations import apply as migrate
from storage.db import autovacuum_off, checkpoint, create_engine, create_sessionmaker, describe
from storage.tables import AuditEvent, Consultation, utcnow

log = logging.getLogger("engage")

OK, FAILED, USAGE = 0, 1, 2


def _settings(settings: Settings | None) -> Settings:
    assert settings is not None
    return settings


# -- database ------------------------------------------------------------------------


def db_upgrade(args: argparse.Namespace, settings: Settings | None) -> int:
    settings = _settings(settings)
    asyncio.run(_check_before_upgrade(settings))
    migrate.upgrade(settings.database_url, pseudonym_key=settings.pseudonym_key)
    print(f"database at revision {migrate.head_revision()}")
    return OK


def db_downgrade(args: argparse.Namespace, settings: Settings | None) -> int:
    if not args.revision.rpartition("@")[2]:
        # Nothing after the last "@" (or nothing at all): Alembic stops on an assertion.
        raise UsageError(
            f"REV: {args.revision!r} names no revision; give a revision id "
            "(`engage db current` shows the database's), or 'base' for none"
        )
    settings = _settings(settings)
    # REV may be relative ("-1"): what is said is the revision the database is now at.
    was = asyncio.run(_revision(settings))
    try:
        migrate.downgrade(settings.database_url, args.revision)
    except Exception as exc:  # alembic raises CommandError for unknown revisions
        if type(exc).__name__ in ("CommandError", "ResolutionError"):
            raise UsageError(f"REV: {exc}") from None
        raise
    now = asyncio.run(_revision(settings))
    print(f"database at revision {now} ({'unchanged' if now == was else f'reverted from {was}'})")
    return OK


async def _revision(settings: Settings) -> str:
    """The revision the database is at, ``base`` for none."""
    platform = create_platform(settings)
    try:
        async with platform.engine.connect() as connection:
            return await connection.run_sync(migrate.current_revision) or "base"
    finally:
        await platform.aclose()


async def db_current(args: argparse.Namespace, settings: Settings | None) -> int:
    platform = create_platform(_settings(settings))
    try:
        async with platform.engine.connect() as connection:
            revision = await connection.run_sync(migrate.current_revision)
    finally:
        await platform.aclose()
    print(revision or "base (no migrations applied)")
    return OK


async def _check_before_upgrade(settings: Settings) -> None:
    platform = create_platform(settings)
    try:
        await check_before_upgrade(platform.engine, platform.keyring)
    finally:
        await platform.aclose()


async def _ensure_schema(settings: Settings, platform: Platform) -> None:
    """SQLite is migrated on start; PostgreSQL must be migrated by the operator."""
    async with platform.engine.connect() as connection:
        current = await connection.run_sync(migrate.current_revision)
    if current == migrate.head_revision():
        return
    migrate.refuse_unknown(current)
    if settings.is_sqlite:
        await check_before_upgrade(platform.engine, platform.keyring)
        await migrate.upgrade_async(settings.database_url, pseudonym_key=settings.pseudonym_key)
        return
    if current != migrate.head_revision():
        raise UsageError(
            f"ENGAGE_DATABASE_URL: the database is at revision {current or 'base'}, "
            f"not {migrate.head_revision()}; run `engage db upgrade` first"
        )


async def migrated_platform(settings: Settings | None) -> Platform:
    """A platform over a migrated database made with the configured pseudonym key."""
    settings = _settings(settings)
    platform = create_platform(settings)
    try:
        await _ensure_schema(settings, platform)
        await check_keys(platform.sessionmaker, platform.keyring)
    except BaseException:
        await platform.aclose()
        raise
    return platform


# -- run -------------------------------------------------------------------------------


def _one_run_per_sqlite_file(settings: Settings) -> int | None:
    """Hold a lock beside the SQLite file for as long as this process runs, or refuse.

    One process owns a SQLite store (bot/leases.py): a second `engage run` would send
    what the first sends, and at its start take the first one's messages under way for
    ones a crash left in doubt. The lock goes with the process, even killed (flock).
    Returns the lock's file descriptor (``None`` on PostgreSQL).
    """
    database = sqlite_path(settings.database_url)
    if database is None:
        return None
    path = database.with_name(database.name + ".run-lock")
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return None  # a folder that cannot be written: SQLite says so on its own
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise UsageError(
            f"ENGAGE_DATABASE_URL: another `engage run` is using {database}; one process "
            "serves a SQLite file (several workers need PostgreSQL)"
        ) from None
    return fd


async def run(args: argparse.Namespace, settings: Settings | None) -> int:
    settings = _settings(settings)
    lock = _one_run_per_sqlite_file(settings)
    try:
        return await _run(settings)
    finally:
        if lock is not None:
            os.close(lock)


async def _run(settings: Settings) -> int:
    platform = await migrated_platform(settings)
    # The address is tried once the database answers, before the models load (seconds,
    # more on a busy machine): an address this machine lacks, or a port in use, is said
    # at once. Before anything starts, too: the adapters start with the app, and one
    # that holds a stream open (Mastodon) would keep a refused start-up from ending. It
    # is tried again just before listening, in case it was taken meanwhile.
    try:
        await _can_listen(settings.http_host, settings.http_port)
    except UsageError:
        await platform.aclose()
        raise
    if await autovacuum_off(platform.engine):
        log.warning(
            "PostgreSQL's autovacuum is off: the inbox and outbox will be claimed on plans "
            "made for empty tables and slow down as they grow; turn it on, or run ANALYZE "
            "every few minutes (docs/operations.md)"
        )
    # Models loaded (and the heap frozen) before any preparation process is started.
    warm_up()
    processes = settings.intake_processes
    app = create_app(
        settings,
        platform=platform,
        intake_processes=default_processes() if processes is None else processes,
    )
    # Requests in flight end within the grace of the background work (docs/operations.md,
    # "Stopping"); aiohttp's default waited 60 s. It waits twice, for the request to
    # finish and then for it to unwind once cancelled: half the grace each.
    # Its connections answer a request they cannot parse with a plain 400 (no server name).
    runner = AppRunner(
        app, handle_signals=False, access_log=None, shutdown_timeout=settings.stop_grace / 2
    )
    stopping = asyncio.Event()
    install_stop_signals(stopping)
    await _can_listen(settings.http_host, settings.http_port)
    try:
        try:
            await runner.setup()
        except CredentialsRejected as exc:
            # Exit 2 naming the variable; the platform's own message may quote the token.
            raise UsageError(f"{exc.setting}: {exc}") from None
        site = web.TCPSite(runner, settings.http_host, settings.http_port)
        try:
            await site.start()
        except OSError as exc:
            raise _listen_error(settings.http_host, settings.http_port, exc) from None
        channels = ", ".join(platform.adapters)
        log.info("engage is running at %s (channels: %s)", settings.public_url, channels)
        await stopping.wait()
        log.info("stopping: finishing accepted work")
    finally:
        await runner.cleanup()
    await _leave_stuck_database_calls(app[STOPPING].remaining())
    return OK


async def _leave_stuck_database_calls(grace: float) -> None:
    """End the process even while a SQLite statement still waits for a lock.

    A request cut short at the grace leaves its statement waiting in aiosqlite's thread
    for the lock another process holds, up to the busy timeout (30 s): SQLite's wait
    cannot be interrupted, and closing the connection waits for it, which held a
    stopping process for half a minute or more. Nothing it holds is committed (SQLite
    takes the write lock before changing anything), so once the grace is over the
    process ends without it.
    """
    current = asyncio.current_task()
    left = [task for task in asyncio.all_tasks() if task is not current]
    if not left:
        return
    # As asyncio.run would at its end, but not waiting for ever.
    for task in left:
        task.cancel()
    _, stuck = await asyncio.wait(left, timeout=max(grace, 1.0))
    if stuck:
        log.warning(
            "stopping: %d database call(s) still wait for a lock another process holds; "
            "ending without them (nothing of theirs was committed)",
            len(stuck),
        )
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(OK)


async def _can_listen(host: str, port: int) -> None:
    """Raise :class:`UsageError` naming the setting when ``host:port`` cannot be listened
    on, as the web app would listen (the same resolution, address reuse on)."""
    loop = asyncio.get_running_loop()
    try:
        server = await loop.create_server(asyncio.Protocol, host, port, reuse_address=True)
    except OSError as exc:
        raise _listen_error(host, port, exc) from None
    server.close()
    await server.wait_closed()


def _listen_error(host: str, port: int, error: OSError) -> UsageError:
    setting, why = _cannot_listen(error)
    return UsageError(f"{setting}: cannot listen on {host}:{port}: {why}")


def _cannot_listen(error: OSError) -> tuple[str, str]:
    """The setting at fault when the web app cannot listen, and why: the address when the
    name is unknown or this machine has no such address, else the port."""
    if isinstance(error, socket.gaierror):
        return "ENGAGE_HTTP_HOST", "the host name cannot be resolved"
    if error.errno == errno.EADDRNOTAVAIL:
        return "ENGAGE_HTTP_HOST", "this machine has no such address"
    if error.errno == errno.EADDRINUSE:
        return "ENGAGE_HTTP_PORT", "the port is in use"
    if error.errno == errno.EACCES:
        return "ENGAGE_HTTP_PORT", "permission denied (ports below 1024 need privileges)"
    why = os.strerror(error.errno) if error.errno else str(error)
    return "ENGAGE_HTTP_PORT", why[:1].lower() + why[1:]


# -- consultations -------------------------------------------------------------------


def _limits(settings: Settings | None) -> Mapping[str, ChannelLimits]:
    """The limits of each channel a spec is checked against, as the adapters know them."""
    limits: dict[str, ChannelLimits] = {"telegram": TELEGRAM_LIMITS}
    if settings is not None and settings.mastodon_enabled:
        from adapters.mastodon.limits import instance_limits

        limits["mastodon"] = instance_limits(
            settings.mastodon_api_base_url, settings.mastodon_access_token
        )
    return limits


def _load(path: str, settings: Settings | None) -> tuple[ConsultationSpec, str]:
    if not path.strip():  # an unset shell variable, say
        raise UsageError("FILE: is empty; give the spec file")
    try:
        spec, text = read_spec_file(path, limits=_limits(settings))
    except SpecError as exc:
        raise _SpecProblems(path, exc) from None
    if settings is not None and settings.mastodon_enabled:
        # What the plain limits can't see: the posts as launched, and poll expiry.
        from adapters.mastodon.limits import settings_problems

        problems = settings_problems(
            spec, settings.mastodon_api_base_url, settings.mastodon_access_token
        )
        if problems:
            raise _SpecProblems(path, SpecError(problems))
    if left := unfinished(spec.to_dict()):
        raise _SpecProblems(path, SpecError(left))
    return spec, text


def _warn_without_region(path: str, spec: ConsultationSpec) -> None:
    """A valid spec that leaves ``safety.region`` out: the helplines of the safety reply
    follow the region, and a service elsewhere would give its people Australia's."""
    if not spec.safety.region_given:
        print(
            f"{path}: warning: safety.region: not set, so the safety reply gives the "
            f"helplines of {spec.safety.region}; set it to the region the service is in "
            f"({', '.join(get_args(Region))})",
            file=sys.stderr,
        )


def _warn_if_closed(path: str, spec: ConsultationSpec) -> None:
    """A valid spec whose ``closes_at`` has passed: launch refuses it, so say so now."""
    if spec.closes_at is not None and publishing.closed_already(spec, utcnow()) is not None:
        print(
            f"{path}: warning: closes_at: {spec.closes_at.isoformat()} is in the past, so "
            "`engage consultation launch` will refuse it; set a later time",
            file=sys.stderr,
        )


class _SpecProblems(UsageError):
    def __init__(self, path: str, error: SpecError) -> None:
        if error.unreadable:  # one line, which names the file (and line and column) itself
            super().__init__(" ".join(problem.message for problem in error.problems))
            return
        lines = [f"{path}: {problem}" for problem in error.problems]
        count = len(error.problems)
        lines.append(f"{path}: {count} problem{'s' if count != 1 else ''} found")
        super().__init__("\n".join(lines))


def validate(args: argparse.Namespace, settings: Settings | None) -> int:
    try:
        # Only the channels' settings (Mastodon's limits): checking a file makes no keys.
        settings = load_settings(keys=False)
    except Exception:
        settings = None
    spec, _source = _load(args.file, settings)
    if spec.follow_up is not None:
        problems = asyncio.run(_stored_follow_up_problems(args.file, spec, settings))
        if problems:
            raise _SpecProblems(args.file, SpecError(problems))
    kinds: dict[str, int] = {}
    for item in spec.items:
        kinds[item.type] = kinds.get(item.type, 0) + 1
    nouns = {"statements": "statements item"}  # "1 statements item", not "1 statements"
    parts = ", ".join(
        f"{n} {nouns.get(kind, kind)}{'s' if n != 1 else ''}" for kind, n in sorted(kinds.items())
    )
    if spec.mastodon.listen:  # a listening consultation may ask nothing at all
        parts = ", ".join(p for p in (parts, f"listening to {' '.join(spec.mastodon.listen)}") if p)
    parts = parts or "no items"
    print(
        f"{args.file}: valid: {spec.id} ({spec.model}; {parts}; "
        f"channels: {', '.join(spec.channels)})"
    )
    # Valid all the same: what the language lacks is shown in English (docs/languages.md).
    missing = spec.missing_texts()
    if missing:
        print(
            f"{args.file}: warning: language: '{spec.language}' has no full catalogue of "
            f"built-in texts; these {len(missing)} will be shown in English unless the spec's "
            f"texts section words them: {', '.join(missing)}",
            file=sys.stderr,
        )
    _warn_without_region(args.file, spec)
    _warn_if_closed(args.file, spec)
    return OK


async def _stored_follow_up_problems(
    path: str, spec: ConsultationSpec, settings: Settings | None
) -> list[Problem]:
    """The earlier consultations of ``spec.follow_up`` that the configured store does not
    hold, as `create` would find them. Read only: a store that is not there yet is not
    made (checking a file writes nothing); then a warning says the names were not checked."""
    if settings is None:
        why = "the settings are not usable"
    else:
        database = sqlite_path(settings.database_url)
        if database is not None and not database.is_file():
            why = f"there is no database at {database} yet"
        else:
            engine = create_engine(settings.database_url, pool_size=1)
            try:
                return await _follow_up_problems(create_sessionmaker(engine), spec)
            except Exception as exc:
                why = describe(exc)
            finally:
                await engine.dispose()
    print(
        f"{path}: warning: follow_up.of: not checked against stored consultations "
        f"({why}); `engage consultation create` checks that each exists",
        file=sys.stderr,
    )
    return []


def template(args: argparse.Namespace, settings: Settings | None) -> int:
    from consultations.models import MODELS, template_yaml

    if args.model not in MODELS:
        raise UsageError(f"MODEL: {args.model!r} is not one of {', '.join(MODELS)}")
    if not is_valid_id(args.id):
        # Checked here, not left to the model's ValueError: a typed id is bad input.
        suggestion = "-".join(re.findall(r"[a-z0-9]+", args.id.lower()))[:ID_MAX_LENGTH]
        example = f", for example {suggestion.strip('-')!r}" if suggestion else ""
        raise UsageError(
            f"--id: {args.id!r} is not a valid consultation id: use only lowercase letters "
            f"and digits, with single hyphens between words, at most {ID_MAX_LENGTH} "
            f"characters{example}"
        )
    sys.stdout.write(template_yaml(args.model, args.id))
    return OK


async def create(args: argparse.Namespace, settings: Settings | None) -> int:
    spec, source = _load(args.file, settings)
    platform = await migrated_platform(settings)
    try:
        # Here, not only at launch: a draft that could never be launched is not stored.
        problems = await _follow_up_problems(platform.sessionmaker, spec)
        if problems:
            raise _SpecProblems(args.file, SpecError(problems))
        async with platform.sessionmaker.begin() as session:
            earlier = await session.get(Consultation, spec.id)
            replaced = (
                None
                if earlier is None
                else f"{earlier.title!r}, stored {earlier.created_at:%Y-%m-%d %H:%M} UTC"
            )
            try:
                await service.create(session, spec, source)
            except service.LifecycleError as exc:
                raise UsageError(f"id: {exc}") from None
            # Stored all the same (both may be planned ahead); launch waits for them.
            drafts = await publishing.draft_warnings(session, spec)
    finally:
        await platform.aclose()
    if replaced is not None:  # only a draft is replaced (service.create)
        print(f"replaced the draft {spec.id} ({replaced})")
    for warning in drafts:
        print(f"{args.file}: warning: {warning}", file=sys.stderr)
    _warn_without_region(args.file, spec)
    _warn_if_closed(args.file, spec)
    print(f"stored {spec.title!r} as a draft; launch it with: engage consultation launch {spec.id}")
    print(spec.id)  # CONTRACT.md: the id on the last line
    return OK


async def launch(args: argparse.Namespace, settings: Settings | None) -> int:
    settings = _settings(settings)
    platform = await migrated_platform(settings)
    try:
        async with platform.sessionmaker() as session:
            row = await _require(session, args.id)
            spec = service.spec_of(row)
        wanted = list(dict.fromkeys(args.channels or spec.channels))
        for name in wanted:
            if name not in spec.channels:
                raise UsageError(
                    f"--channel: {name!r} is not one of this consultation's channels "
                    f"({', '.join(spec.channels)})"
                )
        now = utcnow()
        if (passed := publishing.closed_already(spec, now)) is not None:
            raise UsageError(f"{args.id}: {passed}")
        adapters = configured_adapters(platform)
        problems = await _follow_up_problems(platform.sessionmaker, spec, launching=True)
        if problems:
            raise _SpecProblems(args.id, SpecError(problems))
        missing = [name for name in wanted if name not in adapters]
        if args.channels and missing:
            raise UsageError(f"--channel: {', '.join(missing)} not configured ({_how(missing[0])})")
        try:
            # The opening the dashboard and the scheduler make: a channel whose platform
            # refuses the credentials is left for the scheduler, published once the
            # adapter starts with good ones.
            launched = await schedule.launch(
                platform.sessionmaker, adapters, spec, wanted, keys=platform.keyring, now=now
            )
        except service.LifecycleError as exc:
            raise UsageError(f"ID: {exc}") from None
        except publishing.Unfinished as exc:
            raise _SpecProblems(args.id, exc) from None
        async with platform.sessionmaker.begin() as session:
            moderation.audit(
                session,
                cli_actor(),
                "consultation.launch",
                f"consultation:{spec.id}",
                published=sorted(launched.results.done),
                failed=sorted(launched.results.failed),
                undone=launched.undone,
                **({"refused": sorted(refused)} if (refused := launched.results.refused) else {}),
            )
    finally:
        await platform.aclose()
    results = launched.results
    if results.refused:
        # As every refusal is said: one line naming the variable (exit 2).
        name, why = next(iter(results.refused.items()))
        raise UsageError(
            f"{why}; {spec.id} is open, and published on {name} once that is put right "
            "and engage restarted"
        )
    opens = spec.opens_at.isoformat() if spec.opens_at is not None and spec.opens_at > now else ""
    if launched.nowhere:
        for name in wanted:
            if name in results.failed:
                print(f"{spec.id}: not launched: {name}: {results.failed[name]}", file=sys.stderr)
            elif name in results.skipped:
                print(
                    f"{spec.id}: not launched: {name}: not configured ({_how(name)})",
                    file=sys.stderr,
                )
        if launched.undone:
            print(f"{spec.id} is still a draft")
        # Nothing tried at all is a configuration to fix, not a failure while running.
        return FAILED if results.failed else USAGE
    for name in wanted:
        if name in results.skipped:
            print(f"{name}: skipped, not configured ({_how(name)})", file=sys.stderr)
        elif name in results.failed:
            print(f"{name}: publishing failed: {results.failed[name]}", file=sys.stderr)
        elif adapters[name].capabilities.inline_replies:
            where = f"{settings.public_url}/c/{spec.id}"
            print(f"{name}: opens at {opens} at {where}" if opens else f"{name}: open at {where}")
        else:
            print(f"{name}: {results.done[name]} posts published")
    # Launched before its opens_at, it is open but takes answers from opens_at only (the
    # page says so): said as the page says it.
    print(f"{spec.id} opens at {opens}" if opens else f"{spec.id} is open")
    # CONTRACT.md: a follow-up's launch output ends with one line per channel.
    for name, count in launched.invited.items():
        print(f"invited {count} on {name}")
    return FAILED if results.failed else OK


async def _follow_up_problems(
    sessionmaker: async_sessionmaker[AsyncSession],
    spec: ConsultationSpec,
    *,
    launching: bool = False,
) -> list[Problem]:
    """A follow-up names earlier consultations that exist (else nobody could be invited);
    ``launching``, each launched already (nobody has taken part in a draft, and the
    invitations go out at launch only)."""
    if spec.follow_up is None:
        return []
    problems: list[Problem] = []
    async with sessionmaker() as session:
        known = dict(
            (
                await session.execute(
                    select(Consultation.id, Consultation.state).where(
                        Consultation.id.in_(spec.follow_up.of)
                    )
                )
            ).all()
        )
        for index, earlier in enumerate(spec.follow_up.of):
            if earlier not in known:
                problems.append(
                    Problem(f"follow_up.of[{index}]", f"there is no consultation {earlier!r}")
                )
                continue
            if launching and known[earlier] == service.DRAFT:
                problems.append(publishing.still_a_draft(index, earlier))
                continue
            # Following the earlier consultations' own follow_up back never reaches this one.
            path = await _path_back_to(session, earlier, spec.id)
            if path is not None:
                chain = " -> ".join([spec.id, *path])
                problems.append(
                    Problem(f"follow_up.of[{index}]", f"would make a cycle of follow-ups ({chain})")
                )
    return problems


async def _path_back_to(session: AsyncSession, start: str, target: str) -> list[str] | None:
    """The chain of ``follow_up.of`` from ``start`` that reaches ``target``, if one does."""
    paths: list[list[str]] = [[start]]
    seen = {start}
    while paths:
        path = paths.pop()
        if path[-1] == target:
            return path
        row = await session.get(Consultation, path[-1])
        if row is None:
            continue
        follow_up = service.spec_of(row).follow_up
        for earlier in follow_up.of if follow_up is not None else ():
            if earlier not in seen:
                seen.add(earlier)
                paths.append([*path, earlier])
    return None


def _how(channel: str) -> str:
    return {
        "telegram": "set TELEGRAM_BOT_TOKEN",
        "mastodon": "set MASTODON_API_BASE_URL and MASTODON_ACCESS_TOKEN",
    }.get(channel, "unknown channel")


async def close(args: argparse.Namespace, settings: Settings | None) -> int:
    platform = await migrated_platform(settings)
    try:
        async with platform.sessionmaker.begin() as session:
            try:
                row = await service.close(session, args.id)
            except service.NotFound as exc:
                raise UsageError(f"ID: {exc}") from None
            except service.LifecycleError as exc:
                raise UsageError(f"ID: {exc}") from None
            spec = service.spec_of(row)
            moderation.audit(session, cli_actor(), "consultation.close", f"consultation:{spec.id}")
        results = await publishing.close(
            platform.sessionmaker, configured_adapters(platform), spec, keys=platform.keyring
        )
    finally:
        await platform.aclose()
    for name, why in results.failed.items():
        print(f"{name}: closing polls failed: {why}", file=sys.stderr)
    print(f"{args.id} is closed")
    return FAILED if results.failed else OK


async def _require(session: AsyncSession, consultation_id: str) -> Consultation:
    try:
        return await service.require(session, consultation_id)
    except service.NotFound as exc:
        raise UsageError(f"ID: {exc}") from None


async def list_(args: argparse.Namespace, settings: Settings | None) -> int:
    platform = await migrated_platform(settings)
    try:
        async with platform.sessionmaker() as session:
            rows = await service.summaries(session)
    finally:
        await platform.aclose()
    if args.json:
        print_json([row.to_json() for row in rows])
        return OK
    if not rows:
        print("no consultations yet: write a spec, then `engage consultation create FILE`")
        return OK
    print(f"{'ID':<28} {'STATE':<7} {'STAGE':<6} {'RESPONSES':>9} {'PEOPLE':>7}  TITLE")
    for row in rows:
        print(
            f"{row.id:<28} {row.state:<7} {row.stage:<6} {row.responses:>9} "
            f"{row.participants:>7}  {row.title}"
        )
    return OK


async def show(args: argparse.Namespace, settings: Settings | None) -> int:
    platform = await migrated_platform(settings)
    try:
        async with platform.sessionmaker() as session:
            try:
                summary = await service.summary(session, args.id)
            except service.NotFound as exc:
                raise UsageError(f"ID: {exc}") from None
            states = await service.funnel(session, args.id)
    finally:
        await platform.aclose()
    if args.json:
        print_json({**summary.to_json(), "participants_by_state": states})
        return OK
    print(f"{summary.title} ({summary.id})")
    print(f"  state:        {summary.state}")
    if summary.not_opened:
        print(f"  opening:      {summary.not_opened}")
    print(f"  model:        {summary.model}; QI stage {summary.stage}, cycle {summary.cycle}")
    print(f"  channels:     {', '.join(summary.channels)}")
    print(f"  responses:    {summary.responses} from {summary.participants} participants")
    if states:
        print("  participants: " + ", ".join(f"{k} {v}" for k, v in sorted(states.items())))
    for item, count in summary.by_item.items():
        print(f"    {item}: {count}")
    return OK


async def draft_loop(args: argparse.Namespace, settings: Settings | None) -> int:
    """A closing-the-loop spec drafted from ID's act summary (CONTRACT.md)."""
    from consultations import loop, reporting
    from consultations.spec import parse_spec

    if args.output is not None:
        check_output(args.output)
    platform = await migrated_platform(settings)
    try:
        async with platform.sessionmaker() as session:
            spec = service.spec_of(await _require(session, args.id))
            try:
                act = await loop.act_summary(
                    session, args.id, reporting.parse_changes(args.changes or ())
                )
            except loop.NothingToDraft as exc:
                raise UsageError(f"ID: {exc}") from None
            except reporting.ReportError as exc:
                raise UsageError(str(exc)) from None
            # A loop of this one already launched keeps its id: the draft takes the next.
            taken = await loop.launched_ids(session, loop.loop_id(spec.id))
    finally:
        await platform.aclose()
    data = loop.draft(spec, act, taken)
    try:
        parse_spec(data, limits=_limits(settings))
    except SpecError as exc:  # a draft that would not validate is a bug, said plainly
        raise _SpecProblems("the drafted spec", exc) from None
    with output(args.output) as out:
        out.write(loop.draft_yaml(data, str(act["you_said_we_did"])))
    if args.output:
        print(
            f"drafted {data['id']} in {args.output}; edit it, then: "
            f"engage consultation create {args.output}",
            file=sys.stderr,
        )
    return OK


# -- records ---------------------------------------------------------------------------


async def export(args: argparse.Namespace, settings: Settings | None) -> int:
    platform = await migrated_platform(settings)
    progress = Progress("exporting")
    try:
        async with platform.sessionmaker() as session:
            await _require(session, args.id)
            with output(args.output) as out:
                count = await records.write_export(session, args.id, out, args.format, progress)
    finally:
        await platform.aclose()
    progress.finish()
    if args.output:
        print(f"{count} records written to {args.output}", file=sys.stderr)
    return OK


async def import_(args: argparse.Namespace, settings: Settings | None) -> int:
    if not args.file.strip():
        raise UsageError("FILE: is empty; give the CSV file")
    platform = await migrated_platform(settings)
    progress = Progress("importing")
    try:
        path = Path(args.file)
        if not await asyncio.to_thread(path.is_file):
            what = "is a folder" if await asyncio.to_thread(path.is_dir) else "no such file"
            raise UsageError(f"FILE: {args.file}: {what}")
        async with platform.sessionmaker.begin() as session:
            row = await _require(session, args.id)
            if row.state == service.CLOSED:
                # Closed: it takes no more responses (CONTRACT.md, consultation close),
                # gathered elsewhere or not.
                raise UsageError(
                    f"ID: consultation {args.id!r} is {row.state} and takes no more "
                    "responses; nothing was imported"
                )
            try:
                result = await records.import_csv(
                    session,
                    platform.keyring,
                    args.id,
                    path,
                    item_id=args.item,
                    text_column=args.text_column,
                    participant_column=args.participant_column,
                    analyse=platform.runtime.analyse,
                    progress=progress,
                    replace=args.replace,
                )
            except records.ImportError_ as exc:
                raise UsageError(str(exc)) from None
    finally:
        await platform.aclose()
    progress.finish()
    if result.replaced:
        print(f"removed {result.replaced} responses of the earlier import of {args.file}")
    print(
        f"imported {result.imported} responses into {args.id}/{result.item} "
        f"from {result.participants} participants; skipped {result.skipped_empty} empty rows"
        + (f"; {result.flagged} flagged for safety review" if result.flagged else "")
        # Said when it is not a comma: a file read with the wrong one would look so.
        + (
            f"; columns separated by {records.SEPARATORS[result.separator]}s"
            if result.separator != ","
            else ""
        )
    )
    return OK


async def report(args: argparse.Namespace, settings: Settings | None) -> int:
    from consultations import reporting

    if args.output is not None:
        check_output(args.output)  # before the analysis, which can take minutes
    if args.codebook is not None and not args.codebook.strip():
        raise UsageError("--codebook: is empty; give the codebook file")
    platform = await migrated_platform(settings)
    progress = Progress("analysing")
    try:
        async with platform.sessionmaker() as session:
            await _require(session, args.id)
            try:
                rendered = await reporting.render(
                    session,
                    args.id,
                    fmt=args.format,
                    stage=args.stage,
                    codebook_path=args.codebook,
                    changes=reporting.parse_changes(args.changes or ()),
                    progress=progress,
                    narrator=_settings(settings).summary_model,
                )
            except reporting.ReportError as exc:
                raise UsageError(str(exc)) from None
    finally:
        await platform.aclose()
    progress.finish()
    with output(args.output) as out:
        out.write(rendered)
    return OK


# -- participants --------------------------------------------------------------------------


def _check_person(args: argparse.Namespace) -> None:
    """A channel there is and a platform id that is not blank, else a usage error.

    A typo must not answer a subject-access or erasure request with "nothing is held".
    """
    if args.channel not in records.PARTICIPANT_CHANNELS:
        raise UsageError(
            f"--channel: {args.channel!r} is not a channel; use one of "
            f"{', '.join(records.PARTICIPANT_CHANNELS)}"
        )
    if not args.platform_id.strip():
        raise UsageError("--platform-id: is blank; give the person's id on that channel")


def _mastodon_url(settings: Settings | None) -> str | None:
    return settings.mastodon_api_base_url if settings is not None else None


def person_id(channel: str, value: str, mastodon_url: str | None) -> str:
    """The platform id as it is kept (pseudonymised), from the way an operator writes it.

    Mastodon keeps the handle in lower case, without "@" and, for the instance's own
    accounts, without the instance (``olga``; ``bob@example.org`` for another's), so
    ``@Olga`` and ``olga@our.instance`` name ``olga``. Telegram keeps the numeric user
    id only: a ``@username`` is refused, so that an erasure request is never answered
    "nothing is held" for want of the number.
    """
    value = value.strip()
    if channel == "mastodon":
        handle = value.lstrip("@").lower()
        user, _, domain = handle.partition("@")
        home = (urlsplit(mastodon_url).hostname or "").lower() if mastodon_url else ""
        return user if domain and domain == home else handle
    if channel == "telegram" and not value.lstrip("-").isdigit():
        raise UsageError(
            f"--platform-id: {value!r} is not a Telegram user id; give the person's "
            "numeric id (a @username is never kept, so it finds no one)"
        )
    return value


def _handle_hint(args: argparse.Namespace) -> str:
    """After "nothing is held": a Mastodon account's number is not what is kept."""
    value = args.platform_id.strip().lstrip("@")
    if args.channel == "mastodon" and value.isdigit():
        return (
            f"; Mastodon people are kept by their handle, not their account number: if "
            f"{value} is an account number, give the handle (@name or name@instance)"
        )
    return ""


async def participant_export(args: argparse.Namespace, settings: Settings | None) -> int:
    _check_person(args)
    who = person_id(args.channel, args.platform_id, _mastodon_url(settings))
    platform = await migrated_platform(settings)
    try:
        async with platform.sessionmaker() as session:
            data = await records.participant_data(session, platform.keyring, args.channel, who)
    finally:
        await platform.aclose()
    if data is None:
        print_json({"channel": args.channel, "held": False})
        print(f"nothing is held about this person{_handle_hint(args)}", file=sys.stderr)
        return OK
    print_json({**data, "held": True})
    return OK


async def participant_erase(args: argparse.Namespace, settings: Settings | None) -> int:
    from storage import queries

    _check_person(args)
    who = person_id(args.channel, args.platform_id, _mastodon_url(settings))
    platform = await migrated_platform(settings)
    try:
        async with platform.sessionmaker.begin() as session:
            # Events of theirs still waiting in the inbox would bring them back.
            waiting = await queries.forget_waiting_events(
                session, platform.keyring, args.channel, who
            )
            # Everywhere: on import, every consultation the person was imported into.
            people = await records.people_of(session, platform.keyring, args.channel, who)
            counts: Counter[str] = Counter(inbox=waiting)
            if waiting and not people:
                # Their messages may be prepared ahead in a running `engage run`: the
                # audit row of an erasure is how it learns to drop them (bot/erasures.py).
                session.add(
                    AuditEvent(
                        actor=cli_actor(),
                        action="participant.erase",
                        detail={"channel": args.channel, "responses": 0, "waiting": waiting},
                    )
                )
            for participant in people:
                counts.update(
                    await queries.erase_participant(
                        session, participant.id, actor=cli_actor(), channel=args.channel
                    )
                )
        # Nor may the words stay in SQLite's write-ahead log until it is next folded in.
        await checkpoint(platform.engine)
    finally:
        await platform.aclose()
    if not people:
        waited = f"; {waiting} waiting messages of theirs deleted" if waiting else ""
        print(f"nothing is held about this person{_handle_hint(args)}{waited}")
        return OK
    print(
        f"erased: {counts['response']} responses, {counts['consent']} consent records, "
        f"{counts['dialogue']} conversations, {counts['outbox']} queued messages; "
        f"kept: {counts['kept_cases']} open safety cases, without the person or their words"
    )
    return OK
