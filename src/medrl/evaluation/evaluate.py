"""`medrl eval`: a model's accuracy per benchmark, split into the items a decontamination run found in the training
data (by confidence class) and the clean ones, from per-item predictions or by asking the model.

An item's class comes from the run: clean when the run's benchmark-side view does not name it; else "certain" when
a recorded match naming it is certain-class (the benchmark text is in a training row), "review" when every recorded
match naming it is review-class (a rewrite, a semantic neighbour), and "unrecorded" when it was found but no recorded
match names it (evidence is capped at `max_matches_per_row` per row; `--review keep` writes no evidence for the rows
it keeps). Outputs (eval.json, eval.md, eval.html) are one output set: all of them or none.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from medrl.benchmarks.loaders import BenchmarkItem
from medrl.dataset.render import DEFAULT_TEMPLATE, render_problem
from medrl.errors import MedrlError
from medrl.evaluation.page import EVAL_SUMMARY, eval_html, eval_markdown
from medrl.evaluation.predictions import ItemId, ItemIndex, Matched, read_predictions
from medrl.evaluation.stats import StatsSettings, group_stats
from medrl.inference import EndpointConfig, ResponseCache, SamplingParams, sample_prompts, sampling_record
from medrl.io.formats import open_source, output_name
from medrl.io.output_set import OutputSet, refuse_inputs_in
from medrl.io.writers import write_json_atomic, write_text_atomic
from medrl.progress import Progress
from medrl.reporting.runs import EVIDENCE, Run, load_run
from medrl.reporting.subsets import run_pack
from medrl.reward import compute_score

OUTPUTS = (EVAL_SUMMARY, "eval.md", "eval.html")
# The prompt of every item: PubMedQA-style items put their context first; the rest is the build's default problem
# prompt (question, options lettered "A. text", the final letter asked for in \boxed{}), which medrl.reward scores.
CONTEXT_PROMPT = "Context:\n{context}\n\n{problem}"


@dataclass(frozen=True)
class EvalSettings:
    """One evaluation: the run and pack it reads, where results come from, and where outputs go."""

    run: Path
    pack: Path
    out: Path
    benchmarks: tuple[str, ...] = ()  # default: every benchmark the run checked
    predictions: Path | None = None
    endpoint: EndpointConfig | None = None
    sampling: SamplingParams = field(default_factory=lambda: SamplingParams(temperature=0.0))
    samples: int = 1
    limit: int | None = None  # the first N items of each benchmark (pack order), for a quick look
    cache: Path | None = None  # default OUT.responses.sqlite beside --out
    stats: StatsSettings = field(default_factory=StatsSettings)

    def __post_init__(self) -> None:
        if (self.predictions is None) == (self.endpoint is None):
            raise MedrlError("give either --predictions FILE or --endpoint URL with --model NAME")
        if self.samples < 1:
            raise MedrlError(f"samples must be >= 1, got {self.samples}; fix --samples")
        if self.limit is not None and self.limit < 1:
            raise MedrlError(f"limit must be >= 1, got {self.limit}; fix --limit")


def prompt(item: BenchmarkItem) -> list[dict]:
    """The chat messages an item is asked with."""
    problem = render_problem(item.question, item.options, DEFAULT_TEMPLATE)
    content = CONTEXT_PROMPT.format(context=item.context.strip(), problem=problem) if item.context else problem
    return [{"role": "user", "content": content}]


def _evidence_files(run: Run) -> list[tuple[Path, str]]:
    """The run's files whose rows carry evidence: removed rows, and rows set aside for review."""
    if run.kind == "build":
        return [(run.removed_path(), "jsonl")]
    fmt = run.summary["outputs"]["format"]
    review = run.directory / output_name("review", fmt)
    return [(run.removed_path(), fmt)] + ([(review, fmt)] if review.is_file() else [])


def item_classes(run: Run, side: dict, benchmarks: list[str]) -> dict[ItemId, str]:
    """Each found item of `benchmarks` and its class (see the module docstring); items absent are clean."""
    classes = {(name, item_id): "unrecorded" for name in benchmarks for item_id in side[name]["found"]}
    for path, fmt in _evidence_files(run):
        if not path.is_file():
            raise MedrlError(f"{path}: missing from the run's outputs; re-run the job to write the whole set")
        for batch in open_source(path, fmt).batches(2048):
            for matches in batch.column(EVIDENCE):
                for match in json.loads(matches) if isinstance(matches, str) else matches or []:
                    key = (match["benchmark"], match["item_id"])
                    if key not in classes:
                        continue
                    if match.get("confidence") not in ("certain", "review"):
                        raise MedrlError(f"{path}: evidence without a confidence class (an older medrl); re-run it")
                    if match["confidence"] == "certain" or classes[key] == "unrecorded":
                        classes[key] = match["confidence"]
    return classes


def _ask(settings: EvalSettings, items: list[BenchmarkItem], progress: Progress) -> Matched:
    """Each item's scores from the endpoint (the pass-rate inference layer: cache, retries, concurrency)."""
    assert settings.endpoint is not None
    cache_path = settings.cache or settings.out.parent / f"{settings.out.name}.responses.sqlite"
    unmatched = [
        {"benchmark": item.benchmark, "item_id": item.item_id, "reason": "the item has no options or no answer"}
        for item in items
        if not item.options or item.answer is None
    ]
    asked = [item for item in items if item.options and item.answer is not None]
    cache = ResponseCache(cache_path, settings.endpoint.option("cache"))
    with progress.stage("ask the model", len(asked)) as stage, cache:
        completions, usage = sample_prompts(
            [prompt(item) for item in asked],
            settings.samples,
            settings.endpoint,
            settings.sampling,
            cache,
            stage.advance,
        )
    scores = {
        (item.benchmark, item.item_id): [compute_score(None, completion.text, item.answer) for completion in found]
        for item, found in zip(asked, completions, strict=True)
    }
    truncated = sum(completion.finish_reason == "length" for found in completions for completion in found)
    source = sampling_record(settings.endpoint, settings.samples, settings.sampling) | {
        "prompt": DEFAULT_TEMPLATE,
        "context_prompt": CONTEXT_PROMPT,
        "truncated_samples": truncated,
        "usage": usage.to_dict(),
        "cache": str(cache_path),
    }
    return Matched(scores, unmatched, source)


def evaluate(settings: EvalSettings, progress: Progress | None = None) -> dict:
    """Score the chosen benchmarks, split by contamination class; write eval.json, eval.md and eval.html."""
    progress = progress or Progress()
    run = load_run(settings.run)
    side, pack = run_pack(run, settings.pack)
    benchmarks = list(settings.benchmarks) or list(side)
    for name in benchmarks:
        if name not in side:
            raise MedrlError(f"benchmark {name!r} was not checked by the run; it checked {', '.join(side)}")
    chosen = [item for item in pack.items if item.benchmark in benchmarks]
    if settings.limit is not None:
        taken: Counter[str] = Counter()
        limited = []
        for item in chosen:
            if taken[item.benchmark] < settings.limit:
                taken[item.benchmark] += 1
                limited.append(item)
        chosen = limited
    classes = item_classes(run, side, benchmarks)
    with OutputSet(settings.out, lambda name: name in OUTPUTS) as outputs:
        inputs = [run.directory] + ([settings.predictions] if settings.predictions else [])
        refuse_inputs_in(outputs, inputs, "input", out_inside=True)
        refuse_inputs_in(outputs, [settings.pack], "benchmark pack", out_inside=True)
        if settings.predictions is not None:
            matched = read_predictions(settings.predictions, ItemIndex(chosen), benchmarks)
        else:
            matched = _ask(settings, chosen, progress)
        summary = _summary(settings, run, pack.manifest_sha256, benchmarks, chosen, classes, matched)
        write_json_atomic(outputs.path(EVAL_SUMMARY), summary)
        write_text_atomic(outputs.path("eval.md"), eval_markdown(summary))
        write_text_atomic(outputs.path("eval.html"), eval_html(summary))
        outputs.commit()
    return summary


def _summary(
    settings: EvalSettings,
    run: Run,
    manifest_sha256: str,
    benchmarks: list[str],
    chosen: list[BenchmarkItem],
    classes: dict[ItemId, str],
    matched: Matched,
) -> dict:
    pooled_classes: list[str] = []
    pooled_scores: list[float] = []
    report: dict = {}
    for name in benchmarks:
        keys = [(item.benchmark, item.item_id) for item in chosen if item.benchmark == name]
        scored = [key for key in keys if key in matched.scores]
        if not scored:
            continue
        kinds = [classes.get(key, "clean") for key in scored]
        scores = [sum(matched.scores[key]) / len(matched.scores[key]) for key in scored]
        pooled_classes += kinds
        pooled_scores += scores
        report[name] = {"items": len(keys), "scored": len(scored), "missing": len(keys) - len(scored)} | group_stats(
            kinds, scores, settings.stats, name
        )
    if not report:
        raise MedrlError(
            f"no item of {', '.join(benchmarks)} was scored ({len(matched.unmatched)} predictions or items unmatched "
            "or unanswerable); check the benchmark names and item ids, or that the questions are the pack's"
        )
    return {
        "run": str(run.directory),
        "input": run.input_label,
        "preset": run.preset,
        "run_all_stages": bool(run.config.get("run_all_stages")),
        "pack_manifest_sha256": manifest_sha256,
        "source": matched.source,
        "statistics": settings.stats.to_dict(),
        "benchmarks": report,
        "overall": {"scored": len(pooled_scores)} | group_stats(pooled_classes, pooled_scores, settings.stats, ""),
        "unmatched": matched.unmatched,
    }
