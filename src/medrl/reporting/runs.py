"""A finished run's outputs, read back: its summary (`report.json` of `decontaminate`, `build.json` of `build`)
and its removed rows with their evidence (each match given its item's question and options from
`matched_items.jsonl`), the same way for both kinds of run and every output format.

Outputs written before medrl recorded the input position and the item text per match (or before the confidence
class existed) still load: those fields are then None, and the views say so.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from medrl.detection.stages import STAGES
from medrl.errors import MedrlError
from medrl.io.formats import open_source, output_name
from medrl.reporting.evidence import MATCHED_ITEMS, ItemKey, item_key

DECONTAMINATE_SUMMARY, BUILD_SUMMARY = "report.json", "build.json"
BUILD_REMOVED = "contaminated.jsonl"
EVIDENCE = "contamination"


@dataclass(frozen=True)
class RemovedRow:
    """A removed row: its 0-based input position (None in older outputs), checked texts and evidence."""

    position: int | None
    texts: dict[str, str]  # checked field -> the row's text in it
    matches: list[dict]

    def text(self, field: str) -> str:
        return self.texts.get(field, "")


@dataclass(frozen=True)
class Run:
    """The outputs of one `decontaminate` (`kind` "decontaminate") or `build` ("build") run in `directory`."""

    directory: Path
    kind: str
    summary: dict
    items: dict[ItemKey, dict]  # matched_items.jsonl: the matched items' question and options (none in old outputs)

    @property
    def detection(self) -> dict:
        """The decontamination part of the summary: config, counts by benchmark and method, benchmark-side view."""
        return self.summary if self.kind == "decontaminate" else self.summary["decontamination"]

    @property
    def config(self) -> dict:
        return self.detection["config"]

    @property
    def preset(self) -> str:
        return self.config.get("preset", "?")

    @property
    def benchmark_items(self) -> dict | None:
        """Per benchmark: items, items_found, share, found {item_id: rows}; None when the run did not record it."""
        return self.detection.get("benchmark_items")

    def counts(self) -> dict[str, int | None]:
        """Rows in / kept / removed / review / rejected / duplicates (None: not a count this kind of run has)."""
        review = self.detection.get("review_rows")
        if self.kind == "decontaminate":
            values = (self.summary["input_rows"], self.summary["kept_rows"], self.summary["removed_rows"])
            return dict(zip(("rows in", "kept", "removed"), values, strict=True)) | {
                "review": review,
                "rejected": None,
                "duplicates": None,
            }
        totals = self.summary["totals"]
        return {
            "rows in": totals["input"],
            "kept": totals["kept"],
            "removed": totals["contaminated"],
            "review": review,
            "rejected": totals["rejected"],
            "duplicates": totals["duplicates"],
        }

    @property
    def input_sha256(self) -> list[str]:
        """The input's hash (one per source for a build): two runs compare row by row only on the same input."""
        if self.kind == "decontaminate":
            return [self.summary["input"]["sha256"]]
        return [source["sha256"] for source in self.summary["sources"]]

    @property
    def input_label(self) -> str:
        if self.kind == "decontaminate":
            return self.summary["input"]["path"]
        return ", ".join(source["path"] for source in self.summary["sources"])

    def removed_path(self) -> Path:
        if self.kind == "build":
            return self.directory / BUILD_REMOVED
        return self.directory / output_name("removed", self.summary["outputs"]["format"])

    def removed_rows(self, batch_size: int = 2048) -> Iterator[RemovedRow]:
        """Every removed row in input order, with its evidence."""
        path = self.removed_path()
        if not path.exists():
            raise MedrlError(f"{path}: missing from the run's outputs; re-run the job to write the whole set")
        source = open_source(path, "jsonl" if self.kind == "build" else self.summary["outputs"]["format"])
        for batch in source.batches(batch_size):
            for row in batch.to_pylist():
                yield self._removed_row(row)

    def _removed_row(self, row: dict) -> RemovedRow:
        matches = row.get(EVIDENCE) or []
        if isinstance(matches, str):  # CSV cells hold the evidence as JSON text
            matches = json.loads(matches)
        position = next((m.get("input_row") for m in matches if m.get("input_row") is not None), None)
        if position is None and self.kind == "build":
            position = row.get("row_id")
        texts = {}
        for match in matches:
            item = self.items.get(item_key(match), {})
            match["item_question"], match["item_options"] = item.get("question"), item.get("options", [])
            value = row.get(match["field"], row.get("question"))
            texts[match["field"]] = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        return RemovedRow(position, texts, matches)


def _matched_items(path: Path) -> dict[ItemKey, dict]:
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8") as handle:
        return {item_key(item): item for item in map(json.loads, handle) if item}


def load_run(directory: str | Path) -> Run:
    """The run whose outputs are in `directory`; one-line errors for a directory that holds none."""
    directory = Path(directory)
    if not directory.is_dir():
        raise MedrlError(f"{directory}: no such directory; give the --out of a `medrl decontaminate` or `build` run")
    for name, kind in ((DECONTAMINATE_SUMMARY, "decontaminate"), (BUILD_SUMMARY, "build")):
        path = directory / name
        if path.is_file():
            try:
                summary = json.loads(path.read_text(encoding="utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as error:
                raise MedrlError(f"{path}: not valid JSON ({error}); re-run the job to rewrite it") from None
            if not isinstance(summary, dict):
                raise MedrlError(f"{path}: not a medrl {kind} summary; re-run the job to rewrite it")
            return Run(directory, kind, summary, _matched_items(directory / MATCHED_ITEMS))
    raise MedrlError(
        f"{directory} holds no {DECONTAMINATE_SUMMARY} or {BUILD_SUMMARY}: give the --out of a "
        "`medrl decontaminate` or `medrl build` run"
    )


def method_thresholds(config: dict) -> dict[str, tuple[float, str]]:
    """Per detection stage the run enabled, the score its matches must reach (in the units `Match.score` uses) and
    what the line means, for the score charts (each stage says, from its settings as the report stored them)."""
    return {stage.name: stage.threshold(config[stage.name]) for stage in STAGES if config.get(stage.name)}
