"""Option-aware detection by default, the rewrite stage's false-positive patterns on real data, and the review
policy's accounting (issue: detection quality II)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import medrl
from conftest import TRAINING
from medrl.benchmarks.loaders import normalise_options
from medrl.config import preset
from medrl.detection.cases import case_numbers
from medrl.detection.index import build_index
from medrl.detection.runner import detect_batch
from medrl.detection.text import folded_options
from medrl.errors import MedrlError

MEDQA_DEV = json.loads((TRAINING / "medqa_dev.json").read_text(encoding="utf-8")) if TRAINING.is_dir() else []
HUATUO = json.loads((TRAINING / "huatuogpt_o1_demo.json").read_text(encoding="utf-8")) if TRAINING.is_dir() else []


@pytest.fixture(scope="module")
def index(full_pack):
    return build_index(full_pack.items, preset("medrl"))


def verdict(index, row: dict):
    options = [folded_options(normalise_options(row["options"]))]
    return detect_batch({"question": [row["question"]]}, index, preset("medrl"), {"question": options})[0][0]


# Different patients on the same topic that share stock distractor lists or one common option with a benchmark
# item; each was read side by side and judged not reuse (bench/quality/adjudication.csv).
FALSE_POSITIVE_PATTERNS = {
    "tremor treated with primidone/propranolol: a 51-year-old woman vs a 59-year-old man": (MEDQA_DEV, 488),
    "cheek pain after zoster (trigeminal neuralgia) vs a young woman with Lhermitte's sign (MS)": (MEDQA_DEV, 526),
    "one shared option, amnioinfusion: fever in labour vs a cardiotocograph": (MEDQA_DEV, 804),
    "stages of change: a woman who quit smoking vs a man asking for nicotine gum": (HUATUO, 109),
    "inheritance modes: hemolysis after ibuprofen vs Lesch-Nyhan": (MEDQA_DEV, 880),
}


@pytest.mark.parametrize("case", FALSE_POSITIVE_PATTERNS)
def test_stock_options_do_not_flag_a_different_patient(index, case: str) -> None:
    rows, row = FALSE_POSITIVE_PATTERNS[case]
    assert not verdict(index, rows[row]).contaminated


def test_an_item_contained_in_a_padded_case_is_found(index) -> None:
    """MedQA dev 347 holds every sentence of an MMLU item (the murmurs, the fixed split S2, the question) with a
    birth history and growth added and the age and sex changed: the item is in the row, so the row is reuse."""
    found = verdict(index, MEDQA_DEV[347])
    assert found.contaminated
    assert {m.benchmark for m in found.matches} & {"mmlu_medical", "mmlu_pro_health"}


# Real MedXpertQA rewrites of MedQA dev cases that share the case's numbers but few options or words.
REWRITES = {394: "Text-1053", 474: "Text-1380", 304: "Text-429", 1181: "Text-575", 17: "Text-1464"}


@pytest.mark.parametrize("row", REWRITES)
def test_rewrites_are_found_by_their_case_numbers(index, row: int) -> None:
    found = verdict(index, MEDQA_DEV[row])
    assert found.contaminated and found.confidence == "review"
    assert ("medxpertqa", REWRITES[row]) in {(m.benchmark, m.item_id) for m in found.matches}
    assert all(m.method == "rewrite" and m.confidence == "review" for m in found.matches)


@pytest.mark.parametrize("row", [394, 1181, 304])
def test_a_rewrite_without_options_is_found_by_its_case_numbers(index, row: int) -> None:
    """Open-ended or reformatted training rows carry no options: the case's numbers still tie them to the item."""
    found = detect_batch(
        {"question": [MEDQA_DEV[row]["question"]]}, index, preset("medrl"), {"question": [frozenset()]}
    )[0][0]
    assert ("medxpertqa", REWRITES[row]) in {(m.benchmark, m.item_id) for m in found.matches}
    assert found.matches[0].evidence.startswith("numbers: ")


def test_case_numbers_read_thousands_separators_as_one_number(index) -> None:
    """ "1,500/uL" is 1500 (it was read as 1 and 500); lists of small numbers stay lists."""
    assert case_numbers("WBC 1,500/uL, platelets 12,000/uL, 1,500,000 cells, 1,500.5 mg") == {
        1500,
        12000,
        1500000,
        1500.5,
    }
    assert case_numbers("grades 1, 2, 3 or 1,2,3 and 1,2345") == {1, 2, 3, 2345}
    rewrite = next(match for match in verdict(index, MEDQA_DEV[17]).matches if match.item_id == "Text-1464")
    assert rewrite.evidence.endswith("| numbers: 39.1, 56, 102.4, 1,500")  # leukocytes 1,500/mm3 on both sides


def test_a_rewrite_without_options_or_many_numbers_is_found_by_its_patient(index) -> None:
    """medqa_dev 497 (a MedXpertQA rewrite, Text-708) has two numbers: the same patient and its words tie it."""
    found = detect_batch(
        {"question": [MEDQA_DEV[497]["question"]]}, index, preset("medrl"), {"question": [frozenset()]}
    )[0][0]
    assert ("medxpertqa", "Text-708") in {(m.benchmark, m.item_id) for m in found.matches}
    assert found.matches[0].evidence.startswith("patient: ")


def test_small_counts_alone_do_not_tie_a_case(index) -> None:
    """medqa_dev 517 (a 4-year-old's rash, her 2-year-old brother, 5 months) shares only 2, 4 and 5 with MedQA test
    484 (a 4-month-old's toe, 5 hours, the 2nd toe): without options the case-number rule flagged it with a blank
    evidence line. A shared number must be specific, and every rewrite match shows its evidence."""
    assert not detect_batch(
        {"question": [MEDQA_DEV[517]["question"]]}, index, preset("medrl"), {"question": [frozenset()]}
    )[0][0].contaminated
    rows = [MEDQA_DEV[row]["question"] for row in REWRITES]
    for found in detect_batch({"question": rows}, index, preset("medrl"), {"question": [frozenset()] * len(rows)})[0]:
        assert found.contaminated and all(match.evidence for match in found.matches)


@pytest.mark.parametrize("case", FALSE_POSITIVE_PATTERNS)
def test_a_different_patient_without_options_is_not_flagged(index, case: str) -> None:
    rows, row = FALSE_POSITIVE_PATTERNS[case]
    assert not detect_batch({"question": [rows[row]["question"]]}, index, preset("medrl"), {"question": [frozenset()]})[
        0
    ][0].contaminated


def _rows(layout: str) -> list[dict]:
    """Two real rows (a rewrite of a case with one number, found only through its options, and a clean one) with
    options in `layout`."""
    rows = []
    for source in (MEDQA_DEV[159], MEDQA_DEV[3]):
        texts = [text for _, text in normalise_options(source["options"])]
        row = {"question": source["question"]}
        if layout == "options":
            row["options"] = source["options"]
        elif layout == "choices":
            row["choices"] = dict(zip("ABCDE", texts, strict=False))
        elif layout == "opa":
            row.update({f"op{letter}": text for letter, text in zip("abcde", texts, strict=False)})
        else:
            row.update(dict(zip("ABCDE", texts, strict=False)))
        rows.append(row)
    return rows


def _write(rows: list[dict], fmt: str, path: Path) -> Path:
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    elif fmt == "json":
        path.write_text(json.dumps(rows), encoding="utf-8")
    elif fmt == "csv":
        import csv

        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows({k: json.dumps(v) if not isinstance(v, str) else v for k, v in r.items()} for r in rows)
    elif fmt == "parquet":
        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        from datasets import Dataset

        Dataset.from_list(rows).save_to_disk(str(path))
    return path


# A CSV cell holds text: its list and dict columns are written as JSON text, and read back as the same options.
FORMAT_LAYOUTS = [
    (fmt, layout)
    for fmt in ("jsonl", "json", "csv", "parquet", "hf")
    for layout in ("options", "choices", "opa", "letters")
]


@pytest.mark.parametrize(("fmt", "layout"), FORMAT_LAYOUTS)
def test_options_columns_are_found_in_every_format(full_pack_dir: Path, tmp_path: Path, fmt: str, layout: str) -> None:
    source = _write(_rows(layout), fmt, tmp_path / f"train.{fmt if fmt != 'hf' else 'hf'}")
    report = medrl.decontaminate(source, full_pack_dir, tmp_path / "out")
    expected = {"options": "options", "choices": "choices", "opa": ["opa", "opb", "opc", "opd", "ope"]}
    read_as = {"options": "list", "choices": "dict"}.get(layout, "columns")
    read_as = "json-text" if fmt == "csv" and read_as != "columns" else read_as
    assert report.options == {"field": expected.get(layout, list("ABCDE")), "how": "detected", "read_as": {read_as: 2}}
    assert (report.removed_rows, report.kept_rows) == (1, 1)
    off = medrl.decontaminate(
        source, full_pack_dir, tmp_path / "off", config=preset("medrl").replace(options_field=None)
    )
    assert off.removed_rows == 0 and off.options == {"field": None, "how": "off", "read_as": {}}


def test_options_as_text_lines_in_a_csv(full_pack_dir: Path, tmp_path: Path) -> None:
    rows = [{"question": r["question"], "options": "\n".join(r["options"])} for r in (MEDQA_DEV[159], MEDQA_DEV[3])]
    report = medrl.decontaminate(_write(rows, "csv", tmp_path / "t.csv"), full_pack_dir, tmp_path / "out")
    assert report.options["field"] == "options" and report.removed_rows == 1


def test_multiple_choice_rows_without_options_get_a_note(full_pack_dir: Path, tmp_path: Path) -> None:
    rows = [{"question": MEDQA_DEV[17]["question"], "answer_idx": "C"}]
    report = medrl.decontaminate(_write(rows, "jsonl", tmp_path / "t.jsonl"), full_pack_dir, tmp_path / "out")
    assert report.options == {"field": None, "how": "none found", "read_as": {}}
    assert len(report.notes) == 1 and "--options-field" in report.notes[0]


def test_a_named_options_column_must_exist(full_pack_dir: Path, tmp_path: Path) -> None:
    source = _write(_rows("options"), "jsonl", tmp_path / "t.jsonl")
    with pytest.raises(MedrlError, match="no options column 'choices'"):
        medrl.decontaminate(
            source, full_pack_dir, tmp_path / "o", config=preset("medrl").replace(options_field="choices")
        )


@pytest.mark.parametrize("policy", ["remove", "keep", "separate"])
def test_review_policy_accounting(full_pack_dir: Path, tmp_path: Path, policy: str) -> None:
    """A certain copy, a review-class rewrite and a clean row: each lands where the policy says, nothing lost."""
    copy = {"question": "xx " + MEDQA_DEV[294]["question"], "options": MEDQA_DEV[294]["options"]}
    rows = [copy, MEDQA_DEV[17], MEDQA_DEV[3]]
    source = _write(rows, "jsonl", tmp_path / "t.jsonl")
    report = medrl.decontaminate(source, full_pack_dir, tmp_path / "out", config=preset("medrl").replace(review=policy))
    assert report.input_rows == report.kept_rows + report.removed_rows + report.review_rows == 3
    assert report.by_confidence == {"certain": 1, "review": 1} and report.review_policy == policy
    read = lambda name: [json.loads(line) for line in (tmp_path / "out" / name).read_text().splitlines()]  # noqa: E731
    removed, clean = read("removed.jsonl"), read("clean.jsonl")
    assert removed[0]["contamination"][0]["confidence"] == "certain"
    if policy == "remove":
        assert (len(removed), len(clean), report.review_rows) == (2, 1, 0)
    elif policy == "keep":
        assert (len(removed), len(clean), report.review_rows) == (1, 2, 0)
    else:
        review = read("review.jsonl")
        assert (len(removed), len(clean), len(review)) == (1, 1, 1)
        assert review[0]["contamination"][0]["confidence"] == "review"
        assert "review.jsonl" in report.outputs["sha256"]
    # report.html's tiles say what they count: review-class removals are counted under "removed", and "set aside
    # for review" (review.jsonl) appears only for --review separate.
    page = (tmp_path / "out" / "report.html").read_text()
    review_class = {"remove": 1, "keep": 0, "separate": 0}[policy]
    assert f"<span>removed</span><small>{review_class} of them review-class</small>" in page
    assert ("of the 2 removed rows were matched only by review-class evidence" in page) == (policy == "remove")
    assert ("<b>1</b><span>set aside for review</span>" in page) == (policy == "separate")
    assert "<span>review</span>" not in page
