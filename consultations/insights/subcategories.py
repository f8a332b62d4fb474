"""Sub-themes of the NHS patient-experience framework, to name a theme when one fits.

The framework's 44 sub-themes (the pxtextmining labels' ``subcategory``) name what a
QI lead already files feedback under. Where most of a theme's replies use a sub-theme's
own words, and the theme's dominant category is that sub-theme's major category, the
sub-theme's name is the clearest label; otherwise the theme keeps the phrase from its
replies, unless no phrase speaks for most of them ("Cups of tea" for replies about the
ward's toilets, heat and television), when a sub-theme a quarter of them speak of names
it. The names follow the framework; the cue words were written for this project.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class SubTheme:
    """A framework sub-theme: its name, its major category, and words that signal it."""

    name: str
    category: str
    cues: re.Pattern[str]
    #: What the name takes for granted ("Nothing to improve" that improvement was asked
    #: about): the question asked, or enough of the replies, must say so for the name
    #: to fit. None when the name assumes nothing.
    context: re.Pattern[str] | None = None
    #: Whether replies that say it are enough, or only the question asked will do.
    replies_may_say: bool = True


def _words(cues: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + cues + r")\b", re.IGNORECASE)


def _sub(
    name: str, category: str, cues: str, context: str | None = None, replies_may_say: bool = True
) -> SubTheme:
    return SubTheme(
        name, category, _words(cues), _words(context) if context else None, replies_may_say
    )


SUBTHEMES: tuple[SubTheme, ...] = (
    # Listed before the wait of any kind, so a theme of first appointments keeps the
    # narrower name when both fit equally.
    _sub(
        "Waiting for a first appointment",
        "Access",
        r"waiting list|referr(?:al|ed)|first appointment|weeks|months",
    ),
    _sub("Waiting times", "Access", r"wait(?:s|ed|ing)?|delays?|delayed|queues?|quicker"),
    _sub("Parking and transport", "Environment/facilities", r"park(?:ing)?|car park|bus|transport"),
    _sub(
        "Food and drink",
        "Environment/facilities",
        r"food|meals?|menu|drinks?|tea|coffee|breakfast|lunch|dinner|snacks?|water",
    ),
    _sub("Cleanliness", "Environment/facilities", r"clean(?:liness)?|dirty|hygiene"),
    _sub(
        "Facilities and equipment",
        "Environment/facilities",
        r"toilets?|showers?|beds?|chairs?|tvs?|televisions?|wi-?fi|equipment|temperature"
        r"|cold|warm|hot|heating|air con|fans?|rooms?|bathrooms?|facilities|lighting",
    ),
    _sub("Noise and sleep", "Environment/facilities", r"nois[ey]|loud|quiet|sleep|night"),
    _sub("Attitude of staff", "Staff", r"rude|kind(?:ness)?|friendly|attitude|polite|caring"),
    _sub("Staffing levels", "Staff", r"short staffed|understaffed|more staff|staffing|busy"),
    _sub("Listening", "Communication", r"listen(?:ed|ing|s)?|heard"),
    _sub(
        "Amount and clarity of information",
        "Communication",
        r"information|explain(?:ed|ing)?|explanation|informed|told|letters?",
    ),
    _sub("Medication", "Care received", r"medications?|medicines?|tablets|meds|prescriptions?"),
    _sub("Activities", "Care received", r"activit(?:y|ies)|bored|boring|groups?|gym|games"),
    _sub("Feeling safe", "Dignity", r"safe|unsafe|bullying|bullied|secure"),
    _sub("Transition and discharge", "Transition/coordination", r"discharge[d]?|going home"),
    _sub(
        "Continuity of care",
        "Transition/coordination",
        r"same (?:nurse|doctor|person|carer|staff|therapist)|different (?:nurses|doctors|people"
        r"|carers|staff)|continuity|consistency|consistent",
    ),
    _sub(
        "Everything was good",
        "Miscellaneous",
        r"(?:everything|all)(?: \w+){0,3} (?:good|fine|great|perfect|excellent|brilliant"
        r"|fantastic|ok|okay|satisfactory)|(?:happy|pleased|satisfied) with everything"
        r"|no complaints|faultless|perfect",
    ),
    # "Nothing" answers whatever was asked: it is "nothing to improve" only where the
    # question, or the replies, speak of improving, and "nothing was good" only where
    # the question asked what was good ("Nothing, all good" answers another question).
    _sub(
        "Nothing to improve",
        "Couldn't be improved",
        r"nothing|can't think|cannot think",
        r"improve\w*|better|easier|change\w*|differently|fault",
    ),
    _sub(
        "Nothing was good",
        "Couldn't be improved",
        r"nothing|not anything|none",
        r"good|well|best|like[d]?|positive|helpful|enjoy\w*",
        replies_may_say=False,
    ),
)

#: Share of a theme's replies that must use a sub-theme's words for its name to fit.
FIT_SHARE = 0.45
#: Share of the replies that must say what a sub-theme's name takes for granted, when
#: no question asked says it.
CONTEXT_SHARE = 0.2


def fitting(
    texts: Sequence[str],
    category: str | None,
    questions: Sequence[str] = (),
    share: float = FIT_SHARE,
) -> SubTheme | None:
    """The sub-theme most of ``texts`` speak of, within ``category`` (None when none fits).

    At least ``share`` of the texts must use its words; a sub-theme whose name takes
    something for granted fits only where one of ``questions`` says it, or (unless
    only a question will do) a fifth of the texts do.
    """
    if not texts or category is None:
        return None
    best: SubTheme | None = None
    best_share = share
    for sub in SUBTHEMES:
        if sub.category != category:
            continue
        found = sum(1 for t in texts if sub.cues.search(t)) / len(texts)
        # The first listed keeps a tie.
        beats = found > best_share or (best is None and found >= best_share)
        if beats and _in_context(sub, texts, questions):
            best, best_share = sub, found
    return best


def _in_context(sub: SubTheme, texts: Sequence[str], questions: Sequence[str]) -> bool:
    if sub.context is None:
        return True
    if any(sub.context.search(q) for q in questions):
        return True
    if not sub.replies_may_say:
        return False
    return sum(1 for t in texts if sub.context.search(t)) >= CONTEXT_SHARE * len(texts)
