"""medrl: medical QA -> clean, verifiable RL datasets, provably free of evaluation-benchmark contamination."""

from importlib import metadata

try:
    __version__ = metadata.version("medrl")
except metadata.PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+unknown"

from medrl.build import build, make_config
from medrl.config import DEFAULT_PRESET, PRESETS, DecontaminationConfig, FuzzyConfig, NgramConfig, preset
from medrl.errors import MedrlError
from medrl.pack import import_benchmarks, load_pack
from medrl.pipeline import decontaminate
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
    "build",
    "decontaminate",
    "import_benchmarks",
    "load_pack",
    "make_config",
    "preset",
]
