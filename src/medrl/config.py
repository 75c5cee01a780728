"""Every detection setting in one place, as frozen dataclasses, plus the named presets.

A preset is just a complete `DecontaminationConfig`; the resolved config is written into every report so a run
can be reproduced and diffed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from medrl.errors import MedrlError

# rapidfuzz.fuzz scorers a user may pick for the fuzzy stage (all return 0-100 similarities).
FUZZY_SCORERS = ("ratio", "partial_ratio", "token_sort_ratio", "token_set_ratio", "QRatio", "WRatio")


@dataclass(frozen=True)
class NgramConfig:
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
class FuzzyConfig:
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
class DecontaminationConfig:
    """A complete decontamination run configuration (what a preset resolves to)."""

    preset: str
    # Training columns whose text is checked; each is checked on its own and a match in any flags the row.
    fields: tuple[str, ...] = ("question",)
    # Stages, run in this order; None disables a stage.
    ngram: NgramConfig | None = field(default_factory=NgramConfig)
    fuzzy: FuzzyConfig | None = field(default_factory=FuzzyConfig)
    # False: a later stage only examines rows earlier stages kept, as the seed pipeline did (faster; `by_method`
    # then counts the rows each stage removed). True: every stage examines every row (complete evidence).
    run_all_stages: bool = False
    # Evidence kept per removed row, strongest first (0 = all). Counts in the report always use every match.
    max_matches_per_row: int = 10
    # Rows per batch: the unit of work of every engine. Results do not depend on it.
    batch_size: int = 2048
    # Threads for rapidfuzz's cdist (-1 = all cores). Results do not depend on it.
    workers: int = -1

    def __post_init__(self) -> None:
        if not self.fields:
            raise MedrlError("at least one --field is needed")
        if self.ngram is None and self.fuzzy is None:
            raise MedrlError("every detection stage is disabled: enable ngram or fuzzy")
        if self.batch_size < 1:
            raise MedrlError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.max_matches_per_row < 0:
            raise MedrlError(f"max_matches_per_row must be >= 0, got {self.max_matches_per_row}")

    def replace(self, **changes: object) -> DecontaminationConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


PRESETS: dict[str, DecontaminationConfig] = {
    # The II-Medical-RL method exactly: open-r1 word 8-grams, then fuzz.ratio >= 80 on the question.
    "ii-medical-rl": DecontaminationConfig(
        preset="ii-medical-rl", ngram=NgramConfig(n=8), fuzzy=FuzzyConfig(scorer="ratio", threshold=80.0)
    ),
}
# Until a preset with measured better quality exists, the default is the seed method.
DEFAULT_PRESET = "ii-medical-rl"


def preset(name: str = DEFAULT_PRESET) -> DecontaminationConfig:
    """The named preset's config; raise with the list of known presets when it is unknown."""
    try:
        return PRESETS[name]
    except KeyError:
        raise MedrlError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}") from None
