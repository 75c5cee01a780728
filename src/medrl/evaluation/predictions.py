"""Per-item results from another harness, matched to pack items; what cannot be matched is listed, never guessed.

Two shapes are read (JSON values only; nothing read is executed):

* plain: CSV or JSONL rows `benchmark, item_id, correct` (`correct`: true/false, 0/1 or a score in [0, 1]); a row
  may give `question` instead of `item_id`. Several rows for one item are its samples (the item scores their mean).
* lm-evaluation-harness `--log_samples` JSONL (`samples_<task>_<date>.jsonl`): one line per document and filter,
  the document itself under `doc`, the metric names under `metrics` and their values at the top level. The score
  is the first listed metric (`acc` for multiple-choice tasks, `exact_match` for generative ones) under the first
  filter in the file; the task's own `doc_id` is its row number, not the pack's id, so lines are matched by text:
  the pack item whose normalised question equals a string value of `doc`.

Normalised question text: the detection's folded words (case, accents, punctuation and spacing do not count). A
text equal to the questions of several items of the chosen benchmarks is ambiguous and left unmatched.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from medrl.benchmarks.loaders import BenchmarkItem
from medrl.detection.text import words
from medrl.errors import MedrlError
from medrl.io.readers import csv_batches, jsonl_batches

ItemId = tuple[str, str]  # (benchmark, item_id)
_TRUE, _FALSE = ("true", "yes", "1", "1.0"), ("false", "no", "0", "0.0", "")


@dataclass(frozen=True)
class Matched:
    """The predictions file, matched: scores per item (one per sample), what stayed unmatched, and how it was read."""

    scores: dict[ItemId, list[float]]
    unmatched: list[dict]
    source: dict


def normalised(text: str) -> str:
    return " ".join(words(text))


class ItemIndex:
    """The chosen benchmarks' items by id and by normalised question."""

    def __init__(self, items: Iterable[BenchmarkItem]) -> None:
        self.ids: set[ItemId] = set()
        self.texts: dict[str, set[ItemId]] = {}
        for item in items:
            key = (item.benchmark, item.item_id)
            self.ids.add(key)
            self.texts.setdefault(normalised(item.question), set()).add(key)
        self.texts.pop("", None)

    def by_text(self, texts: Iterable[str], benchmark: str | None) -> tuple[ItemId | None, str]:
        """The one item whose question is one of `texts` (within `benchmark` when given), else None and why."""
        found: set[ItemId] = set()
        for text in texts:
            found |= {key for key in self.texts.get(normalised(text), ()) if benchmark in (None, key[0])}
        if len(found) == 1:
            return found.pop(), ""
        return None, "ambiguous: the question of several items" if found else "no item has this question"


def _score(value: object, where: str) -> float:
    """A `correct` cell as a score in [0, 1]."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and 0 <= value <= 1:
        return float(value)
    if isinstance(value, str) and value.strip().lower() in (*_TRUE, *_FALSE):
        return float(value.strip().lower() in _TRUE)
    raise MedrlError(f"{where}: correct is {value!r}; give true/false, 0/1 or a score between 0 and 1")


def _rows(path: Path) -> Iterator[tuple[dict, str]]:
    if not path.is_file():
        raise MedrlError(f"{path}: no such file; give --predictions a CSV or JSONL file of per-item results")
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".jsonl"):
        raise MedrlError(f"{path}: predictions are read from .csv or .jsonl files, not {suffix or 'no suffix'}")
    batches = csv_batches(path, 4096) if suffix == ".csv" else jsonl_batches(path, 4096)
    for batch in batches:
        for offset, row in enumerate(batch.to_pylist()):
            yield row, f"{path}, {batch.where(offset)}"


def _lm_eval_texts(doc: object) -> list[str]:
    """The string values of an lm-eval document, one level deep (its question is one of them)."""
    if not isinstance(doc, dict):
        return []
    return [value for value in doc.values() if isinstance(value, str)]


def read_predictions(path: Path, index: ItemIndex, benchmarks: list[str]) -> Matched:
    """Every row of `path` matched to an item of `benchmarks` (by id, else by question text) or listed unmatched."""
    scores: dict[ItemId, list[float]] = {}
    unmatched: list[dict] = []
    source: dict = {"path": str(path)}
    filter_name: object = None
    for row, where in _rows(path):
        if "doc" in row and "metrics" in row:  # an lm-evaluation-harness sample line
            source["format"] = "lm-eval"
            if filter_name is None:
                filter_name = row.get("filter")
                source["filter"] = filter_name
            if row.get("filter") != filter_name:
                continue
            metrics = row["metrics"]
            if not isinstance(metrics, list) or not metrics or metrics[0] not in row:
                raise MedrlError(f"{where}: an lm-eval sample without its metric values; give the --log_samples file")
            source.setdefault("metric", metrics[0])
            key, why = index.by_text(_lm_eval_texts(row["doc"]), benchmarks[0] if len(benchmarks) == 1 else None)
            label = {"where": where, "doc_id": row.get("doc_id")}
            value = row[metrics[0]]
        else:
            source["format"] = "plain"
            benchmark = row.get("benchmark")
            if benchmark not in benchmarks:
                unmatched.append({"where": where, "benchmark": benchmark, "reason": "not a chosen benchmark"})
                continue
            if "correct" not in row:
                raise MedrlError(f"{where}: no correct column; plain predictions have benchmark, item_id, correct")
            item_id, question = row.get("item_id"), row.get("question")
            label = {"where": where, "benchmark": benchmark, "item_id": item_id}
            if item_id not in (None, ""):
                key = (str(benchmark), str(item_id))
                why = "" if key in index.ids else "no item has this id"
                key = key if not why else None
            elif isinstance(question, str):
                key, why = index.by_text([question], str(benchmark))
            else:
                raise MedrlError(f"{where}: neither item_id nor question; give one to match the pack item")
            value = row["correct"]
        score = _score(value, where)
        if key is None:
            unmatched.append(label | {"reason": why})
            continue
        scores.setdefault(key, []).append(score)
    if "format" not in source:
        raise MedrlError(f"{path}: holds no predictions")
    return Matched(scores, unmatched, source)
