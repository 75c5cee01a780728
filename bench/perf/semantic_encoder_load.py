"""Issue 24, step 1: how much of workload S reaches the semantic stage's encoder, and could a static embedding
(model2vec, distilled offline from the same all-MiniLM-L6-v2) discard part of it before the transformer runs?

    python bench/perf/semantic_encoder_load.py [--rows 32000] [--cuts 0.75,0.77,0.8]

Needs the `semantic` and `bench` extras and `bench/perf/run.py` run once (its pack and workload in .cache/). Steps:
1. `medrl-semantic` on the workload with the encoder replaced by a recorder (random unit vectors: decisions are not
   the point): which question stems reach it, their token counts, and the run's time without the encoder.
2. A static model distilled from the stage's model (`model2vec.distill`, offline: it embeds the model's own
   vocabulary): the semantic stage's own (`load_static_embedder`, cached in medrl's cache directory).
3. On the paraphrase set's adjudicated pairs (bench/quality/paraphrase/adjudication.csv, tune and held-out halves):
   per cut, the paraphrases a static pre-filter would lose and the siblings/unrelated pairs it would discard.
4. On the recorded stems: the share whose best static cosine against every pack question is under each cut (a lower
   bound on what such a pre-filter removes: the stage compares only a row's candidates), and static stems/s.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from common import CACHE, PACK_DIR
from workloads import workload_path

HERE = Path(__file__).resolve().parent
sys.path.append(str(HERE.parent))
PARAPHRASE = HERE.parent / "quality" / "paraphrase"
STEMS = CACHE / "encoder-load-stems.jsonl"
RECORD = CACHE / "encoder_load.json"
# The paraphrase set's adjudicated pairs as JSON lines (decision, half, training stem, item stem), read in a
# subprocess: bench/quality/paraphrase has modules of the same names as bench/perf's (common, run).
PAIRS_CODE = """
import csv, json, sys
from rows import ADJUDICATION, load_entries, row_half
rows, targets = load_entries()
row_text = {(row.source, row.key): row.stem for row in rows}
item_text = {(target.source, target.key): target.stem for target in targets}
with ADJUDICATION.open(encoding="utf-8", newline="") as handle:
    for line in csv.DictReader(handle):
        text = row_text.get((line["train_file"], line["train_row"]))
        item = item_text.get((line["benchmark"], line["item_id"]))
        if text is not None and item is not None:
            which = row_half(line["train_file"] + ":" + line["train_row"])
            print(json.dumps([line["decision"], which, text, item]))
"""


def record_stems(rows: int) -> None:
    """The stems `medrl-semantic` would send to its encoder without the static pre-filter (step 1's question: the
    rows left with a candidate after the sparse filter and the case fingerprint) on the first `rows` rows (to
    STEMS), their token counts and the run's seconds (to RECORD). Recorded at `SentenceEncoder.encode`, which every
    runtime's encoder inherits."""
    from embedding_model import default_embedding_model, with_embedding_model
    from medrl.config import preset
    from medrl.detection.embeddings import SentenceEncoder
    from medrl.pipeline import decontaminate

    real_encode = SentenceEncoder.encode
    STEMS.unlink(missing_ok=True)

    def recording(self: SentenceEncoder, texts: list[str], batch_size: int = 64, remember: bool = False) -> np.ndarray:
        if remember:  # the pack's questions: the index is cached, so this is not reached in practice
            return real_encode(self, texts, batch_size, remember)
        with STEMS.open("a", encoding="utf-8") as handle:  # appended to a file: the engine's worker runs this
            handle.write("".join(json.dumps(text) + "\n" for text in texts))
        vectors = np.random.default_rng(0).standard_normal((len(texts), self.dimension)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    SentenceEncoder.encode = recording  # forked workers inherit the patched class
    config = replace(with_embedding_model(preset("medrl-semantic"), default_embedding_model()), workers=1)
    semantic = replace(
        config.settings("semantic"), static_cut=0.0, static_cut_without_fingerprint=0.0, static_accept=0.0
    )
    config = config.replace(semantic=semantic)
    source = workload_path(rows)
    if not source.exists():
        raise SystemExit(f"{source} is missing: run bench/perf/run.py --workloads {rows} once first")
    out = CACHE / "encoder-load-out"
    started = time.perf_counter()
    decontaminate(source, PACK_DIR, out, config=config)
    seconds = time.perf_counter() - started
    SentenceEncoder.encode = real_encode
    stems = [json.loads(line) for line in STEMS.open(encoding="utf-8")] if STEMS.exists() else []
    from sentence_transformers import SentenceTransformer

    tokenizer = SentenceTransformer(default_embedding_model(), device="cpu").tokenizer
    tokens = [len(ids) for ids in tokenizer(stems, truncation=False)["input_ids"]] if stems else []
    RECORD.write_text(json.dumps({"stems": len(stems), "tokens": tokens, "seconds": seconds}))


def distill_static() -> None:
    from embedding_model import default_embedding_model
    from medrl.detection.embeddings import load_static_embedder

    started = time.perf_counter()
    load_static_embedder(default_embedding_model(), None, "cpu")
    print(f"static model ready (distilled if missing) in {time.perf_counter() - started:.1f} s", flush=True)


def static_model():
    """The semantic stage's own static model (`load_static_embedder`), distilled if missing in a subprocess: PyTorch's
    threads, once imported, slow numpy's matrix products in this process by orders of magnitude on these 2 cores."""
    from embedding_model import default_embedding_model
    from medrl.detection.embeddings import load_static_embedder

    subprocess.run([sys.executable, __file__, "--step", "distill"], check=True)
    return load_static_embedder(default_embedding_model(), None, "cpu")


def paraphrase_pairs(model, cuts: list[float]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PAIRS_CODE], cwd=PARAPHRASE, check=True, capture_output=True, text=True
    )
    pairs = [json.loads(line) for line in done.stdout.splitlines()]
    left = model.encode([pair[2] for pair in pairs])
    right = model.encode([pair[3] for pair in pairs])
    cosine = (left * right).sum(axis=1)
    print(f"\nparaphrase set: {len(pairs)} adjudicated pairs; a static pre-filter at each cut")
    print("| cut | half | paraphrases (n) | lost | siblings + unrelated (n) | discarded |")
    print("|---|---|---|---|---|---|")
    for cut in cuts:
        for which in ("tune", "held-out"):
            chosen = [i for i, pair in enumerate(pairs) if pair[1] == which]
            positives = [i for i in chosen if pairs[i][0] == "paraphrase"]
            negatives = [i for i in chosen if pairs[i][0] in ("sibling", "unrelated")]
            lost = sum(cosine[i] < cut for i in positives)
            discarded = np.mean([cosine[i] < cut for i in negatives])
            print(f"| {cut} | {which} | {len(positives)} | {lost} | {len(negatives)} | {discarded:.0%} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=32000)
    parser.add_argument("--cuts", default="0.75,0.77,0.8")
    parser.add_argument("--step", choices=["record", "distill"], help=argparse.SUPPRESS)  # the subprocesses
    args = parser.parse_args()
    if args.step == "record":
        return record_stems(args.rows)
    if args.step == "distill":
        return distill_static()
    cuts = [float(cut) for cut in args.cuts.split(",")]
    subprocess.run([sys.executable, __file__, "--step", "record", "--rows", str(args.rows)], check=True)
    record = json.loads(RECORD.read_text())
    stems = [json.loads(line) for line in STEMS.open(encoding="utf-8")] if STEMS.exists() else []
    tokens, seconds = record["tokens"], record["seconds"]
    counts = np.array(tokens or [0])
    print(f"workload of {args.rows:,} rows: {len(stems):,} stems reach the encoder ({len(stems) / args.rows:.1%});")
    print(
        f"tokens per stem: mean {counts.mean():.1f}, median {np.median(counts):.0f}, 90th percentile "
        f"{np.percentile(counts, 90):.0f}, {np.mean(counts > 128):.1%} over the 128 they are cut at; the run without "
        f"the encoder took {seconds:.1f} s (workers=1)"
    )
    model = static_model()
    paraphrase_pairs(model, cuts)
    from medrl.benchmarks.pack import load_pack

    started = time.perf_counter()
    vectors = model.encode(stems)
    rate = len(stems) / (time.perf_counter() - started)
    questions = model.encode([item.question for item in load_pack(PACK_DIR).items])
    best = np.concatenate([(vectors[i : i + 1000] @ questions.T).max(axis=1) for i in range(0, len(vectors), 1000)])
    print(f"\nstatic model: {rate:,.0f} stems/s on this machine")
    for cut in cuts:
        share = np.mean(best < cut)
        print(f"stems whose best static cosine against any pack question is under {cut}: {share:.1%}")


if __name__ == "__main__":
    main()
