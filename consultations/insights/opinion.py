"""Opinion groups in votes on participants' statements, and a map of them.

Participants add short statements and vote agree (+1), disagree (-1) or pass (0) on
other people's. Following the Pol.is method (Small et al. 2021, "Polis: Scaling
deliberation by mapping high dimensional opinion spaces", Recerca 26(2)):

1. Votes form a participant-by-statement matrix: agree +1, disagree -1; passes and
   statements a participant never saw are missing. Only participants with at least
   ``min_votes`` votes (passes included) are placed, because a handful of votes says
   too little about where someone stands.
2. Missing cells are filled with the statement's mean vote, so after centring they are
   zero and pull nobody anywhere; the data are reduced to two principal components.
3. A participant who voted on few statements lands near the centre only because most
   of their row is filled in, so each position is scaled by sqrt(statements / votes)
   (the paper's correction), which puts sparse voters where their own votes point.
4. k-means on the 2-D positions for k = 2..5, keeping the k with the best silhouette.
   Clusters smaller than ``min_group_size`` are not shown as groups: a "group" of two
   people would be identifiable and says nothing about the population.
5. Each group is described by its representative statements: those it agrees (or
   disagrees) with much more than everyone else. As in the paper, agree probabilities
   are smoothed ((agrees + 1) / (votes + 2)), representativeness is the ratio of the
   group's to the others', and it must be significant at 90% (here a one-sided
   two-proportion z-test, group against the rest). This module also asks that most of
   the group votes that way (one-proportion test against a half, same level), so a
   statement 30% of a group agrees with is never shown as what the group thinks.
6. Consensus statements are those every group agrees with (or every group disagrees
   with); divisive ones are those where the groups' stances differ most.

Everything is deterministic: participants and statements are sorted by id before any
fitting, and the k-means and silhouette sampling use a fixed seed.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

import numpy as np
import numpy.typing as npt
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
Int8Array = npt.NDArray[np.int8]

AGREE, PASS, DISAGREE = 1, 0, -1
_VALID_VOTES = frozenset((AGREE, PASS, DISAGREE))

#: Votes (passes included) a participant needs before they are placed on the map.
MIN_VOTES = 7
#: Smallest cluster shown as a group; smaller ones go to the unshown "others".
MIN_GROUP_SIZE = 5
#: k-means tries k = 2..MAX_GROUPS; more groups than five are hard to read (Pol.is too).
MAX_GROUPS = 5
RANDOM_STATE = 0
#: One-sided 90% normal quantile: the significance level the paper uses for selection.
Z90 = 1.2815515655446004
ALPHA = 0.10
#: Smoothed agree share every group needs for a statement to count as consensus.
CONSENSUS_SHARE = 0.6
#: Smallest spread of group stances ((agree - disagree) / (votes + 2), -1..1) for a
#: statement to be called divisive; 0.5 is a quarter of the possible range.
DIVISIVE_SPREAD = 0.5
MAX_REPRESENTATIVE = 5
MAX_DIVISIVE = 5
MAX_CONSENSUS = 10
#: The silhouette is quadratic in participants; above this it is estimated on a fixed
#: sample, which chooses the same k as the full score on well-separated groups.
SILHOUETTE_SAMPLE = 2000


@dataclass(frozen=True, eq=False)
class VoteMatrix:
    """Latest vote per (participant, statement), as coordinates into sorted id lists.

    ``rows[i]``, ``cols[i]``, ``values[i]`` say that participant ``participants[rows[i]]``
    voted ``values[i]`` on statement ``statements[cols[i]]``.
    """

    participants: tuple[str, ...]
    statements: tuple[str, ...]
    rows: IntArray
    cols: IntArray
    values: Int8Array

    def __len__(self) -> int:
        return len(self.values)

    def votes_per_participant(self) -> IntArray:
        """Number of votes (passes included) cast by each participant."""
        counts: IntArray = np.bincount(self.rows, minlength=len(self.participants)).astype(np.intp)
        return counts


def build_vote_matrix(votes: Iterable[tuple[str, str, int]]) -> VoteMatrix:
    """Collect ``(participant, statement, vote)`` triples; a later vote replaces an earlier.

    Votes are +1 (agree), -1 (disagree) or 0 (pass); anything else raises ``ValueError``
    because it means the caller mixed up columns, which no analysis should hide.
    """
    latest: dict[tuple[str, str], int] = {}
    for participant, statement, vote in votes:
        if vote not in _VALID_VOTES:
            raise ValueError(f"vote {vote!r} is not +1, 0 or -1")
        latest[(participant, statement)] = int(vote)
    participants = tuple(sorted({p for p, _ in latest}))
    statements = tuple(sorted({s for _, s in latest}))
    p_index = {p: i for i, p in enumerate(participants)}
    s_index = {s: i for i, s in enumerate(statements)}
    n = len(latest)
    rows = np.fromiter((p_index[p] for p, _ in latest), dtype=np.intp, count=n)
    cols = np.fromiter((s_index[s] for _, s in latest), dtype=np.intp, count=n)
    values = np.fromiter(latest.values(), dtype=np.int8, count=n)
    return VoteMatrix(participants, statements, rows, cols, values)


@dataclass(frozen=True)
class StatementScore:
    """Where one group stands on one statement, against everyone else placed.

    ``group_share`` and ``others_share`` are the raw shares voting ``direction`` among
    those who voted on the statement (passes count as votes); ``ratio`` is the smoothed
    representativeness; ``z`` and ``p_value`` are the one-sided two-proportion test.
    """

    statement: str
    text: str
    direction: str
    group_share: float
    others_share: float
    ratio: float
    n: int
    others_n: int
    z: float
    p_value: float

    def to_json(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return {
            "statement": self.statement,
            "text": self.text,
            "direction": self.direction,
            "group_share": round(self.group_share, 4),
            "others_share": round(self.others_share, 4),
            "ratio": round(self.ratio, 4),
            "n": self.n,
            "others_n": self.others_n,
            "z": round(self.z, 4),
            "p_value": float(f"{self.p_value:.4g}"),
        }


@dataclass(frozen=True)
class OpinionGroup:
    """One opinion group: its members (ids) and the statements that set it apart."""

    id: int
    label: str
    participants: tuple[str, ...]
    representative: tuple[StatementScore, ...]
    divisive: tuple[StatementScore, ...]

    @property
    def size(self) -> int:
        """Number of participants in the group."""
        return len(self.participants)

    def to_json(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return {
            "id": self.id,
            "label": self.label,
            "size": self.size,
            "participants": list(self.participants),
            "representative": [s.to_json() for s in self.representative],
            "divisive": [s.to_json() for s in self.divisive],
        }


@dataclass(frozen=True)
class ConsensusStatement:
    """A statement every group agrees with (or every group disagrees with).

    ``share`` is the raw share voting ``direction`` over all grouped participants who
    voted on it; ``group_shares`` the same per group, in group order.
    """

    statement: str
    text: str
    direction: str
    share: float
    n: int
    group_shares: tuple[float, ...]

    def to_json(self) -> dict[str, Any]:
        """Plain dict for JSON (``agree_share`` or ``disagree_share`` by direction)."""
        return {
            "statement": self.statement,
            "text": self.text,
            "direction": self.direction,
            f"{self.direction}_share": round(self.share, 4),
            "n": self.n,
            "group_shares": [round(s, 4) for s in self.group_shares],
        }


@dataclass(frozen=True)
class DivisiveStatement:
    """A statement on which the groups' stances differ most.

    ``stances`` are per group (in group order): (agree - disagree) / (votes + 2), from -1
    (all disagree) to +1 (all agree); ``spread`` is the largest minus the smallest;
    ``p_value`` a chi-square test of agree/disagree/pass against group.
    """

    statement: str
    text: str
    spread: float
    n: int
    p_value: float
    stances: tuple[float, ...]

    def to_json(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return {
            "statement": self.statement,
            "text": self.text,
            "spread": round(self.spread, 4),
            "n": self.n,
            "p_value": float(f"{self.p_value:.4g}"),
            "stances": [round(s, 4) for s in self.stances],
        }


@dataclass(frozen=True)
class MapPoint:
    """One placed participant: position on the map and group id (None: not in a group)."""

    participant: str
    x: float
    y: float
    group: int | None

    def to_json(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return {
            "participant": self.participant,
            "x": round(self.x, 4),
            "y": round(self.y, 4),
            "group": self.group,
        }


@dataclass(frozen=True)
class OpinionAnalysis:
    """The result of :func:`analyse_opinions`.

    ``reason`` is set, and ``groups`` empty, when the votes cannot support opinion
    groups (too few votes or voters, no differences between them, no group large
    enough); consensus may still be reported then, over all placed participants.
    """

    groups: tuple[OpinionGroup, ...]
    consensus: tuple[ConsensusStatement, ...]
    consensus_disagree: tuple[ConsensusStatement, ...]
    divisive: tuple[DivisiveStatement, ...]
    points: tuple[MapPoint, ...]
    participants: int
    eligible: int
    statements: int
    votes: int
    ungrouped: int
    clusters: int
    silhouette: float | None
    explained_variance: tuple[float, float]
    min_votes: int
    min_group_size: int
    reason: str | None

    def to_json(self) -> dict[str, Any]:
        """Plain dicts and lists, ready for ``json.dumps``."""
        return {
            "opinion_groups": [g.to_json() for g in self.groups],
            "consensus": [c.to_json() for c in self.consensus],
            "consensus_disagree": [c.to_json() for c in self.consensus_disagree],
            "divisive": [d.to_json() for d in self.divisive],
            "map": {
                "points": [p.to_json() for p in self.points],
                "explained_variance": [round(v, 4) for v in self.explained_variance],
            },
            "participants": self.participants,
            "eligible_participants": self.eligible,
            "ungrouped_participants": self.ungrouped,
            "statements": self.statements,
            "votes": self.votes,
            "clusters": self.clusters,
            "silhouette": None if self.silhouette is None else round(self.silhouette, 4),
            "min_votes": self.min_votes,
            "min_group_size": self.min_group_size,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class _Counts:
    """Agree, disagree and seen (voted, passes included) counts per statement."""

    agree: FloatArray
    disagree: FloatArray
    seen: FloatArray

    def __sub__(self, other: _Counts) -> _Counts:
        return _Counts(
            self.agree - other.agree, self.disagree - other.disagree, self.seen - other.seen
        )

    def of(self, direction: str) -> FloatArray:
        return self.agree if direction == "agree" else self.disagree


def _smoothed(count: FloatArray, n: FloatArray) -> FloatArray:
    # Laplace smoothing as in the paper: no share is exactly 0 or 1 on a few votes.
    result: FloatArray = (count + 1.0) / (n + 2.0)
    return result


def _share(count: FloatArray, n: FloatArray) -> FloatArray:
    result: FloatArray = np.divide(count, n, out=np.zeros_like(count), where=n > 0)
    return result


def _majority_z(count: FloatArray, n: FloatArray) -> FloatArray:
    """z of the smoothed share against a half: does most of the group vote this way?"""
    result: FloatArray = 2.0 * np.sqrt(n) * (_smoothed(count, n) - 0.5)
    return result


def _difference_z(x1: FloatArray, n1: FloatArray, x2: FloatArray, n2: FloatArray) -> FloatArray:
    """Pooled two-proportion z on smoothed counts (never divides by zero)."""
    p1, p2 = _smoothed(x1, n1), _smoothed(x2, n2)
    pooled = (x1 + x2 + 1.0) / (n1 + n2 + 2.0)
    se = np.sqrt(pooled * (1.0 - pooled) * (1.0 / (n1 + 2.0) + 1.0 / (n2 + 2.0)))
    result: FloatArray = (p1 - p2) / se
    return result


def _group_counts(
    members: npt.NDArray[np.bool_], agree: FloatArray, disagree: FloatArray, seen: FloatArray
) -> _Counts:
    weights = members.astype(np.float64)
    return _Counts(weights @ agree, weights @ disagree, weights @ seen)


def _representative(
    group: _Counts,
    others: _Counts,
    statements: Sequence[str],
    texts: Mapping[str, str],
    limit: int,
) -> tuple[StatementScore, ...]:
    """Statements that set the group apart, best first (Pol.is representativeness)."""
    # SciPy and scikit-learn are imported where opinion groups are found, not with the
    # module, which every process that reports imports (see consultations/insights/themes.py).
    from scipy.special import ndtr  # type: ignore[import-untyped]

    candidates: list[tuple[float, StatementScore]] = []
    for direction in ("agree", "disagree"):
        x_g, x_o = group.of(direction), others.of(direction)
        ratio = _smoothed(x_g, group.seen) / _smoothed(x_o, others.seen)
        z = _difference_z(x_g, group.seen, x_o, others.seen)
        keep = (z >= Z90) & (_majority_z(x_g, group.seen) >= Z90) & (ratio > 1.0)
        # Ranked by ratio times the group's own smoothed share, so a statement the whole
        # group holds beats one a bare majority holds at the same ratio.
        score = ratio * _smoothed(x_g, group.seen)
        g_share, o_share = _share(x_g, group.seen), _share(x_o, others.seen)
        p_values = ndtr(-z)
        for j in np.flatnonzero(keep).tolist():
            candidates.append(
                (
                    float(score[j]),
                    StatementScore(
                        statement=statements[j],
                        text=texts.get(statements[j], ""),
                        direction=direction,
                        group_share=float(g_share[j]),
                        others_share=float(o_share[j]),
                        ratio=float(ratio[j]),
                        n=int(group.seen[j]),
                        others_n=int(others.seen[j]),
                        z=float(z[j]),
                        p_value=float(p_values[j]),
                    ),
                )
            )
    candidates.sort(key=lambda c: (-c[0], c[1].statement, c[1].direction))
    return tuple(s for _, s in candidates[:limit])


def _consensus(
    groups: Sequence[_Counts],
    statements: Sequence[str],
    texts: Mapping[str, str],
    direction: str,
    limit: int,
) -> tuple[ConsensusStatement, ...]:
    """Statements every group votes ``direction`` on: smoothed share >= 0.6, significant."""
    keep = np.ones(len(statements), dtype=bool)
    lowest = np.ones(len(statements))
    for g in groups:
        x = g.of(direction)
        smoothed = _smoothed(x, g.seen)
        keep &= (smoothed >= CONSENSUS_SHARE) & (_majority_z(x, g.seen) >= Z90)
        lowest = np.minimum(lowest, smoothed)
    total_x = sum((g.of(direction) for g in groups), np.zeros(len(statements)))
    total_n = sum((g.seen for g in groups), np.zeros(len(statements)))
    # Weakest group first decides the order: consensus is as strong as its least
    # convinced group.
    order = sorted(np.flatnonzero(keep).tolist(), key=lambda j: (-lowest[j], statements[j]))
    return tuple(
        ConsensusStatement(
            statement=statements[j],
            text=texts.get(statements[j], ""),
            direction=direction,
            share=float(total_x[j] / total_n[j]),
            n=int(total_n[j]),
            group_shares=tuple(float(_share(g.of(direction), g.seen)[j]) for g in groups),
        )
        for j in order[:limit]
    )


def _divisive(
    groups: Sequence[_Counts], statements: Sequence[str], texts: Mapping[str, str], limit: int
) -> tuple[DivisiveStatement, ...]:
    """Statements where the groups' stances differ most, with a chi-square check."""
    from scipy.stats import chi2  # type: ignore[import-untyped]

    m = len(statements)
    # table[g, c, j]: group g, category c (agree, disagree, pass), statement j.
    table = np.stack(
        [np.stack([g.agree, g.disagree, g.seen - g.agree - g.disagree]) for g in groups]
    )
    total = table.sum(axis=(0, 1))
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True)
    expected = np.divide(expected, total, out=np.zeros_like(expected), where=total > 0)
    cells = np.divide(
        (table - expected) ** 2, expected, out=np.zeros_like(expected), where=expected > 0
    )
    statistic = cells.sum(axis=(0, 1))
    live_rows = (table.sum(axis=1) > 0).sum(axis=0)
    live_cols = (table.sum(axis=0) > 0).sum(axis=0)
    dof = np.maximum(live_rows - 1, 0) * np.maximum(live_cols - 1, 0)
    p_values = np.ones(m)
    testable = dof > 0
    p_values[testable] = chi2.sf(statistic[testable], dof[testable])
    stances = np.stack([(g.agree - g.disagree) / (g.seen + 2.0) for g in groups])
    spread = stances.max(axis=0) - stances.min(axis=0)
    keep = (spread >= DIVISIVE_SPREAD) & (p_values < ALPHA)
    order = sorted(np.flatnonzero(keep).tolist(), key=lambda j: (-spread[j], statements[j]))
    return tuple(
        DivisiveStatement(
            statement=statements[j],
            text=texts.get(statements[j], ""),
            spread=float(spread[j]),
            n=int(total[j]),
            p_value=float(p_values[j]),
            stances=tuple(float(s) for s in stances[:, j]),
        )
        for j in order[:limit]
    )


def _group_on(group: _Counts, others: _Counts, j: int, statement: str, text: str) -> StatementScore:
    """Where a group stands on statement ``j``: its majority direction against the rest."""
    from scipy.special import ndtr

    direction = "agree" if group.agree[j] >= group.disagree[j] else "disagree"
    x_g, x_o = group.of(direction)[j : j + 1], others.of(direction)[j : j + 1]
    n_g, n_o = group.seen[j : j + 1], others.seen[j : j + 1]
    z = float(_difference_z(x_g, n_g, x_o, n_o)[0])
    return StatementScore(
        statement=statement,
        text=text,
        direction=direction,
        group_share=float(_share(x_g, n_g)[0]),
        others_share=float(_share(x_o, n_o)[0]),
        ratio=float((_smoothed(x_g, n_g) / _smoothed(x_o, n_o))[0]),
        n=int(n_g[0]),
        others_n=int(n_o[0]),
        z=z,
        p_value=float(ndtr(-z)),
    )


def _choose_clusters(
    positions: FloatArray, max_groups: int, random_state: int
) -> tuple[IntArray, int, float | None]:
    """k-means for k = 2..max_groups, keeping the best silhouette (smaller k on ties)."""
    from sklearn.cluster import KMeans  # type: ignore[import-untyped]
    from sklearn.exceptions import ConvergenceWarning  # type: ignore[import-untyped]
    from sklearn.metrics import silhouette_score  # type: ignore[import-untyped]

    n = len(positions)
    distinct = len(np.unique(np.round(positions, 9), axis=0))
    k_max = min(max_groups, distinct, n - 1)
    best: tuple[IntArray, int, float | None] = (np.zeros(n, dtype=np.intp), 1, None)
    sample = SILHOUETTE_SAMPLE if n > SILHOUETTE_SAMPLE else None
    for k in range(2, k_max + 1):
        with warnings.catch_warnings():
            # Near-duplicate positions can leave k-means with an empty cluster; the
            # silhouette then simply scores that k lower.
            warnings.simplefilter("ignore", ConvergenceWarning)
            labels = KMeans(n_clusters=k, n_init=10, random_state=random_state).fit_predict(
                positions
            )
        if len(np.unique(labels)) < 2:
            continue
        try:
            score = float(
                silhouette_score(positions, labels, sample_size=sample, random_state=random_state)
            )
        except ValueError:
            # A sample that caught only one cluster (a tiny one among thousands): this k
            # cannot be scored, and a k with a cluster that small would not be shown.
            continue
        if best[2] is None or score > best[2] + 1e-12:
            best = (labels.astype(np.intp), k, score)
    return best


def analyse_opinions(
    votes: Iterable[tuple[str, str, int]],
    texts: Mapping[str, str] | None = None,
    *,
    min_votes: int = MIN_VOTES,
    min_group_size: int = MIN_GROUP_SIZE,
    max_groups: int = MAX_GROUPS,
    random_state: int = RANDOM_STATE,
) -> OpinionAnalysis:
    """Find opinion groups, their representative statements, consensus and division.

    ``votes`` are ``(participant, statement, vote)`` with vote +1 agree, -1 disagree,
    0 pass; a later vote by the same person on the same statement replaces the earlier.
    ``texts`` maps statement ids to their wording for the output. Never raises on thin
    or uniform data: the result then has no groups and says why in ``reason``.

    Runs with one BLAS/OpenMP thread: the matrices are small enough that threads gain
    little, and beside a busy event loop on a shared machine they cost several times
    the work in contention (bench/opinion_speed.py: 11x the baseline with threads on a
    loaded 2-core machine, 3x with one).
    """
    with threadpool_limits(limits=1):
        return _analyse(
            votes,
            texts,
            min_votes=min_votes,
            min_group_size=min_group_size,
            max_groups=max_groups,
            random_state=random_state,
        )


def _analyse(
    votes: Iterable[tuple[str, str, int]],
    texts: Mapping[str, str] | None = None,
    *,
    min_votes: int = MIN_VOTES,
    min_group_size: int = MIN_GROUP_SIZE,
    max_groups: int = MAX_GROUPS,
    random_state: int = RANDOM_STATE,
) -> OpinionAnalysis:
    """``analyse_opinions``' work, run under its thread limit."""
    texts = texts or {}
    matrix = build_vote_matrix(votes)
    counts = matrix.votes_per_participant()
    eligible_mask = counts >= min_votes
    n_eligible = int(eligible_mask.sum())

    def result(reason: str | None, **fields: Any) -> OpinionAnalysis:
        defaults: dict[str, Any] = {
            "groups": (),
            "consensus": (),
            "consensus_disagree": (),
            "divisive": (),
            "points": (),
            "ungrouped": 0,
            "clusters": 0,
            "silhouette": None,
            "explained_variance": (0.0, 0.0),
            "statements": len(matrix.statements),
        }
        defaults.update(fields)
        return OpinionAnalysis(
            participants=len(matrix.participants),
            eligible=n_eligible,
            votes=len(matrix),
            min_votes=min_votes,
            min_group_size=min_group_size,
            reason=reason,
            **defaults,
        )

    if len(matrix) == 0:
        return result("No votes yet.")
    if n_eligible < 2:
        return result(f"Fewer than 2 participants have voted on at least {min_votes} statements.")

    # Rows of eligible participants only; columns of statements they voted on.
    keep_vote = eligible_mask[matrix.rows]
    old_rows, old_cols = matrix.rows[keep_vote], matrix.cols[keep_vote]
    values = matrix.values[keep_vote]
    eligible_ids = np.flatnonzero(eligible_mask)
    row_of = np.full(len(matrix.participants), -1, dtype=np.intp)
    row_of[eligible_ids] = np.arange(n_eligible)
    used_cols, cols = np.unique(old_cols, return_inverse=True)
    rows = row_of[old_rows]
    statements = [matrix.statements[c] for c in used_cols]
    participants = [matrix.participants[i] for i in eligible_ids]
    n, m = n_eligible, len(statements)

    agree = np.zeros((n, m))
    disagree = np.zeros((n, m))
    seen = np.zeros((n, m))
    agree[rows, cols] = values == AGREE
    disagree[rows, cols] = values == DISAGREE
    seen[rows, cols] = 1.0
    everyone = _Counts(agree.sum(axis=0), disagree.sum(axis=0), seen.sum(axis=0))

    def overall_consensus() -> dict[str, Any]:
        return {
            "consensus": _consensus([everyone], statements, texts, "agree", MAX_CONSENSUS),
            "consensus_disagree": _consensus(
                [everyone], statements, texts, "disagree", MAX_CONSENSUS
            ),
            "statements": m,
        }

    if m < 2:
        return result("Fewer than 2 statements have votes.", **overall_consensus())

    # Mean imputation then centring: a missing cell becomes exactly 0.
    observed = agree + disagree
    x = agree - disagree
    voted_on = observed.sum(axis=0)
    col_mean = np.divide(x.sum(axis=0), voted_on, out=np.zeros(m), where=voted_on > 0)
    centred = (x - col_mean) * observed
    unplaced = tuple(MapPoint(p, 0.0, 0.0, None) for p in participants)
    if not np.any(np.abs(centred) > 1e-9):
        return result(
            "Everyone voted the same way on every statement, so there are no opinion groups.",
            points=unplaced,
            ungrouped=n,
            **overall_consensus(),
        )

    from sklearn.decomposition import PCA  # type: ignore[import-untyped]

    pca = PCA(n_components=2, svd_solver="covariance_eigh")
    positions: FloatArray = pca.fit_transform(centred)
    # The paper's sparsity correction: scale by sqrt(statements / own votes) so people
    # who voted on few statements are not all drawn to the centre.
    per_row = observed.sum(axis=1)
    positions *= np.sqrt(m / np.maximum(per_row, 1.0))[:, None]
    variance = (float(pca.explained_variance_ratio_[0]), float(pca.explained_variance_ratio_[1]))

    labels, k, silhouette = _choose_clusters(positions, max_groups, random_state)
    common: dict[str, Any] = {
        "clusters": k,
        "silhouette": silhouette,
        "explained_variance": variance,
    }
    if k < 2:
        return result(
            "Participants' votes are too few or too alike to form opinion groups.",
            points=tuple(
                MapPoint(p, float(x_), float(y_), None)
                for p, (x_, y_) in zip(participants, positions, strict=True)
            ),
            ungrouped=n,
            **common,
            **overall_consensus(),
        )

    # Large clusters become groups, largest first (ties: leftmost, then lowest, centre).
    large = []
    for c in range(k):
        members = labels == c
        size = int(members.sum())
        if size >= min_group_size:
            cx, cy = positions[members].mean(axis=0)
            large.append((-size, round(float(cx), 9), round(float(cy), 9), c))
    large.sort()
    group_of = np.full(n, -1, dtype=np.intp)
    for g, (_, _, _, c) in enumerate(large):
        group_of[labels == c] = g
    points = tuple(
        MapPoint(p, float(px), float(py), int(g) if g >= 0 else None)
        for p, (px, py), g in zip(participants, positions, group_of, strict=True)
    )
    ungrouped = int((group_of < 0).sum())
    if len(large) < 2:
        what = "Only one group" if large else "No group"
        return result(
            f"{what} of at least {min_group_size} participants was found.",
            points=points,
            ungrouped=ungrouped,
            **common,
            **overall_consensus(),
        )

    counts_by_group = [
        _group_counts(group_of == g, agree, disagree, seen) for g in range(len(large))
    ]
    divisive = _divisive(counts_by_group, statements, texts, MAX_DIVISIVE)
    index = {s: j for j, s in enumerate(statements)}
    groups = []
    for g, group in enumerate(counts_by_group):
        # "Others" are all other placed participants, ungrouped ones included, so a
        # group is compared with everyone it is not.
        others = everyone - group
        groups.append(
            OpinionGroup(
                id=g,
                label=f"Group {chr(ord('A') + g)}",
                participants=tuple(
                    p for p, h in zip(participants, group_of, strict=True) if h == g
                ),
                representative=_representative(
                    group, others, statements, texts, MAX_REPRESENTATIVE
                ),
                divisive=tuple(
                    _group_on(group, others, index[d.statement], d.statement, d.text)
                    for d in divisive
                ),
            )
        )
    return result(
        None,
        groups=tuple(groups),
        consensus=_consensus(counts_by_group, statements, texts, "agree", MAX_CONSENSUS),
        consensus_disagree=_consensus(
            counts_by_group, statements, texts, "disagree", MAX_CONSENSUS
        ),
        divisive=divisive,
        points=points,
        ungrouped=ungrouped,
        statements=m,
        **common,
    )


# Okabe & Ito (2008) colour-blind-safe palette, darker members first so markers stand
# out on white; each group also has its own marker shape, so nothing relies on colour.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00")
SHAPES = ("circle", "square", "triangle", "diamond", "cross")
SHAPE_NAMES = ("circles", "squares", "triangles", "diamonds", "crosses")
UNGROUPED_COLOUR = "#768692"
TEXT = "#212B32"
AXIS = "#D8DDE0"


def _marker(shape: str, x: float, y: float, colour: str, r: float = 4.0) -> str:
    if shape == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="{colour}"/>'
    if shape == "square":
        s = r * 1.7
        return (
            f'<rect x="{x - s / 2:.1f}" y="{y - s / 2:.1f}" width="{s:.1f}" height="{s:.1f}" '
            f'fill="{colour}"/>'
        )
    if shape == "triangle":
        h = r * 1.2
        pts = f"{x:.1f},{y - h:.1f} {x - h:.1f},{y + h * 0.8:.1f} {x + h:.1f},{y + h * 0.8:.1f}"
        return f'<polygon points="{pts}" fill="{colour}"/>'
    if shape == "diamond":
        h = r * 1.3
        pts = f"{x:.1f},{y - h:.1f} {x + h:.1f},{y:.1f} {x:.1f},{y + h:.1f} {x - h:.1f},{y:.1f}"
        return f'<polygon points="{pts}" fill="{colour}"/>'
    h = r
    return (
        f'<path d="M{x - h:.1f},{y - h:.1f}L{x + h:.1f},{y + h:.1f}M{x - h:.1f},{y + h:.1f}'
        f'L{x + h:.1f},{y - h:.1f}" stroke="{colour}" stroke-width="2"/>'
    )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def opinion_map_svg(analysis: OpinionAnalysis) -> str:
    """An inline SVG map of placed participants, coloured and shaped by opinion group.

    Self-contained (no scripts, fonts or links), ``role="img"`` with a ``<title>`` and a
    ``<desc>`` that says in words what the map shows. Participants appear only as
    anonymous markers: no ids are written anywhere in the SVG.
    """
    width, height, legend_h = 560, 460, 24 * (len(analysis.groups) + 1) + 8
    plot = (20.0, 20.0, width - 20.0, height - legend_h - 10.0)  # left, top, right, bottom
    points = analysis.points
    xs = [p.x for p in points] or [0.0]
    ys = [p.y for p in points] or [0.0]
    span = max(max(xs) - min(xs), max(ys) - min(ys), 1e-9)
    # One scale for both axes: distances on the map mean the same in every direction.
    scale = min(plot[2] - plot[0], plot[3] - plot[1]) / span * 0.95
    cx, cy = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2
    mid_x, mid_y = (plot[0] + plot[2]) / 2, (plot[1] + plot[3]) / 2

    def at(p: MapPoint) -> tuple[float, float]:
        return mid_x + (p.x - cx) * scale, mid_y - (p.y - cy) * scale

    parts = [
        f'<rect x="{plot[0]}" y="{plot[1]}" width="{plot[2] - plot[0]}" '
        f'height="{plot[3] - plot[1]}" fill="none" stroke="{AXIS}"/>'
    ]
    # One marker per placed participant, all inside this element; ungrouped first so
    # group markers are drawn on top of them.
    parts.append('<g class="participants">')
    for p in points:
        if p.group is None:
            x, y = at(p)
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="none" stroke="{UNGROUPED_COLOUR}"/>'
            )
    for p in points:
        if p.group is not None:
            x, y = at(p)
            i = p.group % len(PALETTE)
            parts.append(_marker(SHAPES[i], x, y, PALETTE[i]))
    parts.append("</g>")

    legend_y = plot[3] + 24
    for i, g in enumerate(analysis.groups):
        y = legend_y + 24 * i
        j = g.id % len(PALETTE)
        parts.append(_marker(SHAPES[j], plot[0] + 10, y - 4, PALETTE[j], r=5))
        parts.append(
            f'<text x="{plot[0] + 24}" y="{y}">{escape(g.label)}: '
            f"{_plural(g.size, 'participant')}</text>"
        )
    if analysis.ungrouped:
        y = legend_y + 24 * len(analysis.groups)
        parts.append(
            f'<circle cx="{plot[0] + 10}" cy="{y - 4}" r="4" fill="none" '
            f'stroke="{UNGROUPED_COLOUR}"/>'
            f'<text x="{plot[0] + 24}" y="{y}">Not in any group: '
            f"{_plural(analysis.ungrouped, 'participant')}</text>"
        )
    if not points:
        parts.append(
            f'<text x="{mid_x}" y="{mid_y}" text-anchor="middle">Not enough votes for a map</text>'
        )

    title = "Opinion groups: participants placed by how they voted"
    if analysis.groups:
        desc = (
            f"Map of {_plural(len(points), 'participant')} who voted on at least "
            f"{analysis.min_votes} statements. People who voted alike are close together; "
            "the axes have no units. "
            + "; ".join(
                f"{g.label} ({SHAPE_NAMES[g.id % len(SHAPES)]}): {_plural(g.size, 'participant')}"
                for g in analysis.groups
            )
            + "."
        )
        if analysis.ungrouped:
            desc += (
                f" {_plural(analysis.ungrouped, 'participant')} (hollow circles) "
                f"{'is' if analysis.ungrouped == 1 else 'are'} not in "
                f"any group of at least {analysis.min_group_size}."
            )
    else:
        desc = f"No opinion groups. {analysis.reason or ''}".strip()
        if points:
            desc += f" The map shows {_plural(len(points), 'participant')} as hollow circles."
    # Element ids from the content, not a counter, so the same analysis gives the same SVG.
    key = hashlib.sha1(f"{desc}{len(parts)}".encode()).hexdigest()[:10]
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-labelledby="opinion-{key}-title '
        f'opinion-{key}-desc">'
        f'<title id="opinion-{key}-title">{escape(title)}</title>'
        f'<desc id="opinion-{key}-desc">{escape(desc)}</desc>'
        f'<g font-family="Arial, Helvetica, sans-serif" font-size="13" fill="{TEXT}">'
        f"{''.join(parts)}</g></svg>"
    )


def opinion_map_svg_from_json(section: Mapping[str, Any]) -> str:
    """The same map as :func:`opinion_map_svg`, drawn from a report's JSON.

    ``section`` holds ``opinion_groups`` (id, label, size), ``map.points``,
    ``ungrouped_participants``, ``min_votes``, ``min_group_size`` and ``reason``, as
    :meth:`OpinionAnalysis.to_json` writes them; renderers get only the report's dict.
    """
    groups = tuple(
        OpinionGroup(
            id=int(g["id"]),
            label=str(g["label"]),
            participants=tuple(str(p) for p in g["participants"]),
            representative=(),
            divisive=(),
        )
        for g in section.get("opinion_groups", ())
    )
    points = tuple(
        MapPoint(str(p["participant"]), float(p["x"]), float(p["y"]), p["group"])
        for p in section.get("map", {}).get("points", ())
    )
    analysis = OpinionAnalysis(
        groups=groups,
        consensus=(),
        consensus_disagree=(),
        divisive=(),
        points=points,
        participants=int(section.get("participants", 0)),
        eligible=int(section.get("eligible_participants", 0)),
        statements=int(section.get("statements", 0)),
        votes=int(section.get("votes", 0)),
        ungrouped=int(section.get("ungrouped_participants", 0)),
        clusters=int(section.get("clusters", 0)),
        silhouette=section.get("silhouette"),
        explained_variance=(0.0, 0.0),
        min_votes=int(section.get("min_votes", MIN_VOTES)),
        min_group_size=int(section.get("min_group_size", MIN_GROUP_SIZE)),
        reason=section.get("reason"),
    )
    return opinion_map_svg(analysis)
