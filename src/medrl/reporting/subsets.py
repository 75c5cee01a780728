"""Clean benchmark subsets: per benchmark, the items a run did NOT find in the training data, as JSONL in the
pack's item schema, so a model can be scored on the uncontaminated part of each benchmark.

The subsets follow the run's benchmark-side view, which names every item any row matched. Under the cascade a row
matched by one stage is not checked by the later ones, so an item only a later stage would have found can remain;
runs with `--run-all-stages` give the strictest subsets (the summary says which it was).
"""

from __future__ import annotations

from pathlib import Path

from medrl.benchmarks.pack import BenchmarkPack, item_row, load_pack
from medrl.errors import MedrlError
from medrl.io.output_set import OutputSet, refuse_inputs_in
from medrl.io.writers import dumps, write_json_atomic, write_text_atomic
from medrl.reporting.runs import Run

SUBSETS = "subsets.json"


def _owns(name: str) -> bool:
    """A subsets directory holds one `<benchmark>.jsonl` per benchmark and `subsets.json`."""
    return name == SUBSETS or name.endswith(".jsonl")


def run_pack(run: Run, pack: str | Path) -> tuple[dict, BenchmarkPack]:
    """The run's benchmark-side view and the pack, refused unless it holds the benchmark versions the run checked
    (a view of other items would name the wrong ones)."""
    side = run.benchmark_items
    if side is None:
        raise MedrlError(
            f"{run.directory}: the run recorded no benchmark-side view (written by an older medrl); re-run it"
        )
    benchmark_pack = load_pack(pack)
    recorded = run.summary.get("pack", {}).get("benchmarks", {})
    manifest = benchmark_pack.manifest["benchmarks"]
    for name in side:
        if name not in manifest:
            raise MedrlError(f"the run checked benchmark {name!r}, which the pack {pack} lacks; give the run's pack")
        if recorded.get(name, {}).get("content_sha256") != manifest[name]["content_sha256"]:
            raise MedrlError(
                f"benchmark {name!r} in {pack} is not the version the run checked (content sha256 differs); give the "
                "run's pack, or re-run the job against this one"
            )
    return side, benchmark_pack


def clean_subsets(run: Run, pack: str | Path, out: str | Path) -> dict:
    """Write `<benchmark>.jsonl` (items not found) and `subsets.json` (counts and provenance) into `out`."""
    side, benchmark_pack = run_pack(run, pack)
    summary: dict = {
        "run": str(run.directory),
        "input": run.input_label,
        "preset": run.preset,
        "run_all_stages": bool(run.config.get("run_all_stages")),
        "pack_manifest_sha256": benchmark_pack.manifest_sha256,
        "benchmarks": {},
    }
    with OutputSet(out, _owns) as outputs:
        refuse_inputs_in(outputs, [run.directory], "run directory", out_inside=True)
        refuse_inputs_in(outputs, [Path(pack)], "benchmark pack", out_inside=True)
        for name, entry in side.items():
            found = set(entry["found"])
            clean = [item for item in benchmark_pack.items if item.benchmark == name and item.item_id not in found]
            write_text_atomic(outputs.path(f"{name}.jsonl"), "".join(dumps(item_row(item)) + "\n" for item in clean))
            summary["benchmarks"][name] = {
                "items": entry["items"],
                "found": len(found),
                "clean": len(clean),
                "file": f"{name}.jsonl",
            }
        write_json_atomic(outputs.path(SUBSETS), summary)
        outputs.commit()
    return summary
