"""The benchmark registry: hub mapping (tested offline through a mirror built from the shared files), split
policies, user-defined benchmarks, verification and the docs table."""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from conftest import REPO
from medrl.benchmarks.hub import DatasetsHubLoader, MirrorLoader
from medrl.benchmarks.pack import MANIFEST, add_benchmark, fetch_benchmarks, import_benchmarks, load_pack, verify_pack
from medrl.benchmarks.registry import REGISTRY, FieldMap, registry_markdown
from medrl.cli import app
from medrl.errors import MedrlError

runner = CliRunner()
REQUIRED = {
    "medqa",
    "medqa_5options",
    "medmcqa",
    "pubmedqa",
    "mmlu_medical",
    "mmlu_pro_health",
    "mmlu_pro_biology",
    "gpqa_diamond",
    "gpqa_medical",
    "medxpertqa",
    "medxpertqa_mm",
    "medbullets_op4",
    "medbullets_op5",
    "lancet",
    "nejm",
    "hle",
    "hle_biomed",
    "healthbench",
    "headqa",
}


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_bytes().split(b"\n") if line.strip()]


def write_parquet(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)


@pytest.fixture(scope="module")
def mirror(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A hub mirror in the hub's own column names, converted from the shared (non-hub) files."""
    root = tmp_path_factory.mktemp("mirror")
    bench = shared_data / "benchmarks"
    medmcqa = [
        {
            "id": row["problem_id"],
            "question": row["problem_text"],
            "opa": row["choices"][0],
            "opb": row["choices"][1],
            "opc": row["choices"][2],
            "opd": row["choices"][3],
            "cop": "abcd".index(row["answer"][0]),
        }
        for row in jsonl(bench / "medmcqa/validation.jsonl")
    ]
    write_parquet(root / "openlifescienceai/medmcqa/default/validation-00000-of-00001.parquet", medmcqa)
    by_subject: dict[str, list[dict]] = defaultdict(list)
    for row in jsonl(bench / "mmlu_medical/test.jsonl"):
        by_subject[row["subject"]].append(
            {
                "question": row["question"],
                "subject": row["subject"],
                "choices": list(row["options"].values()),
                "answer": "ABCD".index(row["answer_idx"]),
            }
        )
    for subject, rows in by_subject.items():
        write_parquet(root / f"cais/mmlu/{subject}/test.parquet", rows)
    labelled = json.loads((bench / "pubmedqa/ori_pqal.json").read_text())
    write_parquet(
        root / "qiaojin/PubMedQA/pqa_labeled/train.parquet",
        [
            {
                "pubid": int(pmid),
                "question": item["QUESTION"],
                "context": {"contexts": item["CONTEXTS"]},
                "long_answer": item["LONG_ANSWER"],
                "final_decision": item["final_decision"],
            }
            for pmid, item in labelled.items()
        ],
    )
    write_parquet(root / "TIGER-Lab/MMLU-Pro/default/test.parquet", jsonl(bench / "mmlu_pro_health/test.jsonl"))
    return root


def test_the_registry_has_every_benchmark_of_the_suite_with_its_metadata() -> None:
    assert set(REGISTRY) >= REQUIRED
    for spec in REGISTRY.values():
        assert spec.licence and spec.citation and spec.matched and spec.field_maps, spec.name
        assert all(policy.why for policy in spec.splits), spec.name
        assert spec.hub_id or "local" in spec.notes.lower(), spec.name


def test_registry_json_and_docs_table_match_the_registry() -> None:
    result = runner.invoke(app, ["benchmarks", "list", "--json"])
    assert result.exit_code == 0
    assert {entry["name"] for entry in json.loads(result.output)} == set(REGISTRY)
    assert (REPO / "docs" / "benchmarks.md").read_text() == registry_markdown(), (
        "regenerate: medrl benchmarks list --markdown > docs/benchmarks.md"
    )


def test_fetch_maps_hub_columns_to_the_same_items_as_the_local_files(mirror: Path, full_pack, tmp_path: Path) -> None:
    names = ["medmcqa", "mmlu_medical", "pubmedqa", "mmlu_pro_health"]
    entries = fetch_benchmarks(names, tmp_path / "pack", MirrorLoader(mirror))
    assert {e.name: e.rows for e in entries} == {
        "medmcqa": 4183,
        "mmlu_medical": 1089,
        "pubmedqa": 500,
        "mmlu_pro_health": 818,
    }
    fetched = load_pack(tmp_path / "pack")
    for name in names:
        local = sorted((i.question, i.options, i.answer) for i in full_pack.items if i.benchmark == name)
        hub = sorted((i.question, i.options, i.answer) for i in fetched.items if i.benchmark == name)
        assert hub == local, name
    assert {i.item_id for i in fetched.items if i.benchmark == "pubmedqa"} == {
        i.item_id for i in full_pack.items if i.benchmark == "pubmedqa"
    }
    sources = fetched.manifest["benchmarks"]["mmlu_medical"]["sources"]
    assert len(sources) == 6 and all(
        s["hub_id"] == "cais/mmlu" and s["revision"].startswith("sha256:") for s in sources
    )
    assert verify_pack(tmp_path / "pack").problems == []


def test_hub_exports_import_like_local_files(mirror: Path, tmp_path: Path) -> None:
    source = tmp_path / "src" / "medmcqa" / "data"
    shutil.copytree(mirror / "openlifescienceai/medmcqa/default", source)
    (entry,) = import_benchmarks(tmp_path / "src", tmp_path / "pack")
    assert (entry.name, entry.rows, entry.splits) == ("medmcqa", 4183, ("validation",))


def test_split_policy_is_overridable(shared_data: Path, mirror: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(shared_data / "benchmarks" / "pubmedqa", src / "pubmedqa")
    (entry,) = import_benchmarks(src, tmp_path / "pack", splits={"pubmedqa": "pqa_l"})
    assert (entry.rows, entry.splits) == (1000, ("pqa_l",))
    (entry,) = fetch_benchmarks(["pubmedqa"], tmp_path / "hub", MirrorLoader(mirror), splits={"pubmedqa": "pqa_l"})
    assert entry.rows == 1000
    result = runner.invoke(
        app, ["benchmarks", "import", str(src), "--pack", str(tmp_path / "x"), "--split", "pubmedqa=nope"]
    )
    assert result.exit_code == 2 and "no split policy 'nope'" in result.output


def test_offline_hub_failure_is_one_clear_line() -> None:
    with pytest.raises(MedrlError, match=r"^cannot load openlifescienceai/medmcqa split validation .*Offline\?"):
        DatasetsHubLoader().load("openlifescienceai/medmcqa", None, "validation", None)
    result = runner.invoke(app, ["benchmarks", "fetch", "medqa_5options", "--pack", "/tmp/unused"])
    assert result.exit_code == 2 and "no hub source" in result.output


def test_user_defined_benchmarks_from_flags_and_toml(tmp_path: Path) -> None:
    rows = [{"k": "q1", "stem": "Which drug treats X?", "opts": ["A. a", "B. b"], "key": "B"}]
    (tmp_path / "mine.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    entry = add_benchmark(
        tmp_path / "pack",
        "mine",
        tmp_path / "mine.jsonl",
        FieldMap(question="stem", options="opts", answer="key", item_id="k"),
    )
    assert (entry.rows, entry.origin) == (1, "user")
    (item,) = load_pack(tmp_path / "pack").items
    assert (item.item_id, item.question, item.options, item.answer) == (
        "q1",
        "Which drug treats X?",
        (("A", "a"), ("B", "b")),
        "B",
    )
    (tmp_path / "spec.toml").write_text(
        'name = "mine2"\nfile = "mine.jsonl"\nquestion_field = "stem"\noptions_field = "opts"\nsplit = "dev"\n'
    )
    result = runner.invoke(
        app, ["benchmarks", "add", "--spec", str(tmp_path / "spec.toml"), "--pack", str(tmp_path / "pack")]
    )
    assert result.exit_code == 0, result.output
    assert set(load_pack(tmp_path / "pack").manifest["benchmarks"]) == {"mine", "mine2"}
    (tmp_path / "bad.toml").write_text('name = "x"\nquestion = "stem"\n')
    result = runner.invoke(app, ["benchmarks", "add", "--spec", str(tmp_path / "bad.toml"), "--pack", "p"])
    assert result.exit_code == 2 and "unknown keys ['question']" in result.output


def test_verify_catches_a_modified_source_a_modified_pack_and_a_wrong_count(shared_data: Path, tmp_path: Path):
    src = tmp_path / "src"
    shutil.copytree(shared_data / "benchmarks" / "mmlu_medical", src / "mmlu_medical")
    shutil.copytree(shared_data / "benchmarks" / "hle_biomed", src / "hle_biomed")
    pack = tmp_path / "pack"
    import_benchmarks(src, pack)
    result = runner.invoke(app, ["benchmarks", "verify", "--pack", str(pack)])
    assert result.exit_code == 0 and "2 benchmarks verified" in result.output

    path = src / "mmlu_medical" / "test.jsonl"
    path.write_bytes(path.read_bytes().replace(b"facial nerve", b"facial nerv", 1))
    table = pq.read_table(pack / "hle_biomed.parquet")
    pq.write_table(table.slice(1), pack / "hle_biomed.parquet")
    result = runner.invoke(app, ["benchmarks", "verify", "--pack", str(pack)])
    assert result.exit_code == 1
    assert "mmlu_medical: source file" in result.output and "changed since import" in result.output
    assert "hle_biomed: 102 rows in the pack file, the manifest says 103" in result.output

    manifest = json.loads((pack / MANIFEST).read_text())
    manifest["benchmarks"]["mmlu_medical"]["sources"][0]["path"] = str(tmp_path / "gone.jsonl")
    (pack / MANIFEST).write_text(json.dumps(manifest))
    notes = verify_pack(pack).notes
    assert any("not on this machine" in note for note in notes)


def test_partial_imports_are_reported_by_verify(shared_data: Path, tmp_path: Path) -> None:
    src = tmp_path / "src" / "medqa"
    src.mkdir(parents=True)
    lines = (shared_data / "benchmarks/medqa/test.jsonl").read_bytes().split(b"\n")[:5]
    (src / "test.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    import_benchmarks(tmp_path / "src", tmp_path / "pack", allow_partial=True)
    assert json.loads((tmp_path / "pack" / MANIFEST).read_text())["benchmarks"]["medqa"]["partial"] is True
    assert verify_pack(tmp_path / "pack").problems == [
        "medqa: 5 rows, the official count is 1273 (imported with --allow-partial)"
    ]
