"""The registry of detection stages, in the order they run.

Adding a stage: one module with a class following `base.Stage`, one entry here, and a field of the same name in
`DecontaminationConfig` holding its settings (None = off). Everything else (running, caching the index, evidence
order, counts) derives from this registry.
"""

from __future__ import annotations

from medrl.detection.stages.base import Hit, RowHits, Stage, StageBatch, StageIndex, TextTable
from medrl.detection.stages.coverage import CoverageStage
from medrl.detection.stages.fuzzy import FuzzyStage
from medrl.detection.stages.ngram import NgramStage
from medrl.detection.stages.rewrite import RewriteStage
from medrl.detection.stages.semantic import SemanticStage

STAGES: tuple[Stage, ...] = (CoverageStage(), RewriteStage(), NgramStage(), FuzzyStage(), SemanticStage())
STAGE_NAMES = tuple(stage.name for stage in STAGES)

__all__ = ["STAGES", "STAGE_NAMES", "Hit", "RowHits", "Stage", "StageBatch", "StageIndex", "TextTable"]
