"""Paths, workload sizes, the reference sample and small I/O helpers shared by run.py, child.py and workloads.py.

Nothing here imports medrl, so the reference subprocesses measure only the reference methods.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SHARED = REPO.parent / "shared" / "data"
BENCHMARKS_DIR = SHARED / "benchmarks"
TRAINING_DIR = SHARED / "training"
CACHE = HERE / ".cache"
PACK_DIR = CACHE / "pack"
QUESTIONS_FILE = CACHE / "benchmark_questions.json"  # every pack item's question, pack order (written by run.py)

WORKLOADS = {"S": 32_000, "M": 200_000, "L": 1_000_000}
SEED = 0

# The reference sample: one random permutation of the workload's rows (seed 0); nested prefixes of it are the
# rows each reference stage examines, so every fuzzy-sample row also has its 8-gram decision.
FUZZY_C_FACTOR = 2  # (c) cdist examines 2 x --reference-sample rows
NGRAM_FACTOR = 25  # (a) examines 25 x --reference-sample rows (capped at the workload size)


def sample_order(rows: int) -> np.ndarray:
    """The workload's row indices in reference-sample order (seeded, so parent and children agree)."""
    return np.random.default_rng(SEED).permutation(rows)


def sample_sizes(rows: int, reference_sample: int) -> dict[str, int]:
    """Rows examined by each reference stage: (a) 8-gram, (b) extract, (c) cdist."""
    return {
        "a": min(rows, NGRAM_FACTOR * reference_sample),
        "b": min(rows, reference_sample),
        "c": min(rows, FUZZY_C_FACTOR * reference_sample),
    }


def read_questions() -> list[str]:
    return json.loads(QUESTIONS_FILE.read_text(encoding="utf-8"))


def iter_jsonl(path: Path):
    """Rows of a JSONL file, split on b"\\n" only (real texts contain U+2028/U+2029)."""
    with path.open("rb") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def fmt_rows(rows: int) -> str:
    """32000 -> '32k', 1000000 -> '1M', 3200 -> '3.2k'."""
    for unit, size in (("M", 1_000_000), ("k", 1_000)):
        if rows >= size:
            value = rows / size
            return f"{value:g}{unit}" if value < 10 or value == int(value) else f"{value:.0f}{unit}"
    return str(rows)


def parse_rows(text: str) -> int:
    """'32k' -> 32000, '1M' -> 1000000, '3.2k' -> 3200, '5000' -> 5000."""
    text = text.strip().lower().replace("_", "").replace(",", "")
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    number = text[:-1] if scale != 1 else text
    return round(float(number) * scale)
