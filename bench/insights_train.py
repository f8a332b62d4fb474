"""Retrain the shipped text model from the pxtextmining file.

    .venv/bin/python bench/insights_train.py [PATH_TO_text_data.csv]

Writes consultations/insights/data/pxtextmining_model.json (words only: the fallback)
and, when the static embedding is shipped (bench/distil_embedding.py), the model that
also reads it, pxtextmining_model_embedding.json. Bump ANALYSIS_VERSION in
consultations/insights/text.py when the result changes, so stored analyses are redone.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from consultations.insights.embedding import default_embedding
from consultations.insights.text import EMBEDDING_MODEL_FILE
from consultations.insights.training import fit_model, read_pxtextmining

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "pxtextmining-phase1" / "text_data.csv"
OUTPUT = ROOT / "consultations" / "insights" / "data" / "pxtextmining_model.json"


def main() -> int:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DATA
    if not path.exists():
        print(f"pxtextmining data not found at {path}; nothing to train on", file=sys.stderr)
        return 2
    comments = read_pxtextmining(path)
    model = fit_model(comments)
    OUTPUT.write_text(json.dumps(model, separators=(",", ":")), encoding="utf-8")
    print(f"{len(comments)} comments, {len(model['features'])} features -> {OUTPUT}")
    embedding = default_embedding()
    if embedding is not None:
        with_embedding = fit_model(comments, embedding=embedding)
        target = OUTPUT.with_name(EMBEDDING_MODEL_FILE)
        target.write_text(json.dumps(with_embedding, separators=(",", ":")), encoding="utf-8")
        print(f"with the static embedding ({embedding.dims} d) -> {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
