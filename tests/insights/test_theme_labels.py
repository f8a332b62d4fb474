"""Theme labels are phrases people wrote, each with a sentence on what its replies say.

The rubric: a label is a phrase of 2 to 6 words, taken from the theme's own replies,
specific (not "thank you" or "good service"), and never a bare list of keywords such as
"Member, team" or "Staff: friendly, helpful".
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from consultations.insights import analyse_text, build_report
from consultations.insights.phrases import GENERIC, describe
from consultations.insights.render import render_markdown
from consultations.insights.text import stopwords
from consultations.insights.training import read_pxtextmining
from tests.insights.fixture import SPEC, START, all_rows, reply_rows

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "pxtextmining" / "text_data_sample.csv"
KEYWORD_LIST = re.compile(r"^[\w'/ ]+:\s|^[\w']+(?:,\s*[\w']+)+$")


def rubric_problems(
    label: str, member_texts: list[str], subcategory: str | None = None
) -> list[str]:
    """What is wrong with a label, by the rubric (empty when it passes).

    A label is a phrase from the theme's replies, or the framework sub-theme that fits.
    """
    problems = []
    words = label.split()
    if not 2 <= len(words) <= 6:
        problems.append(f"{len(words)} words")
    if KEYWORD_LIST.search(label) or "," in label:
        problems.append("a keyword list")
    if label.lower() in GENERIC:
        problems.append("generic")
    content = [w for w in re.findall(r"[a-z']+", label.lower()) if w not in stopwords()]
    if not any(len(w) >= 4 for w in content):
        problems.append("no content word")
    if label != subcategory and not any(
        label.lower() in " ".join(t.lower().split()) for t in member_texts
    ):
        problems.append("not a phrase from its replies")
    return problems


@pytest.fixture(scope="module")
def real_report() -> dict[str, Any]:
    texts = [c.text for c in read_pxtextmining(SAMPLE)]
    report = build_report(
        SPEC, reply_rows(texts), generated_at=START + timedelta(days=1), include_responses=True
    )
    report["_texts"] = texts
    return report


def _member_texts(report: dict[str, Any], label: str) -> list[str]:
    return [r["text"] for r in report["responses"] if r["theme"] == label]


def test_labels_on_real_comments_pass_the_rubric(real_report: dict[str, Any]) -> None:
    themes = real_report["themes"]
    assert len(themes) >= 8
    for t in themes:
        texts = _member_texts(real_report, t["label"])
        assert rubric_problems(t["label"], texts, t["subcategory"]) == [], t
    labels = [t["label"].lower() for t in themes]
    assert len(set(labels)) == len(labels)


def test_every_theme_has_one_sentence_saying_what_its_replies_say(
    real_report: dict[str, Any],
) -> None:
    for t in real_report["themes"]:
        d = t["description"]
        assert d.endswith(".") and d.count(". ") == 0, d
        assert d.startswith(f"{t['count']} replies")
        assert f"“{t['phrases'][0]}”" in d
        assert any(w in d for w in ("praise", "complaints", "remarks", "mixed"))


def test_the_small_fixture_is_named_by_phrases_too() -> None:
    report = build_report(
        SPEC, all_rows(), generated_at=START + timedelta(days=30), include_responses=True
    )
    for t in report["themes"]:
        texts = _member_texts(report, t["label"])
        assert rubric_problems(t["label"], texts, t["subcategory"]) == [], t


def test_a_phrase_never_stops_between_an_article_and_its_noun() -> None:
    # "Everything was done to an excellent standard": a theme named "Done to an
    # excellent" is cut short; "an hour" and "a scan" are whole.
    from consultations.insights.phrases import PhraseNamer

    texts = [
        "Everything was done to an excellent standard",
        "All of it done to a high standard, thank you",
        "Care given to a good standard throughout",
    ]
    background = [f"The food was cold on day {n}" for n in range(100)]
    namer = PhraseNamer([*texts, *background])
    members = np.arange(len(texts), dtype=np.intp)
    named = [*namer.ranked(members), namer.fallback(members, typical=[0])]
    cut = re.compile(r"\ban? (?:excellent|high|good)$")
    assert named and not [p for p in named if p is None or cut.search(p)], named
    waits = ["Waited an hour, again", "We waited an hour", "Waited an hour at reception"]
    namer = PhraseNamer([*waits, *background])
    assert "waited an hour" in namer.ranked(np.arange(len(waits), dtype=np.intp))


def test_a_phrase_that_only_repeats_the_question_names_no_theme() -> None:
    # Asked "What could we have done better?", many answer "nothing could be done
    # better": a theme named "Done better" says nothing a QI lead did not know.
    texts = [f"Nothing could be done better, {w}" for w in ("thanks", "really", "honestly")]
    texts += [f"Cannot think of anything that could be done better {k}" for k in range(12)]
    texts += [f"I don't think anything could have been done better at {p}" for p in "abcdef"]
    texts += [f"The car park is far too small and always full {k}" for k in range(20)]
    texts += [f"Waiting times for the clinic are far too long {k}" for k in range(20)]
    asked = replace(SPEC, items=(replace(SPEC.items[1], text="What could we have done better?"),))
    report = build_report(asked, reply_rows(texts), generated_at=START + timedelta(days=1))
    echoes = [
        p
        for t in report["themes"]
        for p in (t["label"], *t["phrases"])
        if "done better" in p.lower()
    ]
    assert echoes == [], [(t["label"], t["phrases"]) for t in report["themes"]]
    # Not asked, the same phrase may name the theme.
    unasked = replace(SPEC, items=(replace(SPEC.items[1], text="Anything else?"),))
    report = build_report(unasked, reply_rows(texts), generated_at=START + timedelta(days=1))
    assert any("done better" in p for t in report["themes"] for p in t["phrases"]), report["themes"]


def test_two_themes_are_not_named_by_one_phrase_and_a_word_more() -> None:
    from consultations.insights.themes import _label

    used = {"happy with all care", "mental health"}
    # Most of the longer phrase is a label already: the next phrase names the theme.
    assert _label(["happy with all care received", "community nursing team"], None, used)[0] == (
        "Community nursing team"
    )
    assert _label(["happy with all", "district nurses"], None, used)[0] == "District nurses"
    # A label that is a small part of a longer phrase leaves it free.
    assert _label(["help with my mental health"], None, used)[0] == "Help with my mental health"


def test_a_phrase_never_starts_on_least() -> None:
    from consultations.insights.phrases import PhraseNamer

    texts = ["At least a year, dreadful", "For at least a year now", "It took at least a year!"]
    background = [f"The food was cold on day {n}" for n in range(100)]
    namer = PhraseNamer([*texts, *background])
    members = np.arange(len(texts), dtype=np.intp)
    named = [*namer.ranked(members), namer.fallback(members)]
    assert named and not [p for p in named if p is None or p.startswith("least")], named


def test_a_phrase_never_starts_after_a_word_that_turns_it_round() -> None:
    # "can't fault the care" is praise; a theme named "Fault the care" says the opposite.
    from consultations.insights.phrases import PhraseNamer

    texts = ["Can't fault the care", "cannot fault the care at all", "Couldn't fault the care!"]
    texts += ["I would not recommend the ward", "Would not recommend the ward to anyone"]
    background = [f"The food was cold on day {n}" for n in range(100)]
    namer = PhraseNamer([*texts, *background])
    members = np.arange(len(texts), dtype=np.intp)
    named = [*namer.ranked(members), namer.fallback(members)]
    turned = [p for p in named if p is None or p.startswith(("fault", "recommend"))]
    assert named and not turned, named


def test_a_theme_no_phrase_names_widely_is_named_by_one_two_of_its_writers_share() -> None:
    # A large theme of plain praise worded every which way: its name is a phrase at least
    # two of its writers wrote, not one person's words.
    from consultations.insights.phrases import PhraseNamer

    texts = [f"Happy with the service, {w}" for w in ("thanks", "truly")]
    words = [
        "ward",
        "nurse",
        "doctor",
        "clinic",
        "visit",
        "scan",
        "letter",
        "phone",
        "car",
        "park",
        "food",
        "bed",
        "room",
    ]
    texts += [f"The {a} and the {b}" for a in words for b in words if a != b][:120]
    texts += ["Glowing words for everyone involved in my treatment"]
    background = [f"The food was cold on day {n}" for n in range(100)]
    namer = PhraseNamer([*texts, *background])
    members = np.arange(len(texts), dtype=np.intp)
    assert namer.ranked(members) == []  # 2 of 123 is under the 2% a theme's phrases need
    assert namer.fallback(members, typical=[len(texts) - 1]) == "happy with the service"


def test_the_rubric_rejects_keyword_labels() -> None:
    texts = ["The team member was kind", "Parents group on Tuesday"]
    assert rubric_problems("Member, team", texts)
    assert rubric_problems("Staff: friendly, helpful", texts)
    assert rubric_problems("Thank you", ["thank you"])
    assert rubric_problems("Parents group", texts) == []


def test_labels_and_descriptions_reach_the_rendered_report(real_report: dict[str, Any]) -> None:
    from consultations.insights import render_html, render_markdown

    report = {k: v for k, v in real_report.items() if k != "_texts"}
    md = render_markdown(report)
    html = render_html(report)
    first = report["themes"][0]
    assert f"### {first['label']}" in md
    assert "replies, mostly" in md or "mixed in tone" in md
    assert first["label"] in html


def test_flagged_replies_lend_no_words_to_labels_or_descriptions() -> None:
    flagged = "I keep thinking about the railway bridge tonight"
    texts = [f"{flagged} {k}" for k in range(8)]
    texts += [f"The phone line rang out again on day {k}" for k in range(8)]
    texts += [f"Lovely kind nurses on the ward {k}" for k in range(8)]
    rows = reply_rows(texts)
    rows = [
        replace(r, flags=("safety",)) if (r.text or "").startswith(flagged) else r for r in rows
    ]
    report = build_report(SPEC, rows, generated_at=START + timedelta(days=1))
    assert report["safety"]["flagged"] == 8
    shown = json.dumps(
        [{k: t[k] for k in ("label", "description", "phrases")} for t in report["themes"]]
    )
    assert "railway" not in shown and "bridge" not in shown


def test_flagged_replies_lend_no_words_to_keywords_or_anything_else_shown() -> None:
    # Disclosures that share words of their own ("belt", "stepfather") are counted in
    # their theme, but no part of any report format may say them.
    flagged = "My stepfather hits my little sister with a belt"
    texts = [f"{flagged} every week {k}" for k in range(6)]
    texts += [f"The phone line rang out again on day {k}" for k in range(6)]
    rows = reply_rows(texts)
    rows = [
        replace(r, flags=("safety",)) if (r.text or "").startswith(flagged) else r for r in rows
    ]
    report = build_report(SPEC, rows, generated_at=START + timedelta(days=1))
    assert report["safety"]["flagged"] == 6
    assert sum(t["count"] for t in report["themes"]) == 12
    shown = json.dumps(report).lower() + render_markdown(report).lower()
    for word in ("stepfather", "belt", "sister"):
        assert word not in shown, word


def test_a_framework_sub_theme_names_a_theme_it_fits() -> None:
    texts = [f"Waited {k} months for a first appointment after my referral" for k in range(30)]
    texts += [f"The nurses were kind and caring on day {k}" for k in range(30)]
    report = build_report(SPEC, reply_rows(texts), generated_at=START + timedelta(days=1))
    waits = [t for t in report["themes"] if t["subcategory"]]
    assert any(t["label"] == "Waiting for a first appointment" for t in waits), [
        (t["label"], t["category"]) for t in report["themes"]
    ]
    for t in waits:
        assert t["label"] == t["subcategory"]
        assert t["phrases"] and f"“{t['phrases'][0]}”" in t["description"]


def test_labels_and_keywords_keep_accented_letters() -> None:
    texts = [f"Necesitamos más enfermeras en la planta {k}" for k in range(10)]
    texts += [f"La recepción tardó mucho en contestar el teléfono {k}" for k in range(10)]
    report = build_report(SPEC, reply_rows(texts), generated_at=START + timedelta(days=1))
    labels = [t["label"] for t in report["themes"]]
    keywords = {w for t in report["themes"] for w in t["keywords"]}
    assert any("más enfermeras" in label.lower() for label in labels), labels
    assert not any(" m s " in f" {label} " for label in labels), labels
    assert {"recepción", "teléfono"} & keywords, keywords
    assert not any(len(w) < 2 or w in {"m", "s", "cepci", "fono"} for w in keywords)


def test_redaction_placeholders_are_never_keywords_or_phrases() -> None:
    texts = [
        f"[name] on reception was rude to my mother, call me on [phone] {k}" for k in range(10)
    ]
    texts += [f"Ask [name] about my [id number] or write to [email] please {k}" for k in range(10)]
    texts += [f"Lovely kind nurses on the ward {k}" for k in range(10)]
    report = build_report(SPEC, reply_rows(texts), generated_at=START + timedelta(days=1))
    placeholder_words = {"name", "phone", "id", "number", "email"}
    for t in report["themes"]:
        assert not placeholder_words & set(t["keywords"]), t["keywords"]
        for phrase in [t["label"], *t["phrases"]]:
            assert not placeholder_words & set(phrase.lower().split()), phrase
    assert analyse_text("my [name] and [id number]").tokens == ()


def test_placeholders_and_accents_in_analyses_stored_earlier_are_read_again() -> None:
    from consultations.insights.columns import split_rows

    text = "Ask [name] for más enfermeras"
    old = replace(analyse_text(text), tokens=("ask", "name", "m", "enfermera"), version=3)
    row = replace(reply_rows([text])[0], analysis=old)
    columns = split_rows([row], len(old.categories)).texts
    assert sorted(columns.analysis(0).tokens) == ["ask", "enfermera", "más"]
    # As stored (a JSON object), too.
    stored = {**old.to_json(), "version": 3}
    builder_row = replace(row, analysis=None)
    from consultations.insights.columns import TextColumnsBuilder

    builder = TextColumnsBuilder(len(old.categories))
    builder.add_batch(
        [(1, "one-thing", "prompt", "import", 0, START, (), builder_row.text, stored)]
    )
    assert sorted(builder.finish().analysis(0).tokens) == ["ask", "enfermera", "más"]


def test_a_text_pasted_many_times_does_not_name_a_theme() -> None:
    # One service filed its own form's line as feedback dozens of times ("Rang pt before
    # visit: Yes"); the theme's name must come from what its writers said.
    from consultations.insights.phrases import PhraseNamer

    endings = [
        "and explained everything",
        "before the scan",
        "at every visit",
        "on the phone",
        "without rushing us",
        "when mum was scared",
        "and gave us time",
        "all the way through",
        "even when busy",
        "and wrote it down",
        "before we left",
        "at the first appointment",
        "with real patience",
        "and answered questions",
        "on the ward round",
        "and followed up",
        "in plain words",
        "with kindness",
        "and checked we understood",
        "every single time",
    ]
    texts = [f"The nurse listened to our worries {e}" for e in endings]
    texts += ["Rang pt before vIsIt: Yes"] * 30
    background = [f"The car park was full on day {n} of our stay" for n in range(200)]
    namer = PhraseNamer([*texts, *background])
    members = np.arange(len(texts), dtype=np.intp)
    ranked = namer.ranked(members)
    assert ranked[0] == "nurse listened to our worries"


def test_the_same_short_answer_from_a_few_people_still_names_a_theme() -> None:
    from consultations.insights.phrases import PhraseNamer

    texts = ["Longer opening hours", "Longer opening hours", "longer opening hours!"]
    texts += [f"More staff on shift {n}" for n in ("one", "two", "three", "four", "five")]
    background = [f"The food was cold on day {n}" for n in range(100)]
    namer = PhraseNamer([*texts, *background])
    assert "longer opening hours" in namer.ranked(np.arange(len(texts), dtype=np.intp))


def test_one_idea_is_named_once_in_its_fullest_form() -> None:
    # "think of anything" and "can't think of anything" are one idea, not two phrases.
    from consultations.insights.phrases import PhraseNamer

    places = ["the ward", "the clinic", "the team", "reception", "the visit", "the nurses"]
    texts = [f"Can't think of anything to change at {p}" for p in places]
    texts += [f"I cannot think of anything wrong with {p}" for p in places]
    texts += [f"Hard to think of anything about {p}" for p in places]
    background = [f"The food was cold on day {n}" for n in range(100)]
    ranked = PhraseNamer([*texts, *background]).ranked(np.arange(len(texts), dtype=np.intp))
    assert ranked
    assert not [(a, b) for a in ranked for b in ranked if a != b and a in b], ranked


def test_redaction_marks_of_other_systems_and_names_never_name_a_theme() -> None:
    # Feedback exported from another system arrives redacted its own way: "Mrs XXXX",
    # "[Redacted]", "[name redacted]"; a title is followed by a name ("Dr [name]").
    texts = [f"Mrs XXXX is excellent, so kind and patient {k}" for k in range(8)]
    texts += [f"XXXX was excellent with my son {k}" for k in range(8)]
    texts += [f"Thank you to [Redacted] and [name redacted] on the ward {k}" for k in range(8)]
    texts += [f"Dr [name] explained everything, spoke to Dr Okafor after {k}" for k in range(8)]
    # A staff given name a consultation keeps (safety.keep_staff_names).
    texts += [f"Nurse Amy was lovely on the night shift {k}" for k in range(8)]
    texts += [f"Lovely kind nurses on the ward {k}" for k in range(8)]
    # Kisses at the end of a message are no more a keyword than a mark is.
    texts += [f"Dr [name] and the team were brilliant, thank you xx {k}" for k in range(8)]
    report = build_report(SPEC, reply_rows(texts), generated_at=START + timedelta(days=1))
    assert report["themes"]
    for t in report["themes"]:
        unwanted = {"xxxx", "xx", "redacted", "amy", "dr", "mrs"}
        assert not unwanted & set(t["keywords"]), t["keywords"]
        for phrase in [t["label"], *t["phrases"], t["description"]]:
            words = set(re.findall(r"[a-z]+", phrase.lower()))
            assert not {"xxxx", "redacted", "name", "okafor", "amy"} & words, phrase
            assert not re.search(r"\b(?:dr|mrs)\s*(?:$|[.,”])", phrase.lower()), phrase


def test_a_theme_of_one_reply_says_what_that_reply_is() -> None:
    texts = [f"The car park is far too small and always full {k}" for k in range(20)]
    texts += [f"Lovely kind nurses on the ward looked after me {k}" for k in range(20)]
    texts += [f"Waiting times for the clinic are far too long {k}" for k in range(20)]
    texts += ["Hydrotherapy pool temperature freezing", "Bring back the chaplain visits"]
    report = build_report(SPEC, reply_rows(texts), generated_at=START + timedelta(days=1))
    # Keyed by the one reply (a sub-theme may name the theme: "Facilities and equipment").
    single = {t["quotes"][0]: t["description"] for t in report["themes"] if t["count"] == 1}
    assert len(single) == 2, [(t["label"], t["count"]) for t in report["themes"]]
    for description in single.values():
        # What the one reply is, and whether it asks for something: no "mostly" of one.
        assert re.fullmatch(
            r"1 reply, (?:praise|a complaint|a remark)(?: that asks for a change)?\.", description
        ), description
    assert single["Hydrotherapy pool temperature freezing"] == "1 reply, a complaint."
    assert any(d.endswith(" that asks for a change.") for d in single.values()), single


def test_a_theme_with_no_shared_phrase_says_so_plainly() -> None:
    description = describe([], 45, {"positive": 0.56, "neutral": 0.2, "negative": 0.24}, 10)
    assert description == (
        "45 replies, mostly praise (56%), with no phrase many of them share; 10 ask for a change."
    )


@pytest.mark.parametrize(
    ("negative", "tone"),
    [
        (0.6, "mostly complaints (60%)"),
        (0.51, "mostly complaints (51%)"),
        (0.502, "half of them complaints"),  # shown as 50%: not "mostly"
        (0.5, "half of them complaints"),
        (0.495, "half of them complaints"),
        (0.49, "mixed in tone"),
    ],
)
def test_mostly_is_more_than_half_as_shown(negative: float, tone: str) -> None:
    sentiment = {"negative": negative, "positive": 0.45, "neutral": 1 - negative - 0.45}
    assert describe(["long waits"], 20, sentiment, 0) == f"20 replies, {tone}, about “long waits”."


def _replies(*groups: tuple[int, str]) -> list[str]:
    """``count`` replies of each template, told apart by a number."""
    return [template.format(k) for count, template in groups for k in range(count)]


# A theme about staff in general where a few speak of nights; one about the ward's
# toilets, heat and meals where a few speak of tea; one no phrase speaks for.
STAFF = _replies(
    (10, "The caring staff made the stay easier {0}"),
    (2, "The night staff were brilliant {0}"),
    (13, "Staff always had time for us {0}"),
)
WARD = _replies(
    (2, "More cups of tea would be nice {0}"),
    (6, "The toilets were out of order for days {0}"),
    (5, "Television by the bed never worked {0}"),
    (5, "The room was far too hot and no fans {0}"),
    (4, "Shower was cold every morning {0}"),
)


@pytest.mark.parametrize(
    ("phrases", "texts", "expected"),
    [
        # The best phrase speaks for few: the next one that speaks for more names it.
        (["night staff", "caring staff"], STAFF, ("Caring staff", False)),
        # Best first, when it speaks for enough.
        (["caring staff", "night staff"], STAFF, ("Caring staff", False)),
        # None speaks for the theme: the best one, said to be weak.
        (["cups of tea"], WARD, ("Cups of tea", True)),
        # Nothing at all: the category, or plainly "Other replies" (not "Short replies"
        # for long ones).
        ([], WARD, ("Other replies", True)),
    ],
)
def test_a_label_speaks_for_most_of_its_theme(
    phrases: list[str], texts: list[str], expected: tuple[str, bool]
) -> None:
    from consultations.insights.phrases import word_shares
    from consultations.insights.themes import _label

    assert _label(phrases, None, set(), word_shares(texts)) == expected


def test_a_theme_named_by_its_category_reads_as_words() -> None:
    from consultations.insights.themes import _label

    assert _label([], "Transition/coordination", set(), {}) == (
        "Other replies about transition and coordination",
        True,
    )


FOOD = _replies(
    (6, "The food was cold by the time it came {0}"),
    (4, "Better choice of meals please {0}"),
    (3, "Breakfast came very late {0}"),
    (3, "The ward was noisy {0}"),
)
NOTHING = _replies(
    (8, "Nothing {0}"),
    (4, "Absolutely nothing at all {0}"),
    (3, "Can't think of anything, sorry {0}"),
)
WAITS = _replies(
    (6, "Waiting around all day for the doctor {0}"),
    (4, "Long wait for my tablets to come up {0}"),
    (3, "Took hours to be seen {0}"),
)
REFERRALS = _replies(
    (6, "Waited months for my referral {0}"),
    (4, "The waiting list for a first appointment was long {0}"),
)
CONTINUITY = _replies(
    (5, "Would like to see the same nurse each visit {0}"),
    (4, "Different nurses every time, no continuity {0}"),
    (3, "Letters from the GP never reached the clinic {0}"),
)
FINE = _replies(
    (5, "Everything was fine {0}"),
    (3, "Happy with everything {0}"),
    (3, "All of it was great {0}"),
    (3, "Nope {0}"),
)


@pytest.mark.parametrize(
    ("texts", "category", "questions", "share", "expected"),
    [
        # The framework files food under the environment and facilities.
        (FOOD, "Environment/facilities", (), 0.45, "Food and drink"),
        # Toilets, televisions, heat and showers are the ward's facilities.
        (WARD, "Environment/facilities", (), 0.45, "Facilities and equipment"),
        # "Nothing" is nothing to improve where improvement was asked about ...
        (
            NOTHING,
            "Couldn't be improved",
            ("What could we do better?",),
            0.45,
            "Nothing to improve",
        ),
        # ... and nothing good where what was good was asked.
        (NOTHING, "Couldn't be improved", ("What was good?",), 0.45, "Nothing was good"),
        # Asked neither, and the replies not saying, neither name fits.
        (NOTHING, "Couldn't be improved", ("Anything else?",), 0.45, None),
        # Waiting on the ward is not waiting for a first appointment.
        (WAITS, "Access", (), 0.45, "Waiting times"),
        (REFERRALS, "Access", (), 0.45, "Waiting for a first appointment"),
        (CONTINUITY, "Transition/coordination", (), 0.45, "Continuity of care"),
        (FINE, "Miscellaneous", (), 0.45, "Everything was good"),
        # Staff replies where a third say "caring": only a looser fit names them.
        (STAFF, "Staff", (), 0.45, None),
        (STAFF, "Staff", (), 0.25, "Attitude of staff"),
    ],
)
def test_the_framework_sub_theme_that_fits(
    texts: list[str],
    category: str,
    questions: tuple[str, ...],
    share: float,
    expected: str | None,
) -> None:
    from consultations.insights.subcategories import fitting

    found = fitting(texts, category, questions, share)
    assert (found.name if found else None) == expected


@pytest.mark.parametrize(
    ("members", "expected"),
    [
        # One reply: its own words name it.
        (["Hydrotherapy pool temperature freezing"], "hydrotherapy pool temperature freezing"),
        # Fourteen replies, no two sharing a phrase: one of them names nothing of the rest.
        # (Its words "year" and "case" are nobody else's.)
        (
            [
                "There should be an open appointment for a year in case of emergency",
                "Everyone I have spoken with was consistent",
                "Kept to your word and rang back when you said",
                "Plans for discharge were written down",
                "Doctor stayed in touch after the clinic",
                "The nurse checked on me every week",
                "Given a plan for the coming months",
                "Rang when promised every time",
                "Letters arrived before each visit",
                "Somebody was always on the end of the line",
                "Follow up calls were a help",
                "Physio came to the house twice",
                "Ward round each morning went smoothly",
                "Pharmacy sorted my tablets quickly",
            ],
            None,
        ),
    ],
)
def test_one_reply_names_a_theme_only_with_words_others_use(
    members: list[str], expected: str | None
) -> None:
    from consultations.insights.phrases import PhraseNamer

    background = [f"The food was cold on day {n}" for n in range(100)]
    namer = PhraseNamer([*members, *background])
    found = namer.fallback(np.arange(len(members), dtype=np.intp), typical=[0])
    assert found == expected


#: Words that end replies differently, so that no longer phrase holds the one tested.
ENDINGS = ("safe", "welcome", "at home", "calm", "listened to", "cared for", "valued")


@pytest.mark.parametrize(
    ("texts", "unwanted"),
    [
        # A verb that needs what follows is no place to stop.
        ([f"Thank you for making me feel {w}" for w in ENDINGS], r"\bfeel$"),
        ([f"The nurse I saw was {w}" for w in ENDINGS], r"\bsaw$"),
        ([f"I don't think {w}" for w in ("so", "there is", "you could", "it was")], r"think$"),
        # Generic in the singular as in the plural.
        ([f"Staff member {w}" for w in ENDINGS], r"^staff member$"),
    ],
)
def test_a_phrase_reads_as_a_whole(texts: list[str], unwanted: str) -> None:
    from consultations.insights.phrases import PhraseNamer

    background = [f"The car park was full on day {n}" for n in range(100)]
    namer = PhraseNamer([*texts, *background])
    ranked = namer.ranked(np.arange(len(texts), dtype=np.intp))
    assert not [p for p in ranked if re.search(unwanted, p)], ranked


@pytest.mark.parametrize(
    ("phrase", "label"),
    [
        ("nurse i spoke to", "Nurse I spoke to"),
        ("i'm happy with the care", "I'm happy with the care"),
        ("staff listened", "Staff listened"),
        ("ipad in the waiting room", "Ipad in the waiting room"),
    ],
)
def test_a_label_writes_the_pronoun_i_in_capitals(phrase: str, label: str) -> None:
    from consultations.insights.phrases import label_of

    assert label_of(phrase) == label


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("food was very good", "positive"),
        ("lovely nurses", "positive"),
        ("rude receptionist", "negative"),
        ("noisy at night", "negative"),
        ("food and drink", None),
        ("waiting time", None),
        # A word that may turn it round leaves it unjudged.
        ("nothing was good", None),
        ("not very good", None),
        # Praise and blame at once.
        ("good doctors but rude porters", None),
    ],
)
def test_a_phrase_praises_blames_or_neither(phrase: str, expected: str | None) -> None:
    from consultations.insights.phrases import judgement

    assert judgement(phrase) == expected


FOOD_TALK = _replies(
    (8, "The food was very good here {0}"),
    (6, "Hot meals came cold to the bay {0}"),
    (6, "Menu had little choice for hot meals {0}"),
)


@pytest.mark.parametrize(
    ("tones", "expected"),
    [
        # Most replies praise: a label that praises names them.
        ([0] * 16 + [2] * 4, ("Food was very good", False)),
        # Half complain: the praise is not theirs, the next phrase names them.
        ([0] * 10 + [2] * 10, ("Hot meals", False)),
        # No tones known: the best phrase.
        (None, ("Food was very good", False)),
    ],
)
def test_a_label_that_praises_names_a_theme_that_mostly_praises(
    tones: list[int] | None, expected: tuple[str, bool]
) -> None:
    from consultations.insights.phrases import word_shares
    from consultations.insights.themes import _agrees_with, _label

    members = np.arange(len(FOOD_TALK), dtype=np.intp)
    tone = None if tones is None else np.asarray(tones, dtype=np.int8)
    agrees = _agrees_with(tone, members)
    found = _label(["food was very good", "hot meals"], None, set(), word_shares(FOOD_TALK), agrees)
    assert found == expected


def test_a_sub_theme_names_a_theme_one_reply_would_name_alone() -> None:
    # Ten replies, none sharing a phrase with another; four speak of feeling safe. One
    # reply's words ("staff have to ask") say less of them than the sub-theme does.
    texts = [
        "Always given an answer, even if staff have to ask someone else",
        "Anyone can walk in through the door at night, I did not feel safe",
        "Felt safe on the ward with the nurses about",
        "Kept safe from the other patients who shouted",
        "Unsafe car park lighting after dark",
        "Need to be aware of dignity for children who are hoisted",
        "Family were involved when it mattered most",
        "Treated me with respect every single day",
        "The staff asked before touching my son",
        "Curtains were drawn for my examination",
    ]
    from consultations.insights.themes import ThemeInput, find_themes

    dignity = np.zeros((len(texts), 2))
    dignity[:, 1] = 1.0
    docs = ThemeInput(
        tokens=[t.lower().split() for t in texts],
        categories=dignity,
        words=[len(t.split()) for t in texts],
        quotable=[True] * len(texts),
        texts=texts,
    )
    themes, _ = find_themes(docs, ["Staff", "Dignity"], n_themes=1)
    assert [t.label for t in themes] == ["Feeling safe"]
