"""Index a benchmark pack once per run for the enabled detectors.

Identical benchmark question texts (MedQA 4- and 5-option share theirs) are indexed and scored once, then
expanded back to every item that carries them, so evidence still names each benchmark item.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medrl import text as text_module
from medrl.benchmarks import BenchmarkItem
from medrl.config import CoverageConfig, DecontaminationConfig, RewriteConfig
from medrl.errors import MedrlError
from medrl.pack import BenchmarkPack
from medrl.text import word_ngrams, words

# Token ids are packed into n-gram keys exactly (no hashing, no collisions): 21 bits per token, n <= 3.
_ID_BITS = 21
MAX_VOCAB = (1 << _ID_BITS) - 1


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
    if not len(sorted_keys):
        return np.zeros(len(values), dtype=bool)
    position = np.searchsorted(sorted_keys, values)
    position[position == len(sorted_keys)] = 0
    return sorted_keys[position] == values


@dataclass(frozen=True)
class CoverageIndex:
    """Rare word n-grams of each benchmark "unit" (a question, or a generic stem with its options).

    `keys` are the sorted rare n-gram keys; `postings[offsets[k]:offsets[k + 1]]` the units containing key k.
    """

    config: CoverageConfig
    vocab: dict[str, int]  # folded word -> id >= 1 (0 stands for words no benchmark uses)
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

    def ids(self, tokens: list[str]) -> np.ndarray:
        get = self.vocab.get
        return np.fromiter((get(token, 0) for token in tokens), dtype=np.uint64, count=len(tokens))

    def unit_rare_keys(self, unit: int) -> np.ndarray:
        keys = np.unique(pack_ngrams(self.ids(words(self.unit_texts[unit])), self.config.n))
        return keys[member(self.keys, keys)]


CHAR_BUCKETS = 129  # one per ASCII code point, one for everything else


def char_histogram(text: str) -> np.ndarray:
    """Character counts by bucket: ASCII characters each, all others together (still an upper bound on LCS)."""
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    return np.bincount(np.minimum(codes, CHAR_BUCKETS - 1), minlength=CHAR_BUCKETS).astype(np.int32)


@dataclass(frozen=True)
class PackIndex:
    items: tuple[BenchmarkItem, ...]
    texts: tuple[str, ...]  # unique raw benchmark question texts, in first-seen order
    text_items: tuple[tuple[int, ...], ...]  # per unique text: indices into `items`
    ngrams: dict[str, np.ndarray]  # word n-gram -> unique text ids containing it (empty if stage off)
    # The fuzzy stage's exact prefilter: unique texts sorted by length (`by_length` holds their ids), their lengths
    # and `char_histogram`s in that order (uint16 when every count fits).
    by_length: np.ndarray
    sorted_lengths: np.ndarray
    char_counts: np.ndarray
    coverage: CoverageIndex | None = None
    rewrite: CoverageIndex | None = None  # rare single words, for the rewrite stage

    def hit_items(self, method: str) -> tuple[tuple[int, ...], ...]:
        """What a hit's `text_id` indexes for a stage: unique texts (ngram/fuzzy) or coverage/rewrite units,
        each mapped to the pack items carrying it."""
        return self.text_items if method in ("ngram", "fuzzy") else getattr(self, method).unit_items

    def items_of(self, method: str, ids: np.ndarray | list[int]) -> np.ndarray:
        """Pack item indices carrying the given hit ids of a stage."""
        table = self.hit_items(method)
        return np.fromiter((item for i in np.asarray(ids).tolist() for item in table[i]), dtype=np.int64)


def build_index(items: list[BenchmarkItem], config: DecontaminationConfig) -> PackIndex:
    text_ids: dict[str, int] = {}
    text_items: list[list[int]] = []
    for item_index, item in enumerate(items):
        text_id = text_ids.setdefault(item.question, len(text_ids))
        if text_id == len(text_items):
            text_items.append([])
        text_items[text_id].append(item_index)
    postings: dict[str, list[int]] = defaultdict(list)
    if config.ngram is not None:
        for text, text_id in text_ids.items():
            for ngram in dict.fromkeys(word_ngrams(text, config.ngram.n)):
                postings[ngram].append(text_id)
    return PackIndex(
        items=tuple(items),
        texts=tuple(text_ids),
        text_items=tuple(tuple(ids) for ids in text_items),
        ngrams={ngram: np.array(ids, dtype=np.int64) for ngram, ids in postings.items()},
        **_length_sorted_histograms(list(text_ids)),
        coverage=build_coverage_index(items, config.coverage) if config.coverage else None,
        rewrite=build_coverage_index(items, _word_index_config(config.rewrite)) if config.rewrite else None,
    )


def _word_index_config(rewrite: RewriteConfig) -> CoverageConfig:
    """The rewrite stage indexes rare single words; no question is treated as short."""
    return CoverageConfig(n=1, stock_df=rewrite.stock_df, generic_min_rare=0)


def _length_sorted_histograms(texts: list[str]) -> dict[str, np.ndarray]:
    lengths = np.array([len(text) for text in texts], dtype=np.int64)
    order = np.argsort(lengths, kind="stable")
    counts = np.array([char_histogram(texts[i]) for i in order.tolist()], dtype=np.int32).reshape(-1, CHAR_BUCKETS)
    if counts.size and counts.max() <= np.iinfo(np.uint16).max:
        counts = counts.astype(np.uint16)
    return {"by_length": order, "sorted_lengths": lengths[order], "char_counts": counts}


def _unit_keys(texts: list[str], vocab: dict[str, int], n: int) -> list[np.ndarray]:
    keyed = []
    for text in texts:
        ids = np.fromiter((vocab.setdefault(t, len(vocab) + 1) for t in words(text)), dtype=np.uint64)
        keyed.append(np.unique(pack_ngrams(ids, n)))
    return keyed


def _document_frequency(keyed: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    every = np.concatenate(keyed) if keyed else np.empty(0, dtype=np.uint64)
    return np.unique(every, return_counts=True)


def build_coverage_index(items: list[BenchmarkItem], config: CoverageConfig) -> CoverageIndex:
    """Index rare n-grams; a question with too few of them is re-indexed with its options (a generic stem)."""
    vocab: dict[str, int] = {}
    questions = [question_stem(item.question) for item in items]
    keyed = _unit_keys(questions, vocab, config.n)
    keys, df = _document_frequency(keyed)
    stock = keys[df > config.stock_df]
    signatures, short_items = [], []
    for item, question, item_keys in zip(items, questions, keyed, strict=True):
        short = np.count_nonzero(~member(stock, item_keys)) < config.generic_min_rare
        short_items.append(short)
        options = "\n".join(text for _, text in item.options) if short else ""
        signatures.append(f"{question}\n{options}" if options else question)
    unit_ids: dict[str, int] = {}
    unit_items: list[list[int]] = []
    for item_index, signature in enumerate(signatures):
        unit = unit_ids.setdefault(signature, len(unit_ids))
        if unit == len(unit_items):
            unit_items.append([])
        unit_items[unit].append(item_index)
    unit_texts = list(unit_ids)
    keyed = _unit_keys(unit_texts, vocab, config.n)
    if len(vocab) > MAX_VOCAB:
        raise MedrlError(f"the pack has {len(vocab)} distinct words; the coverage index supports {MAX_VOCAB}")
    keys, df = _document_frequency(keyed)
    stock = keys[df > config.stock_df]
    unit_of = np.concatenate([np.full(len(k), u, dtype=np.int32) for u, k in enumerate(keyed)]) if keyed else None
    every = np.concatenate(keyed) if keyed else np.empty(0, dtype=np.uint64)
    rare_mask = ~member(stock, every)
    every, unit_of = every[rare_mask], unit_of[rare_mask]
    order = np.argsort(every, kind="stable")
    every, unit_of = every[order], unit_of[order]
    rare_keys, starts = np.unique(every, return_index=True)
    offsets = np.append(starts, len(every)).astype(np.int64)
    rare_total = np.bincount(unit_of, minlength=len(unit_texts)).astype(np.int64)
    return CoverageIndex(
        config=config,
        vocab=vocab,
        unit_texts=tuple(unit_texts),
        unit_items=tuple(tuple(ids) for ids in unit_items),
        keys=rare_keys,
        offsets=offsets,
        postings=unit_of,
        stock_keys=stock,
        rare_total=rare_total,
        short=np.array([short_items[ids[0]] for ids in unit_items], dtype=bool),
        unit_questions=tuple(" ".join(words(questions[ids[0]])) for ids in unit_items),
        unit_options=tuple(folded_options(items[ids[0]].options) for ids in unit_items),
    )


_INLINE_CHOICES = re.compile(r"\s*Answer Choices:.*", re.DOTALL)


def question_stem(question: str) -> str:
    """The question without an inline "Answer Choices:" block (MedXpertQA): options are compared as options, so
    a row that merely lists the same drugs is not taken for the question."""
    return _INLINE_CHOICES.sub("", question) or question


def folded_options(options: tuple[tuple[str, str], ...] | list) -> frozenset[str]:
    """Option texts compared without letters, case, accents or punctuation (shuffled options still match)."""
    return frozenset(folded for _, text in options if (folded := " ".join(words(text))))


_CACHE_DIR = ".index-cache"


def _cache_key(pack: BenchmarkPack, config: DecontaminationConfig) -> str:
    """Same pack content, same detection settings and same indexing code give the same key."""
    settings = {stage: getattr(config, stage) for stage in ("ngram", "fuzzy", "coverage", "rewrite")}
    digest = hashlib.sha256(pack.manifest_sha256.encode())
    digest.update(repr(settings).encode())
    for module in (__file__, text_module.__file__):
        digest.update(Path(module).read_bytes())
    return digest.hexdigest()[:32]


def load_or_build_index(pack: BenchmarkPack, config: DecontaminationConfig) -> PackIndex:
    """The pack's index for these settings, from `<pack>/.index-cache` when present, else built and cached there.

    Building takes seconds (tokenising every benchmark question); loading takes a fraction of that. A pack on a
    read-only disk is simply indexed every run. The cache holds pickles medrl wrote into the user's own pack.
    """
    path = _cache_path(pack, config)
    try:
        with path.open("rb") as handle:
            return pickle.load(handle)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ValueError):
        pass
    return _build_and_cache(pack, config, path)


def ensure_index_cached(pack: BenchmarkPack, config: DecontaminationConfig) -> None:
    """Build and cache the pack's index unless cached already, without loading it: the parent of worker processes
    calls this so that its workers load the index instead of each building it."""
    path = _cache_path(pack, config)
    if not path.exists():
        _build_and_cache(pack, config, path)


def _cache_path(pack: BenchmarkPack, config: DecontaminationConfig) -> Path:
    return pack.path / _CACHE_DIR / f"{_cache_key(pack, config)}.pickle"


def _build_and_cache(pack: BenchmarkPack, config: DecontaminationConfig, path: Path) -> PackIndex:
    index = build_index(pack.items, config)
    try:
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with tmp.open("wb") as handle:
            pickle.dump(index, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError:
        pass
    return index
