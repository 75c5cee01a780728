"""`medrl build`: label derivation, sources, problem rendering, deduplication, exports, the card and accounting."""

from __future__ import annotations

import json
import re
import shutil
from functools import cache
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from conftest import REPO, TRAINING
from medrl.benchmarks.loaders import BenchmarkItem
from medrl.cli import app
from medrl.dataset.build import OUTCOMES, BuildConfig, build, make_config, partition
from medrl.dataset.card import MEASURED_QUALITY, card_license, card_markdown
from medrl.dataset.dedup import deduplicate, near_pairs
from medrl.dataset.labels import LabelError, derive_label
from medrl.dataset.render import DEFAULT_TEMPLATE, check_template, render_problem
from medrl.dataset.sources import SOURCE_FORMATS, Source, SourceFields, TrainingRecord, read_source, to_record
from medrl.dataset.splits import HeldOut, assign_splits
from medrl.detection.index import build_index
from medrl.detection.rare_ngrams import CoverageConfig
from medrl.detection.runner import DetectionRunner
from medrl.errors import MedrlError

EXAMPLES = REPO / "examples"
MEDREASON = Path(__file__).parent / "data" / "medreason_sample.jsonl"
OPTIONS = (("A", "Vitamin C"), ("B", "Vitamin C deficiency"), ("C", "Iron"), ("D", "Small intestine"))


# --- labels --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "label", "method"),
    [
        ("Iron", "C", "exact"),
        ("  Vitamin C deficiency ", "B", "exact"),
        ("vitamin c.", "A", "normalised"),
        ("IRON!", "C", "normalised"),
        ("Iron. Explanation: ferrous sulphate is first line.", "C", "exact"),
        ("vitamin c deficiency. Explanation: scurvy.", "B", "normalised"),
        ("B", "B", "letter"),
        ("(D)", "D", "letter"),
        ("C. Iron", "C", "letter"),
        ("Iron supplements by mouth", "C", "prefix"),  # the option starts the answer
        ("Small", "D", "prefix"),  # the answer starts one option
    ],
)
def test_labels_are_derived_exact_then_normalised_then_prefix(answer: str, label: str, method: str) -> None:
    assert derive_label(answer, OPTIONS) == (label, method)


@pytest.mark.parametrize(
    ("answer", "options", "given", "category"),
    [
        ("Vitamin", OPTIONS, None, "ambiguous"),  # starts options A and B
        ("Iron", (("A", "Iron"), ("B", "Zinc"), ("C", "Iron")), None, "ambiguous"),  # a repeated option
        ("Zinc", OPTIONS, None, "no-match"),
        ("A. Iron", OPTIONS, None, "no-match"),  # the letter and the text disagree
        ("", OPTIONS, None, "no-answer"),
        ("Iron", (), None, "open-ended"),
        ("Iron", OPTIONS, "F", "bad-label"),
        ("Iron", OPTIONS, "A", "conflict"),
        ("Iron", (("A", "Iron"), ("A", "Zinc")), None, "bad-options"),
    ],
)
def test_rows_without_one_clear_label_are_rejected_with_the_reason(
    answer: str, options: tuple, given: str | None, category: str
) -> None:
    with pytest.raises(LabelError) as error:
        derive_label(answer, options, given)
    assert error.value.category == category and str(error.value)


def test_a_given_label_wins_when_the_answer_text_is_ambiguous_or_missing() -> None:
    assert derive_label("Vitamin", OPTIONS, "B") == ("B", "given")
    assert derive_label("", OPTIONS, "c") == ("C", "given")
    assert derive_label("Iron", OPTIONS, 2) == ("C", "given")  # a 0-based index


# --- sources -------------------------------------------------------------------------------------------------------


def medreason_rows() -> list[dict]:
    return [json.loads(line) for line in MEDREASON.read_text(encoding="utf-8").splitlines()]


def test_medreason_options_strings_are_parsed_into_letters() -> None:
    row = medreason_rows()[1]
    assert row["options"].startswith("Answer Choices:\nA. ")
    record = to_record(row, SOURCE_FORMATS["medreason"], Source(MEDREASON), 1, 1)
    assert isinstance(record, TrainingRecord)
    assert record.options == (
        ("A", "Phenytoin"),
        ("B", "Carbamazepine"),
        ("C", "Ethosuximide"),
        ("D", "Phenobarbitone"),
    )
    assert (record.label, record.answer, record.label_method) == ("C", "Ethosuximide", "exact")
    assert (record.dataset_name, record.id_in_dataset) == ("medmcqa", "7")
    assert record.reasoning.startswith("Finding reasoning paths")
    ten = to_record(medreason_rows()[10], SOURCE_FORMATS["medreason"], Source(MEDREASON), 10, 10)
    assert [letter for letter, _ in ten.options] == list("ABCDEFGHIJ") and ten.label == "C"


def test_source_formats_are_detected_from_the_columns() -> None:
    detected = {}
    for name in ("medqa_dev.json", "pubmedqa_trainpool.jsonl", "huatuogpt_o1_demo.json"):
        detected[name] = read_source(Source(TRAINING / name), 0, 512).format
    detected["medreason"] = read_source(Source(MEDREASON), 0, 512).format
    assert detected == {
        "medqa_dev.json": "qa",
        "pubmedqa_trainpool.jsonl": "pubmedqa",
        "huatuogpt_o1_demo.json": "huatuogpt-o1",
        "medreason": "medreason",
    }


def test_ii_medical_rl_rows_keep_their_label_and_unknown_layouts_fail_naming_the_columns(tmp_path: Path) -> None:
    row = medreason_rows()[0] | {"problem": "old prompt", "label": "C"}
    path = tmp_path / "ii.jsonl"
    path.write_text(json.dumps(row) + "\n" + json.dumps(row | {"label": "A"}) + "\n")
    opened = read_source(Source(path), 0, 10)
    name, rows = opened.format, opened.rows
    kept, conflicting = list(rows)
    assert name == "ii-medical-rl" and kept.label == "C" and kept.label_method == "given"
    assert conflicting.category == "conflict"

    (tmp_path / "odd.jsonl").write_text('{"stem": "q", "key": "A"}\n')
    with pytest.raises(MedrlError, match=r"cannot tell the source format from its columns \['stem', 'key'\]"):
        read_source(Source(tmp_path / "odd.jsonl"), 0, 10)
    mapping = SourceFields(question="stem", options=None, answer=None, label="key")
    rows = read_source(Source(tmp_path / "odd.jsonl", fields=mapping), 0, 10).rows
    assert [row.category for row in rows] == ["open-ended"]
    with pytest.raises(MedrlError, match=r"no column\(s\) \['choices', 'answer'\] for the field mapping"):
        read_source(Source(tmp_path / "odd.jsonl", fields=SourceFields(question="stem", options="choices")), 0, 10)


# --- rendering -----------------------------------------------------------------------------------------------------


def test_problem_rendering_fills_question_and_lettered_options_and_keeps_other_braces() -> None:
    problem = render_problem("  Which {options} is an {x}?  ", OPTIONS[:2], DEFAULT_TEMPLATE)
    assert problem == (
        "Which {options} is an {x}?\nA. Vitamin C\nB. Vitamin C deficiency\n"
        "Please reason step by step, and put your final answer (the letter only) within \\boxed{}."
    )
    assert render_problem("Q?", OPTIONS[:1], "Options:\n{options}\n\n{question} \\boxed{}") == (
        "Options:\nA. Vitamin C\n\nQ? \\boxed{}"
    )
    with pytest.raises(MedrlError, match=r"lacks \{options\}"):
        check_template("{question} \\boxed{}")


# --- deduplication -------------------------------------------------------------------------------------------------


def record(row_id: int, question: str, options: tuple = OPTIONS, label: str = "C") -> TrainingRecord:
    return TrainingRecord(row_id, "t.jsonl", row_id, "t", str(row_id), question, options, "Iron", "", label, "exact")


VIGNETTE = (
    "A 34-year-old woman reports palpitations, heat intolerance and a 5-kg weight loss over two months. She has a "
    "diffuse, non-tender goitre, proptosis and pretibial myxoedema. Serum TSH is suppressed and free T4 is raised. "
    "Antibodies against which structure explain her condition?"
)

TOPICS = (
    "iron",
    "zinc",
    "copper",
    "iodine",
    "selenium",
    "calcium",
    "sodium",
    "potassium",
    "magnesium",
    "cobalt",
    "boron",
)


def test_exact_and_near_duplicates_keep_the_first_occurrence_and_name_it() -> None:
    rows = [
        record(0, VIGNETTE),
        record(1, "Which mineral deficiency causes microcytic anaemia in menstruating women?"),
        record(2, VIGNETTE.upper().replace(",", " ;"), OPTIONS[::-1]),  # exact after normalisation, shuffled
        record(3, VIGNETTE.replace("34-year-old", "36-year-old").replace("two months", "three months")),  # near
        record(4, "Which mineral deficiency causes microcytic anaemia in menstruating women?"),  # exact
        # A generic stem (its phrases are stock: more than stock_df rows use them) is compared with its options.
        record(5, "Which of the following is true?", (("A", "Alpha"), ("B", "Beta"))),
        record(6, "Which of the following is true?", (("A", "Gamma"), ("B", "Delta"))),
        *(record(7 + i, f"Which of the following is true of {t}?", (("A", t),)) for i, t in enumerate(TOPICS)),
    ]
    result = deduplicate(rows, CoverageConfig(), batch_size=2)
    assert [r.row_id for r in result.kept] == [0, 1, 5, 6, *range(7, 7 + len(TOPICS))]
    assert [(d.record.row_id, d.of.row_id, d.method) for d in result.duplicates] == [
        (2, 0, "exact"),
        (3, 0, "near"),
        (4, 1, "exact"),
    ]
    assert result.duplicates[1].score > 50
    assert [r.row_id for r in deduplicate(rows, None, batch_size=2).kept] == [0, 1, 3, 5, 6, *range(7, 7 + len(TOPICS))]


def test_exact_copies_of_a_near_duplicate_stay_exact_and_point_at_the_kept_row() -> None:
    near_copy = VIGNETTE.replace("34-year-old", "36-year-old").replace("two months", "three months")
    rows = [record(0, VIGNETTE), record(1, near_copy), record(2, near_copy)]
    result = deduplicate(rows, CoverageConfig(), batch_size=10)
    assert [r.row_id for r in result.kept] == [0]
    assert [(d.record.row_id, d.of.row_id, d.method) for d in result.duplicates] == [(1, 0, "near"), (2, 0, "exact")]
    assert result.duplicates[1].via.row_id == 1 and result.duplicates[1].score == 100.0
    assert result.clusters == {0: 0}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    picks=st.lists(st.integers(0, 5), min_size=2, max_size=40),
    edits=st.lists(st.booleans(), min_size=40, max_size=40),
)
def test_byte_identical_copies_are_always_exact_and_point_at_a_kept_row(picks: list[int], edits: list[bool]) -> None:
    """Whatever else is in the data (near copies of the same vignette in any order), a row byte-identical to an
    earlier row is labelled `exact`, and every duplicate names a kept row of its own cluster."""
    variants = [
        VIGNETTE,
        VIGNETTE.replace("34-year-old", "36-year-old"),
        VIGNETTE.replace("two months", "three months"),
        VIGNETTE.replace("Serum TSH is suppressed and free T4 is raised. ", ""),
        "Which mineral deficiency causes microcytic anaemia in menstruating women?",
        "Which mineral deficiency causes microcytic anaemia in menstruating women and children?",
    ]
    rows = [
        record(row, variants[pick], OPTIONS[::-1] if edit else OPTIONS)
        for row, (pick, edit) in enumerate(zip(picks, edits, strict=False))
    ]
    result = deduplicate(rows, CoverageConfig(), batch_size=7)
    kept = {r.row_id for r in result.kept}
    seen: set[tuple] = set()
    methods = {d.record.row_id: d for d in result.duplicates}
    for row in rows:
        identical = (row.question, row.options) in seen
        seen.add((row.question, row.options))
        if identical:
            assert methods[row.row_id].method == "exact"
    assert all(d.of.row_id in kept and d.of.row_id < d.record.row_id for d in result.duplicates)
    assert len(kept) + len(result.duplicates) == len(rows)
    # A duplicate and the row it stands for are in one cluster: the kept row's.
    assert all(result.clusters[d.of.row_id] <= d.record.row_id for d in result.duplicates)


def test_a_row_resembling_only_a_dropped_row_is_kept_and_duplicates_point_at_kept_rows() -> None:
    base = VIGNETTE
    middle = base.replace("palpitations, heat intolerance and a 5-kg weight loss", "tremor and a 5-kg weight loss")
    rows = [record(0, base), record(1, middle), record(2, middle.replace("proptosis and pretibial myxoedema", "x"))]
    result = deduplicate(rows, CoverageConfig(), batch_size=10)
    kept = {r.row_id for r in result.kept}
    assert 0 in kept and all(d.of.row_id in kept for d in result.duplicates)


def test_near_duplicates_are_found_across_batches_and_do_not_depend_on_the_batch_size() -> None:
    rows = read_source(Source(TRAINING / "medqa_dev.json"), 0, 512).rows
    records = list(rows)[:200]  # + 20 lightly edited copies
    records += [
        record(200 + i, r.question.replace("year-old", "year old", 1).replace(".", ";", 1), r.options)
        for i, r in enumerate(records[:20])
    ]
    pairs = near_pairs(records, CoverageConfig(), 64)
    assert all(i in pairs.get(200 + i, {}) for i in range(20))
    assert pairs == near_pairs(records, CoverageConfig(), 1000)


# --- accounting ----------------------------------------------------------------------------------------------------

BENCHMARK_QUESTION = (
    "A previously healthy 19-year-old college student is brought to the clinic with a purpuric rash, neck stiffness "
    "and a temperature of 39.4 degrees after returning from a crowded dormitory party last weekend."
)
WORDS = ("iron", "zinc", "vitamin", "deficiency", "anaemia", "thyroid", "renal", "acute", "chronic", "drug")


@cache
def accounting_index() -> tuple:
    config = BuildConfig(sources=(Source(Path("x.jsonl")),), pack=Path("p"), out=Path("o"), preset="ii-medical-rl")
    items = [BenchmarkItem("bench", "test", "0", BENCHMARK_QUESTION, (("A", "Meningococcus"),), "A")]
    return config, build_index(items, config.decontamination())


option_text = st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(" ".join)


@st.composite
def training_rows(draw: st.DrawFn) -> dict:
    """Rows that reach every outcome: unusable (no question, no options, no clear answer), duplicate (a small
    vocabulary), contaminated (the benchmark question) and kept."""
    options = draw(st.one_of(st.just(""), st.lists(option_text, min_size=1, max_size=4)))
    answers = [st.sampled_from(["", "A", "(B)", "C. iron"]), option_text]
    answer = draw(st.one_of(st.sampled_from(options), *answers) if options else st.one_of(*answers))
    question = draw(
        st.one_of(
            st.just(BENCHMARK_QUESTION),
            st.just(""),
            st.lists(st.sampled_from(WORDS), min_size=3, max_size=12).map(" ".join),
        )
    )
    return {"question": question, "options": options, "answer": answer}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(training_rows(), max_size=25))
def test_every_input_row_ends_in_exactly_one_output(rows: list[dict]) -> None:
    config, index = accounting_index()
    source = Source(Path("x.jsonl"))
    normalised = [to_record(row, SourceFields(), source, row_id, row_id) for row_id, row in enumerate(rows)]
    result = partition(normalised, DetectionRunner(config.decontamination(), index), config)
    placed = [row_id for outcome in OUTCOMES for row_id in result.row_ids(outcome)]
    assert sorted(placed) == list(range(len(rows)))
    duplicated = set(result.row_ids("duplicates"))
    assert all(d.of.row_id not in duplicated and d.of.row_id < d.record.row_id for d in result.duplicates)
    assert all(c.verdict.matches for c in result.contaminated)
    assert all(r.reason for r in result.rejected)
    for kept in result.kept:
        assert dict(kept.options)[kept.label] == kept.answer


# --- the whole build -----------------------------------------------------------------------------------------------


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def assert_accounted(out: Path, summary: dict) -> None:
    """Files, build.json and the card agree, every input row is in exactly one place, and the card names no path."""
    totals = summary["totals"]
    if (out / "verl").exists():
        split_rows = {split: pq.read_table(out / path).num_rows for split, path in summary["exports"]["verl"].items()}
        assert split_rows == {name: split["rows"] for name, split in summary["splits"].items()}
    assert sum(split["rows"] for split in summary["splits"].values()) == totals["kept"]
    side = {name: read_jsonl(out / f"{name}.jsonl") for name in ("rejected", "duplicates", "contaminated")}
    assert all(len(side[name]) == totals[name] for name in side)
    assert totals["input"] == sum(totals[outcome] for outcome in OUTCOMES)
    ids = [row["row_id"] for rows in side.values() for row in rows]
    assert len(ids) == len(set(ids)) == totals["input"] - totals["kept"]
    assert summary["steps"][-1]["out"] == totals["kept"]
    assert all(step["in"] - step["removed"] == step["out"] for step in summary["steps"])
    for source in summary["sources"]:
        assert source["rows"] == sum(source[outcome] for outcome in OUTCOMES)
    assert sum(source["rows"] for source in summary["sources"]) == totals["input"]
    # The card's sources table: each source's outcomes add up to its rows, and the rows to the input.
    card = (out / "README.md").read_text(encoding="utf-8")
    table = card.split("## Sources")[1].split("\n\n")[1]
    lines = table.splitlines()[2:]
    assert len(lines) == len(summary["sources"])
    numbers = [[int(cell) for cell in line.strip("|").split("|")[4:9]] for line in lines]
    assert all(row[0] == sum(row[1:]) for row in numbers) and sum(row[0] for row in numbers) == totals["input"]
    assert card == card_markdown(json.loads((out / "build.json").read_text(encoding="utf-8")))
    # Names and hashes, never a machine-local path.
    paths = [str(out), str(summary["pack"]["path"]), *(str(s["path"]) for s in summary["sources"]), str(REPO)]
    assert not [path for path in paths if path in card]
    assert "/tmp" not in card and "../" not in card


VERL_COLUMNS = ["data_source", "prompt", "ability", "reward_model", "extra_info"]


def test_the_example_config_builds_every_export(tmp_path: Path, example_pack: Path) -> None:
    out = tmp_path / "build"
    result = CliRunner().invoke(
        app,
        ["build", "--config", str(EXAMPLES / "build.toml"), "--pack", str(example_pack), "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert re.search(r"156 rows: kept (\d+) \(train \1\), rejected 0, duplicates \d+, contaminated \d+", result.output)
    summary = json.loads((out / "build.json").read_text())
    assert_accounted(out, summary)
    assert summary["config"]["template"] == DEFAULT_TEMPLATE

    # verl: exactly the columns its RLHFDataset reads, with the types it expects.
    verl = pq.read_table(out / "verl" / "train.parquet")
    assert verl.column_names == VERL_COLUMNS
    assert verl.schema.field("prompt").type == pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    first = verl.slice(0, 1).to_pylist()[0]
    assert first["data_source"] == "medrl/medqa_dev" and first["ability"] == "medical"
    assert first["prompt"][0]["role"] == "user" and first["prompt"][0]["content"].endswith("within \\boxed{}.")
    assert first["reward_model"]["style"] == "rule" and first["reward_model"]["ground_truth"] in "ABCDE"
    assert set(first["extra_info"]) == {"index", "split", "dataset_name", "id_in_dataset"}
    assert verl.column("extra_info").combine_chunks().field("index").to_pylist() == list(range(verl.num_rows))

    trl = pq.read_table(out / "trl" / "train.parquet")
    assert trl.column_names == ["prompt", "label"]
    ii = pq.read_table(out / "parquet" / "train.parquet")
    assert ii.column_names == [
        "dataset_name", "id_in_dataset", "question", "answer", "reasoning", "options", "problem", "label"
    ]  # fmt: skip
    assert trl.column("label").to_pylist() == ii.column("label").to_pylist()
    assert [p[0]["content"] for p in trl.column("prompt").to_pylist()] == ii.column("problem").to_pylist()
    loaded = datasets.load_from_disk(str(out / "hf"))
    assert loaded["train"].to_list() == ii.to_pylist()

    # The planted benchmark questions are contaminated, with evidence naming their benchmark.
    contaminated = read_jsonl(out / "contaminated.jsonl")
    planted = [row for row in contaminated if row["dataset_name"].startswith("planted")]
    assert len(planted) == 6 and all(row["contamination"] for row in planted)
    assert "planted" not in " ".join(ii.column("dataset_name").to_pylist())


def test_the_medreason_sample_lands_each_row_where_expected(tmp_path: Path, example_pack: Path) -> None:
    summary = build(make_config(sources=(Source(MEDREASON),), pack=example_pack, out=tmp_path, preset="medrl"))
    assert_accounted(tmp_path, summary)
    rejected = {row["row"]: row["category"] for row in read_jsonl(tmp_path / "rejected.jsonl")}
    assert rejected == {4: "open-ended", 5: "ambiguous", 9: "no-match"}
    duplicates = {
        row["row"]: (row["duplicate_of"]["row"], row["method"]) for row in read_jsonl(tmp_path / "duplicates.jsonl")
    }
    assert duplicates == {6: (1, "exact"), 7: (0, "near")}
    assert summary["kept_by_dataset"] == {"medmcqa": 2, "medqa": 1, "pubmedqa": 1, "medxpertqa": 1}
    contaminated = read_jsonl(tmp_path / "contaminated.jsonl")
    assert [row["row"] for row in contaminated] == [8]
    assert {match["benchmark"] for match in contaminated[0]["contamination"]} >= {"medqa"}
    kept = pq.read_table(tmp_path / "parquet" / "train.parquet").to_pylist()
    assert [(row["dataset_name"], row["id_in_dataset"], row["label"]) for row in kept] == [
        ("medqa", "101", "C"),
        ("medmcqa", "7", "C"),
        ("medmcqa", "8", "B"),
        ("pubmedqa", "21645", "A"),
        ("medxpertqa", "5", "C"),
    ]
    assert kept[1]["answer"] == "Ethosuximide" and kept[1]["options"].startswith("Answer Choices:\nA. Phenytoin")
    assert summary["labels_by_method"] == {"exact": 4, "normalised": 1}  # "text. Explanation: ..." counts as exact


def test_the_rendered_problem_can_be_checked_for_contamination(tmp_path: Path, example_pack: Path) -> None:
    config = make_config(sources=(Source(MEDREASON),), pack=example_pack, out=tmp_path, fields=("problem",))
    assert config.decontamination().fields == ("problem",)
    build(config)
    (flagged,) = read_jsonl(tmp_path / "contaminated.jsonl")
    assert flagged["row"] == 8 and {match["field"] for match in flagged["contamination"]} == {"problem"}


def test_the_shared_training_files_build_against_the_full_pack(tmp_path: Path, full_pack_dir: Path) -> None:
    files = ("medqa_dev.json", "pubmedqa_trainpool.jsonl", "huatuogpt_o1_demo.json")
    sources = tuple(Source(TRAINING / name) for name in files)
    summary = build(make_config(sources=sources, pack=full_pack_dir, out=tmp_path, preset="medrl"))
    assert_accounted(tmp_path, summary)
    assert summary["totals"]["input"] == 1272 + 450 + 198 and summary["totals"]["rejected"] == 0
    assert [source["format"] for source in summary["sources"]] == ["qa", "pubmedqa", "huatuogpt-o1"]
    # HuatuoGPT-o1 repeats some MedQA dev questions verbatim: exact duplicates of the earlier medqa_dev rows.
    duplicates = read_jsonl(tmp_path / "duplicates.jsonl")
    assert any(
        row["method"] == "exact" and row["duplicate_of"]["file"].endswith("medqa_dev.json") for row in duplicates
    )
    # Known contamination (../shared/data/README.md): MedQA dev cases reused in MedXpertQA / MedBullets, and
    # HuatuoGPT-o1 items that are MedMCQA dev questions verbatim.
    contaminated = read_jsonl(tmp_path / "contaminated.jsonl")
    found = {(Path(row["file"]).name, match["benchmark"]) for row in contaminated for match in row["contamination"]}
    assert {("medqa_dev.json", "medxpertqa"), ("huatuogpt_o1_demo.json", "medmcqa")} <= found
    # Labels: the sources' own answer_idx, and MedQA's answer text matched exactly.
    huatuo = json.loads((TRAINING / "huatuogpt_o1_demo.json").read_text(encoding="utf-8"))
    kept = pq.read_table(tmp_path / "parquet" / "train.parquet").to_pylist()
    labels = {(row["dataset_name"], row["id_in_dataset"]): row["label"] for row in kept}
    checked = [(str(index), row["answer_idx"]) for index, row in enumerate(huatuo)]
    checked = [(index, letter) for index, letter in checked if ("huatuogpt_o1_demo", index) in labels]
    assert len(checked) > 150 and all(labels[("huatuogpt_o1_demo", index)] == letter for index, letter in checked)
    medqa, pubmedqa, huatuo_kept = (source["kept"] for source in summary["sources"])
    assert summary["labels_by_method"] == {"exact": medqa, "given": pubmedqa + huatuo_kept}


# --- configuration -------------------------------------------------------------------------------------------------


def test_toml_config_with_flags_overriding_and_unknown_keys_rejected(tmp_path: Path) -> None:
    config_file = tmp_path / "conf" / "build.toml"
    config_file.parent.mkdir()
    config_file.write_text(
        'pack = "p"\nout = "o"\npreset = "medrl"\nexports = ["verl"]\nnear_duplicates = false\n'
        '[[sources]]\npath = "a.jsonl"\nname = "a"\n[sources.fields]\nquestion = "stem"\nlabel = "key"\n'
    )
    config = make_config(config_file)
    assert config.pack == config_file.parent / "p" and config.exports == ("verl",) and config.near_duplicates is None
    assert config.sources == (
        Source(
            config_file.parent / "a.jsonl",
            "a",
            None,
            SourceFields(question="stem", options=None, answer=None, label="key"),
        ),
    )
    overridden = make_config(config_file, preset="ii-medical-rl", out=Path("x"), sources=(Source(Path("b.json")),))
    assert (overridden.preset, overridden.out, overridden.sources[0].path) == (
        "ii-medical-rl",
        Path("x"),
        Path("b.json"),
    )
    assert overridden.exports == ("verl",)

    for text, message in [
        ('pack = "p"\nout = "o"\ncolour = 1\n', r"unknown keys \['colour'\]"),
        ('[[sources]]\npath = "a"\nfile = "b"\n', r"\[\[sources\]\]: unknown keys \['file'\]"),
        ('[[sources]]\npath = "a"\n[sources.fields]\nstem = "q"\n', r"\[sources.fields\]: unknown keys \['stem'\]"),
        ("[near_duplicates]\nthreshold = 3\n", r"\[near_duplicates\]: unknown keys \['threshold'\]"),
        ('sources = ["a"]\npack = "p"\nout = "o"\nexports = ["csv"]\n', r"unknown exports \['csv'\]"),
        ('sources = ["a"]\npack = "p"\nout = "o"\npreset = "nope"\n', "unknown preset 'nope'"),
        ('pack = "p"\nout = "o"\n[[sources]]\npath = "a"\nformat = "x"\n', "unknown source format 'x'"),
        ('pack = "p"\nout = "o"\n[[sources]]\npath = "a"\n[sources.fields]\nquestion = "q"\n', "an answer or a label"),
        ('sources = ["a"]\npack = "p"\nout = "o"\nfields = ["options"]\n', r"unknown checked fields \['options'\]"),
        ('sources = ["a"]\npack = "p"\n', "build needs --out"),
        ('sources = "a.jsonl"\npack = "p"\nout = "o"\n', "sources must be a list"),
        ("sources = [3]\n", "each source is a path or a table with a `path`"),
        ('sources = ["a"]\npack = "p"\nout = "o"\ntemplate = "{question}"\n', r"lacks \{options\}"),
    ]:
        config_file.write_text(text)
        with pytest.raises(MedrlError, match=message):
            make_config(config_file)


def test_cli_flags_choose_sources_preset_and_exports(tmp_path: Path, example_pack: Path) -> None:
    out = tmp_path / "out"
    args = ["build", "--source", str(MEDREASON), "--pack", str(example_pack), "--out", str(out), "--preset", "medrl"]
    result = CliRunner().invoke(app, [*args, "--export", "verl, trl"])
    assert result.exit_code == 0, result.output
    assert "11 rows: kept 5 (train 5), rejected 3, duplicates 2, contaminated 1" in result.output
    assert sorted(path.name for path in out.iterdir() if path.is_dir()) == ["trl", "verl"]
    summary = json.loads((out / "build.json").read_text())
    assert summary["exports"] == {"verl": {"train": "verl/train.parquet"}, "trl": {"train": "trl/train.parquet"}}
    assert summary["config"]["preset"] == "medrl" and "config_name: default" not in (out / "README.md").read_text()


def test_cli_errors_are_one_line_with_exit_code_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["build", "--source", str(MEDREASON), "--out", str(tmp_path)])
    assert result.exit_code == 2 and "build needs --pack" in result.output
    result = CliRunner().invoke(
        app, ["build", "--source", str(MEDREASON), "--pack", str(tmp_path), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2 and "not a benchmark pack" in result.output


# --- splits, the card, flags ---------------------------------------------------------------------------------------


def split_of(out: Path, summary: dict) -> dict[tuple[str, str], str]:
    """(dataset_name, id_in_dataset) -> split, read back from the Parquet export."""
    found = {}
    for split, path in summary["exports"]["parquet"].items():
        for row in pq.read_table(out / path, columns=["dataset_name", "id_in_dataset"]).to_pylist():
            found[(row["dataset_name"], row["id_in_dataset"])] = split
    return found


def test_splits_are_stable_across_reruns_and_appended_sources(tmp_path: Path, example_pack: Path) -> None:
    medqa, huatuo = Source(TRAINING / "medqa_dev.json"), Source(TRAINING / "huatuogpt_o1_demo.json")
    common = {"pack": example_pack, "val_fraction": 0.2, "test_fraction": 0.1, "exports": ("parquet", "verl", "hf")}
    first = build(make_config(sources=(medqa,), out=tmp_path / "a", **common))
    assert_accounted(tmp_path / "a", first)
    rows = {name: split["rows"] for name, split in first["splits"].items()}
    assert list(rows) == ["train", "val", "test"] and abs(rows["val"] / first["totals"]["kept"] - 0.2) < 0.05
    assert abs(rows["test"] / first["totals"]["kept"] - 0.1) < 0.04
    again = build(make_config(sources=(medqa,), out=tmp_path / "b", **common))
    assert split_of(tmp_path / "a", first) == split_of(tmp_path / "b", again)
    appended = build(make_config(sources=(medqa, huatuo), out=tmp_path / "c", **common))
    before, after = split_of(tmp_path / "a", first), split_of(tmp_path / "c", appended)
    assert {key: after[key] for key in before if key in after} == {key: before[key] for key in before if key in after}
    # Every export holds every split; the DatasetDict too.
    exported = sorted(path.name for path in (tmp_path / "a" / "verl").iterdir())
    assert exported == ["test.parquet", "train.parquet", "val.parquet"]
    loaded = datasets.load_from_disk(str(tmp_path / "a" / "hf"))
    assert {name: len(loaded[name]) for name in loaded} == rows
    verl_val = pq.read_table(tmp_path / "a" / "verl" / "val.parquet").to_pylist()
    assert {row["extra_info"]["split"] for row in verl_val} == {"val"}


def test_sizes_take_at_most_that_many_rows_and_mixing_a_fraction_with_a_size_is_refused(
    tmp_path: Path, example_pack: Path
) -> None:
    summary = build(
        make_config(
            sources=(Source(TRAINING / "huatuogpt_o1_demo.json"),), pack=example_pack, out=tmp_path, val_size=25
        )
    )
    assert 20 <= summary["splits"]["val"]["rows"] <= 25
    with pytest.raises(MedrlError, match="val_fraction or val_size, not both"):
        make_config(sources=(Source(MEDREASON),), pack=tmp_path, out=tmp_path, val_fraction=0.1, val_size=3)
    with pytest.raises(MedrlError, match="must be below 1"):
        make_config(sources=(Source(MEDREASON),), pack=tmp_path, out=tmp_path, val_fraction=0.6, test_fraction=0.4)
    with pytest.raises(MedrlError, match="not 'val' or 'test'"):
        make_config(sources=(Source(MEDREASON),), pack=tmp_path, out=tmp_path, split="val")


@settings(max_examples=60, deadline=None)
@given(
    roots=st.lists(st.integers(0, 12), min_size=1, max_size=40),
    val=st.floats(0, 0.6),
    test_size=st.integers(0, 10),
)
def test_a_duplicate_cluster_never_straddles_two_splits(roots: list[int], val: float, test_size: int) -> None:
    """Kept rows of one cluster (linked through dropped rows) always land in the same split."""
    kept = [record(100 + i, f"question {root}") for i, root in enumerate(roots)]
    clusters = {row.row_id: root for row, root in zip(kept, roots, strict=True)}
    records = {root: record(root, f"question {root}") for root in roots} | {row.row_id: row for row in kept}
    held_out = (HeldOut("test", size=test_size), HeldOut("val", fraction=val))
    splits = assign_splits(kept, clusters, records, "train", held_out)
    side = {row.row_id: name for name, rows in splits.items() for row in rows}
    assert sorted(side) == [row.row_id for row in kept]
    for root in set(roots):
        assert len({side[row.row_id] for row in kept if clusters[row.row_id] == root}) == 1
    assert len(splits.get("test", [])) <= test_size


def test_a_row_linked_only_through_a_dropped_row_shares_its_cluster() -> None:
    base = VIGNETTE
    middle = base.replace("palpitations, heat intolerance and a 5-kg weight loss", "tremor and a 5-kg weight loss")
    third = middle.replace("proptosis and pretibial myxoedema", "x")
    result = deduplicate([record(0, base), record(1, middle), record(2, third)], CoverageConfig(), batch_size=10)
    assert set(result.clusters.values()) == {0}


def test_the_card_is_valid_hugging_face_metadata_and_the_directory_loads(tmp_path: Path, example_pack: Path) -> None:
    from huggingface_hub import DatasetCard, DatasetCardData

    config_file = tmp_path / "build.toml"
    config_file.write_text(
        f'pack = "{example_pack}"\nout = "out"\nval_fraction = 0.25\npretty_name = "Demo medical RL"\n'
        f'[[sources]]\npath = "{MEDREASON}"\nlicense = "apache-2.0"\n'
        'citation = "@misc{medreason, title={MedReason}}"\n'
        f'[[sources]]\npath = "{TRAINING / "medqa_dev.json"}"\nlicense = "MIT"\n'
    )
    summary = build(make_config(config_file))
    out = tmp_path / "out"
    card = DatasetCard.load(out / "README.md")
    data = card.data.to_dict()
    assert isinstance(card.data, DatasetCardData)
    assert data["license"] == "other" and "medreason_sample.jsonl: apache-2.0" in data["license_details"]
    assert data["pretty_name"] == "Demo medical RL" and data["language"] == ["en"]
    assert data["size_categories"] == ["1K<n<10K"] and "question-answering" in data["task_categories"]
    default = next(config for config in data["configs"] if config["config_name"] == "default")
    assert default["data_files"] == [
        {"split": "train", "path": "parquet/train.parquet"},
        {"split": "val", "path": "parquet/val.parquet"},
    ]
    assert "@misc{medreason, title={MedReason}}" in card.text and "not declared" not in card.text.split("## Sources")[1]
    for benchmark in summary["pack"]["benchmarks"].values():
        assert benchmark["content_sha256"] in card.text
    assert f"recall {MEASURED_QUALITY['medrl']['recall']}%" in card.text
    assert_accounted(out, summary)

    # Its own cache: the datasets library keys a local directory's cache by its path, and pytest reuses tmp paths
    # across sessions, so a shared cache served an earlier session's rows for this directory.
    cache = str(tmp_path / "datasets-cache")
    loaded = datasets.load_dataset(str(out), cache_dir=cache)
    assert {name: len(loaded[name]) for name in loaded} == {n: s["rows"] for n, s in summary["splits"].items()}
    assert loaded["val"].to_list() == pq.read_table(out / "parquet" / "val.parquet").to_pylist()
    verl = datasets.load_dataset(str(out), "verl", cache_dir=cache)
    assert verl["train"].column_names == VERL_COLUMNS


def test_one_licence_shared_by_every_source_is_the_card_licence() -> None:
    sources = [{"file": "a.json", "license": "MIT"}, {"file": "b.json", "license": "mit"}]
    assert card_license(sources) == ("mit", ["a.json: mit", "b.json: mit"])
    assert card_license([*sources, {"file": "c.json", "license": None}])[0] == "other"


def test_the_cards_measured_quality_is_the_readmes() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")

    def cells(label: str) -> list[str]:
        line = next(line for line in readme.splitlines() if line.startswith(f"| {label} "))
        return [cell.strip() for cell in line.strip("|").split("|")]

    header = cells("kind")
    recall, fpr = cells("overall recall"), cells("overall FPR")
    for preset, column in (("medrl", "default"), ("ii-medical-rl", "ii-medical-rl")):
        measured = MEASURED_QUALITY[preset]
        assert recall[header.index(column)] == f"{measured['recall']}%"
        assert fpr[header.index(column)] == f"{measured['false_positive_rate']}%"


def test_cli_build_flags_set_field_template_and_splits(tmp_path: Path, example_pack: Path) -> None:
    out = tmp_path / "out"
    template = "Q: {question}\nChoices:\n{options}\nAnswer in \\boxed{}."
    args = ["build", "--source", str(TRAINING / "huatuogpt_o1_demo.json"), "--pack", str(example_pack)]
    args += ["--out", str(out), "--field", "problem", "--template", template, "--split-name", "training"]
    result = CliRunner().invoke(app, [*args, "--val-fraction", "0.2", "--export", "trl,parquet"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "build.json").read_text())
    assert summary["decontamination"]["fields"] == ["problem"] and list(summary["splits"]) == ["training", "val"]
    problems = pq.read_table(out / "parquet" / "training.parquet").column("problem").to_pylist()
    assert all(problem.startswith("Q: ") and problem.endswith("Answer in \\boxed{}.") for problem in problems)
    assert summary["exports"]["trl"] == {"training": "trl/training.parquet", "val": "trl/val.parquet"}


def test_an_empty_result_exits_1_with_a_message_unless_allowed(tmp_path: Path, example_pack: Path) -> None:
    # A benchmark file as the source: every row is contaminated.
    source = EXAMPLES / "benchmarks" / "medqa" / "test.jsonl"
    args = ["build", "--source", str(source), "--pack", str(example_pack), "--out", str(tmp_path / "o")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "kept 0 rows for split(s) train" in result.output and "--allow-empty" in result.output
    assert len(read_jsonl(tmp_path / "o" / "contaminated.jsonl")) == 200  # written, so the side files say why
    result = CliRunner().invoke(app, [*args, "--allow-empty"])
    assert result.exit_code == 0, result.output


def test_a_bad_source_fails_before_the_pack_is_indexed(tmp_path: Path, example_pack: Path) -> None:
    shutil.rmtree(example_pack / ".index-cache", ignore_errors=True)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"stem": "x"}\n')
    result = CliRunner().invoke(
        app, ["build", "--source", str(bad), "--pack", str(example_pack), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2 and "cannot tell the source format" in result.output
    assert not (example_pack / ".index-cache").exists()


@pytest.mark.parametrize("command", [["fetch", "medqa"], ["add", "exam", "--file", "x.jsonl"]])
def test_every_benchmarks_command_requires_pack(command: list[str]) -> None:
    result = CliRunner().invoke(app, ["benchmarks", *command])
    assert result.exit_code == 2 and "--pack" in result.output
