"""Representativeness: whether the people who answered look like the people the service serves.

A spec may give, under a segment question, the share of each group expected among the
people who answer (``expected: {Under 25: 0.2, ...}``, for example from the population
the service serves). Each group's observed share is shown beside it with a 95% Wilson
interval; a group whose whole interval lies below its expected share is named as
under-represented (above: over-represented). Groups hidden by small-number suppression
stay hidden here too: no share or interval is shown for them, and they are listed as
not shown rather than judged, since any judgement would hint at their count.

The channel mix is shown the same way (participants per channel, with intervals), with
no expectation: it says which channels carried the consultation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from consultations.insights.records import SpecLike
from consultations.insights.stats import wilson_interval

UNDER, OVER, AS_EXPECTED, HIDDEN = "under-represented", "over-represented", "as expected", "hidden"


def summarise(spec: SpecLike, participation: Mapping[str, Any]) -> dict[str, Any]:
    """The ``representativeness`` section, read from the built participation section."""
    segments: list[dict[str, Any]] = []
    under: list[dict[str, Any]] = []
    for seg in spec.segments:
        expected: Sequence[tuple[str, float]] = getattr(seg, "expected", ()) or ()
        if not expected:
            continue
        line = participation["by_segment"][seg.id]
        options: Mapping[str, int | None] = line["options"]
        # Hidden counts are unknown here, so the base is the answers the section shows
        # plus the hidden ones: participants minus those who did not answer.
        base = participation["participants"] - line["not_answered"]
        groups = []
        for option, share in expected:
            count = options.get(option)
            if count is None:
                groups.append({"option": option, "expected": share, "status": HIDDEN})
                continue
            low, high = wilson_interval(count, base) if base else (0.0, 0.0)
            status = (
                UNDER if base and high < share else OVER if base and low > share else AS_EXPECTED
            )
            group = {
                "option": option,
                "expected": share,
                "count": count,
                "share": round(count / base, 4) if base else 0.0,
                "ci_low": round(low, 4),
                "ci_high": round(high, 4),
                "status": status,
            }
            groups.append(group)
            if status == UNDER:
                under.append(
                    {
                        "segment": seg.id,
                        "option": option,
                        "share": group["share"],
                        "expected": share,
                    }
                )
        segments.append({"segment": seg.id, "question": seg.text, "n": base, "groups": groups})

    channels = participation["by_channel"]
    people = sum(c["participants"] for c in channels.values())
    channel_mix = []
    for name, entry in channels.items():
        count = entry["participants"]
        low, high = wilson_interval(count, people) if people else (0.0, 0.0)
        channel_mix.append(
            {
                "channel": name,
                "participants": count,
                "share": round(count / people, 4) if people else 0.0,
                "ci_low": round(low, 4),
                "ci_high": round(high, 4),
            }
        )
    return {"segments": segments, "under_represented": under, "channel_mix": channel_mix}
