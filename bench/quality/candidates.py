"""Score every real training row against every benchmark item and write the candidate pairs for adjudication.

    python bench/quality/candidates.py [--data PATH] [--pack PATH] [--out .cache/candidates.csv]

For each training row (question text; PubMedQA train-pool rows: their final question line) and each benchmark
item (question stem; MedXpertQA without its inline answer choices), in a normalised form (NFKC, lower case,
punctuation removed):
  ratio      rapidfuzz fuzz.ratio
  partial    rapidfuzz fuzz.partial_ratio (only for the best candidates of each row)
  tset       rapidfuzz fuzz.token_set_ratio (only for the best candidates of each row)
  rare       distinct shared word 6-grams that occur in at most 3 benchmark stems
  contain    rare / the row's distinct 6-grams
  wcos       cosine of idf-weighted word sets (words in <= 2% of benchmark stems): catches rewrites that keep the
             case's content words (MedXpertQA's rewritten MedQA cases) but little of its wording
  opt        fraction of the row's options whose normalised text equals one of the item's options
Every row keeps its best items by ratio, by rare and by wcos; a pair is a candidate when ratio >= 60 or
partial >= 80 or tset >= 80 or rare >= 3 or wcos >= 0.3. The best pair of every row is written too (so "far"
rows can be shown to be far).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from rapidfuzz import fuzz, process

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CACHE, DEFAULT_DATA, DEFAULT_PACK, ensure_pack, load_training, norm, stem, write_csv

N = 6
RARE_DF = 3
TOP = 5


def grams(text: str) -> set[str]:
    words = text.split()
    return {" ".join(words[i : i + N]) for i in range(len(words) - N + 1)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--pack", type=Path, default=DEFAULT_PACK)
    parser.add_argument("--out", type=Path, default=CACHE / "candidates.csv")
    args = parser.parse_args(argv)
    from medrl.benchmarks.pack import load_pack

    items = load_pack(ensure_pack(args.data, args.pack)).items
    rows = load_training(args.data)
    item_texts = [norm(stem(item.question)) for item in items]
    item_opts = [{norm(text) for _, text in item.options} for item in items]
    row_texts = [norm(row.question_only) for row in rows]

    df: Counter[str] = Counter()
    item_grams = [grams(text) for text in item_texts]
    for g in item_grams:
        df.update(g)
    postings: dict[str, list[int]] = defaultdict(list)
    for index, g in enumerate(item_grams):
        for gram in g:
            if df[gram] <= RARE_DF:
                postings[gram].append(index)

    word_df: Counter[str] = Counter()
    item_words = [set(text.split()) for text in item_texts]
    for words in item_words:
        word_df.update(words)
    common = len(items) * 0.02
    idf = {w: math.log(len(items) / c) for w, c in word_df.items() if c <= common}
    word_postings: dict[str, list[int]] = defaultdict(list)
    item_norm = np.zeros(len(items))
    for index, words in enumerate(item_words):
        for w in words:
            if w in idf:
                word_postings[w].append(index)
                item_norm[index] += idf[w] ** 2
    item_norm = np.sqrt(np.maximum(item_norm, 1e-9))
    word_postings_np = {w: np.array(ids) for w, ids in word_postings.items()}

    print(f"ratio cdist {len(rows)} x {len(items)}", file=sys.stderr)
    ratio = process.cdist(row_texts, item_texts, scorer=fuzz.ratio, dtype=np.float32, workers=-1)
    out_rows = []
    for r, row in enumerate(rows):
        row_grams = grams(row_texts[r])
        shared: Counter[int] = Counter()
        for gram in row_grams:
            for index in postings.get(gram, ()):
                shared[index] += 1
        wscore = np.zeros(len(items))
        row_norm = 0.0
        for w in set(row_texts[r].split()):
            if w in idf:
                wscore[word_postings_np[w]] += idf[w] ** 2
                row_norm += idf[w] ** 2
        wcos = wscore / (item_norm * math.sqrt(max(row_norm, 1e-9)))
        candidates = (
            set(np.argsort(-ratio[r])[:TOP].tolist())
            | {i for i, _ in shared.most_common(TOP)}
            | set(np.argsort(-wcos)[:TOP].tolist())
        )
        scored = []
        for i in candidates:
            partial = fuzz.partial_ratio(row_texts[r], item_texts[i]) if row_texts[r] and item_texts[i] else 0.0
            tset = fuzz.token_set_ratio(row_texts[r], item_texts[i])
            row_opts = [norm(text) for _, text in row.options]
            opt = sum(text in item_opts[i] for text in row_opts) / len(row_opts) if row_opts else 0.0
            scored.append(
                {
                    "training_file": row.file,
                    "row": row.row,
                    "benchmark": items[i].benchmark,
                    "item_id": items[i].item_id,
                    "ratio": round(float(ratio[r, i]), 1),
                    "partial": round(partial, 1),
                    "tset": round(tset, 1),
                    "rare": shared.get(i, 0),
                    "contain": round(shared.get(i, 0) / len(row_grams), 3) if row_grams else 0.0,
                    "wcos": round(float(wcos[i]), 3),
                    "opt": round(opt, 2),
                    "row_words": len(row_texts[r].split()),
                }
            )
        scored.sort(key=lambda s: (-max(s["ratio"], s["tset"] if s["row_words"] >= 8 else 0), -s["rare"]))
        best = scored[0]
        for s in scored:
            is_candidate = (
                s["ratio"] >= 60 or s["partial"] >= 80 or s["tset"] >= 80 or s["rare"] >= 3 or s["wcos"] >= 0.3
            )
            if is_candidate or s is best:
                s["candidate"] = int(is_candidate)
                s["best"] = int(s is best)
                out_rows.append(s)
    write_csv(args.out, out_rows)
    print(f"{args.out}: {len(out_rows)} pairs, {sum(s['candidate'] for s in out_rows)} candidates", file=sys.stderr)


if __name__ == "__main__":
    main()
