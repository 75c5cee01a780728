"""`medrl eval` with a real small model on the CPU: SmolLM2-135M-Instruct behind llama-cpp-python's server (the
pass-rate tests' server, `make llm-server`) asked the 200 MedQA items of the shipped examples, split by what the
demo decontamination run found. It shows that the command finishes and reports on a real model; a 135M model's
score says nothing about large models.

    python bench/eval/real_model.py WORK_DIR [--max-tokens 24]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

from servers import LLAMA_MODEL, llama_server  # noqa: E402


def medrl(*args: str | Path) -> None:
    subprocess.run([sys.executable, "-m", "medrl", *map(str, args)], check=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("work", type=Path)
    parser.add_argument("--max-tokens", type=int, default=24)
    args = parser.parse_args()
    work = args.work
    medrl("benchmarks", "import", REPO / "examples/benchmarks", "--pack", work / "pack", "--allow-partial")
    medrl("decontaminate", REPO / "examples/training/demo_train.jsonl", "--pack", work / "pack", "--out", work / "run")
    started = time.perf_counter()
    with llama_server(work / "llama.log") as url:
        medrl(
            "eval", work / "run", "--pack", work / "pack", "--benchmark", "medqa", "--endpoint", url, "--model",
            LLAMA_MODEL, "--max-tokens", args.max_tokens, "--out", work / "eval",
        )  # fmt: skip
    seconds = time.perf_counter() - started
    summary = json.loads((work / "eval" / "eval.json").read_text())
    print((work / "eval" / "eval.md").read_text())
    print(f"{summary['benchmarks']['medqa']['scored']} items in {seconds:.0f} s, {summary['source']['usage']}")


if __name__ == "__main__":
    main()
