"""Free-text replies as columns: nothing lost on the way in, and themes placed in batches."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest

from consultations.insights import ResponseRow, TextAnalysis, analyse_text, themes
from consultations.insights.columns import TextColumnsBuilder, TokenTable, split_rows
from consultations.insights.text import default_analyser
from consultations.insights.themes import ThemeInput, find_themes
from tests.insights import fixture

WIDTH = len(default_analyser().categories)


def test_rows_come_back_from_columns_as_they_went_in() -> None:
    rows = fixture.all_rows()
    blank = replace(rows[0], id=999, text="   ", analysis=None)
    responses = split_rows([*rows, blank], WIDTH)
    texts = responses.texts

    # Free text in columns, polls kept as records; a blank reply counts but is not read.
    assert len(texts) == len(fixture.COMMENTS) + 1
    assert [r.item_type for r in responses.rows] == ["poll"] * len(fixture.POLL_ANSWERS)
    assert int(texts.free.sum()) == len(fixture.COMMENTS)
    assert texts.has_text.all()
    for i, original in enumerate(fixture.text_rows()):
        assert texts.row(i) == original
    assert texts.row(len(texts) - 1).analysis is None
    # Stored rounded to three decimals, the scores are kept as small integers, exactly.
    assert texts.sentiment_mille is not None
    assert texts.categories_mille is not None
    assert int(texts.safety_flagged.sum()) == 1
    assert not texts.quotable[fixture.SAFETY_INDEX]


def test_scores_not_rounded_are_kept_as_floats() -> None:
    builder = TextColumnsBuilder(3)
    stamp = fixture.START
    exact = TextAnalysis(0.125, "neutral", ("wait",), (0.2, 0.3, 0.5), False, 3)
    finer = TextAnalysis(0.12345, "neutral", ("phone",), (1 / 3, 1 / 3, 1 / 3), True, 4)
    builder.add_batch([(1, "q", "prompt", "web", 7, stamp, (), "a wait", exact)])
    builder.add_batch([(2, "q", "prompt", "web", 8, stamp, '["safety"]', "a phone", finer)])
    texts = builder.finish()

    assert texts.sentiment_mille is None
    assert texts.sentiment.tolist() == [0.125, 0.12345]
    assert texts.category_matrix().tolist() == [[0.2, 0.3, 0.5], [1 / 3, 1 / 3, 1 / 3]]
    assert texts.analysis(1) == finer
    assert texts.flag_sets[int(texts.flags[1])] == ("safety",)


def test_stored_json_is_read_like_the_record_it_came_from() -> None:
    analysis = analyse_text("Please answer the phone, I waited an hour")
    builder = TextColumnsBuilder(WIDTH)
    builder.add_batch(
        [
            (5, "q", "thread", "telegram", 3, fixture.START, "[]", "Please answer", a)
            for a in (analysis, analysis.to_json())
        ]
    )
    texts = builder.finish()
    assert texts.analysis(0) == texts.analysis(1) == analysis


def test_token_table_takes_rows_in_any_order() -> None:
    table = TokenTable.from_lists([("a", "b"), (), ("c",), ("b", "d", "a")])
    taken = table.take(np.asarray([3, 0, 1]))
    assert [taken.tokens(i) for i in range(3)] == [("b", "d", "a"), ("a", "b"), ()]
    assert table.row_of_each().tolist() == [0, 0, 2, 3, 3, 3]


def _docs(copies: int) -> ThemeInput:
    rows: list[ResponseRow] = []
    for k in range(copies):
        for r in fixture.text_rows():
            rows.append(replace(r, id=r.id + 10_000 * k, created_at=r.created_at + timedelta(k)))
    texts = split_rows(rows, WIDTH).texts
    return ThemeInput(
        tokens=texts.tokens,
        categories=texts.category_matrix(),
        words=texts.words,
        quotable=texts.quotable,
        texts=texts.texts,
    )


def test_themes_placed_in_batches_are_the_themes_placed_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Fitted on a sample of 300 of 1,200 replies, then the rest placed: all at once,
    # then 256 at a time.
    docs = _docs(30)
    monkeypatch.setattr(themes, "FIT_SAMPLE", 300)
    whole, whole_assignment = find_themes(docs, default_analyser().categories)
    monkeypatch.setattr(themes, "WHOLE_LIMIT", 0)
    monkeypatch.setattr(themes, "PLACE_BATCH", 256)
    batched, batched_assignment = find_themes(docs, default_analyser().categories)

    assert len(docs) == 1_200
    assert batched_assignment.tolist() == whole_assignment.tolist()
    assert [t.label for t in batched] == [t.label for t in whole]
    assert [t.keywords for t in batched] == [t.keywords for t in whole]
    # Centres summed batch by batch differ in the last digits: two quotes of almost the
    # same relevance may swap places, but the same replies are quoted.
    assert [sorted(t.quotes) for t in batched] == [sorted(t.quotes) for t in whole]
    assert len(whole) > 1
