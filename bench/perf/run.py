"""Performance benchmark: medrl end to end vs the open-r1 / OpenThoughts reference methods, on real-text workloads.

    python bench/perf/run.py --workloads S[,M,L] [--preset NAME ...] [--reference-sample N] [--markdown OUT.md]

See bench/perf/README.md for what is measured and how. Every method runs in its own subprocess (peak RSS per run).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from importlib import metadata
from pathlib import Path

from common import (
    BENCHMARKS_DIR,
    CACHE,
    HERE,
    PACK_DIR,
    QUESTIONS_FILE,
    REPO,
    WORKLOADS,
    fmt_rows,
    iter_jsonl,
    parse_rows,
    sample_sizes,
)
from workloads import ensure_workload, load_training_questions

try:
    import psutil
except ImportError:  # peak RSS then comes from ru_maxrss alone
    psutil = None

CHILD = HERE / "child.py"
SCALING_LADDER = (1_000, 3_200, 10_000, 32_000, 100_000, 200_000, 500_000, 1_000_000)
STAGE_ORDER = ("read", "index", "ngram", "fuzzy", "write")
STAGE_NAMES = {"ngram": "8-gram"}
REFERENCES = {
    "a": "ref (a) open-r1 8-gram",
    "ab": "ref (a)+(b) 8-gram -> OpenThoughts extract",
    "ac": "ref (a)+(c) 8-gram -> cdist",
}
BASELINE_PRESET = "ii-medical-rl"
LEGEND = (
    "Seconds per stage: medrl's report.seconds; references: read and index measured, 8-gram and fuzzy stages "
    "measured on the rows in `basis` and scaled linearly to the workload (the fuzzy stage, as in II-Medical-RL, "
    "only examines rows the 8-gram stage kept). References write no output. "
    "speed-up = reference total / method total. peak RSS = max(ru_maxrss of the run's subprocess, sampled PSS "
    "summed over its process tree). removed = share of rows flagged (references: of their sample). "
    "decisions = (a)+(c): the method's removed/kept decision equals reference (a)+(c)'s on every row of the (c) "
    "sample."
)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---- running one measured subprocess ----------------------------------------------------------------------------
def _tree_memory(pid: int) -> tuple[int, int]:
    """(bytes, processes) of the process tree rooted at pid: summed PSS (shared pages split), else RSS."""
    root = psutil.Process(pid)
    total = 0
    processes = [root, *root.children(recursive=True)]
    for proc in processes:
        try:
            try:
                total += proc.memory_full_info().pss
            except (psutil.AccessDenied, AttributeError):
                total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total, len(processes)


def run_child(args: list[str], log_path: Path) -> dict:
    """Run child.py with `args`; return its JSON result plus peak memory and wall seconds. Raise on failure."""
    result_path = log_path.with_suffix(".result.json")
    result_path.unlink(missing_ok=True)
    command = [sys.executable, str(CHILD), *args, "--result", str(result_path)]
    peak = {"bytes": 0, "processes": 1}
    done = threading.Event()
    started = time.perf_counter()
    with log_path.open("w") as log_file:
        proc = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, cwd=HERE)

        def sample() -> None:
            while not done.is_set():
                try:
                    used, count = _tree_memory(proc.pid)
                    if used > peak["bytes"]:
                        peak["bytes"] = used
                    peak["processes"] = max(peak["processes"], count)
                except Exception:  # the child is exiting
                    pass
                done.wait(0.1)

        sampler = threading.Thread(target=sample, daemon=True) if psutil else None
        if sampler:
            sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        done.set()
        proc.returncode = os.waitstatus_to_exitcode(status)
        if sampler:
            sampler.join()
    wall = time.perf_counter() - started
    if proc.returncode != 0 or not result_path.exists():
        tail = log_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{' '.join(command)} failed (exit {proc.returncode}); log {log_path}:\n{tail}")
    result = json.loads(result_path.read_text())
    ru_maxrss = usage.ru_maxrss * 1024  # KiB on Linux
    result["memory"] = {
        "ru_maxrss_mb": ru_maxrss / 2**20,
        "sampled_tree_mb": peak["bytes"] / 2**20,
        "processes": peak["processes"],
        "peak_mb": max(ru_maxrss, peak["bytes"]) / 2**20,
    }
    result["process_wall_seconds"] = wall
    return result


def run_reference(method: str, workload: dict, reference_sample: int) -> dict:
    name = fmt_rows(workload["rows"])
    args = ["reference", "--method", method, "--workload", workload["path"], "--rows", str(workload["rows"])]
    args += ["--reference-sample", str(reference_sample)]
    log(f"{name}: {REFERENCES[method]} ...")
    result = run_child(args, CACHE / "logs" / f"ref-{method}-{name}.log")
    log(f"{name}: {REFERENCES[method]} done in {result['process_wall_seconds']:.1f} s")
    return result


def run_medrl(preset: str, workload: dict) -> dict:
    """medrl.decontaminate end to end on the whole workload; the removed row ids are read back afterwards."""
    name = fmt_rows(workload["rows"])
    out = CACHE / "runs" / f"{name}-{preset}"
    shutil.rmtree(out, ignore_errors=True)
    args = ["medrl", "--preset", preset, "--workload", workload["path"], "--pack", str(PACK_DIR), "--out", str(out)]
    log(f"{name}: medrl {preset} on {workload['rows']:,} rows ...")
    result = run_child(args, CACHE / "logs" / f"medrl-{preset}-{name}.log")
    removed = Path(result.get("outputs", {}).get("removed") or out / "removed.jsonl")
    result["removed_ids"] = [row["id"] for row in iter_jsonl(removed)] if removed.exists() else None
    if result["removed_ids"] is not None and len(result["removed_ids"]) != result["removed_rows"]:
        raise RuntimeError(f"{removed}: {len(result['removed_ids'])} rows, report says {result['removed_rows']}")
    shutil.rmtree(out, ignore_errors=True)  # clean/removed copies of the workload: not needed any more
    log(f"{name}: medrl {preset} done in {result['process_wall_seconds']:.1f} s")
    return result


# ---- turning results into table rows ---------------------------------------------------------------------------
def reference_row(method: str, result: dict, rows: int) -> dict:
    """Stage seconds extrapolated linearly from the rows each stage examined to the whole workload."""
    stages = {"read": result["seconds"]["read"], "index": result["seconds"]["index"]}
    notes = []
    for stage in ("ngram", "fuzzy"):
        if stage not in result["seconds"]:
            continue
        examined = result["basis"][stage]
        stages[stage] = result["seconds"][stage] / examined * rows
        label = STAGE_NAMES.get(stage, stage)
        notes.append(f"{label}: all rows" if examined == rows else f"{label}: extrapolated from {examined:,} rows")
    total = sum(stages.values())
    decided = len(result["decided_ids"])
    return {
        "method": REFERENCES[method],
        "stages": stages,
        "total": total,
        "rows_per_second": rows / total,
        "peak_mb": result["memory"]["peak_mb"],
        "processes": result["memory"]["processes"],
        "removed_share": len(result["flagged_ids"]) / decided,
        "basis": "; ".join(notes) + "; no write stage",
    }


def medrl_row(preset: str, result: dict, rows: int) -> dict:
    seconds = dict(result["seconds"])
    total = seconds.pop("total", result["wall_seconds"])
    return {
        "method": f"medrl {preset}",
        "stages": seconds,
        "total": total,
        "rows_per_second": rows / total,
        "peak_mb": result["memory"]["peak_mb"],
        "processes": result["memory"]["processes"],
        "removed_share": result["removed_rows"] / result["input_rows"],
        "basis": "measured end to end, all rows",
    }


def compare(decided: list[str], flagged: list[str], removed: list[str] | None) -> dict:
    """Do `removed` (all ids a method removed) and `flagged` agree on every id in `decided`?"""
    if removed is None:
        return {"compared": len(decided), "differ": None, "examples": []}
    flagged_set, removed_set = set(flagged), set(removed)
    differ = [i for i in decided if (i in flagged_set) != (i in removed_set)]
    return {"compared": len(decided), "differ": len(differ), "examples": differ[:10]}


def decision_text(check: dict | None, same_method: bool) -> str:
    if check is None:
        return "-"
    if check["differ"] is None:
        return "n/a (no removed file)"
    if same_method:
        verdict = "yes" if check["differ"] == 0 else f"no: {check['differ']:,} differ"
        return f"{verdict} ({check['compared']:,} rows compared)"
    return f"n/a, other method: {check['differ']:,} of {check['compared']:,} differ"


# ---- output ------------------------------------------------------------------------------------------------------
def render(headers: list[str], rows: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * width for width in widths))
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def seconds_text(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" if value < 10 else f"{value:,.0f}" if value >= 1000 else f"{value:.1f}"


def memory_text(row: dict) -> str:
    text = f"{row['peak_mb']:,.0f}"
    return text + (f" ({row['processes']} procs)" if row["processes"] > 1 else "")


def workload_table(block: dict, markdown: bool) -> str:
    rows = block["rows"]
    stage_keys = [k for k in STAGE_ORDER if any(k in r["stages"] for r in rows)]
    stage_keys += sorted({k for r in rows for k in r["stages"]} - set(stage_keys))
    ab = next((r["total"] for r in rows if r["method"] == REFERENCES["ab"]), None)
    ac = next((r["total"] for r in rows if r["method"] == REFERENCES["ac"]), None)
    headers = ["method", *(f"{STAGE_NAMES.get(k, k)} s" for k in stage_keys), "total s", "rows/s", "peak RSS MB"]
    headers += ["removed", "speed-up vs (a)+(b)", "speed-up vs (a)+(c)", "decisions = (a)+(c)", "basis"]
    body = []
    for r in rows:
        line = [r["method"], *(seconds_text(r["stages"].get(k)) for k in stage_keys)]
        line += [seconds_text(r["total"]), f"{r['rows_per_second']:,.0f}", memory_text(r)]
        line += [f"{100 * r['removed_share']:.1f}%"]
        line += [f"{ab / r['total']:.2f}x" if ab else "-", f"{ac / r['total']:.2f}x" if ac else "-"]
        line += [r["decisions"], r["basis"]]
        body.append(line)
    return render(headers, body, markdown)


def scaling_table(points: list[dict], markdown: bool) -> str:
    headers = ["rows", "medrl s", "rows/s", "peak RSS MB", "index s", "(a)+(b) s (est.)", "(a)+(c) s (est.)"]
    body = []
    for p in points:
        body.append(
            [
                f"{p['rows']:,}",
                seconds_text(p["total"]),
                f"{p['rows'] / p['total']:,.0f}",
                memory_text(p),
                seconds_text(p["stages"].get("index")),
                seconds_text(p.get("est_ab")),
                seconds_text(p.get("est_ac")),
            ]
        )
    return render(headers, body, markdown)


def reference_rates(block: dict) -> dict[str, tuple[float, float]]:
    """Per reference: (fixed seconds, seconds per row) from a workload's results, for the scaling estimates."""
    rates = {}
    for method in ("ab", "ac"):
        row = next(r for r in block["rows"] if r["method"] == REFERENCES[method])
        fixed = row["stages"]["index"]
        rates[method] = (fixed, (row["total"] - fixed) / block["workload"]["rows"])
    return rates


def plot(points: list[dict], rates: dict | None, preset: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    xs = [p["rows"] for p in points]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(xs, [p["total"] for p in points], "o-", label=f"medrl {preset} (measured, end to end)")
    if rates:
        low, high = min(xs), max(xs)
        grid = [low * (high / low) ** (i / 49) for i in range(50)] if high > low else [low]
        for method, style in (("ab", "--"), ("ac", ":")):
            fixed, per_row = rates[method]
            ax.plot(grid, [fixed + per_row * x for x in grid], style, label=f"{REFERENCES[method]} (extrapolated)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: fmt_rows(int(x))))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
    ax.set_xlabel("rows")
    ax.set_ylabel("seconds")
    ax.set_title(f"decontamination time vs rows ({os.cpu_count()} cores)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def header_lines(presets: list[str], default_preset: str) -> list[str]:
    import medrl

    def version(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "not installed"

    def git(*args: str) -> str:
        done = subprocess.run(["git", "--no-optional-locks", *args], cwd=REPO, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else "?"

    dirty = subprocess.run(["git", "--no-optional-locks", "diff", "--quiet", "HEAD", "--", "src"], cwd=REPO)
    cpu = "?"
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    memory = f"{psutil.virtual_memory().total / 2**30:.1f} GiB" if psutil else "?"
    return [
        f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"machine: os.cpu_count() = {os.cpu_count()} cores ({cpu}), {memory} RAM, {platform.platform()}",
        f"python {platform.python_version()}, rapidfuzz {version('rapidfuzz')}, numpy {version('numpy')}, "
        f"pyarrow {version('pyarrow')}",
        f"medrl {version('medrl')} from {Path(medrl.__file__).parent}, git {git('rev-parse', '--short', 'HEAD')}"
        + (" + uncommitted changes in src/" if dirty.returncode == 1 else ""),
        f"presets: {', '.join(presets)} (medrl.config.DEFAULT_PRESET = {default_preset})",
    ]


# ---- main ----------------------------------------------------------------------------------------------------------
def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--workloads",
        default="S",
        help="comma-separated: S (32k rows), M (200k), L (1M), or a row count such as 50k (default: S)",
    )
    parser.add_argument(
        "--preset",
        action="append",
        default=[],
        help="also run this medrl preset (repeatable); ii-medical-rl and DEFAULT_PRESET always run",
    )
    parser.add_argument(
        "--reference-sample",
        type=int,
        default=2000,
        help="rows for reference (b); (c) gets 2x, (a) 25x (capped at the workload); default 2000",
    )
    parser.add_argument(
        "--scaling",
        default="auto",
        help="row counts for the medrl scaling table, e.g. 10k,32k,100k; 'auto' (default): 1k, 3.2k, 10k, 32k, "
        "100k, 200k, 500k, 1M up to the largest workload; 'none' to skip",
    )
    parser.add_argument(
        "--baseline-max-rows",
        type=int,
        default=32_000,
        help="run medrl's exact ii-medical-rl preset end to end only on workloads up to this many rows (default 32k)",
    )
    parser.add_argument("--markdown", type=Path, help="also write the tables as markdown to this file")
    parser.add_argument("--plot", type=Path, default=HERE / "scaling.png", help="scaling plot (PNG)")
    args = parser.parse_args()
    if args.reference_sample < 1:
        parser.error("--reference-sample must be >= 1")
    return args


def build_pack() -> list[str]:
    """Import the full shared benchmark pack into the cache with the current medrl; return its questions."""
    from medrl.benchmarks.pack import import_benchmarks, load_pack

    shutil.rmtree(PACK_DIR, ignore_errors=True)
    import_benchmarks(BENCHMARKS_DIR, PACK_DIR)
    questions = [item.question for item in load_pack(PACK_DIR).items]
    QUESTIONS_FILE.write_text(json.dumps(questions))
    return questions


def warm_index_cache(presets: list[str]) -> str:
    """Index the pack once per preset, as the first run on a new pack does; the measured runs then load the index
    from the pack's cache, as every later run does. Runs in a subprocess: indexes loaded here would be counted in
    every later child's peak RSS (a forked child starts with its parent's pages). Returns the header line."""
    code = (
        "import sys, time\n"
        f"sys.path.append({str(HERE.parent)!r})\n"
        "from embedding_model import default_embedding_model, with_embedding_model\n"
        "from medrl.config import preset\n"
        "from medrl.detection.index import load_or_build_index\n"
        "from medrl.benchmarks.pack import load_pack\n"
        "pack = load_pack(sys.argv[1])\n"
        "for name in sys.argv[2:]:\n"
        "    started = time.perf_counter()\n"
        "    load_or_build_index(pack, with_embedding_model(preset(name), default_embedding_model()))\n"
        "    print(f'{name} {time.perf_counter() - started:.1f} s')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(PACK_DIR), *presets], check=True, capture_output=True, text=True
    )
    built = ", ".join(done.stdout.split("\n")[:-1])
    return f"pack index built once per preset and cached in the pack (not in the runs below): {built}"


def main() -> None:
    args = parse_args()
    wall_started = time.perf_counter()
    from medrl.config import DEFAULT_PRESET, preset

    presets = list(dict.fromkeys([BASELINE_PRESET, *args.preset, DEFAULT_PRESET]))
    for name in presets:
        preset(name)  # fail now on an unknown preset, with medrl's list of known ones
    sizes = []
    for token in args.workloads.split(","):
        token = token.strip()
        sizes.append((token.upper(), WORKLOADS[token.upper()]) if token.upper() in WORKLOADS else (token, 0))
    sizes = [(name, rows or parse_rows(name)) for name, rows in sizes]
    (CACHE / "logs").mkdir(parents=True, exist_ok=True)

    header = header_lines(presets, DEFAULT_PRESET)
    for line in header:
        log(line)
    log(f"building the benchmark pack from {BENCHMARKS_DIR} ...")
    started = time.perf_counter()
    questions = build_pack()
    header.append(
        f"benchmark pack: {len(questions):,} items (full shared pack), built in {time.perf_counter() - started:.1f} s"
    )
    header.append(warm_index_cache(presets))
    training = load_training_questions()

    blocks = []
    for name, rows in sizes:
        workload = ensure_workload(rows, questions, training)
        how = "cached" if workload["cached"] else f"generated in {workload['generate_seconds']:.1f} s"
        log(f"workload {name}: {rows:,} rows, {workload['bytes'] / 2**20:.0f} MB ({how})")
        refs = {m: run_reference(m, workload, args.reference_sample) for m in REFERENCES}
        # The exact seed method costs minutes per 32k rows: on larger workloads it runs only when asked.
        medrl_runs = {
            p: run_medrl(p, workload) for p in presets if p != BASELINE_PRESET or rows <= args.baseline_max_rows
        }

        decided, flagged = refs["ac"]["decided_ids"], refs["ac"]["flagged_ids"]
        table_rows = []
        for method, result in refs.items():
            row = reference_row(method, result, rows)
            if method == "ab":
                row["check"] = compare(result["decided_ids"], flagged, result["flagged_ids"])
                row["decisions"] = decision_text(row["check"], True)
            else:
                row["decisions"] = "reference" if method == "ac" else "-"
            table_rows.append(row)
        for name_, result in medrl_runs.items():
            row = medrl_row(name_, result, rows)
            row["check"] = compare(decided, flagged, result["removed_ids"])
            same = result["config"].get("preset", name_) == BASELINE_PRESET or name_ == BASELINE_PRESET
            row["decisions"] = decision_text(row["check"], same)
            row["by_method"] = result["by_method"]
            table_rows.append(row)
        sample = sample_sizes(rows, args.reference_sample)
        blocks.append(
            {
                "name": name,
                "workload": {k: v for k, v in workload.items() if k != "fingerprint"},
                "sample": sample,
                "rows": table_rows,
                "medrl_results": {p: {k: v for k, v in r.items() if k != "removed_ids"} for p, r in medrl_runs.items()},
            }
        )

    # scaling: medrl's default preset on prefixes of the same row stream
    points = []
    largest = max(rows for _, rows in sizes)
    if args.scaling != "none":
        ladder = SCALING_LADDER if args.scaling == "auto" else [parse_rows(t) for t in args.scaling.split(",")]
        for rows in sorted({r for r in ladder if r <= largest} if args.scaling == "auto" else set(ladder)):
            block = next((b for b in blocks if b["workload"]["rows"] == rows), None)
            if block is not None:
                row = next(r for r in block["rows"] if r["method"] == f"medrl {DEFAULT_PRESET}")
                points.append({"rows": rows, **{k: row[k] for k in ("total", "stages", "peak_mb", "processes")}})
                continue
            workload = ensure_workload(rows, questions, training)
            row = medrl_row(DEFAULT_PRESET, run_medrl(DEFAULT_PRESET, workload), rows)
            points.append({"rows": rows, **{k: row[k] for k in ("total", "stages", "peak_mb", "processes")}})
    rates = reference_rates(max(blocks, key=lambda b: b["workload"]["rows"])) if blocks else None
    for p in points:
        for method in ("ab", "ac"):
            fixed, per_row = rates[method]
            p[f"est_{method}"] = fixed + per_row * p["rows"]

    # report
    def document(markdown: bool) -> str:
        out = ["# medrl performance benchmark" if markdown else "== medrl performance benchmark =="]
        out += [f"- {line}" if markdown else line for line in header]
        for block in blocks:
            w, s = block["workload"], block["sample"]
            out.append("")
            title = (
                f"workload {block['name']}: {w['rows']:,} rows ({w['bytes'] / 2**20:.0f} MB JSONL), "
                f"{100 * w['near_copy_share']:.1f}% near-copies of benchmark questions, "
                f"{100 * w['short_share']:.1f}% under 8 words; reference samples: (a) {s['a']:,}, (b) {s['b']:,}, "
                f"(c) {s['c']:,} rows"
            )
            out.append(f"### {title}" if markdown else f"-- {title}")
            out.append("")
            out.append(workload_table(block, markdown))
        if points:
            out.append("")
            basis = max(blocks, key=lambda b: b["workload"]["rows"])["name"]
            title = (
                f"scaling: medrl {DEFAULT_PRESET} end to end on the first N rows of the same stream "
                f"(reference columns: linear estimates from workload {basis})"
            )
            out.append(f"### {title}" if markdown else f"-- {title}")
            out.append("")
            out.append(scaling_table(points, markdown))
        out += ["", LEGEND]
        return "\n".join(out) + "\n"

    text = document(markdown=False)
    print(text)
    if points:
        plot(points, rates, DEFAULT_PRESET, args.plot)
        log(f"plot: {args.plot}")
    if args.markdown:
        args.markdown.write_text(document(markdown=True))
        log(f"markdown: {args.markdown}")
    results = {
        "header": header,
        "blocks": blocks,
        "scaling": points,
        "args": vars(args) | {"markdown": str(args.markdown), "plot": str(args.plot)},
    }
    (CACHE / "results.json").write_text(json.dumps(results, indent=1, default=str))
    elapsed = time.perf_counter() - wall_started
    print(f"benchmark wall time: {elapsed:.0f} s ({elapsed / 60:.1f} min); raw results: {CACHE / 'results.json'}")


if __name__ == "__main__":
    main()
