"""The dataset card (`README.md` in a build's output): what the exports hold and where every input row went.

Rendered from the build summary (`build.json`) alone, without timings, so the same inputs give the same card.
"""

from __future__ import annotations

from collections.abc import Iterable

_OUTCOMES = ("kept", "rejected", "duplicates", "contaminated")
_EXPORT_NOTES = {
    "parquet": "II-Medical-RL schema: dataset_name, id_in_dataset, question, answer, reasoning, options, problem, "
    "label",
    "verl": "verl `RLHFDataset`: data_source, prompt (chat messages), ability, reward_model "
    '{"style": "rule", "ground_truth": label}, extra_info {index, split, dataset_name, id_in_dataset}',
    "trl": "TRL `GRPOTrainer`: prompt (chat messages), label",
    "hf": "the II-Medical-RL table as a `datasets` DatasetDict (`datasets.load_from_disk`)",
}
_SIDE_NOTES = {
    "rejected": "rows that are not usable training problems, with the reason and the raw row",
    "duplicates": "rows dropped as duplicates, each with the kept row it duplicates (`duplicate_of`)",
    "contaminated": "rows that match benchmark items, with the evidence (`contamination`)",
}
_LABEL_METHODS = {
    "given": "the source's own label column, not contradicted by the answer text",
    "exact": "the answer text equals one option's text",
    "normalised": "equal after case, accent, punctuation and whitespace folding",
    "letter": "the answer is the letter itself (B, (B), B. text)",
    "prefix": "one option's words start the answer, or the answer's words start one option",
}


def _table(header: Iterable[str], rows: Iterable[Iterable[object]]) -> list[str]:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |" for row in rows]
    return [*lines, ""]


def card_markdown(summary: dict) -> str:
    totals, decontamination, pack = summary["totals"], summary["decontamination"], summary["pack"]
    split, sources = summary["config"]["split"], summary["sources"]
    lines = []
    if "parquet" in summary["exports"]:
        lines += ["---", "configs:", "- config_name: default", "  data_files:", f"  - split: {split}"]
        lines += [f"    path: {summary['exports']['parquet']}", "tags:", "- medical", "- reinforcement-learning", "---"]
    lines += [
        "",
        "# Medical multiple-choice RL dataset",
        "",
        f"{totals['kept']:,} lettered multiple-choice problems (split `{split}`) built by medrl "
        f"{summary['medrl_version']} from {len(sources)} source file(s), deduplicated, and checked "
        f"against {pack['items']:,} evaluation benchmark items with the `{decontamination['preset']}` preset. Each "
        "row's `problem` asks for the final letter in `\\boxed{}`; `label` is the correct letter. Reward: "
        "`medrl.reward.compute_score` (verl) or `medrl.reward.trl_reward` (TRL) gives 1.0 when the completion's "
        "last boxed letter equals the label.",
        "",
        "## Files",
        "",
        *_table(
            ("file", "holds"),
            [(f"`{path}`", _EXPORT_NOTES[name]) for name, path in summary["exports"].items()]
            + [(f"`{summary['side_files'][name]}`", note) for name, note in _SIDE_NOTES.items()]
            + [("`build.json`", "these counts, the full config, the pack manifest, versions and timings")],
        ),
        "## Where every input row went",
        "",
        f"{totals['input']:,} input rows = {totals['kept']:,} kept + {totals['rejected']:,} rejected + "
        f"{totals['duplicates']:,} duplicates + {totals['contaminated']:,} contaminated.",
        "",
        "### Per source",
        "",
        *_table(
            ("source", "format", "dataset_name", "rows", *_OUTCOMES),
            [(s["path"], s["format"], s["dataset_name"], s["rows"], *(s[o] for o in _OUTCOMES)) for s in sources]
            + [("**total**", "", "", totals["input"], *(totals[o] for o in _OUTCOMES))],
        ),
        "### Per step",
        "",
        *_table(
            ("step", "rows in", "removed", "rows out", "removed because"),
            [(s["step"], s["in"], s["removed"], s["out"], s["why"]) for s in summary["steps"]],
        ),
    ]
    lines += [
        "### Kept rows per dataset_name",
        "",
        *_table(("dataset_name", "rows"), summary["kept_by_dataset"].items()),
    ]
    if summary["rejected_by_reason"]:
        lines += ["### Rejected rows by reason", "", *_table(("reason", "rows"), summary["rejected_by_reason"].items())]
    lines += [
        "### Labels of the kept rows, by how they were found",
        "",
        *_table(
            ("method", "rows", "meaning"),
            [(method, count, _LABEL_METHODS[method]) for method, count in summary["labels_by_method"].items()],
        ),
        "## Decontamination",
        "",
        f"Preset `{decontamination['preset']}`, checking the record field(s) "
        f"{', '.join(f'`{name}`' for name in decontamination['fields'])}: {decontamination['rows']:,} rows removed "
        "(the full settings are in `build.json`). Rows matching each benchmark and flagged by each method (a row "
        "may count under several):",
        "",
        *_table(("benchmark", "rows"), decontamination["by_benchmark"].items() or [("(none)", 0)]),
        *_table(("method", "rows"), decontamination["by_method"].items() or [("(none)", 0)]),
        "## Benchmark pack",
        "",
        f"`{pack['path']}`: {pack['items']:,} items, manifest sha256 `{pack['manifest_sha256']}`.",
        "",
        *_table(
            ("benchmark", "splits", "rows", "official rows", "partial", "content sha256"),
            [
                (
                    name,
                    ", ".join(b["splits"]),
                    b["rows"],
                    b["expected_rows"] or "?",
                    b["partial"],
                    f"`{b['content_sha256']}`",
                )
                for name, b in pack["benchmarks"].items()
            ],
        ),
        "## Sources",
        "",
        *_table(("source", "sha256"), [(source["path"], f"`{source['sha256']}`") for source in sources]),
    ]
    return "\n".join(lines)
