"""The named presets: which stages run, with which settings. `medrl.config.PRESETS` turns each into a complete
`DecontaminationConfig`; every other run setting keeps its default."""

from __future__ import annotations

from medrl.detection.rare_ngrams import CoverageConfig
from medrl.detection.stage_settings import StageSettings
from medrl.detection.stages.fuzzy import FuzzyConfig
from medrl.detection.stages.ngram import NgramConfig
from medrl.detection.stages.rewrite import RewriteConfig
from medrl.detection.stages.semantic import SemanticConfig

PRESET_STAGES: dict[str, dict[str, StageSettings]] = {
    # The II-Medical-RL method exactly: open-r1 word 8-grams, then fuzz.ratio >= 80 on the question.
    "ii-medical-rl": {"ngram": NgramConfig(n=8), "fuzzy": FuzzyConfig(scorer="ratio", threshold=80.0)},
    # medrl's own method: rare word n-gram coverage after Unicode/case/punctuation folding (see CoverageConfig),
    # and reworded cases by their options and numbers (see RewriteConfig).
    "medrl": {"coverage": CoverageConfig(), "rewrite": RewriteConfig()},
    # medrl plus the semantic stage: reworded cases found by meaning and verified by their case fingerprint. Needs
    # the `semantic` extra (sentence-transformers) and an embedding model.
    "medrl-semantic": {"coverage": CoverageConfig(), "rewrite": RewriteConfig(), "semantic": SemanticConfig()},
}
# medrl beats the seed method on the labelled set in bench/quality (see the README's table).
DEFAULT_PRESET = "medrl"
