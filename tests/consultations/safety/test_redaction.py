"""Redaction of personal details: checksums, recognisers, staff names and quality targets."""

from __future__ import annotations

import hashlib

import pytest

from consultations.safety.redaction import (
    PLACEHOLDERS,
    Redaction,
    decode,
    is_valid_curp,
    is_valid_dni,
    is_valid_medicare_number,
    is_valid_nhs_number,
    is_valid_ssn,
    phone_regions,
    redact,
)
from consultations.screening import placeholder_words
from tests.consultations.safety.scoring import SPLITS, Case, load, score

HELDOUT = load("heldout")


@pytest.mark.parametrize("number", ["943 476 5919", "9434765919", "726 018 1591", "4010232137"])
def test_valid_nhs_numbers(number: str) -> None:
    assert is_valid_nhs_number(number)


@pytest.mark.parametrize(
    "number",
    ["943 476 5918", "7260181592", "123456789", "12345678901", "0000000001", "1000000010"],
)
def test_invalid_nhs_numbers(number: str) -> None:
    # 1000000010: the check digit works out as 10, which no NHS number has.
    assert not is_valid_nhs_number(number)


@pytest.mark.parametrize("number", ["2123 45670 1", "5127 68421 7", "6465632133", "3330 79247 5/2"])
def test_valid_medicare_numbers(number: str) -> None:
    assert is_valid_medicare_number(number)


@pytest.mark.parametrize("number", ["2123 45671 1", "1123 45670 1", "7123 45670 1", "2123 4567"])
def test_invalid_medicare_numbers(number: str) -> None:
    assert not is_valid_medicare_number(number)


@pytest.mark.parametrize("number", ["546-70-8237", "001-01-0001", "899-99-9999"])
def test_valid_ssns(number: str) -> None:
    assert is_valid_ssn(number)


@pytest.mark.parametrize(
    "number", ["000-12-3456", "666-12-3456", "900-12-3456", "123-00-4567", "123-45-0000", "12-345"]
)
def test_invalid_ssns(number: str) -> None:
    assert not is_valid_ssn(number)


@pytest.mark.parametrize(
    "number", ["12345678Z", "00000000T", "12.345.678-Z", "12345678 z", "X1234567L", "Y-1234567-X"]
)
def test_valid_spanish_dnis_and_nies(number: str) -> None:
    assert is_valid_dni(number)


@pytest.mark.parametrize(
    "number", ["12345678A", "1234567Z", "123456789Z", "X1234567M", "W1234567L", "12345678Ñ"]
)
def test_invalid_spanish_dnis_and_nies(number: str) -> None:
    assert not is_valid_dni(number)


@pytest.mark.parametrize("curp", ["HEGG560427MVZRRL04", "MAHJ280603MSPRRV09", "hegg560427mvzrrl04"])
def test_valid_curps(curp: str) -> None:
    assert is_valid_curp(curp)


@pytest.mark.parametrize("curp", ["HEGG560427MVZRRL05", "HEGG560427MVZRRL0", "HEGG560427MVZRRL0A"])
def test_invalid_curps(curp: str) -> None:
    assert not is_valid_curp(curp)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Me pidieron el 12345678Z otra vez", "Me pidieron el [id number] otra vez"),
        (
            "Soy extranjera, X1234567L, y no me atendieron",
            "Soy extranjera, [id number], y no me atendieron",
        ),
        ("Con el 12.345.678-Z no me encontraban", "Con el [id number] no me encontraban"),
        ("Mi CURP es HEGG560427MVZRRL04, por si acaso", "Mi CURP es [id number], por si acaso"),
        # A check letter that fails is no DNI without its name beside it...
        ("El código 12345678A del folleto", "El código 12345678A del folleto"),
        ("HEGG560427MVZRRL05", "HEGG560427MVZRRL05"),
        # ...and with it, any number is one.
        ("Mi DNI es 12345678A", "Mi DNI es [id number]"),
        ("NIE: Y-7654321-Q, gracias", "NIE: [id number], gracias"),
        ("CURP HEGG560427MVZRRL05", "CURP [id number]"),
    ],
)
def test_spanish_and_mexican_identity_numbers(text: str, expected: str) -> None:
    assert redact(text, regions=phone_regions("UK", "es")).text == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Mi número de historia clínica es 1048 3321 7 y",
            "Mi número de historia clínica es [id number] y",
        ),
        ("Historia clínica: 00123456.", "Historia clínica: [id number]."),
        ("me pidieron el NHC 456789 tres veces", "me pidieron el NHC [id number] tres veces"),
        ("Tarjeta sanitaria BBBB123456789012", "Tarjeta sanitaria [id number]"),
        ("CIP: ABCD 1234567890 (Cataluña)", "CIP: [id number] (Cataluña)"),
        ("NUSS 28/12345678/40", "NUSS [id number]"),
        (
            "número de la seguridad social: 28 1234567840",
            "número de la seguridad social: [id number]",
        ),
        # Dates, years and short counts after the same words are kept.
        ("En la historia clínica del 12/03/2021 no pone nada", None),
        ("La tarjeta sanitaria caducó en 2019 y tardaron 3 meses", None),
    ],
)
def test_spanish_health_record_numbers_after_their_names(text: str, expected: str | None) -> None:
    redacted = redact(text, regions=phone_regions("UK", "es"))
    assert redacted.text == (expected or text)
    assert redacted.kinds == (("id",) if expected else ())


def test_identifiers_are_redacted_only_with_valid_checksums() -> None:
    assert redact("NHS 943 476 5919").text == "NHS [NHS number]"
    assert redact("Medicare 2123 45670 1 please").text == "Medicare [Medicare number] please"
    assert redact("my SSN 546-70-8237").text == "my SSN [SSN]"
    # Without a valid checksum a long number is still redacted, as a generic id.
    assert redact("ref 666-12-3456").kinds == ("id",)
    assert redact("ref 943 476 5918").kinds == ("id",)


@pytest.mark.parametrize(
    "text",
    [
        "jane at gmail dot com",
        "jane[at]gmail[dot]com",
        "j.smith @ nhs.net",
        "jane (at) outlook (dot) com",
        "priya dot patel at yahoo dot com",
        "JANE AT GMAIL DOT COM",
        "rj_taylor at gmail",
    ],
)
def test_obfuscated_emails(text: str) -> None:
    result = redact(f"write to {text} please")
    assert result.text == "write to [email] please"
    assert result.kinds == ("email",)


@pytest.mark.parametrize(
    "text", ["we arrived at ten past nine", "my account at the bank", "seen @ 3pm", "at 10:30"]
)
def test_at_in_ordinary_text_is_not_an_email(text: str) -> None:
    assert not redact(text).changed


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("call me on 0412 345 678", "call me on [phone]"),
        ("+44 7700 900123 anytime", "[phone] anytime"),
        ("(02) 9999 1234 is home", "[phone] is home"),
        ("call me on 0400123456", "call me on [phone]"),
        ("ring (212) 555-0147", "ring [phone]"),
    ],
)
def test_phone_formats(text: str, expected: str) -> None:
    assert redact(text).text == expected


def test_regions_choose_national_formats() -> None:
    # A bare US number is only known as a phone when US formats are on; otherwise it is
    # still removed, as a long id.
    assert redact("4155550132", regions=("US",)).kinds == ("phone",)
    assert redact("4155550132", regions=("AU",)).kinds == ("id",)


def test_a_consultations_region_and_language_choose_the_phone_formats_read() -> None:
    # Its own region first, then where its language is official (most speakers first),
    # then the regions read everywhere.
    spanish = phone_regions("UK", "es")
    assert spanish[0] == "GB"
    assert {"ES", "MX", "AR", "CO", "PE", "CL", "US"} <= set(spanish)
    assert spanish[-2:] == ("US", "AU")
    assert phone_regions("US", "es-MX")[:2] == ("US", "MX")
    assert phone_regions("UK", "cy") == ("GB", "AU", "US")
    # English is official in too many places to say where a number is from.
    assert phone_regions("AU", "en") == phone_regions() == ("AU", "GB", "US")
    assert phone_regions("UK", "en-GB") == ("GB", "AU", "US")


@pytest.mark.parametrize(
    "text",
    [
        # Spain: mobiles 3-2-2-2 or 3-3-3, landlines 2-3-2-2, and with +34.
        "Pueden escribirme al 612 34 56 78 por las tardes.",
        "Mejor al 612 345 678 que al fijo.",
        "En casa, 91 123 45 67, de lunes a viernes.",
        "Desde fuera: +34 612 345 678",
        # Mexico, Colombia, Argentina, Peru as people there write them.
        "Soy de México, 55 1234 5678, escríbame",
        "Mi cel de Colombia 300 123 4567",
        "En Buenos Aires 11 1234-5678",
        "Dejé el 987 654 321 en recepción",
        # Spanish speakers in the US write a US number the US way.
        "Mi número es (214) 555-0147",
    ],
)
def test_numbers_written_as_a_spanish_speaking_region_writes_them_are_phones(text: str) -> None:
    redacted = redact(text, regions=phone_regions("UK", "es"))
    assert redacted.kinds == ("phone",), redacted.text
    assert "[phone]" in redacted.text


def test_without_the_hints_a_spanish_mobile_is_still_removed_as_an_id() -> None:
    # No number goes through: read with AU, UK and US formats only, it is a long id.
    assert redact("Pueden escribirme al 612 34 56 78").text == "Pueden escribirme al [id number]"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        # A record number no Spanish-speaking region dials stays an id.
        ("Mi número de historia clínica es 1048 3321 7", "id"),
        # Money, times and counts are not numbers of anything.
        ("Pagué 18 euros y esperé de 10:30 a 12:45, 3 horas", None),
    ],
)
def test_the_hints_leave_what_is_not_a_phone(text: str, kind: str | None) -> None:
    redacted = redact(text, regions=phone_regions("UK", "es"))
    assert redacted.kinds == ((kind,) if kind else ())


@pytest.mark.parametrize(
    "text", ["Ffoniwch fi ar 2034 5678", "Llámeme al 2034 5678", "mi móvil: 2034 5678"]
)
def test_local_numbers_after_a_welsh_or_spanish_word_for_phone(text: str) -> None:
    assert redact(text).kinds == ("phone",)


def test_placeholders_are_worded_as_the_caller_asks_and_left_alone_when_met_again() -> None:
    spanish = {"phone": "[teléfono]", "name": "[nombre]"}
    redacted = redact("Soy Sarah, 07700 900123, sarah@example.com", placeholders=spanish)
    # A kind the mapping lacks keeps its English placeholder.
    assert redacted.text == "Soy [nombre], [teléfono], [email]"
    for words in placeholder_words():
        text = f"Llamen al {words} o pregunten por {words}."
        assert not redact(text).changed, words


def test_keep_staff_names_keeps_staff_given_names_only() -> None:
    text = "Nurse Amy was lovely and thank you to Ben on reception. My son Jack Smith was scared."
    kept = redact(text, keep_staff_names=True)
    assert kept.text == (
        "Nurse Amy was lovely and thank you to Ben on reception. My son [name] was scared."
    )
    default = redact(text)
    assert default.text == (
        "Nurse [name] was lovely and thank you to [name] on reception. My son [name] was scared."
    )


def test_keep_staff_names_still_redacts_surnames_and_patients() -> None:
    text = "Dr Nguyen and Mrs Patel in bed 4, and Sarah Williams the physio"
    assert redact(text, keep_staff_names=True).text == (
        "Dr [name] and Mrs [name] in bed 4, and [name] the physio"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Hola, me llamo Pablo García y esperé tres horas",
            "Hola, me llamo [name] y esperé tres horas",
        ),
        ("mi nombre es lucía", "mi nombre es [name]"),
        ("Soy Marta, la madre de un paciente", "Soy [name], la madre de un paciente"),
        (
            "Mi hijo Pablo tiene asma y mi hija Ana no",
            "Mi hijo [name] tiene asma y mi hija [name] no",
        ),
        ("mis hijos Pablo y Lucía", "mis hijos [name] y [name]"),
        ("Mi marido, Javier, estuvo tres días", "Mi marido, [name], estuvo tres días"),
        ("mi hijo mayor, Alejandro, tiene 12 años", "mi hijo mayor, [name], tiene 12 años"),
        ("mi esposa Inés y mi pareja Sara", "mi esposa [name] y mi pareja [name]"),
        ("mi madre Dolores y mi abuela Pilar", "mi madre [name] y mi abuela [name]"),
        ("La señora García estaba en la cama 3", "La señora [name] estaba en la cama 3"),
        ("Un saludo, Marta", "Un saludo, [name]"),
        # Names that are Spanish words count after a cue, and only there.
        (
            "Soy Rosa y mi hijo Ángel estuvo ingresado",
            "Soy [name] y mi hijo [name] estuvo ingresado",
        ),
        ("soy feliz con el trato", None),
        ("Tengo dolores de cabeza. Dolores de espalda también.", None),
        ("mis hijos dan mucho trabajo", None),
        ("Ella me dijo que esperara en la sala", None),
        ("Una enfermera me dijo que no", None),
        ("Fui al Hospital Virgen del Rocío y luego al Hospital San Pablo", None),
        ("Gracias a Dios", None),
    ],
)
def test_names_after_spanish_cues(text: str, expected: str | None) -> None:
    redacted = redact(text)
    assert redacted.text == (expected or text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Fy enw i yw Siôn ac roeddwn i'n aros", "Fy enw i yw [name] ac roeddwn i'n aros"),
        ("Siôn ydw i, ac mae fy mab Dafydd yn sâl", "[name] ydw i, ac mae fy mab [name] yn sâl"),
        ("Gwen ydw i", "[name] ydw i"),
        ("Elis yw fy enw i", "[name] yw fy enw i"),
        ("fy merch Elin a fy mab Osian", "fy merch [name] a fy mab [name]"),
        ("fy mhlant Dafydd ac Elin", "fy mhlant [name] ac [name]"),
        ("fy ngŵr Huw", "fy ngŵr [name]"),
        ("Cofion, Siân", "Cofion, [name]"),
        # "I am a nurse", "I'm happy": no name before the cue.
        ("Nyrs ydw i", None),
        ("Dw i'n hapus iawn", None),
    ],
)
def test_names_after_welsh_cues(text: str, expected: str | None) -> None:
    assert redact(text).text == (expected or text)


def test_spanish_and_welsh_staff_names_follow_the_staff_rule() -> None:
    text = "La enfermera Carmen fue un sol, gracias a Lucía de recepción. Mi hija Ana lloraba."
    assert redact(text).text == (
        "La enfermera [name] fue un sol, gracias a [name] de recepción. Mi hija [name] lloraba."
    )
    # Given names of staff are kept when the consultation keeps them; surnames, and a
    # name also used for a relative, are not.
    assert redact(text, keep_staff_names=True).text == (
        "La enfermera Carmen fue un sol, gracias a Lucía de recepción. Mi hija [name] lloraba."
    )
    kept = redact(
        "el doctor Pérez y la Dra. López; la enfermera Ana y mi hija Ana", keep_staff_names=True
    )
    assert kept.text == "el doctor [name] y la Dra. [name]; la enfermera [name] y mi hija [name]"
    welsh = "Roedd y nyrs Siân yn garedig. Diolch i Ffion yn y dderbynfa."
    assert redact(welsh).text == "Roedd y nyrs [name] yn garedig. Diolch i [name] yn y dderbynfa."
    assert redact(welsh, keep_staff_names=True).text == welsh


def test_html_entities_are_decoded() -> None:
    result = redact("My name&nbsp;is Karen Lee &amp; I waited 5&nbsp;hours")
    assert result.text == "My name is [name] & I waited 5 hours"
    assert decode("a&nbsp;b &amp; c &lt;d&gt;") == "a b & c <d>"
    assert redact("Fish &amp; chips").text == "Fish & chips"


def test_unchanged_text_reports_no_kinds() -> None:
    result = redact("Waited 45 minutes at 10:30 on ward 7, given 50mg, cost $18 in 2023")
    assert result == Redaction(
        "Waited 45 minutes at 10:30 on ward 7, given 50mg, cost $18 in 2023", ()
    )
    assert not result.changed


def test_dates_of_birth_but_not_appointments() -> None:
    assert redact("DOB 12/03/1985").text == "DOB [date of birth]"
    assert redact("born on 3 March 1985").text == "born on [date of birth]"
    assert not redact("my appointment on 3 March").changed


def test_postcodes_need_an_address_context_in_australia() -> None:
    assert redact("Parramatta NSW 2150").text == "Parramatta NSW [postcode]"
    assert not redact("waited 1200 minutes in 2023").changed
    assert redact("SW1A 1AA").text == "[postcode]"


@pytest.mark.parametrize("case", HELDOUT, ids=[f"heldout-{i}" for i in range(len(HELDOUT))])
def test_heldout_text_redacts_consistently(case: Case) -> None:
    """Every held-out text: placeholders match the kinds, and redacting again changes nothing."""
    result = redact(case.text)
    assert set(result.kinds) <= set(PLACEHOLDERS)
    assert result.changed == (result.text != decode(case.text))
    for kind in result.kinds:
        assert PLACEHOLDERS[kind] in result.text
    assert redact(result.text).text == result.text


def test_heldout_quality_targets() -> None:
    result = score(HELDOUT)
    assert result.recall() >= 0.95, result.misses
    assert result.precision() >= 0.95, result.false_positives


def test_each_labelled_text_is_in_the_split_its_hash_gives() -> None:
    # New texts go where their hash puts them: rules are tuned on `tune` only, and a text
    # reworded into `heldout` after a rule was tuned on it would flatter the figures.
    for split in SPLITS:
        for case in load(split):
            held_out = int(hashlib.sha256(case.text.encode()).hexdigest(), 16) % 5 < 2
            assert held_out == (split == "heldout"), (split, case.text)


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        # From real feedback a report quoted with the staff member's name in it.
        (
            "My nurse is Mark, he always explains everything so well",
            "My nurse is [name], he always explains everything so well",
        ),
        ("The physio was Nicky, she is great", "The physio was [name], she is great"),
        ("Sarah & Nicky - great team", "[name] & [name] - great team"),
        ("Thanks to Sarah and Demi on ward 4", "Thanks to [name] and [name] on ward 4"),
        # A bare "is" or "was" cues only a given name the lists know.
        ("The nurse was Brilliant and kind", "The nurse was Brilliant and kind"),
        ("The doctor is Excellent", "The doctor is Excellent"),
    ],
)
def test_a_staff_member_named_after_is_or_was_is_redacted(text: str, redacted: str) -> None:
    assert redact(text).text == redacted
    # Named as staff: kept where the consultation keeps staff names.
    if "nurse is" in text or "physio was" in text:
        assert redact(text, keep_staff_names=True).text == text
