"""The benchmark registry: every benchmark of the medical evaluation suite, where it lives and how to read it.

Each entry records the Hugging Face hub id and config(s), the split that counts as evaluation and why, the field
mappings (the shared local layout and the hub's own column names), the official row count, licence, citation,
and which texts of an item the detectors match. Split policies are explicit and overridable by name.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from medrl.errors import MedrlError

RowsLoader = Callable[[Path, Sequence[str]], list[dict]]
RowFilter = Callable[[dict], bool]


@dataclass(frozen=True)
class FieldMap:
    """Where a source row keeps each part of an item.

    `options` is one column holding a dict / list / "A. ..." lines / [{"key","value"}] entries, or several columns
    holding one option each. `correct_option` names a column holding the correct option's text when the others hold
    the distractors (GPQA's layout); the correct option is then listed first.
    """

    question: str
    options: str | tuple[str, ...] | None = None
    answer: str | None = None
    item_id: str | None = None
    context: str | None = None
    correct_option: str | None = None
    answer_base: int = 0  # an integer answer counts options from this (HEAD-QA's `ra` is 1-based)


@dataclass(frozen=True)
class SplitPolicy:
    """One way to pick a benchmark's evaluation items."""

    name: str  # the split name recorded in packs and reports
    expected_rows: int | None  # the official count; None when no count is established
    why: str
    local_files: tuple[str, ...] = ()  # files of the shared local layout (<benchmark>/<file>)
    local_rows: RowsLoader | None = None  # custom reader for that layout
    hub_split: str | None = None  # the hub split holding these items
    keep: RowFilter | None = None  # rows to keep (a category, a list of ids)


@dataclass(frozen=True)
class BenchmarkSpec:
    name: str
    title: str
    splits: tuple[SplitPolicy, ...]  # the first is the default
    field_maps: tuple[FieldMap, ...]  # tried in order: the first whose columns the rows have
    licence: str
    citation: str
    hub_id: str | None = None
    hub_configs: tuple[str | None, ...] = (None,)  # several configs are concatenated (MMLU subjects)
    matched: tuple[str, ...] = ("question",)  # item texts the detectors compare with training text
    fixed_options: tuple[tuple[str, str], ...] = ()
    notes: str = ""
    gated: bool = False  # the hub asks users to sign in and accept terms

    def split(self, name: str | None = None) -> SplitPolicy:
        if name is None:
            return self.splits[0]
        for policy in self.splits:
            if policy.name == name:
                return policy
        known = ", ".join(policy.name for policy in self.splits)
        raise MedrlError(f"{self.name} has no split policy {name!r}; known: {known}")

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "title": self.title,
            "hub_id": self.hub_id,
            "hub_configs": [config for config in self.hub_configs if config],
            "gated": self.gated,
            "splits": [
                {"name": p.name, "expected_rows": p.expected_rows, "hub_split": p.hub_split, "why": p.why}
                for p in self.splits
            ],
            "matched": list(self.matched),
            "licence": self.licence,
            "citation": self.citation,
            "notes": self.notes,
        }


def pubmedqa_test_ids() -> list[str]:
    """The 500 official PQA-L test ids, shipped with medrl (MIT, from pubmedqa/pubmedqa test_ground_truth.json)."""
    data = resources.files("medrl").joinpath("data/pubmedqa_test_ids.json").read_text(encoding="utf-8")
    return json.loads(data)["ids"]


_PUBMEDQA_TEST = frozenset(pubmedqa_test_ids())


def _pubmedqa_rows(directory: Path, files: Sequence[str]) -> list[dict]:
    """PQA-L items keyed by PubMed id (ori_pqal.json) as rows with a `pubid` column, in file order."""
    path = directory / files[0]
    if not path.exists():
        raise MedrlError(f"{path}: missing; PubMedQA's local layout is pubmedqa/ori_pqal.json")
    try:
        labelled = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise MedrlError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(labelled, dict):
        raise MedrlError(f"{path}: expected an object keyed by PubMed id, as in pubmedqa/data/ori_pqal.json")
    return [{"pubid": pmid, **item} for pmid, item in labelled.items()]


def _pubmedqa_test_rows(directory: Path, files: Sequence[str]) -> list[dict]:
    """The test split: ori_pqal.json's items with the ids of test_ground_truth.json, in that file's order."""
    rows = {row["pubid"]: row for row in _pubmedqa_rows(directory, files)}
    ids = list(json.loads((directory / files[1]).read_text(encoding="utf-8")))
    missing = [pmid for pmid in ids if pmid not in rows]
    if missing:
        raise MedrlError(f"{directory / files[0]}: {len(missing)} test ids are missing, e.g. {missing[:3]}")
    return [rows[pmid] for pmid in ids]


def _category(*names: str) -> RowFilter:
    def keep(row: dict) -> bool:
        return row.get("category") in names

    return keep


def _pubmedqa_test_filter(row: dict) -> bool:
    return str(row.get("pubid")) in _PUBMEDQA_TEST


def _gpqa_biology(row: dict) -> bool:
    return row.get("High-level domain") == "Biology"


def _hle_biomed_mc(row: dict) -> bool:
    return (
        row.get("category") == "Biology/Medicine"
        and row.get("answer_type") == "multipleChoice"
        and not row.get("image")
    )


_USMLE_LOCAL = FieldMap(question="question", options="options", answer="answer_idx", item_id="realidx")
_MMLU_HUB = FieldMap(question="question", options="choices", answer="answer")
_MMLU_PRO = FieldMap(question="question", options="options", answer="answer", item_id="question_id")
_GPQA = FieldMap(
    question="Question",
    options=("Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3"),
    correct_option="Correct Answer",
    item_id="Record ID",
)
_HLE = FieldMap(question="question", answer="answer", item_id="id")
_MEDBULLETS_CITE = (
    "Chen et al. 2024, Benchmarking Large Language Models on Answering and Explaining Challenging Medical Questions"
)
_MMLU_CITE = "Hendrycks et al. 2021, Measuring Massive Multitask Language Understanding (ICLR)"
_MMLU_PRO_CITE = "Wang et al. 2024, MMLU-Pro: A More Robust and Challenging Multi-Task Language Understanding Benchmark"
_GPQA_CITE = "Rein et al. 2023, GPQA: A Graduate-Level Google-Proof Q&A Benchmark"
_HLE_CITE = "Phan et al. 2025, Humanity's Last Exam"
_MEDXPERT_CITE = "Zuo et al. 2025, MedXpertQA: Benchmarking Expert-Level Medical Reasoning and Understanding"
_LOCAL_ONLY = "No canonical hub copy: import a local copy (`medrl benchmarks import` / `add`)."


def _mmlu_pro(category: str, rows: int) -> BenchmarkSpec:
    """An MMLU-Pro category: the test rows whose `category` is it."""
    policy = SplitPolicy(
        "test",
        rows,
        f"test rows with category == {category}",
        ("test.jsonl",),
        hub_split="test",
        keep=_category(category),
    )
    return BenchmarkSpec(
        f"mmlu_pro_{category}",
        f"MMLU-Pro ({category})",
        (policy,),
        (_MMLU_PRO,),
        "Apache-2.0",
        _MMLU_PRO_CITE,
        hub_id="TIGER-Lab/MMLU-Pro",
    )


def _gpqa_diamond(
    name: str, title: str, rows: int | None, why: str, keep: RowFilter | None, notes: str
) -> BenchmarkSpec:
    """GPQA diamond (gated; one `train` split), whole or filtered."""
    policy = SplitPolicy("train", rows, why, ("train.csv",), hub_split="train", keep=keep)
    return BenchmarkSpec(
        name,
        title,
        (policy,),
        (_GPQA,),
        "CC-BY-4.0",
        _GPQA_CITE,
        hub_id="Idavidrein/gpqa",
        hub_configs=("gpqa_diamond",),
        gated=True,
        notes=notes,
    )


def _journal_set(name: str, title: str, citation: str) -> BenchmarkSpec:
    """Journal case-question sets: no public copy or official count; users import their own."""
    return BenchmarkSpec(
        name,
        title,
        (SplitPolicy("test", None, "the whole set is evaluation", ("test.jsonl",)),),
        (FieldMap(question="question", options="options", answer="answer_idx"),),
        "journal terms (not redistributable)",
        citation,
        notes=_LOCAL_ONLY,
    )


SPECS: tuple[BenchmarkSpec, ...] = (
    BenchmarkSpec(
        "medqa",
        "MedQA (USMLE, 4 options)",
        (SplitPolicy("test", 1273, "the official USMLE test split", ("test.jsonl",), hub_split="test"),),
        (_USMLE_LOCAL, FieldMap(question="question", options="options", answer="answer_idx")),
        "MIT",
        "Jin et al. 2021, What Disease does this Patient Have? (MedQA)",
        hub_id="GBaker/MedQA-USMLE-4-options",
    ),
    BenchmarkSpec(
        "medqa_5options",
        "MedQA (USMLE, 5 options)",
        (SplitPolicy("test", 1273, "the official USMLE test split, original 5-option form", ("test.jsonl",)),),
        (FieldMap(question="question", options="options", answer="answer_idx"),),
        "MIT",
        "Jin et al. 2021, What Disease does this Patient Have? (MedQA)",
        notes="Local copy as in MedReason eval_data/medqa_test.jsonl (no id: item_id is the row index). " + _LOCAL_ONLY,
    ),
    BenchmarkSpec(
        "medmcqa",
        "MedMCQA",
        (
            SplitPolicy(
                "validation",
                4183,
                "the dev split: test labels are hidden upstream, so papers report dev",
                ("validation.jsonl",),
                hub_split="validation",
            ),
            SplitPolicy(
                "test", 6150, "the unlabelled test questions (contamination does not need labels)", hub_split="test"
            ),
        ),
        (
            FieldMap(question="problem_text", options="choices", answer="answer", item_id="problem_id"),
            FieldMap(question="question", options=("opa", "opb", "opc", "opd"), answer="cop", item_id="id"),
        ),
        "MIT (data: Apache-2.0 on the hub)",
        "Pal et al. 2022, MedMCQA (CHIL)",
        hub_id="openlifescienceai/medmcqa",
    ),
    BenchmarkSpec(
        "pubmedqa",
        "PubMedQA (PQA-L)",
        (
            SplitPolicy(
                "test",
                500,
                "the 500 official test ids (test_ground_truth.json); the rest is the train pool",
                ("ori_pqal.json", "test_ground_truth.json"),
                local_rows=_pubmedqa_test_rows,
                hub_split="train",
                keep=_pubmedqa_test_filter,
            ),
            SplitPolicy(
                "pqa_l",
                1000,
                "all 1,000 labelled items: some papers evaluate on all of PQA-L",
                ("ori_pqal.json",),
                local_rows=_pubmedqa_rows,
                hub_split="train",
            ),
        ),
        (
            FieldMap(question="QUESTION", answer="final_decision", item_id="pubid", context="CONTEXTS"),
            FieldMap(question="question", answer="final_decision", item_id="pubid", context="context"),
        ),
        "MIT",
        "Jin et al. 2019, PubMedQA: A Dataset for Biomedical Research Question Answering (EMNLP)",
        hub_id="qiaojin/PubMedQA",
        hub_configs=("pqa_labeled",),
        matched=("question",),
        fixed_options=(("A", "yes"), ("B", "no"), ("C", "maybe")),
        notes="Only the question is matched: the abstracts (context) are public PubMed text that training data "
        "quotes legitimately.",
    ),
    BenchmarkSpec(
        "mmlu_medical",
        "MMLU medical subsets",
        (SplitPolicy("test", 1089, "the test split of the six medical subjects", ("test.jsonl",), hub_split="test"),),
        (_USMLE_LOCAL, _MMLU_HUB),
        "MIT",
        _MMLU_CITE,
        hub_id="cais/mmlu",
        hub_configs=(
            "anatomy",
            "clinical_knowledge",
            "college_biology",
            "college_medicine",
            "medical_genetics",
            "professional_medicine",
        ),
    ),
    _mmlu_pro("health", 818),
    _mmlu_pro("biology", 717),
    _gpqa_diamond(
        "gpqa_diamond",
        "GPQA (diamond)",
        198,
        "GPQA ships one split; diamond is the evaluation subset",
        None,
        "Options have no letters upstream (they are shuffled at evaluation): medrl lists the correct answer as A. "
        "The authors ask that examples not be posted in plain text.",
    ),
    _gpqa_diamond(
        "gpqa_medical",
        "GPQA (diamond, biology domain)",
        None,
        "diamond rows whose High-level domain is Biology (the medical-adjacent part)",
        _gpqa_biology,
        "Papers' 'GPQA medical' subsets are not published as id lists; this filter is medrl's explicit choice.",
    ),
    BenchmarkSpec(
        "medxpertqa",
        "MedXpertQA (Text)",
        (
            SplitPolicy(
                "test",
                2450,
                "the Text test set (1,861 reasoning + 589 understanding)",
                ("test.jsonl",),
                hub_split="test",
            ),
        ),
        (_USMLE_LOCAL, FieldMap(question="question", options="options", answer="label", item_id="id")),
        "MIT",
        _MEDXPERT_CITE,
        hub_id="TsinghuaC3I/MedXpertQA",
        hub_configs=("Text",),
        notes="The question text carries its inline 'Answer Choices' block, as upstream.",
    ),
    BenchmarkSpec(
        "medxpertqa_mm",
        "MedXpertQA (MM, text only)",
        (
            SplitPolicy(
                "test", 2000, "the multimodal test set; only the text is matched", ("test.jsonl",), hub_split="test"
            ),
        ),
        (FieldMap(question="question", options="options", answer="label", item_id="id"),),
        "MIT",
        _MEDXPERT_CITE,
        hub_id="TsinghuaC3I/MedXpertQA",
        hub_configs=("MM",),
    ),
    BenchmarkSpec(
        "medbullets_op4",
        "MedBullets (4 options)",
        (SplitPolicy("test", 308, "the whole released set is evaluation", ("test.csv",)),),
        (FieldMap(question="question", options=("opa", "opb", "opc", "opd"), answer="answer_idx", item_id="link"),),
        "none stated upstream",
        _MEDBULLETS_CITE,
        notes="HanjieChen/ChallengeClinicalQA on GitHub. " + _LOCAL_ONLY,
    ),
    BenchmarkSpec(
        "medbullets_op5",
        "MedBullets (5 options)",
        (SplitPolicy("test", 308, "the whole released set is evaluation", ("test.csv",)),),
        (
            FieldMap(
                question="question", options=("opa", "opb", "opc", "opd", "ope"), answer="answer_idx", item_id="link"
            ),
        ),
        "none stated upstream",
        _MEDBULLETS_CITE,
        notes="HanjieChen/ChallengeClinicalQA on GitHub. " + _LOCAL_ONLY,
    ),
    _journal_set("lancet", "Lancet clinical questions", "The Lancet case questions as used in medical LLM evaluations"),
    _journal_set(
        "nejm", "NEJM clinical questions", "NEJM Image Challenge / case questions as used in medical LLM evaluations"
    ),
    BenchmarkSpec(
        "hle",
        "Humanity's Last Exam (full)",
        (SplitPolicy("test", 2500, "HLE ships one public split", ("test.jsonl",), hub_split="test"),),
        (_HLE,),
        "MIT",
        _HLE_CITE,
        hub_id="cais/hle",
        gated=True,
    ),
    BenchmarkSpec(
        "hle_biomed",
        "Humanity's Last Exam (biomedical subset)",
        (
            SplitPolicy(
                "test",
                103,
                "MedReason's biomedical multiple-choice subset",
                ("test.jsonl",),
                hub_split="test",
                keep=_hle_biomed_mc,
            ),
        ),
        (FieldMap(question="question", options="options", answer="answer_idx", item_id="idx"), _HLE),
        "MIT",
        _HLE_CITE,
        hub_id="cais/hle",
        gated=True,
        notes="Local copy: MedReason eval_data (103 items). From the hub, the subset is rebuilt as text-only "
        "multiple-choice Biology/Medicine items, whose count differs from MedReason's selection.",
    ),
    BenchmarkSpec(
        "healthbench",
        "HealthBench (prompts)",
        (SplitPolicy("test", 5000, "every conversation prompt is evaluation", ("test.jsonl",)),),
        (FieldMap(question="prompt", item_id="prompt_id"),),
        "MIT",
        "Arora et al. 2025, HealthBench: Evaluating Large Language Models Towards Improved Human Health",
        notes="The prompt is a list of chat messages; its text is the messages joined. Distributed as JSONL by "
        "openai/simple-evals. " + _LOCAL_ONLY,
    ),
    BenchmarkSpec(
        "headqa",
        "HEAD-QA (English)",
        (SplitPolicy("test", 2742, "the official test split", ("test.jsonl",), hub_split="test"),),
        (FieldMap(question="qtext", options="answers", answer="ra", item_id="qid", answer_base=1),),
        "MIT",
        "Vilares & Gómez-Rodríguez 2019, HEAD-QA (ACL)",
        hub_id="dvilares/head_qa",
        hub_configs=("en",),
        notes="Options are [{aid, atext}] and the answer `ra` is an aid (1-based).",
    ),
)

REGISTRY: dict[str, BenchmarkSpec] = {spec.name: spec for spec in SPECS}


def get_spec(name: str) -> BenchmarkSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise MedrlError(f"unknown benchmark {name!r}; known: {', '.join(REGISTRY)}") from None


def parse_split_overrides(values: Sequence[str] | None) -> dict[str, str]:
    """`["pubmedqa=pqa_l"]` -> {"pubmedqa": "pqa_l"}, validated against the registry."""
    overrides: dict[str, str] = {}
    for value in values or ():
        name, sep, split = value.partition("=")
        if not sep or not name or not split:
            raise MedrlError(f"--split takes BENCHMARK=SPLIT, got {value!r}")
        get_spec(name).split(split)
        overrides[name] = split
    return overrides


def registry_markdown() -> str:
    """The registry as a markdown table (docs/benchmarks.md is this, kept in sync by a test)."""
    lines = [
        "| name | benchmark | hub id (config) | evaluation split: rows, why | matched | licence |",
        "|---|---|---|---|---|---|",
    ]
    for spec in SPECS:
        configs = [config for config in spec.hub_configs if config]
        hub = f"`{spec.hub_id}`" if spec.hub_id else "local copy only"
        if spec.hub_id and configs:
            hub += f" ({', '.join(configs)})"
        if spec.gated:
            hub += ", gated"
        splits = "<br>".join(
            f"**{p.name}**{' (default)' if i == 0 else ''}: "
            f"{p.expected_rows if p.expected_rows is not None else 'no official count'}; {p.why}"
            for i, p in enumerate(spec.splits)
        )
        lines.append(f"| {spec.name} | {spec.title} | {hub} | {splits} | {', '.join(spec.matched)} | {spec.licence} |")
    return "\n".join(lines) + "\n"
