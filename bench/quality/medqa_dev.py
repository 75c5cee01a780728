"""The real MedQA (USMLE) dev file against the full shared pack: rows removed by each method (every match kept as
evidence), and how many of the adjudicated real reuse rows (adjudication.csv) each finds, with the right item.

    python bench/quality/medqa_dev.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from pathlib import Path

from common import ADJUDICATION, DEFAULT_DATA, DEFAULT_PACK

from medrl.benchmarks.pack import import_benchmarks
from medrl.config import DEFAULT_PRESET, preset
from medrl.pipeline import decontaminate

METHODS = {
    "ii-medical-rl": preset("ii-medical-rl"),
    "8-gram only": preset("ii-medical-rl").replace(fuzzy=None),
    "fuzzy only": preset("ii-medical-rl").replace(ngram=None),
    f"default ({DEFAULT_PRESET})": preset(DEFAULT_PRESET),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    if not (DEFAULT_PACK / "manifest.json").exists():
        import_benchmarks(args.data / "benchmarks", DEFAULT_PACK)
    source = args.data / "training" / "medqa_dev.json"
    rows = json.loads(source.read_text(encoding="utf-8"))
    row_of = {row["question"]: index for index, row in enumerate(rows)}
    decisions = {
        (line["benchmark"], line["item_id"], int(line["row"])): line["decision"]
        for line in csv.DictReader(ADJUDICATION.open(encoding="utf-8"))
        if line["training_file"] == source.name
    }
    reuse = {row: (benchmark, item) for (benchmark, item, row), d in decisions.items() if d == "reuse"}
    not_reuse = {row for (_, _, row), d in decisions.items() if d == "not_reuse"}
    print(f"{source.name}: {len(rows):,} rows; adjudicated reuse rows: {len(reuse)}")
    print("| method | removed | by stage | reuse rows found | with the right item | adjudicated not-reuse removed |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as out:
        for name, config in METHODS.items():
            report = decontaminate(
                source,
                DEFAULT_PACK,
                Path(out) / name,
                config=config.replace(options_field="options", max_matches_per_row=0),
            )
            removed = json.loads((Path(out) / name / "removed.json").read_text(encoding="utf-8"))
            found = {row_of[row["question"]]: row["contamination"] for row in removed}
            right = [
                row
                for row in reuse
                if row in found
                and any(_same_item((match["benchmark"], match["item_id"]), reuse[row]) for match in found[row])
            ]
            stages = ", ".join(f"{stage} {count}" for stage, count in report.by_method.items())
            print(
                f"| {name} | {report.removed_rows:,} | {stages} | {sum(row in found for row in reuse)} | "
                f"{len(right)} | {len(not_reuse & set(found))} |"
            )
    sys.stdout.flush()


def _same_item(found: tuple[str, str], target: tuple[str, str]) -> bool:
    """MedBullets op4 and op5 share their questions (and item links)."""
    if found[0].startswith("medbullets") and target[0].startswith("medbullets"):
        return found[1] == target[1]
    return found == target


if __name__ == "__main__":
    main()
