"""Sub-themes of the NHS patient-experience framework, to name a theme when one fits.

The framework's 44 sub-themes (the pxtextmining labels' ``subcategory``) name what a
QI lead already files feedback under. Where most of a theme's replies use a sub-theme's
own words, and the theme's dominant category is that sub-theme's major category, the
sub-theme's name is the clearest label; otherwise the theme keeps the phrase from its
replies. The names follow the framework; the cue words were written for this project.
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


def _sub(name: str, category: str, cues: str) -> SubTheme:
    return SubTheme(name, category, re.compile(r"\b(?:" + cues + r")\b", re.IGNORECASE))


SUBTHEMES: tuple[SubTheme, ...] = (
    _sub(
        "Waiting for a first appointment",
        "Access",
        r"wait(?:ed|ing)?|waiting list|referr(?:al|ed)|first appointment|weeks|months",
    ),
    _sub("Parking and transport", "Environment/facilities", r"park(?:ing)?|car park|bus|transport"),
    _sub("Food and drink", "Care received", r"food|meals?|menu|drinks?|tea|breakfast|lunch|dinner"),
    _sub("Cleanliness", "Environment/facilities", r"clean(?:liness)?|dirty|toilets?|hygiene"),
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
    _sub("Nothing to improve", "Couldn't be improved", r"nothing|can't think|cannot think"),
)

#: Share of a theme's replies that must use a sub-theme's words for its name to fit.
FIT_SHARE = 0.45


def fitting(texts: Sequence[str], category: str | None) -> SubTheme | None:
    """The sub-theme most of ``texts`` speak of, within ``category`` (None when none fits)."""
    if not texts or category is None:
        return None
    best: SubTheme | None = None
    best_share = FIT_SHARE
    for sub in SUBTHEMES:
        if sub.category != category:
            continue
        share = sum(1 for t in texts if sub.cues.search(t)) / len(texts)
        if share >= best_share:
            best, best_share = sub, share
    return best
