"""Run statistics that become `report.json`: counts, the resolved config, versions and hashes, timings."""

from __future__ import annotations

import platform
from collections import Counter
from dataclasses import asdict, dataclass, field
from importlib import metadata

from medrl.detection.decide import Verdict


def versions() -> dict[str, str]:
    """medrl's and its dependencies' versions, for reproducibility."""
    found = {"python": platform.python_version()}
    for package in ("medrl", "pyarrow", "rapidfuzz", "numpy"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def benchmark_side(items_found: Counter, items: list, manifest: dict) -> dict:
    """Per benchmark: items found in the training data (item_id -> training rows), and the share of the benchmark."""
    found: dict[str, dict[str, int]] = {}
    for item_index, rows in sorted(items_found.items()):
        item = items[item_index]
        found.setdefault(item.benchmark, {})[item.item_id] = rows
    return {
        name: {
            "items_found": len(found.get(name, {})),
            "items": entry["rows"],
            "share": round(len(found.get(name, {})) / entry["rows"], 4) if entry["rows"] else 0.0,
            "found": found.get(name, {}),
        }
        for name, entry in manifest["benchmarks"].items()
    }


# Where a row goes: the clean output, the removed output, or the review output (see `--review`).
CLEAN, REMOVED, REVIEW = "clean", "removed", "review"


def destination(verdict: Verdict, review_policy: str = "remove") -> str:
    """A row's output: clean when nothing matched; review-class matches only follow the review policy."""
    if not verdict.contaminated:
        return CLEAN
    if verdict.confidence == "review" and review_policy != "remove":
        return REVIEW if review_policy == "separate" else CLEAN
    return REMOVED


@dataclass
class RunStats:
    """Accumulates per-row verdicts and per-stage seconds while a run streams. Counts by benchmark, method and
    confidence cover every flagged row, wherever the review policy sent it."""

    input_rows: int = 0
    removed_rows: int = 0
    review_rows: int = 0  # rows written to the review output (policy "separate")
    by_benchmark: Counter = field(default_factory=Counter)
    by_method: Counter = field(default_factory=Counter)
    by_confidence: Counter = field(default_factory=Counter)
    by_field: Counter = field(default_factory=Counter)  # checked field -> flagged rows with a match in it
    seconds: dict[str, float] = field(default_factory=dict)
    items_found: Counter = field(default_factory=Counter)  # pack item index -> training rows matching it

    def add_seconds(self, seconds: dict[str, float]) -> None:
        """Add each step's seconds (a run's batches each report theirs)."""
        for step, value in seconds.items():
            self.seconds[step] = self.seconds.get(step, 0.0) + value

    def add(self, verdicts: list[Verdict], destinations: list[str] | None = None) -> None:
        destinations = destinations or [destination(verdict) for verdict in verdicts]
        self.input_rows += len(verdicts)
        self.removed_rows += destinations.count(REMOVED)
        self.review_rows += destinations.count(REVIEW)
        for verdict in verdicts:
            if verdict.contaminated:
                self.by_benchmark.update(verdict.benchmarks)
                self.by_method.update(verdict.methods)
                self.by_confidence[verdict.confidence] += 1
                self.by_field.update(verdict.fields)
                self.items_found.update(verdict.items)

    @property
    def kept_rows(self) -> int:
        return self.input_rows - self.removed_rows - self.review_rows


@dataclass(frozen=True)
class Report:
    """What a decontamination run did; `to_dict()` is `report.json`."""

    input: dict
    outputs: dict
    input_rows: int
    kept_rows: int
    removed_rows: int
    # Rows written to review.<ext> (policy "separate"); input_rows = kept_rows + removed_rows + review_rows.
    review_rows: int
    review_policy: str
    by_benchmark: dict
    by_method: dict
    # Flagged rows by their evidence's class: "certain" (benchmark text in the row) or "review" (e.g. a rewrite).
    by_confidence: dict
    # Flagged rows per checked field with a match in it (a row matched in its question and its reasoning counts in
    # both): shows, e.g., benchmark questions restated inside reasoning traces.
    by_field: dict
    # The benchmark-side view: per benchmark, how many of its items the training data contains, and which.
    benchmark_items: dict
    config: dict
    # Where rows' options came from (`field`, and `how`: given, detected, none found, off).
    options: dict
    # Things a person should know about the run (e.g. multiple-choice rows without options); the CLI prints them.
    notes: list
    pack: dict
    versions: dict
    seconds: dict

    def to_dict(self) -> dict:
        return asdict(self)
