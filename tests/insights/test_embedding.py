"""The static embedding shipped with the package, and the fallback without it."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from consultations.insights.embedding import (
    EMBEDDING_FILE,
    StaticEmbedding,
    default_embedding,
    load_embedding,
)
from consultations.insights.text import (
    EMBEDDING_MODEL_FILE,
    TextAnalyser,
    default_analyser,
    default_model,
)

DATA = resources.files("consultations.insights").joinpath("data")


def test_the_shipped_file_is_compact_float16_with_its_licence_recorded() -> None:
    assert DATA.joinpath(EMBEDDING_FILE).is_file()
    with np.load(str(DATA.joinpath(EMBEDDING_FILE)), allow_pickle=False) as data:
        assert data["vectors"].dtype == np.float16
        assert data["vectors"].shape[0] == len(data["words"]) > 10_000
        assert "all-MiniLM-L6-v2" in str(data["source"])
    assert DATA.joinpath(EMBEDDING_FILE).stat().st_size < 5_000_000
    source = DATA.joinpath("SOURCE.txt").read_text(encoding="utf-8")
    assert "static_embedding.npz" in source and "Apache" in source
    licence = DATA.joinpath("all-MiniLM-L6-v2_LICENSE.txt").read_text(encoding="utf-8")
    assert "Apache License" in licence and "Version 2.0" in licence


def test_a_reply_vector_is_the_unit_mean_of_its_known_words() -> None:
    emb = StaticEmbedding(["wait", "phone", "kind"], np.array([[1, 0], [0, 1], [-1, 0]]))
    got = emb.embed_many([["wait", "phone"], ["kind", "unknown"], ["unknown"], []])
    assert got[0] == pytest.approx([2**-0.5, 2**-0.5])
    assert got[1] == pytest.approx([-1.0, 0.0])
    assert not got[2].any() and not got[3].any()
    assert emb.embed(["phone"]) == pytest.approx([0.0, 1.0])


def test_a_file_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "emb.npz"
    np.savez(path, vectors=np.eye(3, dtype=np.float16), words=np.asarray(["a", "b", "c"]))
    emb = load_embedding(path)
    assert emb.dims == 3 and emb.index == {"a": 0, "b": 1, "c": 2}


def test_similar_replies_in_different_words_are_near() -> None:
    emb = default_embedding()
    assert emb is not None
    rude = emb.embed(["receptionist", "rude"])
    abrupt = emb.embed(["front", "desk", "unfriendly"])
    parking = emb.embed(["car", "park", "expensive"])
    assert float(rude @ abrupt) > float(rude @ parking)


def test_the_default_analyser_reads_the_embedding_and_the_fallback_works_without() -> None:
    analyser = default_analyser()
    assert DATA.joinpath(EMBEDDING_MODEL_FILE).is_file()
    with_embedding = analyser.analyse("The receptionist was abrupt and unhelpful")
    # The fallback: the words-only model, no embedding at all.
    words_only = TextAnalyser(default_model())
    without = words_only.analyse("The receptionist was abrupt and unhelpful")
    assert without.label == "negative"
    # With the embedding this reply reads less firmly negative (near the neutral band's
    # edge): the survey's idiom weighs on "receptionist"; its sign must still be right.
    assert with_embedding.sentiment < 0 and with_embedding.label != "positive"
    assert len(without.categories) == len(with_embedding.categories) == 9
    assert abs(sum(without.categories) - 1) < 0.01
    # A model trained with the embedding but given none ignores that head.
    import json

    model = json.loads(DATA.joinpath(EMBEDDING_MODEL_FILE).read_text(encoding="utf-8"))
    blind = TextAnalyser(model, embedding=None).analyse("Lovely kind nurses")
    assert blind.label == "positive"
