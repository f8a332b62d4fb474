"""Normalisation of free text before screening.

People write disclosures the way they write everything else: in lower case, with markup
pasted from a web form, with text-speak ("i wnt 2 die"), with the words platforms filter
spelt around the filter ("unalive", "sewerslide", "k i l l", "su1c1de"). The lexicon is
written once, against plain lower-case English; this module brings every text to that
form so a phrase does not have to be listed in every spelling.

The output is a string of lower-case words separated by single spaces, with sentence
punctuation (``. , ! ? ; :``) kept as separate tokens so that phrases never match across
a sentence boundary.
"""

from __future__ import annotations

import html
import math
import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

# Characters that change nothing visible and are used to split words past a filter.
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff\u180e"), None)
_QUOTES = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201b": "'",
        "\u02bc": "'",
        "`": "'",
        "\u00b4": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
    }
)
# Latin small capitals, which "fancy text" generators use for whole posts ("ɪ ᴡᴀɴᴛ ᴛᴏ
# ᴅɪᴇ") and NFKC leaves as they are: read as the letters they are (until tune batch 145
# such a text was read as empty and passed as clear).
_SMALL_CAPITALS = str.maketrans(
    {
        "\u1d00": "a",
        "\u0299": "b",
        "\u1d04": "c",
        "\u1d05": "d",
        "\u1d07": "e",
        "\ua730": "f",
        "\u0262": "g",
        "\u029c": "h",
        "\u026a": "i",
        "\u1d0a": "j",
        "\u1d0b": "k",
        "\u029f": "l",
        "\u1d0d": "m",
        "\u0274": "n",
        "\u1d0f": "o",
        "\u1d18": "p",
        "\u0280": "r",
        "\ua731": "s",
        "\u1d1b": "t",
        "\u1d1c": "u",
        "\u1d20": "v",
        "\u1d21": "w",
        "\u028f": "y",
        "\u1d22": "z",
    }
)
# Upside-down text ("ɐᴉp oʇ ʇuɐʍ ᴉ"): written backwards with turned letters. A text with
# two or more letters only such text uses is read the right way up: reversed, each turned
# letter for the one it stands for, and the letters that turn into one another ("p" and
# "d", "u" and "n", "b" and "q") swapped back. The dotless i is read but not counted:
# Turkish writes it.
_TURNED_ONLY = frozenset("ɐǝɟƃɥᴉɾʞɯɹʇʌʍʎ")
_TURNED = str.maketrans(
    {
        "ɐ": "a",
        "ǝ": "e",
        "ɟ": "f",
        "ƃ": "g",
        "ɥ": "h",
        "ᴉ": "i",
        "ı": "i",
        "ɾ": "j",
        "ʞ": "k",
        "ɯ": "m",
        "ɹ": "r",
        "ʇ": "t",
        "ʌ": "v",
        "ʍ": "w",
        "ʎ": "y",
        "p": "d",
        "d": "p",
        "u": "n",
        "n": "u",
        "b": "q",
        "q": "b",
        "¿": "?",
        "¡": "!",
        "'": ",",
        ",": "'",
    }
)


def _right_way_up(text: str) -> str:
    """Upside-down text read the right way up; any other text as it is."""
    if sum(char in _TURNED_ONLY for char in text) < 2:
        return text
    return text[::-1].translate(_TURNED)


# Cyrillic and Greek letters that look like Latin ones. They are mapped only inside a word
# that also has Latin letters ("kіll" with a Cyrillic i), never in Russian or Greek text.
_CONFUSABLES = str.maketrans(
    {
        "а": "a",
        "в": "b",
        "е": "e",
        "ё": "e",
        "к": "k",
        "м": "m",
        "н": "h",
        "о": "o",
        "р": "p",
        "с": "c",
        "т": "t",
        "у": "y",
        "х": "x",
        "і": "i",
        "ї": "i",
        "ј": "j",
        "ѕ": "s",
        "ԁ": "d",
        "ӏ": "l",
        "ɩ": "i",
        # The f of small-capital "fancy text" ("ᴍʏꜱᴇʟғ").
        "ғ": "f",
        "α": "a",
        "ε": "e",
        "ι": "i",
        "κ": "k",
        "ν": "v",
        "ο": "o",
        "ρ": "p",
        "τ": "t",
        "υ": "u",
        "χ": "x",
    }
)
# Emoji that stand for a means of harm in young people's posts ("thinking about 💊💊
# tonight", "the 🪢 is ready"): read as the word. Emoji for feelings ("💀", "😭") are
# left out: they mark jokes as often as distress. Since tune batches 30 and 31 the two
# faces of laughter (😂, 🤣) read as "lol": laughter sets a phrase aside only after a named
# trivial cause, as the word does. Since tune batches 40 and 41 sleep and an alarm clock
# read as words ("want to 💤 and never ⏰ again").
_EMOJI_WORDS = str.maketrans(
    {
        "\U0001f4a4": " sleep ",  # zzz
        "\U0001f634": " sleep ",  # sleeping face
        "\u23f0": " alarm ",  # alarm clock
        "\U0001f52a": " knife ",  # kitchen knife
        "\U0001f5e1": " knife ",  # dagger
        "\U0001f48a": " pills ",  # pill
        "\U0001faa2": " rope ",  # knot
        "\U0001f333": " tree ",  # deciduous tree (tune batch 73: "🪢 + 🌳 tonight")
        "\U0001f332": " tree ",  # evergreen tree
        "\u26b0": " coffin ",  # coffin
        "\U0001faa6": " grave ",  # headstone
        "\U0001fa78": " blood ",  # drop of blood
        "\U0001f52b": " gun ",  # pistol
        "\U0001fa79": " plaster ",  # adhesive bandage (tune batches 50 and 51)
        "\U0001f602": " lol ",  # face with tears of joy
        "\U0001f923": " lol ",  # rolling on the floor laughing
    }
)
_LATIN = re.compile(r"[a-z]")
_NON_LATIN_LETTER = re.compile(r"[\u0370-\u03ff\u0400-\u04ff\u0250-\u02af]")
_TAG = re.compile(r"<[^<>]{0,300}>")
# Multi-word spellings that must be rewritten before the text is split into words.
_PHRASES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"\bsewer[\s_-]*(?:slide|side)s?\b", " suicide "),
        (r"\bsu+i+c+i*d+e*\s*s+l+i+d+e+\b", " suicide "),
        (r"\bself[\s_-]*un[\s_-]*aliv(?:e|ing|ed)\b", " kill myself "),
        # "Unalive" with no one named is to die ("i want to unalive"); with a reflexive
        # or an object it is to kill, which TEXT_SPEAK gives.
        (
            r"\bun[\s_-]*alive(?!\s*(?:my|your|him|her|them|our|the|a|some|every|any"
            r"|(?:you|u|me|us|ya)\b))",
            " die ",
        ),
        (r"\b(?:commit(?:ting)?\s+)?toaster[\s_-]*bath\b", " suicide "),
        # Sound-alikes of "beat" before a person or "up" ("he beet me up", "my husband
        # beets me", tune batch 146); never the vegetable ("beetroot", "sugar beet").
        (
            r"\bbeet(s|ing|en)?(?=\s+(?:me|him|her|them|us|you|u|up|my|his|the crap|the shit)\b)",
            r"beat\1",
        ),
        (r"\bs\s*/\s*h\b", " self harm "),
        # "o/d", as clinical notes write it; "s/a" stays letters (South Australia).
        (r"\b[o0]\s*/\s*d\b", " od "),
        # "s.h." with its dots (batch 17); "s h" alone stays letters.
        (r"\bs\.\s?h\.(?!\w)", " self harm "),
        # "sh'ing", "shing", "s h in"; never "shin" or "shed".
        (r"\bs(?:h[\s'-]+(?:ing|in)|hing|\s+h[\s'-]*(?:ing|in))\b", " self harming "),
        (r"\bs(?:h[\s'-]+(?:ed|d)|hd|\s+h[\s'-]*(?:ed|d))\b", " self harmed "),
        # "od'd", "o.d. d", "oded", with a zero for the o ("0.d.'d", tune batch 71); never
        # "odd".
        (r"\b[o0]\.?d(?:[\s'.-]+d|[\s'.-]*ed)\b", " overdosed "),
        (r"\bo\.?d[\s'-]*ing\b", " overdosing "),
        (r"\bctb[\s'-]*(?:ed|d)\b", " tried to kill myself "),
        (r"\bi\s*d\s*w\s*(?:2|t)\s*l\b", " i do not want to live "),
        (r"\b(?:my|your|him|her|them|our)\s+(self|selves)\b", r" \g<0> "),
        (r"\bw\s*/\s*o\b", " without "),
        # "go thru w it": a lone "w" after a word and before a pronoun or "the" is "with"
        # (tune batch 46); never a letter of a word spaced out ("i w a n t").
        (
            r"(?<=[a-z]{2} )w\s+(?=(?:it|me|him|her|them|my|his|their|the|this|that|you|u)\b)",
            " with ",
        ),
        (r"\bw\s*/\s*", " with "),
        # An accident named in scare quotes ("'accidentally' leaning on the iron", "another
        # 'accident'") is one the writer says was none (tune batches 28 and 29).
        (r"['\"]\s*(accident(?:ally|al|s)?)\s*['\"]", r" \1 on purpose "),
        (r"&", " and "),
        # "cu++ing": two pluses inside a word are "tt" (tune batch 53); "a+e" stays.
        (r"(?<=[a-z])\+\+(?=[a-z])", "tt"),
        (r"\+", " plus "),
    )
)
# Cheap test for whether any of the phrase rewrites can apply at all. Every branch starts
# with a letter or a symbol ("\bs" is written "s(?<=\bs)", the same places), so that the
# engine passes over the other characters of a text without trying the branches there.
_PHRASE_GATE = re.compile(
    r"sewer|slide|self|toaster|bath|/|&|\+|accident|s(?<=\bs)\s*h|s(?<=\bs)\.\s?h|o(?<=\bo)\.?d|0(?<=\b0)\.?d"
    r"|ctb|i(?<=\bi)\s*d\s*w|un[\s_-]*alive|w(?<=\bw)\s|beet"
)
# "my self" is "myself", except in "my self harm", "my self esteem", "her self care".
_JOIN_SELF = re.compile(
    r"\b(my|your|him|her|them|our) (self|selves)\b"
    r"(?! (?:harm|harming|harmed|injury|injuring|esteem|confidence|worth|care|image|help))"
)
# A word, or one sentence punctuation mark. Apostrophes, digits and leetspeak symbols stay
# inside words here; they are resolved word by word below.
_TOKEN = re.compile(r"[a-z0-9@$!|*']+(?:[.-][a-z0-9@$!|*']+)*|[.,!?;:]")
_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"}
)
_UNIT = re.compile(r"^\d+(?:[a-z]{1,4})?$|^\d+(?:st|nd|rd|th)$")
# A digit for a vowel at the start of a word ("3nd", "1t", "4nd"), not a unit or an
# ordinal written right ("3rd", "5mg", "10am", "4x").
_LEET_SINGLE = frozenset("013457@$!")
_LEADING_LEET = re.compile(r"^[0134][a-z]{1,6}$")
#: After a leading zero, the rest of text-speak for an overdose ("0d", "0ds").
_LEET_SPEAK_TAILS = frozenset(["d", "ds"])
_UNIT_SUFFIXES = frozenset(
    ["am", "pm", "mg", "mcg", "kg", "g", "ml", "l", "mm", "cm", "km"]
    + ["m", "k", "x", "s", "d", "h", "hr", "hrs", "min", "mins", "ft", "lb", "lbs", "oz"]
    + ["yr", "yrs", "wk", "wks", "mo", "day", "days", "y", "w"]
)
_ORDINALS = {"1": "st", "2": "nd", "3": "rd"}
_REPEAT = re.compile(r"([a-z])\1{2,}")

# Text-speak, contractions written without apostrophes and algospeak, one word each. The
# replacement may be several words.
TEXT_SPEAK: dict[str, str] = {
    "u": "you",
    "ya": "you",
    "yu": "you",
    "r": "are",
    "ur": "your",
    "n": "and",
    "b": "be",
    "c": "see",
    "y": "why",
    "im": "i am",
    "ive": "i have",
    "dont": "do not",
    "dnt": "do not",
    "doesnt": "does not",
    "didnt": "did not",
    "cant": "can not",
    "cnt": "can not",
    "cannot": "can not",
    "wont": "will not",
    "wouldnt": "would not",
    "couldnt": "could not",
    "shouldnt": "should not",
    "isnt": "is not",
    "wasnt": "was not",
    "arent": "are not",
    "werent": "were not",
    "havent": "have not",
    "hasnt": "has not",
    "aint": "am not",
    "whats": "what is",
    "thats": "that is",
    "theres": "there is",
    "hes": "he is",
    "shes": "she is",
    "wanna": "want to",
    "wana": "want to",
    "wanto": "want to",
    "wnna": "want to",
    "wnt": "want",
    "wnted": "wanted",
    "gonna": "going to",
    "gona": "going to",
    "gna": "going to",
    "gunna": "going to",
    "finna": "going to",
    "bouta": "about to",
    "abt": "about",
    "thru": "through",
    "bout": "about",
    "gotta": "got to",
    "tryna": "trying to",
    "ima": "i am going to",
    "imma": "i am going to",
    "cuz": "because",
    "coz": "because",
    "cos": "because",
    "bc": "because",
    "nite": "night",
    "2nite": "tonight",
    "2night": "tonight",
    "tonite": "tonight",
    # Tune batches 26 and 27.
    "tnite": "tonight",
    "tnyt": "tonight",
    "2nyt": "tonight",
    "tonyt": "tonight",
    "tnight": "tonight",
    "2day": "today",
    "2moro": "tomorrow",
    "2morrow": "tomorrow",
    "tmrw": "tomorrow",
    "tmr": "tomorrow",
    "b4": "before",
    "gr8": "great",
    "w8": "wait",
    "evry": "every",
    "evry1": "everyone",
    "every1": "everyone",
    "evry1s": "everyone is",
    "no1": "no one",
    "noone": "no one",
    "sum1": "someone",
    "some1": "someone",
    "any1": "anyone",
    "ne1": "anyone",
    "nemore": "anymore",
    "nymore": "anymore",
    "anymore": "anymore",
    "wud": "would",
    "wd": "would",
    "cud": "could",
    "cudnt": "could not",
    "wudnt": "would not",
    "shudnt": "should not",
    "grp": "group",
    "grps": "groups",
    "shud": "should",
    "wus": "was",
    "wuz": "was",
    "wz": "was",
    "ws": "was",
    "ded": "dead",
    "dedd": "dead",
    "bin": "been",
    "lyf": "life",
    "lyfe": "life",
    "agen": "again",
    "agn": "again",
    "rly": "really",
    "rlly": "really",
    "realy": "really",
    "ppl": "people",
    "pls": "please",
    "plz": "please",
    "thx": "thanks",
    "ty": "thanks",
    "tho": "though",
    "enuf": "enough",
    "enuff": "enough",
    "rote": "wrote",
    "sed": "said",
    "sez": "says",
    "wen": "when",
    "wat": "what",
    "wats": "what is",
    "wots": "what is",
    "wot": "what",
    "luv": "love",
    "hav": "have",
    "av": "have",
    "mi": "my",
    "mself": "myself",
    "meself": "myself",
    "myslef": "myself",
    "mysef": "myself",
    "myslf": "myself",
    "mysel": "myself",
    "kil": "kill",
    "kiled": "killed",
    "kilin": "killing",
    "killin": "killing",
    "killn": "killing",
    "dye": "die",
    "dy": "die",
    "dieing": "dying",
    "dyin": "dying",
    "livin": "living",
    "neva": "never",
    "slef": "self",
    "wnat": "want",
    "pils": "pills",
    "pilz": "pills",
    "pillz": "pills",
    "nxt": "next",
    "stuf": "stuff",
    "nobdy": "nobody",
    "plann": "plan",
    "nevr": "never",
    "dosnt": "does not",
    "dsnt": "does not",
    "gud": "good",
    "bein": "being",
    "cuttin": "cutting",
    "harmin": "harming",
    "hurtin": "hurting",
    "thinkin": "thinking",
    "feelin": "feeling",
    "savin": "saving",
    "tryin": "trying",
    "endin": "ending",
    "goin": "going",
    "doin": "doing",
    "tryed": "tried",
    "purpos": "purpose",
    "atempt": "attempt",
    "attemt": "attempt",
    "attmpt": "attempt",
    "overdosd": "overdosed",
    "ovrdose": "overdose",
    "od": "overdose",
    "ods": "overdoses",
    "tabs": "tablets",
    "meds": "meds",
    "sh": "self harm",
    "selfharm": "self harm",
    "selfharming": "self harming",
    "selfharmed": "self harmed",
    "selfharmin": "self harming",
    "kms": "kill myself",
    "unexist": "not exist",
    "unexisting": "not existing",
    "catscratch": "self harm",
    "catscratches": "self harm",
    "catscratching": "self harming",
    "kmss": "kill myself",
    "kys": "kill yourself",
    "kmsl": "laughing",
    "ctb": "kill myself",
    "idw2l": "i do not want to live",
    "idwtl": "i do not want to live",
    "idk": "i do not know",
    "unalive": "kill",
    "unalives": "kills",
    "unaliving": "killing",
    "unalived": "killed",
    "sewerslide": "suicide",
    "sewerside": "suicide",
    "suwuicide": "suicide",
    "sucide": "suicide",
    "suicde": "suicide",
    "suiside": "suicide",
    "sucicide": "suicide",
    "suiscide": "suicide",
    "suicied": "suicide",
    "sui": "suicide",
    "sucidal": "suicidal",
    "suicdal": "suicidal",
    "suicidial": "suicidal",
    "sucicidal": "suicidal",
    "suisidal": "suicidal",
    "suicidle": "suicidal",
    "suicidel": "suicidal",
    "suacidal": "suicidal",
    "sucidle": "suicidal",
    "merked": "killed",
    "merk": "kill",
    "shank": "stab",
    "shanked": "stabbed",
    "bf": "boyfriend",
    "gf": "girlfriend",
    "stepdad": "step dad",
    "stepmum": "step mum",
    "stepmom": "step mum",
    "mom": "mum",
    "mam": "mum",
    "mommy": "mum",
    "idc": "i do not care",
    "idgaf": "i do not care",
    "dgaf": "do not care",
    "cba": "can not be bothered",
    "wznt": "was not",
    "wsnt": "was not",
    "seggs": "sex",
    "seggsual": "sexual",
    "seggsually": "sexually",
    # Scots (tune batch 19): "want tae dae masel in", "cannae take it nae mair".
    "masel": "myself",
    # Tune batch 73: "want it all ower wi", "fae when i tried tae".
    "ower": "over",
    "fae": "from",
    "hersel": "herself",
    "himsel": "himself",
    "yersel": "yourself",
    "tae": "to",
    "dae": "do",
    "cannae": "can not",
    "canna": "can not",
    "didnae": "did not",
    "dinnae": "do not",
    "dinna": "do not",
    "disnae": "does not",
    "isnae": "is not",
    "wasnae": "was not",
    "widnae": "would not",
    "wouldnae": "would not",
    "couldnae": "could not",
    "shouldnae": "should not",
    "havnae": "have not",
    "huvnae": "have not",
    "wullnae": "will not",
    "willnae": "will not",
    "doon": "down",
    "oot": "out",
    "morra": "tomorrow",
    "mair": "more",
    "nae": "no",
    "skelp": "hit",
    "skelped": "hit",
    "skelping": "hit",
    # Tune batches 26 and 27: "ma da's been leathering me", "mum's feart o him".
    "leathering": "beating",
    "feart": "scared",
}
# Contractions written with an apostrophe.
_CONTRACTIONS: dict[str, str] = {
    "i'm": "i am",
    "i've": "i have",
    "i'd": "i would",
    "i'll": "i will",
    "it's": "it is",
    "he's": "he is",
    "she's": "she is",
    "that's": "that is",
    "there's": "there is",
    "what's": "what is",
    "who's": "who is",
    # Tune batches 28 and 29: "a patient who'd self-harmed" ("who had" by _had).
    "who'd": "who would",
    "who've": "who have",
    "who'll": "who will",
    "everyone's": "everyone is",
    "you're": "you are",
    "we're": "we are",
    "they're": "they are",
    "he'd": "he would",
    "she'd": "she would",
    "they'd": "they would",
    "he'll": "he will",
    "she'll": "she will",
    "they'll": "they will",
    "we'll": "we will",
    "we've": "we have",
    "we'd": "we would",
    "you'll": "you will",
    "you've": "you have",
    "you'd": "you would",
    "they've": "they have",
    "it'll": "it will",
    "that'll": "that will",
    "there'll": "there will",
    "won't": "will not",
    "can't": "can not",
    "shan't": "shall not",
    "ain't": "am not",
    "y'all": "you all",
    "tonight's": "tonight is",
    # Algospeak for sexual assault ("i got sa'd"); without the apostrophe it is "sad".
    "sa'd": "sexually assaulted",
    "sa'ed": "sexually assaulted",
    # Scots "a" for "I" (tune batch 19): "a'll take somebody oot".
    "a'll": "i will",
    "a'm": "i am",
    "a've": "i have",
}
# "2" and "4" are words in text-speak ("i want 2 die") but numbers elsewhere ("took 2
# paracetamol"). They are read as words only next to a word that makes that plain.
_TO_AFTER = frozenset(
    [
        "want",
        "wnt",
        "wanted",
        "wants",
        "going",
        "gonna",
        "have",
        "has",
        "had",
        "need",
        "needs",
        "needed",
        "got",
        "like",
        "try",
        "tried",
        "trying",
        "how",
        "time",
        "ready",
        "used",
        "able",
        "plan",
        "planning",
        "about",
        "scared",
        "afraid",
        "wish",
        "decided",
        "meant",
        "supposed",
        "started",
        "start",
        "reason",
        "way",
        "nice",
        "kind",
        "rude",
        "said",
        "told",
        "asked",
        "due",
        "back",
        "me",
    ]
)
_TO_BEFORE = frozenset(
    [
        "die",
        "live",
        "be",
        "end",
        "kill",
        "go",
        "do",
        "hurt",
        "cut",
        "say",
        "see",
        "talk",
        "get",
        "take",
        "stop",
        "sleep",
        "the",
        "me",
        "him",
        "her",
        "them",
        "my",
        "bed",
        "work",
        "school",
        "hospital",
        "wake",
        "exist",
        "carry",
        "keep",
        "jump",
        "od",
        "overdose",
    ]
)
# Verbs after which a standalone "1" is the word "i" ("1 want", "1 tried").
_I_BEFORE = frozenset(
    ["want", "wanna", "am", "tried", "feel", "felt", "need", "keep", "kept", "cut", "wish"]
    + ["cant", "can", "will", "just", "really", "hate", "have", "took", "overdosed"]
)
_FOR_BEFORE = frozenset(
    [
        "the",
        "a",
        "me",
        "you",
        "u",
        "him",
        "her",
        "us",
        "them",
        "my",
        "your",
        "ur",
        "tonight",
        "2nite",
        "today",
        "ever",
        "good",
        "real",
        "sure",
        "now",
    ]
)
_NUMBERS: dict[str, int] = {
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fourty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
    "hundred": 100,
}
# Words a censored spelling ("s*icidal", "k*ll") is matched against, "*" standing for
# one letter or none.
_CENSORED_TARGETS = (
    "suicidal",
    "suicide",
    "kill",
    "killing",
    "myself",
    "self",
    "harm",
    "harming",
    "die",
    "dead",
    "cut",
    "cutting",
    "rape",
    "raped",
    "abuse",
    "abused",
    "overdose",
    "hang",
    "stab",
    "burn",
    "hurt",
    "murder",
    "strangle",
    "poison",
    "pills",
    "tablets",
    "meds",
    "noose",
    "rope",
    "gun",
    "knife",
    "blade",
    "razor",
    "jump",
    "hanging",
    "bleed",
    "death",
    "starve",
    "ligature",
    "overdosed",
)
# Words worth correcting when misspelt by one letter: long and distinctive, so that no
# everyday word is one edit away from them.
_FUZZY_TARGETS = (
    "suicide",
    "suicidal",
    "myself",
    "himself",
    "herself",
    "overdose",
    "overdosed",
    "overdosing",
    "anymore",
    "stockpiling",
    "paracetamol",
    "harming",
    "cutting",
    "disappear",
    "burden",
    "believe",
    "existing",
)
# Ordinary words one edit away from a target: never "corrected".
_FUZZY_KEEP = frozenset(
    {
        "farming",
        "warming",
        "charming",
        "harping",
        "putting",
        "gutting",
        "hearing",
        "sharing",
        "bearing",
        "wearing",
        "nearing",
        "fearing",
        "tearing",
        "hearings",
        # English words one edit from "existing", "believe", "harming" or "burden" (found by
        # running every word of the insights embedding's vocabulary through the correction;
        # tune batches 68 and 69: "most exciting thing that happened" read "most existing").
        "exciting",
        "exiting",
        "relieve",
        "believed",
        "believer",
        "harding",
        "braden",
    }
)


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def _fuzzy_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for target in _FUZZY_TARGETS:
        for variant in _deletes(target) | {target}:
            index.setdefault(variant, target)
    return index


_FUZZY = _fuzzy_index()


def _fuzzy(word: str) -> str | None:
    """The target one insertion, deletion, substitution or swap away from ``word``."""
    if len(word) < 6 or word in _FUZZY_KEEP:
        return None
    hit = _FUZZY.get(word)
    if hit is not None:
        return hit
    for variant in _deletes(word):
        hit = _FUZZY.get(variant)
        if hit is not None and abs(len(hit) - len(word)) <= 1:
            return hit
    return None


def _censored(word: str) -> str | None:
    pattern = re.compile("^" + re.escape(word).replace(r"\*", "[a-z]?") + "$")
    for target in _CENSORED_TARGETS:
        if pattern.match(target):
            return target
    return None


def _collapse_repeats(word: str, known: frozenset[str]) -> str:
    """Letters typed three or more times ("sooooo", "diiiie") become one or two."""
    if not _REPEAT.search(word):
        return word
    double = _REPEAT.sub(r"\1\1", word)
    single = _REPEAT.sub(r"\1", word)
    for candidate in (single, double):
        if candidate in known or candidate in TEXT_SPEAK:
            return candidate
    # Drawn-out words are mostly single letters stretched ("pleeease", "nooo").
    return single


def strip_markup(text: str) -> str:
    """HTML entities decoded and tags removed."""
    if "&" in text:
        text = html.unescape(text)
    if "<" in text:
        text = _TAG.sub(" ", text)
    return text


def fold(text: str) -> str:
    """Markup stripped, NFKC, invisible characters removed, quotes and dashes made plain,
    small capitals made plain letters, upside-down text turned, case folded. Accents are
    kept: the language guess needs them."""
    text = strip_markup(text)
    text = unicodedata.normalize("NFKC", text).translate(_INVISIBLE).translate(_QUOTES)
    if not text.isascii():
        text = _right_way_up(text.translate(_SMALL_CAPITALS))
    return text.casefold()


def _strip_accents(text: str) -> str:
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _fix_confusables(text: str) -> str:
    if not _NON_LATIN_LETTER.search(text):
        return text
    parts = text.split(" ")
    for i, part in enumerate(parts):
        if _LATIN.search(part) and _NON_LATIN_LETTER.search(part):
            parts[i] = part.translate(_CONFUSABLES)
    return " ".join(parts)


def _join_spaced(tokens: list[str], known: frozenset[str] = frozenset()) -> list[str]:
    """Runs of three or more single letters ("k i l l", "s.u.i.c.i.d.e") become one word;
    a long run that is a whole sentence spelt out ("i w a n t t o d i e") becomes the
    known words it splits into. A leet digit or symbol among the letters of a run is a
    letter ("0 v e r d 0 s e", tune batch 51) when the run has three letters of its own;
    otherwise the run's tokens stay as they were ("5 x 3 mg")."""
    out: list[str] = []
    run: list[str] = []
    original: list[str] = []
    letters = 0
    padded = [*tokens, ""]
    for i, token in enumerate(padded):
        if len(token) == 1 and token.isalpha():
            run.append(token)
            original.append(token)
            letters += 1
            continue
        if (
            len(token) == 1
            and token in _LEET_SINGLE
            and (run or (len(padded[i + 1]) == 1 and padded[i + 1].isalpha()))
        ):
            run.append(token.translate(_LEET))
            original.append(token)
            continue
        if len(run) > letters and letters < 3:
            # "r 0 p 3": a run of four or more with two letters of its own is read only
            # when it spells a word the lexicon uses (tune batches 65 and 66).
            joined = "".join(run)
            if len(run) >= 4 and letters >= 2 and joined in known:
                out.append(joined)
            else:
                out.extend(original)
        elif len(run) >= _SENTENCE_RUN:
            joined = "".join(run)
            out.extend(_segment(joined, known) if joined not in known else [joined])
        elif len(run) >= 4 and run[0] in ("a", "i") and "".join(run) not in known:
            # "a b l a d e" is "a blade", "i k i l l" is "i kill": the article or the
            # pronoun stands apart when the rest is a word and the whole is not.
            rest = "".join(run[1:])
            out.extend([run[0], rest] if rest in known else ["".join(run)])
        elif len(run) >= 3:
            out.append("".join(run))
        else:
            out.extend(run)
        run = []
        original = []
        letters = 0
        if token:
            out.append(token)
    return out


#: A run of single letters this long is read as a sentence spelt out letter by letter.
_SENTENCE_RUN = 8


def _segment(letters: str, known: frozenset[str]) -> list[str]:
    """``letters`` split into the fewest known words ("iwanttodie" -> i want to die), or
    kept whole when it does not split into known words."""
    if not known:
        return [letters]
    size = len(letters)
    best: list[list[str] | None] = [None] * (size + 1)
    best[0] = []
    for end in range(1, size + 1):
        for start in range(max(0, end - 20), end):
            before = best[start]
            piece = letters[start:end]
            if before is None or (piece not in known and piece not in ("i", "a")):
                continue
            candidate = [*before, piece]
            current = best[end]
            if current is None or len(candidate) < len(current):
                best[end] = candidate
    found = best[size]
    return found if found is not None else [letters]


#: Two-letter words a text may spell out letter by letter ("g-o-i-n-g o-n"), joined like
#: longer ones (tune batches 68 and 69); other pairs of letters stay apart ("a-e", "x-y").
_SHORT_SPELLED = frozenset(
    {
        "on",
        "in",
        "to",
        "me",
        "my",
        "go",
        "do",
        "no",
        "up",
        "so",
        "it",
        "is",
        "be",
        "he",
        "we",
        "am",
        "of",
        "or",
        "at",
        "by",
        "an",
        "if",
    }
)


def _dotted(token: str) -> list[str]:
    """A token with inner dots or dashes: "s.u.i.c.i.d.e" joined, "self-harm" split."""
    pieces = re.split(r"[.-]", token)
    if all(len(p) == 1 for p in pieces) and (
        len(pieces) >= 3 or (len(pieces) == 2 and "".join(pieces) in _SHORT_SPELLED)
    ):
        return ["".join(pieces)]
    return [p for p in pieces if p]


def _numbers(tokens: list[str]) -> list[str]:
    """Number words as digits ("forty two" -> "42"); "one" stays a word ("no one")."""
    out: list[str] = []
    i = 0
    while i < len(tokens):
        value = _NUMBERS.get(tokens[i])
        if value is None:
            out.append(tokens[i])
            i += 1
            continue
        i += 1
        if value >= 20 and value % 10 == 0 and i < len(tokens):
            unit = _NUMBERS.get(tokens[i], 0)
            if 0 < unit < 10:
                value += unit
                i += 1
        if i < len(tokens) and tokens[i] == "hundred":
            value *= 100
            i += 1
        out.append(str(value))
    return out


@lru_cache(maxsize=1 << 15)
def _word(token: str, known: frozenset[str]) -> str:
    """One token resolved: contractions, text-speak, leetspeak, repeats, misspellings."""
    if "'" in token:
        # "'i'll kill him'": a quotation mark against a contraction is not part of it.
        token = token.strip("'") or token
        if not token.replace("'", "").isalpha() and any(c.isalpha() for c in token):
            # Leetspeak in a contraction ("w0n't", "c@n't"; tune batch 72).
            token = token.translate(_LEET)
        expanded = _CONTRACTIONS.get(token)
        if expanded is not None:
            return expanded
        if token.endswith("n't"):
            return token[:-3] + " not"
        token = token.replace("'", "")
        if not token:
            return ""
    speak = TEXT_SPEAK.get(token)
    if speak is not None:
        return speak
    if "*" in token:
        censored = _censored(token)
        token = censored if censored is not None else token.replace("*", "")
    # "help!" ends a sentence; "k!ll" hides a letter.
    token = token.rstrip("!|") or token
    if token[:1] == "0" and token[1:] in _LEET_SPEAK_TAILS:
        # "0d" is "od", text-speak for an overdose, not zero days (tune batches 65 and 66).
        return TEXT_SPEAK["o" + token[1:]]
    if _LEADING_LEET.match(token) and token[1:] not in _UNIT_SUFFIXES:
        # "tr13d 2 3nd 1t": a leading digit for a vowel, when the word is the lexicon's.
        spelt = token.translate(_LEET)
        if spelt in known and token[1:] != _ORDINALS.get(token[0], "th"):
            return spelt
    if not token.isalpha() and not _UNIT.match(token) and any(c.isalpha() for c in token):
        # Leetspeak: a digit or symbol standing for a letter inside a word ("su1c1de").
        # "ki11", "a11": a doubled 1 inside a word stands for "ll" more often than "ii".
        token = token.replace("11", "ll").translate(_LEET).replace("|", "l")
        token = "".join(c for c in token if c.isalnum())
    token = _collapse_repeats(token, known)
    speak = TEXT_SPEAK.get(token)
    if speak is not None:
        return speak
    if token.isalpha() and token not in known:
        # A dropped "e" before a final "d" ("pickd", "tryd"; tune batches 65 and 66).
        if len(token) >= 4 and token[-1] == "d" and token[-2] not in "aeiou":
            for fuller in (token[:-1] + "ed", token[:-2] + "ied"):
                if fuller in known:
                    return fuller
        # A dropped final g ("existin", "wishin"): the word with it, when that is a word
        # the lexicon uses and the written form is not.
        if len(token) >= 6 and token.endswith("in") and token + "g" in known:
            return token + "g"
        corrected = _fuzzy(token)
        if corrected is not None:
            return corrected
    return token


def _context_words(tokens: list[str]) -> list[str]:
    """Standalone "2" and "4" read as "to" and "for" where the neighbours make that plain."""
    out = list(tokens)
    for i, token in enumerate(tokens):
        if token not in ("2", "4", "1"):
            continue
        before = tokens[i - 1] if i else ""
        after = tokens[i + 1] if i + 1 < len(tokens) else ""
        if token == "1":
            # "1 w4nt 2 d13": a standalone 1 for "i" before a first-person verb only.
            if after in _I_BEFORE and not before.isdigit():
                out[i] = "i"
        elif token == "2" and (after in _TO_BEFORE or before in _TO_AFTER):
            out[i] = "to"
        elif token == "4" and after in _FOR_BEFORE:
            out[i] = "for"
    return out


_EMPTY: frozenset[str] = frozenset()


def normalise(text: str, known: frozenset[str] = _EMPTY) -> str:
    """The canonical form of ``text`` the lexicon and the model read.

    ``known`` is a vocabulary used to decide how far drawn-out letters collapse
    ("kiiiill" -> "kill", not "kil").
    """
    return normalise_folded(fold(text), known)


#: Resolved words by vocabulary and token (:func:`_word` split into words), bounded: the
#: 31,569 real and evaluation texts have 14,862 different tokens.
_RESOLVED: dict[frozenset[str], dict[str, tuple[str, ...]]] = {}
_RESOLVED_SIZE = 1 << 15
# Three single letters in a row among the tokens joined by spaces: spelt-out words.
_SPACED = re.compile(
    r"(?<![^ ])[a-z] [a-z] [a-z](?![^ ])"
    # Four single characters, leet among them ("r 0 p 3"; tune batches 65 and 66).
    r"|(?<![^ ])[a-z013457@$!] [a-z013457@$!] [a-z013457@$!] [a-z013457@$!](?![^ ])"
)
# Words spelt out letter by letter with wider gaps between the words ("a b u s e d  a t
# h o m e"): single characters one space apart, groups of them two or more apart, the
# last one perhaps followed by punctuation ("d i e.").
_GAPPED = re.compile(r"(?<!\S)\w(?: \w)*(?:(?: {2,}|\t+)\w(?: \w)*)+(?![^\s.,!?;:])")
_GAP = re.compile(r"(?: {2,}|\t+)")


def _close_gaps(text: str, known: frozenset[str]) -> str:
    """Each stretch of spelt-out words joined into its words. A stretch is left alone
    unless one of its words has three letters or more (two spaces after a one-letter word
    are only a slip). A group that is not a word the lexicon knows is split into the
    words it is made of when it can be ("i w a n t" is "i want")."""

    def close(match: re.Match[str]) -> str:
        groups = _GAP.split(match.group())
        if max(len(group) for group in groups) < 5:
            return match.group()
        words = []
        for group in groups:
            joined = group.replace(" ", "")
            if known and joined not in known and len(joined) > 1:
                words.extend(_segment(joined, known))
            else:
                words.append(joined)
        return " ".join(words)

    return _GAPPED.sub(close, text)


_EURO_E = re.compile("(?<=[a-z])\u20ac|\u20ac(?=[a-z])")


#: A line break with no punctuation before it: chat messages pasted one per line end
#: there as sentences do (tune batches 68 and 69).
_LINE_END = re.compile(r"(?<![.!?;:,\s])[ \t]*(?:\r?\n)+")


def normalise_folded(text: str, known: frozenset[str] = _EMPTY) -> str:
    """:func:`normalise` for a text already passed through :func:`fold`."""
    if "\n" in text:
        text = _LINE_END.sub(" . ", text)
    if not text.isascii():
        text = text.translate(_EMOJI_WORDS)
        if "\u20ac" in text:
            # "att\u20acmpted": a euro sign inside a word is an "e" (tune batch 51).
            text = _EURO_E.sub("e", text)
    text = _strip_accents(_fix_confusables(text))
    if _PHRASE_GATE.search(text):
        for pattern, replacement, needed in _PHRASES_NEEDING:
            # A rewrite whose pattern needs a string the text lacks cannot apply.
            if all(any(word in text for word in words) for words in needed):
                text = pattern.sub(replacement, text)
    if "  " in text or "\t" in text:
        text = _close_gaps(text, known)
    raw: list[str] = []
    for token in _TOKEN.findall(text):
        if len(token) > 1 and ("." in token or "-" in token):
            raw.extend(_dotted(token))
        elif token[0] == "x" and _TIMES.match(token):
            raw += ["x", token[1:]]  # "x60" is a count, not leetspeak for "xgo"
        else:
            raw.append(token)
    # Each step below changes nothing without what it looks for, so it is skipped then.
    if _SPACED.search(" ".join(raw)):
        raw = _join_spaced(raw, known)
    if "2" in raw or "4" in raw:
        raw = _context_words(raw)
    resolved = _RESOLVED.get(known)
    if resolved is None or len(resolved) >= _RESOLVED_SIZE:
        resolved = _RESOLVED[known] = {}
    words: list[str] = []
    for token in raw:
        if token in ".,!?;:":
            if not words or words[-1] != token:
                words.append(token)
            continue
        parts = resolved.get(token)
        if parts is None:
            word = _word(token, known)
            # A token that is its own word keeps one string, not two equal ones.
            parts = resolved[token] = (
                (token,) if word == token else tuple(word.split(" ")) if word else ()
            )
        words.extend(parts)
    if "2" in words or "4" in words or "1" in words:
        # Again once leetspeak is read: "tr13d 2 3nd 1t" has its verbs only now.
        words = _context_words(words)
    if not _NUMBERS.keys().isdisjoint(words):
        words = _numbers(words)
    if "x" in words:
        words = _quantities(words)
    if "would" in words:
        words = _had(words)
    joined = " ".join(words)
    return _JOIN_SELF.sub(r"\1\2", joined) if " sel" in joined else joined


_TIMES = re.compile(r"^x\d+$")


def _quantities(words: list[str]) -> list[str]:
    """A count written with "x" read as a number before the thing counted: "paracetamol x
    100" and "100 x paracetamol" are "100 paracetamol", as a pharmacy label or a
    shopping list writes them. A count between two numbers ("2 x 4") is left alone."""
    out: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        after = words[i + 1] if i + 1 < len(words) else ""
        if word == "x" and out and out[-1].isalpha() and after.isdigit():
            out.insert(len(out) - 1, after)  # "paracetamol x 100" -> "100 paracetamol"
            i += 2
            continue
        if word == "x" and out and out[-1].isdigit() and after.isalpha():
            i += 1  # "100 x paracetamol" -> "100 paracetamol"
            continue
        out.append(word)
        i += 1
    return out


#: Past participles that follow "'d" meaning "had" ("i'd attempted", "she'd taken").
_PARTICIPLES = frozenset(
    ["been", "taken", "done", "gone", "had", "made", "thought", "told", "said", "felt", "seen"]
    + ["got", "given", "written", "bought", "found", "lost", "left", "known", "drunk", "eaten"]
)
#: Words ending in "ed" that are not past participles ("i'd need").
_NOT_PARTICIPLES = frozenset(
    ["need", "feed", "bleed", "speed", "seed", "breed", "heed", "proceed", "succeed", "exceed"]
)


def _had(words: list[str]) -> list[str]:
    """The words with "would" before a past participle read as "had": the contraction
    "i'd" expands to "i would", but "i'd attempted before" means "i had attempted"."""
    out = list(words)
    for i in range(len(words) - 1):
        if words[i] != "would":
            continue
        after = words[i + 1]
        if after in _PARTICIPLES or (
            len(after) > 4 and after.endswith("ed") and after not in _NOT_PARTICIPLES
        ):
            out[i] = "had"
    return out


def _needed_strings() -> tuple[tuple[re.Pattern[str], str, tuple[frozenset[str], ...]], ...]:
    from .phrases import needs

    return tuple(
        (pattern, replacement, needs(pattern.pattern)) for pattern, replacement in _PHRASES
    )


_PHRASES_NEEDING = _needed_strings()


#: A run-together token is split only when it is at least this long: a hashtag's body
#: ("#selfharm", "#killme"), or a plain token ("hehitsme", "iwanttodie").
_HASHTAG_MIN = 6
_RUN_TOGETHER_MIN = 8
#: The fewest letters a word of a split has on average: "i want to die" has 2.5; a name
#: or a foreign word cut into scraps of known words has fewer.
_MEAN_PIECE = 2.5
#: Words too common for the ranked list (``data/words.txt`` is a static embedding's
#: vocabulary, without them), which run-together tokens are mostly made of.
_FUNCTION_WORDS_TEXT = """
i a an the and or but if so to of in on at by for with from as is am are was were be been
being do does did have has had me my mine he him his she her hers it its we us our you your
they them their this that what who not no
"""
_FUNCTION_WORDS = frozenset(_FUNCTION_WORDS_TEXT.split())
#: A whole token of letters, or a hashtag's body, with only sentence punctuation after
#: it. URLs, email addresses, handles ("@name") and words with digits are not matched.
_RUN_TOGETHER = re.compile(r"(?<!\S)#?[a-z]{6,}(?=[.,!?;:]*(?!\S))")  # _HASHTAG_MIN


def _pronoun_joined(words: tuple[str, ...] | None) -> bool:
    """Whether a split of a word begins or ends with "i" or "a" ("i wish i")."""
    return words is not None and (words[0] in ("i", "a") or words[-1] in ("i", "a"))


class RunTogether:
    """Splits tokens written without spaces ("#iwanttodie", "hehitsme") into words.

    ``ranked`` are common English words, most frequent first (``data/words.txt``);
    ``known`` are further words that are never split (the lexicon's); ``pieces`` are
    further words a split may use (the semantic layer's). A token is split only when it
    is long enough, is a word of neither ``ranked`` nor ``known``, and splits into the
    fewest words, the most frequent among equals, of :data:`_MEAN_PIECE` letters or
    more on average.
    """

    def __init__(
        self, ranked: Sequence[str], known: frozenset[str], pieces: frozenset[str] = frozenset()
    ) -> None:
        rare = math.log(len(ranked) + 2)
        self.cost = dict.fromkeys(known, rare)
        self.cost.update((word, math.log(rank + 2)) for rank, word in enumerate(ranked))
        # The commonest words, which the ranked list leaves out, cost least: among splits
        # of as many words, "wants to die" before "want sto die".
        self.cost.update(dict.fromkeys(_FUNCTION_WORDS, 0.0))
        self.whole = known | frozenset(ranked)
        self._cache: dict[str, tuple[str, ...] | None] = {}
        # A piece of the semantic layer's made of common words with "i" or "a" at an
        # end ("iwishi", from a training text "iwishiwasdead") is not a piece: "iwishi
        # was dead" would beat "i wish i was dead" as the split of fewer words.
        # (Only a piece with "i" or "a" at an end is split to see: splitting all of them
        # cost 0.4 s a screen built.)
        added = [piece for piece in pieces if piece not in self.cost]
        self.cost.update(
            (piece, rare)
            for piece in added
            if (piece[0] not in "ia" and piece[-1] not in "ia")
            or not _pronoun_joined(self._split(piece, 0.0))
        )

    def words(self, token: str) -> tuple[str, ...] | None:
        """A token (a hashtag with its "#") as the words it is made of, or None when it
        is not split."""
        found = self._cache.get(token, ())
        if found == ():
            if len(self._cache) >= _RESOLVED_SIZE:
                self._cache.clear()
            body = token.removeprefix("#")
            short = len(body) < (_HASHTAG_MIN if body != token else _RUN_TOGETHER_MIN)
            found = None if short or body in self.whole else self._split(body)
            if found is not None:
                # A piece of the semantic layer's that is itself words run together, as
                # its training texts had them ("killmyself"), is split in turn.
                found = tuple(
                    word
                    for piece in found
                    for word in (None if piece in self.whole else self.words(piece)) or (piece,)
                )
            self._cache[token] = found
        return found

    def _split(self, letters: str, mean: float = _MEAN_PIECE) -> tuple[str, ...] | None:
        cost = self.cost
        size = len(letters)
        # best[end]: (words, summed cost, the words) for letters[:end].
        best: list[tuple[int, float, tuple[str, ...]] | None] = [None] * (size + 1)
        best[0] = (0, 0.0, ())
        for end in range(1, size + 1):
            # The token itself is never one of its pieces: the semantic layer's words
            # include run-together ones its training texts had ("iwanttodie").
            for start in range(max(0 if end < size else 1, end - 20), end):
                before = best[start]
                if before is None:
                    continue
                piece = letters[start:end]
                weight = cost.get(piece) if len(piece) > 1 or piece in "ia" else None
                if weight is None:
                    continue
                candidate = (before[0] + 1, before[1] + weight, (*before[2], piece))
                current = best[end]
                if current is None or candidate[:2] < current[:2]:
                    best[end] = candidate
        found = best[size]
        if found is None or found[0] < 2 or size / found[0] < mean:
            return None
        return found[2]

    def split(self, folded: str) -> tuple[str, frozenset[tuple[str, str]]] | None:
        """A folded text with its run-together tokens split into words, and each pair of
        words a split put side by side ("want", "to"); None when the text has no such
        token. Everything else is kept as written; the screen reads the split text as
        well as the original, never instead of it."""
        if all(self.words(token) is None for token in _RUN_TOGETHER.findall(folded)):
            return None
        joins: set[tuple[str, str]] = set()

        def split(match: re.Match[str]) -> str:
            words = self.words(match.group())
            if words is None:
                return match.group()
            joins.update(zip(words, words[1:], strict=False))
            return " ".join(words)

        text = _RUN_TOGETHER.sub(split, folded)
        return (text, frozenset(joins)) if joins else None
