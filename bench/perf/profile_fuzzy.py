"""Where the exact ii-medical-rl fuzzy stage spends its time, on rows of workload S the 8-gram stage keeps.

    python bench/perf/profile_fuzzy.py [--rows 600]

Prints the length-compatible pairs per row, the candidates left by the character-count bound, and the seconds
per row of the bound and of rapidfuzz's LCS on the candidates (one thread). Run bench/perf/run.py first (it
builds the workload and the pack in bench/perf/.cache).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from common import CACHE
from rapidfuzz import fuzz, process

from medrl.benchmarks.pack import load_pack
from medrl.config import preset
from medrl.detection.index import load_or_build_index
from medrl.detection.stages.fuzzy import ratio_candidates
from medrl.detection.stages.ngram import ngram_hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=600)
    args = parser.parse_args()
    config = preset("ii-medical-rl")
    pack_index = load_or_build_index(load_pack(CACHE / "pack"), config)
    index = pack_index.stages["fuzzy"]
    kept = []
    with (CACHE / "workload-32k.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            text = json.loads(line)["question"]
            if not len(ngram_hits(text, pack_index.stages["ngram"], config.settings("ngram"), 1).ids):
                kept.append(text)
                if len(kept) == args.rows:
                    break
    threshold = config.settings("fuzzy").threshold
    share = threshold / 200
    compatible = [
        np.count_nonzero(
            (index.sorted_lengths >= len(t) * share / (1 - share))
            & (index.sorted_lengths <= len(t) * (1 - share) / share)
        )
        for t in kept
    ]
    started = time.perf_counter()
    candidates = [ratio_candidates(text, index, threshold) for text in kept]
    bound_seconds = time.perf_counter() - started
    started = time.perf_counter()
    for text, ids in zip(kept, candidates, strict=True):
        choices = [index.texts[i] for i in ids.tolist()]
        process.cdist([text], choices, scorer=fuzz.ratio, score_cutoff=threshold - 0.5, dtype=np.float32, workers=1)
    lcs_seconds = time.perf_counter() - started
    mean_compatible, mean_candidates = np.mean(compatible), np.mean([len(ids) for ids in candidates])
    print(f"rows kept by the 8-gram stage: {len(kept)}; unique benchmark texts: {len(index.texts):,}")
    print(f"length-compatible pairs per row: {mean_compatible:,.0f}")
    removed = 1 - mean_candidates / mean_compatible
    print(f"candidates after the character-count bound: {mean_candidates:,.0f} ({removed:.0%} removed)")
    bound_ms, lcs_ms = 1000 * bound_seconds / len(kept), 1000 * lcs_seconds / len(kept)
    print(f"bound: {bound_ms:.2f} ms per row; LCS on candidates: {lcs_ms:.2f} ms per row")


if __name__ == "__main__":
    main()
