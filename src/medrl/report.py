"""Run statistics that become `report.json`: counts, the resolved config, versions and hashes, timings."""

from __future__ import annotations

import platform
from collections import Counter
from dataclasses import asdict, dataclass, field
from importlib import metadata

from medrl.decide import Verdict


def versions() -> dict[str, str]:
    """medrl's and its dependencies' versions, for reproducibility."""
    found = {"python": platform.python_version()}
    for package in ("medrl", "pyarrow", "rapidfuzz", "numpy"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


@dataclass
class RunStats:
    """Accumulates per-row verdicts and per-stage seconds while a run streams."""

    input_rows: int = 0
    removed_rows: int = 0
    by_benchmark: Counter = field(default_factory=Counter)
    by_method: Counter = field(default_factory=Counter)
    seconds: Counter = field(default_factory=Counter)

    def add(self, verdicts: list[Verdict]) -> None:
        self.input_rows += len(verdicts)
        for verdict in verdicts:
            if verdict.contaminated:
                self.removed_rows += 1
                self.by_benchmark.update(verdict.benchmarks)
                self.by_method.update(verdict.methods)

    @property
    def kept_rows(self) -> int:
        return self.input_rows - self.removed_rows


@dataclass(frozen=True)
class Report:
    """What a decontamination run did; `to_dict()` is `report.json`."""

    input: dict
    outputs: dict
    input_rows: int
    kept_rows: int
    removed_rows: int
    by_benchmark: dict
    by_method: dict
    config: dict
    pack: dict
    versions: dict
    seconds: dict

    def to_dict(self) -> dict:
        return asdict(self)
