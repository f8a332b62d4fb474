"""Opinion groups on synthetic votes with planted groups; edge cases; the SVG map."""

from __future__ import annotations

import json
import random
import xml.etree.ElementTree as ET

import pytest
from sklearn.metrics import adjusted_rand_score  # type: ignore[import-untyped]

from consultations.insights.opinion import (
    OpinionAnalysis,
    analyse_opinions,
    build_vote_matrix,
    opinion_map_svg,
)
from tests.insights.opinion_fixture import PlantedVotes, planted_votes

SVG = "{http://www.w3.org/2000/svg}"


def ari(analysis: OpinionAnalysis, planted: PlantedVotes) -> float:
    found = {p.participant: -1 if p.group is None else p.group for p in analysis.points}
    ids = sorted(planted.truth)
    return float(
        adjusted_rand_score([planted.truth[i] for i in ids], [found.get(i, -2) for i in ids])
    )


@pytest.fixture(scope="module")
def planted() -> PlantedVotes:
    return planted_votes(group_sizes=(40, 40, 40), statements=40, consensus=4, seed=1)


@pytest.fixture(scope="module")
def analysis(planted: PlantedVotes) -> OpinionAnalysis:
    return analyse_opinions(planted.votes, planted.texts)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_planted_groups_and_consensus_are_found(seed: int) -> None:
    planted = planted_votes(group_sizes=(40, 40, 40), statements=40, consensus=4, seed=seed)
    analysis = analyse_opinions(planted.votes, planted.texts)
    assert analysis.reason is None
    assert len(analysis.groups) == 3
    assert ari(analysis, planted) >= 0.8
    assert set(planted.consensus) <= {c.statement for c in analysis.consensus}


def test_representative_statements_set_the_group_apart(
    analysis: OpinionAnalysis, planted: PlantedVotes
) -> None:
    for group in analysis.groups:
        assert group.representative, group.label
        for s in group.representative:
            assert s.statement not in planted.consensus
            assert s.direction in ("agree", "disagree")
            assert s.group_share > 0.5
            assert s.group_share > s.others_share
            assert s.ratio > 1
            assert s.p_value < 0.1
            assert 0 < s.n <= group.size
            assert s.text == planted.texts[s.statement]


def test_divisive_statements_split_the_groups(
    analysis: OpinionAnalysis, planted: PlantedVotes
) -> None:
    assert analysis.divisive
    for d in analysis.divisive:
        assert d.statement not in planted.consensus
        assert max(d.stances) - min(d.stances) == pytest.approx(d.spread)
        assert len(d.stances) == len(analysis.groups)
    for group in analysis.groups:
        assert [s.statement for s in group.divisive] == [d.statement for d in analysis.divisive]


def test_consensus_shares_are_high_in_every_group(analysis: OpinionAnalysis) -> None:
    for c in analysis.consensus:
        assert c.direction == "agree"
        assert c.share > 0.6
        assert all(share > 0.6 for share in c.group_shares)
        assert len(c.group_shares) == len(analysis.groups)


def test_json_has_the_documented_shape(analysis: OpinionAnalysis) -> None:
    data = json.loads(json.dumps(analysis.to_json()))
    group = data["opinion_groups"][0]
    assert {"id", "label", "size", "participants", "representative", "divisive"} <= set(group)
    assert group["label"] == "Group A"
    assert group["size"] == len(group["participants"])
    rep = group["representative"][0]
    assert {
        "statement",
        "text",
        "direction",
        "group_share",
        "others_share",
        "n",
        "p_value",
    } <= set(rep)
    assert {"statement", "text", "agree_share", "n"} <= set(data["consensus"][0])
    point = data["map"]["points"][0]
    assert set(point) == {"participant", "x", "y", "group"}
    assert data["reason"] is None
    sizes = [g["size"] for g in data["opinion_groups"]]
    assert sizes == sorted(sizes, reverse=True)


def test_small_clusters_go_to_others_and_are_never_shown() -> None:
    planted = planted_votes(group_sizes=(60, 60, 20), statements=40, consensus=4, seed=3)
    small = {p for p, g in planted.truth.items() if g == 2}
    analysis = analyse_opinions(planted.votes, planted.texts, min_group_size=30)
    assert len(analysis.groups) == 2
    assert all(g.size >= 30 for g in analysis.groups)
    shown = {p for g in analysis.groups for p in g.participants}
    assert not shown & small
    assert analysis.ungrouped == len(small)
    assert {p.participant for p in analysis.points if p.group is None} == small
    data = analysis.to_json()
    assert [g["label"] for g in data["opinion_groups"]] == ["Group A", "Group B"]
    assert "Not in any group: 20 participants" in opinion_map_svg(analysis)


def test_no_group_below_the_default_minimum() -> None:
    planted = planted_votes(group_sizes=(40, 40, 3), statements=40, consensus=4, seed=4)
    analysis = analyse_opinions(planted.votes, planted.texts)
    assert analysis.groups
    assert all(g.size >= 5 for g in analysis.groups)
    assert sum(g.size for g in analysis.groups) + analysis.ungrouped == analysis.eligible


def test_only_participants_with_seven_votes_are_placed(planted: PlantedVotes) -> None:
    statements = sorted(planted.texts)
    six = [("six", s, 1) for s in statements[:6]]
    # Passes count as votes towards the threshold.
    seven = [("seven", s, 0 if i % 2 else -1) for i, s in enumerate(statements[:7])]
    analysis = analyse_opinions([*planted.votes, *six, *seven], planted.texts)
    placed = {p.participant for p in analysis.points}
    assert "six" not in placed
    assert "seven" in placed
    assert analysis.participants == len(planted.truth) + 2
    assert analysis.eligible == len(planted.truth) + 1
    looser = analyse_opinions([*planted.votes, *six], planted.texts, min_votes=6)
    assert "six" in {p.participant for p in looser.points}


def test_a_later_vote_replaces_the_earlier() -> None:
    matrix = build_vote_matrix([("p", "s", 1), ("q", "s", 1), ("p", "s", -1), ("p", "t", 0)])
    assert len(matrix) == 3
    got = {
        (matrix.participants[r], matrix.statements[c]): int(v)
        for r, c, v in zip(matrix.rows, matrix.cols, matrix.values, strict=True)
    }
    assert got == {("p", "s"): -1, ("q", "s"): 1, ("p", "t"): 0}


def test_changed_votes_change_the_consensus(planted: PlantedVotes) -> None:
    target = planted.consensus[0]
    voted = {p for p, s, _ in planted.votes if s == target}
    changed = [*planted.votes, *((p, target, -1) for p in sorted(voted))]
    analysis = analyse_opinions(changed, planted.texts)
    assert analysis.votes == len(planted.votes)
    assert target not in {c.statement for c in analysis.consensus}
    against = {c.statement: c for c in analysis.consensus_disagree}
    assert against[target].share == 1.0
    assert against[target].n == len(voted)


def test_invalid_vote_is_refused() -> None:
    with pytest.raises(ValueError, match="not \\+1, 0 or -1"):
        build_vote_matrix([("p", "s", 2)])


def _everyone(votes: int, people: int = 10, value: int = 1) -> list[tuple[str, str, int]]:
    return [(f"person-{i}", f"s{j}", value) for i in range(people) for j in range(votes)]


@pytest.mark.parametrize(
    ("votes", "kwargs", "reason"),
    [
        ([], {}, "No votes"),
        (_everyone(3), {}, "Fewer than 2 participants"),
        (_everyone(10, people=1), {}, "Fewer than 2 participants"),
        (_everyone(10), {}, "same way"),
        (_everyone(10, value=0), {}, "same way"),
        (_everyone(1, people=30), {"min_votes": 1}, "Fewer than 2 statements"),
        (
            [(f"person-{i}", f"s{j}", 1 if i else -1) for i in range(2) for j in range(8)],
            {},
            "too few or too alike",
        ),
        (
            [
                (f"person-{i}", f"s{j}", 1 if (i + j) % 2 else -1)
                for i in range(8)
                for j in range(8)
            ],
            {},
            "group of at least 5",
        ),
    ],
    ids=[
        "no-votes",
        "too-few-votes",
        "one-participant",
        "all-agree",
        "all-pass",
        "one-statement",
        "two-participants",
        "groups-too-small",
    ],
)
def test_thin_data_gives_no_groups_and_a_reason(
    votes: list[tuple[str, str, int]], kwargs: dict[str, int], reason: str
) -> None:
    analysis = analyse_opinions(votes, {}, **kwargs)
    assert analysis.groups == ()
    assert analysis.reason is not None
    assert reason in analysis.reason
    data = json.loads(json.dumps(analysis.to_json()))
    assert data["opinion_groups"] == []
    root = ET.fromstring(opinion_map_svg(analysis))
    desc = root.find(f"{SVG}desc")
    assert desc is not None and desc.text is not None
    assert analysis.reason in desc.text


def test_unanimous_votes_are_still_consensus() -> None:
    analysis = analyse_opinions(_everyone(8), {"s0": "More evening appointments"})
    assert analysis.reason is not None
    assert {c.statement for c in analysis.consensus} == {f"s{j}" for j in range(8)}
    first = next(c for c in analysis.consensus if c.statement == "s0")
    assert first.text == "More evening appointments"
    assert first.share == 1.0 and first.n == 10


def test_svg_is_well_formed_and_anonymous(analysis: OpinionAnalysis, planted: PlantedVotes) -> None:
    svg = opinion_map_svg(analysis)
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title is not None and title.text
    assert desc is not None and desc.text
    for group in analysis.groups:
        assert f"{group.label} (" in desc.text
    assert "http" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "<script" not in svg
    for participant in planted.truth:
        assert participant not in svg
    markers = root.find(f"{SVG}g/{SVG}g[@class='participants']")
    assert markers is not None
    assert len(markers) == len(analysis.points)


def test_same_votes_in_any_order_give_the_same_analysis(planted: PlantedVotes) -> None:
    first = analyse_opinions(planted.votes, planted.texts)
    shuffled = list(planted.votes)
    random.Random(7).shuffle(shuffled)
    second = analyse_opinions(shuffled, planted.texts)
    assert first.to_json() == second.to_json()
    assert opinion_map_svg(first) == opinion_map_svg(second)
