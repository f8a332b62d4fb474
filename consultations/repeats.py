"""Near-repeats of a statement: the content words of two statements and how alike they
are. Pure (no store, no spec), so the spec's checks of seed statements and the runtime's
check of statements people add use one rule.
"""

from __future__ import annotations

import re
import unicodedata

#: Word overlap (Jaccard of content words) from which a statement counts as a repeat.
DUPLICATE_SIMILARITY = 0.7

# Common words that say nothing about an idea, by language, written without accents (as
# content_words compares them): "Que haya más médicos en el turno de la noche" and "... más
# enfermeras ..." share their small words, not their idea.
_STOPWORD_TEXT = {
    "en": """
a an the and or but of to in on at for with by from as is are was were be been it its
this that these those there their they them we our us you your i me my so if then than
when should would could can will just more most very too also do does did have has had
not no
""",
    "es": """
a al algo alguna algunas alguno algunos ante antes como con contra cual cuando de del
desde donde durante e el ella ellas ellos en entre era es esa esas ese eso esos esta estas
este esto estos fue ha habia han hasta hay haya haber la las le les lo los mas me mi mis
mucho muy ni no nos o os otra otro otros para pero poco por porque que quien se sea sean
ser si sin sobre son su sus tambien tan te tu tus u un una unas uno unos usted ustedes y
ya yo debe deben deberia deberian puede pueden pueda podria quiero queremos
""",
    "cy": """
a ac ag am ar at bod fod byddai bydd dan dros e ei eich ein eu fe fi fy dy gan gyda hi hon
hwn hwnnw hyn i mae mai na nad neu ni o oedd os pan pa pe rhaid sydd ti trwy wedi y yn yr
ym yw ydy ydi gall gallu dylai ddylai dylid dylen mwy iawn hefyd
""",
}
_STOPWORDS = {language: frozenset(words.split()) for language, words in _STOPWORD_TEXT.items()}
#: In a language without a list, words this short or shorter are left out instead: in
#: most languages those are the small words ("de", "la", "of", "yn").
_SHORT = 2


def _stem(word: str) -> str:
    # A light touch, plural first and then -ing/-ed: "mornings"/"morning", "waits" and
    # "waiting" meet; enough to spot a repeat, not a linguistic stemmer.
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        word = word[:-1]
    for suffix in ("ing", "ed"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def _stem_es(word: str) -> str:
    # Plurals only: "turnos"/"turno", "hospitales"/"hospital", "noches"/"noche".
    if word.endswith("es") and len(word) > 4 and word[-3] in "rlndzj":
        return word[:-2]
    if word.endswith("s") and len(word) > 3:
        return word[:-1]
    return word


_STEMS = {"en": _stem, "es": _stem_es}


def _language(language: str) -> str:
    """The language part of a code (``es-MX`` is ``es``)."""
    return re.split(r"[-_]", language.strip())[0].lower()


def content_words(text: str, language: str = "en") -> frozenset[str]:
    """The statement's content words: folded, accents and the language's stop words
    removed, stemmed where the language has a stemmer. A language with no stop word list
    loses its words of :data:`_SHORT` letters or fewer instead, and keeps the rest whole:
    English small words would be no better a guess for it."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in folded if not unicodedata.combining(c))
    base = _language(language)
    stop = _STOPWORDS.get(base)
    shortest = 1 if stop is not None else _SHORT
    stem = _STEMS.get(base, str)
    return frozenset(
        stem(w)
        for w in re.findall(r"\w+", plain)
        if len(w) > shortest and (stop is None or w not in stop)
    )


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard similarity of two word sets (1.0 for two empty sets)."""
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def is_repeat(a: str, b: str, language: str = "en") -> bool:
    """Whether two statements in ``language`` say the same thing, by the near-repeat rule."""
    return similarity(content_words(a, language), content_words(b, language)) >= (
        DUPLICATE_SIMILARITY
    )
