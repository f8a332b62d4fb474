"""Synthetic statement votes with planted opinion groups, for tests and benchmarks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PlantedVotes:
    """Votes with the groups and consensus statements they were generated from."""

    votes: list[tuple[str, str, int]]
    texts: dict[str, str]
    truth: dict[str, int]
    consensus: tuple[str, ...]


def planted_votes(
    *,
    group_sizes: tuple[int, ...] = (100, 100, 100),
    statements: int = 40,
    consensus: int = 4,
    missing: float = 0.3,
    noise: float = 0.1,
    seed: int = 0,
    prefix: str = "person",
) -> PlantedVotes:
    """Each group has its own agree/disagree profile; ``consensus`` statements all agree.

    Every non-consensus statement splits the groups (no profile is the same for every
    group), so the only statements everyone agrees with are the planted ones. A share
    ``missing`` of cells is left unvoted and a share ``noise`` of votes is flipped.
    """
    rng = np.random.default_rng(seed)
    k = len(group_sizes)
    profiles = np.ones((k, statements), dtype=int)
    for j in range(consensus, statements):
        while True:
            column = rng.choice([-1, 1], size=k)
            if k == 1 or len(set(column.tolist())) > 1:
                break
        profiles[:, j] = column
    ids = [f"s{j:03d}" for j in range(statements)]
    votes: list[tuple[str, str, int]] = []
    truth: dict[str, int] = {}
    person = 0
    for g, size in enumerate(group_sizes):
        for _ in range(size):
            pid = f"{prefix}-{person:05d}"
            person += 1
            truth[pid] = g
            shown = rng.random(statements) >= missing
            flipped = rng.random(statements) < noise
            for j in np.flatnonzero(shown).tolist():
                vote = int(profiles[g, j]) * (-1 if flipped[j] else 1)
                votes.append((pid, ids[j], vote))
    order = rng.permutation(len(votes))
    return PlantedVotes(
        votes=[votes[i] for i in order],
        texts={s: f"Statement {s}" for s in ids},
        truth=truth,
        consensus=tuple(ids[:consensus]),
    )
