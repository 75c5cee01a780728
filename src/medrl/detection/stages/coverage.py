"""The coverage stage: a row contains a benchmark question (verbatim, wrapped, edited or truncated) when it covers
most of the question's rare word n-grams; short or generic questions match only whole and with their options.

The rule and its settings (`CoverageConfig`) live in `medrl.detection.coverage_match` and
`medrl.detection.rare_ngrams`, because near-duplicate dedup runs the same rule between training rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from medrl.benchmarks.loaders import BenchmarkItem
from medrl.detection.arrays import ArrayReader
from medrl.detection.coverage_match import coverage_hits
from medrl.detection.rare_ngrams import CoverageConfig, CoverageIndex, build_coverage_index
from medrl.detection.stages.base import RowHits, Stage, StageBatch, TextTable


class CoverageStage(Stage[CoverageConfig, CoverageIndex]):
    name = "coverage"
    settings_class = CoverageConfig
    evidence_rank = 0
    confidence = "certain"  # the benchmark question's own text is in the row
    checks_paragraphs = True  # a share of the row: a copy inside a long text is a small share of it
    color = "#2563eb"
    score = "% of the item's rare n-grams in the row"
    evidence = "the row's longest run of shared rare n-grams"

    def index(self, items: Sequence[BenchmarkItem], table: TextTable, settings: CoverageConfig) -> CoverageIndex:
        return build_coverage_index([item.question for item in items], [item.options for item in items], settings)

    def load_index(
        self, reader: ArrayReader, table: TextTable, settings: CoverageConfig, item_count: int
    ) -> CoverageIndex:
        return CoverageIndex.from_arrays(reader, settings, item_count)

    def hits(self, batch: StageBatch, index: CoverageIndex, settings: CoverageConfig) -> list[RowHits]:
        # The index was built with these settings (its cache key covers them): the rule reads them from it.
        return [
            RowHits.of(hits) for hits in coverage_hits(batch.texts, index, batch.options, paragraphs=batch.paragraphs)
        ]

    def threshold(self, settings: Mapping[str, Any]) -> tuple[float, str]:
        share = float(settings["min_item_coverage"]) * 100
        return share, "item coverage (or a truncated copy by row coverage)"
