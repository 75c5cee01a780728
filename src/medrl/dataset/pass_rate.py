"""Pass-rate filtering: sample the policy model K times on every problem, score each completion with
`medrl.reward`, and keep the problems it solves sometimes but not always.

Why: a problem whose K samples are all right or all wrong gives GRPO/DAPO a zero advantage, so it costs rollouts
and teaches nothing (DAPO's dynamic sampling, arXiv 2503.14476; Skywork-OR1 keeps 1-15 of 16; open-r1 keeps
0.1 < p < 0.6). The band `LO:HI` keeps rows with LO < pass rate < HI; a row at or below LO is too hard, at or above
HI too easy, and each goes to its side file with its pass rate. The prompt sent is the exports' prompt (the
rendered problem as one user message), so the rate measured is the rate the trainer will see.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from medrl.dataset.render import render_problem
from medrl.dataset.sources import TrainingRecord
from medrl.errors import MedrlError
from medrl.inference import EndpointConfig, ResponseCache, SamplingParams, sample_prompts, sampling_record
from medrl.reward import compute_score

KEPT, TOO_EASY, TOO_HARD = "kept", "too_easy", "too_hard"
ALL = "all"  # the band that keeps every row (pass rates recorded, nothing filtered)


def parse_band(text: str) -> tuple[float, float] | None:
    """`LO:HI` as (LO, HI) with 0 <= LO < HI <= 1; `all` as None (keep every row)."""
    if text.strip().lower() == ALL:
        return None
    try:
        low, high = (float(part) for part in text.split(":"))
    except ValueError:
        low = high = -1.0
    if not 0 <= low < high <= 1:
        raise MedrlError(
            f"keep_pass_rate {text!r} must be LO:HI with 0 <= LO < HI <= 1 (rows with LO < pass rate < HI are kept; "
            f"0:1 keeps rows solved sometimes but not always) or {ALL!r}; fix --keep-pass-rate"
        )
    return low, high


@dataclass(frozen=True)
class PassRateSettings:
    """A build's pass-rate filter: where to sample, how, how many times, which band to keep, where to cache."""

    endpoint: EndpointConfig
    sampling: SamplingParams
    samples: int
    band: tuple[float, float] | None
    cache: Path

    def __post_init__(self) -> None:
        if self.samples < 1:
            raise MedrlError(f"samples must be >= 1, got {self.samples}; fix --samples")

    def outcome(self, rate: float) -> str:
        if self.band is None:
            return KEPT
        low, high = self.band
        return TOO_HARD if rate <= low else TOO_EASY if rate >= high else KEPT


def default_cache(out: Path) -> Path:
    """Beside `--out`, outside its output set, so replacing the outputs keeps the answers."""
    final = Path(os.path.abspath(out))
    return final.parent / f"{final.name}.responses.sqlite"


@dataclass(frozen=True)
class PassRate:
    """A row's samples: how many were scored, how many earned reward 1, how many were cut at max_tokens."""

    correct: int
    samples: int
    truncated: int

    @property
    def rate(self) -> float:
        return self.correct / self.samples

    def columns(self) -> dict[str, object]:
        """What every export and side file records for the row."""
        return {"pass_rate": self.rate, "pass_rate_samples": self.samples}


def prompt_messages(record: TrainingRecord, template: str) -> list[dict]:
    """The chat messages the exports give trainers for `record` (verl and TRL `prompt`)."""
    return [{"role": "user", "content": render_problem(record.question, record.options, template)}]


def measure(
    records: list[TrainingRecord],
    template: str,
    settings: PassRateSettings,
    advance: Callable[[int], object] = lambda rows: None,
) -> tuple[dict[int, PassRate], dict]:
    """Each record's pass rate by `row_id`, and the endpoint usage for the report."""
    prompts = [prompt_messages(record, template) for record in records]
    with ResponseCache(settings.cache, settings.endpoint.option("cache")) as cache:
        samples, usage = sample_prompts(prompts, settings.samples, settings.endpoint, settings.sampling, cache, advance)
    rates = {}
    for record, completions in zip(records, samples, strict=True):
        correct = sum(compute_score(None, completion.text, record.label) == 1.0 for completion in completions)
        truncated = sum(completion.finish_reason == "length" for completion in completions)
        rates[record.row_id] = PassRate(correct, len(completions), truncated)
    return rates, usage.to_dict() | {"seconds": round(usage.seconds["total"], 4)}


def summary(settings: PassRateSettings, rates: dict[int, PassRate], outcomes: Counter[str], usage: dict) -> dict:
    """The build summary's `pass_rate`: the settings (never the API key), the histogram of correct samples,
    rows per band, truncated samples and the endpoint usage."""
    histogram = Counter(rate.correct for rate in rates.values())
    low, high = settings.band if settings.band is not None else (None, None)
    return sampling_record(settings.endpoint, settings.samples, settings.sampling) | {
        "keep": {"above": low, "below": high},
        "histogram": {
            str(correct): {"rows": histogram[correct], "band": settings.outcome(correct / settings.samples)}
            for correct in range(settings.samples + 1)
        },
        "rows": {name: outcomes[name] for name in (TOO_HARD, KEPT, TOO_EASY)},
        "truncated_samples": sum(rate.truncated for rate in rates.values()),
        "usage": usage,
    }
