"""The semantic layer: a linear model over word and character n-grams.

The lexicon lists phrases; people paraphrase ("I've started looking up how high the
multi-storey is"). This layer scores a text by its resemblance to written exemplars of
disclosures and look-alikes, so a new wording of a known idea still scores high.

Features are TF-IDF weighted binary word unigrams and bigrams, and character 3- to
5-grams inside words (which carry misspellings the normaliser does not know), each block
normalised to unit length, as scikit-learn's ``TfidfVectorizer(binary=True)`` computes
them. The model is a logistic regression trained by ``training.py`` and shipped as
``data/semantic_model.json``; scoring here is plain Python over that file, because a
screen call must take well under a millisecond and scikit-learn's per-call overhead is
larger than the whole of this computation.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from functools import cache, cached_property, lru_cache
from importlib import resources
from itertools import chain
from typing import Any

import numpy as np
import orjson

MODEL_FILE = "data/semantic_model.json"
_PUNCTUATION = frozenset(".,!?;:")


_NEGATORS = frozenset(
    ["not", "never", "no", "nobody", "none", "nothing", "without", "neither", "nor"]
)
# Words that start a new clause and so end the reach of a negation.
_CLAUSE_STARTS = frozenset(
    ["i", "he", "she", "they", "we", "you", "and", "but", "because", "so", "then"]
)


def word_features(normalised: str) -> list[str]:
    """Word unigrams and bigrams; bigrams do not cross punctuation.

    Words in the reach of a negation carry a ``not_`` prefix ("i have never felt
    suicidal" gives ``not_suicidal``), so a risk word the exemplars never show negated
    contributes nothing instead of counting as if it were asserted.
    """
    features: list[str] = []
    previous = ""
    negated = False
    for token in normalised.split():
        if token in _PUNCTUATION:
            previous = ""
            negated = False
            continue
        if token in _CLAUSE_STARTS:
            negated = False
        word = "not_" + token if negated else token
        if token in _NEGATORS:
            negated = True
        features.append(word)
        if previous:
            features.append(previous + " " + word)
        previous = word
    return features


@lru_cache(maxsize=1 << 15)  # 10,264 different words in 31,569 real and evaluation texts
def _grams(token: str) -> tuple[str, ...]:
    padded = f" {token} "
    size = len(padded)
    return tuple(padded[i : i + n] for n in (3, 4, 5) for i in range(size - n + 1))


def char_features(normalised: str) -> list[str]:
    """Character 3- to 5-grams of each word padded with spaces."""
    features: list[str] = []
    for token in set(normalised.split()):
        if token in _PUNCTUATION or token.startswith("_"):
            continue
        features.extend(_grams(token))
    return features


#: Words whose known character n-grams are kept (a bounded cache, emptied when full).
_GRAM_CACHE = 1 << 16


class _Block:
    """One block of features: weights by feature, and the same as numbered arrays."""

    def __init__(self, weights: dict[str, list[float]]) -> None:
        # Feature -> [coefficient * idf, idf], as the model file has them: the idf is
        # squared where it is summed, so that loading builds no table of its own.
        self.weights = weights

    @cached_property
    def ids(self) -> dict[str, int]:
        """Features numbered from 1 (column 0 of :attr:`columns` is unused); built on
        first use, since only the character block is scored by number."""
        return {feature: n for n, feature in enumerate(self.weights, start=1)}

    @cached_property
    def columns(self) -> np.ndarray[Any, np.dtype[np.float64]]:
        """Weights and idf squared as two rows, by number (:meth:`score_numbers`)."""
        columns = np.zeros((2, len(self.weights) + 1))
        columns[0, 1:] = [w for w, _ in self.weights.values()]
        columns[1, 1:] = [i * i for _, i in self.weights.values()]
        return columns

    def score(self, features: Iterable[str]) -> float:
        """The block's share of the score: weights of the distinct known features summed,
        over the square root of the sum of their idf squared (unit-length TF-IDF)."""
        total = 0.0
        norm = 0.0
        weights = self.weights
        for feature in set(features):
            entry = weights.get(feature)
            if entry is not None:
                total += entry[0]
                idf = entry[1]
                norm += idf * idf
        return total / math.sqrt(norm) if norm else 0.0

    def score_numbers(self, numbers: set[int]) -> float:
        """:meth:`score` for the distinct features numbered ``numbers``. The sums run in
        numpy over those features' columns (in another order than a Python loop over a
        set, itself in no fixed order, so the last bits of a score may differ)."""
        if not numbers:
            return 0.0
        chosen = np.fromiter(numbers, dtype=np.intp, count=len(numbers))
        total, norm = self.columns[:, chosen].sum(axis=1)
        return float(total) / math.sqrt(norm) if norm else 0.0


def _strongest(
    parts: list[str], keep: Callable[[str], bool], probability: Callable[[int, str], float]
) -> tuple[float, str]:
    """The highest ``probability(n, part)`` of the parts ``keep`` accepts, and that part
    (``0.0, ""`` when none scores above 0)."""
    best, strongest = 0.0, ""
    for n, part in enumerate(parts):
        if keep(part):
            p = probability(n, part)
            if p > best:
                best, strongest = p, part
    return best, strongest


class SemanticModel:
    """A trained model: :meth:`probability` that a normalised text is a disclosure."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.version: int = int(data["version"])
        self.threshold: float = float(data["threshold"])
        # Older model files have no sentence threshold: sentences are then not scored.
        self.sentence_threshold: float = float(data.get("sentence_threshold", 2.0))
        # Nor a threshold for texts without risk vocabulary: those are then not scored.
        self.plain_threshold: float = float(data.get("plain_threshold", 2.0))
        self.intercept: float = float(data["intercept"])
        self.fingerprint: str = str(data["fingerprint"])
        self.word = _Block(data["word"])
        self.char = _Block(data["char"])
        self.categories: tuple[str, ...] = tuple(data["categories"])
        self._category_weights: dict[str, list[float]] = data["category_word"]
        self._category_intercepts: list[float] = list(data["category_intercepts"])
        self._grams_by_word: dict[str, tuple[int, ...]] = {}

    @cached_property
    def vocabulary(self) -> frozenset[str]:
        """The words (unigrams) the model has weights for."""
        return frozenset(f for f in self.word.weights if " " not in f)

    def probability(self, normalised: str) -> float:
        """Probability that the text is a disclosure."""
        return self._probability(word_features(normalised), self._known_grams(normalised))

    def _probability(self, features: Iterable[str], grams: set[int]) -> float:
        """The probability for a text's word features and known character n-grams."""
        z = self.intercept + self.word.score(features) + self.char.score_numbers(grams)
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def scores(
        self, normalised: str, keep: Callable[[str], bool], below: float | None = None
    ) -> tuple[float, float, str]:
        """:meth:`probability` of a text, and :meth:`strongest_sentence` of it when the
        probability is below ``below`` (the threshold when None; ``0.0, ""`` otherwise).

        The text's word features are its sentences' one after another (a sentence end
        starts them afresh, as a new sentence does) and its character n-grams are theirs
        together, so each sentence's are found once, for both. That holds when every
        sentence end the split removes is one punctuation mark of its own; a text with
        another ("!!!", a token of its own) is scored the plain way.
        """
        below = self.threshold if below is None else below
        parts = split_sentences(normalised)
        if len(parts) < 2 or any(len(end) != 2 for end in _SENTENCE_END.findall(normalised)):
            whole = self.probability(normalised)
            if whole >= below or len(parts) < 2:
                return whole, 0.0, ""
            return whole, *_strongest(parts, keep, lambda _, part: self.probability(part))
        features = [word_features(part) for part in parts]
        grams = [self._known_grams(part) for part in parts]
        whole = self._probability(chain.from_iterable(features), set().union(*grams))
        if whole >= below:
            return whole, 0.0, ""
        return whole, *_strongest(
            parts, keep, lambda n, _: self._probability(features[n], grams[n])
        )

    def strongest_sentence(self, normalised: str, keep: Callable[[str], bool]) -> tuple[float, str]:
        """The highest probability of any one sentence of a longer text, and that
        sentence; ``(0.0, "")`` for a text of one sentence.

        A disclosure inside a long complaint is one sentence among many about waits and
        staff, and over the whole text its words weigh too little to reach the threshold;
        on its own it does. Only sentences ``keep`` accepts are scored (the screen keeps
        those of three or more words with risk vocabulary).
        """
        parts = split_sentences(normalised)
        if len(parts) < 2:
            return 0.0, ""
        return _strongest(parts, keep, lambda _, part: self.probability(part))

    def _known_grams(self, normalised: str) -> set[int]:
        """The numbers of the text's character n-grams that the model has weights for: the
        same n-grams as :func:`char_features` gives, less the unknown ones. Each word's
        come from a cache, since replies share most of their words."""
        cache = self._grams_by_word
        known: set[int] = set()
        for token in set(normalised.split()):
            numbers = cache.get(token)
            if numbers is None:
                numbers = self._word_grams(token)
            known.update(numbers)
        return known

    def _word_grams(self, token: str) -> tuple[int, ...]:
        """One word's known character n-grams, by number (cached)."""
        numbers: set[int] = set()
        if token not in _PUNCTUATION and not token.startswith("_"):
            ids = self.char.ids
            for gram in _grams(token):
                number = ids.get(gram)
                if number is not None:
                    numbers.add(number)
        cache = self._grams_by_word
        if len(cache) >= _GRAM_CACHE:
            cache.clear()
        cache[token] = found = tuple(numbers)
        return found

    def category(self, normalised: str) -> str:
        """The most likely category of a text already judged a disclosure."""
        scores = list(self._category_intercepts)
        present = set(word_features(normalised))
        norm = 0.0
        sums = [0.0] * len(scores)
        for feature in present:
            entry = self._category_weights.get(feature)
            if entry is None:
                continue
            norm += entry[0] * entry[0]
            for k, weight in enumerate(entry[1:]):
                sums[k] += weight
        if norm:
            scale = 1.0 / math.sqrt(norm)
            scores = [s + v * scale for s, v in zip(scores, sums, strict=True)]
        best = max(range(len(scores)), key=scores.__getitem__)
        return self.categories[best]


_SENTENCE_END = re.compile(r"\s[.!?;]+(?=\s|$)")


def split_sentences(normalised: str) -> list[str]:
    """The sentences of a normalised text (its sentence punctuation is separate tokens)."""
    return [part.strip() for part in _SENTENCE_END.split(normalised) if part.strip()]


@cache
def default_model() -> SemanticModel | None:
    """The shipped model, or None when it has not been trained yet."""
    source = resources.files(__package__).joinpath(MODEL_FILE)
    if not source.is_file():
        return None
    # orjson: the same values in half the time json takes (each screening process loads it).
    data: dict[str, Any] = orjson.loads(source.read_bytes())
    return SemanticModel(data)
