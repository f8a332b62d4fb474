"""Theme names a QI lead can read: phrases people actually wrote, and what the replies say.

"Member, team" says nothing; "phone line rang out" does. A theme is named by the phrase
(2 to 5 words, starting and ending on a content word, so "the staff were" never wins
over "staff listened") that is most frequent in the theme's replies relative to the
rest, preferring longer phrases a little; the label is the first of its best phrases
whose every word that says anything is used by a tenth of the theme (:func:`reach`), so
"Night staff" does not name replies about staff of which few speak of nights, and whose
praise or blame (:func:`judgement`) is most of the theme's. Each theme also gets one
sentence saying what its replies say: their tone, their three most distinctive phrases,
and how many ask for a change.

Phrases are counted on a sample of each theme (and of all replies, for the background),
so naming costs the same for 1,000 replies as for 1,000,000. A reply written word for word
many times counts ``1 + ln k`` times, not ``k``: a few people giving the same short answer
still name a theme, a line pasted or generated hundreds of times does not.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from consultations.insights.text import stopwords, without_placeholders
from consultations.screening import given_names

IntArray = npt.NDArray[np.intp]

#: Longest and shortest phrase used as a label, in words.
MIN_WORDS, MAX_WORDS = 2, 5
#: Share of a theme's replies that must use each word of one reply's phrase for the
#: phrase to name the theme (when no two writers share one; see :meth:`PhraseNamer.fallback`).
ONE_WRITER_REACH = 0.1
#: At most this many replies per theme (and for the background) are read for phrases.
PHRASE_SAMPLE = 800
#: Phrases that fit any theme of any consultation, so name none.
GENERIC = frozenset(
    {
        "thank you",
        "thank you very much",
        "good service",
        "great service",
        "excellent service",
        "very good",
        "all staff",
        "staff members",
        "members of staff",
        "member of staff",
        "care received",
        "nhs staff",
    }
)


def is_generic(phrase: str) -> bool:
    """Whether a phrase fits any theme of any consultation, in the singular or the plural
    ("staff member" as well as "staff members")."""
    if phrase in GENERIC:
        return True
    words = phrase.split()
    last = words[-1]
    other = last[:-1] if last.endswith("s") else last + "s"
    return " ".join([*words[:-1], other]) in GENERIC


# Words in any alphabet: "necesitamos más enfermeras" keeps its "más".
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
# A phrase never runs across a sentence end, a comma or a bracket.
_BREAK = re.compile(r"[.,;:!?()\[\]\n\u2013\u2014\"]+|\s-\s|\band\b|\bbut\b")
# Words a phrase may not start or end on, beyond the usual function words.
# "least" goes with the "at" before it ("at least a year"), which is a function word.
_EDGE = frozenset(
    {"very", "really", "so", "too", "also", "always", "just", "quite", "not", "no", "least"}
)
#: Words that turn what follows round: a phrase never starts straight after one.
_NEGATIONS = frozenset(
    {
        "not",
        "no",
        "never",
        "cannot",
        "can't",
        "couldn't",
        "don't",
        "didn't",
        "doesn't",
        "won't",
        "wouldn't",
        "isn't",
        "wasn't",
        "aren't",
        "weren't",
        "hardly",
        "without",
    }
)
#: The weight of a phrase two people wrote (:meth:`PhraseNamer._weighted`).
_TWO_WRITERS = 1.0 + math.log(2)
#: Verbs that need what follows them: "making me feel", "nurse I saw" and "don't think"
#: stop before what was felt, seen or thought, so a phrase never ends on one ("felt
#: safe" ends well). Their "-ing" forms may be nouns ("decision making"), so those may.
_NEEDS_MORE_WORDS = """
    feel feels felt make makes made get gets got give gives gave take takes took put puts
    let lets see sees saw keep keeps kept find finds found think thinks
"""
_NEEDS_MORE = frozenset(_NEEDS_MORE_WORDS.split())
#: Function words a phrase may still end on ("can't think of anything", "nothing at all").
_MAY_END = frozenset({"anything", "everything", "nothing", "enough", "all"})
#: What other systems leave where they took a detail out, in replies imported already
#: redacted: a run of x ("Nurse XXXX", "xxx"), a bracket that says so ("[Redacted]",
#: "[name redacted]", "[Redacted for data protection]"), a run of asterisks; and a
#: bracket of one to three words, which is how a consultation's own placeholder
#: ("[person]", "[naam]") reads. Each is a break, as a placeholder of ours is.
REDACTION_MARK = re.compile(
    r"\b[xX]{3,}\b|\*{3,}|\[[^\[\]\n]{0,40}\b(?i:redacted|removed|withheld|anonymi[sz]ed)\b"
    r"[^\[\]\n]{0,40}\]|\[\s*[^\W\d_]+(?:[ '-][^\W\d_]+){0,2}\s*\]"
)
#: Words that describe, common in feedback. An article calls for a noun, so a phrase
#: never ends on one of these straight after "a" or "an": "done to an excellent" is cut
#: short of "standard" ("a lot", "an hour", "a scan" end well).
_DESCRIBING_WORDS = """
    amazing awful bad big brief busy calm caring clean clear cold confusing dirty
    disappointing distressing efficient excellent extra fab fabulous fantastic fast fine
    first free friendly frustrating full general good great happy hard helpful high hot
    huge kind large last little long lovely low main new next nice noisy old open other
    outstanding pleasant polite poor positive professional proper quick quiet real
    reassuring relaxed rude safe second short simple slow small smooth special
    stressful terrible timely top warm welcoming whole wonderful worrying wrong young
"""
_DESCRIBING = frozenset(_DESCRIBING_WORDS.split())
_DESCRIBING_ENDS = ("ful", "ous", "ive", "able", "ible", "less")


#: Forms of a verb a question and its answers write differently ("What could we do
#: better?", "nothing could be done better").
_IRREGULAR = {
    "did": "do",
    "does": "do",
    "done": "do",
    "doing": "do",
    "went": "go",
    "gone": "go",
    "made": "make",
    "gave": "give",
    "given": "give",
    "got": "get",
    "had": "have",
    "has": "have",
    "felt": "feel",
    "kept": "keep",
}


#: Words that say nothing alone, for :func:`reach`.
_FUNCTION = stopwords() | _EDGE


def _stem(word: str) -> str:
    """A word without its inflection, roughly: enough to tell an answer repeats a word of
    its question ("improved", "improvements" and "improve")."""
    word = _IRREGULAR.get(word, word)
    for end in ("ments", "ment", "ing", "ed", "es", "s", "e"):
        if word.endswith(end) and len(word) - len(end) >= 3:
            return word[: -len(end)]
    return word


def _describes(word: str) -> bool:
    return word in _DESCRIBING or (len(word) > 5 and word.endswith(_DESCRIBING_ENDS))


#: Words a person's name follows ("Dr [name]", "Mrs XXXX"): a phrase never ends on one
#: (its name was taken out) and never runs on from one (the next word is a name).
TITLES = frozenset({"dr", "mr", "mrs", "ms", "mx", "prof"})


def is_redaction_mark(word: str) -> bool:
    """Whether a single word is what a redaction left ("xxxx", "redacted"), not a word
    anyone wrote about the service."""
    return (len(word) >= 3 and set(word) == {"x"}) or word in ("redacted", "redact")


def says_nothing_of_the_service(word: str) -> bool:
    """Whether a word, alone, says nothing of what a theme is about: a redaction mark, a
    title whose name was taken out ("Dr", "Mrs") or the kisses that end a message
    ("xx")."""
    return is_redaction_mark(word) or word in TITLES or word == "xx"


def phrase_words(text: str) -> list[list[str]]:
    """The lower-case words of each stretch of a reply between punctuation and "and"/"but".

    A redaction placeholder ("[name]", "[id number]") or another system's redaction mark
    ("XXXX", "[Redacted]") is a break, never words of a phrase.
    """
    lowered = without_placeholders(text)
    if "[" in lowered or "xx" in lowered or "XX" in lowered or "**" in lowered:
        lowered = REDACTION_MARK.sub(",", lowered)
    lowered = lowered.lower().replace("\u2019", "'")
    return [words for part in _BREAK.split(lowered) if (words := _WORD.findall(part))]


def _candidates(parts: Sequence[Sequence[str]], edge: frozenset[str]) -> set[str]:
    found: set[str] = set()
    end_edge = edge - _MAY_END
    names = given_names()
    for words in parts:
        if names.isdisjoint(words):
            _phrases_of(words, edge, end_edge, found)
            continue
        # A staff name a consultation keeps ("Nurse Amy was lovely") names no theme: it
        # is a break, as a placeholder is.
        start = 0
        for i, word in enumerate([*words, ""]):
            if word in names or i == len(words):
                _phrases_of(words[start:i], edge, end_edge, found)
                start = i + 1
    return found


def _phrases_of(
    words: Sequence[str], edge: frozenset[str], end_edge: frozenset[str], found: set[str]
) -> None:
    n = len(words)
    for i in range(n):
        if words[i] in edge or words[i].isdigit() or words[i] in TITLES:
            continue
        if i and words[i - 1] in _NEGATIONS:
            # "can't fault the care" is praise; "fault the care" says the opposite.
            continue
        for size in range(MIN_WORDS, MAX_WORDS + 1):
            j = i + size
            if j > n:
                break
            if words[j - 2] in TITLES:
                # "dr schofield", "spoke to mrs jones": the word after a title is a name.
                break
            last = words[j - 1]
            if last in end_edge or last.isdigit() or last in TITLES or last in _NEEDS_MORE:
                continue
            if words[j - 2] in ("a", "an") and _describes(last):
                continue
            found.add(" ".join(words[i:j]))


def _sample(indices: IntArray, size: int) -> IntArray:
    if len(indices) <= size:
        return indices
    rng = np.random.default_rng(0)
    return np.sort(rng.choice(indices, size=size, replace=False)).astype(np.intp)


class PhraseNamer:
    """Counts phrases over a background sample once, then names themes against it."""

    def __init__(
        self,
        texts: Sequence[str],
        readable: Sequence[bool] | npt.NDArray[np.bool_] | None = None,
        questions: Sequence[str] = (),
    ) -> None:
        # Replies that may not be quoted (safety-flagged) lend no words to any name:
        # their texts are treated as empty. Texts are read only for the sampled replies.
        if readable is not None and len(readable) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(readable)} readable flags")
        self._all = texts
        self._readable = readable
        self._edge = stopwords() | _EDGE
        # The words of the questions asked: a phrase made of nothing else ("done better"
        # from "What could we have done better?") repeats the question and names nothing.
        self._said_nothing = frozenset(_stem(w) for w in self._edge)
        self._asked = (
            frozenset(_stem(w) for q in questions for part in phrase_words(q) for w in part)
            - self._said_nothing
        )
        background = _sample(np.arange(len(texts), dtype=np.intp), PHRASE_SAMPLE * 4)
        self._background, weight = self._weighted([texts[i] for i in background.tolist()])
        self._last: tuple[bytes, tuple[dict[str, float], float]] | None = None
        self._background_n = max(1.0, weight)

    def _weighted(self, texts: Sequence[str]) -> tuple[dict[str, float], float]:
        """The phrases of ``texts``, and their total weight: a text written word for word
        ``k`` times weighs ``1 + ln k``, not ``k``.

        Many people may give the same short answer ("Longer opening hours"), and that
        counts; but a text pasted or generated hundreds of times ("Rang pt before visit:
        Yes", a service's own form filed as feedback) must not name a theme on its own.
        """
        copies: Counter[str] = Counter()
        first: dict[str, str] = {}
        for text in texts:
            if text:
                key = " ".join(text.casefold().split())
                copies[key] += 1
                first.setdefault(key, text)
        found: dict[str, float] = {}
        total = 0.0
        for key, k in copies.items():
            weight = 1.0 + math.log(k)
            total += weight
            for phrase in _candidates(phrase_words(first[key]), self._edge):
                found[phrase] = found.get(phrase, 0.0) + weight
        return found, total

    def _echoes(self, phrase: str) -> bool:
        """Whether every word of ``phrase`` that says anything is a word of a question."""
        content = [s for w in phrase.split() if (s := _stem(w)) not in self._said_nothing]
        return bool(self._asked and content) and all(s in self._asked for s in content)

    def _text(self, i: int) -> str:
        if self._readable is not None and not self._readable[i]:
            return ""
        return self._all[i]

    def sample_texts(self, members: IntArray) -> list[str]:
        """The readable texts of a sample of the theme's replies."""
        return [t for i in _sample(members, PHRASE_SAMPLE).tolist() if (t := self._text(i))]

    def _inside(self, members: IntArray) -> tuple[dict[str, float], float]:
        """The weighted phrases of a sample of ``members``; the last theme's are kept, as
        :meth:`fallback` asks again for the theme :meth:`ranked` found nothing in."""
        sample = _sample(members, PHRASE_SAMPLE)
        key = sample.tobytes()
        if self._last is None or self._last[0] != key:
            self._last = (key, self._weighted([self._text(i) for i in sample.tolist()]))
        return self._last[1]

    def ranked(self, members: IntArray, count: int = 8, share: float = 0.02) -> list[str]:
        """The theme's most distinctive phrases, best first (may be empty for tiny themes):
        each written by at least two people and ``share`` of the theme."""
        inside, m = self._inside(members)
        # At least two writers (one text twice weighs 1 + ln 2) and the share.
        floor = max(_TWO_WRITERS, math.ceil(share * m))
        scored: list[tuple[float, str]] = []
        for phrase, df in inside.items():
            if df < floor or is_generic(phrase) or self._echoes(phrase):
                continue
            p_in = df / m
            # Add the theme's own count to the background so a phrase absent from the
            # background sample is not infinitely distinctive.
            p_all = (self._background.get(phrase, 0.0) + df) / (self._background_n + m)
            lift = math.log(p_in / p_all) if p_in > p_all else 0.0
            size = phrase.count(" ") + 1
            scored.append((p_in * (0.2 + lift) * (1 + 0.25 * (size - 2)), phrase))
        scored.sort(key=lambda x: (-x[0], x[1]))
        chosen: list[str] = []
        for _, phrase in scored:
            # "long wait" and "a long wait for" are one idea: keep one form of it.
            if any(phrase in c or c in phrase for c in chosen):
                continue
            full = self._fuller(phrase, inside)
            same = next((k for k, c in enumerate(chosen) if full in c or c in full), None)
            if same is not None:
                # "can't think" grown to "can't think of anything" is the idea of "think of
                # anything", already chosen: keep its fuller form, once.
                if len(full) > len(chosen[same]):
                    chosen[same] = full
                continue
            chosen.append(full)
            if len(chosen) == count:
                break
        return chosen

    @staticmethod
    def _fuller(phrase: str, inside: Mapping[str, float]) -> str:
        """The longest phrase containing ``phrase`` that most of its uses share.

        "think of anything" is nearly always "can't think of anything": say that.
        """
        df = inside[phrase]
        best = phrase
        for other, n in inside.items():
            if n >= 0.6 * df and len(other) > len(best) and f" {phrase} " in f" {other} ":
                best = other
        return best

    def fallback(self, members: IntArray, typical: Sequence[int] = ()) -> str | None:
        """A name for a theme with no phrase :meth:`ranked` finds.

        The most distinctive phrase two of its writers share, however few; else, of the
        phrases in the first of its typical replies that has any, the one whose words the
        rest of the theme uses most, if its rarest word that says anything is in
        :data:`ONE_WRITER_REACH` of the theme's replies (see :func:`reach`).
        """
        shared = self.ranked(members, count=1, share=0.0)
        if shared:
            return shared[0]
        sample = _sample(members, PHRASE_SAMPLE).tolist()
        words: Counter[str] = Counter()
        for i in sample:
            words.update({w for part in phrase_words(self._text(i)) for w in part})
        shares = word_shares([self._text(i) for i in sample])
        for i in [*typical, *sample]:
            found = [
                p
                for p in _candidates(phrase_words(self._text(i)), self._edge)
                if not is_generic(p) and p.count(" ") < 4 and not self._echoes(p)
            ]
            if found:
                best = max(found, key=lambda p: (sum(words[w] for w in p.split()), p))
                # "Year in case", from one of fourteen replies, says nothing of the other
                # thirteen: one reply's words name a theme only if others use them too.
                return best if reach(best, shares) >= ONE_WRITER_REACH else None
        return None


_PRONOUN_I = re.compile(r"\bi\b(?='|\s|$)")


def label_of(phrase: str) -> str:
    """A phrase as a label: first letter in capitals, the rest as people wrote it, but for
    the pronoun "I" ("Nurse I spoke to", not "Nurse i spoke to")."""
    phrase = _PRONOUN_I.sub("I", phrase)
    return phrase[:1].upper() + phrase[1:]


#: Words that judge what they describe, for :func:`judgement`.
_PRAISE_WORDS = """
    good great excellent lovely nice brilliant amazing fantastic wonderful helpful friendly
    kind caring perfect outstanding fab fabulous happy pleased enjoyed superb best
"""
_PRAISE = frozenset(_PRAISE_WORDS.split())
_BLAME_WORDS = """
    bad poor rude awful terrible dirty noisy unhelpful horrible dreadful worse worst
    disappointing disappointed unhappy
"""
_BLAME = frozenset(_BLAME_WORDS.split())
#: Words that leave a judgement in a phrase in doubt ("nothing was good").
_TURNS = _NEGATIONS | {"nothing", "none", "nobody"}


def judgement(phrase: str) -> str | None:
    """Whether a phrase praises ("food was very good"), blames ("rude receptionist") or
    neither ("food and drink"): ``"positive"``, ``"negative"`` or None. A phrase with a
    word that may turn it round ("not", "nothing") is left unjudged."""
    words = set(phrase.lower().split())
    if words & _TURNS:
        return None
    praise, blame = bool(words & _PRAISE), bool(words & _BLAME)
    if praise == blame:
        return None
    return "positive" if praise else "negative"


def word_shares(texts: Sequence[str]) -> dict[str, float]:
    """Each word's share of ``texts`` (as a rough stem: "meals" counts as "meal")."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update({_stem(w) for part in phrase_words(text) for w in part})
    n = max(1, len(texts))
    return {w: c / n for w, c in counts.items()}


def reach(phrase: str, shares: Mapping[str, float]) -> float:
    """The share of a theme's replies that use the rarest word of ``phrase`` that says
    anything (``shares`` from :func:`word_shares`): how far the phrase speaks for the
    theme. "Night staff" in a theme where nearly all speak of staff but few of nights
    reaches few; "caring staff" reaches more."""
    content = [w for w in phrase.split() if w not in _FUNCTION]
    if not content:
        return 0.0
    return min(shares.get(_stem(w), 0.0) for w in content)


def describe(
    phrases: Sequence[str], count: int, sentiment: dict[str, float], suggestions: int
) -> str:
    """One sentence on what a theme's replies say.

    A theme of one reply has no tone "mostly" and no phrase in common: the sentence says
    what that reply is (praise, a complaint, a remark) and whether it asks for a change.
    """
    tone = max(("positive", "neutral", "negative"), key=lambda k: sentiment.get(k, 0.0))
    if count == 1:
        what = {"positive": "praise", "negative": "a complaint", "neutral": "a remark"}[tone]
        return f"1 reply, {what}{' that asks for a change' if suggestions else ''}."
    share = sentiment.get(tone, 0.0)
    mood = {"positive": "praise", "negative": "complaints", "neutral": "remarks"}[tone]
    lead = f"{count} replies"
    # "Mostly" is more than half as the share is shown: "mostly complaints (50%)" read
    # as a contradiction in a report.
    percent = round(share * 100)
    if percent > 50:
        lead += f", mostly {mood} ({percent}%)"
    elif percent == 50:
        lead += f", half of them {mood}"
    else:
        lead += ", mixed in tone"
    quoted = [f"“{p}”" for p in phrases[:3]]
    if quoted:
        about = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]
        sentence = f"{lead}, about {about}"
    else:
        # No phrase that 2% of its writers share: say so plainly.
        sentence = f"{lead}, with no phrase many of them share"
    if suggestions:
        sentence += f"; {suggestions} ask{'s' if suggestions == 1 else ''} for a change"
    return sentence + "."
