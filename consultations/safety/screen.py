"""The safety screen: is a free-text reply a crisis or safeguarding disclosure?

Three layers, in order:

1. normalisation (``normalise.py``) brings markup, text-speak, leetspeak, spacing
   tricks and misspellings to plain lower-case English;
2. the lexicon (``lexicon.py``) finds listed phrases and sets aside negations, idioms,
   names of services and reports of others' words;
3. the semantic layer (``semantic.py``) scores what the lexicon did not list.

A text the screen cannot read (another script, or a language other than English or
Spanish) is marked ``needs_review`` so that a person looks at it, unless the readable
part of it is already a disclosure.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from .language import ENGLISH, READABLE, SPANISH, WELSH, read_languages
from .lexicon import CATEGORIES, Hit, Lexicon, default_lexicon
from .normalise import RunTogether, fold, normalise_folded
from .semantic import SemanticModel, default_model

#: Categories that alert moderators on arrival.
URGENT_CATEGORIES = frozenset({"suicidal-active", "plan-means", "harm-to-others"})
#: The evidence of a verdict only the semantic layer reached (no listed phrase matched).
SEMANTIC = "semantic"
_ORDER = {category: rank for rank, category in enumerate(CATEGORIES)}
_EVIDENCE_LENGTH = 80
_MIN_WORDS = 3
#: Words a text without risk vocabulary needs before the semantic layer scores it (against
#: its stricter ``plain_threshold``): shorter replies share function words with
#: disclosures and little else, and score high on those alone ("not a thing" 0.88; "I want
#: to go home", which inpatients write often, 0.90 with five words).
PLAIN_MIN_WORDS = 6


def _has_words(prepared: str, enough: int) -> bool:
    """Whether ``prepared`` has at least ``enough`` words (tokens that start with a
    letter or a digit)."""
    count = 0
    for token in prepared.split():
        if token[0].isalnum():
            count += 1
            if count >= enough:
                return True
    return False


@dataclass(frozen=True)
class Assessment:
    """The screen's verdict on one text."""

    flagged: bool
    """A disclosure: send the safety reply now and open a moderation case."""
    categories: tuple[str, ...]
    """The categories that matched, most serious first."""
    urgent: bool
    """Active ideation, a plan or means, harm to others, or a child in danger."""
    needs_review: bool
    """The screen could not read the text (language or script): a person should look."""
    evidence: str | None
    """The phrase that matched, or :data:`SEMANTIC` when only the model flagged the text."""
    tentative: bool = False
    """Only the model flagged the text, with a whole-text score less than
    :data:`TENTATIVE_MARGIN` over its threshold: where most of its false alarms are."""

    @property
    def by_model(self) -> bool:
        """A disclosure only the semantic layer flagged: no listed phrase matched."""
        return self.flagged and self.evidence == SEMANTIC


#: How far over the model's whole-text threshold a score stays tentative (0.31 to 0.61
#: with the shipped model; 0.41 to 0.71 until tune batches 124 to 131). Chosen out of
#: fold with folds by writer: of the tune texts only the model flagged, the band holds
#: 0.68 of the look-alikes against 0.062 of the disclosures (0.2 held 0.52 and 0.030; with
#: the model before its features were scaled, 0.2 held 0.64 and 0.085). With the shipped
#: screen it holds 284 of the 440 held-out look-alikes only the model flagged, 30 of the
#: 44 ordinary answers (bench/safety_suggestions.py, both sets) and 63 of the 88 real
#: comments, against 190 of the 10,419 held-out disclosures the screen catches
#: (docs/safety.md, "A check-in for tentative flags", "Features scaled by how much they
#: tell the classes apart" and "Tune batches 124 to 131 and the recall budgets").
TENTATIVE_MARGIN = 0.3

CLEAR = Assessment(False, (), False, False, None)
UNREADABLE = Assessment(False, (), False, True, None)


class Screen:
    """A lexicon and a semantic model together; :func:`assess` uses the shipped ones."""

    def __init__(self, lexicon: Lexicon, model: SemanticModel | None) -> None:
        self.lexicon = lexicon
        self.model = model
        # The vocabulary that decides how drawn-out letters collapse is the lexicon's
        # alone, so that training (which has no model yet) and use read texts alike.
        self.known = lexicon.vocabulary
        # Run-together tokens ("#iwanttodie") are split with common English words by
        # frequency, never splitting a word of those or of the lexicon's.
        pieces = model.vocabulary if model is not None else frozenset()
        self.run_together = RunTogether(_common_words(), self.known, pieces)

    def prepare(self, text: str, folded: str | None = None) -> str:
        """The normalised, masked text the lexicon reads."""
        folded = fold(text) if folded is None else folded
        return self.lexicon.mask(normalise_folded(folded, self.known))

    def read(self, text: str, folded: str | None = None) -> tuple[list[Hit], str]:
        """The lexicon's hits, and the text the semantic layer reads."""
        return self.lexicon.read(self.prepare(text, folded))

    def risky(self, prepared: str) -> bool:
        """Whether a prepared text has any risk vocabulary (the lexicon's ``risk`` list).

        The semantic layer scores such texts against its usual thresholds: a reply
        without a word about death, harm, pills, plans, abuse, despair or the like is
        mostly ordinary feedback, however many words it shares with disclosures ("again",
        "tonight"), so it is scored only when long enough and against a far stricter
        threshold (:meth:`plain_scorable`).
        """
        return self.lexicon.risky(prepared)

    def semantic_probability(self, text: str) -> float:
        """The semantic layer's probability for a raw text (0 without a model)."""
        if self.model is None:
            return 0.0
        return self.model.probability(self.read(text)[1])

    def assess(self, text: str) -> Assessment:
        """Screen one text."""
        if not text or not text.strip():
            return CLEAR
        folded = fold(text)
        reading = read_languages(folded)
        language = reading.language
        normalised = normalise_folded(folded, self.known)
        # The lexicon reads every text. The risk vocabulary once decided that too, to skip
        # most replies, but a phrase it lacked a word of was never read: held-out
        # disclosures passed as clear that way whenever a new blind batch found such a gap
        # (saved tablets by name, "glass that bloke", "set the date"). Reading costs about
        # 23 us a reply more.
        # The semantic layer scores texts with risk vocabulary (scorable) against its
        # usual thresholds, and longer ones without it against a far stricter one.
        hits, prepared = self.lexicon.read(self.lexicon.mask(normalised))
        # Spanish and Welsh are read in their own folded form (accents removed), in a
        # text in that language or with a clause in it ("Great clinic, pero quiero morir").
        readable = {language, *reading.also}
        plain = _plain_form(text) if readable & {SPANISH, WELSH} else ""
        if not hits and SPANISH in readable:
            hits = self.lexicon.spanish_hits(plain)
        if not hits and WELSH in readable:
            hits = self.lexicon.welsh_hits(plain)
        if not hits and ENGLISH in readable:
            # Words run together as in hashtags and quick texts ("#iwanttodie",
            # "hehitsme"): the split text is read by the lexicon as well as the original.
            split_hits, split_prepared = self._run_together_hits(folded)
            if split_hits:
                return self._verdict(split_hits, split_prepared)
        if hits:
            return self._verdict(hits, prepared)
        # The model scores any text with English risk vocabulary, whatever language the
        # guess gave it: English written by someone whose first language is Polish,
        # Portuguese or Spanish (a few of their words in it) was guessed as that language
        # and never scored, and a text wholly in another language has no English risk
        # words to be scored on. A text it does not flag is still queued for a look below.
        model = self.model
        if model is not None and _has_words(prepared, _MIN_WORDS):
            if self.lexicon.risky(prepared):
                # A long reply is also scored sentence by sentence, against a threshold
                # of its own: one clause of a complaint can be the disclosure.
                # Sentences are scored up to the top of the tentative band: a text just
                # over the threshold, where most false alarms are, gets a check-in, unless
                # one of its sentences is a disclosure on its own, which holds the
                # dialogue as any flag does.
                band_top = model.threshold + TENTATIVE_MARGIN
                whole, best, sentence = model.scores(prepared, self.scorable, below=band_top)
                if best >= model.sentence_threshold:
                    return _semantic(model.category(sentence))
                if whole >= model.threshold:
                    tentative = whole < band_top
                    return _semantic(model.category(prepared), tentative=tentative)
            elif (
                model.plain_threshold <= 1.0
                and _has_words(prepared, PLAIN_MIN_WORDS)
                and model.probability(prepared) >= model.plain_threshold
            ):
                # A paraphrase without one word of the risk vocabulary ("I lie awake
                # hoping the lights go out for me for good"), scored whole against a far
                # stricter threshold.
                return _semantic(model.category(prepared))
        if language not in READABLE or reading.unread:
            # Wholly in another language, or with a clause in one the screen cannot read
            # (another script, or a word of dying or self-harm): a person looks.
            return UNREADABLE
        if WELSH in readable and self.lexicon.welsh_risky(plain):
            # Welsh is read through a small lexicon: a text it did not flag that has a word
            # of risk in it ("marw", "lladd", "brifo fy ...") goes to a person.
            return UNREADABLE
        return CLEAR

    def _run_together_hits(self, folded: str) -> tuple[list[Hit], str]:
        """The lexicon's hits in ``folded`` with its run-together tokens split, each
        phrase reaching across a place where words were split apart ("kill myself" in
        "#killmyself"): a word that was only part of a token ("suicide" in a band's name
        "suicideboys") or a phrase elsewhere in the text, which the original was read
        for, does not count."""
        split = self.run_together.split(folded)
        if split is None:
            return [], ""
        text, joins = split
        # The words split apart must have risk vocabulary for a phrase across them to be
        # looked for: a tenth of real comments have a long word the word lists lack, and
        # reading all of them again cost a twentieth of the screen's speed.
        if not self.lexicon.risky(normalise_folded(" ".join(map(" ".join, joins)), self.known)):
            return [], ""
        hits, prepared = self.lexicon.read(self.lexicon.mask(normalise_folded(text, self.known)))
        if not hits:
            return [], ""
        pairs = set()
        for left, right in joins:
            # The pair as the normaliser reads it ("cant" "go" -> "not go").
            before = normalise_folded(left, self.known).split()
            after = normalise_folded(right, self.known).split()
            if before and after:
                pairs.add(f" {before[-1]} {after[0]} ")
        return [hit for hit in hits if any(pair in f" {hit.phrase} " for pair in pairs)], prepared

    def plain_scorable(self, prepared: str) -> bool:
        """Whether the semantic layer scores a prepared text that has no risk vocabulary
        (against ``plain_threshold``): :data:`PLAIN_MIN_WORDS` words or more."""
        return _has_words(prepared, PLAIN_MIN_WORDS) and not self.lexicon.risky(prepared)

    def scorable(self, prepared: str) -> bool:
        """Whether the semantic layer scores a prepared text (or one of its sentences):
        three or more words, with risk vocabulary once masked and set-aside phrases are
        gone. A reply of one or two words gives the model too little to go on (its
        features are normalised to unit length, so a lone word would weigh as much as a
        sentence); the lexicon alone reads those."""
        return _has_words(prepared, _MIN_WORDS) and self.lexicon.risky(prepared)

    def _verdict(self, hits: list[Hit], prepared: str) -> Assessment:
        ranked = sorted(hits, key=lambda hit: (_ORDER[hit.category], hit.start))
        categories = tuple(dict.fromkeys(hit.category for hit in ranked))
        urgent = any(hit.underlying in URGENT_CATEGORIES for hit in hits) or (
            any(hit.category == "safeguarding" for hit in hits)
            and bool(self.lexicon.cues["child"].search(prepared))
        )
        evidence = ranked[0].phrase.strip()[:_EVIDENCE_LENGTH]
        return Assessment(True, categories, urgent, False, evidence)


def _semantic(category: str, *, tentative: bool = False) -> Assessment:
    """A text only the semantic layer flagged, in the category its model names."""
    return Assessment(
        flagged=True,
        categories=(category,),
        urgent=category in URGENT_CATEGORIES,
        needs_review=False,
        evidence=SEMANTIC,
        tentative=tentative,
    )


def _plain_form(text: str) -> str:
    """Spanish or Welsh text folded with accents removed, without English text-speak
    rewriting."""
    decomposed = unicodedata.normalize("NFD", fold(text))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@cache
def _common_words() -> tuple[str, ...]:
    """``data/words.txt``: common English words, most frequent first (the words of the
    text analyser's static embedding, by Zipf rank)."""
    return tuple((Path(__file__).parent / "data" / "words.txt").read_text().split())


@cache
def default_screen() -> Screen:
    """The screen with the shipped lexicon and model, built once."""
    return Screen(default_lexicon(), default_model())


def assess(text: str) -> Assessment:
    """Screen one free-text reply for crisis and safeguarding disclosures."""
    return default_screen().assess(text)


def assess_many(texts: Sequence[str]) -> list[Assessment]:
    """Screen many texts, e.g. an import; repeated texts are screened once."""
    screen = default_screen()
    seen: dict[str, Assessment] = {}
    results: list[Assessment] = []
    for text in texts:
        verdict = seen.get(text)
        if verdict is None:
            verdict = screen.assess(text)
            seen[text] = verdict
        results.append(verdict)
    return results
