"""The curated lexicon: phrases by category, with the context that sets a phrase aside.

The phrases live in ``data/lexicon.yaml`` (the project's own, MIT). This module compiles
them and decides, for each phrase found in a normalised text, whether it is a disclosure:

* **masks** are removed first: names of services and training ("suicide prevention
  team"), idioms and hyperbole ("the wait was killing me", "dying for a cuppa"), and
  someone else's completed suicide (bereavement, not a current risk);
* **negation** just before a phrase sets it aside ("I have never felt suicidal"), unless a
  new subject starts in between ("nobody cares, I want to die") or the negation is undone
  ("I can not stop thinking about ..."); a subject inside the negated clause does not end
  it ("not once have I thought about ...", "it is not that I want to ..."); phrases that
  carry their own negation ("I do not want to live") are listed whole, so the words before
  them are what count;
* a **quotation** named as one ("a poem called I wish I could disappear", "'I want to die'
  is a phrase I hear") is set aside;
* **topics** (a bare "suicide", "domestic abuse") are also set aside in a clause about a
  service, a form, training, the news or advice ("the leaflet says if you feel suicidal");
* an **accident** sets aside self-injury ("I cut myself shaving"), and a **recovery**
  ("I used to self harm but I am doing well now") sets aside a past state;
* a phrase about **someone else** ("my son said he wants to die") is reported as
  ``third-party``, keeping the category it would have had for urgency.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .phrases import Phrases, Reading, branch_key, read_branch

#: Categories, most serious first: the order of ``Assessment.categories``.
CATEGORIES: tuple[str, ...] = (
    "plan-means",
    "suicidal-active",
    "harm-to-others",
    "safeguarding",
    "self-harm",
    "suicidal-passive",
    "past-attempt",
    "third-party",
)
#: Categories about the writer's own safety, which may instead be about someone else.
_PERSONAL = frozenset(
    {"suicidal-active", "suicidal-passive", "plan-means", "past-attempt", "self-harm"}
)
_SELF_INJURY = frozenset({"self-harm", "past-attempt"})
_FIRST_PERSON = re.compile(r"\b(?:i|me|my|myself|mine|im)\b")
_IMMEDIATE_THIRD = re.compile(r"\b(?:he|she|they|hes|shes|he is|she is|they are)\s*$")
# "my husband was abused", "she was once trafficked": it happened to someone else.
_OTHER_PASSIVE = re.compile(
    r"(?:(?:my|our|his|her|their) (?:\w+ )?\w+|he|she|they) "
    r"(?:was|were|had been|has been|got) (?:once )?"
    r"(?:abused|hit|beaten|raped|assaulted|attacked|trafficked|groomed|neglected|bullied)$"
)
# A plan phrase told in the past ("jumped off the garage roof") may be an accident.
#: A phrase that opens with the writer's own promise ("i will ...", "i am going to ...").
_PROMISE = re.compile(r"i (?:will|am going to|am gonna|swear i will|am about to)\b")
#: A condition the negation sits in ("if they do not ...", "unless", "when they deny").
_CONDITION = re.compile(r"\b(?:if|unless|when|whenever|next time)\b")
#: Negative concord, as many Englishes write a negative ("i don't see no reason to keep
#: going", "ain't got nothing to live for"): the words after the negation, phrase
#: included, are a verb or two ("see", "got", "have got") and a second negative, so the
#: first does not deny the phrase. Never a clause of its own ("i don't feel like there is
#: no point" denies it).
_CONCORD = re.compile(
    r"(?!(?:\w+ )?(?:like|that|there|if|as|think|thought|feel|felt|say|said)\b)"
    r"\w+ (?:\w+ )?(?:no|nothing|nobody|no one|none)\b"
)
_PAST_VERB = re.compile(r"(?:jumped|fell|stepped|walked|ran|drove|crashed)\b")
_CLAUSE_BREAK = re.compile(r"[.!?;:,]|\bbut\b")
_SENTENCE_BREAK = re.compile(r"[.!?;]")
_FIRST_PERSON_NEAR = re.compile(r"\b(?:i|we|me|us|my|our)\b")
_QUOTED_VOICE = re.compile(r"\b(?:i|im|me|my|myself|we|us|our|you|your|yourself)\b")
_MACRO = re.compile(r"%(\w+)%")
_WINDOW = 6
_RISKY_WORDS = 1 << 16
# libyaml's safe loader and dumper where PyYAML has them: the same data and text as the
# pure-Python ones (a test holds this for the shipped lexicon), ten times faster, and the
# lexicon is loaded by every process that screens.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


@dataclass(frozen=True)
class Hit:
    """A phrase found and kept: its category, the words, and whose risk it is."""

    category: str
    phrase: str
    start: int
    underlying: str


def _expand(pattern: str, macros: dict[str, str]) -> str:
    # Macros may use other macros (abuser uses kin); expand until none is left.
    for _ in range(5):
        expanded = _MACRO.sub(lambda m: macros[m.group(1)], pattern)
        if expanded == pattern:
            return expanded
        pattern = expanded
    return pattern


def _alternation(patterns: list[str], macros: dict[str, str]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    # Every phrase starts at the start of a word (each begins with \b). Saying so once in
    # front lets the engine pass over the middle and end of each word after one test,
    # instead of trying every phrase there: a quarter of the lexicon's time, same matches.
    branches = "|".join(f"(?:{_expand(p, macros)})" for p in patterns)
    return re.compile(rf"\b(?=\w)(?:{branches})")


class _Compiled(dict[str, "re.Pattern[str]"]):
    """Patterns by name, each compiled the first time it is asked for: the cues judge a
    phrase found, so most processes that screen a few texts never compile most of them
    (about a fifth of the screen's start-up when all were compiled at once). An unknown
    name is a KeyError, as in a plain dict."""

    def __init__(self, sources: dict[str, str]) -> None:
        super().__init__()
        self.sources = sources

    def __missing__(self, name: str) -> re.Pattern[str]:
        pattern = self[name] = re.compile(self.sources[name])
        return pattern


class Lexicon:
    """The compiled lexicon. Use :func:`default_lexicon` for the shipped one."""

    def __init__(self, data: dict[str, Any], readings: Mapping[str, Reading] | None = None) -> None:
        """``readings``: what is already read of phrase branches (:mod:`.phrases`); by
        default those kept for the shipped lexicon, which serve any lexicon, since each is
        found by its branch's text."""
        macros: dict[str, str] = dict(data.get("macros", {}))
        tables: list[list[str]] = []
        statements: dict[str, int] = {}
        topics: dict[str, int] = {}
        for category, entry in data["categories"].items():
            if category not in CATEGORIES:
                raise ValueError(f"unknown category {category!r} in the lexicon")
            for kind, numbers in (("statements", statements), ("topics", topics)):
                patterns = [_expand(p, macros) for p in entry.get(kind, [])]
                if patterns:
                    numbers[category] = len(tables)
                    tables.append(patterns)
        masks: dict[str, int] = {}
        for name in ("service", "bereavement", "idiom"):
            patterns = [_expand(p, macros) for p in data["masks"][name]]
            if patterns:
                masks[name] = len(tables)
                tables.append(patterns)
        # All phrase lists looked for in one pass over a text's word starts (phrases.py).
        self.phrases = Phrases(tables, shipped_readings() if readings is None else readings)
        self._statement_tables = statements
        self._topic_tables = topics
        self._masks = masks
        self._mask_tables = [
            (masks[name], word)
            for name, word in (
                ("service", " _service_ "),
                ("bereavement", " _bereavement_ "),
                ("idiom", " _idiom_ "),
            )
            if name in masks
        ]
        cues: dict[str, str] = data["cues"]
        self.cues = _Compiled({name: _expand(p, macros) for name, p in cues.items()})
        self.spanish = _categories(data.get("spanish", {}), macros)
        welsh = dict(data.get("welsh", {}))
        risky_welsh = welsh.pop("risk", [])
        self.welsh = _categories(welsh, macros)
        self._welsh_risk = _alternation(list(risky_welsh), macros)
        risk: dict[str, list[str]] = data["risk"]
        # Stems by their first two letters, so each word is compared with a few only.
        by_start: dict[str, list[str]] = {}
        for stem in risk["stems"]:
            by_start.setdefault(str(stem)[:2], []).append(str(stem))
        self.risk_stems = {start: tuple(stems) for start, stems in by_start.items()}
        self.risk_words = frozenset(str(word) for word in risk["words"])
        self.risk_phrases = frozenset(str(phrase) for phrase in risk["phrases"])
        if any(len(phrase.split()) != 2 for phrase in self.risk_phrases):
            raise ValueError("risk phrases are two words each")
        # Whether a word is risk vocabulary by itself, by word (a bounded cache), and the
        # first words of the phrases: only after one of those is a phrase looked up.
        self._risky_words: dict[str, bool] = {}
        self._phrase_firsts = frozenset(phrase.split(" ", 1)[0] for phrase in self.risk_phrases)
        self.vocabulary = frozenset(re.findall(r"[a-z]{2,}", yaml.dump(data, Dumper=_DUMPER)))

    @property
    def statements(self) -> dict[str, re.Pattern[str]]:
        """Each category's statements as one alternation."""
        return {c: self.phrases.pattern(n) for c, n in self._statement_tables.items()}

    @property
    def topics(self) -> dict[str, re.Pattern[str]]:
        """Each category's topics as one alternation."""
        return {c: self.phrases.pattern(n) for c, n in self._topic_tables.items()}

    @property
    def service(self) -> re.Pattern[str] | None:
        return self._mask("service")

    @property
    def bereavement(self) -> re.Pattern[str] | None:
        return self._mask("bereavement")

    @property
    def idiom(self) -> re.Pattern[str] | None:
        return self._mask("idiom")

    def _mask(self, name: str) -> re.Pattern[str] | None:
        table = self._masks.get(name)
        return None if table is None else self.phrases.pattern(table)

    def risky(self, text: str) -> bool:
        """Whether a normalised text has any risk vocabulary: a word starting with one of
        the ``risk`` stems, one of its words, or one of its two-word phrases."""
        known = self._risky_words
        firsts = self._phrase_firsts
        phrases = self.risk_phrases
        previous = ""
        for token in text.split():
            risky = known.get(token)
            if risky is None:
                risky = self._risky_word(token)
                if len(known) >= _RISKY_WORDS:
                    known.clear()
                known[token] = risky
            if risky or (previous in firsts and previous + " " + token in phrases):
                return True
            previous = token
        return False

    def _risky_word(self, token: str) -> bool:
        """Whether one word is risk vocabulary by itself (a word or a stem's word)."""
        if token in self.risk_words:
            return True
        candidates = self.risk_stems.get(token[:2])
        return candidates is not None and token.startswith(candidates)

    def mask(self, text: str) -> str:
        """Services, idioms and bereavement replaced by placeholder words. Idioms are
        kept when the writer says they mean it ("not even joking", "no joke")."""
        affirmed = self.cues["affirmed"].search(text) is not None
        for table, word in self._mask_tables:
            if affirmed and table == self._masks.get("idiom"):
                continue
            text = self.phrases.sub(table, word, text)
        return text

    @staticmethod
    def _span(breaker: re.Pattern[str], text: str, start: int, end: int) -> tuple[str, str]:
        """The words of the clause (or sentence) before the phrase, and all of it."""
        breaks = [m.end() for m in breaker.finditer(text, 0, start)]
        left = breaks[-1] if breaks else 0
        after = breaker.search(text, end)
        right = after.start() if after else len(text)
        return text[left:start], text[left:right]

    def _negated(self, before: str, phrase: str) -> bool:
        words = before.split()[-_WINDOW:]
        window = " ".join(words)
        negations = list(self.cues["negation"].finditer(window))
        if not negations:
            return False
        last = negations[-1]
        between = window[last.end() :].strip()
        # "nobody has read the notes from my attempt": a possession of the writer's own
        # ("my attempt", "my overdose") a few words after the negation is not negated by it.
        if between and phrase.startswith("my "):
            return False
        if self.cues["negation_undone"].match(between):
            return False
        # "if they deny my claim again i am going to shoot someone": the negation is in
        # the condition, and the phrase is the writer's own promise of what follows.
        if _PROMISE.match(phrase):
            negation = list(self.cues["negation"].finditer(before))[-1]
            if _CONDITION.search(before, 0, negation.start()):
                return False
        # "not once have i thought about ...", "never did i want to ...", "it is not that
        # i want to ...": the subject comes after the negation without starting a clause
        # of its own, so the negation still reaches the phrase.
        if self.cues["negation_fronted"].match(between):
            return True
        if _CONCORD.match(f"{between} {phrase}".lstrip()):
            return False
        if self.cues["clause_subject"].search(between):
            return False
        # "if they do not see me today someone is getting hurt": the phrase has a subject
        # of its own after the negated words; "not someone who ..." stays negated.
        return not (between and self.cues["later_subject"].match(phrase))

    def _negation_near(self, before: str) -> bool:
        """Whether a negation is among the words just before a phrase, whatever follows it
        (the reach :meth:`_negated` reads, without the rules that undo it)."""
        window = " ".join(before.split()[-_WINDOW:])
        return self.cues["negation"].search(window) is not None and "saying" not in window

    def _whose(self, category: str, phrase: str, before: str) -> bool:
        """True when the phrase is about someone other than the writer."""
        if category not in _PERSONAL and category != "harm-to-others":
            return False
        if _IMMEDIATE_THIRD.search(before):
            return True
        if category != "harm-to-others":
            if _FIRST_PERSON.search(phrase):
                return False
            if self.cues["third_person"].search(phrase):
                return True
        # "my brother posted goodbye ...": the writer's "my" names the person, so the
        # first person is looked for after the last mention of someone else, not in it.
        mentions = list(self.cues["third_party"].finditer(before))
        if not mentions:
            return False
        after = before[mentions[-1].end() :]
        return not _FIRST_PERSON.search(after.split(",")[-1][-20:])

    def _own_topic(self, kind: str, before: str, sentence: str) -> bool:
        """A topic the writer owns ("my self harm", "I was raped") stays a disclosure in a
        sentence that also names a form, a course or the news, unless it is a question."""
        return (
            kind == "topic"
            and bool(self.cues["own_topic"].search(before))
            and not self.cues["question"].search(sentence)
        )

    def hits(self, text: str) -> list[Hit]:
        """Phrases in a normalised, masked text that stand as disclosures."""
        return self.read(text)[0]

    def read(self, text: str) -> tuple[list[Hit], str]:
        """The phrases that stand as disclosures, and the text with every phrase that was
        set aside (negated, reported, accidental, recovered from) replaced by one
        placeholder word, so that the semantic layer does not score those words again."""
        found: list[Hit] = []
        set_aside: list[tuple[int, int]] = []
        answered_yes: bool | None = None
        phrases = self.phrases
        candidates = phrases.candidates(text)
        for kind, tables in (("statement", self._statement_tables), ("topic", self._topic_tables)):
            for category, table in tables.items():
                if candidates is not None and not candidates[table]:
                    continue  # no phrase of the list can start anywhere in the text
                for match in phrases.finditer(table, text, candidates):
                    if answered_yes is None:
                        # A whole-text cue, looked for only once a phrase is found.
                        answered_yes = bool(self.cues["reported_undone"].search(text))
                    hit = self._judge(kind, category, match, text, answered_yes)
                    if hit is None:
                        set_aside.append(match.span())
                    else:
                        found.append(hit)
        kept = {hit.start for hit in found}
        for start, end in _merged(span for span in set_aside if span[0] not in kept):
            text = text[:start] + " _setaside_ " + text[end:]
        return found, text

    def _judge(
        self,
        kind: str,
        category: str,
        match: re.Match[str],
        text: str,
        answered_yes: bool,
    ) -> Hit | None:
        before, clause = self._span(_CLAUSE_BREAK, text, match.start(), match.end())
        after = text[match.end() : match.end() + 60]
        # Slang "not the self harm era coming back" is no negation.
        if self._negated(before, match.group(0)) and not self.cues["negation_slang"].match(after):
            return None
        # "not wanting to hurt myself or anything daft, just really low": a denial, whatever
        # word came between the negation and the phrase.
        if self.cues["denial_after"].match(after) and self._negation_near(before):
            return None
        # "i am not one of those veterans about to top himself": the rest of the clause is
        # what the writer is not.
        if self.cues["denial_before"].search(before):
            return None
        # Tune batches 46 and 47: words the writer takes back at once ("i am going to
        # unalive myself . just kidding", "walk into the sea ( joking , great service
        # otherwise )"); "not joking", "was joking" and "unless" keep them.
        if self.cues["joke_after"].match(after):
            return None
        # What others assume, denied at once: "folks assume i am a danger to myself . i am
        # not".
        if self.cues["presumed"].search(before) and self.cues["presumed_denied"].match(after):
            return None
        # A title or a quotation named as one: "a poem called i wish i could disappear",
        # "the song with the line i want to die". The words are someone's title, not
        # the writer's state.
        if self.cues["quotation"].search(text, max(0, match.start() - 40), match.start()):
            return None
        if self.cues["quoted_after"].match(text, match.end()):
            return None
        if (
            category == "harm-to-others"
            and self.cues["speech"].search(before)
            and (
                not self.cues["speaker_close"].search(before)
                or (
                    self.cues["joked"].search(before) is not None
                    and self.cues["affirmed"].search(text) is None
                )
            )
        ):
            return None
        # Intrusive thoughts the writer disowns as OCD ("i know it is ocd, i have never
        # acted on them"), unless the text says they are more than that.
        if (
            category == "harm-to-others"
            and self.cues["ocd_disowned"].search(text)
            and not self.cues["ocd_owned"].search(text)
        ):
            return None
        # Staff telling of threats to them at work ("gp receptionist here . a man threatened
        # us last month"): the writer and colleagues, not a person at risk at home.
        if (
            category in ("safeguarding", "harm-to-others")
            and match.group(0).endswith(" us")
            and self.cues["staff_writer"].search(text)
        ):
            return None
        # Tune batches 30 and 31: words quoted from someone outside the writer's life (a
        # stranger at a group, a poster, a radio caller), or a clinician's saying put to
        # "you" or "we" ("my gp said you will kill yourself working like that"), are not
        # the writer's. A clinician telling the writer about themselves ("my gp said i was
        # suicidal") is kept.
        if not answered_yes and self._quoted_outsider(before, match.group(0)):
            return None
        leading, sentence = self._span(_SENTENCE_BREAK, text, match.start(), match.end())
        # Tune batches 32 and 33: a stranger in the news ("the news said a man jumped from
        # the bridge"), and a threat by a patient or a stranger on a ward, told by staff or
        # placed in the next bay ("pt told me he was going to kill me"): not the writer's
        # risk, nor a person the writer can be asked about.
        if not answered_yes and self.cues["news_stranger"].search(leading):
            return None
        # Tune batches 50 to 53: a stranger on a ward shouting the words ("the man in the
        # next bed kept shouting that he was going to kill the nurses"), or doing what they
        # name ("another patient tried to hang herself"): not the writer's, nor someone
        # the writer can be asked about.
        if not answered_yes and self.cues["ward_speech"].search(leading):
            return None
        stranger = self.cues["ward_stranger"].search(leading)
        if (
            category in ("harm-to-others", "safeguarding", "third-party")
            and stranger is not None
            and (stranger.group("placed") or self.cues["staff_writer"].search(text))
            and not self.cues["concern"].search(text)
        ):
            return None
        # The condition is the phrase's own only when the "if" comes before it: "if i ever
        # feel like hurting myself i should call", not "i have started hurting myself again
        # and i do not know if i am meant to tell someone".
        conditional = self.cues["conditional"].search(sentence)
        if conditional is not None and conditional.start() < len(leading):
            return None
        # Tune batches 30 and 31: staff telling how the people in their care talk ("clients
        # tell me they want to die several times a week"), not of one person at risk.
        if (
            self.cues["clients_say"].search(leading)
            and self.cues["staff_writer"].search(text)
            and not self.cues["concern"].search(text)
        ):
            return None
        # Tune batches 46 and 47: staff who name their work first ("a and e doctor here .",
        # "paramedic , 15 years .") telling of what they see there: a topic in a sentence
        # about the people in their care ("self harm callouts have doubled", "we are
        # treating kids with self inflicted wounds"), or a phrase whose subject is those
        # people ("calls ... are people who have taken an overdose"), without the writer's
        # own "i", "me" or "my" in the sentence and without a worry about one of them. The
        # sentence is read before the whole text (the staff cue is long).
        if (
            not _FIRST_PERSON.search(sentence)
            and (
                (kind == "topic" and self.cues["at_work"].search(sentence))
                or self.cues["in_care"].search(leading)
            )
            and self.cues["staff_writer"].search(text)
            and not self.cues["concern"].search(text)
        ):
            return None
        # Tune batches 30 and 31: a threat in a story, a scene or a game named before it in
        # the sentence ("that scene in eastenders where he threatens to kill her"), unless the
        # writer is its subject.
        if category in ("harm-to-others", "safeguarding"):
            named = list(self.cues["media"].finditer(leading))
            if named and not _FIRST_PERSON_NEAR.search(leading[named[-1].end() :] + match.group(0)):
                return None
        # A scenario, role play or training named before the phrase in its sentence sets
        # aside a statement as well as a topic: the words are rehearsed, not lived.
        if not answered_yes and self.cues["rehearsal"].search(leading):
            return None
        reported = list(self.cues["reported"].finditer(sentence))
        # A question asked after the writer's own statement ("my arms look like a barcode
        # and your nurse asked if i had had a fall") does not set the statement aside.
        if (
            reported
            and not answered_yes
            and (
                kind == "topic"
                or any(
                    found.group(0).startswith("ask") and found.start() < len(leading)
                    for found in reported
                )
            )
            and not self._own_topic(kind, before, sentence)
        ):
            return None
        if (
            (
                category in _SELF_INJURY
                or (category == "plan-means" and _PAST_VERB.match(match.group(0)))
            )
            and self._accidental(match.group(0), clause, leading)
            and not self.cues["deliberate"].search(clause)
            and not self.cues["accident_denied"].search(text)
        ):
            return None
        if (
            category != "past-attempt"
            and self.cues["recovery_past"].search(clause)
            and self.cues["recovery_now"].search(_near(text, match.start(), match.end(), 0, 1))
            and not self.cues["relapse"].search(clause)
        ):
            return None
        phrase = match.group(0)
        # Abuse someone else went through long ago or is safe from now ("my husband was
        # abused as a child", "he was once trafficked. he is safe now").
        if category == "safeguarding" and self._happened_to_someone_else(leading + phrase):
            recovered = self.cues["recovery_now"].search(
                _near(text, match.start(), match.end(), 0, 1)
            )
            if recovered or self.cues["distant"].search(sentence):
                return None
        if category == "third-party":
            return Hit(category, phrase, match.start(), category)
        if not self._whose(category, phrase, before):
            return Hit(category, phrase, match.start(), category)
        # A clinician telling of a patient they looked after ("i am a mental health nurse .
        # last night i sat with a patient who had self harmed"): the patient was in care,
        # and the writer's point is the work; a worry about the patient is a report.
        if (
            self.cues["patient_told"].search(before)
            and self.cues["staff_writer"].search(text)
            and not self.cues["concern"].search(text)
        ):
            return None
        # Someone else's state long ago: the time may sit in another clause of the sentence
        # ("my mate said he felt suicidal after iraq, back in 2008").
        if category != "harm-to-others" and self.cues["distant"].search(sentence):
            return None
        # Someone else's words in a film, a book or a course are not a report of a
        # person at risk. Looked for in this sentence, and fiction also in the one before
        # ("we watched a film. the boy says he wants to die"), not in the whole text: a
        # long complaint mentions leaflets, websites and forms in other sentences, and a
        # son's words in it are still a report.
        # A nurse or a teacher worried about someone in their care reports a real person,
        # though their work is named in the sentence ("as a practice nurse ...").
        if not answered_yes and (
            (
                not self.cues["concern"].search(leading)
                and self._reported_around(sentence, len(before) + len(phrase))
            )
            or self.cues["media"].search(_near(text, match.start(), match.end(), 1, 0))
        ):
            return None
        return Hit("third-party", phrase, match.start(), category)

    def _accidental(self, phrase: str, clause: str, leading: str) -> bool:
        """Whether the clause names an accident for a self-injury. An overdose is an
        accident only by a mistake with the dose: "after taking an overdose ... a glass of
        water" names none."""
        if self.cues["overdose_phrase"].search(phrase):
            return self.cues["accident_overdose"].search(clause) is not None
        return bool(
            self.cues["accident"].search(clause) or self.cues["accident_sentence"].search(leading)
        )

    def _quoted_outsider(self, before: str, phrase: str) -> bool:
        """Whether the words before a phrase quote a stranger, a sign or the news in the
        speaker's own voice ("i", "you", "we"; words told of a third person may be a report),
        or a clinician speaking of "you" or "we" rather than of the writer."""
        quoted = self.cues["speech_stranger"].search(before)
        if quoted is not None and _QUOTED_VOICE.search(quoted.group("words") + phrase):
            return True
        quoted = self.cues["speech_clinician"].search(before)
        return quoted is not None and not _FIRST_PERSON.search(quoted.group("words") + phrase)

    @staticmethod
    def _happened_to_someone_else(words: str) -> bool:
        """Whether the words end in abuse someone else went through ("my husband was
        abused", "he was once trafficked")."""
        return _OTHER_PASSIVE.search(words) is not None

    def _reported_around(self, sentence: str, phrase_end: int) -> bool:
        """Whether a sentence reports someone else's words from a course, a form or the
        news. A condition after the phrase ("he will kill himself if they deport him") is
        the threat's own, not a question asked "if they" ever feel so."""
        return any(
            not (found.start() >= phrase_end and found.group(0).startswith(("if ", "whether")))
            for found in self.cues["reported"].finditer(sentence)
        )

    def spanish_hits(self, text: str) -> list[Hit]:
        """Phrases found in a Spanish text (folded, accents removed)."""
        return self._hits(self.spanish, _SPANISH_NEGATION, text)

    def welsh_hits(self, text: str) -> list[Hit]:
        """Phrases found in a Welsh text (folded, accents removed)."""
        return self._hits(self.welsh, _WELSH_NEGATION, text)

    def welsh_risky(self, text: str) -> bool:
        """Whether a Welsh text (folded, accents removed) has a word of risk in it: one the
        lexicon did not flag then goes to a person rather than passing as clear."""
        return self._welsh_risk is not None and self._welsh_risk.search(text) is not None

    def _hits(
        self, table: dict[str, re.Pattern[str]], negation: re.Pattern[str], text: str
    ) -> list[Hit]:
        """Phrases of another language's ``table`` in ``text``, but for those just after a
        negation of that language that is not part of the phrase itself."""
        text = self.service.sub(" _service_ ", text) if self.service else text
        found: list[Hit] = []
        for category, pattern in table.items():
            for match in pattern.finditer(text):
                if negation.search(text[: match.start()][-12:]) and not _NEGATED_PHRASE.match(
                    match.group(0)
                ):
                    continue
                found.append(Hit(category, match.group(0), match.start(), category))
        # "mi hijo dice que se quiere morir", "mae fy mab yn dweud ei fod e eisiau marw":
        # the words of wanting to die inside a report about someone else are theirs.
        others = [
            (hit.start, hit.start + len(hit.phrase))
            for hit in found
            if hit.category == "third-party"
        ]
        return [
            hit
            for hit in found
            if hit.category == "third-party"
            or not any(start <= hit.start < end for start, end in others)
        ]


# A negation just before a phrase of another language ("no quiero morir" is a phrase;
# "no" before "quiero morir" elsewhere is not), and the Welsh ones ("dw i ddim eisiau
# marw": I do not want to die).
_SPANISH_NEGATION = re.compile(r"\bno\s+(?:\w+\s+)?$")
_WELSH_NEGATION = re.compile(r"\b(?:ddim|dim|nid|nad|na)\s+(?:\w+\s+)?$")
# A phrase that is itself negated ("no quiero vivir", "ddim eisiau byw").
_NEGATED_PHRASE = re.compile(r"(?:no|ddim|dim|nid|nad|na|does dim|dydw i ddim)\b")


def _categories(data: dict[str, Any], macros: dict[str, str]) -> dict[str, re.Pattern[str]]:
    """Each category's phrases of another language as one alternation."""
    table: dict[str, re.Pattern[str]] = {}
    for category, patterns in data.items():
        pattern = _alternation(list(patterns), macros)
        if pattern is not None:
            table[category] = pattern
    return table


def _near(text: str, start: int, end: int, before: int, after: int) -> str:
    """The sentence around ``text[start:end]`` with ``before`` sentences before it and
    ``after`` sentences after it: the reach of context cues in a long text."""
    breaks = [m.end() for m in _SENTENCE_BREAK.finditer(text, 0, start)]
    left = breaks[-1 - before] if len(breaks) > before else 0
    right = end
    for _ in range(after + 1):
        following = _SENTENCE_BREAK.search(text, right)
        if following is None:
            right = len(text)
            break
        right = following.end()
    return text[left:right]


def _merged(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping spans joined, last first: replacing one span of two that overlap
    would otherwise cut the other's words in half ("suicide attempts" and "suicide")."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged[::-1]


#: What is read of the shipped lexicon's phrase branches (:mod:`.phrases`), by branch key.
READINGS = Path(__file__).parent / "data" / "phrase_starts.json"


@cache
def shipped_readings() -> dict[str, Reading]:
    """The readings kept in :data:`READINGS` (none when the file is missing or unreadable:
    every branch is then read at start-up, as it always could be)."""
    try:
        kept = json.loads(READINGS.read_text(encoding="utf-8"))["branches"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    readings: dict[str, Reading] = {}
    for key, value in kept.items():
        if isinstance(value, dict):
            readings[key] = (None, tuple(frozenset(strings) for strings in value["needs"]))
        else:
            readings[key] = (frozenset(value), ())
    return readings


def read_readings(lexicon: Lexicon) -> dict[str, Any]:
    """What :data:`READINGS` should hold for ``lexicon``: each branch's starts (a sorted
    list), or for a branch that may start anywhere the strings its matches need."""
    kept: dict[str, Any] = {}
    for sources in lexicon.phrases.branch_sources:
        for branch in sources:
            prefixes, needed = read_branch(branch)[1]
            kept[branch_key(branch)] = (
                sorted(prefixes)
                if prefixes is not None
                else {"needs": [sorted(strings) for strings in needed]}
            )
    return dict(sorted(kept.items()))


def _readings_document(lexicon: Lexicon) -> str:
    """The file's text: one branch a line, so that a change of the lexicon shows as the
    lines of the branches it changed."""
    lines = [
        "{",
        '"about": "What is read of each phrase branch of data/lexicon.yaml (the strings a match'
        " may start with), by a hash of the branch. Written by"
        ' python -m consultations.safety.lexicon update",',
        '"branches": {',
    ]
    branches = read_readings(lexicon)
    lines.append(
        ",\n".join(
            f"{json.dumps(key)}: {json.dumps(value, separators=(',', ':'))}"
            for key, value in branches.items()
        )
    )
    lines.extend(["}", "}"])
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """``python -m consultations.safety.lexicon update|check``: write :data:`READINGS`
    for the shipped lexicon, or say whether it is current (exit 1 when not)."""
    args = sys.argv[1:] if argv is None else argv
    if args not in (["update"], ["check"]):
        print("usage: python -m consultations.safety.lexicon update|check", file=sys.stderr)
        return 2
    # Built with the readings kept (a branch they lack is read once there); read_readings
    # reads every branch afresh, so each is not read twice.
    document = _readings_document(Lexicon(_shipped_data()))
    current = READINGS.read_text(encoding="utf-8") if READINGS.exists() else ""
    if args == ["check"]:
        if current != document:
            print(f"{READINGS.name} is out of date: python -m consultations.safety.lexicon update")
            return 1
        print(f"{READINGS.name} is current")
        return 0
    if current != document:
        READINGS.write_text(document, encoding="utf-8")
        print(f"wrote {READINGS}")
    return 0


def _shipped_data() -> dict[str, Any]:
    source = resources.files(__package__).joinpath("data/lexicon.yaml")
    data: dict[str, Any] = yaml.load(source.read_text(encoding="utf-8"), Loader=_LOADER)
    return data


@cache
def default_lexicon() -> Lexicon:
    """The lexicon shipped in ``data/lexicon.yaml``."""
    return Lexicon(_shipped_data())


if __name__ == "__main__":
    sys.exit(main())
