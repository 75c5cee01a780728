"""Index a benchmark pack once per run for the enabled detectors.

Identical benchmark question texts (MedQA 4- and 5-option share theirs) are indexed and scored once, then
expanded back to every item that carries them, so evidence still names each benchmark item.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from medrl.benchmarks import BenchmarkItem
from medrl.config import DecontaminationConfig
from medrl.text import word_ngrams


@dataclass(frozen=True)
class PackIndex:
    items: tuple[BenchmarkItem, ...]
    texts: tuple[str, ...]  # unique raw benchmark question texts, in first-seen order
    text_items: tuple[tuple[int, ...], ...]  # per unique text: indices into `items`
    ngrams: dict[str, tuple[int, ...]]  # word n-gram -> unique text ids containing it (empty if stage off)


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
        ngrams={ngram: tuple(ids) for ngram, ids in postings.items()},
    )
