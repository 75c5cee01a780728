"""Pass-rate filtering speed on the CPU: `medrl build --pass-rate-endpoint` against llama-cpp-python's server with
SmolLM2-135M-Instruct (`make llm-server` installs both), on a sample of the shared MedQA dev rows, K samples each;
then medrl's own cost per request, against a fast local server, beside a bare httpx loop on the same server.

    python bench/perf/pass_rate.py [--rows 50] [--samples 4] [--max-tokens 96] [--threads 1]

Needs `make llm-server` (the server's own virtualenv). Prints two markdown tables. The first: requests, samples,
completion tokens, the pass-rate step's seconds (from build.json), requests/s, rows/minute and tokens/s. The
second: ms per request of medrl's sampler (cache, retries, asyncio, JSON) and of bare httpx loops (sync, and async
like medrl's client), one request at a time, on tests/openai_server.py; medrl minus the async loop is medrl's own
overhead per request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
from medrl.benchmarks.pack import import_benchmarks  # noqa: E402
from medrl.inference import EndpointConfig, ResponseCache, SamplingParams, sample_prompts  # noqa: E402
from servers import LLAMA_MODEL, fake_server, llama_server  # noqa: E402  (the servers the tests start)

TRAINING = REPO.parent / "shared" / "data" / "training" / "medqa_dev.json"


def real_model(work: Path, rows: int, samples: int, max_tokens: int, threads: int) -> list[str]:
    pack = work / "pack"
    import_benchmarks(REPO / "examples" / "benchmarks", pack, allow_partial=True)
    source = work / "medqa_dev_sample.json"
    source.write_text(json.dumps(json.loads(TRAINING.read_text())[:rows]))
    out = work / "out"
    with llama_server(work / "llama.log", threads) as url:
        command = [sys.executable, "-m", "medrl", "build", "--source", str(source), "--pack", str(pack)]
        command += ["--out", str(out), "--pass-rate-endpoint", url, "--pass-rate-model", LLAMA_MODEL]
        command += ["--samples", str(samples), "--max-tokens", str(max_tokens), "--keep-pass-rate", "all", "--quiet"]
        subprocess.run(command, check=True)
    summary = json.loads((out / "build.json").read_text())
    usage, seconds = summary["pass_rate"]["usage"], summary["seconds"]["pass rate"]
    kept = summary["totals"]["kept"]
    return [
        "| server | rows sampled | K | max_tokens | requests | samples | completion tokens | seconds | requests/s | "
        "rows/minute | tokens/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        f"| llama-cpp-python, SmolLM2-135M-Instruct Q4_1, {threads} thread(s) | {kept} | {samples} | {max_tokens} | "
        f"{usage['requests']} | {usage['samples_requested']} | {usage['completion_tokens']} | {seconds:.1f} | "
        f"{usage['requests'] / seconds:.2f} | {60 * kept / seconds:.1f} | {usage['completion_tokens'] / seconds:.0f} |",
    ]


def _bare_sync(url: str, bodies: list[dict]) -> float:
    with httpx.Client() as client:
        started = time.perf_counter()
        for body in bodies:
            client.post(f"{url}/chat/completions", json=body).json()
        return (time.perf_counter() - started) / len(bodies)


async def _bare_async(url: str, bodies: list[dict]) -> float:
    async with httpx.AsyncClient() as client:
        started = time.perf_counter()
        for body in bodies:
            (await client.post(f"{url}/chat/completions", json=body)).json()
        return (time.perf_counter() - started) / len(bodies)


def overhead(work: Path, requests: int, rounds: int = 5) -> list[str]:
    """Per round, the same number of requests through a bare sync loop, a bare async loop (the client medrl uses)
    and medrl's sampler (new prompts each time, so every one is a request); medians over the rounds, so a load
    spike from another process on the machine hits one round, not one side."""
    per_round = requests // rounds
    times: dict[str, list[float]] = {"sync": [], "async": [], "medrl": []}
    rerun = 0.0
    params = SamplingParams(max_tokens=8)
    with fake_server(work / "fake.log", "--no-n") as url, ResponseCache(work / "cache.sqlite") as cache:
        endpoint = EndpointConfig(url, "fake-model", concurrency=1)
        for round_ in range(rounds):
            prompts = [[{"role": "user", "content": f"round {round_} question {i}"}] for i in range(per_round)]
            bodies = [{"model": "fake-model", "messages": m, "n": 1, "seed": 0, "max_tokens": 8} for m in prompts]
            times["sync"].append(_bare_sync(url, bodies))
            times["async"].append(asyncio.run(_bare_async(url, bodies)))
            started = time.perf_counter()
            _, usage = sample_prompts(prompts, 1, endpoint, params, cache)
            times["medrl"].append((time.perf_counter() - started) / usage.requests)
            started = time.perf_counter()
            sample_prompts(prompts, 1, endpoint, params, cache)
            rerun += time.perf_counter() - started
    ms = {name: 1000 * statistics.median(values) for name, values in times.items()}
    return [
        "| requests, one at a time | bare httpx sync ms/request | bare httpx async ms/request | medrl sampler "
        "ms/request | medrl overhead over the async loop, ms/request | rerun from the cache, s |",
        "|---|---|---|---|---|---|",
        f"| {per_round * rounds} | {ms['sync']:.2f} | {ms['async']:.2f} | {ms['medrl']:.2f} | "
        f"{ms['medrl'] - ms['async']:.2f} | {rerun:.3f} |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=50)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads (1 on a shared 2-core machine)")
    parser.add_argument("--overhead-requests", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        print("\n".join(overhead(work, args.overhead_requests)) + "\n")
        print("\n".join(real_model(work, args.rows, args.samples, args.max_tokens, args.threads)))


if __name__ == "__main__":
    main()
