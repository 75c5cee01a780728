"""Issue 24, steps 2 and 5: how the semantic stage's static cuts and accept band were chosen, and what they spare
the transformer.

    python bench/perf/semantic_static_cuts.py [--workload-only]

Needs the `semantic` extra, `bench/quality/paraphrase/run.py` run once (its set and pack in bench/quality/.cache and
bench/quality/paraphrase/.cache) and `bench/perf/semantic_encoder_load.py` run once (workload S's stems that reach
the stage's candidates, in .cache/encoder-load-stems.jsonl; its pack index cached by `run.py`). Every candidate that
survives the case fingerprint is scored by both models (the transformer with its thresholds at ~0, the static
embedding with its cuts at 0), then:
1. paraphrase set, stem only, per half and fingerprint class: the lowest static similarity of a candidate the
   transformer accepts (the cuts keep a margin under the tune half's);
2. workload S at the stage's cuts: the rows whose candidates reach the transformer, the candidates it accepted that
   the cuts set aside, and the transformer's rows/s on the rows that still reach it;
3. (step 5) accept bands, on both: the rows a band would match without the transformer, the verdicts it changes
   (paraphrase set, per label) and the transformer seconds it spares (workload S); then the rows still reaching the
   transformer at the stage's band by token count, with its seconds on each group;
4. (step 5) long stems (over 96 tokens) past the cuts and outside the band, on both: the static similarity and the
   rarer-word share of the candidates the transformer accepts and of those it rejects (whether a cheaper signal
   could decide them without it).
"""

from __future__ import annotations

import dataclasses
import json
import re
import statistics
import sys
import time
from collections import Counter, defaultdict

from common import CACHE, PACK_DIR, REPO

sys.path.append(str(REPO / "bench"))
from embedding_model import default_embedding_model, with_embedding_model

PARAPHRASE_SET = REPO / "bench" / "quality" / "paraphrase" / ".cache" / "paraphrase.jsonl"
QUALITY_PACK = REPO / "bench" / "quality" / ".cache" / "pack"
STEMS = CACHE / "encoder-load-stems.jsonl"
BANDS = (0.9, 0.93, 0.95, 0.97, 0.98, 0.99)
HALVES = ("tune", "held-out")
LONG = 97  # tokens: the group holding most of the transformer's time on workload S (step 5)
_RARER_WORDS = re.compile(r"rarer words (\d+)%")


def scored_candidates(texts: list[str], index, settings) -> list[dict]:
    """Every candidate past the fingerprint check: (row, unit, agrees, transformer and static similarity, the share
    of rarer words the two stems have in common)."""
    from medrl.detection.stages.semantic import fingerprint_check, semantic_hits, static_embedder_for
    from medrl.detection.text import question_stem

    everything = dataclasses.replace(
        settings,
        min_similarity=1e-6,
        min_similarity_without_fingerprint=1e-6,
        static_cut=0.0,
        static_cut_without_fingerprint=0.0,
        static_accept=0.0,  # every candidate scored by the transformer
    )
    static = static_embedder_for(settings)
    out = []
    for start in range(0, len(texts), 1000):
        chunk = texts[start : start + 1000]
        stems = [question_stem(text) for text in chunk]
        vectors = static.encode(stems)
        for row, hits in enumerate(semantic_hits(chunk, index, everything)):
            for hit in hits:
                agrees = fingerprint_check(stems[row], hit.text_id, index.case, settings)[1]
                out.append(
                    {
                        "row": start + row,
                        "unit": hit.text_id,
                        "agrees": agrees,
                        "transformer": hit.score / 100,
                        "static": float(vectors[row] @ index.static_embeddings[hit.text_id]),
                        "words": int(_RARER_WORDS.search(hit.evidence).group(1)) / 100,  # as the evidence rounds it
                    }
                )
    return out


def accepted(candidate: dict, settings) -> bool:
    needed = settings.min_similarity if candidate["agrees"] else settings.min_similarity_without_fingerprint
    return candidate["transformer"] >= needed


def kept(candidate: dict, settings) -> bool:
    cut = settings.static_cut if candidate["agrees"] else settings.static_cut_without_fingerprint
    return candidate["static"] >= cut


def paraphrase_set(config) -> None:
    from medrl.benchmarks.pack import load_pack
    from medrl.detection.index import build_index

    settings = config.settings("semantic")
    semantic_only = config.replace(coverage=None, rewrite=None)
    rows = [json.loads(line) for line in PARAPHRASE_SET.read_text(encoding="utf-8").splitlines() if line]
    items = load_pack(QUALITY_PACK).items
    groups: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        groups[tuple(row["exclude"])].append(i)
    lowest: dict[tuple[str, bool], list[float]] = defaultdict(list)
    everything = []
    for exclude, members in groups.items():
        index = build_index([item for item in items if item.benchmark not in exclude], semantic_only)
        for candidate in scored_candidates([rows[i]["text"] for i in members], index.stages["semantic"], settings):
            candidate["row"] = members[candidate["row"]]
            everything.append(candidate)
            if accepted(candidate, settings):
                lowest[(rows[candidate["row"]]["half"], candidate["agrees"])].append(candidate["static"])
    print("| half | fingerprint | candidates the transformer accepts | lowest static similarity among them |")
    print("|---|---|---|---|")
    for (half, agrees), values in sorted(lowest.items()):
        print(f"| {half} | {'agrees' if agrees else 'says nothing'} | {len(values)} | {min(values):.3f} |")
    print("\nAccept bands: a row with a candidate at static similarity >= the band is matched without the transformer")
    print("| half | band | rows reaching the transformer | of them in the band | decisions changed (label: n) |")
    print("|---|---|---|---|---|")
    for half in HALVES:
        in_half = [c for c in everything if rows[c["row"]]["half"] == half]
        for band in BANDS:
            reaching, banded, changed = band_effect(in_half, settings, band)
            labels = ", ".join(
                f"{label}: {n}" for label, n in sorted(Counter(rows[r]["label"] for r in changed).items())
            )
            print(f"| {half} | {band} | {len(reaching)} | {len(banded)} | {labels or 'none'} |")
    tokens = token_counts([row["text"] for row in rows], settings)
    print(f"\nLong stems (>= {LONG} tokens) past the cuts and outside the band, per half")
    long_table({half: [c for c in everything if rows[c["row"]]["half"] == half] for half in HALVES}, tokens, settings)


def band_effect(candidates: list[dict], settings, band: float) -> tuple[set[int], set[int], set[int]]:
    """(rows reaching the transformer, those with a candidate at static >= `band`, rows whose match decision the
    band changes) when a row with a candidate in the band is matched without the transformer."""
    reaching = {c["row"] for c in candidates if kept(c, settings)}
    banded = {c["row"] for c in candidates if kept(c, settings) and c["static"] >= band}
    matched = {c["row"] for c in candidates if kept(c, settings) and accepted(c, settings)}
    return reaching, banded, (matched | banded) ^ matched


def workload(config) -> None:
    from medrl.benchmarks.pack import load_pack
    from medrl.detection.index import load_or_build_index
    from medrl.detection.stages.semantic import embedder_for

    settings = config.settings("semantic")
    index = load_or_build_index(load_pack(PACK_DIR), config).stages["semantic"]
    stems = [json.loads(line) for line in STEMS.read_text(encoding="utf-8").splitlines() if line]
    candidates = scored_candidates(stems, index, settings)
    reaching = sorted({c["row"] for c in candidates if kept(c, settings)})
    lost = [c for c in candidates if accepted(c, settings) and not kept(c, settings)]
    matched = {c["row"] for c in candidates if accepted(c, settings)}
    still = {c["row"] for c in candidates if accepted(c, settings) and kept(c, settings)}
    embedder = embedder_for(settings)

    def transformer_seconds(rows: list[int]) -> float:
        started = time.perf_counter()
        for start in range(0, len(rows), 10):  # about the stage's batches on workload S: ~10 such rows per batch
            embedder.encode([stems[row] for row in rows[start : start + 10]], settings.batch_size)
        return time.perf_counter() - started

    seconds = transformer_seconds(reaching)
    print(
        f"\nworkload S: {len(stems):,} stems with candidates, {len(candidates):,} candidates; at cuts "
        f"{settings.static_cut} / {settings.static_cut_without_fingerprint}: {len(reaching):,} rows reach the "
        f"transformer ({len(reaching) / len(stems):.1%}); rows the transformer matches {len(matched):,} -> "
        f"{len(still):,}; accepted candidates set aside: {len(lost)}; the transformer on the rows still reaching "
        f"it, 10 per call: {len(reaching) / seconds:.0f} rows/s"
    )
    for candidate in lost:
        text = " ".join(stems[candidate["row"]].split())
        print(f"  static {candidate['static']:.2f} transformer {candidate['transformer']:.2f}: {text[:100]}")
    print(
        "\n| band | rows reaching the transformer | of them in the band (spared it) | rows the band matches and "
        "the transformer does not | transformer seconds spared |"
    )
    print("|---|---|---|---|---|")
    for band in BANDS:
        reaching, banded, changed = band_effect(candidates, settings, band)
        spared = transformer_seconds(sorted(banded))
        print(
            f"| {band} | {len(reaching):,} | {len(banded):,} ({len(banded) / max(1, len(reaching)):.0%}) "
            f"| {len(changed)} | {spared:.1f} of {seconds:.1f} ({spared / seconds:.0%}) |"
        )
        for row in sorted(changed)[:8]:
            best = max((c for c in candidates if c["row"] == row), key=lambda c: c["static"])
            text = " ".join(stems[row].split())
            print(f"  static {best['static']:.3f} transformer {best['transformer']:.3f}: {text[:100]}")
    by_length(stems, candidates, settings, transformer_seconds)
    print(f"\nLong stems (>= {LONG} tokens) past the cuts and outside the band")
    long_table({"workload S": candidates}, token_counts(stems, settings), settings)


def token_counts(stems: list[str], settings) -> list[int]:
    """Each stem's token count as the transformer sees it (cut at max_seq_length)."""
    from tokenizers import Tokenizer

    from medrl.detection.embeddings import locate_model

    tokenizer = Tokenizer.from_file(str(locate_model(settings.model, settings.revision) / "tokenizer.json"))
    tokenizer.no_padding()  # a model's tokenizer.json may pad every text to a fixed length
    tokenizer.enable_truncation(settings.max_seq_length)
    return [len(encoding.ids) for encoding in tokenizer.encode_batch(stems)]


def long_table(groups: dict[str, list[dict]], tokens: list[int], settings) -> None:
    """Per group of candidates: those of long stems that reach the transformer (past the cuts, no candidate of their
    row in the band), split by its verdict, with the range of their static similarity and rarer-word share."""
    print("| where | transformer | candidates | static similarity: lowest / median | rarer words: lowest / median |")
    print("|---|---|---|---|---|")
    for where, candidates in groups.items():
        banded = band_effect(candidates, settings, settings.static_accept)[1]
        deciding = [c for c in candidates if tokens[c["row"]] >= LONG and kept(c, settings) and c["row"] not in banded]
        for verdict, members in (("accepts", True), ("rejects", False)):
            chosen = [c for c in deciding if accepted(c, settings) == members]
            if not chosen:
                print(f"| {where} | {verdict} | 0 | - | - |")
                continue
            static, words = [c["static"] for c in chosen], [c["words"] for c in chosen]
            print(
                f"| {where} | {verdict} | {len(chosen)} | {min(static):.3f} / {statistics.median(static):.3f} "
                f"| {min(words):.2f} / {statistics.median(words):.2f} |"
            )


def by_length(stems: list[str], candidates: list[dict], settings, transformer_seconds) -> None:
    """Where the transformer's time goes: the rows still reaching it (past the cuts and the accept band) by token
    count, and its seconds on each group."""
    reaching, banded, _ = band_effect(candidates, settings, settings.static_accept)
    rows = sorted(reaching - banded)
    matched = {c["row"] for c in candidates if kept(c, settings) and accepted(c, settings)}
    tokens = token_counts(stems, settings)
    groups = [(1, 32), (33, 64), (65, LONG - 1), (LONG, settings.max_seq_length)]
    timed = {
        group: transformer_seconds([row for row in rows if group[0] <= tokens[row] <= group[1]]) for group in groups
    }
    total = sum(timed.values())
    print(f"\nthe {len(rows)} rows still reaching the transformer at band {settings.static_accept}, by token count")
    print("| tokens | rows | rows it matches | transformer s (10 per call) | share of its time |")
    print("|---|---|---|---|---|")
    for (low, high), seconds in timed.items():
        members = [row for row in rows if low <= tokens[row] <= high]
        print(
            f"| {low}-{high} | {len(members)} | {len(set(members) & matched)} | {seconds:.1f} | "
            f"{seconds / max(total, 1e-9):.0%} |"
        )


def main() -> None:
    from medrl.config import preset

    config = with_embedding_model(preset("medrl-semantic"), default_embedding_model())
    if "--workload-only" not in sys.argv[1:]:  # the paraphrase part embeds the quality pack: ~7 min on 2 cores
        paraphrase_set(config)
    workload(config)


if __name__ == "__main__":
    main()
