"""`medrl build` at MedReason's scale: a 32,682-row MedReason-shaped file built end to end with both presets, cold
(no index cache in the pack) and warm, timed per step with the process tree's peak memory.

    python bench/perf/build_scale.py [--rows 32682] [--repeats 3] [--presets medrl,ii-medical-rl] [--json OUT]
    python bench/perf/build_scale.py --check-outputs DIR   # also keep each build's outputs in DIR/<preset>/

MedReason itself is on the Hugging Face hub only, so the input is made from the real shared files, seed 0, with
MedReason's columns and option format (dataset_name, id_in_dataset, question, answer = the option's text,
reasoning, options = "Answer Choices:\\nA. ...", or "" for open-ended rows; see `medrl.dataset.sources`):

| kind          | share | what |
|---------------|-------|------|
| fresh         | 88%   | a new vignette: a sentence of one training question, 2-3 inner sentences of another, |
|               |       | the asking sentence and options of a third (same source), numbers edited              |
| exact copy    | 2.5%  | a byte-identical copy of an earlier row under another dataset_name and id             |
| near copy     | 4%    | an earlier row with a word dropped or a number changed and its options shuffled |
| benchmark     | 4%    | a benchmark item with its options (half verbatim, half lightly edited): contamination |
| open-ended    | 1.5%  | a fresh question with no options (rejected: RL needs a lettered answer) |

Reasoning texts are HuatuoGPT-o1's Complex_CoT (about 2.3 kB, like MedReason's reasoning paths), so the file is
about as large as MedReason (over 16 MB: detection uses one worker process per core, as a user's run would).
Each measured run is `python -m medrl build` in its own process; peak memory is the process tree's summed
proportional set size (shared pages split), sampled every 50 ms from /proc; CPU s is the tree's user + system
time (steadier than wall time on a shared machine). Cold runs delete the pack's
`.index-cache` first; warm runs follow a run that filled it. The table shows medians over `--repeats` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SHARED = REPO.parent / "shared" / "data"
CACHE = HERE / ".cache"
PACK = CACHE / "pack"
SEED = 0
MEDREASON_ROWS = 32_682
KINDS = {"fresh": 0.88, "exact_copy": 0.025, "near_copy": 0.04, "benchmark": 0.04, "open_ended": 0.015}
# Training sources: file, MedReason dataset_name, weight (USMLE vignettes dominate medical RL sets).
TRAINING = (("medqa_dev.json", "medqa", 0.6), ("huatuogpt_o1_demo.json", "huatuo", 0.25))
TRAINING_PUBMEDQA = ("pubmedqa_trainpool.jsonl", "pubmedqa", 0.15)
_SENTENCES = re.compile(r"(?<=[.?!])\s+")
_NUMBER = re.compile(r"\d+")


# --- the input ------------------------------------------------------------------------------------------------------


def _options_of(value: object) -> list[str]:
    """Option texts in order from the shared files' layouts (["A. text", ..] or {"A": text, ..})."""
    if isinstance(value, dict):
        return [str(text) for text in value.values()]
    return [re.sub(r"^[A-Z]\.\s*", "", str(text)) for text in value]


def load_training() -> dict[str, list[dict]]:
    """Per MedReason dataset_name, the shared training rows as {question, options, answer}."""
    found: dict[str, list[dict]] = {}
    for file, name, _ in (*TRAINING, TRAINING_PUBMEDQA):
        raw = (SHARED / "training" / file).read_bytes()
        rows = (
            [json.loads(line) for line in raw.split(b"\n") if line.strip()] if file.endswith("l") else json.loads(raw)
        )
        found[name] = []
        for row in rows:
            options = _options_of(row["options"])
            answer = row["options"][row["answer_idx"]] if "answer_idx" in row else row["answer"]
            found[name].append({"question": row["question"], "options": options, "answer": str(answer)})
    return found


def load_reasoning() -> list[str]:
    rows = json.loads((SHARED / "training" / "huatuogpt_o1_demo.json").read_bytes())
    return [row["Complex_CoT"] for row in rows]


def load_benchmark_items() -> list[dict]:
    from medrl.benchmarks.pack import load_pack

    items = []
    for item in load_pack(PACK).items:
        letters = dict(item.options)
        if len(item.options) >= 2 and item.answer in letters:
            texts = [text for _, text in item.options]
            items.append({"benchmark": item.benchmark, "question": item.question, "options": texts})
            items[-1]["answer"] = letters[item.answer]
    return items


def _edit_numbers(text: str, rng: random.Random) -> str:
    return _NUMBER.sub(lambda found: str(int(found.group()) + rng.choice((0, 0, 1, 2, 5))), text)


def _light_edit(text: str, rng: random.Random) -> str:
    """Drop one word or change the numbers: the kind of difference near duplicates show."""
    words = text.split(" ")
    if rng.random() < 0.5 and len(words) > 8:
        del words[rng.randrange(len(words))]
        return " ".join(words)
    edited = _edit_numbers(text, rng)
    return edited if edited != text else " ".join([*words[:-1], "(revised)", words[-1]])


def _fresh(source: list[dict], rng: random.Random) -> dict:
    """A new vignette from three questions of one source: a sentence of one, 2-3 inner sentences of another, the
    asking sentence and the options of a third (real sets reuse phrasing, rarely whole cases)."""
    opening = _SENTENCES.split(rng.choice(source)["question"].strip())
    inner = _SENTENCES.split(rng.choice(source)["question"].strip())
    tail = rng.choice(source)
    asking = _SENTENCES.split(tail["question"].strip())
    middle = inner[1:-1] or inner
    start = rng.randrange(len(middle))
    sentences = [rng.choice(opening[:-1] or opening), *middle[start : start + rng.randint(2, 3)], *asking[-1:]]
    question = _edit_numbers(" ".join(sentences), rng)
    return {"question": question, "options": list(tail["options"]), "answer": tail["answer"]}


def medreason_rows(rows: int) -> list[dict]:
    """`rows` MedReason-shaped rows (see the module docstring), seed 0."""
    rng = random.Random(SEED)
    training, reasoning, benchmark = load_training(), load_reasoning(), load_benchmark_items()
    names = [name for _, name, _ in (*TRAINING, TRAINING_PUBMEDQA)]
    weights = [weight for _, _, weight in (*TRAINING, TRAINING_PUBMEDQA)]
    made: list[dict] = []
    next_id: dict[str, int] = {}
    for kind in rng.choices(list(KINDS), weights=list(KINDS.values()), k=rows):
        name = rng.choices(names, weights=weights)[0]
        if kind in ("exact_copy", "near_copy") and made:
            row = dict(rng.choice(made))
            if kind == "near_copy":
                row["question"] = _light_edit(row["question"], rng)
                row["options"] = rng.sample(row["options"], len(row["options"]))
            else:
                name = rng.choice(names)
        elif kind == "benchmark":
            row = dict(rng.choice(benchmark))
            name = row.pop("benchmark")
            if rng.random() < 0.5:
                row["question"] = _light_edit(row["question"], rng)
        else:
            row = _fresh(training[name], rng)
            if kind == "open_ended":
                row["options"] = []
        row["dataset_name"], row["id_in_dataset"] = name, next_id.setdefault(name, 0)
        next_id[name] += 1
        made.append(row)
    return [
        {
            "dataset_name": row["dataset_name"],
            "id_in_dataset": row["id_in_dataset"],
            "question": row["question"],
            "answer": row["answer"],
            "reasoning": f"Finding reasoning paths:\n{rng.choice(reasoning)}",
            "options": "Answer Choices:\n" + "\n".join(f"{chr(65 + i)}. {t}" for i, t in enumerate(row["options"]))
            if row["options"]
            else "",
        }
        for row in made
    ]


def ensure_inputs(rows: int) -> Path:
    """The pack (the full shared benchmarks) and the MedReason-shaped Parquet file, made once and cached."""
    if not (PACK / "manifest.json").exists():
        from medrl.benchmarks.pack import import_benchmarks

        import_benchmarks(SHARED / "benchmarks", PACK)
    path = CACHE / f"medreason-{rows}-{_generator_key()}.parquet"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pylist(medreason_rows(rows))
        pq.write_table(table, path.with_suffix(".tmp"))
        path.with_suffix(".tmp").replace(path)
    return path


def _generator_key() -> str:
    import hashlib

    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]


# --- measuring ------------------------------------------------------------------------------------------------------


def _tree(pid: int) -> list[int]:
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                pending += [int(child) for child in Path(f"/proc/{current}/task/{task}/children").read_text().split()]
        except OSError:
            continue
    return found


def _pss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def measured_build(source: Path, preset: str, out: Path) -> dict:
    """Run `medrl build` in its own process; (seconds per step from build.json, peak memory, wall seconds)."""
    command = [sys.executable, "-m", "medrl", "build", "--source", str(source), "--pack", str(PACK)]
    command += ["--out", str(out), "--preset", preset]
    peak, done = [0], threading.Event()
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], sum(_pss_bytes(pid) for pid in _tree(process.pid)))
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, stderr = process.communicate()
    done.set()
    sampler.join()
    wall = time.perf_counter() - started
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = sum(getattr(children_after, f) - getattr(children_before, f) for f in ("ru_utime", "ru_stime"))
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed (exit {process.returncode}):\n{stderr[-2000:]}")
    summary = json.loads((out / "build.json").read_text())
    seconds = {key: value for key, value in summary["seconds"].items() if isinstance(value, float | int)}
    return {"seconds": seconds, "wall": wall, "cpu": cpu, "peak_mb": peak[0] / 2**20, "steps": summary["steps"]}


def run(source: Path, presets: list[str], repeats: int, keep: Path | None) -> dict[str, dict[str, list[dict]]]:
    results: dict[str, dict[str, list[dict]]] = {}
    with tempfile.TemporaryDirectory(prefix="build-scale-") as scratch:
        for preset in presets:
            results[preset] = {"cold": [], "warm": []}
            out = (keep / preset) if keep else Path(scratch) / preset
            for repeat in range(repeats):
                for temperature in ("cold", "warm"):
                    if temperature == "cold":
                        shutil.rmtree(PACK / ".index-cache", ignore_errors=True)
                    result = measured_build(source, preset, out)
                    results[preset][temperature].append(result)
                    print(
                        f"{preset} {temperature} #{repeat + 1}: {result['seconds']['total']:.1f} s, "
                        f"{result['peak_mb']:.0f} MB",
                        file=sys.stderr,
                        flush=True,
                    )
    return results


def table(results: dict[str, dict[str, list[dict]]]) -> str:
    steps = list(next(iter(next(iter(results.values())).values()))[0]["seconds"])
    header = ["preset", "run", *(f"{step} s" for step in steps), "CPU s", "peak MB", "runs"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for preset, runs in results.items():
        for temperature, measured in runs.items():
            cells = [statistics.median(result["seconds"].get(step, 0.0) for result in measured) for step in steps]
            peak = statistics.median(result["peak_mb"] for result in measured)
            cpu = statistics.median(result["cpu"] for result in measured)
            row = [preset, temperature, *(f"{cell:.2f}" for cell in cells), f"{cpu:.1f}", f"{peak:.0f}"]
            lines.append("| " + " | ".join([*row, str(len(measured))]) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=MEDREASON_ROWS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--presets", default="medrl,ii-medical-rl")
    parser.add_argument("--json", type=Path, help="also write every measurement here")
    parser.add_argument("--check-outputs", type=Path, help="keep each preset's last build in DIR/<preset>/")
    args = parser.parse_args()
    source = ensure_inputs(args.rows)
    print(f"input: {source.name}, {args.rows:,} rows, {source.stat().st_size / 2**20:.1f} MB", file=sys.stderr)
    results = run(source, args.presets.split(","), args.repeats, args.check_outputs)
    steps = results[next(iter(results))]["cold"][0]["steps"]
    print(f"{args.rows:,} MedReason-shaped rows; " + ", ".join(f"{s['step']} -{s['removed']:,}" for s in steps))
    print(f"{os.cpu_count()} cores; medians of {args.repeats} runs; cold = no index cache in the pack\n")
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
