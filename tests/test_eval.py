"""`medrl eval`: accuracy on clean and contaminated items from predictions files and from a model endpoint.

The toy benchmark is 60 real MedQA questions, each ending in a `[[solve K]]` marker that tests/openai_server.py
answers `\\boxed{A}` for samples 0..K-1 and `\\boxed{B}` after (every item's answer is A), and the training file
holds 20 of them verbatim: a real decontamination run finds exactly those 20 (certain class). So every accuracy,
count and gap below is known in advance.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import REPO, TRAINING, invoke, pack_and_run
from medrl.benchmarks.loaders import BenchmarkItem
from medrl.benchmarks.pack import BenchmarkPack, load_pack
from medrl.evaluation.evaluate import prompt
from medrl.inference import ResponseCache, SamplingParams
from medrl.inference.cache import sample_key
from medrl.reward import compute_score
from servers import LLAMA_MODEL, answered, fake_server, llama_missing, llama_server

FOUND = 20  # items 0..19 are in the training data


def _marker(index: int) -> int:
    """The K of item `index`'s `[[solve K]]` marker (of 4 samples): 18 of the 20 found items always solved, of the 40
    clean ones 16 always, 4 half the time, 20 never."""
    if index < FOUND:
        return 4 if index < 18 else 0
    return 4 if index < 36 else 2 if index < 40 else 0


def _solves(index: int, samples: int = 1) -> int:
    """How many of an item's first `samples` samples (1 or 4) the fake server answers correctly."""
    return min(_marker(index), samples)


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_toy(tmp_path_factory.mktemp("toy"))


def make_toy(where: Path) -> dict[str, Path]:
    """A pack with the toy benchmark and a decontamination run over a training file holding 20 of its items."""
    where.mkdir(exist_ok=True)
    source = [json.loads(line) for line in (REPO / "examples/benchmarks/medqa/test.jsonl").open()][:60]
    items = [
        {"id": f"q{index}", "question": f"{row['question']} [[solve {_marker(index)}]]", "options": row["options"]}
        | {"answer": "A"}
        for index, row in enumerate(source)
    ]
    (where / "toy.jsonl").write_text("".join(json.dumps(item) + "\n" for item in items))
    training = [{"question": item["question"], "options": item["options"]} for item in items[:FOUND]]
    training.append({"question": "Which vitamin deficiency causes scurvy in sailors on long voyages?"})
    pack, run = pack_and_run(where, "toy", where / "toy.jsonl", training)
    found = json.loads((run / "report.json").read_text())["benchmark_items"]["toy"]["found"]
    assert sorted(found) == sorted(f"q{index}" for index in range(FOUND))
    return {"pack": pack, "run": run, "items": where / "toy.jsonl"}


def _covers(group: dict, value: float) -> bool:
    return group["low"] <= value <= group["high"]


def _check_known(summary: dict, samples: int = 1) -> None:
    """Every number of the toy benchmark that is known in advance."""
    toy = summary["benchmarks"]["toy"]
    groups, gaps = toy["groups"], toy["gaps"]
    scores = [_solves(index, samples) / samples for index in range(60)]
    clean = sum(scores[FOUND:]) / 40
    assert (toy["items"], toy["scored"], toy["missing"]) == (60, 60, 0)
    assert {key: group["items"] for key, group in groups.items()} == {
        "all": 60,
        "clean": 40,
        "contaminated": 20,
        "certain": 20,
        "review": 0,
    }
    assert groups["all"]["accuracy"] == pytest.approx(sum(scores) / 60, abs=1e-12)
    assert groups["clean"]["accuracy"] == pytest.approx(clean, abs=1e-12)
    assert groups["contaminated"]["accuracy"] == groups["certain"]["accuracy"] == 18 / FOUND
    assert gaps["contaminated"]["gap"] == pytest.approx(18 / FOUND - clean, abs=1e-12)
    assert gaps["review"] is None
    for key, value in (("all", sum(scores) / 60), ("clean", clean), ("contaminated", 0.9)):
        assert _covers(groups[key], value)
    assert _covers(gaps["contaminated"], 0.9 - clean) and 0 < gaps["contaminated"]["p_value"] < 0.05
    assert "only 20 items" in groups["certain"]["warning"] and "warning" not in groups["clean"]


def test_endpoint_scores_are_exact_and_a_rerun_asks_nothing(toy: dict[str, Path], tmp_path: Path) -> None:
    log, cache = tmp_path / "log", tmp_path / "cache.sqlite"
    with fake_server(log) as url:
        args = ["eval", toy["run"], "--pack", toy["pack"], "--endpoint", url, "--model", "fake-model"]
        done = invoke(*args, "--out", tmp_path / "eval", "--cache", cache)
        assert done.exit_code == 0, done.output
        requests = len(answered(log))
        again = invoke(*args, "--out", tmp_path / "again", "--cache", cache)
        assert again.exit_code == 0, again.output
    assert requests == 60 and len(answered(log)) == 60  # the rerun is answered from the cache
    summary = json.loads((tmp_path / "eval" / "eval.json").read_text())
    _check_known(summary)
    assert summary["overall"]["groups"] == summary["benchmarks"]["toy"]["groups"]
    assert json.loads((tmp_path / "again" / "eval.json").read_text())["benchmarks"] == summary["benchmarks"]
    assert "toy: all 63.3% (n=60), clean 50.0% (n=40), contaminated 90.0% (n=20); gap +40.0 points" in done.output
    markdown = (tmp_path / "eval" / "eval.md").read_text()
    assert "| toy | 60 | 63.3% [" in markdown and "+40.0 [" in markdown
    page = (tmp_path / "eval" / "eval.html").read_text()
    assert page.count("<svg") == 2 and "<script" not in page and "http" not in page.replace("http-equiv", "")


def test_samples_score_each_item_by_its_share_of_correct_samples(toy: dict[str, Path], tmp_path: Path) -> None:
    with fake_server(tmp_path / "log") as url:
        done = invoke(
            "eval", toy["run"], "--pack", toy["pack"], "--endpoint", url, "--model", "fake-model", "--samples", 4,
            "--temperature", 1.0, "--out", tmp_path / "eval", "--cache", tmp_path / "cache.sqlite",
        )  # fmt: skip
    assert done.exit_code == 0, done.output
    summary = json.loads((tmp_path / "eval" / "eval.json").read_text())
    _check_known(summary, samples=4)
    assert summary["source"]["samples"] == 4 and summary["source"]["usage"]["samples_requested"] == 240


def test_predictions_by_id_and_by_question_with_unmatched_rows_listed(toy: dict[str, Path], tmp_path: Path) -> None:
    items = [json.loads(line) for line in toy["items"].open()]
    rows = ["benchmark,item_id,question,correct"]
    for index, item in enumerate(items):
        correct = "true" if _solves(index) else "false"
        if index % 2:  # every other row by its question text, in another case and spacing
            question = item["question"].replace('"', "").replace(" ", "  ")
            question = question.lower() if question.isascii() else question  # Cyrillic look-alikes fold as capitals
            rows.append(f'toy,,"{question}",{correct}')
        else:
            rows.append(f"toy,{item['id']},,{correct}")
    rows += ["toy,q999,,1", "medqa,q1,,0", 'toy,,"A question no item has",1']
    predictions = tmp_path / "predictions.csv"
    predictions.write_text("\n".join(rows) + "\n")
    done = invoke("eval", toy["run"], "--pack", toy["pack"], "--predictions", predictions, "--out", tmp_path / "e")
    assert done.exit_code == 0, done.output
    summary = json.loads((tmp_path / "e" / "eval.json").read_text())
    _check_known(summary)
    reasons = [(row["benchmark"], row.get("item_id"), row["reason"]) for row in summary["unmatched"]]
    assert reasons == [
        ("toy", "q999", "no item has this id"),
        ("medqa", None, "not a chosen benchmark"),
        ("toy", "", "no item has this question"),
    ]
    assert summary["source"] == {"path": str(predictions), "format": "plain"}


def test_a_benchmark_without_contamination_reports_no_gap(toy: dict[str, Path], tmp_path: Path) -> None:
    predictions = tmp_path / "p.jsonl"
    predictions.write_text(
        "".join(json.dumps({"benchmark": "toy", "item_id": f"q{i}", "correct": 1}) + "\n" for i in range(20, 60))
    )
    done = invoke("eval", toy["run"], "--pack", toy["pack"], "--predictions", predictions, "--out", tmp_path / "e")
    assert done.exit_code == 0, done.output
    toy_report = json.loads((tmp_path / "e" / "eval.json").read_text())["benchmarks"]["toy"]
    assert toy_report["gaps"] == "no contaminated items" and toy_report["missing"] == 20
    assert "toy: all 100.0% (n=40), clean 100.0% (n=40); no contaminated items" in done.output


def test_lm_eval_sample_lines_are_matched_by_question_text(toy: dict[str, Path], tmp_path: Path) -> None:
    """The --log_samples line shape (lm_eval/evaluator.py, loggers/evaluation_tracker.py): the document under
    `doc`, metric names under `metrics`, values at the top level, one line per filter."""
    items = [json.loads(line) for line in toy["items"].open()]
    lines = []
    for index, item in enumerate(items):
        doc = {"id": index, "sent1": item["question"], "ending0": "x", "label": 0}
        for filter_name in ("none", "other"):
            lines.append({"doc_id": index, "doc": doc, "target": "0", "filter": filter_name, "metrics": ["acc"]})
            lines[-1] |= {"acc": float(bool(_solves(index))) if filter_name == "none" else 0.0, "resps": [[]]}
    predictions = tmp_path / "samples_medqa_4options_2026.jsonl"
    predictions.write_text("".join(json.dumps(line) + "\n" for line in lines))
    done = invoke("eval", toy["run"], "--pack", toy["pack"], "--predictions", predictions, "--out", tmp_path / "e")
    assert done.exit_code == 0, done.output
    summary = json.loads((tmp_path / "e" / "eval.json").read_text())
    _check_known(summary)
    assert summary["source"] | {"path": ""} == {"path": "", "format": "lm-eval", "filter": "none", "metric": "acc"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("benchmark,item_id,correct\ntoy,q1,maybe\n", "line 2: correct is 'maybe'; give true/false"),
        ("benchmark,item_id\ntoy,q1\n", "no correct column"),
        ("benchmark,item_id,correct\nother,q1,1\n", "no item of toy was scored"),
        ("", "holds no predictions"),
    ],
)
def test_bad_predictions_are_one_line_and_leave_the_outputs(
    toy: dict[str, Path], tmp_path: Path, content: str, message: str
) -> None:
    out = tmp_path / "e"
    out.mkdir()
    (out / "eval.json").write_text("previous")
    predictions = tmp_path / "p.csv"
    predictions.write_text(content)
    done = invoke("eval", toy["run"], "--pack", toy["pack"], "--predictions", predictions, "--out", out)
    assert done.exit_code == 2 and message in done.output and "Traceback" not in done.output
    assert len(done.output.strip().splitlines()) == 1
    assert (out / "eval.json").read_text() == "previous" and sorted(os.listdir(tmp_path)) == ["e", "p.csv"]


def _known_predictions(path: Path) -> Path:
    rows = [{"benchmark": "toy", "item_id": f"q{index}", "correct": bool(_solves(index))} for index in range(60)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_report_adds_the_evaluation_as_a_section(toy: dict[str, Path], tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(toy["run"], run)
    predictions = _known_predictions(tmp_path / "p<b>x.jsonl")  # a name that must be escaped
    done = invoke("eval", run, "--pack", toy["pack"], "--predictions", predictions, "--out", tmp_path / "e")
    assert done.exit_code == 0 and f"medrl report {run} --eval {tmp_path / 'e'}" in done.output
    before = (run / "report.html").read_text()
    assert "Did contamination inflate" not in before
    done = invoke("report", run, "--eval", tmp_path / "e")
    assert done.exit_code == 0, done.output
    page = (run / "report.html").read_text()
    section = page[page.index("<h2>Did contamination inflate the score? p&lt;b&gt;x.jsonl</h2>") :]
    assert section.count('<svg class="chart"') >= 2 and "toy: gap +40.0 [" in section and "<b>x" not in page
    assert section.index('<table class="eval">') < section.index('<h2 id="evidence">')
    again = invoke("report", run)  # without --eval the page is the run's own again
    assert again.exit_code == 0 and (run / "report.html").read_text() == before


def test_report_refuses_an_evaluation_of_another_run_or_a_damaged_one(toy: dict[str, Path], tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(toy["run"], run)
    predictions = _known_predictions(tmp_path / "p.jsonl")
    done = invoke("eval", run, "--pack", toy["pack"], "--predictions", predictions, "--out", tmp_path / "e")
    assert done.exit_code == 0, done.output
    summary = json.loads((tmp_path / "e" / "eval.json").read_text())
    before = (run / "report.html").read_bytes()
    cases = {
        "other": (summary | {"input": "someone-else.jsonl"}, "evaluates run"),
        "damaged": (summary | {"overall": {"scored": "x", "groups": {"all": {"items": "many"}}}}, "cannot draw"),
        "not-eval": ([1, 2], "not an eval.json medrl wrote"),
    }
    for name, (content, _) in cases.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "eval.json").write_text(json.dumps(content))
    (tmp_path / "garbled").mkdir()
    (tmp_path / "garbled" / "eval.json").write_text("{not json")
    cases_and_messages = [(name, message) for name, (_, message) in cases.items()]
    for name, message in [*cases_and_messages, ("garbled", "not a readable eval.json"), ("absent", "no such file")]:
        done = invoke("report", run, "--eval", tmp_path / name)
        assert done.exit_code == 2 and message in done.output and "Traceback" not in done.output, (name, done.output)
        assert len(done.output.strip().splitlines()) == 1 and "give --eval the --out of a `medrl eval" in done.output
        assert (run / "report.html").read_bytes() == before


def test_review_class_items_are_reported_apart(full_pack_dir: Path, full_pack: BenchmarkPack, tmp_path: Path) -> None:
    """Real MedQA dev rows that MedXpertQA rewrote (review class) and a verbatim MedXpertQA item (certain): each
    item's class is the strongest of the recorded matches naming it."""
    dev = json.loads((TRAINING / "medqa_dev.json").read_text(encoding="utf-8"))
    pack_items = [item for item in full_pack.items if item.benchmark == "medxpertqa"]
    copy = pack_items[0]
    rows = [dev[17], dev[394], {"question": copy.question, "options": dict(copy.options)}]
    source = tmp_path / "train.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    done = invoke("decontaminate", source, "--pack", full_pack_dir, "--out", tmp_path / "run", "--quiet")
    assert done.exit_code == 0, done.output
    removed = [json.loads(line) for line in (tmp_path / "run" / "removed.jsonl").open()]
    certain = {m["item_id"] for row in removed for m in row["contamination"] if m["confidence"] == "certain"}
    named = {m["item_id"] for row in removed for m in row["contamination"] if m["benchmark"] == "medxpertqa"}
    review = named - certain
    assert copy.item_id in certain and {"Text-1464", "Text-1053"} <= review
    predictions = tmp_path / "p.jsonl"
    predictions.write_text(
        "".join(
            json.dumps({"benchmark": "medxpertqa", "item_id": item.item_id, "correct": item.item_id in review}) + "\n"
            for item in pack_items
        )
    )
    args = ["eval", tmp_path / "run", "--pack", full_pack_dir, "--predictions", predictions, "--out", tmp_path / "e"]
    done = invoke(*args, "--benchmark", "medxpertqa")
    assert done.exit_code == 0, done.output
    report = json.loads((tmp_path / "e" / "eval.json").read_text())["benchmarks"]["medxpertqa"]
    groups = report["groups"]
    assert groups["review"]["items"] == len(review) and groups["review"]["accuracy"] == 1.0
    assert groups["certain"]["items"] == len(certain & {item.item_id for item in pack_items})
    assert groups["clean"]["accuracy"] == 0.0 and report["gaps"]["review"]["gap"] == 1.0


@pytest.mark.slow
def test_a_real_model_behind_llama_cpp_server(toy: dict[str, Path], tmp_path: Path) -> None:
    """SmolLM2-135M-Instruct (the pass-rate tests' llama.cpp server, on the CPU) asked 24 toy items (20 found, 4
    clean): it finishes, and every group's accuracy is the mean reward of the cached completions."""
    if why := llama_missing():
        if os.environ.get("MEDRL_REQUIRE_LLAMA") == "1":
            pytest.fail(why)
        pytest.skip(why)
    cache = tmp_path / "cache.sqlite"
    with llama_server(tmp_path / "llama.log") as url:
        done = invoke(
            "eval", toy["run"], "--pack", toy["pack"], "--endpoint", url, "--model", LLAMA_MODEL, "--limit", 24,
            "--max-tokens", 48, "--out", tmp_path / "eval", "--cache", cache,
        )  # fmt: skip
    assert done.exit_code == 0, done.output
    summary = json.loads((tmp_path / "eval" / "eval.json").read_text())
    items = load_pack(toy["pack"]).items[:24]
    with ResponseCache(cache) as responses:
        keys = [sample_key(LLAMA_MODEL, prompt(item), SamplingParams(0.0, 48, 1.0, 0), 0) for item in items]
        found = responses.get(keys)
    rewards = [compute_score(None, found[key].text, "A") for key in keys]
    groups = summary["benchmarks"]["toy"]["groups"]
    assert (groups["contaminated"]["items"], groups["clean"]["items"]) == (20, 4)
    assert groups["contaminated"]["accuracy"] == pytest.approx(sum(rewards[:20]) / 20, abs=1e-12)
    assert groups["clean"]["accuracy"] == pytest.approx(sum(rewards[20:]) / 4, abs=1e-12)
    assert "only 4 items" in groups["clean"]["warning"]


def test_the_prompt_is_the_builds_problem_with_any_context_first() -> None:
    item = BenchmarkItem("pubmedqa", "test", "1", "Does X help?", (("A", "yes"), ("B", "no")), "A", "An abstract.")
    content = prompt(item)[0]["content"]
    assert content.startswith("Context:\nAn abstract.\n\nDoes X help?\nA. yes\nB. no\nPlease reason step by step")
    assert prompt(replace(item, context=""))[0]["content"].startswith("Does X help?\nA. yes")


def test_endpoint_faults_name_evals_own_options(toy: dict[str, Path], tmp_path: Path) -> None:
    with fake_server(tmp_path / "log") as url:
        args = ["eval", toy["run"], "--pack", toy["pack"], "--endpoint", url, "--out", tmp_path / "e"]
        done = invoke(*args, "--model", "other-model", "--cache", tmp_path / "cache.sqlite")
    assert done.exit_code == 2 and not (tmp_path / "e").exists()
    assert f"endpoint {url} does not serve model 'other-model'; it serves 'fake-model': fix --model" in done.output
    alone = invoke("eval", toy["run"], "--pack", toy["pack"], "--endpoint", url, "--out", tmp_path / "e")
    assert alone.exit_code == 2 and "--endpoint and --model go together" in alone.output


def test_a_damaged_cache_names_evals_cache_option(toy: dict[str, Path], tmp_path: Path) -> None:
    cache = tmp_path / "cache.sqlite"
    cache.write_bytes(b"not a database, " * 100)
    with fake_server(tmp_path / "log") as url:
        args = ["eval", toy["run"], "--pack", toy["pack"], "--endpoint", url, "--model", "fake-model"]
        done = invoke(*args, "--out", tmp_path / "e", "--cache", cache)
    assert done.exit_code == 2 and "cannot use this file as the response cache" in done.output
    assert "choose another with --cache" in done.output and "pass-rate" not in done.output
    assert not (tmp_path / "e").exists()
