"""Every detection setting in one place, as frozen dataclasses, plus the named presets.

A preset is just a complete `DecontaminationConfig`; the resolved config is written into every report so a run
can be reproduced and diffed.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from dataclasses import dataclass, field

from medrl.errors import MedrlError

REVIEW_POLICIES = ("remove", "keep", "separate")
# rapidfuzz.fuzz scorers a user may pick for the fuzzy stage (all return 0-100 similarities).
FUZZY_SCORERS = ("ratio", "partial_ratio", "token_sort_ratio", "token_set_ratio", "QRatio", "WRatio")


class StageSettings:
    """Base of every detection stage's settings: a `DecontaminationConfig` field holding one (or None, the stage
    off) is named after its stage in `medrl.detection.stages.STAGES`."""

    def check_fractions(self, stage: str, *names: str) -> None:
        """Raise naming the first of these settings that is not in (0, 1]."""
        for name in names:
            if not 0 < getattr(self, name) <= 1:
                raise MedrlError(f"{stage}.{name} must be in (0, 1], got {getattr(self, name)}")


@dataclass(frozen=True)
class NgramConfig(StageSettings):
    """Word n-gram overlap as in open-r1's decontaminate script.

    Text is lower-cased, stripped, whitespace runs collapsed (Python `str.split()`), split on whitespace; a row is
    flagged when any of its word n-grams occurs in a benchmark question. Texts shorter than `n` words have no
    n-grams and can never be flagged by this stage (the seed method's blind spot, kept for exactness).
    """

    n: int = 8

    def __post_init__(self) -> None:
        if self.n < 1:
            raise MedrlError(f"ngram.n must be >= 1, got {self.n}")


@dataclass(frozen=True)
class FuzzyConfig(StageSettings):
    """Character-level fuzzy matching of the raw row text against each raw benchmark question.

    `scorer` names a rapidfuzz.fuzz function (default `ratio`: normalised Indel similarity, no processor, as in
    OpenThoughts' `process.extract(..., scorer=fuzz.ratio)`); a pair matches when its score >= `threshold`.
    """

    scorer: str = "ratio"
    threshold: float = 80.0

    def __post_init__(self) -> None:
        if self.scorer not in FUZZY_SCORERS:
            raise MedrlError(f"fuzzy.scorer {self.scorer!r} is not one of {', '.join(FUZZY_SCORERS)}")
        if not 0 < self.threshold <= 100:
            raise MedrlError(f"fuzzy.threshold must be in (0, 100], got {self.threshold}")


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

    def __post_init__(self) -> None:
        if not 1 <= self.n <= 3:
            raise MedrlError(f"coverage.n must be 1..3 (n-grams are packed exactly into 63 bits), got {self.n}")
        self.check_fractions("coverage", "min_item_coverage", "min_row_coverage")
        if self.stock_df < 1 or self.min_shared < 1 or self.generic_min_rare < 0:
            raise MedrlError("coverage.stock_df and coverage.min_shared must be >= 1, generic_min_rare >= 0")


@dataclass(frozen=True)
class RewriteConfig(StageSettings):
    """Rewritten copies: a benchmark case reworded (MedXpertQA rewrote MedQA cases) keeps its options and its
    numbers (ages, vitals, lab values, doses), while different patients on the same topic share stock options.

    "Words" is the share of rarer words (in at most `stock_df` benchmark questions) of the shorter text found in the
    other; "numbers agree" when neither text has a number above 10 (or a decimal), or at least
    `min_number_agreement` of the smaller set of such numbers is shared, or the words alone are overwhelming
    (>= `words_override`). A row sharing at least one option with an item, and at least `min_words` words, is
    flagged when:
    1. at least `min_option_overlap` of the row's options are the item's, words >= `min_word_overlap`, the numbers
       agree, and (when a side has no such numbers) a shared option is rare (in at most `stock_option_df`
       benchmark questions: "Propranolol" or "Autosomal dominant" are stock distractors, not a case);
    2. or words >= `min_word_overlap_one_option` and the numbers agree (rewrites that reworded their options);
    3. or the case's numbers match: at least `fingerprint_numbers` shared numbers, and at least
       `fingerprint_agreement` of each side's numbers shared (a rewrite that reworded nearly everything but the
       patient; a different patient on the same topic shares a few stock values, not most of a case's numbers).
    A row with no options at all (open-ended or reformatted training data) is flagged by rule 3, or when it
    describes the same patient (age and sex) as the item and shares at least `min_word_overlap_same_patient` of the
    rarer words.
    Matches of this stage are `review` class: a person can check them (see `--review`). The thresholds were set on
    bench/quality's adjudicated real reuse (see its README for which figures are in-sample).
    """

    stock_df: int = 20
    min_words: float = 0.12
    min_word_overlap: float = 0.15
    min_option_overlap: float = 0.6
    min_word_overlap_one_option: float = 0.5
    stock_option_df: int = 2
    min_number_agreement: float = 0.5
    words_override: float = 0.75
    fingerprint_numbers: int = 3
    fingerprint_agreement: float = 0.6
    min_word_overlap_same_patient: float = 0.35

    def __post_init__(self) -> None:
        fractions = ("min_words", "min_word_overlap", "min_option_overlap", "min_word_overlap_one_option")
        fractions += ("min_number_agreement", "words_override", "fingerprint_agreement")
        self.check_fractions("rewrite", *fractions, "min_word_overlap_same_patient")
        if min(self.stock_df, self.stock_option_df, self.fingerprint_numbers) < 1:
            raise MedrlError("rewrite.stock_df, stock_option_df and fingerprint_numbers must be >= 1")


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
    patient on the same topic. Thresholds were chosen on the tune half of bench/quality/paraphrase (and the options
    rule on bench/quality's generic stems). Matches are `review` class. `device`: None picks a GPU when one is
    present; `batch_size` is the embedding batch (neither changes which rows match beyond float rounding).
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

    def __post_init__(self) -> None:
        fractions = ("min_words", "min_number_agreement", "min_similarity", "min_similarity_without_fingerprint")
        self.check_fractions("semantic", *fractions)
        if min(self.max_seq_length, self.batch_size, self.stock_df, self.candidates) < 1:
            raise MedrlError("semantic.max_seq_length, batch_size, stock_df and candidates must be >= 1")
        if not self.model:
            raise MedrlError("semantic.model must name a Hugging Face model id or a local directory")


@dataclass(frozen=True)
class DecontaminationConfig:
    """A complete decontamination run configuration (what a preset resolves to)."""

    preset: str
    # Training columns whose text is checked; each is checked on its own and a match in any flags the row.
    fields: tuple[str, ...] = ("question",)
    # Each stage's settings, None = off. Stages run in the order of `medrl.detection.stages.STAGES` (coverage,
    # rewrite, ngram, fuzzy, semantic), whatever the order here.
    ngram: NgramConfig | None = field(default_factory=NgramConfig)
    fuzzy: FuzzyConfig | None = field(default_factory=FuzzyConfig)
    coverage: CoverageConfig | None = None
    rewrite: RewriteConfig | None = None
    semantic: SemanticConfig | None = None
    # Where each row's options are, for option-aware matching: "auto" (default) finds an options column by name
    # (see `medrl.detection.records.detect_options_field`); a column name (dict, list or "A. ..." lines) or a tuple
    # of one column per option; None: no column. Rows without column options use the options written in their text.
    options_field: str | tuple[str, ...] | None = "auto"
    # What happens to rows whose only evidence is review-class (a rewrite, not the benchmark text itself): "remove"
    # them (default), "keep" them in clean, or "separate" them into review.<ext> for a person to decide.
    review: str = "remove"
    # False: a later stage only examines rows earlier stages kept, as the seed pipeline did (faster; `by_method`
    # then counts the rows each stage removed). True: every stage examines every row (complete evidence).
    run_all_stages: bool = False
    # Evidence kept per removed row, strongest first (0 = all). Counts in the report always use every match.
    max_matches_per_row: int = 10
    # Rows per batch: the unit of work of every engine. Results do not depend on it.
    batch_size: int = 2048
    # Threads for the fuzzy stage (-1 = all cores). Results do not depend on it.
    workers: int = -1
    # Worker processes for detection (0 = auto: one per core for inputs over 16 MB). Results do not depend on it.
    processes: int = 0
    # Where batches run: "local" (this process, or `processes` worker processes) or "ray" (Ray actors; a cluster
    # when `ray_address` is set). Results do not depend on it.
    engine: str = "local"
    ray_address: str | None = None

    def __post_init__(self) -> None:
        if not self.fields:
            raise MedrlError("at least one --field is needed")
        if not any(self.stage_settings().values()):
            names = ", ".join(self.stage_settings())
            raise MedrlError(f"every detection stage is disabled: enable one of {names}")
        if self.batch_size < 1:
            raise MedrlError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.review not in REVIEW_POLICIES:
            raise MedrlError(f"review must be one of {', '.join(REVIEW_POLICIES)}, got {self.review!r}")
        if self.engine not in ("local", "ray"):
            raise MedrlError(f"engine must be 'local' or 'ray', got {self.engine!r}")
        if self.processes < 0:
            raise MedrlError(f"processes must be >= 0 (0 = auto), got {self.processes}")
        if self.max_matches_per_row < 0:
            raise MedrlError(f"max_matches_per_row must be >= 0, got {self.max_matches_per_row}")

    def stage_settings(self) -> dict[str, StageSettings | None]:
        """Every stage's settings by stage name (None: off)."""
        return {name: getattr(self, name) for name in stage_classes()}

    def replace(self, **changes: object) -> DecontaminationConfig:
        return dataclasses.replace(self, **changes)

    def with_embedding_model(self, model: str | None) -> DecontaminationConfig:
        """This config with the semantic stage's model replaced (None: unchanged); an error when the stage is off."""
        if model is None:
            return self
        if self.semantic is None:
            raise MedrlError(
                f"an embedding model is only used by the semantic stage, which preset {self.preset} does not run "
                "(--preset medrl-semantic, or a [semantic] table in --config)"
            )
        return self.replace(semantic=dataclasses.replace(self.semantic, model=model))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@functools.cache
def stage_classes() -> dict[str, type[StageSettings]]:
    """`DecontaminationConfig`'s stage fields (typed `SomeStageSettings | None`) and their settings classes."""
    hints = typing.get_type_hints(DecontaminationConfig)
    return {
        f.name: kind
        for f in dataclasses.fields(DecontaminationConfig)
        for kind in typing.get_args(hints[f.name])
        if isinstance(kind, type) and issubclass(kind, StageSettings)
    }


PRESETS: dict[str, DecontaminationConfig] = {
    # The II-Medical-RL method exactly: open-r1 word 8-grams, then fuzz.ratio >= 80 on the question.
    "ii-medical-rl": DecontaminationConfig(
        preset="ii-medical-rl", ngram=NgramConfig(n=8), fuzzy=FuzzyConfig(scorer="ratio", threshold=80.0)
    ),
    # medrl's own method: rare word n-gram coverage after Unicode/case/punctuation folding (see CoverageConfig).
    "medrl": DecontaminationConfig(
        preset="medrl", ngram=None, fuzzy=None, coverage=CoverageConfig(), rewrite=RewriteConfig()
    ),
    # medrl plus the semantic stage: reworded cases found by meaning and verified by their case fingerprint. Needs
    # the `semantic` extra (sentence-transformers) and an embedding model.
    "medrl-semantic": DecontaminationConfig(
        preset="medrl-semantic",
        ngram=None,
        fuzzy=None,
        coverage=CoverageConfig(),
        rewrite=RewriteConfig(),
        semantic=SemanticConfig(),
    ),
}
# medrl beats the seed method on the labelled set in bench/quality (see the README's table).
DEFAULT_PRESET = "medrl"


def preset(name: str = DEFAULT_PRESET) -> DecontaminationConfig:
    """The named preset's config; raise with the list of known presets when it is unknown."""
    try:
        return PRESETS[name]
    except KeyError:
        raise MedrlError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}") from None
