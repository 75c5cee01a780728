"""The rare word n-gram index behind the coverage, rewrite and semantic stages and training-row dedup, and the
coverage rule's settings (`CoverageConfig`, shared by the coverage stage and near-duplicate dedup).

Texts are folded into word tokens (`text.words`), tokens get integer ids, and each word n-gram (n <= 3) is packed
exactly into one uint64 key (no hashing, no collisions). N-grams shared by more than `stock_df` indexed texts are
stock phrases and ignored; the rest are "rare" and posted to the units (texts) that contain them.
"""

from __future__ import annotations

import functools
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from medrl.detection.arrays import ArrayReader, Arrays, encode_lists, encode_string_sets, encode_strings
from medrl.detection.stage_settings import StageSettings
from medrl.detection.text import folded_options, question_stem, words
from medrl.errors import MedrlError

# Token ids are packed into n-gram keys exactly: 21 bits per token, n <= 3.
_ID_BITS = 21
MAX_VOCAB = (1 << _ID_BITS) - 1

Options = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class CoverageConfig(StageSettings):
    """Rare word n-gram coverage of one benchmark item by one row, after Unicode/case/punctuation folding.

    Word n-grams shared by more than `stock_df` benchmark texts are stock phrases ("which of the following is the
    most likely diagnosis") and say nothing about which item a row copies, so they are ignored. A row is flagged
    against an item when the row covers at least `min_item_coverage` of the item's rare n-grams, and at least
    `min_item_shared` of them (all of them for an item with fewer): the benchmark
    question is in the row: verbatim, wrapped, with options appended or shuffled, with a few numbers edited or a
    sentence dropped. Or when at least `min_row_coverage` of the row's own n-grams come from the item and they
    share at least `min_shared` rare n-grams (the row is a truncated copy). Items whose question has fewer than
    `generic_min_rare` rare n-grams are short or generic ("Typical lipoprotein contains", "Which of the following
    is true?"): coverage cannot tell them apart, so they match only when the row contains the whole question and
    either carries at least `min_option_overlap` of the item's options, or carries no options and is no more than
    `short_row_slack` words longer than the question (an instruction around it).
    A paragraph of a long text (checked on its own, see `medrl.detection.paragraphs`) is a truncated copy only when
    it also covers `min_paragraph_item_coverage` of the item: a case's lab panel or stock sentences are fragments of
    many items (the normal values "Cl-: 102 mEq/L, K+: 4.4 mEq/L, HCO3-: 24 mEq/L" recur across cases), a cut copy
    keeps a good part of its item.
    """

    n: int = 3
    stock_df: int = 10
    min_item_coverage: float = 0.5
    min_item_shared: int = 4
    min_row_coverage: float = 0.6
    min_shared: int = 10
    generic_min_rare: int = 6
    min_option_overlap: float = 0.5
    short_row_slack: int = 40
    min_paragraph_item_coverage: float = 0.3

    def __post_init__(self) -> None:
        if not 1 <= self.n <= 3:
            raise MedrlError(f"coverage.n must be 1..3 (n-grams are packed exactly into 63 bits), got {self.n}")
        self.check_fractions("coverage", "min_item_coverage", "min_row_coverage", "min_paragraph_item_coverage")
        if self.stock_df < 1 or self.min_shared < 1 or self.generic_min_rare < 0:
            raise MedrlError("coverage.stock_df and coverage.min_shared must be >= 1, generic_min_rare >= 0")


def pack_ngrams(ids: np.ndarray, n: int) -> np.ndarray:
    """The uint64 keys of every word n-gram of a token-id sequence (empty when it is shorter than n)."""
    ids = ids.astype(np.uint64, copy=False)
    if len(ids) < n:
        return np.empty(0, dtype=np.uint64)
    keys = ids[: len(ids) - n + 1].copy()
    for offset in range(1, n):
        keys = (keys << np.uint64(_ID_BITS)) | ids[offset : len(ids) - n + 1 + offset]
    return keys


def member(sorted_keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """`np.isin(values, sorted_keys)` by binary search: much faster against a large sorted key array."""
    return _search(sorted_keys, values)[0]


def lookup(sorted_keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(whether each value is in `sorted_keys`, the positions there of those that are), by one binary search."""
    found, position = _search(sorted_keys, values)
    return found, position[found]


def _search(sorted_keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(whether each value is in `sorted_keys`, each value's position there: meaningful only where found)."""
    position = np.searchsorted(sorted_keys, values)
    if not len(sorted_keys):
        return np.zeros(len(values), dtype=bool), position
    position[position == len(sorted_keys)] = 0
    return sorted_keys[position] == values, position


@dataclass(frozen=True)
class CoverageIndex:
    """Rare word n-grams of each "unit" (a question, or a generic stem with its options).

    `keys` are the sorted rare n-gram keys; `postings[offsets[k]:offsets[k + 1]]` the units containing key k;
    `unit_items[u]` the indexed entries (pack items, or training rows for dedup) that unit stands for.
    """

    config: CoverageConfig
    vocab: dict[str, int]  # folded word -> id >= 1 (0 stands for words no indexed text uses)
    unit_texts: tuple[str, ...]
    unit_items: tuple[tuple[int, ...], ...]
    keys: np.ndarray
    offsets: np.ndarray
    postings: np.ndarray
    stock_keys: np.ndarray  # sorted keys shared by more than stock_df units
    rare_total: np.ndarray  # per unit: its distinct rare n-grams
    short: np.ndarray  # per unit: a short or generic question, matched with its options (see CoverageConfig)
    unit_questions: tuple[str, ...]  # per unit: the question's folded words joined by spaces
    unit_options: tuple[frozenset[str], ...]  # per unit: its options' folded texts

    @functools.cached_property
    def tiny_questions(self) -> dict[str, tuple[int, ...]]:
        """Questions of fewer than n words ("Junctional epithelium") have no n-gram at all, so no shared n-gram can
        bring them up: they are looked up by their whole folded text instead."""
        found: dict[str, list[int]] = {}
        for unit, question in enumerate(self.unit_questions):
            if question and question.count(" ") + 1 < self.config.n:
                found.setdefault(question, []).append(unit)
        return {question: tuple(units) for question, units in found.items()}

    def ids(self, tokens: list[str]) -> np.ndarray:
        get = self.vocab.get
        return np.fromiter((get(token, 0) for token in tokens), dtype=np.uint64, count=len(tokens))

    def rare_keys(self, ngram_keys: np.ndarray) -> np.ndarray:
        """The distinct keys among `ngram_keys` that are rare n-grams of this index, sorted."""
        keys = np.unique(ngram_keys)
        return keys[member(self.keys, keys)]

    def to_arrays(self) -> Arrays:
        return {
            **encode_strings("vocab", list(self.vocab)),
            **encode_strings("unit_texts", self.unit_texts),
            **encode_lists("unit_items", self.unit_items),
            "keys": self.keys,
            "offsets": self.offsets,
            "postings": self.postings,
            "stock_keys": self.stock_keys,
            "rare_total": self.rare_total,
            "short": self.short,
            **encode_strings("unit_questions", self.unit_questions),
            **encode_string_sets("unit_options", self.unit_options),
        }

    @classmethod
    def from_arrays(cls, reader: ArrayReader, config: CoverageConfig, item_count: int) -> CoverageIndex:
        """The index `to_arrays` stored, every array checked against the others (raises `CacheInvalid`)."""
        vocab = reader.strings("vocab")
        unit_texts = reader.strings("unit_texts")
        units = len(unit_texts)
        keys = reader.array("keys", "u")
        postings = reader.indices("postings", units)
        return cls(
            config=config,
            vocab={word: position for position, word in enumerate(vocab, start=1)},
            unit_texts=tuple(unit_texts),
            unit_items=reader.lists("unit_items", item_count, units),
            keys=keys,
            offsets=reader.offsets("offsets", len(postings), len(keys)),
            postings=postings,
            stock_keys=reader.array("stock_keys", "u"),
            rare_total=reader.array("rare_total", "i", units),
            short=reader.array("short", "b", units),
            unit_questions=tuple(reader.strings("unit_questions", units)),
            unit_options=reader.string_sets("unit_options", units),
        )


def tokenise(texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Every text's word tokens (`text.words`) concatenated, and each text's token count."""
    tokens: list[str] = []
    lengths = np.empty(len(texts), dtype=np.int64)
    for position, text in enumerate(texts):
        found = words(text)
        tokens += found
        lengths[position] = len(found)
    return tokens, lengths


def ngram_keys(ids: np.ndarray, lengths: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(keys, owners): `pack_ngrams` of each text of a concatenated token-id array (text i has `lengths[i]`
    tokens), concatenated in text order, and the text each key came from. No n-gram spans two texts."""
    starts = len(ids) - n + 1
    if starts < 1:
        return np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int64)
    keys = pack_ngrams(ids, n)
    owners = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)[:starts]
    inside = np.arange(starts) + n <= np.cumsum(lengths)[owners]
    return keys[inside], owners[inside]


class _Vocabulary(dict):
    """word -> id >= 1, new words getting the next id in order of first appearance (`vocab.setdefault(word,
    len(vocab) + 1)` in a loop, but looked up at C speed: only a new word runs Python code)."""

    def __missing__(self, word: str) -> int:
        self[word] = identity = len(self) + 1
        return identity


def _token_ids(texts: Sequence[str], vocab: _Vocabulary) -> tuple[np.ndarray, np.ndarray]:
    """Every text's token ids concatenated, and each text's token count. Tokens are turned into ids text by text,
    so no text's token strings outlive it (they would cost ~50 bytes each over the whole corpus)."""
    ids = array("Q")
    lengths = np.empty(len(texts), dtype=np.int64)
    lookup = vocab.__getitem__
    for position, text in enumerate(texts):
        before = len(ids)
        ids.extend(map(lookup, words(text)))
        lengths[position] = len(ids) - before
    return np.frombuffer(ids, dtype=np.uint64) if ids else np.empty(0, dtype=np.uint64), lengths


def _unit_keys(ids: np.ndarray, lengths: np.ndarray, n: int, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """(keys, owners): each text's distinct n-gram keys, sorted, concatenated in text order.

    Texts are taken `chunk` at a time (bounded temporaries); in a chunk, keys are ranked densely, so each
    (text, key) pair fits one int64 and one sort finds the distinct pairs."""
    found_keys, found_owners = [], []
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    for first in range(0, len(lengths), chunk):
        last = min(first + chunk, len(lengths))
        keys, owners = ngram_keys(ids[bounds[first] : bounds[last]], lengths[first:last], n)
        ranked, rank = np.unique(keys, return_inverse=True)
        pairs = np.sort(owners * max(len(ranked), 1) + rank)
        distinct = np.ones(len(pairs), dtype=bool)  # np.unique hashes plain arrays: slower than a sort
        distinct[1:] = pairs[1:] != pairs[:-1]
        pairs = pairs[distinct]
        found_keys.append(ranked[pairs % max(len(ranked), 1)])
        found_owners.append(pairs // max(len(ranked), 1) + first)
    if not found_keys:
        return np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int64)
    return np.concatenate(found_keys), np.concatenate(found_owners)


def build_coverage_index(questions: Sequence[str], options: Sequence[Options], config: CoverageConfig) -> CoverageIndex:
    """Index rare n-grams of each question (entry i: `questions[i]` with `options[i]`); a question with too few of
    them is re-indexed with its options (a generic stem). Entries with the same text share one unit.

    Every text is tokenised once and its n-grams are packed for all texts in one numpy pass."""
    vocab = _Vocabulary()
    stems = [question_stem(question) for question in questions]
    stem_ids, stem_lengths = _token_ids(stems, vocab)
    stem_keys, stem_of = _unit_keys(stem_ids, stem_lengths, config.n)
    keys, df = np.unique(stem_keys, return_counts=True)
    stock = keys[df > config.stock_df]
    rare_counts = np.bincount(stem_of[~member(stock, stem_keys)], minlength=len(stems))
    short_entries = (rare_counts < config.generic_min_rare).tolist()
    signatures = []
    for entry_options, stem, short in zip(options, stems, short_entries, strict=True):
        option_lines = "\n".join(text for _, text in entry_options) if short else ""
        signatures.append(f"{stem}\n{option_lines}" if option_lines else stem)
    unit_ids: dict[str, int] = {}
    unit_items: list[list[int]] = []
    for entry, signature in enumerate(signatures):
        unit = unit_ids.setdefault(signature, len(unit_ids))
        if unit == len(unit_items):
            unit_items.append([])
        unit_items[unit].append(entry)
    unit_texts = list(unit_ids)
    first_entries = [ids[0] for ids in unit_items]
    # A unit's text is its first entry's stem unless that entry is short: only those texts are tokenised again.
    stem_starts = np.concatenate([[0], np.cumsum(stem_lengths)]).tolist()
    stem_slices = [stem_ids[stem_starts[entry] : stem_starts[entry + 1]] for entry in first_entries]
    short_units = [unit for unit, entry in enumerate(first_entries) if short_entries[entry]]
    short_ids, short_lengths = _token_ids([unit_texts[unit] for unit in short_units], vocab)
    short_starts = np.concatenate([[0], np.cumsum(short_lengths)]).tolist()
    for position, unit in enumerate(short_units):
        stem_slices[unit] = short_ids[short_starts[position] : short_starts[position + 1]]
    unit_lengths = np.array([len(ids) for ids in stem_slices], dtype=np.int64)
    joined = np.concatenate(stem_slices) if stem_slices else np.empty(0, dtype=np.uint64)
    every, unit_of = _unit_keys(joined, unit_lengths, config.n)
    if len(vocab) > MAX_VOCAB:
        raise MedrlError(f"the index has {len(vocab)} distinct words; the coverage index supports {MAX_VOCAB}")
    keys, df = np.unique(every, return_counts=True)
    stock = keys[df > config.stock_df]
    unit_of = unit_of.astype(np.int32)
    rare_mask = ~member(stock, every)
    every, unit_of = every[rare_mask], unit_of[rare_mask]
    order = np.argsort(every, kind="stable")
    every, unit_of = every[order], unit_of[order]
    rare_keys, starts = np.unique(every, return_index=True)
    offsets = np.append(starts, len(every)).astype(np.int64)
    rare_total = np.bincount(unit_of, minlength=len(unit_texts)).astype(np.int64)
    word_of = ["", *vocab]  # id -> word
    return CoverageIndex(
        config=config,
        vocab=dict(vocab),
        unit_texts=tuple(unit_texts),
        unit_items=tuple(tuple(ids) for ids in unit_items),
        keys=rare_keys,
        offsets=offsets,
        postings=unit_of,
        stock_keys=stock,
        rare_total=rare_total,
        short=np.array([short_entries[entry] for entry in first_entries], dtype=bool),
        unit_questions=tuple(
            " ".join(map(word_of.__getitem__, stem_ids[stem_starts[entry] : stem_starts[entry + 1]].tolist()))
            for entry in first_entries
        ),
        unit_options=tuple(folded_options(options[entry]) for entry in first_entries),
    )


@dataclass(frozen=True)
class SharedCounts:
    """Per (row, unit) pair sharing at least one rare n-gram: how many distinct rare n-grams they share."""

    rows: np.ndarray
    units: np.ndarray
    shared: np.ndarray
    row_ngrams: np.ndarray  # per row: its n-gram positions that are not stock phrases

    def item_coverage(self, index: CoverageIndex) -> np.ndarray:
        return self.shared / index.rare_total[self.units]

    def row_coverage(self) -> np.ndarray:
        return self.shared / np.maximum(self.row_ngrams[self.rows], 1)


def shared_counts(texts: list[str], index: CoverageIndex) -> SharedCounts:
    """Join every row's n-gram keys against the index in one vectorised pass over the batch."""
    tokens, lengths = tokenise(texts)
    get = index.vocab.get
    ids = np.array([get(token, 0) for token in tokens], dtype=np.uint64)
    every, rows = ngram_keys(ids, lengths, index.config.n)
    row_ngrams = np.bincount(rows[~member(index.stock_keys, every)], minlength=len(texts))
    found, position = lookup(index.keys, every)
    # One (row, key) pair per distinct shared key, then one (row, unit) pair per posting.
    pairs = np.unique(rows[found] * len(index.keys) + position)
    hit_rows, hit_keys = pairs // max(len(index.keys), 1), pairs % max(len(index.keys), 1)
    starts = index.offsets[hit_keys]
    counts = index.offsets[hit_keys + 1] - starts
    expanded = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
    units = index.postings[expanded].astype(np.int64)
    unit_count = len(index.unit_texts)
    pair_ids, shared = np.unique(np.repeat(hit_rows, counts) * unit_count + units, return_counts=True)
    return SharedCounts(pair_ids // unit_count, pair_ids % unit_count, shared, row_ngrams)
