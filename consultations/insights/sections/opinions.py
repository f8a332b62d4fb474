"""The statement-voting section: opinion groups, what defines each, and consensus.

Reads ``(participant, statement, vote)`` triples of the statements people may see
(pending, rejected and flagged ones never count: nobody saw them) and runs the Pol.is
style analysis in :mod:`consultations.insights.opinion`. Clusters smaller than five
people are never shown as groups: their members are counted together as ``others``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from consultations.insights.opinion import MIN_GROUP_SIZE, analyse_opinions


def summarise(
    votes: Sequence[tuple[str, str, int]], texts: Mapping[str, str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """``opinion_groups``, ``consensus`` and the rest of the analysis (``opinions``)."""
    analysis = analyse_opinions(votes, texts, min_group_size=MIN_GROUP_SIZE)
    data = analysis.to_json()
    groups = data.pop("opinion_groups")
    consensus = data.pop("consensus")
    data["others"] = data["ungrouped_participants"]
    # The map needs the groups too; renderers read them from the report's own list.
    return groups, consensus, data
