"""The architecture's promises: one stage registry everything derives from, one config loader for every command,
one detection runner (build with worker processes gives the same outputs), and an index cache that holds only
data."""

from __future__ import annotations

import ast
import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

import medrl
from conftest import REPO, invoke
from medrl.benchmarks.pack import load_pack
from medrl.config import DecontaminationConfig, preset
from medrl.detection.decide import _METHOD_ORDER
from medrl.detection.index import CACHE_DIR, cache_key, load_or_build_index
from medrl.detection.stages import STAGE_NAMES, STAGES, Stage
from medrl.errors import MedrlError
from medrl.reporting.runs import method_thresholds
from medrl.reporting.svg import METHOD_COLORS

EXAMPLES = REPO / "examples"
TRAIN = EXAMPLES / "training" / "demo_train.jsonl"


def test_every_stage_has_settings_an_evidence_rank_and_an_index_part() -> None:
    assert {stage.name: stage.evidence_rank for stage in STAGES} == _METHOD_ORDER
    assert len(set(_METHOD_ORDER.values())) == len(STAGES)
    everything = DecontaminationConfig(preset="all", stages={s.name: s.settings_class() for s in STAGES})
    assert [stage.name for stage in everything.enabled()] == list(STAGE_NAMES)  # the registry's order
    assert set(everything.to_dict()) >= set(STAGE_NAMES)
    # The report reads each stage's threshold line and colour from the registry: every stage has its own.
    assert set(method_thresholds(everything.to_dict())) == set(STAGE_NAMES)
    assert set(METHOD_COLORS) == set(STAGE_NAMES) and len(set(METHOD_COLORS.values())) == len(STAGES)
    with pytest.raises(MedrlError, match="every detection stage is disabled: enable one of"):
        DecontaminationConfig(preset="none", stages={})
    with pytest.raises(MedrlError, match="unknown detection stages"):
        DecontaminationConfig(preset="x", stages={"nope": STAGES[0].settings_class()})
    with pytest.raises(MedrlError, match="settings must be a"):
        DecontaminationConfig(preset="x", stages={STAGES[0].name: STAGES[1].settings_class()})


def test_the_stage_contract_fails_at_import_not_at_run_time() -> None:
    """A stage missing a class attribute fails when its class is defined; one missing a method cannot be made."""
    with pytest.raises(TypeError, match="does not define color"):

        class NoColour(Stage):  # type: ignore[type-arg]
            name, settings_class, evidence_rank, confidence = "x", STAGES[0].settings_class, 9, "certain"
            score = evidence = "x"

    class NoHits(Stage):  # type: ignore[type-arg]
        name, settings_class, evidence_rank, confidence, color = "x", STAGES[0].settings_class, 9, "certain", "#000"
        score = evidence = "x"

    with pytest.raises(TypeError, match="abstract"):
        NoHits()  # type: ignore[abstract]


SRC = REPO / "src" / "medrl"
STAGES_DIR = SRC / "detection" / "stages"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    return found | {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}


def test_no_stage_module_imports_another() -> None:
    stage_modules = {f"medrl.detection.stages.{path.stem}" for path in STAGES_DIR.glob("*.py")}
    stage_modules -= {"medrl.detection.stages.base", "medrl.detection.stages.__init__"}
    for path in STAGES_DIR.glob("*.py"):
        if path.stem in ("__init__", "presets"):  # the registry and the presets list the stages
            continue
        own = f"medrl.detection.stages.{path.stem}"
        assert not (_imports(path) & (stage_modules - {own})), f"{path.name} imports another stage"


def test_nothing_outside_the_stages_names_a_stage() -> None:
    """Code outside `detection/stages/` knows stages only through the registry: no string literal in it is a stage
    name (docstrings and comments may mention them)."""
    for path in SRC.rglob("*.py"):
        # The coverage rule's settings are shared by the coverage stage and dedup, so they live beside the rule in
        # rare_ngrams.py; their messages name the [coverage] table.
        if STAGES_DIR in path.parents or path.name == "rare_ngrams.py":
            continue
        tree = ast.parse(path.read_text())
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        named = [
            node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and node.value in STAGE_NAMES and id(node) not in docstrings
        ]
        assert not named, f"{path.relative_to(SRC)} names stages {named}"


def test_decontaminate_reads_a_config_file_and_flags_override_it(tmp_path: Path, example_pack: Path) -> None:
    config = tmp_path / "conf" / "run.toml"
    config.parent.mkdir()
    shutil.copy(TRAIN, config.parent / "train.jsonl")
    config.write_text(
        'input = "train.jsonl"\nout = "out"\npreset = "ii-medical-rl"\nbatch_size = 7\nrun_all_stages = true\n'
        "[fuzzy]\nthreshold = 95.0\n"
    )
    result = invoke("decontaminate", "--config", config, "--pack", example_pack)
    assert result.exit_code == 0, result.output
    report = json.loads((config.parent / "out" / "report.json").read_text())  # out is relative to the file
    assert report["config"]["preset"] == "ii-medical-rl" and report["config"]["batch_size"] == 7
    assert report["config"]["fuzzy"] == {"scorer": "ratio", "threshold": 95.0} and report["config"]["run_all_stages"]
    assert report["input"]["path"].endswith("conf/train.jsonl")

    # Flags win over the file; a stage can be switched off by the file.
    config.write_text('input = "train.jsonl"\nout = "out"\npreset = "ii-medical-rl"\nfuzzy = false\n')
    result = invoke("decontaminate", "--config", config, "--pack", example_pack, "--out", tmp_path / "flag-out")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "flag-out" / "report.json").read_text())
    assert report["config"]["fuzzy"] is None and set(report["by_method"]) <= {"ngram"}

    # The Python API reads the same file.
    arguments = medrl.decontaminate_settings(config, pack=example_pack, out=tmp_path / "api-out")
    assert arguments["config"].settings("fuzzy") is None and arguments["input"] == config.parent / "train.jsonl"
    assert medrl.decontaminate(**arguments).input_rows == report["input_rows"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('colour = "red"\n', r"unknown keys \['colour'\]; known: input, pack, out"),
        ('batch_size = "many"\n', "batch_size must be an integer"),
        ("[coverage]\nmin_item_coverage = 2.0\n", r"coverage.min_item_coverage must be in \(0, 1\]"),
        ("[coverage]\nstock = 3\n", r"\[coverage\]: unknown keys \['stock'\]"),
        ('preset = "nope"\n', "unknown preset 'nope'"),
        ("input = [\n", "cannot read the decontaminate config"),
    ],
)
def test_bad_decontaminate_configs_are_one_line_errors(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "run.toml"
    config.write_text(text)
    result = invoke("decontaminate", TRAIN, "--config", config, "--pack", tmp_path, "--out", tmp_path / "o")
    assert result.exit_code == 2, result.output
    assert "error:" in result.output and len(result.output.strip().splitlines()) == 1
    with pytest.raises(MedrlError, match=message):
        medrl.decontaminate_settings(config, input=TRAIN, pack=tmp_path, out=tmp_path / "o")


def test_benchmark_spec_files_are_read_by_the_same_loader(tmp_path: Path, example_pack: Path) -> None:
    exam = tmp_path / "specs" / "exam.jsonl"
    exam.parent.mkdir()
    exam.write_text(json.dumps({"stem": "Which vitamin deficiency causes scurvy?", "choices": ["C", "D"]}) + "\n")
    spec = exam.parent / "exam.toml"
    spec.write_text('name = "my_exam"\nfile = "exam.jsonl"\nquestion_field = "stem"\noptions_field = "choices"\n')
    values = medrl.benchmark_spec(spec)
    assert values["file"] == exam and values["fields"].question == "stem" and values["split"] == "test"
    assert medrl.benchmark_spec(spec, split="dev")["split"] == "dev"  # a flag given wins
    pack = tmp_path / "pack"
    shutil.copytree(example_pack, pack)
    entry = medrl.add_benchmark(pack, **values)
    assert (entry.name, entry.rows) == ("my_exam", 1)
    spec.write_text('name = "x"\nfile = "exam.jsonl"\nquestion = "stem"\n')
    with pytest.raises(MedrlError, match=r"unknown keys \['question'\]; known: file, name, question_field"):
        medrl.benchmark_spec(spec)


def test_build_with_worker_processes_gives_the_same_outputs(tmp_path: Path, example_pack: Path) -> None:
    outputs = {}
    for processes in ("1", "2"):
        out = tmp_path / f"build{processes}"
        result = invoke("build", "--source", TRAIN, "--pack", example_pack, "--out", out, "--processes", processes)
        assert result.exit_code == 0, result.output
        summary = json.loads((out / "build.json").read_text())
        assert summary["config"]["processes"] == int(processes)
        outputs[processes] = {
            path.relative_to(out): path.read_bytes()
            for path in sorted(out.rglob("*"))
            if path.is_file() and path.name not in ("build.json",)
        }
    assert outputs["1"] == outputs["2"]
    assert len(outputs["1"]) >= 7


def test_the_index_cache_holds_only_arrays_and_never_unpickles(tmp_path: Path, example_pack: Path) -> None:
    pack_dir = tmp_path / "pack"
    shutil.copytree(example_pack, pack_dir, ignore=shutil.ignore_patterns(CACHE_DIR))
    pack, config = load_pack(pack_dir), preset("ii-medical-rl")
    fresh = load_or_build_index(pack, config)
    entry = pack_dir / CACHE_DIR / f"{cache_key(pack, config)}.npz"
    with np.load(entry, allow_pickle=False) as stored:
        assert all(stored[name].dtype != object for name in stored.files)
    cached = load_or_build_index(pack, config)
    assert cached.table == fresh.table and cached.stages["ngram"].keys == fresh.stages["ngram"].keys

    class Boom:
        def __reduce__(self):
            return (Path.touch, (tmp_path / "pwned",))

    # A crafted entry under the expected name (an object array, a pickle) is rejected and rebuilt, never run.
    for payload in (
        lambda handle: np.savez(handle, header=np.array([Boom()], dtype=object)),
        lambda handle: handle.write(pickle.dumps(Boom())),
    ):
        with entry.open("wb") as handle:
            payload(handle)
        index = load_or_build_index(pack, config)
        assert not (tmp_path / "pwned").exists()
        assert index.table == fresh.table
    # An entry whose arrays point outside the pack is rejected too.
    with np.load(entry, allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in stored.files}
    arrays["ngram/postings"] = arrays["ngram/postings"] + 10**6
    np.savez(entry, **arrays)
    assert load_or_build_index(pack, config).stages["ngram"].postings.max() < len(fresh.table.texts)


def test_old_cache_entries_are_pruned(tmp_path: Path, example_pack: Path) -> None:
    pack_dir = tmp_path / "pack"
    shutil.copytree(example_pack, pack_dir, ignore=shutil.ignore_patterns(CACHE_DIR))
    cache = pack_dir / CACHE_DIR
    cache.mkdir()
    (cache / "0123.pickle").write_bytes(b"old format")
    for number in range(6):
        (cache / f"{number:032x}.npz").write_bytes(b"stale")
    load_or_build_index(load_pack(pack_dir), preset("medrl"))
    left = sorted(path.name for path in cache.iterdir())
    assert len(left) == 4 and not any(name.endswith(".pickle") for name in left)


def test_build_takes_the_same_detection_tables_as_decontaminate(tmp_path: Path, example_pack: Path) -> None:
    """Stage tables and run-wide detection settings reach `build` through the same keys as `decontaminate`."""
    config = tmp_path / "build.toml"
    config.write_text(
        f'sources = ["{TRAIN}"]\npack = "{example_pack}"\nout = "rl"\npreset = "ii-medical-rl"\n'
        "run_all_stages = true\nmax_matches_per_row = 3\n[fuzzy]\nthreshold = 95.0\n"
    )
    result = invoke("build", "--config", config)
    assert result.exit_code == 0, result.output
    resolved = json.loads((tmp_path / "rl" / "build.json").read_text())["decontamination"]["config"]
    assert resolved["fuzzy"] == {"scorer": "ratio", "threshold": 95.0}
    assert resolved["run_all_stages"] and resolved["max_matches_per_row"] == 3
    result = invoke("build", "--config", config, "--cascade", "--out", tmp_path / "flag")  # a flag wins
    assert result.exit_code == 0, result.output
    assert not json.loads((tmp_path / "flag" / "build.json").read_text())["decontamination"]["config"]["run_all_stages"]
    config.write_text(config.read_text() + "[coverage]\nstock = 3\n")
    result = invoke("build", "--config", config)
    assert result.exit_code == 2 and r"[coverage]: unknown keys ['stock']" in result.output
