"""Replies to free-text items as columns: a few compact arrays instead of one object each.

A report over a million replies cannot hold a million Python objects (each reply with its
text, its tokens and nine category scores took about 1.5 kB that way). Here each field is
one numpy array: small integer codes for the item, channel and flags, per-mille integers
for the stored scores (they are stored rounded to three decimals, so nothing is lost),
the content words as one sparse table of word ids, and every text in one UTF-8 buffer.
The store fills them batch by batch (:class:`TextColumnsBuilder`); tests and callers
that already hold :class:`ResponseRow` records convert them with :func:`split_rows`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from consultations.insights.records import (
    LISTENING,
    MENTION_FLAG,
    PROMPT,
    SAFETY_FLAG,
    THREAD,
    ResponseRow,
)
from consultations.insights.suggestions import is_suggestion
from consultations.insights.text import (
    SENTIMENT_LABELS,
    SUGGESTIONS_VERSION,
    THEME_TOKENS_VERSION,
    TextAnalysis,
    analyse_text,
    text_tokens,
)


def _tokens_differ(body: str) -> bool:
    """Whether a reply's theme tokens stored before THEME_TOKENS_VERSION may be wrong:
    only words outside ASCII and redaction placeholders changed."""
    return not body.isascii() or "[" in body


#: Item types whose replies are words (themes, codebook, sentiment read them).
TEXT_ITEM_TYPES = (PROMPT, THREAD, LISTENING)

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = _EPOCH.date().toordinal()
_MICROSECOND = timedelta(microseconds=1)
#: Microseconds in a day.
DAY_US = 86_400_000_000
_LABEL_CODE = {label: code for code, label in enumerate(SENTIMENT_LABELS)}
#: Scores are stored rounded to three decimals: kept as integers per mille when exact.
_MILLE = 1000.0


def day_of(microseconds: int) -> date:
    """The UTC date of a time given in microseconds since 1970."""
    return date.fromordinal(_EPOCH_ORDINAL + microseconds // DAY_US)


def day_number(at: datetime) -> int:
    """Days since 1970 of a timezone-aware time's UTC date."""
    return ((at - _EPOCH) // _MICROSECOND) // DAY_US


@dataclass(frozen=True)
class TokenTable:
    """Each reply's content words as ids into ``vocab`` (compressed sparse rows)."""

    ptr: IntArray
    ids: npt.NDArray[np.int32]
    vocab: tuple[str, ...]

    @classmethod
    def from_lists(cls, token_lists: Sequence[Sequence[str]]) -> TokenTable:
        """The table of plain token lists (one per reply)."""
        vocab: dict[str, int] = {}
        setdefault = vocab.setdefault
        ids = [setdefault(t, len(vocab)) for tokens in token_lists for t in tokens]
        ptr = np.zeros(len(token_lists) + 1, dtype=np.int64)
        np.cumsum([len(t) for t in token_lists], out=ptr[1:])
        return cls(ptr, np.asarray(ids, dtype=np.int32), tuple(vocab))

    def __len__(self) -> int:
        return len(self.ptr) - 1

    def tokens(self, i: int) -> tuple[str, ...]:
        """Reply ``i``'s tokens, in order of first use."""
        vocab = self.vocab
        return tuple(vocab[j] for j in self.ids[self.ptr[i] : self.ptr[i + 1]].tolist())

    def take(self, index: IntArray) -> TokenTable:
        """The rows ``index``, in that order."""
        lengths = (self.ptr[1:] - self.ptr[:-1])[index]
        ptr = np.zeros(len(index) + 1, dtype=np.int64)
        np.cumsum(lengths, out=ptr[1:])
        starts = np.repeat(self.ptr[:-1][index] - ptr[:-1], lengths)
        positions = starts + np.arange(int(ptr[-1]), dtype=np.int64)
        return TokenTable(ptr, self.ids[positions], self.vocab)

    def row_of_each(self) -> IntArray:
        """For each stored id, the reply it belongs to."""
        return np.repeat(np.arange(len(self), dtype=np.int64), np.diff(self.ptr))


class TextView(Sequence[str]):
    """The texts of a :class:`TextColumns` as a read-only sequence, decoded when read."""

    def __init__(self, columns: TextColumns) -> None:
        self._columns = columns

    def __len__(self) -> int:
        return len(self._columns)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self._columns.text(j) or "" for j in range(*i.indices(len(self)))]
        return self._columns.text(int(i)) or ""


@dataclass(frozen=True)
class TextColumns:
    """Every response to a free-text item, one array per field (one row each).

    Attributes:
        ids: response ids.
        item, channel, item_type, flags: codes into ``items``, ``channels``,
            ``item_types`` and ``flag_sets``.
        participant: a participant key (the participant id in the store); the
            pseudonym of a key is in ``names`` where it was loaded.
        created: when each was stored, in microseconds since 1970 (UTC).
        has_text: the response has a text (possibly blank); ``free``: a non-blank one,
            the replies themes, codebook and sentiment read.
        text_start, text_end: each text's bytes in ``text_data`` (UTF-8).
        sentiment_mille, label, categories_mille, suggestion, words, tokens: the stored
            analysis (see :class:`TextAnalysis`); scores per mille, or as floats in
            ``sentiment_float`` and ``categories_float`` when not stored rounded.
        segments: participant key -> self-descriptions, for those who gave any.
    """

    ids: IntArray
    item: npt.NDArray[np.int16]
    items: tuple[str, ...]
    item_type: npt.NDArray[np.int8]
    item_types: tuple[str, ...]
    channel: npt.NDArray[np.int16]
    channels: tuple[str, ...]
    participant: IntArray
    created: IntArray
    flags: npt.NDArray[np.int16]
    flag_sets: tuple[tuple[str, ...], ...]
    has_text: BoolArray
    free: BoolArray
    text_start: IntArray
    text_end: IntArray
    text_data: bytes | bytearray
    label: npt.NDArray[np.int8]
    suggestion: BoolArray
    words: npt.NDArray[np.int32]
    tokens: TokenTable
    sentiment_mille: npt.NDArray[np.int16] | None = None
    sentiment_float: FloatArray | None = None
    categories_mille: npt.NDArray[np.uint16] | None = None
    categories_float: FloatArray | None = None
    segments: Mapping[int, Mapping[str, str]] = field(default_factory=dict)
    names: Mapping[int, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    # Whole columns, decoded.

    @property
    def sentiment(self) -> FloatArray:
        """Sentiment scores in [-1, 1]."""
        if self.sentiment_float is not None:
            return self.sentiment_float
        assert self.sentiment_mille is not None
        return self.sentiment_mille.astype(np.float64) / _MILLE

    def category_matrix(self, index: IntArray | None = None) -> FloatArray:
        """Default-codebook probabilities as an (n, categories) array, or of rows ``index``."""
        if self.categories_float is not None:
            return self.categories_float if index is None else self.categories_float[index]
        assert self.categories_mille is not None
        part = self.categories_mille if index is None else self.categories_mille[index]
        return part.astype(np.float64) / _MILLE

    def flag_mask(self, *flags: str) -> BoolArray:
        """Rows carrying any of ``flags``."""
        codes = [c for c, s in enumerate(self.flag_sets) if any(f in s for f in flags)]
        return np.isin(self.flags, codes)

    @property
    def safety_flagged(self) -> BoolArray:
        """Safety-flagged rows (counted, never quoted)."""
        return self.flag_mask(SAFETY_FLAG)

    @property
    def quotable(self) -> BoolArray:
        """Rows whose words may appear in a report (see :attr:`ResponseRow.quotable`)."""
        listened = (
            self.item_type == self.item_types.index(LISTENING)
            if (LISTENING in self.item_types)
            else np.zeros(len(self), dtype=bool)
        )
        return ~self.safety_flagged & (~listened | self.flag_mask(MENTION_FLAG))

    @property
    def days(self) -> IntArray:
        """Each row's UTC date as days since 1970."""
        return self.created // DAY_US

    @property
    def texts(self) -> TextView:
        """Every text as a sequence (blank for a row without one)."""
        return TextView(self)

    # One row.

    def text(self, i: int) -> str | None:
        """Row ``i``'s text."""
        if not self.has_text[i]:
            return None
        return self.text_data[self.text_start[i] : self.text_end[i]].decode("utf-8")

    def analysis(self, i: int) -> TextAnalysis:
        """Row ``i``'s analysis as a record (for the few rows read one at a time)."""
        return TextAnalysis(
            sentiment=float(self.sentiment[i]),
            label=SENTIMENT_LABELS[int(self.label[i])],
            tokens=self.tokens.tokens(i),
            categories=tuple(self.category_matrix(np.asarray([i]))[0].tolist()),
            suggestion=bool(self.suggestion[i]),
            words=int(self.words[i]),
        )

    def row(self, i: int) -> ResponseRow:
        """Row ``i`` as a :class:`ResponseRow` (for the few rows quoted or listed)."""
        key = int(self.participant[i])
        return ResponseRow(
            id=int(self.ids[i]),
            item_id=self.items[int(self.item[i])],
            item_type=self.item_types[int(self.item_type[i])],
            channel=self.channels[int(self.channel[i])],
            participant=self.names.get(key, str(key)),
            segments=self.segments.get(key, {}),
            choices=(),
            text=self.text(i),
            created_at=_EPOCH + int(self.created[i]) * _MICROSECOND,
            flags=self.flag_sets[int(self.flags[i])],
            analysis=self.analysis(i) if self.free[i] else None,
        )

    def select(self, index: IntArray | BoolArray) -> TextColumns:
        """The rows ``index`` (positions or a mask), in that order; itself when all, in order."""
        given = np.asarray(index)
        if given.dtype == np.bool_:
            if given.all():
                return self
            given = np.flatnonzero(given)
        index = given.astype(np.int64)
        if len(index) == len(self) and (index == np.arange(len(self))).all():
            return self

        def part(a: Any) -> Any:
            return None if a is None else a[index]

        return replace(
            self,
            ids=self.ids[index],
            item=self.item[index],
            item_type=self.item_type[index],
            channel=self.channel[index],
            participant=self.participant[index],
            created=self.created[index],
            flags=self.flags[index],
            has_text=self.has_text[index],
            free=self.free[index],
            text_start=self.text_start[index],
            text_end=self.text_end[index],
            label=self.label[index],
            suggestion=self.suggestion[index],
            words=self.words[index],
            tokens=self.tokens.take(index),
            sentiment_mille=part(self.sentiment_mille),
            sentiment_float=part(self.sentiment_float),
            categories_mille=part(self.categories_mille),
            categories_float=part(self.categories_float),
        )


def _microseconds(stamps: Sequence[datetime | str]) -> IntArray:
    """Times as microseconds since 1970: timezone-aware datetimes, or the UTC text SQLite
    stores (``YYYY-MM-DD HH:MM:SS.ffffff``), parsed in one call."""
    if stamps and isinstance(stamps[0], str):
        try:
            return np.asarray(stamps, dtype="datetime64[us]").astype(np.int64)
        except ValueError:
            stamps = [datetime.fromisoformat(str(s)).replace(tzinfo=UTC) for s in stamps]
    return np.asarray(
        [(at - _EPOCH) // _MICROSECOND for at in stamps],  # type: ignore[operator]
        dtype=np.int64,
    )


def distinct(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """The sorted distinct values of an array (by sorting: numpy's hashing ``unique`` is
    several times slower on a million integers)."""
    ordered = np.sort(values)
    if len(ordered) < 2:
        return ordered
    keep = np.empty(len(ordered), dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def count_by_group(
    groups: npt.NDArray[np.int64], keys: npt.NDArray[np.int64]
) -> tuple[list[int], list[int], list[int]]:
    """For each group value (ascending): the rows in it and the distinct keys in it."""
    if len(groups) == 0:
        return [], [], []
    order = np.lexsort((keys, groups))
    g = groups[order]
    k = keys[order]
    new_group = np.empty(len(g), dtype=bool)
    new_group[0] = True
    np.not_equal(g[1:], g[:-1], out=new_group[1:])
    new_key = new_group.copy()
    new_key[1:] |= k[1:] != k[:-1]
    starts = np.flatnonzero(new_group)
    rows = np.diff(np.append(starts, len(g)))
    people = np.add.reduceat(new_key.astype(np.int64), starts)
    return g[starts].tolist(), rows.tolist(), people.tolist()


def _exact_mille(values: FloatArray, low: int, high: int) -> npt.NDArray[np.int64] | None:
    """``values`` as integers per mille when that loses nothing, else None."""
    if not len(values):
        return np.zeros(values.shape, dtype=np.int64)
    mille = np.rint(values * _MILLE)
    if mille.min() < low or mille.max() > high or not (mille / _MILLE == values).all():
        return None
    return mille.astype(np.int64)


class TextColumnsBuilder:
    """Fills :class:`TextColumns` from batches of responses, keeping only compact arrays."""

    def __init__(self, categories: int) -> None:
        self._width = categories
        self._codes: dict[str, dict[Any, int]] = {
            "item": {},
            "item_type": {},
            "channel": {},
            "flags": {},
        }
        self._flag_sets: list[tuple[str, ...]] = []
        self._vocab: dict[str, int] = {}
        self._parts: dict[str, list[Any]] = {}
        self._text = bytearray()
        self._token_count = 0
        self.segments: dict[int, Mapping[str, str]] = {}
        self.names: dict[int, str] = {}

    def _codes_of(self, kind: str, values: Sequence[Any]) -> list[int]:
        table = self._codes[kind]
        for value in set(values) - table.keys():
            table[value] = len(table)
        return list(map(table.__getitem__, values))

    def _flag_codes(self, values: Sequence[Any]) -> list[int]:
        """``values`` are the stored JSON texts of the flags, or sequences of flags."""
        table = self._codes["flags"]
        for raw in set(values) - table.keys():
            if raw is None:
                flags: tuple[str, ...] = ()
            elif isinstance(raw, str | bytes):
                flags = tuple(orjson.loads(raw) or ())
            else:
                flags = tuple(raw)
            table[raw] = len(table)
            self._flag_sets.append(flags)
        return list(map(table.__getitem__, values))

    def add_batch(self, batch: Sequence[Sequence[Any]]) -> None:
        """Add rows of ``(id, item_id, item_type, channel, participant key, created_at,
        flags, text, analysis)``; flags and analysis may be JSON text, a list or dict,
        a :class:`TextAnalysis` or None (then the text is analysed here)."""
        if not batch:
            return
        # One column at a time (a transpose in C), then one pass over the analyses.
        ids, item_ids, item_types, channels, keys, stamps, raw_flags, bodies, stored = zip(
            *batch, strict=True
        )
        size = len(ids)
        width = self._width
        free = [bool(b) and not b.isspace() for b in bodies]
        texts = [b.encode("utf-8") if b else b"" for b in bodies]
        sentiment = np.zeros(size, dtype=np.float64)
        label = np.full(size, _LABEL_CODE["neutral"], dtype=np.int8)
        categories: list[float] = []
        suggestion = np.zeros(size, dtype=bool)
        words = np.zeros(size, dtype=np.int32)
        token_counts = np.zeros(size, dtype=np.int64)
        token_ids: list[int] = []
        vocab = self._vocab
        setdefault = vocab.setdefault
        get = vocab.get
        label_code = _LABEL_CODE
        loads = orjson.loads
        blank = (0.0,) * width
        for i, (body, data) in enumerate(zip(bodies, stored, strict=True)):
            if not free[i]:
                categories.extend(blank)
                continue
            if isinstance(data, str | bytes):
                # JSON null (stored by versions that kept no analysis) is none either.
                data = loads(data)
            if data is None:
                data = analyse_text(body)
            if isinstance(data, TextAnalysis):
                if data.version < SUGGESTIONS_VERSION:
                    # Stored before suggestions were read clause by clause: read them again.
                    data = replace(data, suggestion=is_suggestion(body))
                if data.version < THEME_TOKENS_VERSION and _tokens_differ(body):
                    data = replace(data, tokens=text_tokens(body))
                sentiment[i] = data.sentiment
                label[i] = label_code[data.label]
                categories.extend(data.categories)
                suggestion[i] = data.suggestion
                words[i] = data.words
                tokens: Sequence[str] = data.tokens
            else:
                sentiment[i] = data["sentiment"]
                label[i] = label_code[data["label"]]
                categories.extend(data["categories"])
                version = data.get("version", 0)
                suggestion[i] = (
                    data["suggestion"] if version >= SUGGESTIONS_VERSION else is_suggestion(body)
                )
                words[i] = data["words"]
                tokens = (
                    text_tokens(body)
                    if version < THEME_TOKENS_VERSION and _tokens_differ(body)
                    else data["tokens"]
                )
            found: list[Any] = list(map(get, tokens))
            if None in found:  # a word not seen before (rare after the first batches)
                found = [setdefault(t, len(vocab)) for t in tokens]
            token_ids.extend(found)
            token_counts[i] = len(tokens)
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=size)
        ends = np.cumsum(lengths) + len(self._text)
        self._text.extend(b"".join(texts))
        category_array = np.asarray(categories, dtype=np.float64).reshape(size, width)
        parts = {
            "ids": np.asarray(ids, dtype=np.int64),
            "item": np.asarray(self._codes_of("item", item_ids), dtype=np.int16),
            "item_type": np.asarray(self._codes_of("item_type", item_types), dtype=np.int8),
            "channel": np.asarray(self._codes_of("channel", channels), dtype=np.int16),
            "participant": np.asarray(keys, dtype=np.int64),
            "created": _microseconds(stamps),
            "flags": np.asarray(self._flag_codes(raw_flags), dtype=np.int16),
            "has_text": np.asarray([b is not None for b in bodies], dtype=bool),
            "free": np.asarray(free, dtype=bool),
            "text_start": ends - lengths,
            "text_end": ends,
            "label": label,
            "suggestion": suggestion,
            "words": words,
            "token_ids": np.asarray(token_ids, dtype=np.int32),
            "token_counts": token_counts,
        }
        # Compact when exact (they are stored rounded to three decimals), else as given.
        mille = _exact_mille(sentiment, -1000, 1000)
        parts["sentiment"] = sentiment if mille is None else mille.astype(np.int16)
        mille = _exact_mille(category_array, 0, 1000)
        parts["categories"] = category_array if mille is None else mille.astype(np.uint16)
        for name, array in parts.items():
            self._parts.setdefault(name, []).append(array)

    def finish(self) -> TextColumns:
        """The columns of every row added."""
        width = self._width

        # Each column's batches are joined and let go one column at a time, so at most
        # one column is held twice.

        def joined(name: str, dtype: Any, shape: tuple[int, ...] = (0,)) -> Any:
            arrays = self._parts.pop(name, [])
            return np.concatenate(arrays) if arrays else np.zeros(shape, dtype=dtype)

        def scores(name: str, shape: tuple[int, ...]) -> tuple[Any, Any]:
            arrays = self._parts.pop(name, [])
            if not arrays:
                return np.zeros(shape, dtype=np.int16 if len(shape) == 1 else np.uint16), None
            if all(a.dtype != np.float64 for a in arrays):
                return np.concatenate(arrays), None
            return None, np.concatenate(
                [a if a.dtype == np.float64 else a.astype(np.float64) / _MILLE for a in arrays]
            )

        counts = joined("token_counts", np.int64)
        ptr = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=ptr[1:])
        sentiment_mille, sentiment_float = scores("sentiment", (0,))
        categories_mille, categories_float = scores("categories", (0, width))

        def names(kind: str) -> tuple[Any, ...]:
            return tuple(self._codes[kind])

        return TextColumns(
            ids=joined("ids", np.int64),
            item=joined("item", np.int16),
            items=names("item"),
            item_type=joined("item_type", np.int8),
            item_types=names("item_type"),
            channel=joined("channel", np.int16),
            channels=names("channel"),
            participant=joined("participant", np.int64),
            created=joined("created", np.int64),
            flags=joined("flags", np.int16),
            flag_sets=tuple(self._flag_sets),
            has_text=joined("has_text", bool),
            free=joined("free", bool),
            text_start=joined("text_start", np.int64),
            text_end=joined("text_end", np.int64),
            text_data=self._text,
            label=joined("label", np.int8),
            suggestion=joined("suggestion", bool),
            words=joined("words", np.int32),
            tokens=TokenTable(ptr, joined("token_ids", np.int32), tuple(self._vocab)),
            sentiment_mille=sentiment_mille,
            sentiment_float=sentiment_float,
            categories_mille=categories_mille,
            categories_float=categories_float,
            segments=self.segments,
            names=self.names,
        )


@dataclass(frozen=True)
class Responses:
    """A consultation's responses as reports read them.

    ``rows`` are the responses to items that take no free text (polls, segments,
    statements, votes); ``texts`` every response to a free-text item, as columns;
    ``keys`` the participant key (as in ``texts.participant``) of each pseudonym in
    ``rows``, so that people are counted once across both.
    """

    rows: Sequence[ResponseRow]
    texts: TextColumns
    keys: Mapping[str, int]

    def key(self, participant: str) -> int:
        """The key of a pseudonym seen in ``rows``."""
        return self.keys[participant]


def empty_columns(categories: int) -> TextColumns:
    """Columns with no rows."""
    return TextColumnsBuilder(categories).finish()


def split_rows(rows: Sequence[ResponseRow], categories: int) -> Responses:
    """Records as :class:`Responses`: free-text replies to columns, the rest kept as they are."""
    keys: dict[str, int] = {}
    for r in rows:
        keys.setdefault(r.participant, len(keys))
    builder = TextColumnsBuilder(categories)
    text = [r for r in rows if r.item_type in TEXT_ITEM_TYPES]
    builder.add_batch(
        [
            (
                r.id,
                r.item_id,
                r.item_type,
                r.channel,
                keys[r.participant],
                r.created_at,
                r.flags,
                r.text,
                r.analysis,
            )
            for r in text
        ]
    )
    for r in text:
        if r.segments:
            builder.segments[keys[r.participant]] = r.segments
    builder.names.update({v: k for k, v in keys.items()})
    others = [r for r in rows if r.item_type not in TEXT_ITEM_TYPES]
    return Responses(others, builder.finish(), keys)
