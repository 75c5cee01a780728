"""The detector contract every stage follows, and what a stage is given.

A stage is one module holding everything about itself: its settings dataclass (`settings_class`), its part of the
pack index (`index` / `load_index`), its hits (`hits`), and what the report says of it (`confidence` class, evidence
order, what its score and evidence mean, its threshold line and chart colour). `Stage` is an abstract base: a stage
missing a method cannot be instantiated, and one missing a class attribute fails when its class is defined, so the
registry (`medrl.detection.stages.STAGES`) fails at import, never in the middle of a run. Stages know nothing of
files, batches, engines or each other; what several stages (and dedup) share lives in modules of its own under
`medrl.detection`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from medrl.benchmarks.loaders import BenchmarkItem
from medrl.detection.arrays import ArrayReader, Arrays
from medrl.detection.hits import RowHits
from medrl.detection.stage_settings import StageSettings

# A match's class: "certain" when the benchmark text is in the row, "review" for weaker evidence (a rewrite) that a
# person may want to check (see `--review`). Stronger classes first.
CONFIDENCE_CLASSES = ("certain", "review")


@dataclass(frozen=True)
class RunContext:
    """The run-wide settings a stage may use: evidence kept per row (0 = all) and threads (-1 = all cores).
    Neither changes which rows match."""

    max_matches_per_row: int = 10
    workers: int = -1


@dataclass(frozen=True)
class StageBatch:
    """What a stage examines: training texts, each row's folded options from an options column (None: the options
    written in the text count), the run-wide context, and whether the texts are paragraphs of longer texts (see
    `medrl.detection.paragraphs`)."""

    texts: list[str]
    options: list[frozenset[str]] | None
    run: RunContext
    paragraphs: bool = False


@dataclass(frozen=True)
class TextTable:
    """The pack's unique question texts, in first-seen order, and the items carrying each (MedQA 4- and 5-option
    share theirs): text-based stages index and score each text once."""

    texts: tuple[str, ...]
    text_items: tuple[tuple[int, ...], ...]


class StageIndex(Protocol):
    """A stage's part of the pack index."""

    # Per unit (the `text_id` of a hit): the pack items it stands for.
    @property
    def unit_items(self) -> tuple[tuple[int, ...], ...]: ...

    def to_arrays(self) -> Arrays: ...


@dataclass(frozen=True)
class RunOption:
    """A stage setting offered as a run-level flag (`--embedding-model` sets the semantic stage's `model`)."""

    setting: str
    help: str


SettingsT = TypeVar("SettingsT", bound=StageSettings)
IndexT = TypeVar("IndexT", bound=StageIndex)

_CLASS_ATTRIBUTES = ("name", "settings_class", "evidence_rank", "confidence", "color", "score", "evidence")


class Stage(ABC, Generic[SettingsT, IndexT]):
    """A detection stage. Class attributes:

    `name`: its key in configs, TOML tables and reports, and the `method` its matches carry; `settings_class`: its
    frozen settings dataclass; `evidence_rank`: its place when a row's evidence is ordered (the most direct first);
    `confidence`: the class of its matches (one of `CONFIDENCE_CLASSES`); `color`: its colour in the report's
    charts; `score` / `evidence`: what a match's score and evidence hold; `score_ceiling`: the score's top for charts
    (None: an unbounded count); `run_options`: settings offered as run-level flags; `checks_paragraphs`: whether
    the paragraphs of long texts are also given to it as texts of their own (stages that weigh a match against the
    row's length: see `medrl.detection.paragraphs`).
    """

    name: ClassVar[str]
    settings_class: ClassVar[type[StageSettings]]
    evidence_rank: ClassVar[int]
    confidence: ClassVar[str]
    color: ClassVar[str]
    score: ClassVar[str]
    evidence: ClassVar[str]
    score_ceiling: ClassVar[float | None] = 100.0
    run_options: ClassVar[Mapping[str, RunOption]] = {}
    checks_paragraphs: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        missing = [name for name in _CLASS_ATTRIBUTES if not hasattr(cls, name)]
        if missing:
            raise TypeError(f"stage {cls.__name__} does not define {', '.join(missing)}")
        if cls.confidence not in CONFIDENCE_CLASSES:
            raise TypeError(f"stage {cls.name}: confidence {cls.confidence!r} is not one of {CONFIDENCE_CLASSES}")
        if not issubclass(cls.settings_class, StageSettings):
            raise TypeError(f"stage {cls.name}: settings_class must subclass StageSettings")

    def prepare(self, settings: SettingsT) -> None:
        """Check what the stage needs from outside the pack (a model) before any index is built, so that it fails
        first. Most stages need nothing."""

    def share_with_workers(self, settings: SettingsT) -> None:
        """Load, in the parent of worker processes and before they start, what they may share: forked workers
        inherit it copy-on-write (one model per machine, not one per worker). Most stages share nothing."""

    def index_settings(self, settings: SettingsT) -> object:
        """What of the settings this stage's index depends on: the pack's index cache is keyed by it, so a setting
        that only changes how rows are matched (a threshold, a runtime) reuses the cached index. All of them unless
        the stage says less."""
        return settings

    @abstractmethod
    def index(self, items: Sequence[BenchmarkItem], table: TextTable, settings: SettingsT) -> IndexT:
        """Build this stage's part of the pack index."""

    @abstractmethod
    def load_index(self, reader: ArrayReader, table: TextTable, settings: SettingsT, item_count: int) -> IndexT:
        """Rebuild the part `index(...).to_arrays()` stored, validating it (raises `CacheInvalid`)."""

    @abstractmethod
    def hits(self, batch: StageBatch, index: IndexT, settings: SettingsT) -> list[RowHits]:
        """Per text of the batch, what it matches."""

    @abstractmethod
    def threshold(self, settings: Mapping[str, Any]) -> tuple[float, str]:
        """The score a match must reach (in `score`'s units) and what that line means, for the report's charts;
        from the settings as a report stores them (a dict), so a report of an earlier run draws as it ran."""
