"""The registry of detection stages, in the order they run.

Adding a stage: one module with a `base.Stage` subclass (its settings dataclass, index, hits, evidence wording,
threshold line and chart colour), and one entry here. Configs, TOML tables, running, caching the index, evidence
order, counts and the report's charts all derive from this registry; the named presets are in `presets`.
"""

from __future__ import annotations

from typing import Any

from medrl.detection.hits import Hit
from medrl.detection.stages.base import (
    CONFIDENCE_CLASSES,
    RowHits,
    RunContext,
    RunOption,
    Stage,
    StageBatch,
    StageIndex,
    StageSettings,
    TextTable,
)
from medrl.detection.stages.coverage import CoverageStage
from medrl.detection.stages.fuzzy import FuzzyStage
from medrl.detection.stages.ngram import NgramStage
from medrl.detection.stages.rewrite import RewriteStage
from medrl.detection.stages.semantic import SemanticStage

STAGES: tuple[Stage[Any, Any], ...] = (CoverageStage(), RewriteStage(), NgramStage(), FuzzyStage(), SemanticStage())
STAGE_NAMES = tuple(stage.name for stage in STAGES)
STAGES_BY_NAME: dict[str, Stage[Any, Any]] = {stage.name: stage for stage in STAGES}
# A row's class is the strongest of its matches' (`CONFIDENCE_CLASSES`, stronger first).
CLASS_STRENGTH = {confidence: -position for position, confidence in enumerate(CONFIDENCE_CLASSES)}


def run_option(option: str) -> tuple[Stage[Any, Any], RunOption]:
    """The stage offering a run-level option (`Stage.run_options`, e.g. `embedding_model`), and the option."""
    for stage in STAGES:
        if option in stage.run_options:
            return stage, stage.run_options[option]
    raise KeyError(option)


def run_option_help(option: str) -> str:
    """A run option's help text for the command line."""
    return run_option(option)[1].help


__all__ = [
    "CLASS_STRENGTH",
    "CONFIDENCE_CLASSES",
    "STAGES",
    "STAGES_BY_NAME",
    "STAGE_NAMES",
    "Hit",
    "RowHits",
    "RunContext",
    "RunOption",
    "Stage",
    "StageBatch",
    "StageIndex",
    "StageSettings",
    "TextTable",
    "run_option",
    "run_option_help",
]
