"""The semantic stage: a benchmark case reworded (sentence order, syntax, options rewritten) is found by meaning and
kept only when its case fingerprint agrees (see `SemanticConfig`).

Retrieval is sparse (the rarer words a row shares with each question, as the rewrite stage counts them), so only a
few candidates per row are ever compared by meaning, and only rows with a candidate whose fingerprint agrees are
embedded. A static embedding distilled from the stage's model (see `embeddings`) sets aside the candidates that are
clearly different, so the transformer embeds only the rows left with a candidate near its thresholds (on workload S
of bench/perf, a profile put 75% of the stage's time in the transformer). Benchmark questions are embedded by both
models once when the index is built and stored with it in the pack's index cache (float32 arrays, with the
fingerprints of the models that made them: another model rebuilds the cache).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from medrl.benchmarks.loaders import BenchmarkItem
from medrl.detection.arrays import ArrayReader, Arrays, CacheInvalid, encode_strings
from medrl.detection.cases import (
    CaseIndex,
    build_case_index,
    case_numbers,
    case_patient,
    load_case_index,
    shown_numbers,
    specific_numbers,
)
from medrl.detection.embeddings import (
    PRECISIONS,
    RUNTIMES,
    STATIC_DIMENSIONS,
    SentenceEncoder,
    StaticEmbedder,
    choose_runtime,
    load_sentence_encoder,
    load_static_embedder,
    locate_model,
    model_fingerprint,
    set_threads,
)
from medrl.detection.hits import Hit
from medrl.detection.options import options_disagree, row_options_of
from medrl.detection.rare_ngrams import shared_counts
from medrl.detection.stages.base import RowHits, RunOption, Stage, StageBatch, StageSettings, TextTable
from medrl.detection.text import folded_options, question_stem
from medrl.errors import MedrlError


@dataclass(frozen=True)
class SemanticConfig(StageSettings):
    """The same case reworded, found by meaning and kept only when its case fingerprint agrees (the `semantic`
    extra: sentence-transformers).

    For each row no earlier stage flagged, the `candidates` benchmark questions sharing the most rarer words (in at
    most `stock_df` questions; at least `min_words` of the shorter text's) are candidates. A candidate is dropped
    when the fingerprints disagree: both state the patient (age and sex) and the patients differ, or both have
    specific numbers (above 10, or with decimals) and fewer than `min_number_agreement` of the smaller set are
    shared. The rest are compared by meaning: the cosine similarity of the two question stems' embeddings (model
    `model`, a Hugging Face id or a local directory, at `revision`; texts cut at `max_seq_length` tokens) must be
    at least `min_similarity` when the fingerprints agree (the same patient, or at least 2 specific numbers
    shared), and at least `min_similarity_without_fingerprint` when neither side's fingerprint says anything (no
    patient or numbers to compare: short questions, cases without numbers); such a candidate is also dropped when
    both sides list options and share none (the same generic stem asking another question). Generic embeddings see
    every vignette as alike, so the fingerprint, not the similarity alone, separates a reworded case from another
    patient on the same topic. Before the transformer, a static embedding distilled from `model` compares the stems:
    a candidate under `static_cut` (fingerprints agree) or `static_cut_without_fingerprint` (they say nothing) is
    dropped unembedded; static similarities run higher than the transformer's, and on the paraphrase set's tune half
    no candidate the transformer accepts scored under 0.82 / 0.87, so the cuts keep a 0.05 margin below those
    (a cut of 0 sets nothing aside: with the band off too, every candidate goes to the transformer, as before the static
    step). A row with a candidate at static similarity >= `static_accept` (stems with nearly the same words: a benchmark
    question with words dropped or swapped) is matched on those candidates without the transformer, its score the static
    similarity (0 turns the band off); 0.98 is the lowest band that changed no verdict on the paraphrase set's tune
    half (what it spares and finds on bench/perf's workloads: bench/perf/README.md, step 5). Thresholds were chosen
    on the tune half of bench/quality/paraphrase (and the options rule on bench/quality's generic stems). Matches are
    `review` class. `device`: None picks a GPU when one is present; `batch_size` is the transformer's batch on the
    CPU (on a GPU it is `gpu_batch_size`); neither changes which rows match beyond float rounding. `precision`
    "auto" runs the transformer under bfloat16 autocast on a CPU that multiplies bfloat16 natively (AMX or
    AVX512-BF16; 1.5-1.8x faster here, vectors at cosine >= 0.9999 to float32's) and in float32 elsewhere; "float32" and
    "bfloat16" force one. `runtime` "auto" runs the float32 CPU case on ONNX Runtime (the same vectors, without
    importing PyTorch: see `medrl.detection.embeddings`) and everything else on PyTorch; "torch" or "onnx" force one
    ("onnx": float32 on the CPU only).
    """

    model: str = "sentence-transformers/all-MiniLM-L6-v2"
    revision: str | None = None
    device: str | None = None
    max_seq_length: int = 128
    batch_size: int = 64
    stock_df: int = 20
    candidates: int = 3
    min_words: float = 0.15
    min_number_agreement: float = 0.5
    min_similarity: float = 0.75
    min_similarity_without_fingerprint: float = 0.85
    static_cut: float = 0.77
    static_cut_without_fingerprint: float = 0.82
    static_accept: float = 0.98
    gpu_batch_size: int = 512
    precision: str = "auto"
    runtime: str = "auto"

    def __post_init__(self) -> None:
        fractions = ("min_words", "min_number_agreement", "min_similarity", "min_similarity_without_fingerprint")
        self.check_fractions("semantic", *fractions)
        if not all(0 <= cut <= 1 for cut in (self.static_cut, self.static_cut_without_fingerprint)):
            raise MedrlError("semantic.static_cut and static_cut_without_fingerprint must be in [0, 1] (0: off)")
        if (
            self.static_accept
            and not max(self.static_cut, self.static_cut_without_fingerprint) < self.static_accept <= 1
        ):
            raise MedrlError("semantic.static_accept must be above both static cuts and at most 1 (0: off)")
        if min(self.max_seq_length, self.batch_size, self.gpu_batch_size, self.stock_df, self.candidates) < 1:
            sizes = "max_seq_length, batch_size, gpu_batch_size, stock_df and candidates"
            raise MedrlError(f"semantic.{sizes} must be >= 1")
        if self.precision not in PRECISIONS:
            raise MedrlError(f"semantic.precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}")
        if self.runtime not in RUNTIMES:
            raise MedrlError(f"semantic.runtime must be one of {', '.join(RUNTIMES)}, not {self.runtime!r}")
        if self.runtime == "onnx" and (self.device not in (None, "cpu") or self.precision == "bfloat16"):
            raise MedrlError('semantic.runtime "onnx" runs float32 on the CPU: use device "cpu" and precision "auto"')
        if not self.model:
            raise MedrlError("semantic.model must name a Hugging Face model id or a local directory")


def embedder_for(config: SemanticConfig) -> SentenceEncoder:
    settings = (config.device, config.max_seq_length, config.precision, config.runtime)
    return load_sentence_encoder(config.model, config.revision, *settings)


def uses_static(config: SemanticConfig) -> bool:
    return config.static_cut > 0 or config.static_cut_without_fingerprint > 0 or config.static_accept > 0


def static_embedder_for(config: SemanticConfig) -> StaticEmbedder:
    return load_static_embedder(config.model, config.revision, config.device)


def batch_size_for(config: SemanticConfig, embedder: SentenceEncoder) -> int:
    """The transformer's batch: a GPU takes far larger ones than the CPU (where bigger batches only pad more)."""
    return config.gpu_batch_size if embedder.device.startswith("cuda") else config.batch_size


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
    static_embeddings: np.ndarray  # (units, STATIC_DIMENSIONS) float32 unit length; no rows when the static step is off
    static_fingerprint: str  # "" when the static step is off

    @property
    def unit_items(self) -> tuple[tuple[int, ...], ...]:
        return self.case.unit_items

    def to_arrays(self) -> Arrays:
        return {
            **self.case.to_arrays(),
            "embeddings": self.embeddings,
            "static_embeddings": self.static_embeddings,
            **encode_strings("answers", self.unit_answers),
            **encode_strings("model", [self.model_fingerprint, self.static_fingerprint]),
        }


class SemanticStage(Stage[SemanticConfig, SemanticIndex]):
    name = "semantic"
    settings_class = SemanticConfig
    evidence_rank = 4
    confidence = "review"  # a reworded case: a person may want to check it
    checks_paragraphs = True  # a share of the row: a copy inside a long text is a small share of it
    color = "#db2777"
    score = "the cosine similarity x 100 (the static model's for a row in its accept band)"
    evidence = "the similarity and the case fingerprint parts both sides share"
    run_options: ClassVar[Mapping[str, RunOption]] = {
        "embedding_model": RunOption("model", "The semantic stage's model: a Hugging Face id or a local directory.")
    }

    def prepare(self, settings: SemanticConfig) -> None:
        """Runs before worker processes start: the model is found, and its static embedding distilled and its ONNX
        export made once per machine (where the ONNX runtime runs it), so no timed run pays for them."""
        locate_model(settings.model, settings.revision)
        if uses_static(settings):
            static_embedder_for(settings)
        if choose_runtime(settings.runtime, settings.device, settings.precision) == "onnx":
            embedder_for(settings)  # the export, not a session: sessions open in the process that embeds

    def share_with_workers(self, settings: SemanticConfig) -> None:
        """The transformer, loaded once here: worker processes forked from this one use it copy-on-write instead of
        each importing PyTorch and loading its own (~1.25 GB per worker on workload S before). Where workers are
        not forked (Ray, or a spawn start method) each loads its own when a row first needs it. On ONNX Runtime
        this makes the export once; each worker opens its own session."""
        embedder_for(settings)

    def index_settings(self, settings: SemanticConfig) -> object:
        """The index holds the case index (`stock_df`), the model's embeddings of the pack's stems (`model`,
        `revision`, `max_seq_length`) and the static ones when the static step is on. Thresholds, runtime, device,
        precision and batch sizes change how rows are matched or how fast, not the index (runtime and precision
        change the stored vectors only by float rounding), so changing them never re-embeds the pack (~3 min). A local
        model directory counts by its resolved path: the same directory named relatively or absolutely is one index."""
        local = Path(settings.model).expanduser()
        model = str(local.resolve()) if local.is_dir() else settings.model
        return (model, settings.revision, settings.max_seq_length, settings.stock_df, uses_static(settings))

    def index(self, items: Sequence[BenchmarkItem], table: TextTable, settings: SemanticConfig) -> SemanticIndex:
        embedder = embedder_for(settings)
        case = build_case_index(items, settings.stock_df)
        stems = [question_stem(text) for text in case.words.unit_texts]
        vectors = embedder.encode(stems, batch_size_for(settings, embedder), remember=True)
        answers = tuple(keyed_answer(items[entries[0]]) for entries in case.unit_items)
        static_vectors, static_fingerprint = np.zeros((0, STATIC_DIMENSIONS), dtype=np.float32), ""
        if uses_static(settings):
            static = static_embedder_for(settings)
            static_vectors, static_fingerprint = static.encode(stems), static.fingerprint
        return SemanticIndex(case, vectors, answers, embedder.fingerprint, static_vectors, static_fingerprint)

    def load_index(
        self, reader: ArrayReader, table: TextTable, settings: SemanticConfig, item_count: int
    ) -> SemanticIndex:
        # The model's fingerprint from its files: the transformer itself is loaded only when a row needs it.
        fingerprint = model_fingerprint(locate_model(settings.model, settings.revision))
        static_fingerprint = static_embedder_for(settings).fingerprint if uses_static(settings) else ""
        case = load_case_index(reader, settings.stock_df, item_count)
        units = len(case.words.unit_texts)
        if reader.strings("model", 2) != [fingerprint, static_fingerprint]:
            raise CacheInvalid(f"its embeddings were made by another model than {settings.model}")
        vectors = reader.array("embeddings", "f", ndim=2)
        if vectors.shape[0] != units or not np.all(np.isfinite(vectors)):
            raise CacheInvalid(f"its embeddings are not {units} finite vectors")
        static_vectors = reader.array("static_embeddings", "f", ndim=2)
        static_units = units if static_fingerprint else 0
        if static_vectors.shape != (static_units, STATIC_DIMENSIONS) or not np.all(np.isfinite(static_vectors)):
            raise CacheInvalid(f"its static embeddings are not {static_units} finite vectors of {STATIC_DIMENSIONS}")
        answers = tuple(reader.strings("answers", units))
        return SemanticIndex(
            case,
            vectors.astype(np.float32, copy=False),
            answers,
            fingerprint,
            static_vectors.astype(np.float32, copy=False),
            static_fingerprint,
        )

    def hits(self, batch: StageBatch, index: SemanticIndex, settings: SemanticConfig) -> list[RowHits]:
        found = semantic_hits(batch.texts, index, settings, batch.options, threads=batch.run.workers)
        return [RowHits.of(hits) for hits in found]

    def threshold(self, settings: Mapping[str, Any]) -> tuple[float, str]:
        return float(settings["min_similarity"]) * 100, "cosine similarity x 100"


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


def _evidence(
    similarity: float,
    words: float,
    row: str,
    row_options: frozenset[str],
    unit: int,
    index: SemanticIndex,
    model: str = "",
) -> str:
    """What a person checks: the similarity (`model` "static": the static model's) and the fingerprint parts both
    sides share."""
    case = index.case
    parts = [f"{model} similarity {similarity:.2f}".lstrip(), f"rarer words {words:.0%}"]
    patient = case_patient(row)
    if patient is not None and patient == case.unit_patients[unit]:
        parts.append(f"patient: {' '.join(patient)}")
    numbers = specific_numbers(case_numbers(row)) & specific_numbers(case.unit_numbers[unit])
    if numbers:
        parts.append(f"numbers: {shown_numbers(numbers)}")
    shared = row_options & case.words.unit_options[unit]
    answer = index.unit_answers[unit]
    if answer and answer in row_options:
        parts.append(f"answer: {answer}")
    elif shared:
        parts.append("options: " + "; ".join(sorted(shared)[:5]))
    return "; ".join(parts)


def semantic_hits(
    texts: list[str],
    index: SemanticIndex,
    config: SemanticConfig,
    row_options: list[frozenset[str]] | None = None,
    threads: int = 0,
) -> list[list[Hit]]:
    """Benchmark units each text rewords (see `SemanticConfig`). Score: the transformer's cosine similarity x 100
    (the static model's for a row matched in the accept band).
    `threads`: the transformer's intra-op threads (0: the runtime's default)."""
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
    stems: dict[int, str] = {}
    candidates: list[tuple[int, int, float, bool]] = []  # (row, unit, words, whether the fingerprints agree)
    options: dict[int, frozenset[str]] = {}
    for row, unit, words in zip(rows[top].tolist(), units[top].tolist(), overlap[top].tolist(), strict=True):
        stem = stems.setdefault(row, question_stem(texts[row]))
        if row not in options:
            options[row] = row_options_of(texts[row], row, row_options)
        consistent, agrees = fingerprint_check(stem, unit, case, config)
        if not agrees and options_disagree(options[row], case.words.unit_options[unit]):
            continue  # a stem that says nothing specific, asking another question ("Which of the following is true?")
        if consistent:
            candidates.append((row, unit, words, agrees))
    hits: list[list[Hit]] = [[] for _ in texts]
    if index.static_fingerprint:
        candidates, band_hits = _near_by_static(candidates, stems, options, index, config)
        for row, row_hits in band_hits.items():
            hits[row] = row_hits
    if not candidates:
        return hits
    embedded = sorted({row for row, *_ in candidates})
    embedder = embedder_for(config)
    set_threads(threads)  # after loading: PyTorch is told only once it is imported
    vectors = embedder.encode([stems[row] for row in embedded], batch_size_for(config, embedder))
    if vectors.shape[1] != index.embeddings.shape[1]:  # checked here: loading the index does not load the model
        raise MedrlError(
            f"the pack's semantic index holds {index.embeddings.shape[1]}-dimensional embeddings, model "
            f"{config.model} makes {vectors.shape[1]}: delete the pack's index cache (medrl rebuilds it)"
        )
    position = {row: i for i, row in enumerate(embedded)}
    for row, unit, words, agrees in candidates:
        similarity = float(vectors[position[row]] @ index.embeddings[unit])
        if similarity >= (config.min_similarity if agrees else config.min_similarity_without_fingerprint):
            evidence = _evidence(similarity, words, stems[row], options[row], unit, index)
            hits[row].append(Hit(unit, round(100 * similarity, 2), evidence))
    return hits


def _near_by_static(
    candidates: list[tuple[int, int, float, bool]],
    stems: dict[int, str],
    options: dict[int, frozenset[str]],
    index: SemanticIndex,
    config: SemanticConfig,
) -> tuple[list[tuple[int, int, float, bool]], dict[int, list[Hit]]]:
    """(the candidates left for the transformer, the hits of rows matched here by the accept band). Left: those whose
    stems' static similarity reaches the cut for their fingerprint, on rows the band did not match."""
    rows = sorted({row for row, *_ in candidates})
    vectors = static_embedder_for(config).encode([stems[row] for row in rows])
    position = {row: i for i, row in enumerate(rows)}
    near = []
    for row, unit, words, agrees in candidates:
        similarity = float(vectors[position[row]] @ index.static_embeddings[unit])
        cut = config.static_cut if agrees else config.static_cut_without_fingerprint
        if not cut or similarity >= cut:  # a cut of 0 is off (the band alone on)
            near.append((row, unit, words, agrees, similarity))
    band: dict[int, list[Hit]] = {}
    for row, unit, words, _, similarity in near:
        if config.static_accept and similarity >= config.static_accept:
            evidence = _evidence(similarity, words, stems[row], options[row], unit, index, model="static")
            band.setdefault(row, []).append(Hit(unit, round(100 * min(similarity, 1.0), 2), evidence))
    return [(row, unit, words, agrees) for row, unit, words, agrees, _ in near if row not in band], band
