"""Draw ``text_data_sample.csv`` from the full pxtextmining file (see README.md here).

    python tests/data/pxtextmining/make_sample.py ../shared/data/pxtextmining-phase1/text_data.csv

Stratified by the major theme (``label``): each theme keeps its share of the file, rounded
by largest remainder; rows are drawn with a fixed seed and written in the file's order,
with every column as it was.
"""

from __future__ import annotations

import csv
import random
import sys
from collections import defaultdict
from pathlib import Path

SIZE = 2000
SEED = 20240601
HERE = Path(__file__).resolve().parent


def sample(rows: list[dict[str, str]], size: int, seed: int) -> list[dict[str, str]]:
    """``size`` rows, each label keeping its share, in the order of ``rows``."""
    by_label: dict[str, list[int]] = defaultdict(list)
    for index, row in enumerate(rows):
        by_label[row["label"]].append(index)
    shares = {label: size * len(indices) / len(rows) for label, indices in by_label.items()}
    counts = {label: int(share) for label, share in shares.items()}
    by_remainder = sorted(shares, key=lambda label: (counts[label] - shares[label], label))
    for label in by_remainder[: size - sum(counts.values())]:
        counts[label] += 1
    generator = random.Random(seed)
    chosen: list[int] = []
    for label in sorted(by_label):
        chosen += generator.sample(by_label[label], counts[label])
    return [rows[index] for index in sorted(chosen)]


def main(source: Path) -> None:
    with source.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        fields = list(reader.fieldnames or [])
        rows = list(reader)
    target = HERE / "text_data_sample.csv"
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(sample(rows, SIZE, SEED))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
