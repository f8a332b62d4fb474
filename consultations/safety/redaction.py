"""Redaction of personal details from free text before it is stored.

Each kind of detail has its own recogniser that proposes spans of the decoded text;
overlapping proposals are settled by kind priority then length, and the survivors are
replaced by placeholders such as "[phone]". Recognisers lean on structure (checksums,
number shapes, street types) and on cues in the surrounding words ("my son", "Nurse",
"DOB") rather than on a statistical model, so the module loads nothing at run time
beyond two name lists shipped beside it, and a typical reply is handled in well under a
millisecond.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

import phonenumbers
from babel.core import get_global

__all__ = [
    "DEFAULT_REGIONS",
    "PLACEHOLDERS",
    "Detail",
    "Redaction",
    "decode",
    "find_details",
    "is_valid_curp",
    "is_valid_dni",
    "is_valid_medicare_number",
    "is_valid_nhs_number",
    "is_valid_ssn",
    "phone_regions",
    "redact",
]

PLACEHOLDERS: dict[str, str] = {
    "email": "[email]",
    "link": "[link]",
    "handle": "[handle]",
    "nhs_number": "[NHS number]",
    "medicare_number": "[Medicare number]",
    "ssn": "[SSN]",
    "id": "[id number]",
    "dob": "[date of birth]",
    "phone": "[phone]",
    "address": "[address]",
    "postcode": "[postcode]",
    "name": "[name]",
}

# When two proposals overlap, the kind with the higher priority wins: structured,
# checksum-backed kinds are more certain than names found from cues.
_PRIORITY: dict[str, int] = {
    "email": 100,
    "link": 95,
    "handle": 90,
    "nhs_number": 85,
    "medicare_number": 85,
    "ssn": 85,
    "dob": 80,
    "id": 75,
    "phone": 70,
    "address": 60,
    "postcode": 55,
    "name": 40,
}

_REGION_CODES = {"UK": "GB", "GB": "GB", "AU": "AU", "US": "US"}
#: The regions whose phone numbers are read in every reply, whatever its consultation.
DEFAULT_REGIONS: tuple[str, ...] = ("AU", "UK", "US")
_WORDS = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class Redaction:
    """The outcome of redacting one text."""

    text: str
    kinds: tuple[str, ...]

    @property
    def changed(self) -> bool:
        """Whether any personal detail was found and replaced."""
        return bool(self.kinds)


@dataclass(frozen=True)
class Detail:
    """One personal detail found in a decoded text: ``text[start:end]`` is of ``kind``."""

    start: int
    end: int
    kind: str
    # A staff member's given name met in a staff cue ("Nurse Amy", "Ben on reception");
    # kept when the consultation keeps staff names.
    staff_first_name: bool = False


# --- checksums ---------------------------------------------------------------------


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


def _digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


def is_valid_nhs_number(value: str) -> bool:
    """Whether ``value`` (separators allowed) is a 10-digit NHS number with a valid check digit.

    The check digit is 11 minus the weighted sum (weights 10 down to 2) of the first nine
    digits modulo 11, where 11 becomes 0 and 10 means the number cannot exist.
    """
    digits = _digits(value)
    if len(digits) != 10:
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])


def is_valid_medicare_number(value: str) -> bool:
    """Whether ``value`` is an Australian Medicare card number with a valid check digit.

    Ten digits (an eleventh, the individual reference number, may follow): the first is
    2 to 6 and the ninth is the weighted sum (1, 3, 7, 9, 1, 3, 7, 9) of the first eight
    modulo 10.
    """
    digits = _digits(value)
    if len(digits) not in (10, 11) or digits[0] not in "23456":
        return False
    total = sum(int(d) * w for d, w in zip(digits[:8], (1, 3, 7, 9, 1, 3, 7, 9), strict=True))
    return total % 10 == int(digits[8])


def is_valid_ssn(value: str) -> bool:
    """Whether ``value`` can be a US social security number under the issuing rules.

    Area (first three digits) is never 000, 666 or 900-999; group (next two) never 00;
    serial (last four) never 0000.
    """
    digits = _digits(value)
    if len(digits) != 9:
        return False
    area, group, serial = int(digits[:3]), int(digits[3:5]), int(digits[5:])
    return area not in (0, 666) and area < 900 and group != 0 and serial != 0


_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def is_valid_dni(value: str) -> bool:
    """Whether ``value`` is a Spanish DNI or NIE whose check letter is right.

    A DNI is 8 digits and a letter, an NIE a foreigner's X, Y or Z, 7 digits and a letter
    (dots, spaces and a dash allowed); the letter is the number modulo 23 indexing
    ``TRWAGMYFPDXBNJZSQVHLCKE``, an NIE's X, Y or Z counting as its digit 0, 1 or 2.
    """
    compact = "".join(ch for ch in value if ch not in " .-").upper()
    if len(compact) != 9 or not compact.isascii():
        return False
    number, letter = compact[:8], compact[8]
    if number[0] in "XYZ":
        number = str("XYZ".index(number[0])) + number[1:]
    return number.isdigit() and _DNI_LETTERS[int(number) % 23] == letter


_CURP_VALUES = "0123456789ABCDEFGHIJKLMNÑOPQRSTUVWXYZ"


def is_valid_curp(value: str) -> bool:
    """Whether ``value`` is a Mexican CURP (18 characters) with a valid check digit.

    The last character is 10 minus the sum of the first 17's values (digits, then A=10
    to Z=36 with Ñ after N) weighted 18 down to 2, modulo 10.
    """
    upper = value.upper()
    if len(upper) != 18 or not upper[17].isdigit():
        return False
    if any(ch not in _CURP_VALUES for ch in upper[:17]):
        return False
    total = sum(_CURP_VALUES.index(ch) * (18 - i) for i, ch in enumerate(upper[:17]))
    return (10 - total % 10) % 10 == int(upper[17])


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        v = int(ch)
        if i % 2:
            v = v * 2 - 9 if v > 4 else v * 2
        total += v
    return total % 10 == 0


# --- decoding ----------------------------------------------------------------------


def decode(text: str) -> str:
    """Decode HTML entities and turn no-break spaces into spaces, as stored."""
    if "&" in text:
        text = html.unescape(text)
    return text.replace("\xa0", " ").replace("\u202f", " ")


# --- emails, links, handles ----------------------------------------------------------

_TLDS = (
    r"com|net|org|edu|gov|mil|int|info|biz|io|me|co|uk|au|us|nz|ca|ie|in|de|fr|es|it|nl"
    r"|social|online|app|dev|xyz|email"
)
# Not after "@": "@jane@mastodon.social" is a handle on another server, not an address.
_EMAIL = re.compile(
    r"(?<![\w.+'@-])[\w.+'-]*\w ?@ ?[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"
)
_OB_AT = r"(?:\s*[\[({<]\s*at\s*[\])}>]\s*|\s+at\s+)"
_OB_DOT = r"(?:\s*[\[({<]\s*dot\s*[\])}>]\s*|\s+dot\s+|\.)"
_PROVIDERS = (
    r"gmail|googlemail|hotmail|outlook|yahoo|icloud|bigpond|live|btinternet|protonmail"
    r"|aol|optusnet|iinet|tpg|msn|ymail|proton"
)
_OBFUSCATED_EMAIL = re.compile(
    rf"\b[\w+'-]+(?:{_OB_DOT}[\w+'-]+)*{_OB_AT}"
    rf"(?:[a-z0-9-]+{_OB_DOT})+(?:{_TLDS})\b"
)
# "rj_taylor at gmail": a provider without its domain ending, so the local part must
# look like an address (dot, underscore or digit) to tell it from "my account at gmail".
_PROVIDER_EMAIL = re.compile(
    rf"\b[a-z0-9'-]*[._\d][\w.'-]*{_OB_AT}(?:{_PROVIDERS})\b(?!{_OB_DOT}\w)"
)
_LINK = re.compile(r"\b(?:https?://|www\.)[^\s<>\"']+")
_BARE_LINK = re.compile(
    rf"\b(?:[a-z0-9-]+\.)+(?:{_TLDS})/[^\s<>\"']*[\w/@-]",
)
_HANDLE = re.compile(
    r"(?<![\w@./])@[A-Za-z_][A-Za-z0-9_.]*[A-Za-z0-9_](?:@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)?"
)


_PROVIDER_WORDS = frozenset(_PROVIDERS.split("|"))
# An obfuscated address needs "at" followed by a domain-like word; this pattern starts
# with a literal and so rules most texts out far faster than the full ones.
_AT_DOMAIN = re.compile(
    rf"(?:\sat\s+(?:{_PROVIDERS})\b|\sat\s+[a-z0-9-]+(?:\.[a-z]|\s*[\[({{<]?\s*dot\b)"
    r"|[\[({<]\s*at\s*[\])}>])"
)


def _online(text: str, lower: str, words: frozenset[str]) -> Iterable[Detail]:
    if "@" in text:
        for match in _EMAIL.finditer(text):
            yield Detail(match.start(), match.end(), "email")
    if "at" in words and _AT_DOMAIN.search(lower):
        if "dot" in words or "." in text:
            for match in _OBFUSCATED_EMAIL.finditer(lower):
                yield Detail(match.start(), match.end(), "email")
        if not _PROVIDER_WORDS.isdisjoint(words):
            for match in _PROVIDER_EMAIL.finditer(lower):
                yield Detail(match.start(), match.end(), "email")
    link_patterns = []
    if "www" in words or "http" in words or "https" in words:
        link_patterns.append(_LINK)
    if "/" in text:
        link_patterns.append(_BARE_LINK)
    for pattern in link_patterns:
        for match in pattern.finditer(lower):
            end = match.end()
            while end > match.start() and text[end - 1] in ".,;:!?)]}'\"":
                end -= 1
            yield Detail(match.start(), end, "link")
    if "@" in text:
        for match in _HANDLE.finditer(text):
            end = match.end()
            while text[end - 1] == ".":
                end -= 1
            yield Detail(match.start(), end, "handle")


# --- numbers: health and social security identifiers, phones, ids ----------------------

_NHS_SHAPE = re.compile(r"(?<![\d+])\d{3}([ -]?)\d{3}\1\d{4}(?![\d])")
_NHS_CUE = re.compile(r"\bnhs\s*(?:number|no\b\.?|num\b|#)\s*(?:is|:|-)?\s*$")
_MEDICARE_SHAPE = re.compile(
    r"(?<![\d+])[2-6]\d{3}( ?)\d{5}\1\d(?:\s?[/-]\s?\d|(?<= )\s?\d)?(?!\d)"
)
_SSN_SHAPE = re.compile(r"(?<![\d+])\d{3}([ -]?)\d{2}\1\d{4}(?![\d])")
_SSN_CUE = re.compile(r"\b(?:ssn|social security(?: number| no\.?)?|social)\b[^\d]{0,20}$")
_IHI = re.compile(r"(?<!\d)8003\s?6\d{2}\s?\d{4}\s?\d{4}\s?\d{2}(?!\d)|(?<!\d)800360\d{10}(?!\d)")
_ID_CUE = re.compile(
    r"\b(?:mrn|urn|ur|ihi|dva|nhi|chi|hospital|patient|reference|ref|claim|case|file"
    r"|member(?:ship)?|client|record|medical record|policy|booking|account|id)"
    r"(?:\s+(?:number|no\.?|num|id|#|file number|number is))?\s*(?:is|:|-|#)?\s*"
    r"(?P<id>(?:mrn\s*|urn\s*)?(?:[a-z]{1,3}\s?\d{5,}|\d[\d -]{4,}\d))\b"
)
_LONG_ALNUM_ID = re.compile(r"\b[A-Z]{1,3}\d{6,}\b")
# Spanish DNI (8 digits and a letter: "12345678Z", "12.345.678-Z") and NIE ("X1234567L").
_DNI_SHAPE = re.compile(
    r"(?<![\w.-])(?:[XYZxyz][ -]?\d{7}|\d{8}|\d{1,2}\.\d{3}\.\d{3})[ -]?[A-Za-z](?!\w)"
)
# What a DNI, NIE or CURP has and few other texts do: six digits in a row, or a DNI's
# dots ("12.345.678"); one quick scan spares the two patterns below.
_SIX_DIGITS = re.compile(r"[0-9](?:[0-9]{5}|\.[0-9]{3}\.)")
# Mexican CURP: initials, date of birth, sex, state, consonants, homonym and check digit.
_CURP = re.compile(
    r"\b[a-z][aeioux][a-z]{2}\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])[hmx]"
    r"(?:as|bc|bs|cc|cl|cm|cs|ch|df|dg|gt|gr|hg|jc|mc|mn|ms|nt|nl|oc|pl|qt|qr|sp|sl|sr|tc"
    r"|ts|tl|vz|yn|zs|ne)[b-df-hj-np-tv-z]{3}[a-z\d]\d\b"
)
# Spanish and Latin American identity and health record numbers after their names: DNI,
# NIE, CURP, "historia clínica", "NHC", "tarjeta sanitaria", "CIP", "NUSS", "número de
# la seguridad social". An id after one of these needs no check letter or digit.
_ES_ID_CUE = re.compile(
    r"\b(?:dni|nie|nif|curp|nuss|nss|nhc|cip(?:[ -]sns)?|pasaporte"
    r"|(?:documento|carn[eé]t?)\s+(?:nacional\s+)?de\s+identidad"
    r"|(?:n[uú]mero|n[uú]m\.?|n\.?\s?º)\s+de\s+historia(?:\s+cl[ií]nica)?|historia\s+cl[ií]nica"
    r"|tarjeta\s+sanitaria(?:\s+individual)?|tarjeta\s+de\s+la\s+seguridad\s+social"
    r"|(?:n[uú]mero\s+de\s+)?(?:la\s+)?seguridad\s+social|n[uú]mero\s+de\s+afiliaci[oó]n)"
    r"(?:[\s:#.,-]|\b(?:es|era|el|la|de|del|mi|su|n[uú]mero|n[uú]m|no)\b|n\.?º)*"
    r"(?P<id>[a-z]{4}\d{6}[a-z\d]{8}|\d{2}/\d{8}/\d{2}|[xyz][ -]?\d{7}[ -]?[a-z]"
    r"|(?P<letters>[a-z]{1,4}[ -]?)?\d(?:[ .-]?\d){4,}(?:-?[a-z])?)(?![\w/])"
)
_NOT_DIGITS = re.compile(r"\D+")
_LONG_DIGITS = re.compile(r"(?<![\d.,/])\d(?:[ -]?\d){8,}(?![\d.,/])")

# A phone-like run: optional international prefix, optional bracketed area code, then
# digit groups joined by single spaces, dots or dashes.
_PHONE_RUN = re.compile(
    r"(?<![\w+/])(?:\+\d{1,3}[ .-]?|00\d{1,3}[ .-]?)?(?:\(\d{1,5}\)[ .-]?)?"
    r"\d+(?:[ .-]?\d+){1,5}(?![\w/]|\.\d)"
)
_US_SHAPE = re.compile(r"^(?:\+?1[ .-]?)?(?:\(\d{3}\)\s?|\d{3}[ .-])\d{3}[ .-]\d{4}$")
_PHONE_CUE = re.compile(
    r"\b(?:phone|ph|tel|mob|mobile|cell|landline|number|call|ring|text|whatsapp|contact"
    r"|reach"
    # Spanish and Welsh: teléfono, móvil, llámame; ffôn, ffoniwch. Not "número" or "rhif"
    # (number): as often a record's or a card's, and a region's phone numbers are
    # recognised without a cue (phone_regions).
    r"|tel[eé]fono|m[oó]vil|celular|cel|ll[aá]m[ae](?:me)?|llamar|contacto"
    r"|ff[oô]n|ffonio|ffoniwch|symudol|tecstiwch)\b[^\d]{0,25}$"
)


@cache
def _region_codes(regions: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(_REGION_CODES.get(r.upper(), r.upper()) for r in regions)


_COUNTRY_REGIONS = {"61": "AU", "44": "GB", "1": "US"}
# A language's status in a territory that makes it a language the territory writes in
# (CLDR, as Babel ships it): Spanish in Spain, Mexico, Argentina... and in the US.
_OFFICIAL = frozenset({"official", "de_facto_official", "official_regional"})


@cache
def phone_regions(region: str | None = None, language: str | None = None) -> tuple[str, ...]:
    """The regions whose way of writing a phone number is read as one in a consultation.

    Its own ``region`` first, then the territories where its ``language`` is an official
    language (most speakers first, as CLDR counts them; a code with a territory, ``es-MX``,
    puts that one first), then :data:`DEFAULT_REGIONS`. Someone answering in Spanish may
    give a number as Spain or Mexico writes it ("612 34 56 78", "55 1234 5678") whichever
    country the service is in. English adds no territory of its own: it is official in
    too many for them to say anything, and AU, UK and US are read in every consultation.
    """
    found: list[str] = []
    if region:
        found.append(_REGION_CODES.get(region.upper(), region.upper()))
    parts = re.split(r"[-_]", (language or "").strip())
    base = parts[0].lower()
    if len(parts) > 1 and len(parts[1]) == 2:
        found.append(parts[1].upper())
    if base and base != "en":
        shares = [
            (info.get("population_percent", 0.0), territory)
            for territory, languages in get_global("territory_languages").items()
            for info in [languages.get(base)]
            if info is not None and info.get("official_status") in _OFFICIAL
        ]
        found.extend(territory for _, territory in sorted(shares, key=lambda s: -s[0]))
    found.extend(_REGION_CODES[r] for r in DEFAULT_REGIONS)
    known = phonenumbers.SUPPORTED_REGIONS
    return tuple(dict.fromkeys(code for code in found if code in known))


# What a number must look like to be one of a region's (its national number, after any
# national prefix): a quick test that spares parsing it for every region a language is
# written in, most of which it cannot belong to.
@cache
def _national_shape(region: str) -> tuple[re.Pattern[str], re.Pattern[str] | None]:
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if metadata is None or metadata.general_desc is None:
        return re.compile(r"\d+"), None
    prefix = metadata.national_prefix_for_parsing or metadata.national_prefix
    return (
        re.compile(metadata.general_desc.national_number_pattern or r"\d+"),
        re.compile(prefix) if prefix else None,
    )


def _may_be_of(digits: str, region: str) -> bool:
    shape, prefix = _national_shape(region)
    if shape.fullmatch(digits):
        return True
    stripped = prefix.match(digits) if prefix is not None else None
    return stripped is not None and shape.fullmatch(digits, stripped.end()) is not None


def _code_ok(code: str, regions: tuple[str, ...]) -> bool:
    return _COUNTRY_REGIONS[code] in regions


_USUAL = frozenset(_REGION_CODES[r] for r in DEFAULT_REGIONS)


def _is_phone(raw: str, digits: str, regions: tuple[str, ...], cued: bool) -> bool:
    if not 8 <= len(digits) <= 15:
        return False
    international = raw.startswith("+") or (raw.startswith("00") and len(digits) >= 11)
    # The commonest shapes are settled without parsing, which costs about 0.05 ms a
    # region: Australian (10 digits, 02/03/04/07/08) and British (11 digits, 01/02/03/07)
    # national numbers, and +61/+44/+1 numbers of the right length.
    if raw.startswith("+"):
        for code, length in (("61", 11), ("44", 12), ("1", 11)):
            if digits.startswith(code) and len(digits) == length and _code_ok(code, regions):
                return True
    elif digits[0] == "0":
        if len(digits) == 10 and digits[1] in "23478" and "AU" in regions:
            return True
        if len(digits) == 11 and digits[1] in "1237" and "GB" in regions:
            return True
    for region in regions[:1] if international else regions:
        usual = region in _USUAL
        if not (usual or international or _may_be_of(digits, region)):
            continue
        try:
            number = phonenumbers.parse(raw, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return True
        if (
            (international or raw.startswith("0"))
            and usual
            and phonenumbers.is_possible_number(number)
        ):
            # Reserved ranges used for fiction (07700 900xxx) are not "valid" but are
            # typed exactly like real numbers; a possible number in national or
            # international form is treated as one (in the regions read everywhere: a
            # region's possible lengths alone would make most long numbers phones).
            return True
    if _US_SHAPE.match(raw):
        return True
    # Local numbers without an area code ("9876 5432") only when the words say so.
    return cued and len(digits) >= 8


_ID_WORDS = _word_set(
    "mrn urn ur ihi dva nhi chi hospital patient reference ref claim case file member "
    "membership client record policy booking account id"
)
# Words of _ES_ID_CUE ("afiliaci" is "afiliación" cut at its accent, as _WORDS reads it).
_ES_ID_WORDS = _word_set(
    "dni nie nif curp nuss nss nhc cip pasaporte identidad historia sanitaria seguridad afiliaci"
)


def _numbers(
    text: str, lower: str, regions: tuple[str, ...], words: frozenset[str]
) -> list[Detail]:
    found: list[Detail] = []
    if not _ID_WORDS.isdisjoint(words):
        for match in _ID_CUE.finditer(lower):
            found.append(Detail(match.start("id"), match.end("id"), "id"))
    if not _ES_ID_WORDS.isdisjoint(words):
        for match in _ES_ID_CUE.finditer(lower):
            start = match.start("id")
            letters = match.group("letters")
            # Letters apart from the number are its own ("CIP: ABCD 1234567890") only
            # when written in capitals.
            if letters and letters[-1] == " " and not text[start : match.end("letters")].isupper():
                start = match.end("letters")
            found.append(Detail(start, match.end("id"), "id"))
    digit_count = len(_NOT_DIGITS.sub("", text))
    if digit_count >= 7 and _SIX_DIGITS.search(text):
        # A DNI or NIE is one by its check letter; a CURP by its shape and check digit.
        for match in _DNI_SHAPE.finditer(text):
            if is_valid_dni(match.group()):
                found.append(Detail(match.start(), match.end(), "id"))
        for match in _CURP.finditer(lower):
            if is_valid_curp(match.group()):
                found.append(Detail(match.start(), match.end(), "id"))
    if digit_count < 8:
        return found
    if "8003" in text:
        for match in _IHI.finditer(text):
            if _luhn_ok(_digits(match.group())):
                found.append(Detail(match.start(), match.end(), "id"))
    for match in _MEDICARE_SHAPE.finditer(text):
        if is_valid_medicare_number(match.group()):
            found.append(Detail(match.start(), match.end(), "medicare_number"))
    for match in _NHS_SHAPE.finditer(text):
        raw = match.group()
        cued = _NHS_CUE.search(lower, max(0, match.start() - 30), match.start()) is not None
        if cued or (raw[0] != "0" and is_valid_nhs_number(raw)):
            found.append(Detail(match.start(), match.end(), "nhs_number"))
    for match in _SSN_SHAPE.finditer(text):
        raw = match.group()
        cued = _SSN_CUE.search(lower, max(0, match.start() - 40), match.start()) is not None
        if is_valid_ssn(raw) and (cued or match.group(1) == "-"):
            found.append(Detail(match.start(), match.end(), "ssn"))
    for match in _LONG_ALNUM_ID.finditer(text):
        found.append(Detail(match.start(), match.end(), "id"))
    for match in _PHONE_RUN.finditer(text):
        raw = match.group()
        digits = _digits(raw)
        if len(digits) < 8:
            continue
        cued = _PHONE_CUE.search(lower, max(0, match.start() - 40), match.start()) is not None
        if _is_phone(raw, digits, regions, cued):
            found.append(Detail(match.start(), match.end(), "phone"))
    for match in _LONG_DIGITS.finditer(text):
        # Only what no other number recogniser claimed is a generic long id.
        if not any(match.start() < d.end and d.start < match.end() for d in found):
            found.append(Detail(match.start(), match.end(), "id"))
    return found


# --- dates of birth ------------------------------------------------------------------

_MONTHS = (
    r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)
_DATE = (
    r"(?:\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})\b"
    r"|\d{4}-\d{2}-\d{2}\b"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?(?:\s+of)?\s+(?:{_MONTHS})\.?(?:,?\s+(?:\d{{4}}|'\d{{2}}))?\b"
    rf"|(?:{_MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?\b)"
)
_DOB = re.compile(
    r"\b(?:dob|d\.o\.b\b\.?|date\s+of\s+birth|birth\s*date|birthday|born)\b"
    r"(?:\s*(?:is|was|:|-|=|on|of|the|\())*\s*"
    rf"(?P<date>{_DATE})"
)


_DOB_WORDS = _word_set("dob d birth birthday born birthdate")


def _dates_of_birth(lower: str, words: frozenset[str]) -> Iterable[Detail]:
    if _DOB_WORDS.isdisjoint(words):
        return
    for match in _DOB.finditer(lower):
        yield Detail(match.start("date"), match.end("date"), "dob")


# --- addresses and postcodes -----------------------------------------------------------

_STREET_TYPES = (
    r"Street|St|Road|Rd|Avenue|Ave|Av|Lane|Ln|Drive|Dr|Court|Ct|Crescent|Cres|Place|Pl"
    r"|Close|Cl|Way|Terrace|Tce|Parade|Pde|Boulevard|Blvd|Highway|Hwy|Grove|Gardens|Gdns"
    r"|Square|Sq|Circuit|Cct|Walk|Row|Mews|Esplanade|Parkway|Pkwy|Circle|Loop|Rise|Vale"
    r"|Heights|Green|Hill|Track|Trail|View|Wynd|Broadway"
)
_AU_STATES = r"NSW|VIC|Vic|QLD|Qld|SA|WA|TAS|Tas|NT|ACT"
_US_STATES = (
    r"AL|AK|AZ|AR|CA|CO|CT|DE|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH"
    r"|NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|DC"
)
_UK_POSTCODE = r"(?:[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}|[a-z]{1,2}\d[a-z\d]?\s?\d[a-z]{2})"
_TOWN = r"[A-Z][a-z'-]+(?:\s[A-Z][a-z'-]+){0,2}"
_ADDRESS_TAIL = (
    rf"(?:,?\s(?:{_TOWN})(?=,?\s(?:{_AU_STATES}|{_US_STATES})\b|,?\s{_UK_POSTCODE}\b|,|\s*$))?"
    rf"(?:,?\s(?:{_AU_STATES}|{_US_STATES})\b)?"
    rf"(?:,?\s(?:\d{{4,5}}(?:-\d{{4}})?|{_UK_POSTCODE})\b)?"
)
_ADDRESS = re.compile(
    r"(?:\b(?:Flat|Unit|Apartment|Apt|Suite|Lot|Shop)\s*\d+[A-Za-z]?,?\s+)?"
    r"(?<![\w/.:])(?:\d+[A-Za-z]?/)?\d{1,5}[A-Za-z]?\s+"
    rf"(?:[A-Z][a-z'-]+\s+){{1,3}}(?:{_STREET_TYPES})\b\.?" + _ADDRESS_TAIL
)
_PO_BOX = re.compile(r"\bp\.?\s?o\.?\s?box\s+\d+")
_ADDRESS_TAIL_RE = re.compile(_ADDRESS_TAIL)
_UK_POSTCODE_RE = re.compile(rf"(?<![\w-]){_UK_POSTCODE}(?![\w-])")
_STATE_POSTCODE = re.compile(
    rf"\b(?:(?:{_AU_STATES})\s+(?P<au>\d{{4}})|(?:{_US_STATES}),?\s+(?P<us>\d{{5}}(?:-\d{{4}})?))(?!\d)"
)
_POSTCODE_CUE = re.compile(
    r"\b(?:post\s?code|zip(?:\s?code)?|p/c)\s*(?:is|:|-)?\s*(?P<pc>\d{4,5}(?:-\d{4})?)(?!\d)"
)


_STREET_WORDS = frozenset(_STREET_TYPES.lower().split("|"))
_NUMBER_THEN_CAPITAL = re.compile(r"\d[A-Za-z]?\s+[A-Z]")
_STATE_BEFORE_NUMBER = re.compile(r"\b[A-Z][A-Za-z]{1,2},?\s\d{4}")


def _places(text: str, lower: str, words: frozenset[str]) -> Iterable[Detail]:
    if not _STREET_WORDS.isdisjoint(words) and _NUMBER_THEN_CAPITAL.search(text):
        for match in _ADDRESS.finditer(text):
            yield Detail(match.start(), match.end(), "address")
    if "box" in words:
        for match in _PO_BOX.finditer(lower):
            tail = _ADDRESS_TAIL_RE.match(text, match.end())
            yield Detail(match.start(), tail.end() if tail else match.end(), "address")
    for match in _UK_POSTCODE_RE.finditer(text):
        inward = match.group()[-3:].lower()
        # "by 3pm" and "at 9am" have the same shape as an inward code.
        if not inward.endswith(("am", "pm")):
            yield Detail(match.start(), match.end(), "postcode")
    if _STATE_BEFORE_NUMBER.search(text):
        for match in _STATE_POSTCODE.finditer(text):
            group = "au" if match.group("au") else "us"
            yield Detail(match.start(group), match.end(group), "postcode")
    if "post" in words or "postcode" in words or "zip" in words or "p" in words:
        for match in _POSTCODE_CUE.finditer(lower):
            yield Detail(match.start("pc"), match.end("pc"), "postcode")


# --- names ---------------------------------------------------------------------------


def _load_names(filename: str) -> frozenset[str]:
    raw = resources.files(__package__).joinpath(filename).read_text(encoding="utf-8")
    words: set[str] = set()
    for line in raw.splitlines():
        if not line.startswith("#"):
            words.update(line.split())
    return frozenset(words)


_AMBIGUOUS = _load_names("ambiguous_names.txt")
_FIRST = _load_names("first_names.txt") - _AMBIGUOUS
_FIRST_LOWER = frozenset(n.lower() for n in _FIRST)


def given_names() -> frozenset[str]:
    """The given names read as names wherever they stand, in lower case: not those that
    are also ordinary words ("will", "grace"), which are names only after a cue."""
    return _FIRST_LOWER


# Capitalised words that follow cues but are not names.
_NOT_NAMES = _word_set(
    """
    I A An The He She They We It You His Her Their Our My Your Its Me Him Them Us
    Is Was Were Are Be Been Has Had Have Do Did Does Would Can Could Should Might
    I've I'd I'll I'm Im Ive I’ve I’d I’ll I’m
    And But Or Nor So Yet Then Than When Where What Who Whom Whose Which Why How If While
    Not No Yes Very Also Just Only Still Even Ever Never Always Again Please Thank Thanks
    In On At To For Of With From By As About After Before Into Over Under Since Until
    This That These Those There Here All Both Each Every Everyone Everybody Nobody Someone
    Anyone Staff Team Nurse Nurses Doctor Doctors Dr Mr Mrs Ms Miss Sister Matron Midwife
    Mum Mom Dad Mother Father Nan Nana Gran Grandad Grandma Son Daughter Wife Husband
    Partner Brother Baby Hospital Ward Unit Clinic Centre Center Health NHS Medicare GP
    Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March
    July September October November December Christmas Easter God Jesus Lord Sir Madam
    English Australian British American Aboriginal Indigenous Muslim Christian Jewish
    Type Level Bed Bay Room Emergency Radiology Outpatients Pharmacy Reception Triage
    Day Night Today Tomorrow Yesterday Hi Hello Dear Regards Cheers Kind Best Love
    OK Ok Okay Sorry Well Good Great Excellent Terrible Awful Amazing Lovely
    El La Los Las Un Unos Unas Que De Del Al Pero Con Por Para Sin Muy Yo Él Ellos
    Ellas Usted Mi Mis Su Sus Es Está Era Fue Hoy Ayer Gracias Hola Señor Señora Doctor
    Doctora Enfermera Enfermero Hospital Centro Urgencias Mamá Papá Madre Padre Hijo Hija
    Yr Mae Roedd Ond Diolch Dim Ac Ar Mam Tad Nyrs Meddyg Ysbyty
    """
)
_ORG_WORDS = _word_set(
    """
    Hospital Hospitals Health Healthcare Clinic Clinics Centre Center Medical Infirmary
    Unit Ward Service Services Department Trust Foundation Practice Surgery Pharmacy
    Institute University College School Street Road Avenue Lane Drive House Building Wing
    Park Memorial Children's Women's General Royal Private Community Hospice Home Lodge
    Village Council Church Cancer Heart Mental Emergency Campus Station Library Clinic's
    Hospital's Centre's Infirmary's Mater Group Network Care Team Line App Portal
    """
)
# Words before a capitalised run that make it a place rather than a person.
_PLACE_PREFIXES = _word_set(
    "St St. Saint Royal Prince Princess King Queen Sir Lady Dame Lord Mount Mt Port Lake "
    "Fort Cape Glen Camp Great North South East West New Upper Lower Little "
    "San Santa Santo Sant Virgen Ysbyty"
)

_UP = "A-ZÀ-ÖØ-Þ"
_LO = "a-zß-öø-ÿ"
_CAP_TOKEN = re.compile(rf"(?<![\w'’-])[{_UP}][{_UP}{_LO}'’-]*(?<!['’-])")
_TOKEN = re.compile(rf"(?<![\w'’-])[{_UP}{_LO}][{_UP}{_LO}'’-]*(?<!['’-])")

_ROLES = (
    r"nurse|nurses|doctor|dr|midwife|physio|physiotherapist|receptionist|consultant|surgeon"
    r"|paramedic|ambo|pharmacist|gp|registrar|resident|intern|anaesthetist|anesthetist"
    r"|porter|cleaner|therapist|ot|social worker|psychologist|psychiatrist|dietitian"
    r"|dietician|volunteer|chaplain|sonographer|radiographer|hca|healthcare assistant"
    r"|health care assistant|care assistant|student nurse|care worker|coordinator"
    r"|specialist|practitioner|nurse practitioner|manager|optometrist|dentist|podiatrist"
    r"|counsellor|counselor|play therapist|tea lady|educator|case manager|navigator"
    r"|sister|matron|charge nurse|night nurse|staff nurse|ward clerk|clerk|technician"
)
_STAFF_TITLES = (
    r"Dr\.?|Doctor|Prof\.?|Professor|Nurse|Sister|Matron|Midwife|Sr\.?|Physio|Pastor"
    r"|Father|Chaplain|Charge Nurse|Staff Nurse"
)
_STAFF_TITLE_NAME = re.compile(rf"\b(?:{_STAFF_TITLES})\s+(?=[{_UP}])")
_FIRST_NAME_TITLE = re.compile(r"\b(?:nurse|sister|midwife|physio)\b\s*$")
_PATIENT_TITLE = re.compile(
    rf"\b(?:Mr|Mrs|Ms|Miss|Mx|Mister|Master|Aunty|Auntie|Aunt|Uncle|Nanna|Nana|Nan|Grandma"
    rf"|Grandpa|Granny|Pop|Poppy|Cousin)\.?\s+(?=[{_UP}])"
)
_ROLE_BEFORE = re.compile(
    rf"\b(?:{_ROLES})\b\s*(?:,|\(|-|–|—)?\s*(?:(?:is\s+|was\s+)?(?:called|named)\s+)?"
    r"(?:(?:dr|mr|mrs|ms|miss|prof)\.?\s+)?"
)
# "my nurse is Mark", "the physio was Nicky": a bare "is" or "was" cues only a given name
# the lists know (never "the nurse was Brilliant").
_ROLE_IS = re.compile(rf"\b(?:{_ROLES})\s+(?:is|was)\s+")
_TITLE_END = re.compile(r"(?:Dr|Mr|Mrs|Ms|Miss|Prof)\.?\s+$")
_TITLE_END_LOWER = re.compile(r"(?:dr|mr|mrs|ms|miss|prof)\.?\s+$")
_RELATIONS = (
    r"sons?|daughters?|wife|husband|partner|mum|mom|mother|mam|mummy|mommy|dad|daddy|father"
    r"|brother|sister|nan|nana|nanna|gran|granny|grandma|grandmother|grandad|granddad"
    r"|grandpa|grandfather|grandson|granddaughter|grandchild|grandkids?|baby|boy|girl"
    r"|child|children|kids?|twins|aunt|auntie|aunty|uncle|cousin|niece|nephew|friend"
    r"|neighbou?r|carer|fianc[eé]e?|boyfriend|girlfriend|step-?son|step-?daughter"
    r"|step-?mum|step-?dad|toddler|bub|mate|flatmate|housemate|bestie|relative"
    r"|(?:mother|father|son|daughter|brother|sister)-in-law"
)
_RELATION = re.compile(
    r"\b(?:my|our|his|her|their|your|the)\s+"
    r"(?:(?:little|baby|youngest|eldest|oldest|older|younger|late|beloved|dear|darling"
    r"|elderly|step|foster|adopted|twin|best|disabled|autistic|new|\d+[- ]?(?:year|yr"
    r"|month|week)s?[- ]?old)[\s-]+){0,2}"
    rf"(?:{_RELATIONS})"
    r"(?:(?:['’]s)?\s+name\s+is|\s+(?:is|was)\s+(?:called|named)|\s*[,(:–—-])?\s*"
)
_BARE_RELATION = re.compile(r"\b(?:Mum|Mom|Dad|Nan|Nana|Grandad|Grandma)\s*\(\s*")
_SELF = re.compile(
    r"\b(?:my\s+name\s+is|my\s+name['’]s|name['’]s|i\s+am\s+called|i['’]m\s+called"
    r"|call\s+me|this\s+is|it['’]s|it\s+is|signed|i['’]?m|i\s+am)\b\s*,?\s*"
)
_THANKS = re.compile(
    r"\b(?:thank\s+you|thanks|thankyou|thank|cheers|shout\s?out|kudos|grateful"
    r"|tell|pass\s+(?:on\s+)?my\s+thanks)\s+(?:so\s+much\s+|very\s+much\s+)?(?:to\s+)?"
)
_STAFF_AFTER = re.compile(
    r"(?:['’]s)?\s*(?:,\s*)?(?:"
    r"(?:on|at|from|in|of)\s+(?:the\s+)?(?:front\s+desk|desk|reception|triage|admissions"
    r"|pharmacy|radiology|outpatients|the\s+ward|ward\s+\w+|night\s+shift|day\s+shift"
    r"|nights|ed\b|a&e|icu|day\s+surgery|physio|maternity|theatre|recovery|oncology"
    r"|dialysis|emergency|the\s+desk|[\w ]{0,20}unit|[\w ]{0,20}team)"
    rf"|(?:was\s+|is\s+)?(?:the|our|my|a)\s+(?:\w+\s+){{0,2}}(?:{_ROLES})\b)"
)
_PATIENT_AFTER = re.compile(r"\s*(?:,\s*)?(?:in|from)\s+(?:bed|bay|room)\b")
_SIGN_OFF = re.compile(
    r"(?:^|[.!?\n]\s*|\s[-–—]\s*)(?:kind\s+regards|best\s+regards|warm\s+regards|regards"
    r"|best\s+wishes|cheers|many\s+thanks|thanks|thank\s+you|sincerely|yours\s+sincerely"
    r"|yours\s+faithfully|signed|love|from"
    # Spanish and Welsh: "Un saludo, Marta", "Atentamente, Pablo", "Cofion, Siân".
    r"|un\s+saludo|saludos|atentamente|cordialmente|muchas\s+gracias|gracias"
    r"|cofion(?:\s+cynnes|\s+gorau)?|yn\s+gywir|diolch(?:\s+yn\s+fawr)?)\s*,\s*"
    r"|\s[-–—]\s*(?=\w+\s*$)"
)


# Spanish and Welsh cues, read as their English counterparts are.
_SELF_ES_CY = re.compile(
    r"\b(?:me\s+llamo|mi\s+nombre\s+es|soy"
    r"|fy\s+enw(?:\s+i)?\s+(?:yw|ydy|ydi|ydyw)|enw\s+fi\s+(?:yw|ydy))\b\s*,?\s*"
)
# "Siôn ydw i", "Elin dw i" (I am Siôn), "Siôn yw fy enw i" (Siôn is my name): the name
# comes before the cue.
_AM_I_CY = re.compile(r"\s(?:(?P<am>y?dw\s+i)|(?:yw|ydy|ydi)\s+fy\s+enw)(?![\w'’-])")
_RELATIONS_ES = (
    r"hij[oa]s?|marido|mujer|espos[oa]|pareja|madre|padre|padres|mam[aá]|pap[aá]"
    r"|abuel[oa]s?|herman[oa]s?|niet[oa]s?|t[ií][oa]|prim[oa]|novi[oa]|beb[eé]|niñ[oa]"
    r"|suegr[oa]|cuñad[oa]|sobrin[oa]|amig[oa]|vecin[oa]|nuera|yerno|cuidador[a]?"
)
_RELATION_ES = re.compile(
    r"\b(?:mis?|tus?|su|sus|nuestr[oa]s?)\s+(?:(?:querid[oa]|difunt[oa]|pequeñ[oa])\s+)?"
    rf"(?:{_RELATIONS_ES})"
    r"(?:\s+(?:pequeñ[oa]|mayor|menor|median[oa]|de\s+\d+\s+(?:años|meses)))?"
    r"(?:\s*,?\s*(?:que\s+)?se\s+llama(?:ba)?|\s*,?\s*llamad[oa]|\s*[,(:–—-]?)\s*"
)
# Welsh relations after "fy" (my), "ein" (our), "ei" (his, her), "eich", "dy" (your),
# with the mutations those words bring and without them, as people type.
_RELATION_CY = re.compile(
    r"\b(?:fy|ein|ei|eich|dy)\s+"
    r"(?:mab|fab|meibion|merch|ferch|merched|n?g?ŵr|n?gwr|wr|n?gwraig|wraig|mam|fam|tad|dad"
    r"|nhad|plentyn|blentyn|mhlentyn|plant|blant|mhlant|brawd|frawd|mrawd|chwaer|nain"
    r"|taid|nhaid|mam-gu|fam-gu|tad-cu|dad-cu|nhad-cu|partner|bartner|mhartner|ŵyr|wyr"
    r"|wyres|ffrind|cariad|gariad|nghariad|modryb|fodryb|ewythr|nai|nith|babi|mabi|fabi)"
    r"(?:\s+(?:bach|hynaf|ieuengaf|ifancaf))?"
    r"(?:\s*,?\s*(?:o['’]r\s+enw)|\s*[,(:–—-]?)\s*"
)
# Staff known by their given name ("la enfermera Carmen", "Nyrs Siân") and staff in
# general ("el doctor Pérez", "la Dra. López").
_FIRST_NAME_ROLES_ES_CY = (
    r"enfermer[oa]|matrona|comadrona|fisio(?:terapeuta)?|auxiliar(?:\s+de\s+enfermer[ií]a)?"
    r"|celador[a]?|recepcionista|nyrs|n?bydwraig|fydwraig|ffisio"
)
_ROLES_ES_CY = (
    r"m[eé]dic[oa]|doctor[a]?|dra?\.?|cirujan[oa]|pediatra|residente|psic[oó]log[oa]"
    r"|trabajador[a]\s+social|t[eé]cnic[oa]|administrativ[oa]|farmac[eé]utic[oa]"
    r"|anestesista|ginec[oó]log[oa]|supervisor[a]|coordinador[a]|limpiador[a]"
    r"|meddyg|feddyg|derbynnydd|porthor"
)
_ROLE_BEFORE_ES_CY = re.compile(
    rf"\b(?:(?P<first>{_FIRST_NAME_ROLES_ES_CY})|{_ROLES_ES_CY})(?<!\.)\.?\s*,?\s+"
    r"(?:(?:que\s+)?se\s+llama(?:ba)?\s+|llamad[oa]\s+|o['’]r\s+enw\s+)?"
)
_PATIENT_TITLE_ES = re.compile(
    rf"(?:\b(?:Sra?|Srta|Dña)\.\s*|\b(?:[Ss]eñora?|[Ss]eñorita|[Dd]oña)\s+)(?=[{_UP}])"
)
_THANKS_ES_CY = re.compile(
    r"\b(?:gracias|agradecer|agradezco|agradecid[oa]|diolch(?:\s+yn\s+fawr)?(?:\s+iawn)?)"
    r"\s+(?:a|i)\s+"
)
_AND = re.compile(r"\s*(?:,|and|&)\s+")
_AND_ES = re.compile(r"\s*(?:,|y|e)\s+")
_AND_CY = re.compile(r"\s*(?:,|a|ac)\s+")
# Spanish and Welsh words that are English given names in lower case ("mis hijos dan
# guerra", "ar ben"): no name after a Spanish or Welsh cue when written so.
_LOWER_WORDS_ES_CY = _word_set("dan clara gloria rosa ella una ben")
# "Ella" (she) and "Una" (a) begin Spanish sentences: in a text with Spanish words they
# are names only after a cue ("mi hija Ella").
_SPANISH_PRONOUN_NAMES = frozenset({"Ella", "Una"})
_SPANISH_WORDS = _word_set(
    "que el la los las un por con para pero muy del fue estaba se lo le y en es mi su nos dijo hay"
)


@dataclass
class _Name:
    start: int
    end: int
    # True: named as staff; False: named as a patient, relative or the writer; None: no cue.
    staff: bool | None
    first_only: bool


def _is_cap(token: str) -> bool:
    return token[0].isupper() and any(ch.islower() for ch in token)


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch in "_-"


def _clean(token: str) -> str:
    return token[:-2] if token.endswith(("'s", "’s")) else token


def _read_name(
    text: str,
    pos: int,
    *,
    lower_ok: bool = False,
    lower_words: frozenset[str] = frozenset(),
    ambiguous_ok: bool = True,
    first_required: bool = False,
    max_tokens: int = 3,
) -> tuple[int, int, int] | None:
    """Read a name starting at ``pos``: (start, end, tokens), or None.

    The first token must look like a name; up to ``max_tokens`` capitalised tokens follow
    it as further given names or surnames.
    """
    match = _TOKEN.match(text, pos)
    if match is None:
        return None
    first = _clean(match.group())
    if first in _NOT_NAMES or first in _ORG_WORDS or len(first) < 2:
        return None
    if _is_cap(first):
        if first_required and first not in _FIRST and not (ambiguous_ok and first in _AMBIGUOUS):
            return None
        if not ambiguous_ok and first in _AMBIGUOUS:
            return None
    elif not (lower_ok and first.lower() in _FIRST_LOWER and first.lower() not in lower_words):
        return None
    start = match.start()
    end = match.start() + len(first)
    count = 1
    cursor = match.end()
    if match.group() != first:  # possessive ends the name
        return start, end, count
    while count < max_tokens:
        gap = re.match(r" (?=\S)", text[cursor:])
        if gap is None:
            break
        nxt = _TOKEN.match(text, cursor + 1)
        if nxt is None:
            break
        word = _clean(nxt.group())
        if not _is_cap(word) or word in _NOT_NAMES or word in _ORG_WORDS:
            break
        end = nxt.start() + len(word)
        count += 1
        cursor = nxt.end()
        if nxt.group() != word:
            break
    return start, end, count


def _and_more(
    text: str, end: int, found: list[tuple[int, int, int]], joiners: re.Pattern[str] = _AND
) -> None:
    """Follow "Ruby and Oscar": further names joined by "and" or "&" after a cued name
    (by ``joiners``: "y", "e" in Spanish, "a", "ac" in Welsh)."""
    while True:
        match = joiners.match(text, end)
        if match is None:
            return
        nxt = _read_name(text, end + match.end(), first_required=True, max_tokens=2)
        if nxt is None:
            return
        found.append(nxt)
        end = nxt[1]


def _cue_words(pattern: str) -> frozenset[str]:
    return frozenset(w for w in re.findall(r"[a-z]+", pattern.lower()) if len(w) > 1 or w == "i")


_SELF_WORDS = _word_set("name names called call this it its signed i im am")
_RELATION_WORDS = _cue_words(_RELATIONS)
_PATIENT_TITLE_WORDS = _cue_words(_PATIENT_TITLE.pattern)
_STAFF_TITLE_WORDS = _cue_words(_STAFF_TITLES)
_ROLE_WORDS = _cue_words(_ROLES)
_THANKS_WORDS = _word_set("thank thanks thankyou cheers shout shoutout kudos grateful tell pass")
_SIGN_OFF_WORDS = _word_set(
    "regards wishes cheers thanks thank sincerely faithfully signed love from "
    "saludo saludos atentamente cordialmente gracias cofion gywir diolch"
)
_SELF_ES_CY_WORDS = _word_set("llamo nombre soy enw")
_AM_I_CY_WORDS = _word_set("dw ydw yw ydy ydi")
_RELATION_ES_WORDS = _word_set("mi mis tu tus su sus nuestro nuestra nuestros nuestras")
_RELATION_CY_WORDS = _word_set("fy ein ei eich dy")
_ROLE_ES_CY_WORDS = _cue_words(_FIRST_NAME_ROLES_ES_CY + "|" + _ROLES_ES_CY)
_PATIENT_TITLE_ES_WORDS = _word_set("sr sra srta")
_THANKS_ES_CY_WORDS = _word_set("gracias agradecer agradezco agradecida agradecido diolch")


def _names(text: str, lower: str, words: frozenset[str]) -> list[_Name]:
    names: list[_Name] = []

    def add(
        span: tuple[int, int, int] | None, staff: bool | None, first_title: bool = False
    ) -> None:
        if span is None:
            return
        start, end, count = span
        token = text[start:end]
        first_only = count == 1 and (token in _FIRST or token in _AMBIGUOUS or first_title)
        names.append(_Name(start, end, staff, first_only))

    def add_all(
        span: tuple[int, int, int] | None,
        staff: bool,
        first_title: bool = False,
        joiners: re.Pattern[str] = _AND,
    ) -> None:
        if span is None:
            return
        found = [span]
        _and_more(text, span[1], found, joiners)
        for item in found:
            add(item, staff, first_title)

    if not _SELF_WORDS.isdisjoint(words):
        for match in _SELF.finditer(lower):
            cue = match.group().lower()
            strong = "name" in cue or "call" in cue or "signed" in cue
            span = _read_name(
                text,
                match.end(),
                lower_ok=strong or cue.startswith(("i'm", "i’m", "im", "i am")),
                first_required=not strong,
                max_tokens=3 if strong else 2,
            )
            add(span, staff=False)

    if not _RELATION_WORDS.isdisjoint(words):
        for match in _RELATION.finditer(lower):
            add_all(_read_name(text, match.end(), lower_ok=True), staff=False)
        for match in _BARE_RELATION.finditer(text):
            add(_read_name(text, match.end()), staff=False)

    if not _PATIENT_TITLE_WORDS.isdisjoint(words):
        for match in _PATIENT_TITLE.finditer(text):
            add(_read_name(text, match.end()), staff=False)

    if not _STAFF_TITLE_WORDS.isdisjoint(words):
        for match in _STAFF_TITLE_NAME.finditer(text):
            first_title = _FIRST_NAME_TITLE.search(match.group().lower()) is not None
            span = _read_name(text, match.end())
            if span is None:
                continue
            patient = _PATIENT_AFTER.match(lower, span[1]) is not None
            if first_title:
                add_all(span, staff=not patient, first_title=True)
            else:
                add(span, staff=not patient)

    if not _ROLE_WORDS.isdisjoint(words):
        for match in _ROLE_BEFORE.finditer(lower):
            titled = _TITLE_END.search(text, match.start(), match.end())
            if titled is None and _TITLE_END_LOWER.search(match.group()):
                continue  # "the doctor said" is not a title before a name
            add(_read_name(text, match.end()), staff=True, first_title=titled is None)
        for match in _ROLE_IS.finditer(lower):
            add_all(_read_name(text, match.end(), first_required=True), staff=True)

    if not _THANKS_WORDS.isdisjoint(words):
        for match in _THANKS.finditer(lower):
            add_all(_read_name(text, match.end(), first_required=True), staff=True)

    _spanish_and_welsh_names(text, lower, words, add, add_all)

    if not _SIGN_OFF_WORDS.isdisjoint(words) or "-" in text or "–" in text or "—" in text:
        # A sign-off closes the text, so only its end is searched.
        for match in _SIGN_OFF.finditer(lower, max(0, len(lower) - 60)):
            span = _read_name(text, match.end())
            if span is not None and re.match(r"\s*[.!]*\s*$", text[span[1] :]):
                add(span, staff=False)

    # Names without a cue: a known given name that is not part of a place ("Prince
    # Alfred", "John Hunter Hospital"), with any capitalised surname after it.
    for match in _CAP_TOKEN.finditer(text):
        token = _clean(match.group())
        if token not in _FIRST:
            continue
        if token in _SPANISH_PRONOUN_NAMES and len(_SPANISH_WORDS & words) >= 2:
            continue
        before = text[max(0, match.start() - 12) : match.start()].split()
        if before and before[-1] in _PLACE_PREFIXES:
            continue
        span = _read_name(text, match.start(), first_required=True, max_tokens=3)
        if span is None:
            continue
        tail = _TOKEN.match(text, span[1] + 1) if text[span[1] : span[1] + 1] == " " else None
        if tail is not None and _clean(tail.group()) in _ORG_WORDS:
            continue
        add(span, staff=True if _STAFF_AFTER.match(lower, span[1]) else None)
    return names


def _spanish_and_welsh_names(
    text: str,
    lower: str,
    words: frozenset[str],
    add: Callable[..., None],
    add_all: Callable[..., None],
) -> None:
    """The names Spanish and Welsh cues give, read as the English ones are: "me llamo",
    "soy", "fy enw i yw", "... ydw i"; "mi hijo", "fy merch"; "la enfermera", "Nyrs";
    "Sra."; "gracias a", "diolch i"."""
    if not _SELF_ES_CY_WORDS.isdisjoint(words):
        for match in _SELF_ES_CY.finditer(lower):
            weak = match.group().startswith("soy")
            span = _read_name(
                text,
                match.end(),
                lower_ok=True,
                lower_words=_LOWER_WORDS_ES_CY,
                first_required=weak,
                max_tokens=2 if weak else 3,
            )
            add(span, staff=False)

    if not _AM_I_CY_WORDS.isdisjoint(words):
        for match in _AM_I_CY.finditer(lower):
            # The one or two capitalised words just before: "Siôn ydw i", "Siôn Rhys ydw i".
            tokens = list(_TOKEN.finditer(text, max(0, match.start() - 40), match.start()))
            if not tokens or tokens[-1].end() != match.start():
                continue
            start = tokens[-1].start()
            if len(tokens) > 1 and text[tokens[-2].end() : start] == " ":
                earlier = tokens[-2].group()
                if earlier in _FIRST or earlier in _AMBIGUOUS:
                    start = tokens[-2].start()
            span = _read_name(text, start, first_required=bool(match.group("am")), max_tokens=2)
            if span is not None and span[1] == match.start():
                add(span, staff=False)

    for pattern, cue_words, joiners in (
        (_RELATION_ES, _RELATION_ES_WORDS, _AND_ES),
        (_RELATION_CY, _RELATION_CY_WORDS, _AND_CY),
    ):
        if not cue_words.isdisjoint(words):
            for match in pattern.finditer(lower):
                span = _read_name(text, match.end(), lower_ok=True, lower_words=_LOWER_WORDS_ES_CY)
                add_all(span, staff=False, joiners=joiners)

    if not _ROLE_ES_CY_WORDS.isdisjoint(words):
        for match in _ROLE_BEFORE_ES_CY.finditer(lower):
            span = _read_name(text, match.end())
            if span is None:
                continue
            patient = _PATIENT_AFTER.match(lower, span[1]) is not None
            first_title = match.group("first") is not None
            add_all(span, staff=not patient, first_title=first_title, joiners=_AND_ES)

    if not _PATIENT_TITLE_ES_WORDS.isdisjoint(words) or "ñ" in lower:  # señora, doña
        for match in _PATIENT_TITLE_ES.finditer(text):
            add(_read_name(text, match.end()), staff=False)

    if not _THANKS_ES_CY_WORDS.isdisjoint(words):
        for match in _THANKS_ES_CY.finditer(lower):
            joiners = _AND_CY if match.group().startswith("diolch") else _AND_ES
            span = _read_name(text, match.end(), first_required=True)
            add_all(span, staff=True, joiners=joiners)


def _name_details(text: str, lower: str, words: frozenset[str]) -> list[Detail]:
    names = _names(text, lower, words)
    if not names:
        return []
    # Any other appearance of a name already found is the same person.
    seen: dict[str, _Name] = {}
    for name in names:
        for token in text[name.start : name.end].split():
            if len(token) > 1:
                seen.setdefault(token, name)
    for token, origin in seen.items():
        single = origin.first_only and token == text[origin.start : origin.end]
        start = text.find(token)
        while start >= 0:
            end = start + len(token)
            # Whole words only; a possessive "'s" may follow.
            if (start == 0 or not _is_word_char(text[start - 1])) and (
                end == len(text) or not _is_word_char(text[end])
            ):
                names.append(_Name(start, end, origin.staff, single))
            start = text.find(token, end)
    # A given name cued as staff somewhere is a staff name everywhere in the text, unless
    # it is also cued as a patient, a relative or the writer.
    staff = {text[n.start : n.end] for n in names if n.staff is True and n.first_only}
    staff -= {text[n.start : n.end] for n in names if n.staff is False}
    return [
        Detail(n.start, n.end, "name", n.first_only and text[n.start : n.end] in staff)
        for n in names
    ]


# --- putting it together ---------------------------------------------------------------


def _resolve(details: Iterable[Detail]) -> list[Detail]:
    ordered = sorted(
        details, key=lambda d: (-_PRIORITY[d.kind], -(d.end - d.start), d.start, d.staff_first_name)
    )
    taken: list[Detail] = []
    for detail in ordered:
        if detail.end <= detail.start:
            continue
        if any(detail.start < t.end and t.start < detail.end for t in taken):
            continue
        taken.append(detail)
    return sorted(taken, key=lambda d: d.start)


def _lower(text: str) -> str:
    """Lower-case ``text`` keeping every character's position."""
    lower = text.lower()
    if len(lower) == len(text):
        return lower
    return "".join(ch if len(ch.lower()) != 1 else ch.lower() for ch in text)


def find_details(
    text: str,
    *,
    keep_staff_names: bool = False,
    regions: Sequence[str] = DEFAULT_REGIONS,
) -> list[Detail]:
    """Personal details in an already decoded text, in order, without overlaps.

    ``keep_staff_names`` leaves out staff given names met in staff cues; ``regions``
    are the places whose national phone formats are recognised (UK, AU, US or any
    ISO 3166 code that phonenumbers knows; :func:`phone_regions` gives a consultation's).
    """
    found: list[Detail] = []
    # The lower-case words of the text let each recogniser skip its patterns when none
    # of its cue words is present, which is most of the time.
    # Cue patterns run on a lower-cased copy: case-insensitive alternations are several
    # times slower in the re module. Names are then checked for capitals in the original.
    lower = _lower(text)
    words = frozenset(_WORDS.findall(lower))
    found.extend(_online(text, lower, words))
    if any(map(str.isdigit, text)):
        found.extend(_numbers(text, lower, _region_codes(tuple(regions)), words))
        found.extend(_dates_of_birth(lower, words))
        found.extend(_places(text, lower, words))
    found.extend(_name_details(text, lower, words))
    resolved = _resolve(found)
    if keep_staff_names:
        resolved = [d for d in resolved if not d.staff_first_name]
    return resolved


def redact(
    text: str,
    *,
    keep_staff_names: bool = False,
    regions: Sequence[str] = DEFAULT_REGIONS,
    placeholders: Mapping[str, str] = PLACEHOLDERS,
) -> Redaction:
    """Decode ``text`` and replace personal details with placeholders such as "[phone]".

    ``keep_staff_names`` keeps the given names of staff where the text names them as
    staff ("Nurse Amy was lovely", "thank you to Ben on reception"); patients' and
    relatives' names, and staff surnames and full names, are redacted either way.
    ``regions`` chooses the national phone number formats recognised; ``placeholders``
    the words each kind becomes (by kind, :data:`PLACEHOLDERS` for any it lacks): a
    consultation's, in its language ("[teléfono]", "[rhif ffôn]").
    """
    decoded = decode(text)
    details = find_details(decoded, keep_staff_names=keep_staff_names, regions=regions)
    if not details:
        return Redaction(decoded, ())
    parts: list[str] = []
    kinds: list[str] = []
    cursor = 0
    for detail in details:
        parts.append(decoded[cursor : detail.start])
        parts.append(placeholders.get(detail.kind) or PLACEHOLDERS[detail.kind])
        cursor = detail.end
        if detail.kind not in kinds:
            kinds.append(detail.kind)
    parts.append(decoded[cursor:])
    return Redaction("".join(parts), tuple(kinds))
