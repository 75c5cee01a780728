"""`medrl eval --predictions` on a real lm-evaluation-harness `--log_samples` file: lm-eval 0.4.13 (its
`local-chat-completions` model, no torch) asks SmolLM2-135M-Instruct behind llama-cpp-python's OpenAI-compatible
server (tests/servers.py) six real MedQA questions through a local task (tests/lm_eval_task/), and medrl reads the
samples file it wrote.

lm-eval lives in the server's virtualenv (tests/llm_server_requirements.txt, `make llm-server`); without it this test
is skipped, and with MEDRL_REQUIRE_LLAMA=1 (set by `make test`, so CI) it fails instead."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, invoke, pack_and_run
from medrl.benchmarks.pack import load_pack
from medrl.evaluation.predictions import ItemIndex, read_predictions
from servers import LLAMA_MODEL, LLAMA_PYTHON, llama_missing, llama_server

TASK = "medrl_medqa_boxed"  # tests/lm_eval_task/medrl_medqa_boxed.yaml
ITEMS, FOUND = 6, 3  # MedQA test items 0..5; 0..2 are in the training file


def _lm_eval_missing() -> str | None:
    if why := llama_missing():
        return why
    found = subprocess.run([LLAMA_PYTHON, "-c", "import lm_eval"], capture_output=True, text=True)
    if found.returncode:
        return f"{LLAMA_PYTHON} has no lm_eval: `make llm-server` installs tests/llm_server_requirements.txt"
    return None


if _why := _lm_eval_missing():
    if os.environ.get("MEDRL_REQUIRE_LLAMA") == "1":
        raise ImportError(_why + " (MEDRL_REQUIRE_LLAMA=1)")
    pytest.skip(_why, allow_module_level=True)


def _lm_eval(url: str, where: Path) -> subprocess.CompletedProcess[str]:
    """lm_eval's CLI on the task, run in `where` (which holds items.jsonl), with no download allowed."""
    model_args = f"model={LLAMA_MODEL},base_url={url}/chat/completions,num_concurrent=1,max_retries=2"
    command = [str(LLAMA_PYTHON), "-m", "lm_eval", "--model", "local-chat-completions"]
    command += ["--model_args", f"{model_args},tokenized_requests=False", "--apply_chat_template"]
    command += ["--tasks", TASK, "--include_path", str(REPO / "tests" / "lm_eval_task")]
    command += ["--log_samples", "--output_path", str(where / "lm_eval_out")]
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "HF_HOME": str(where / "hf")}
    return subprocess.run(command, cwd=where, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_a_real_lm_eval_samples_log_is_read_item_by_item(tmp_path: Path) -> None:
    """Every line of the samples file (one per document and filter) is matched to its pack item by question text
    (the log's doc_id is lm-eval's row number; the item's own id is only in the document), under the file's first
    filter; each item's score is that line's exact_match, and each group's accuracy is the mean of its items'."""
    source = [json.loads(line) for line in (REPO / "examples/benchmarks/medqa/test.jsonl").open()][:ITEMS]
    items = [
        {"id": f"m{index}", "question": row["question"], "options": row["options"], "answer": row["answer_idx"]}
        for index, row in enumerate(source)
    ]
    (tmp_path / "items.jsonl").write_text("".join(json.dumps(item) + "\n" for item in items))
    training = [{"question": item["question"], "options": item["options"]} for item in items[:FOUND]]
    pack, run = pack_and_run(tmp_path, "medqa6", tmp_path / "items.jsonl", training)

    with llama_server(tmp_path / "llama.log") as url:
        harness = _lm_eval(url, tmp_path)
    assert harness.returncode == 0, harness.stderr[-4000:]
    logs = list((tmp_path / "lm_eval_out").glob(f"*/samples_{TASK}_*.jsonl"))
    assert len(logs) == 1, logs
    lines = [json.loads(line) for line in logs[0].read_text().splitlines()]
    first = lines[0]["filter"]
    assert [line["filter"] for line in lines] == [first] * ITEMS + ["boxed"] * ITEMS and first == "letter"
    expected = {("medqa6", line["doc"]["id"]): line["exact_match"] for line in lines if line["filter"] == first}
    assert len(expected) == ITEMS and all(line["metrics"] == ["exact_match"] for line in lines)

    matched = read_predictions(logs[0], ItemIndex(load_pack(pack).items), ["medqa6"])
    assert matched.unmatched == []
    assert matched.scores == {key: [value] for key, value in expected.items()}
    out = tmp_path / "eval"
    done = invoke("eval", run, "--pack", pack, "--predictions", logs[0], "--out", out)
    assert done.exit_code == 0, done.output
    summary = json.loads((out / "eval.json").read_text())
    assert summary["unmatched"] == []
    assert summary["source"] == {"path": str(logs[0]), "format": "lm-eval", "filter": first, "metric": "exact_match"}
    report = summary["benchmarks"]["medqa6"]
    assert (report["items"], report["scored"], report["missing"]) == (ITEMS, ITEMS, 0)
    groups = report["groups"]
    assert (groups["contaminated"]["items"], groups["clean"]["items"]) == (FOUND, ITEMS - FOUND)
    scores = [expected[("medqa6", f"m{index}")] for index in range(ITEMS)]
    assert groups["all"]["accuracy"] == pytest.approx(sum(scores) / ITEMS, abs=1e-12)
    assert groups["contaminated"]["accuracy"] == pytest.approx(sum(scores[:FOUND]) / FOUND, abs=1e-12)
    assert groups["clean"]["accuracy"] == pytest.approx(sum(scores[FOUND:]) / (ITEMS - FOUND), abs=1e-12)
