"""The dataset card (`README.md` in a build's output): Hugging Face card metadata, what the exports hold, where
every input row went, the sources with their licences and citations, the benchmark pack and the decontamination.

Rendered from the build summary (`build.json`) alone, without timings or paths, so the same inputs give the same
card wherever they are built: sources and the pack are named by file name, dataset_name and sha256. The YAML
header follows the Hugging Face dataset-card format (https://huggingface.co/docs/hub/datasets-cards); every value
is written as a JSON scalar, which YAML reads as the same string, so no text can break the header. `configs` maps
each Parquet export's splits to its files, so `datasets.load_dataset(OUT)` (or the hub, once uploaded) loads them.
What each export holds and its config name come from its entry in `medrl.dataset.exports.EXPORTS`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from medrl.dataset.exports import EXPORTS

_OUTCOMES = ("kept", "rejected", "duplicates", "contaminated")
_SIDE_NOTES = {
    "rejected": "rows that are not usable training problems, with the reason and the raw row",
    "duplicates": "rows dropped as duplicates, each with the kept row it duplicates (`duplicate_of`)",
    "contaminated": "rows that match benchmark items, with the evidence (`contamination`)",
    "too_easy": "rows the policy model solved too often (pass rate at or above the band), with `pass_rate`",
    "too_hard": "rows the policy model solved too rarely (pass rate at or below the band), with `pass_rate`",
}
_PASS_RATE_OUTCOMES = ("too_easy", "too_hard")
_LABEL_METHODS = {
    "given": "the source's own label column, not contradicted by the answer text",
    "exact": "the answer text equals one option's text",
    "normalised": "equal after case, accent, punctuation and whitespace folding",
    "letter": "the answer is the letter itself (B, (B), B. text)",
    "prefix": "one option's words start the answer, or the answer's words start one option",
}
# Measured by `python bench/quality/run.py` on its labelled set (1,427 contaminated rows of ten kinds, 980 clean
# rows; README "Detection quality"); tests/test_build.py checks these against the README's table.
MEASURED_QUALITY = {
    "medrl": {"recall": 99.6, "false_positive_rate": 0.0},
    "ii-medical-rl": {"recall": 97.0, "false_positive_rate": 43.0},
}
_METHODS = {
    "medrl": "rare word 3-gram coverage of each benchmark question (stock phrases shared by more than 10 benchmark "
    "questions ignored; short or generic questions matched whole and with their options), then reworded copies "
    "found by shared rare options, rarer words and the case's numbers",
    "ii-medical-rl": "the II-Medical-RL method: any shared word 8-gram with a benchmark question (open-r1), then "
    "rapidfuzz `fuzz.ratio` >= 80 against every benchmark question",
}
# Hugging Face size_categories buckets: (upper bound, name).
_SIZES = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")]
_SIZES += [(10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M")]


def _table(header: Iterable[str], rows: Iterable[Iterable[object]]) -> list[str]:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |" for row in rows]
    return [*lines, ""]


def size_category(rows: int) -> str:
    return next((name for bound, name in _SIZES if rows < bound), "n>100M")


def card_license(sources: list[dict]) -> tuple[str, list[str]]:
    """The card's `license`: the sources' licence when they all declare the same one, else `other`; and one
    "file: licence" line per source (for `other`)."""
    declared = [(source["license"] or "").strip().lower() for source in sources]
    lines = [
        f"{source['file']}: {licence or 'not declared'}" for source, licence in zip(sources, declared, strict=True)
    ]
    if all(declared) and len(set(declared)) == 1:
        return declared[0], lines
    return "other", lines


def _yaml(summary: dict) -> list[str]:
    config, sources = summary["config"], summary["sources"]
    licence, licence_lines = card_license(sources)
    value = json.dumps
    lines = ["---", f"pretty_name: {value(config['pretty_name'])}", f"license: {value(licence)}"]
    if licence == "other":
        lines += [
            f"license_name: {value('mixed-or-undeclared')}",
            f"license_details: {value('; '.join(licence_lines))}",
        ]
    lines += ["language:", *(f"- {value(code)}" for code in config["language"])]
    lines += ["task_categories:", "- question-answering", "- reinforcement-learning"]
    lines += ["task_ids:", "- multiple-choice-qa", "tags:", "- medical", "- rlvr", "- decontaminated"]
    lines += ["size_categories:", f"- {value(size_category(summary['totals']['kept']))}"]
    configs = [
        (export.config, paths)
        for export in EXPORTS.values()
        if export.config is not None and (paths := summary["exports"].get(export.name))
    ]
    if configs:
        lines.append("configs:")
        for name, paths in configs:
            lines += [f"- config_name: {name}", "  data_files:"]
            for split, path in paths.items():
                lines += [f"  - split: {value(split)}", f"    path: {value(path)}"]
    return [*lines, "---"]


def _files(summary: dict) -> list[list[object]]:
    rows = []
    for name, paths in summary["exports"].items():
        rows += [[f"`{path}`", split, EXPORTS[name].note] for split, path in paths.items()]
    rows += [[f"`{path}`", "", _SIDE_NOTES[name]] for name, path in summary["side_files"].items()]
    return [*rows, ["`build.json`", "", "these counts, the full config, the pack manifest, versions and timings"]]


def _sources(sources: list[dict], outcomes: tuple[str, ...]) -> list[str]:
    lines = _table(
        ("file", "format", "dataset_name", "licence", "rows", *outcomes, "sha256"),
        [
            (
                s["file"],
                s["format"],
                s["dataset_name"],
                s["license"] or "not declared",
                s["rows"],
                *(s[o] for o in outcomes),
                f"`{s['sha256']}`",
            )
            for s in sources
        ],
    )
    cited = [source for source in sources if source["citation"]]
    for source in cited:
        lines += [f"Citation for `{source['file']}`:", "", "```", source["citation"].strip(), "```", ""]
    undeclared = [source["file"] for source in sources if not source["license"] or not source["citation"]]
    if undeclared:
        lines += [
            f"No licence or citation was declared for {', '.join(f'`{name}`' for name in undeclared)}: check the "
            "upstream terms before publishing (declare them with `license` and `citation` in the build config's "
            "`[[sources]]` tables).",
            "",
        ]
    return lines


def _decontamination(summary: dict) -> list[str]:
    decontamination, pack = summary["decontamination"], summary["pack"]
    preset = decontamination["preset"]
    quality = MEASURED_QUALITY.get(preset)
    measured = (
        f"Measured on the held-out half of medrl's labelled contamination set (bench/quality: 799 benchmark items "
        f"carried into training rows in eleven ways or reused for real, 521 clean medical rows): recall "
        f"{quality['recall']}%, false-positive rate {quality['false_positive_rate']}%."
        if quality
        else "No measured quality is recorded for this preset."
    )
    return [
        "## Decontamination",
        "",
        f"Preset `{preset}`: {_METHODS.get(preset, 'see build.json for the settings')}. Checked record field(s): "
        f"{', '.join(f'`{name}`' for name in decontamination['fields'])}. {measured} "
        f"{decontamination['rows']:,} rows were removed (the full settings are in `build.json`). Rows matching each "
        "benchmark and flagged by each method (a row may count under several):",
        "",
        *_table(("benchmark", "rows"), decontamination["by_benchmark"].items() or [("(none)", 0)]),
        *_table(("method", "rows"), decontamination["by_method"].items() or [("(none)", 0)]),
        "### Benchmark pack",
        "",
        f"{pack['items']:,} items; manifest sha256 `{pack['manifest_sha256']}`.",
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
    ]


def _pass_rate(summary: dict) -> list[str]:
    """The pass-rate filter: model and sampling, the histogram of correct samples with each bar's band, rows per
    band, and what was asked of the endpoint."""
    rates = summary["pass_rate"]
    keep, usage, samples = rates["keep"], rates["usage"], rates["samples"]
    band = "every row kept" if keep["above"] is None else f"kept when {keep['above']} < pass rate < {keep['below']}"
    return [
        "## Pass rate",
        "",
        f"Every problem left after decontamination was sampled {samples} times from `{rates['model']}` "
        f"(temperature {rates['temperature']}, top_p {rates['top_p']}, max_tokens {rates['max_tokens']}, seed "
        f"{rates['seed']}), each completion scored with `medrl.reward.compute_score` against the label; a row's "
        f"pass rate is its reward-1 samples / {samples} ({band}). Every export records `pass_rate` and "
        "`pass_rate_samples` per row (verl: in `extra_info`). "
        f"{rates['truncated_samples']:,} samples were cut at max_tokens (scored as they were).",
        "",
        *_table(
            ("correct samples", "pass rate", "rows", "band", ""),
            [
                (correct, f"{int(correct) / samples:.3g}", bar["rows"], bar["band"], "#" * min(bar["rows"], 40))
                for correct, bar in rates["histogram"].items()
            ],
        ),
        *_table(("band", "rows"), rates["rows"].items()),
        f"Endpoint use: {usage['requests']:,} requests ({usage['retries']:,} retries), "
        f"{usage['samples_requested']:,} samples received and {usage['samples_cached']:,} taken from the response "
        f"cache, {usage['prompt_tokens']:,} prompt and {usage['completion_tokens']:,} completion tokens.",
        "",
    ]


def card_markdown(summary: dict) -> str:
    totals, sources, splits = summary["totals"], summary["sources"], summary["splits"]
    config = summary["config"]
    filtered = "pass_rate" in summary
    outcomes = _OUTCOMES + _PASS_RATE_OUTCOMES if filtered else _OUTCOMES
    too = f" + {totals['too_easy']:,} too easy + {totals['too_hard']:,} too hard" if filtered else ""
    split_names = ", ".join(f"`{name}` {split['rows']:,}" for name, split in splits.items())
    lines = [
        *_yaml(summary),
        "",
        f"# {config['pretty_name']}",
        "",
        f"{totals['kept']:,} lettered multiple-choice problems ({split_names}) built by medrl "
        f"{summary['medrl_version']} from {len(sources)} source file(s), deduplicated, and checked against "
        f"{summary['pack']['items']:,} evaluation benchmark items with the `{summary['decontamination']['preset']}` "
        "preset. Each row's `problem` asks for the final letter in `\\boxed{}`; `label` is the correct letter. "
        "Reward: `medrl.reward.compute_score` (verl) or `medrl.reward.trl_reward` (TRL) gives 1.0 when the "
        "completion's last boxed letter equals the label.",
        "",
        "## Files",
        "",
        *_table(("file", "split", "holds"), _files(summary)),
        "## Splits",
        "",
        "Held-out rows are chosen by a stable hash of each duplicate cluster's normalised question and options, so "
        "rebuilding (or adding sources) keeps rows in their split, and a cluster of duplicates never straddles "
        "two splits.",
        "",
        *_table(
            ("split", "rows", "rows per dataset_name"),
            [
                (name, split["rows"], ", ".join(f"{k} {v}" for k, v in split["by_dataset"].items()) or "-")
                for name, split in splits.items()
            ],
        ),
        "## Where every input row went",
        "",
        f"{totals['input']:,} input rows = {totals['kept']:,} kept + {totals['rejected']:,} rejected + "
        f"{totals['duplicates']:,} duplicates + {totals['contaminated']:,} contaminated{too}.",
        "",
        *_table(
            ("step", "rows in", "removed", "rows out", "removed because"),
            [(s["step"], s["in"], s["removed"], s["out"], s["why"]) for s in summary["steps"]],
        ),
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
        *(_pass_rate(summary) if filtered else []),
        "## Sources",
        "",
        *_sources(sources, outcomes),
        *_decontamination(summary),
    ]
    return "\n".join(lines)
