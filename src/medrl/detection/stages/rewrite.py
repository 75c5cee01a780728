"""The rewrite stage: a reworded benchmark case keeps its options; flagged when most of the row's options are the
item's and enough rarer words are shared (see `RewriteConfig`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from medrl.benchmarks.loaders import BenchmarkItem
from medrl.config import CoverageConfig, RewriteConfig
from medrl.detection.arrays import ArrayReader
from medrl.detection.rare_ngrams import CoverageIndex, build_coverage_index, shared_counts
from medrl.detection.stages.base import Hit, RowHits, StageBatch, TextTable
from medrl.detection.stages.coverage import row_options_of


def word_index_config(rewrite: RewriteConfig) -> CoverageConfig:
    """The rewrite stage indexes rare single words; no question is treated as short."""
    return CoverageConfig(n=1, stock_df=rewrite.stock_df, generic_min_rare=0)


class RewriteStage:
    name = "rewrite"
    evidence_rank = 2

    def index(self, items: Sequence[BenchmarkItem], table: TextTable, config: RewriteConfig) -> CoverageIndex:
        questions, options = [item.question for item in items], [item.options for item in items]
        return build_coverage_index(questions, options, word_index_config(config))

    def load_index(
        self, reader: ArrayReader, table: TextTable, config: RewriteConfig, item_count: int
    ) -> CoverageIndex:
        return CoverageIndex.from_arrays(reader, word_index_config(config), item_count)

    def hits(self, batch: StageBatch, index: CoverageIndex, config: RewriteConfig) -> list[RowHits]:
        return [RowHits.of(hits) for hits in rewrite_hits(batch.texts, index, config, batch.options)]


def rewrite_hits(
    texts: list[str], index: CoverageIndex, config: RewriteConfig, row_options: list[frozenset[str]] | None = None
) -> list[list[Hit]]:
    """Benchmark items a row rewrites (see `RewriteConfig`). Score: the percentage of rarer words shared; evidence:
    the shared options."""
    counts = shared_counts(texts, index)
    overlap = np.minimum(counts.item_coverage(index), counts.row_coverage())
    hits: list[list[Hit]] = [[] for _ in texts]
    candidates = overlap >= min(config.min_word_overlap, config.min_word_overlap_one_option)
    options_of: dict[int, frozenset[str]] = {}
    for row, unit, words_shared in zip(
        counts.rows[candidates].tolist(), counts.units[candidates].tolist(), overlap[candidates].tolist(), strict=True
    ):
        if row not in options_of:
            options_of[row] = row_options_of(texts[row], row, row_options)
        options = options_of[row]
        shared = options & index.unit_options[unit]
        many = len(shared) >= config.min_option_overlap * len(options)
        if len(options) >= 2 and shared and (many or words_shared >= config.min_word_overlap_one_option):
            hits[row].append(Hit(unit, round(100 * words_shared, 2), "; ".join(sorted(shared))))
    return hits
