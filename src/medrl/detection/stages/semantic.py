"""The semantic stage: a benchmark case reworded (sentence order, syntax, options rewritten) is found by meaning and
kept only when its case fingerprint agrees (see `SemanticConfig`).

Retrieval is sparse (the rarer words a row shares with each question, as the rewrite stage counts them), so only a
few candidates per row are ever compared by meaning, and only rows with a candidate whose fingerprint agrees are
embedded. Benchmark questions are embedded once when the index is built and stored with it in the pack's index
cache (float32 arrays, with the fingerprint of the model that made them: another model rebuilds the cache).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from medrl.benchmarks.loaders import BenchmarkItem
from medrl.config import SemanticConfig
from medrl.detection.arrays import ArrayReader, Arrays, CacheInvalid, encode_strings
from medrl.detection.embeddings import Embedder, load_embedder, locate_model, set_threads
from medrl.detection.rare_ngrams import shared_counts
from medrl.detection.stages.base import Hit, RowHits, StageBatch, TextTable
from medrl.detection.stages.coverage import options_disagree, row_options_of
from medrl.detection.stages.rewrite import (
    CaseIndex,
    build_case_index,
    case_numbers,
    case_patient,
    load_case_index,
    specific_numbers,
)
from medrl.detection.text import folded_options, question_stem


def embedder_for(config: SemanticConfig) -> Embedder:
    return load_embedder(config.model, config.revision, config.device, config.max_seq_length)


def keyed_answer(item: BenchmarkItem) -> str:
    """The folded text of an item's keyed option ("" when the item has no keyed option)."""
    keyed = [(letter, text) for letter, text in item.options if letter == item.answer]
    return next(iter(folded_options(keyed)), "")


@dataclass(frozen=True)
class SemanticIndex:
    """The case index (rare words, numbers, patients) plus, per unit, its question stem's embedding and its keyed
    answer, and the fingerprint of the model that embedded them."""

    case: CaseIndex
    embeddings: np.ndarray  # (units, dimension) float32, unit length
    unit_answers: tuple[str, ...]
    model_fingerprint: str

    @property
    def unit_items(self) -> tuple[tuple[int, ...], ...]:
        return self.case.unit_items

    def to_arrays(self) -> Arrays:
        return {
            **self.case.to_arrays(),
            "embeddings": self.embeddings,
            **encode_strings("answers", self.unit_answers),
            **encode_strings("model", [self.model_fingerprint]),
        }


class SemanticStage:
    name = "semantic"
    evidence_rank = 4
    confidence = "review"  # a reworded case: a person may want to check it

    def prepare(self, config: SemanticConfig) -> None:
        locate_model(config.model, config.revision)

    def index(self, items: Sequence[BenchmarkItem], table: TextTable, config: SemanticConfig) -> SemanticIndex:
        embedder = embedder_for(config)
        case = build_case_index(items, config.stock_df)
        stems = [question_stem(text) for text in case.words.unit_texts]
        vectors = embedder.encode(stems, config.batch_size, remember=True)
        answers = tuple(keyed_answer(items[entries[0]]) for entries in case.unit_items)
        return SemanticIndex(case, vectors, answers, embedder.fingerprint)

    def load_index(
        self, reader: ArrayReader, table: TextTable, config: SemanticConfig, item_count: int
    ) -> SemanticIndex:
        embedder = embedder_for(config)
        case = load_case_index(reader, config.stock_df, item_count)
        units = len(case.words.unit_texts)
        (fingerprint,) = reader.strings("model", 1)
        if fingerprint != embedder.fingerprint:
            raise CacheInvalid(f"its embeddings were made by another model than {config.model}")
        vectors = reader.array("embeddings", "f", ndim=2)
        if vectors.shape != (units, embedder.dimension) or not np.all(np.isfinite(vectors)):
            raise CacheInvalid(f"its embeddings are not {units} finite vectors of {embedder.dimension}")
        answers = tuple(reader.strings("answers", units))
        return SemanticIndex(case, vectors.astype(np.float32, copy=False), answers, fingerprint)

    def hits(self, batch: StageBatch, index: SemanticIndex, config: SemanticConfig) -> list[RowHits]:
        set_threads(batch.run.workers)
        return [RowHits.of(hits) for hits in semantic_hits(batch.texts, index, config, batch.options)]


def fingerprint_check(row: str, unit: int, index: CaseIndex, config: SemanticConfig) -> tuple[bool, bool]:
    """(nothing contradicts, something agrees) between a row's case and a unit's: the patients (age and sex) and the
    specific numbers. A side that states none contradicts nothing; agreement is the same patient, or at least 2 of
    the specific numbers shared."""
    patient, unit_patient = case_patient(row), index.unit_patients[unit]
    if patient is not None and unit_patient is not None and patient != unit_patient:
        return False, False
    row_numbers, unit_numbers = specific_numbers(case_numbers(row)), specific_numbers(index.unit_numbers[unit])
    shared = len(row_numbers & unit_numbers)
    if row_numbers and unit_numbers and shared < config.min_number_agreement * min(len(row_numbers), len(unit_numbers)):
        return False, False
    return True, (patient is not None and patient == unit_patient) or shared >= 2


def _evidence(similarity: float, words: float, row: str, row_options: frozenset[str], unit: int, index: SemanticIndex):
    """What a person checks: the similarity and the fingerprint parts both sides share."""
    case = index.case
    parts = [f"similarity {similarity:.2f}", f"rarer words {words:.0%}"]
    patient = case_patient(row)
    if patient is not None and patient == case.unit_patients[unit]:
        parts.append(f"patient: {' '.join(patient)}")
    numbers = specific_numbers(case_numbers(row)) & specific_numbers(case.unit_numbers[unit])
    if numbers:
        parts.append("numbers: " + ", ".join(f"{number:g}" for number in sorted(numbers)))
    shared = row_options & case.words.unit_options[unit]
    answer = index.unit_answers[unit]
    if answer and answer in row_options:
        parts.append(f"answer: {answer}")
    elif shared:
        parts.append("options: " + "; ".join(sorted(shared)[:5]))
    return "; ".join(parts)


def semantic_hits(
    texts: list[str], index: SemanticIndex, config: SemanticConfig, row_options: list[frozenset[str]] | None = None
) -> list[list[Hit]]:
    """Benchmark units each text rewords (see `SemanticConfig`). Score: the cosine similarity x 100."""
    case = index.case
    counts = shared_counts(texts, case.words)
    overlap = np.minimum(counts.item_coverage(case.words), counts.row_coverage())
    keep = overlap >= config.min_words
    rows, units, overlap = counts.rows[keep], counts.units[keep], overlap[keep]
    # The `candidates` best units per row: most shared words first, then the lower unit id (deterministic).
    order = np.lexsort((units, -overlap, rows))
    rows, units, overlap = rows[order], units[order], overlap[order]
    first = np.searchsorted(rows, rows, side="left")
    top = (np.arange(len(rows)) - first) < config.candidates
    stems = {}
    candidates: list[tuple[int, int, float, float]] = []  # (row, unit, words, the similarity needed)
    options: dict[int, frozenset[str]] = {}
    for row, unit, words in zip(rows[top].tolist(), units[top].tolist(), overlap[top].tolist(), strict=True):
        stem = stems.setdefault(row, question_stem(texts[row]))
        if row not in options:
            options[row] = row_options_of(texts[row], row, row_options)
        consistent, agrees = fingerprint_check(stem, unit, case, config)
        if not agrees and options_disagree(options[row], case.words.unit_options[unit]):
            continue  # a stem that says nothing specific, asking another question ("Which of the following is true?")
        if consistent:
            needed = config.min_similarity if agrees else config.min_similarity_without_fingerprint
            candidates.append((row, unit, words, needed))
    hits: list[list[Hit]] = [[] for _ in texts]
    if not candidates:
        return hits
    embedded = sorted({row for row, *_ in candidates})
    vectors = embedder_for(config).encode([stems[row] for row in embedded], config.batch_size)
    position = {row: i for i, row in enumerate(embedded)}
    for row, unit, words, needed in candidates:
        similarity = float(vectors[position[row]] @ index.embeddings[unit])
        if similarity >= needed:
            evidence = _evidence(similarity, words, stems[row], options[row], unit, index)
            hits[row].append(Hit(unit, round(100 * similarity, 2), evidence))
    return hits
