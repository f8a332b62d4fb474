"""Which language a text is in, as far as the screen needs to know.

The screen reads English fully, and Spanish and Welsh through small lexicons (a Welsh
text the lexicon does not flag but that has a word of risk in it goes to a person).
Anything else, in
another script (Arabic, Chinese, Cyrillic, Devanagari, ...) or in another Latin-script
language (French, German, Vietnamese, ...), is reported as unreadable so that a person
looks at it: such a text is never silently passed.

The guess is deliberately cautious towards English: short replies with names, slang or
words the lists do not know ("Dr Nguyen gr8", "Kia ora") are English unless the words of
another language outnumber English ones.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

ENGLISH = "en"
SPANISH = "es"
WELSH = "cy"
#: Languages the screen reads.
READABLE = frozenset({ENGLISH, SPANISH, WELSH})

_WORD = re.compile(r"[^\W\d_]+")
# Letters of scripts other than Latin; each is a reason for a person to look.
_OTHER_SCRIPT = re.compile(
    "["
    "\u0370-\u03ff"  # Greek
    "\u0400-\u052f"  # Cyrillic
    "\u0530-\u058f"  # Armenian
    "\u0590-\u05ff"  # Hebrew
    "\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff"  # Arabic
    "\u0900-\u0dff"  # Devanagari, Bengali, Gurmukhi, Gujarati, Tamil, Telugu, ...
    "\u0e00-\u0eff"  # Thai, Lao
    "\u1000-\u109f"  # Myanmar
    "\u10a0-\u10ff"  # Georgian
    "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af"  # Hangul
    "\u1200-\u137f"  # Ethiopic
    "\u1780-\u17ff"  # Khmer
    "\u3040-\u30ff"  # Hiragana, Katakana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK
    "]"
)
# Letters only Vietnamese uses among Latin-script languages.
_VIETNAMESE = re.compile("[ăđơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]")

_STOPWORDS: dict[str, str] = {
    "en": (
        "the and to of i a is was my me it in for that you with on not but they be have had "
        "this are so at we he she very just do all get got were been from will would can "
        "there what when your our an about more time one staff nurse doctor wait waiting "
        "thanks thank good great want don't didn't i'm it's no really much too never "
        "appointment hospital service care people feel felt help"
    ),
    "es": (
        "de la que el en y los se del las un por con una su para es al lo como pero sus le "
        "ya fue este porque esta muy sin sobre tambien hasta hay donde quien desde todo nos "
        "durante todos uno les ni contra otros ese eso ante ellos esto antes algunos unos yo "
        "otro otras otra tanto esa estos mucho quienes nada muchos cual poco ella estar estas "
        "algunas algo nosotros quiero gracias tengo estoy vivir morir medico hospital cita "
        "espera mi marido hijo hija casa mas me vida matar pastillas brazos corto dolor "
        "enfermera enfermeras ayuda nadie siempre nunca ahora tiempo atencion llama dice "
        "pareja novio madre padre hermano hermana mejor peor bien mal tarde manana noche"
    ),
    # Welsh function words and common words of feedback, none of them an English word
    # ("am", "dim", "bod" and "eu" are left out for that reason).
    "cy": (
        "dw dwi dydw dydy rydw rwy rwyf ydw ydy ydych wedi yr yn ac gyda fy ein eich mae "
        "roedd oedd ddim nid nad ond hefyd iawn yma yno hwn hynny gan wrth dros heb rhy "
        "mwy diolch meddyg nyrs apwyntiad aros amser eisiau isio moyn byw marw "
        "gwneud cael mynd gallu methu does oes gyd bawb neb pawb fe wnes wnaeth hun fod ei "
        "eto bryd hyn anodd gwych teimlo llynedd heddiw ddoe yfory"
    ),
    "fr": (
        "je ne pas plus le la les des est et une un du que qui dans pour avec mais sur au aux "
        "ce cette nous vous ils elle tres trop tout mon ma mes suis etait ai personne veux "
        "vivre attente urgences merci medecin beaucoup"
    ),
    "de": (
        "ich nicht mehr und der das ist zu den mit sich des auf fur von ein eine wir aber sehr "
        "nur auch noch wie bei leben viel lang wartezeit personal freundlich danke arzt bitte "
        "mich mir bin habe hab kann keine kein geht es schlecht sterben umbringen "
        "selbstmord mochte einen konnen termin immer niemand hilfe meine mein mann frau "
        "schmerzen allein heute morgen nacht"
    ),
    # Swedish; Danish and Norwegian, one table (their words are largely shared, and a
    # word in two tables would count for neither); Finnish; Turkish; Romanian; Somali.
    # No English word that feedback uses ("kind", "angst", "tot", "do") is in any of them.
    "sv": (
        "jag vill inte leva mer och att det som pa ar med for av har till den mig min mitt "
        "kan skulle ingen hjalp tack lakare lakaren sjukhuset vantetid sjukskoterska ont "
        "var mycket personalen vantade timmar vardcentralen"
    ),
    "da": (
        "jeg vil ikke leve mere og at det som pa er med for af har til den mig min mit kan "
        "skulle ingen hjelp hjaelp tak laege lege sygehus sykehus ventetid ondt vondt dø "
        "ventetiden sygehuset sykehuset laegen legen personalet meget"
    ),
    "fi": (
        "haluan kuolla en enaa elaa ja on etta ei olen mina se tama kiitos laakari "
        "sairaala odotus hoitaja apua kukaan kipua tappaa itseni"
    ),
    "tr": (
        "ben bir ve bu cok degil istiyorum olmek yasamak artik kendimi oldurmek hastane "
        "doktor tesekkurler yardim kimse beni benim"
    ),
    "ro": (
        "vreau sa mor nu mai traiesc si este sunt foarte multumesc doctor spital ajutor "
        "nimeni pe mine imi viata"
    ),
    "so": "waxaan rabaa inaan dhinto iyo aan waa ma ka ku ahay doonayo nolol dhakhtar",
    "pt": (
        "eu nao quero mais viver de que o e do da em um para com uma os se na por as dos como "
        "mas foi ao ele das tem seu sua ou ser quando muito ja estou tambem pelo pela ate isso "
        "obrigado obrigada atendimento"
    ),
    "it": (
        "non voglio piu vivere il di che e la per un una sono ho ma con del della molto grazie "
        "anche questo quando perche come ancora tutto niente"
    ),
    "nl": "ik niet het een en van de dat wil meer leven is zijn heel lang maar ook wachten",
    "pl": "nie chce juz zyc jest sie to w na i z do ze jak ale co tak jestem mnie bardzo",
    "id": "saya tidak mau ingin hidup lagi yang dan di ini itu dengan untuk ada sangat terima",
    "tl": "ako hindi ko na ang ng mga sa ay gusto mabuhay salamat po",
    "vi": "toi khong muon song nua rat cam bac nhieu",
}


# Words of dying, killing oneself and self-harm in languages the screen does not read,
# in plain letters (accents removed). One of them in a text otherwise read as English
# ("Great nurses, ma voglio morire") is a clause the screen cannot read, so a person
# looks. None is a word an English reply would use: short or shared words ("mati",
# "tot", "mor", "dood") are left out, or listed only as a pair of words together.
_UNREAD_RISK_WORDS = {
    "de": "sterben umbringen selbstmord suizid",
    "fr": "mourir suicider crever",
    "it": "morire uccidermi ammazzarmi suicidarmi",
    "pt": "morrer suicidar",
    "nl": "zelfmoord doodgaan",
    "pl": "umrzec zabic samobojstwo",
    "sv, da, no": "sjalvmord selvmord",
    "fi": "kuolla itsemurha",
    "tr": "olmek intihar oldurmek",
    "ro": "sinucidere sinucid",
    "tl": "mamatay magpakamatay",
    "so": "dhinto isdil",
}
_UNREAD_RISK = frozenset(w for words in _UNREAD_RISK_WORDS.values() for w in words.split())
_UNREAD_RISK_PAIRS = frozenset(
    {
        ("bunuh", "diri"),  # Indonesian and Malay
        ("ingin", "mati"),
        ("mau", "mati"),
        ("tu", "tu"),  # Vietnamese "tự tử", its tones lost
        ("me", "matar"),  # Portuguese
        ("chce", "umrzec"),
    }
)


#: How many of the commonest English words (``data/words.txt``, most frequent first) count
#: for English besides its table above, those no other table has. The table alone left
#: plain English replies to another language by one shared little word: "Nothing as far
#: as I'm concerned", "Excellent as always" and "Visits as promised" were Portuguese
#: ("as"), "Nothing come to mind" Italian ("come"), and a person was asked to look at
#: them as text the screen could not read (11 of the 10,334 real comments; 1 with these
#: words). With all 19,083 words, "Il personale è stato gentile ma ho aspettato tre ore"
#: read as English; with 10,000 no text of another language in the tests does.
ENGLISH_WORDS = 10_000


def _tables() -> dict[str, frozenset[str]]:
    sets = {lang: frozenset(words.split()) for lang, words in _STOPWORDS.items()}
    # Only words particular to one language count for it: "de", shared by Spanish and
    # Portuguese, tells neither apart, and "me", Spanish and English, tells nothing.
    unique: dict[str, frozenset[str]] = {}
    for lang, words in sets.items():
        others = set().union(*(s for other, s in sets.items() if other != lang))
        unique[lang] = words - others
    # The commonest English words that no other table has ("as", "come" stay theirs).
    foreign = set().union(*(s for lang, s in sets.items() if lang != ENGLISH))
    common = (Path(__file__).parent / "data" / "words.txt").read_text(encoding="utf-8").split()
    unique[ENGLISH] |= {w for w in common[:ENGLISH_WORDS] if w.isalpha() and w not in foreign}
    return unique


_TABLES = _tables()
# Each word belongs to one language's table at most (the tables keep only the words
# particular to one language), so one look-up per word counts them all.
_OWNER = {word: lang for lang, table in _TABLES.items() for word in table}


def _plain(word: str) -> str:
    decomposed = unicodedata.normalize("NFD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@dataclass(frozen=True)
class Reading:
    """What the screen needs to know of a text's languages.

    ``language``: the text's language as a whole (:func:`guess_language`). ``also``:
    the readable languages other than it with words in the text (a Spanish clause in an
    English reply is read by the Spanish lexicon too). ``unread``: a part the screen
    cannot read, in a text it reads as a whole: a few letters of another script, or a
    word of dying or self-harm in a language it does not read ("The clinic is great,
    mas eu quero me matar").
    """

    language: str
    also: frozenset[str] = frozenset()
    unread: bool = False


def guess_language(folded: str) -> str:
    """``en``, ``es``, another language code, or ``other-script``.

    ``folded`` is the text lower-cased with accents kept (:func:`normalise.fold`).
    """
    return read_languages(folded).language


def read_languages(folded: str) -> Reading:
    """The language of a folded text as a whole, and the other languages in it."""
    other_script = False
    if folded.isascii():
        words = _WORD.findall(folded)
    else:
        letters = sum(1 for c in folded if c.isalpha())
        foreign = len(_OTHER_SCRIPT.findall(folded))
        if foreign >= 2 and foreign * 3 >= letters:
            return Reading("other-script")
        other_script = foreign >= 2
        if len(_VIETNAMESE.findall(folded)) >= 2:
            return Reading("vi")
        words = [_plain(w) for w in _WORD.findall(folded)]
    scores = dict.fromkeys(_TABLES, 0)
    owner = _OWNER.get
    for word in words:
        lang = owner(word)
        if lang is not None:
            scores[lang] += 1
    language = _language_of(folded, words, scores)
    # Two words at least: one ("y" in "Y/N") is no clause.
    also = frozenset(lang for lang in (SPANISH, WELSH) if lang != language and scores[lang] >= 2)
    unread = other_script or (
        language in READABLE
        and (
            not _UNREAD_RISK.isdisjoint(words)
            or any(pair in _UNREAD_RISK_PAIRS for pair in zip(words, words[1:], strict=False))
        )
    )
    return Reading(language, also, unread)


def _language_of(folded: str, words: list[str], scores: dict[str, int]) -> str:
    """The language a text is in as a whole, from its words' counts per table."""
    if not words:
        return ENGLISH
    spanish_marks = not folded.isascii() and ("ñ" in folded or "¿" in folded or "¡" in folded)
    english = scores[ENGLISH]
    lang, best = max(
        (
            (lang, count + (2 if spanish_marks and lang == SPANISH else 0))
            for lang, count in scores.items()
            if lang != ENGLISH
        ),
        key=lambda item: item[1],
    )
    if best >= 2 and best > english:
        return lang
    if best >= 1 and english == 0 and best * 4 >= len(words) and len(words) >= 2:
        return lang
    return ENGLISH
