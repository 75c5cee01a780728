"""Training-side rows and pack-side items of the paraphrase set, read from the shared files, plus case fingerprints.

A training row is named by its file (relative to the shared data directory) and its 0-based row index in file order;
that pair is the row's stable id everywhere in this directory (adjudication, split, results).
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.append(str(HERE.parent))  # bench/quality's common.py; this directory's modules stay first
from common import (  # noqa: E402, F401
    DEFAULT_DATA,
    DEFAULT_PACK,
    builder_parser,
    ensure_pack,
    harness_parser,
    load_training,
    markdown_table,
    norm,
    row_half,
    rules_of,
    rules_table,
    stem,
    with_embedding_model,
    write_csv,
    write_jsonl,
)

CACHE = HERE / ".cache"
ADJUDICATION = HERE / "adjudication.csv"
DEFAULT_SET = CACHE / "paraphrase.jsonl"

# Training-side file -> the pack benchmarks it comes from (left out of the pack when its rows are evaluated).
TRAIN_FILES = {
    "benchmarks/medqa/test.jsonl": ("medqa", "medqa_5options"),
    "benchmarks/medbullets_op4/test.csv": ("medbullets_op4", "medbullets_op5"),
    "training/medqa_dev.json": (),
    "training/huatuogpt_o1_demo.json": (),
}
# Pack-side benchmarks a paraphrase may point at (MedXpertQA rewrote MedQA and MedBullets cases).
TARGETS = ("medxpertqa", "medbullets_op4", "medqa")

_AGE = re.compile(r"\b(\d+)[- ](year|month|week|day)s?[- ]old\b", re.I)
_SEX = {
    "m": re.compile(r"\b(man|male|boy|gentleman|he|his|him)\b", re.I),
    "f": re.compile(r"\b(woman|female|girl|lady|she|her|pregnant)\b", re.I),
}
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


@dataclass(frozen=True)
class Entry:
    """One question on either side: its stem (no inline options), options and keyed answer text."""

    source: str  # training file, or pack benchmark
    key: str  # training row index, or benchmark item id
    stem: str
    options: tuple[tuple[str, str], ...]
    answer: str


def _answer(options: tuple[tuple[str, str], ...], letter: str | None) -> str:
    return dict(options).get(letter or "", "")


def load_entries(data: Path = DEFAULT_DATA, pack: Path = DEFAULT_PACK) -> tuple[list[Entry], list[Entry]]:
    """(training-side rows of TRAIN_FILES, pack-side items of TARGETS), each in file order."""
    from medrl.benchmarks.pack import load_pack

    items = load_pack(ensure_pack(data, pack)).items
    rows: list[Entry] = []
    for file, benchmarks in TRAIN_FILES.items():
        if benchmarks:
            own = [item for item in items if item.benchmark == benchmarks[0]]
            for index, item in enumerate(own):
                answer = _answer(item.options, item.answer)
                rows.append(Entry(file, str(index), stem(item.question), item.options, answer))
    raw = {
        name: json.loads((data / "training" / name).read_text(encoding="utf-8"))
        for name in ("medqa_dev.json", "huatuogpt_o1_demo.json")
    }
    for row in load_training(data):
        if row.file in raw:
            answer = raw[row.file][row.row]["answer"]
            rows.append(Entry(f"training/{row.file}", str(row.row), row.text, row.options, answer))
    targets = [
        Entry(item.benchmark, item.item_id, stem(item.question), item.options, _answer(item.options, item.answer))
        for item in items
        if item.benchmark in TARGETS
    ]
    return rows, targets


def age(text: str) -> str:
    """'67y' / '3month' for the first "N-year-old" in the text, '' when none."""
    match = _AGE.search(text)
    return f"{match.group(1)}{match.group(2)[0].lower()}" if match else ""


def sex(text: str) -> str:
    """'m', 'f' or '' by which pronouns/nouns the first 40 words use."""
    head = " ".join(text.split()[:40])
    found = [s for s, pattern in _SEX.items() if pattern.search(head)]
    return found[0] if len(found) == 1 else ""


def numbers(text: str) -> set[str]:
    """Numbers in the text, as written (ages, vitals, lab values, doses)."""
    return set(_NUMBER.findall(text))


__all__ = [
    "ADJUDICATION",
    "CACHE",
    "DEFAULT_DATA",
    "DEFAULT_PACK",
    "DEFAULT_SET",
    "Entry",
    "ensure_pack",
    "load_entries",
    "norm",
]
