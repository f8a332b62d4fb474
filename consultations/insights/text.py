"""Per-response text analysis, done once at intake and stored with the response.

Everything a report needs from a reply's words is computed here so that a report over
100,000 replies only reads stored numbers and tokens: the sentiment score and label,
the normalised tokens used for themes and keywords, the scores for the nine NHS
patient-experience categories (the default codebook), and whether the reply reads as a
suggestion. The weights come from a linear model trained on the pxtextmining phase 1
comments (see ``data/SOURCE.txt``); nothing is downloaded.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from itertools import chain, pairwise
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import orjson

from consultations.insights.embedding import StaticEmbedding, default_embedding
from consultations.insights.suggestions import is_suggestion
from consultations.screening import placeholder_words

#: Bumped whenever tokens or weights change, so stored analyses can be recomputed.
ANALYSIS_VERSION = 5
#: Analyses stored before this read suggestions clause by clause.
SUGGESTIONS_VERSION = 3
#: Analyses stored before this kept theme tokens of ASCII letters only ("más" was "m",
#: "s") and took redaction placeholders ("[name]") for words.
THEME_TOKENS_VERSION = 4

POSITIVE, NEUTRAL, NEGATIVE = "positive", "neutral", "negative"
SENTIMENT_LABELS = (POSITIVE, NEUTRAL, NEGATIVE)

#: Scores closer to zero than this read as neutral. Chosen on training folds only.
NEUTRAL_BAND = 0.25

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
# Theme tokens are words in any alphabet ("más", "enfermería"): a letter or digit run,
# with an apostrophe inside. The model's features keep _WORD, as it was trained on.
_LETTERS = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
#: The redaction placeholders ("[name]", "[id number]", "[nombre]", "[rhif ffôn]", in
#: every shipped language): what was there, not words.
PLACEHOLDER = re.compile(
    "|".join(re.escape(p) for p in sorted(placeholder_words(), key=len, reverse=True)),
    re.IGNORECASE,
)
# Function words carry no theme. Negations stay out of this list for the model features
# (they flip sentiment) but are dropped from theme tokens below.
_STOPWORD_TEXT = """
a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further
had has have having he her here hers herself him himself his how i if in into is it its
itself just me more most my myself of off on once only or other our ours ourselves out over
own same she should so some such than that the their theirs them themselves then there these
they this those through to too under until up very was we were what when where which while
who whom why will with would you your yours yourself yourselves also get got go going im ive
id s t m re ve ll d might must may shall really not no nor never none always perhaps maybe
much many lot lots one thing things way well even still every everything anything something
nothing ever quite bit just made make us yes thank thanks please etc
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def stopwords() -> frozenset[str]:
    """Function words that carry no theme (negations included)."""
    return _STOPWORDS


# A general-purpose polarity list, written for this project. The trained weights know
# the patient-survey idiom ("No." is praise when the question was "what could improve?")
# but were never shown plain complaints phrased differently; these words carry that.
_POSITIVE_TEXT = """
amazing appreciate appreciated attentive best brilliant calm calming caring clean clear
comfortable compassionate considerate convenient courteous delighted easy efficient
empathetic encouraging enjoy enjoyed excellent exceptional fabulous fantastic fast fine
friendly glad good grateful great happy helpful impressed informative kind lovely nice
outstanding patient perfect pleasant pleased polite positive professional prompt quick
reassuring reassured recommend relaxed reliable respectful safe satisfied smooth splendid
superb supportive thorough understanding useful welcoming wonderful
"""
_NEGATIVE_TEXT = """
angry annoyed annoying anxious appalling awful bad broken careless chaotic cold complain
complaint confused confusing cramped delay delayed difficult dirty disappointed
disappointing disgraceful disgusting dismissive disorganised disrespectful distressed
dreadful expensive fail failed filthy frustrated frustrating hard horrible hostile
ignored impossible inadequate incompetent inconvenient lost mistake messy neglected noisy
overcrowded pain painful poor problem rude rushed scared shocking slow terrible
uncomfortable unclear unfriendly unhappy unhelpful unprofessional unsafe upset useless
wait waiting worse worst worried wrong
"""
_POSITIVE_WORDS = frozenset(_POSITIVE_TEXT.split())
_NEGATIVE_WORDS = frozenset(_NEGATIVE_TEXT.split())
_NEGATORS = frozenset({"not", "no", "never", "nothing", "without", "hardly"})
#: Added to the learned weight of one polarity word (see :class:`TextAnalyser`).
LEXICON_PRIOR = 0.8


def lexicon_score(stems: Sequence[str]) -> float:
    """Positive minus negative words, each flipped when one of the 3 words before negates it."""
    return _signed_sum([_polarity(s) for s in stems], [s in _NEGATORS for s in stems])


def _polarity(stem: str) -> float:
    return 1.0 if stem in _POSITIVE_WORDS else -1.0 if stem in _NEGATIVE_WORDS else 0.0


def _signed_sum(polarities: Sequence[float], negators: Sequence[bool]) -> float:
    """:func:`lexicon_score` of words given by their polarities and whether each negates."""
    total = 0.0
    for i, polarity in enumerate(polarities):
        if polarity and any(negators[max(0, i - 3) : i]):
            polarity = -polarity
        total += polarity
    return total


# Plural-stripping would mangle these.
_KEEP_S = frozenset({"always", "perhaps", "news", "yes", "various", "previous"})


def words(text: str) -> list[str]:
    """Lower-case words of ``text``, with "n't" split off as "not"."""
    lowered = text.lower().replace("\u2019", "'").replace("n't", " not")
    return _WORD.findall(lowered)


def without_placeholders(text: str) -> str:
    """``text`` with each redaction placeholder replaced by a break (a comma)."""
    return PLACEHOLDER.sub(",", text) if "[" in text else text


def theme_words(text: str) -> list[str]:
    """Lower-case words of ``text`` in any alphabet, redaction placeholders left out.

    The same as :func:`words` for ASCII text without placeholders.
    """
    lowered = without_placeholders(text).lower().replace("\u2019", "'").replace("n't", " not")
    return _LETTERS.findall(lowered)


# Words repeat across replies and intake calls this a lot: 13,336 different words in
# 31,569 real and evaluation texts.
@functools.lru_cache(maxsize=1 << 15)
def stem(word: str) -> str:
    """A deliberately light stem: plural "s" only, so keywords stay readable words."""
    if (
        len(word) > 3
        and word.endswith("s")
        and not word.endswith(("ss", "us", "is", "'s"))
        and word not in _KEEP_S
    ):
        return word[:-1]
    if word.endswith("'s"):
        return word[:-2]
    return word


def model_features(stems: Sequence[str]) -> list[str]:
    """Features of the shipped linear model: stems and adjacent pairs of stems."""
    return [*stems, *(f"{a} {b}" for a, b in zip(stems, stems[1:], strict=False))]


def theme_tokens(stems: Sequence[str]) -> tuple[str, ...]:
    """Distinct content stems in order of first use: the basis of themes and keywords.

    Give it the stems of :func:`theme_words`, so that no placeholder becomes a keyword.
    """
    seen: dict[str, None] = {}
    for s in stems:
        token = s.replace("'", "")
        if len(token) > 1 and token not in _STOPWORDS and not token.isdigit():
            seen.setdefault(token, None)
    return tuple(seen)


@dataclass(frozen=True)
class TextAnalysis:
    """What one reply's text contributes to every later report.

    Attributes:
        sentiment: from -1 (very negative) to 1 (very positive).
        label: ``positive``, ``neutral`` or ``negative``.
        tokens: distinct normalised content words, in order of first use.
        categories: probabilities for the default codebook's categories, in its order.
        suggestion: the reply asks for a change (see :mod:`consultations.insights.suggestions`).
        words: number of words, used to prefer readable quotes.
        version: :data:`ANALYSIS_VERSION` when it was made.
    """

    sentiment: float
    label: str
    tokens: tuple[str, ...]
    categories: tuple[float, ...]
    suggestion: bool
    words: int
    version: int = ANALYSIS_VERSION

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict to store beside the response."""
        return {
            "version": self.version,
            "sentiment": self.sentiment,
            "label": self.label,
            "tokens": list(self.tokens),
            "categories": list(self.categories),
            "suggestion": self.suggestion,
            "words": self.words,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TextAnalysis:
        """Rebuild from :meth:`to_json` output (as read back from the database)."""
        return cls(
            sentiment=float(data["sentiment"]),
            label=str(data["label"]),
            tokens=tuple(data["tokens"]),
            categories=tuple(data["categories"]),
            suggestion=bool(data["suggestion"]),
            words=int(data["words"]),
            version=int(data.get("version", 0)),
        )


FloatArray = npt.NDArray[np.float64]

#: Words whose analysis parts are kept (about 10 MB when full; the 10,333 pxtextmining
#: comments have 6,260 different words), after which the store starts again.
_KNOWN_WORDS = 32768


class _Word(NamedTuple):
    """One word's part of an analysis (see :meth:`TextAnalyser._learn`)."""

    stem: str
    #: The model feature of the stem alone, if any.
    feature: int | None
    #: The features of pairs that start with this stem, by the next stem.
    pairs: dict[str, int] | None
    #: The theme token and its row in the static embedding (None when not there).
    themed: tuple[str, int | None] | None
    #: Its polarity in the lexicon (see :func:`lexicon_score`).
    polarity: float
    #: It negates the polarity words after it.
    negator: bool


class TextAnalyser:
    """Applies one trained model (see :mod:`consultations.insights.training`) to texts."""

    def __init__(
        self,
        model: Mapping[str, Any],
        *,
        lexicon_weight: float | None = None,
        embedding: StaticEmbedding | None = None,
    ) -> None:
        features: list[str] = model["features"]
        # Learned with the word weights, plus a fixed prior: the survey data alone gives
        # polarity words little weight because its idiom ("staff" almost always praise)
        # explains most comments, but replies elsewhere are phrased differently. The
        # prior costs about two points of macro-F1 on that data (bench/insights_quality).
        self._lexicon_weight = (
            float(model.get("lexicon_weight", 0.0)) + LEXICON_PRIOR
            if lexicon_weight is None
            else lexicon_weight
        )
        self.categories: tuple[str, ...] = tuple(model["categories"])
        self._idf: FloatArray = np.asarray(model["idf"], dtype=np.float64)
        n_categories = len(self.categories)
        # The sub-theme head, when the model has one: its probabilities are mapped to the
        # major categories and mixed with the major head's (see training.fit_model).
        has_sub = "subcategory_weights" in model
        self._sub_mix = float(model.get("subcategory_mix", 0.0)) if has_sub else 0.0
        self._sub_major: FloatArray | None = (
            np.asarray(model["subcategory_major"], dtype=np.float64) if has_sub else None
        )
        # One matrix for every head: columns are the categories, then sentiment, then
        # the sub-themes (if any).
        self._weights: FloatArray = np.hstack(
            [
                np.asarray(model["category_weights"], dtype=np.float64),
                np.asarray(model["sentiment_weights"], dtype=np.float64)[:, None],
                *([np.asarray(model["subcategory_weights"], dtype=np.float64)] if has_sub else []),
            ]
        )
        self._bias: FloatArray = np.asarray(
            [
                *model["category_bias"],
                model["sentiment_bias"],
                *(model["subcategory_bias"] if has_sub else []),
            ],
            dtype=np.float64,
        )
        self._sentiment_column = n_categories
        # The embedding head, when the model was trained with one and it is at hand.
        self._embedding = embedding if "embedding_category_weights" in model else None
        self._embedding_weights: FloatArray | None = None
        if self._embedding is not None:
            scale = float(model.get("embedding_scale", 1.0))
            self._embedding_weights = scale * np.hstack(
                [
                    np.asarray(model["embedding_category_weights"], dtype=np.float64),
                    np.asarray(model["embedding_sentiment_weights"], dtype=np.float64)[:, None],
                    *(
                        [np.asarray(model["embedding_subcategory_weights"], dtype=np.float64)]
                        if has_sub
                        else []
                    ),
                ]
            )
        prior = self._category_probabilities(self._bias)
        self._prior = tuple(round(float(p), 3) for p in prior)
        # The features split for look-ups by stem: a stem's own feature, and the pairs it
        # starts (second stem to feature), so no pair's string is built per reply.
        self._unigrams: dict[str, int] = {}
        self._pairs: dict[str, dict[str, int]] = {}
        for i, feature in enumerate(features):
            first, space, second = feature.partition(" ")
            if not space:
                self._unigrams[feature] = i
            elif " " not in second:  # longer n-grams are never looked up
                self._pairs.setdefault(first, {})[second] = i
        self._known: dict[str, _Word] = {}

    def _learn(self, word: str) -> _Word:
        """What :meth:`analyse` needs of one word, worked out once per word."""
        known = self._known
        if len(known) >= _KNOWN_WORDS:  # bounded: replies can bring any string at all
            known.clear()
        s = stem(word)
        token = s.replace("'", "")
        themed = None
        if len(token) > 1 and token not in _STOPWORDS and not token.isdigit():
            index = self._embedding.index if self._embedding is not None else {}
            themed = (token, index.get(token))
        info = known[word] = _Word(
            s,
            self._unigrams.get(s),
            self._pairs.get(s),
            themed,
            _polarity(s),
            s in _NEGATORS,
        )
        return info

    def _category_probabilities(self, z: FloatArray) -> FloatArray:
        """Major-category probabilities from one row of every head's scores."""
        k = self._sentiment_column
        if self._sub_major is None:
            only: FloatArray = np.exp(z[:k] - z[:k].max())
            only /= only.sum()
            return only
        # One exponential for both heads (the sentiment column rides along unused): linear
        # heads over unit-length rows never score hundreds apart, so nothing underflows.
        e = np.exp(z - z.max())
        cat, sub = e[:k], e[k + 1 :]
        share = self._sub_mix / sub.sum()
        mixed: FloatArray = (
            cat * ((1.0 - self._sub_mix) / cat.sum()) + (sub @ self._sub_major) * share
        )
        return mixed

    def analyse(self, text: str) -> TextAnalysis:
        """Analyse one reply. Pure and fast: safe to call for every response at intake.

        The same as stemming the words, then :func:`model_features`, :func:`theme_tokens`,
        :func:`lexicon_score` and :meth:`StaticEmbedding.embed` on them, with each word's
        part of that looked up once per process (see :meth:`_learn`).
        """
        ws = words(text)
        known = self._known.get
        learn = self._learn
        infos = [known(w) or learn(w) for w in ws]
        # Feature ids in the order model_features lists them (stems, then pairs), put in a
        # set the same way, so the sums below add the same numbers in the same order.
        found = [i for info in infos if (i := info.feature) is not None]
        for first, second in pairwise(infos):
            if (follow := first.pairs) is not None and (i := follow.get(second.stem)) is not None:
                found.append(i)
        idx = list(set(found))
        themed = dict([t for info in infos if (t := info.themed) is not None])
        # The embedding (a model input) reads the model's words; the theme tokens are
        # words in any alphabet, without placeholders (the same words for plain text).
        tokens = tuple(themed) if text.isascii() and "[" not in text else text_tokens(text)
        extra = None
        if self._embedding is not None and self._embedding_weights is not None:
            vector = self._embedding.embed_ids([i for i in themed.values() if i is not None])
            if vector.any():
                extra = vector.astype(np.float64) @ self._embedding_weights
        if idx or extra is not None:
            if idx:
                rows = np.fromiter(idx, np.intp, len(idx))
                values = self._idf.take(rows)
                values /= math.sqrt(values @ values)
                z = self._bias + values @ self._weights.take(rows, axis=0)
            else:
                z = self._bias.copy()
            if extra is not None:
                z += extra
            categories = _round3(self._category_probabilities(z))
            logit = float(z[self._sentiment_column])
        else:
            # Nothing the model knows: no evidence either way from it.
            categories = self._prior
            logit = 0.0
        logit += self._lexicon_weight * _signed_sum(
            [info.polarity for info in infos], [info.negator for info in infos]
        )
        if "not" in ws or "cannot" in ws:  # "n't" is read as "not"
            logit += idiom_logit(text)
        # 2*sigmoid(z)-1: the probability of "positive", mapped to [-1, 1].
        score = math.tanh(logit / 2.0)
        return TextAnalysis(
            sentiment=round(score, 3),
            label=sentiment_label(score),
            tokens=tokens,
            categories=categories,
            suggestion=is_suggestion(text),
            words=len(ws),
        )


def text_tokens(text: str) -> tuple[str, ...]:
    """The theme tokens of a text: :func:`theme_tokens` of its :func:`theme_words`."""
    return theme_tokens([stem(w) for w in theme_words(text)])


def _round3(p: FloatArray) -> tuple[float, ...]:
    """``tuple(np.round(p, 3).tolist())``, which is rint(v * 1000) / 1000 for each v, done
    in Python for the few positive numbers of an analysis (numpy's calls cost more)."""
    values: list[float] = p.tolist()
    try:
        # Zero or below would lose numpy's sign of zero, and not-a-number raises.
        if min(values) > 0.0:
            return tuple([round(v * 1000.0) / 1000.0 for v in values])
    except (ValueError, OverflowError):
        pass
    rounded: list[float] = np.round(p, 3).tolist()
    return tuple(rounded)


def category_matrix(analyses: Sequence[TextAnalysis]) -> FloatArray:
    """The stored category probabilities of many analyses as one (n, categories) array."""
    width = len(analyses[0].categories) if analyses else 0
    flat = np.fromiter(
        chain.from_iterable(a.categories for a in analyses),
        dtype=np.float64,
        count=len(analyses) * width,
    )
    return flat.reshape(len(analyses), width)


_NOT = r"(?:(?:could|would)(?:n[’']?t|\s?not)|can(?:[’']?t|\s?not))"
#: Praise said through a negation, which the words alone read the wrong way round:
#: "could not have been more helpful", "couldn't ask for better", "can't fault them",
#: "can't thank them enough".
_PRAISE_BY_NEGATION = re.compile(
    rf"\b{_NOT}\s+(?:have\s+)?(?:been\s+|be\s+)?(?:any\s+)?"
    r"(?:more\s+(?:help|helpful|kind|caring|supportive|professional|friendly|understanding"
    r"|polite|attentive|welcoming|reassuring|patient|efficient)|better|happier|nicer|kinder)\b"
    rf"|\b{_NOT}\s+(?:have\s+)?(?:ask(?:ed)?|wish(?:ed)?|hope[d]?)\s+for\s+"
    r"(?:any(?:thing)?\s+|a\s+)?(?:more|better|nicer|kinder)\b"
    rf"|\b{_NOT}\s+(?:fault|praise\s+\w+(?:\s+\w+)?\s+enough|thank\s+\w+(?:\s+\w+)?\s+enough"
    r"|speak\s+(?:highly|well)\s+enough|recommend\s+\w+(?:\s+\w+)?\s+(?:enough|more|highly\s+enough))",
    re.IGNORECASE,
)
#: And the other way: "could not care less", "couldn't have been worse".
_BLAME_BY_NEGATION = re.compile(
    rf"\b{_NOT}\s+(?:have\s+)?(?:care\s+less|(?:been\s+|be\s+)(?:any\s+)?(?:worse|less\s+helpful))\b",
    re.IGNORECASE,
)
#: How far such a phrase moves the model's log-odds: enough to decide the reply.
_IDIOM_LOGIT = 4.0


def idiom_logit(text: str) -> float:
    """The log-odds a phrase of praise or blame said through a negation adds."""
    if _PRAISE_BY_NEGATION.search(text):
        return _IDIOM_LOGIT
    if _BLAME_BY_NEGATION.search(text):
        return -_IDIOM_LOGIT
    return 0.0


def sentiment_label(score: float) -> str:
    """``positive``, ``neutral`` or ``negative`` for a score in [-1, 1]."""
    if score >= NEUTRAL_BAND:
        return POSITIVE
    if score <= -NEUTRAL_BAND:
        return NEGATIVE
    return NEUTRAL


MODEL_FILE = "pxtextmining_model.json"
#: The same heads trained with the static embedding's columns too.
EMBEDDING_MODEL_FILE = "pxtextmining_model_embedding.json"


def _read_model(name: str) -> dict[str, Any] | None:
    source = resources.files("consultations.insights").joinpath("data", name)
    if not source.is_file():
        return None
    # orjson reads the 4 MB of weights in half the time json takes, to the same values.
    data: dict[str, Any] = orjson.loads(source.read_bytes())
    return data


@cache
def default_model() -> dict[str, Any]:
    """The shipped words-only model (trained by ``bench/insights_train.py``): the fallback."""
    data = _read_model(MODEL_FILE)
    if data is None:
        raise FileNotFoundError(f"consultations/insights/data/{MODEL_FILE} is not installed")
    return data


@cache
def default_analyser() -> TextAnalyser:
    """The analyser every intake and report uses unless told otherwise.

    With the static embedding installed, the model trained with it; without it (or
    without that model), the words-only model, which needs nothing else.
    """
    embedding = default_embedding()
    if embedding is not None:
        model = _read_model(EMBEDDING_MODEL_FILE)
        if model is not None:
            return TextAnalyser(model, embedding=embedding)
    return TextAnalyser(default_model())


def analyse_text(text: str) -> TextAnalysis:
    """Sentiment, tokens and default-codebook scores for one reply (see :class:`TextAnalysis`)."""
    return default_analyser().analyse(text)
