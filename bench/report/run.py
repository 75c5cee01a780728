"""How big does report.html get, how long does it take to render, and does a browser still open it?

Builds a training file whose every row is a real benchmark question from ../shared/data (cycled, each wrapped in
a numbered instruction so rows differ), so every row is removed; decontaminates it with the default preset; then
times re-rendering the report alone (`medrl report OUT`) and, when Chromium and Selenium are installed, opening
the page until its first page of evidence is shown. Prints one markdown table row per size.

    python bench/report/run.py --rows 1000,10000,100000
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import medrl
from medrl.reporting.html import write_html_report

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "tests"))  # tests/browser.py
CACHE = HERE / ".cache"
BENCHMARKS = HERE.parents[2] / "shared" / "data" / "benchmarks"


def training_file(rows: int, questions: list[str], path: Path) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for row in range(rows):
            question = questions[row % len(questions)]
            handle.write(json.dumps({"id": row, "question": f"Exercise {row}. Answer this: {question}"}) + "\n")
    return path


def browser_seconds(page: Path) -> float | None:
    """Seconds until Chromium shows the first page of evidence; None without Chromium/Selenium."""
    try:
        from browser import open_report  # tests/browser.py, the browser test's driver
    except ImportError:
        return None
    started = time.perf_counter()
    with open_report(page, timeout=600):
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1000,10000,100000", help="comma-separated row counts")
    arguments = parser.parse_args()
    CACHE.mkdir(exist_ok=True)
    pack = CACHE / "pack"
    if not (pack / "manifest.json").exists():
        medrl.import_benchmarks(BENCHMARKS, pack)
    questions = [item.question for item in medrl.benchmarks.pack.load_pack(pack).items]
    print("| removed rows | report.html MB | KB per 1k removed rows | render s | Chromium open s | run total s |")
    print("|---|---|---|---|---|---|")
    for rows in (int(value) for value in arguments.rows.split(",")):
        out = CACHE / f"out-{rows}"
        shutil.rmtree(out, ignore_errors=True)
        started = time.perf_counter()
        report = medrl.decontaminate(training_file(rows, questions, CACHE / f"train-{rows}.jsonl"), pack, out)
        total = time.perf_counter() - started
        started = time.perf_counter()
        page = write_html_report(out)
        render = time.perf_counter() - started
        size = page.stat().st_size
        opened = browser_seconds(page)
        print(
            f"| {report.removed_rows:,} | {size / 1e6:.1f} | {size / 1e3 / (report.removed_rows / 1000):,.0f} | "
            f"{render:.1f} | {'-' if opened is None else f'{opened:.1f}'} | {total:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
