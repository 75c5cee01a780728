"""medrl: medical QA -> clean, verifiable RL datasets, provably free of evaluation-benchmark contamination."""

from medrl._version import __version__
from medrl.benchmarks.pack import add_benchmark, benchmark_spec, import_benchmarks, load_pack
from medrl.config import DEFAULT_PRESET, PRESETS, DecontaminationConfig, preset
from medrl.dataset.build import build, make_config

# The II-Medical-RL method's stage settings, for `DecontaminationConfig(stages=...)` from Python.
from medrl.detection.stages.fuzzy import FuzzyConfig
from medrl.detection.stages.ngram import NgramConfig
from medrl.errors import MedrlError
from medrl.pipeline import decontaminate, decontaminate_settings
from medrl.report import Report

__all__ = [
    "DEFAULT_PRESET",
    "PRESETS",
    "DecontaminationConfig",
    "FuzzyConfig",
    "MedrlError",
    "NgramConfig",
    "Report",
    "__version__",
    "add_benchmark",
    "benchmark_spec",
    "build",
    "decontaminate",
    "decontaminate_settings",
    "import_benchmarks",
    "load_pack",
    "make_config",
    "preset",
]
