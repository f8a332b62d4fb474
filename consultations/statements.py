"""Statement voting, the pure parts: reading a vote, spotting a near-duplicate, choosing
which statement a person sees next. No store, no channel.

Question ids: a vote on statement 17 of item ``ideas`` is asked as ``ideas#17``; the
invitation to add one's own statement as ``ideas#add``. Spec ids allow no ``#``, so
these never clash with an item or segment id.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from consultations.dialogue import normalise
from consultations.repeats import DUPLICATE_SIMILARITY as DUPLICATE_SIMILARITY
from consultations.repeats import content_words as content_words
from consultations.repeats import similarity as similarity
from consultations.texts import ENGLISH, Texts
from storage import statements as statement_store
from storage.statements import STATEMENT_REF as STATEMENT_REF
from storage.statements import statement_of as statement_of

VOTES = ("agree", "disagree", "pass")
#: The vote as a number, as the opinion analysis reads it.
VOTE_VALUE = {"agree": 1, "disagree": -1, "pass": 0}
ADD = "add"
#: Longest statement people may add (the same bound the spec puts on seeds).
STATEMENT_MAX = 280


def question_id(item_id: str, part: int | str) -> str:
    """The question id of a vote on statement ``part``, or of the ``add`` invitation."""
    return f"{item_id}#{part}"


def parse_question(question: str) -> tuple[str, int | str] | None:
    """``(item id, statement id or "add")`` from :func:`question_id`, else ``None``."""
    item_id, sep, part = question.partition("#")
    if not sep or not item_id:
        return None
    if part == ADD:
        return item_id, ADD
    if part.isascii() and part.isdigit() and len(part) <= 18:
        return item_id, int(part)
    return None


def has_words(text: str) -> bool:
    """Whether a statement says anything: a letter or a digit, not only spaces,
    punctuation, emoji or invisible characters (a zero-width space would otherwise be
    shown to everyone as an empty statement to vote on)."""
    return any(character.isalnum() for character in text)


def statement_ref(statement_id: int) -> str:
    """The record id of a statement, which votes name in ``in_reply_to``."""
    return f"{STATEMENT_REF}{statement_id}"


def _forms(raw: str) -> tuple[str, ...]:
    """A typed reply as it is compared with the word lists: as typed (lower case, no
    final full stop or "!", so "-1" stays a disagree), then as the keyword lists are
    compared (:func:`consultations.dialogue.normalise`: "¡Sí!" is "sí")."""
    typed = re.sub(r"[\s.!]+$", "", raw.strip().lower())
    return (typed, normalise(raw))


def read_vote(raw: str, texts: Texts = ENGLISH, *, yes_no: bool = True) -> str | None:
    """``agree``, ``disagree`` or ``pass`` from a button label or typed words, else None.

    The buttons' labels and the vote words (``statements_agree_words``...) of the
    consultation's language and of English; with ``yes_no``, its yes and no words too, as
    agree and disagree ("sí", "ydw"): where a statement is shown, a yes agrees with it,
    but at the invitation to add one it says only "I see".
    """
    for vote in VOTES:
        if raw in (texts(f"statements_{vote}"), ENGLISH(f"statements_{vote}")):
            return vote
    for form in _forms(raw):
        for vote in VOTES:
            if form in texts.words(f"statements_{vote}_words"):
                return vote
        if yes_no and form in texts.words("yes_words"):
            return "agree"
        if yes_no and form in texts.words("no_words"):
            return "disagree"
    return None


def is_done(raw: str, texts: Texts = ENGLISH, *, no_words: bool = True) -> bool:
    """Whether typed words say the person has nothing (more) to add: a done word of the
    consultation's language or of English, or (with ``no_words``) a no word."""
    return any(
        form in texts.words("statements_done_words")
        or (no_words and form in texts.words("no_words"))
        for form in _forms(raw)
    )


#: Fewer letters than this is no idea to vote on ("ok", "sí", "1", "👍").
IDEA_LETTERS = 3


def not_an_idea(raw: str, texts: Texts = ENGLISH) -> bool:
    """Whether a typed reply is too short to be a statement: fewer than
    :data:`IDEA_LETTERS` letters (a bare number, an emoji), or the whole of it a yes or a
    common acknowledgement ("thanks", "vale", "diolch") in the language or in English."""
    if sum(character.isalpha() for character in raw) < IDEA_LETTERS:
        return True
    return any(
        form in texts.words("statements_acknowledgement_words") or form in texts.words("yes_words")
        for form in _forms(raw)
    )


@dataclass(frozen=True)
class Known:
    """A statement already there, as the duplicate check sees it."""

    id: int
    text: str
    mine: bool = False


def near_duplicate(text: str, known: Iterable[Known], language: str = "en") -> Known | None:
    """The existing statement most like ``text``, if it is alike enough to be a repeat
    (statements in the consultation's ``language``)."""
    words = content_words(text, language)
    best: tuple[float, Known] | None = None
    for statement in known:
        score = similarity(words, content_words(statement.text, language))
        if score >= DUPLICATE_SIMILARITY and (best is None or score > best[0]):
            best = (score, statement)
    return None if best is None else best[1]


@dataclass(frozen=True)
class Tally:
    """A shown statement and its votes so far."""

    id: int
    text: str
    agrees: int
    disagrees: int
    passes: int
    author: int | None = None
    #: How far apart the opinion groups stand on it (0..1), once there are groups.
    split: float | None = None

    @property
    def votes(self) -> int:
        return self.agrees + self.disagrees + self.passes


def informativeness(tally: Tally) -> float:
    """How much a vote on this statement would tell, higher first.

    Two things make a vote worth having (as in Pol.is's comment routing): a statement
    few people have voted on, whose standing is still unknown, and one that splits the
    opinion groups, because those are the statements that place a person in one. The
    first falls off as 1/sqrt(votes + 1). The second is the groups' own spread on it
    (``split``, from the latest groups) once there are groups, and before that the
    balance 4p(1 - p) of the smoothed agree share among agree and disagree votes; either
    is counted only as far as there are votes to trust it.
    """
    novelty = 1.0 / math.sqrt(tally.votes + 1)
    decided = tally.agrees + tally.disagrees
    p = (tally.agrees + 1) / (decided + 2)
    divides = tally.split if tally.split is not None else 4 * p * (1 - p)
    split = divides * (1 - 1 / math.sqrt(decided + 1))
    # Statements most people pass on tell little whatever their balance.
    clarity = (decided + 1) / (tally.votes + 1)
    return novelty + split * clarity


def group_spreads(
    votes: Iterable[tuple[str, str, int]], membership: Mapping[str, int]
) -> dict[str, float]:
    """How far apart the groups stand on each statement: 0 alike, 1 opposite.

    A group's stance is (agrees - disagrees) / (votes + 2), smoothed so a handful of
    votes cannot look unanimous; the spread is half the range of the stances. Only
    statements that at least two groups voted on get one. ``membership`` maps a
    participant to their group; people in no group are left out.
    """
    counts: dict[str, dict[int, list[int]]] = {}
    for participant, statement, vote in votes:
        group = membership.get(participant)
        if group is None:
            continue
        tally = counts.setdefault(statement, {}).setdefault(group, [0, 0])
        tally[0] += vote
        tally[1] += 1
    spreads: dict[str, float] = {}
    for statement, groups in counts.items():
        if len(groups) < 2:
            continue
        stances = [net / (n + 2) for net, n in groups.values()]
        spreads[statement] = (max(stances) - min(stances)) / 2
    return spreads


def ranked_to_vote(
    tallies: Sequence[Tally],
    voted: Iterable[int],
    participant_id: int | None = None,
    *,
    prefer: int | None = None,
) -> list[Tally]:
    """Every statement this person may vote on (never their own, never one they voted
    on), the one to show next first: ``prefer`` (the one a refused near-repeat repeats)
    when it may be shown, then by how much a vote on each would tell."""
    done = set(voted)
    # Ties go to the older statement, so the order is the same on every worker.
    ranked = sorted(
        (
            t
            for t in tallies
            if t.id not in done and (participant_id is None or t.author != participant_id)
        ),
        key=lambda t: (-informativeness(t), t.id),
    )
    preferred = next((t for t in ranked if t.id == prefer), None)
    if preferred is not None:
        ranked.remove(preferred)
        ranked.insert(0, preferred)
    return ranked


def choose_next(
    tallies: Sequence[Tally],
    voted: Iterable[int],
    participant_id: int | None = None,
    *,
    prefer: int | None = None,
) -> Tally | None:
    """The statement to show this person next (the first of :func:`ranked_to_vote`)."""
    ranked = ranked_to_vote(tallies, voted, participant_id, prefer=prefer)
    return ranked[0] if ranked else None


async def _shown_and_voted(
    session: AsyncSession, participant_id: int, consultation_id: str, item_id: str
) -> tuple[list[Tally], set[int]]:
    """An item's statements shown to people, and those this person voted on."""
    shown = await statement_store.shown(session, consultation_id, item_id)
    voted = await statement_store.voted(session, participant_id, consultation_id, item_id)
    done = {statement_of(ref) for ref in voted}
    tallies = [
        Tally(s.id, s.text, s.agrees, s.disagrees, s.passes, s.participant_id, s.split)
        for s in shown
    ]
    return tallies, {d for d in done if d is not None}


async def next_to_vote(
    session: AsyncSession,
    participant_id: int,
    consultation_id: str,
    item_id: str,
    *,
    prefer: int | None = None,
) -> tuple[Tally | None, list[Tally]]:
    """The shown statement of an item for this person to vote on next (:func:`choose_next`
    over the statements shown and the votes they gave: the one rule of every channel),
    and the statements shown."""
    tallies, voted_on = await _shown_and_voted(session, participant_id, consultation_id, item_id)
    return choose_next(tallies, voted_on, participant_id, prefer=prefer), tallies


async def all_to_vote(
    session: AsyncSession,
    participant_id: int,
    consultation_id: str,
    item_id: str,
    *,
    prefer: int | None = None,
) -> list[Tally]:
    """Every shown statement of an item this person may vote on, the one
    :func:`next_to_vote` gives first (the web page offers the rest beside it)."""
    tallies, voted_on = await _shown_and_voted(session, participant_id, consultation_id, item_id)
    return ranked_to_vote(tallies, voted_on, participant_id, prefer=prefer)
