"""Publishing a consultation on its channels at launch, and closing it there.

Shared by `engage consultation launch/close` and the dashboard. A channel is published
once: posts already recorded for it are kept, so launching again after a failure only
retries the channels that failed. A channel whose launch failed is marked unpublished
(a ``publication`` row of kind ``unpublished``), and the runtime neither offers nor takes
answers for the consultation there until a later launch succeeds.

A channel whose adapter has not started yet (its platform unreachable when the server
started, tried again in the background) is not called: a launch leaves it marked
unpublished, and a close leaves its polls open, for the scheduler to publish or close
once the adapter starts (bot/schedule.py); the results name it among ``later``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Container, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import followups
from channels.adapter import ChannelAdapter, CredentialsRejected, PublishedPost
from consultations import service
from consultations.spec import ConsultationSpec, Problem, SpecError, unfinished
from storage import queries
from storage.tables import Consultation, Publication, utcnow

log = logging.getLogger(__name__)

#: Leaves a channel's part for when its adapter starts, in the session given
#: (:func:`bot.schedule.leave_for_adapter`).
LeaveFor = Callable[[AsyncSession, str], Awaitable[None]]
#: Told when a channel's platform refuses its adapter's credentials during a launch (a
#: token revoked while the process runs): the running process turns the adapter off.
Refused = Callable[[str, CredentialsRejected], None]

UNPUBLISHED = "unpublished"
"""The kind of the ``publication`` row that marks a channel whose launch failed."""


class Unfinished(SpecError):
    """A spec that still holds a draft's placeholder, or has closed already: it is
    launched nowhere."""


def launch_problems(spec: ConsultationSpec, now: datetime | None = None) -> list[Problem]:
    """What keeps ``spec`` from being launched: each text that still holds a draft's
    placeholder ("[what we changed]"), by field path, and, given ``now``, a ``closes_at``
    already past. The one check for every launch (``engage consultation launch``, the
    dashboard, an opening on time, which gives the time it opens: a consultation whose
    ``closes_at`` passed before its opening ran is not opened).
    """
    problems = unfinished(spec.to_dict())
    if now is not None and (passed := closed_already(spec, now)) is not None:
        problems.append(passed)
    return problems


def still_a_draft(index: int, earlier: str) -> Problem:
    """A follow-up naming, at ``follow_up.of[index]``, a consultation not launched yet:
    nobody has taken part in it, so launching the follow-up would invite no one."""
    return Problem(
        f"follow_up.of[{index}]",
        f"{earlier!r} is still a draft, so nobody has taken part in it; launch it first",
    )


async def drafts_followed(session: AsyncSession, spec: ConsultationSpec) -> list[Problem]:
    """The consultations ``spec`` follows up that are still drafts (see :func:`still_a_draft`),
    for every launch alike."""
    return [still_a_draft(index, earlier) for index, earlier in await _drafts(session, spec)]


async def _drafts(session: AsyncSession, spec: ConsultationSpec) -> list[tuple[int, str]]:
    """Each consultation ``spec`` follows up that is still a draft, with its index."""
    if spec.follow_up is None:
        return []
    drafts = set(
        await session.scalars(
            select(Consultation.id).where(
                Consultation.id.in_(spec.follow_up.of), Consultation.state == service.DRAFT
            )
        )
    )
    return [(i, earlier) for i, earlier in enumerate(spec.follow_up.of) if earlier in drafts]


async def draft_warnings(session: AsyncSession, spec: ConsultationSpec) -> list[str]:
    """For a follow-up stored while a consultation it follows is a draft (planned ahead:
    allowed), what its launch will wait for, by field path."""
    return [
        f"follow_up.of[{index}]: {earlier!r} is still a draft: launch it before this one "
        "(launching this one is refused until then)"
        for index, earlier in await _drafts(session, spec)
    ]


def closed_already(spec: ConsultationSpec, now: datetime) -> Problem | None:
    """A ``closes_at`` at or before ``now``: launched, the consultation would take
    answers only until the schedule next looked (about a minute) and then close unseen."""
    if spec.closes_at is None or spec.closes_at > now:
        return None
    return Problem(
        "closes_at",
        f"{spec.closes_at.isoformat()} has passed, so it would close as soon as it opened; "
        "set a later closes_at and store the spec again",
    )


@dataclass
class ChannelResults:
    """What happened on each channel."""

    done: dict[str, int] = field(default_factory=dict)  # channel -> posts made
    failed: dict[str, str] = field(default_factory=dict)  # channel -> why
    skipped: list[str] = field(default_factory=list)  # named but not configured here
    # Its adapter has not started yet: done there once it starts.
    later: list[str] = field(default_factory=list)
    # Its platform refused the adapter's credentials (channel -> "VARIABLE: why"): done
    # there once that is put right and the adapter starts; also among ``later``.
    refused: dict[str, str] = field(default_factory=dict)


@dataclass
class Launch:
    """A launch: what each channel did, and whether it was undone (published nowhere)."""

    results: ChannelResults
    undone: bool
    # A follow-up's invitations newly queued (or waiting on the web page), per channel.
    invited: dict[str, int] = field(default_factory=dict)

    @property
    def nowhere(self) -> bool:
        """Published on none of the channels meant: each failed, or was not configured
        here (a launch meant for Telegram alone, without its token, reaches no one). A
        channel whose adapter has not started yet is published once it starts."""
        results = self.results
        return bool(results.failed or results.skipped) and not (results.done or results.later)


async def launch(
    sessionmaker: async_sessionmaker[AsyncSession],
    adapters: Mapping[str, ChannelAdapter],
    spec: ConsultationSpec,
    channels: list[str],
    *,
    keys: queries.ReferenceKeys,
    now: datetime | None = None,
    waiting: Container[str] = frozenset(),
    leave: LeaveFor | None = None,
    refused: Refused | None = None,
) -> Launch:
    """Open a consultation and publish it; a draft that published nowhere is a draft again.

    ``waiting`` names the channels whose adapter has not started yet: those of
    ``channels`` not published yet are not called but marked unpublished as it opens,
    ``leave`` called for each in the same transaction (their publishing left to the
    scheduler: :func:`bot.schedule.launch`), and named in the results' ``later``.

    Raises :class:`consultations.service.LifecycleError` when it cannot open (closed),
    and :class:`Unfinished` for a spec that still holds a placeholder, or, given ``now``,
    whose ``closes_at`` has passed, or that follows up a consultation still a draft
    (nothing opened).
    """
    left = launch_problems(spec, now)
    if spec.follow_up is not None:
        async with sessionmaker() as session:
            left += await drafts_followed(session, spec)
    if left:
        raise Unfinished(left)
    async with sessionmaker.begin() as session:
        row = await service.require(session, spec.id)
        was_draft = row.state == service.DRAFT
        await service.open_(session, spec.id)
        # Marked as it opens: nothing is offered or asked there before its introduction.
        posted = await _published_on(session, spec.id)
        later = [c for c in channels if c in adapters and c in waiting and c not in posted]
        for name in later:
            await _mark_unpublished(session, name, spec.id)
            if leave is not None:
                await leave(session, name)
    results = await publish(
        sessionmaker,
        adapters,
        spec,
        [c for c in channels if c not in later],
        keys=keys,
        refused=refused,
    )
    results.later = later
    if results.refused:
        # Its credentials refused (a token revoked while running): as for an adapter not
        # started, its publishing is left for when it starts again, and it is turned off.
        async with sessionmaker.begin() as session:
            for name in results.refused:
                if leave is not None:
                    await leave(session, name)
        results.later = [*later, *results.refused]
    done = Launch(results, undone=False)
    if done.nowhere and was_draft:
        # Published on none of the channels meant: as if never launched, so it is offered
        # to no one (CLI and dashboard alike).
        async with sessionmaker.begin() as session:
            await service.unlaunch(session, spec.id)
        done.undone = True
    elif spec.follow_up is not None:
        # Invited only where the consultation is now published: there they can answer.
        async with sessionmaker.begin() as session:
            done.invited = await followups.invite(session, keys, spec, channels=list(results.done))
    return done


async def publish(
    sessionmaker: async_sessionmaker[AsyncSession],
    adapters: Mapping[str, ChannelAdapter],
    spec: ConsultationSpec,
    channels: list[str],
    *,
    keys: queries.ReferenceKeys,
    refused: Refused | None = None,
) -> ChannelResults:
    """Post a consultation's items on each of ``channels`` not yet published.

    A channel whose platform refuses the adapter's credentials is named in the results'
    ``refused`` and ``refused`` is told (the process turns that adapter off)."""
    results = ChannelResults()
    for name in channels:
        adapter = adapters.get(name)
        if adapter is None:
            results.skipped.append(name)
            continue
        try:
            results.done[name] = await _publish_once(sessionmaker, adapter, spec, keys)
        except CredentialsRejected as exc:
            log.error("%s: %s; publishing %s there waits for a restart", exc.setting, exc, spec.id)
            results.refused[name] = f"{exc.setting}: {exc}"
            await mark_unpublished(sessionmaker, name, spec.id)
            if refused is not None:
                refused(name, exc)
        except Exception as exc:
            # One line for the operator; the traceback only when debugging.
            log.debug("publishing %s on %s failed", spec.id, name, exc_info=True)
            results.failed[name] = str(exc) or type(exc).__name__
            await mark_unpublished(sessionmaker, name, spec.id)
    return results


async def mark_unpublished(
    sessionmaker: async_sessionmaker[AsyncSession], channel: str, consultation_id: str
) -> None:
    """Mark ``channel`` as not published for the consultation (a launch that failed
    there, or one left for when its adapter starts: bot/schedule.py)."""
    async with sessionmaker.begin() as session:
        await _mark_unpublished(session, channel, consultation_id)


async def _published_on(session: AsyncSession, consultation_id: str) -> set[str]:
    """The channels the consultation's items are posted on."""
    return set(
        await session.scalars(
            select(Publication.channel)
            .where(
                Publication.consultation_id == consultation_id,
                Publication.kind.not_in((UNPUBLISHED, PUBLISHING)),
            )
            .distinct()
        )
    )


async def _mark_unpublished(session: AsyncSession, channel: str, consultation_id: str) -> None:
    marked = await session.scalar(
        select(Publication.id).where(
            Publication.consultation_id == consultation_id,
            Publication.channel == channel,
            Publication.kind == UNPUBLISHED,
        )
    )
    if marked is None:
        session.add(
            Publication(
                consultation_id=consultation_id,
                item_id=None,
                channel=channel,
                platform_ref=f"{UNPUBLISHED}:{consultation_id}",
                kind=UNPUBLISHED,
            )
        )


#: A launch publishing on a channel holds this marker row while it posts, so that a
#: second launch at the same moment (two operators, the command line beside the
#: dashboard) does not post everything again.
PUBLISHING = "publishing"
#: Publications that are not a message of their own, left out of the posts counted.
NOT_POSTS = frozenset({"poll", "topic", "answers"})
#: A marker left by a launch that died while posting is taken for stale after this.
CLAIM_TTL = timedelta(minutes=10)


async def _publish_once(
    sessionmaker: async_sessionmaker[AsyncSession],
    adapter: ChannelAdapter,
    spec: ConsultationSpec,
    keys: queries.ReferenceKeys,
) -> int:
    claim = f"{PUBLISHING}:{spec.id}"
    mine = (Publication.channel == adapter.name, Publication.platform_ref == claim)
    async with sessionmaker.begin() as session:
        # The marker is written first, so the transaction takes the write lock at once
        # (SQLite) or waits on the other's row (PostgreSQL): of two launches, the second
        # finds the first's marker, or its posts once they are stored.
        await session.execute(
            delete(Publication).where(*mine, Publication.created_at < utcnow() - CLAIM_TTL)
        )
        claimed = await session.scalar(
            queries.dialect_insert(session, Publication)
            .values(
                consultation_id=spec.id,
                item_id=None,
                channel=adapter.name,
                platform_ref=claim,
                kind=PUBLISHING,
                created_at=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=["channel", "platform_ref"])
            .returning(Publication.id)
        )
        if claimed is None:
            return 0  # another launch is posting it now
        done = await session.scalar(
            select(Publication.id)
            .where(
                Publication.consultation_id == spec.id,
                Publication.channel == adapter.name,
                Publication.kind.not_in((UNPUBLISHED, PUBLISHING)),
            )
            .limit(1)
        )
        if done is not None:
            await session.execute(delete(Publication).where(*mine))
            return 0
    # Adapters leave out items with an `at:` time: the timeline posts them then
    # (bot/timeline.py).
    try:
        posts = await adapter.publish(spec)
    except BaseException:
        async with sessionmaker.begin() as session:
            await session.execute(delete(Publication).where(*mine))
        raise
    async with sessionmaker.begin() as session:
        await session.execute(
            delete(Publication).where(
                Publication.consultation_id == spec.id,
                Publication.channel == adapter.name,
                Publication.kind.in_((UNPUBLISHED, PUBLISHING)),
            )
        )
        for post in posts:
            session.add(
                queries.new_publication(
                    keys,
                    consultation_id=spec.id,
                    item_id=post.item_id,
                    channel=adapter.name,
                    platform_ref=post.platform_ref,
                    kind=post.kind,
                )
            )
    # What people see posted: a native poll is the same message as its item, and a
    # forum topic or a chat's answers place is no post of its own.
    return sum(1 for post in posts if post.kind not in NOT_POSTS)


async def close(
    sessionmaker: async_sessionmaker[AsyncSession],
    adapters: Mapping[str, ChannelAdapter],
    spec: ConsultationSpec,
    *,
    keys: queries.ReferenceKeys,
    waiting: Container[str] = frozenset(),
    leave: LeaveFor | None = None,
) -> ChannelResults:
    """Close what was published (native polls) on every configured channel.

    A channel in ``waiting`` (its adapter not started yet) is not called: when it has
    posts to close, ``leave`` is called for it (their closing left to the scheduler:
    :func:`bot.schedule.close`) before any channel is called, and it is named in the
    results' ``later``; one with nothing there is left nothing.
    """
    async with sessionmaker() as session:
        published = (
            await session.scalars(
                select(Publication).where(
                    Publication.consultation_id == spec.id,
                    Publication.kind.not_in((UNPUBLISHED, PUBLISHING)),
                )
            )
        ).all()
    results = ChannelResults()
    results.later = [
        name for name in adapters if name in waiting and any(p.channel == name for p in published)
    ]
    if results.later and leave is not None:
        async with sessionmaker.begin() as session:
            for name in results.later:
                await leave(session, name)
    for name, adapter in adapters.items():
        posts = [
            PublishedPost(p.item_id, queries.publication_ref(keys, p), p.kind)
            for p in published
            if p.channel == name
        ]
        if not posts or name in results.later:
            continue
        try:
            await adapter.close(spec, posts)
            results.done[name] = len(posts)
        except Exception as exc:
            log.exception("closing %s on %s failed", spec.id, name)
            results.failed[name] = str(exc) or type(exc).__name__
    return results
