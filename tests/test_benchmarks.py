"""Benchmark loading and packs, on the real shared files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from medrl.benchmarks.loaders import answer_letter, normalise_options
from medrl.benchmarks.pack import MANIFEST, import_benchmarks, load_pack
from medrl.benchmarks.registry import REGISTRY
from medrl.errors import MedrlError

OFFICIAL_ROWS = {
    "medqa": 1273,
    "medqa_5options": 1273,
    "medmcqa": 4183,
    "pubmedqa": 500,
    "mmlu_medical": 1089,
    "mmlu_pro_health": 818,
    "medxpertqa": 2450,
    "medbullets_op4": 308,
    "medbullets_op5": 308,
    "hle_biomed": 103,
}


def test_every_shared_benchmark_imports_with_its_official_row_count(full_pack) -> None:
    manifest = full_pack.manifest["benchmarks"]
    assert {name: entry["rows"] for name, entry in manifest.items()} == OFFICIAL_ROWS
    counts: dict[str, int] = {}
    for item in full_pack.items:
        counts[item.benchmark] = counts.get(item.benchmark, 0) + 1
    assert counts == OFFICIAL_ROWS


def test_every_item_has_a_question_options_and_a_valid_answer_letter(full_pack) -> None:
    for item in full_pack.items:
        letters = [letter for letter, _ in item.options]
        assert item.question.strip(), item
        assert len(letters) >= 3 and len(set(letters)) == len(letters), item
        assert item.answer in letters, item


def test_item_ids_are_the_sources_own_ids_and_unique(full_pack) -> None:
    ids: dict[str, list[str]] = {}
    for item in full_pack.items:
        ids.setdefault(item.benchmark, []).append(item.item_id)
    for name, values in ids.items():
        assert len(set(values)) == len(values), name
    assert ids["medxpertqa"][0] == "Text-0"
    assert ids["medqa_5options"][:3] == ["0", "1", "2"]  # no id field upstream: the 0-based row index
    assert ids["medmcqa"][0] == "45258d3d-b974-44dd-a161-c3fccbdadd88"


def test_pubmedqa_is_the_500_official_test_ids_with_contexts(full_pack, shared_data: Path) -> None:
    test_ids = json.loads((shared_data / "benchmarks/pubmedqa/test_ground_truth.json").read_text())
    items = [item for item in full_pack.items if item.benchmark == "pubmedqa"]
    assert [item.item_id for item in items] == list(test_ids)
    assert all(item.context and item.options == (("A", "yes"), ("B", "no"), ("C", "maybe")) for item in items)
    assert {item.answer for item in items} == {"A", "B", "C"}
    first = items[0]
    assert {"yes": "A", "no": "B", "maybe": "C"}[test_ids[first.item_id]] == first.answer


def test_manifest_records_hashes_and_is_deterministic(full_pack_dir: Path, shared_data: Path, tmp_path: Path) -> None:
    import_benchmarks(shared_data / "benchmarks", tmp_path / "again")
    assert (tmp_path / "again" / MANIFEST).read_bytes() == (full_pack_dir / MANIFEST).read_bytes()
    manifest = json.loads((full_pack_dir / MANIFEST).read_text())
    entry = manifest["benchmarks"]["pubmedqa"]
    assert [Path(source["path"]).name for source in entry["sources"]] == ["ori_pqal.json", "test_ground_truth.json"]
    assert all(len(source["sha256"]) == 64 for source in entry["sources"])
    assert manifest["format"] == "medrl-pack" and manifest["medrl_version"]


def test_a_short_copy_of_a_known_benchmark_is_refused_unless_partial(shared_data: Path, tmp_path: Path) -> None:
    source = tmp_path / "src" / "medqa"
    source.mkdir(parents=True)
    lines = (shared_data / "benchmarks/medqa/test.jsonl").read_bytes().split(b"\n")[:10]
    (source / "test.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(MedrlError, match=r"10 rows but the official medqa split has 1273.*--allow-partial"):
        import_benchmarks(tmp_path / "src", tmp_path / "pack")
    assert not (tmp_path / "pack" / MANIFEST).exists()
    entries = import_benchmarks(tmp_path / "src", tmp_path / "pack", allow_partial=True)
    assert [(entry.name, entry.rows, entry.expected_rows) for entry in entries] == [("medqa", 10, 1273)]


def test_unknown_directories_use_the_generic_loader_and_packs_merge(full_pack_dir: Path, tmp_path: Path) -> None:
    pack = tmp_path / "pack"
    shutil.copytree(full_pack_dir, pack)
    custom = tmp_path / "src" / "my_exam"
    custom.mkdir(parents=True)
    rows = [
        {"qid": "q1", "prompt": "What is the first-line treatment?", "choices": ["A. Aspirin", "B. Rest"], "label": 1},
        {"qid": "q2", "prompt": "Which nerve is affected?", "choices": ["A. Ulnar", "B. Radial"], "label": "a"},
    ]
    (custom / "dev.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    import_benchmarks(tmp_path / "src", pack)
    loaded = load_pack(pack)
    assert set(loaded.manifest["benchmarks"]) == {*OFFICIAL_ROWS, "my_exam"}
    mine = [item for item in loaded.items if item.benchmark == "my_exam"]
    assert [(i.item_id, i.split, i.question, i.options, i.answer) for i in mine] == [
        ("q1", "dev", rows[0]["prompt"], (("A", "Aspirin"), ("B", "Rest")), "B"),
        ("q2", "dev", rows[1]["prompt"], (("A", "Ulnar"), ("B", "Radial")), "A"),
    ]


def test_a_directory_without_a_question_column_fails_naming_its_columns(tmp_path: Path) -> None:
    bad = tmp_path / "src" / "bad"
    bad.mkdir(parents=True)
    (bad / "test.jsonl").write_text(json.dumps({"stem_text": "x", "key": "A"}) + "\n")
    with pytest.raises(MedrlError, match=r"bad/test.jsonl: no question column found among \['stem_text', 'key'\]"):
        import_benchmarks(tmp_path / "src", tmp_path / "pack")


def test_a_directory_without_benchmark_files_fails(tmp_path: Path) -> None:
    (tmp_path / "src" / "empty").mkdir(parents=True)
    with pytest.raises(MedrlError, match="no benchmark files"):
        import_benchmarks(tmp_path / "src", tmp_path / "pack")


def test_loading_a_directory_that_is_not_a_pack_fails_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(MedrlError, match="medrl benchmarks import"):
        load_pack(tmp_path)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"A": "x", "b": "y"}, (("A", "x"), ("B", "y"))),
        (["A. x", "B. y"], (("A", "x"), ("B", "y"))),
        (["(A) x", "(B) y"], (("A", "x"), ("B", "y"))),
        (["x", "y", "z"], (("A", "x"), ("B", "y"), ("C", "z"))),
        (["B. x", "A. y"], (("A", "B. x"), ("B", "A. y"))),  # not in order: the prefixes are text
        ("Answer Choices:\nA. x\nB. y", (("A", "x"), ("B", "y"))),
        (None, ()),
        ("", ()),
    ],
)
def test_normalise_options(value: object, expected: tuple) -> None:
    assert normalise_options(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("B", "B"),
        ("b", "B"),
        (["a"], "A"),
        ("(C)", "C"),
        (2, "C"),
        ("Rest", "B"),
        ("rest ", "B"),
        ("Z", None),
        (7, None),
        ("", None),
        (None, None),
        (True, None),
    ],
)
def test_answer_letter(value: object, expected: str | None) -> None:
    assert answer_letter(value, (("A", "Aspirin"), ("B", "Rest"), ("C", "Surgery"))) == expected


def test_registry_covers_every_shared_benchmark(shared_data: Path) -> None:
    shared = {path.name for path in (shared_data / "benchmarks").iterdir() if path.is_dir()}
    assert shared <= set(REGISTRY)
    assert {name: spec.split().expected_rows for name, spec in REGISTRY.items() if name in shared} == OFFICIAL_ROWS
