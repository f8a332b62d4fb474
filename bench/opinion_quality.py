"""Quality of opinion groups on synthetic votes with planted groups and consensus.

    .venv/bin/python bench/opinion_quality.py [--seeds 10]

Three groups of 100 participants and 40 statements; each group has its own agreement
profile and 4 statements are agreed by everyone. 30% of votes are missing and 10% are
flipped. Prints the adjusted Rand index between found and planted groups (participants
not in any group count as one more cluster) and whether the planted consensus statements
were all found, with any others reported as consensus. Target: ARI >= 0.8, consensus found.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from sklearn.metrics import adjusted_rand_score  # type: ignore[import-untyped]

from consultations.insights.opinion import analyse_opinions

ROOT = Path(__file__).resolve().parent.parent
# The generator lives with the tests, which use it on a smaller scale.
sys.path.insert(0, str(ROOT))
from tests.insights.opinion_fixture import planted_votes  # noqa: E402

TARGET_ARI = 0.8


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--missing", type=float, default=0.3)
    parser.add_argument("--noise", type=float, default=0.1)
    args = parser.parse_args()
    rows = []
    print("seed  groups  k  silhouette    ARI  consensus  extra  seconds")
    for seed in range(args.seeds):
        planted = planted_votes(
            group_sizes=(100, 100, 100),
            statements=40,
            consensus=4,
            missing=args.missing,
            noise=args.noise,
            seed=seed,
        )
        started = time.perf_counter()
        analysis = analyse_opinions(planted.votes, planted.texts)
        seconds = time.perf_counter() - started
        found = {p.participant: -1 if p.group is None else p.group for p in analysis.points}
        ids = sorted(planted.truth)
        ari = adjusted_rand_score([planted.truth[i] for i in ids], [found.get(i, -2) for i in ids])
        consensus = {c.statement for c in analysis.consensus}
        all_found = set(planted.consensus) <= consensus
        extra = len(consensus - set(planted.consensus))
        rows.append(
            {
                "seed": seed,
                "groups": len(analysis.groups),
                "clusters": analysis.clusters,
                "silhouette": analysis.silhouette,
                "ari": ari,
                "consensus_found": all_found,
                "extra_consensus": extra,
                "seconds": seconds,
            }
        )
        print(
            f"{seed:>4}  {len(analysis.groups):>6}  {analysis.clusters}  "
            f"{analysis.silhouette or 0:>10.3f}  {ari:>5.3f}  {str(all_found):>9}  "
            f"{extra:>5}  {seconds:>7.2f}"
        )
    aris = [r["ari"] for r in rows]
    passed = min(aris) >= TARGET_ARI and all(r["consensus_found"] for r in rows)
    print(
        f"ARI mean {statistics.mean(aris):.3f}, min {min(aris):.3f} (target >= {TARGET_ARI}); "
        f"planted consensus found in {sum(r['consensus_found'] for r in rows)}/{len(rows)} "
        f"runs; {'PASS' if passed else 'FAIL'}"
    )
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "opinion_quality.json").write_text(json.dumps(rows, indent=2))
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
