"""The stage cascade: a later stage may skip a row only when it cannot change that row's class, so a weaker match
found first never hides a stronger one (a verbatim copy that a rewrite rule saw first is still certain-class)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import medrl
from conftest import BENCHMARKS, TRAINING
from medrl.benchmarks.pack import BenchmarkPack
from medrl.config import DecontaminationConfig
from medrl.detection.index import PackIndex, build_index
from medrl.detection.runner import detect_batch
from medrl.detection.stages import STAGES
from medrl.detection.stages.ngram import NgramConfig

# The stages the property varies: every stage but semantic (whose model makes the index slow to build; it is
# review-class like rewrite, which the property covers).
VARIED = [stage for stage in STAGES if stage.name != "semantic"]


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def medqa_questions() -> list[str]:
    return [row["question"] for row in _jsonl(BENCHMARKS / "medqa" / "test.jsonl")]


def test_a_verbatim_copy_first_seen_by_a_rewrite_rule_is_still_certain(tmp_path: Path, full_pack_dir: Path) -> None:
    """The case the cascade bug hid: coverage off, rewrite then ngram on, review-class rows kept. 40 verbatim MedQA
    test questions are benchmark text, so all are removed as certain, as `run_all_stages` says."""
    rows = medqa_questions()[:40]
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps({"question": text}) + "\n" for text in rows), encoding="utf-8")
    rewrite = medrl.preset("medrl").settings("rewrite")
    assert rewrite is not None
    config = DecontaminationConfig(preset="custom", stages={"rewrite": rewrite, "ngram": NgramConfig()}, review="keep")
    report = medrl.decontaminate(train, full_pack_dir, tmp_path / "out", config=config)
    assert report.by_confidence == {"certain": 40}
    assert (report.removed_rows, report.kept_rows) == (40, 0)
    assert "rewrite" in report.by_method  # the rewrite rule did see them first
    everything = medrl.decontaminate(train, full_pack_dir, tmp_path / "all", config=config.replace(run_all_stages=True))
    assert (everything.removed_rows, everything.by_confidence) == (report.removed_rows, report.by_confidence)


@pytest.fixture(scope="module")
def cascade_case(full_pack: BenchmarkPack) -> tuple[PackIndex, list[str]]:
    """An index with every varied stage over MedQA test and MedXpertQA (which rewrote MedQA cases), and a pool of
    rows: verbatim and truncated MedQA questions, MedXpertQA rewrites, and unrelated training questions."""
    items = [item for item in full_pack.items if item.benchmark in ("medqa", "medxpertqa")]
    everything = DecontaminationConfig(preset="all", stages={stage.name: stage.settings_class() for stage in VARIED})
    index = build_index(items, everything)
    chooser = random.Random(19)
    medqa = chooser.sample(medqa_questions(), 40)
    medxpertqa = [item.question for item in chooser.sample([i for i in items if i.benchmark == "medxpertqa"], 30)]
    truncated = [text[: len(text) // 2] for text in medqa[:20]]
    training = json.loads((TRAINING / "huatuogpt_o1_demo.json").read_text(encoding="utf-8"))
    clean = [row["Open-ended Verifiable Question"] for row in chooser.sample(training, 30)]
    return index, medqa + medxpertqa + truncated + clean


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    chosen=st.sets(st.sampled_from([stage.name for stage in VARIED]), min_size=1),
    picks=st.lists(st.integers(min_value=0, max_value=119), min_size=1, max_size=25),
    review=st.sampled_from(["remove", "keep"]),
)
def test_a_rows_class_does_not_depend_on_the_cascade(
    cascade_case: tuple[PackIndex, list[str]], chosen: set[str], picks: list[int], review: str
) -> None:
    """For any stage configuration, each row's decision and confidence class equal those of `run_all_stages`."""
    index, pool = cascade_case
    stages = {stage.name: stage.settings_class() for stage in VARIED if stage.name in chosen}
    config = DecontaminationConfig(preset="any", stages=stages, review=review)
    texts = {"question": [pool[pick] for pick in picks]}
    cascaded, _ = detect_batch(texts, index, config)
    complete, _ = detect_batch(texts, index, config.replace(run_all_stages=True))
    for quick, full in zip(cascaded, complete, strict=True):
        assert (quick.contaminated, quick.confidence) == (full.contaminated, full.confidence)
