"""Mine candidate (training row, pack item) pairs for adjudication, and print pairs side by side for reading.

    python bench/quality/paraphrase/mine.py [--data DATA] [--out .cache/candidates.csv]
    python bench/quality/paraphrase/mine.py --by-answer [--out .cache/by_answer.csv]
    python bench/quality/paraphrase/mine.py --show FILE:ROW:BENCHMARK:ITEM [...]

Mining is deliberately broad (the existing detectors find few rewrites, so they are not used): for every
training-side row, the top items by TF-IDF cosine of the stems, by TF-IDF cosine of stem + options, and by the
count of shared numbers, each pair scored with its case fingerprint (age, sex, numbers, options, keyed answer).
`--by-answer` mines by topic instead, for same-topic siblings (issue 21): pairs not yet adjudicated whose keyed
answers are the same specific concept (fuzz.ratio >= 90 after folding, an answer keyed by at most
`SPECIFIC_ANSWER` pack items), ordered by stem cosine.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from rapidfuzz import fuzz, process
from rows import CACHE, DEFAULT_DATA, DEFAULT_PACK, TRAIN_FILES, Entry, age, load_entries, norm, numbers, sex, write_csv

TOP = 5
TOP_NUMBERS = 3
SPECIFIC_ANSWER = 5  # an answer keyed by more pack items ("Reassurance", "Autosomal recessive") says nothing of topic


class Tfidf:
    """Sublinear TF-IDF over normalised words, L2-normalised, scored against the targets through postings."""

    def __init__(self, docs: list[list[str]], targets: list[list[str]]) -> None:
        df = Counter(word for doc in docs for word in set(doc))
        self.idf = {word: math.log(len(docs) / count) + 1.0 for word, count in df.items()}
        postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for index, doc in enumerate(targets):
            for word, weight in self.vector(doc).items():
                postings[word].append((index, weight))
        self.postings = {
            word: (np.array([i for i, _ in p]), np.array([w for _, w in p], dtype=np.float32))
            for word, p in postings.items()
        }
        self.size = len(targets)

    def vector(self, doc: list[str]) -> dict[str, float]:
        counts = Counter(doc)
        vec = {word: (1.0 + math.log(count)) * self.idf.get(word, 1.0) for word, count in counts.items()}
        length = math.sqrt(sum(v * v for v in vec.values())) or 1.0
        return {word: v / length for word, v in vec.items()}

    def scores(self, doc: list[str]) -> np.ndarray:
        out = np.zeros(self.size, dtype=np.float32)
        for word, weight in self.vector(doc).items():
            if word in self.postings:
                ids, weights = self.postings[word]
                out[ids] += weight * weights
        return out


def _with_options(entry: Entry) -> list[str]:
    return norm(entry.stem + " " + " ".join(text for _, text in entry.options)).split()


def pair_features(row: Entry, item: Entry) -> dict:
    """The fingerprint agreement of one pair (what a reader checks first)."""
    row_numbers, item_numbers = numbers(row.stem), numbers(item.stem)
    shared = row_numbers & item_numbers
    item_options = {norm(text) for _, text in item.options}
    row_options = [norm(text) for _, text in row.options]
    answer = norm(row.answer)
    return {
        "age": f"{age(row.stem)}|{age(item.stem)}",
        "sex": f"{sex(row.stem)}|{sex(item.stem)}",
        "shared_numbers": len(shared),
        "number_jaccard": round(len(shared) / len(row_numbers | item_numbers), 3) if row_numbers | item_numbers else 0,
        "opt": round(sum(text in item_options for text in row_options) / len(row_options), 2) if row_options else 0,
        "answer_ratio": round(fuzz.ratio(answer, norm(item.answer)), 1),
        "answer_in_options": int(answer in item_options),
        "ratio": round(fuzz.ratio(norm(row.stem), norm(item.stem)), 1),
    }


def mine(data: Path, pack: Path) -> list[dict]:
    rows, targets = load_entries(data, pack)
    stems = [norm(t.stem).split() for t in targets]
    fulls = [_with_options(t) for t in targets]
    corpus = [norm(e.stem).split() for e in rows] + stems
    by_stem, by_full = Tfidf(corpus, stems), Tfidf(corpus, fulls)
    number_postings: dict[str, list[int]] = defaultdict(list)
    for index, target in enumerate(targets):
        for number in numbers(target.stem):
            number_postings[number].append(index)
    out = []
    for row in rows:
        excluded = np.array([t.source in TRAIN_FILES[row.source] for t in targets])
        cos_stem = np.where(excluded, -1.0, by_stem.scores(norm(row.stem).split()))
        cos_full = np.where(excluded, -1.0, by_full.scores(_with_options(row)))
        shared = np.zeros(len(targets), dtype=np.int32)
        for number in numbers(row.stem):
            # Numbers in many stems ("2", "10") say nothing about the case.
            if len(number_postings.get(number, ())) <= 50:
                shared[number_postings[number]] += 1
        shared[excluded] = 0
        picked = (
            set(np.argsort(-cos_stem, kind="stable")[:TOP].tolist())
            | set(np.argsort(-cos_full, kind="stable")[:TOP].tolist())
            | {i for i in np.argsort(-shared, kind="stable")[:TOP_NUMBERS].tolist() if shared[i] >= 2}
        )
        for i in sorted(picked, key=lambda i: -cos_full[i]):
            item = targets[i]
            out.append(
                {
                    "train_file": row.source,
                    "train_row": row.key,
                    "benchmark": item.source,
                    "item_id": item.key,
                    "cos_stem": round(float(cos_stem[i]), 3),
                    "cos_full": round(float(cos_full[i]), 3),
                    "rare_numbers": int(shared[i]),
                    **pair_features(row, item),
                }
            )
    return out


def mine_by_answer(data: Path, pack: Path) -> list[dict]:
    """Pairs sharing a specific keyed answer, not in adjudication.csv, best stem cosine first."""
    import csv

    from rows import ADJUDICATION

    rows, targets = load_entries(data, pack)
    with ADJUDICATION.open(encoding="utf-8", newline="") as handle:
        read = {(d["train_file"], d["train_row"], d["benchmark"], d["item_id"]) for d in csv.DictReader(handle)}
    by_answer: dict[str, list[int]] = defaultdict(list)
    for index, target in enumerate(targets):
        if norm(target.answer):
            by_answer[norm(target.answer)].append(index)
    specific = {answer: found for answer, found in by_answer.items() if len(found) <= SPECIFIC_ANSWER}
    keys = list(specific)
    stems = [norm(t.stem).split() for t in targets]
    by_stem = Tfidf([norm(e.stem).split() for e in rows] + stems, stems)
    out = []
    for row in rows:
        answer = norm(row.answer)
        if not answer:
            continue
        close = process.extract(answer, keys, scorer=fuzz.ratio, score_cutoff=90, limit=None)
        matches = {i for key, _, _ in close for i in specific[key]}
        matches = {i for i in matches if targets[i].source not in TRAIN_FILES[row.source]}
        matches = {i for i in matches if (row.source, row.key, targets[i].source, targets[i].key) not in read}
        if not matches:
            continue
        cos_stem = by_stem.scores(norm(row.stem).split())
        for i in matches:
            item = targets[i]
            pair = {"train_file": row.source, "train_row": row.key, "benchmark": item.source, "item_id": item.key}
            out.append({**pair, "cos_stem": round(float(cos_stem[i]), 3), **pair_features(row, item)})
    return sorted(out, key=lambda pair: -pair["cos_stem"])


def show(pairs: list[str], data: Path, pack: Path, width: int) -> None:
    """Print each FILE:ROW:BENCHMARK:ITEM pair: both stems, options and keyed answers, and the fingerprint."""
    rows, targets = load_entries(data, pack)
    row_of = {(e.source, e.key): e for e in rows}
    item_of = {(e.source, e.key): e for e in targets}
    for spec in pairs:
        file, row_key, benchmark, item_id = spec.split(":", 3)
        row, item = row_of[(file, row_key)], item_of[(benchmark, item_id)]
        print(f"=== {file}:{row_key} -> {benchmark}:{item_id} {pair_features(row, item)}")
        for label, entry in (("ROW", row), ("ITEM", item)):
            text = " ".join(entry.stem.split())
            print(f"{label}: " + (text if len(text) <= width else text[: width // 2] + " ... " + text[-width // 2 :]))
            print(f"  options: {' | '.join(t for _, t in entry.options)}")
            print(f"  answer: {entry.answer}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--pack", type=Path, default=DEFAULT_PACK)
    parser.add_argument("--out", type=Path, default=CACHE / "candidates.csv")
    parser.add_argument("--show", nargs="+", metavar="FILE:ROW:BENCHMARK:ITEM")
    parser.add_argument("--by-answer", action="store_true", help="mine same-topic siblings by keyed answer")
    parser.add_argument("--width", type=int, default=1400, help="characters of each stem to print (--show)")
    args = parser.parse_args(argv)
    if args.show:
        show(args.show, args.data, args.pack, args.width)
        return
    out = mine_by_answer(args.data, args.pack) if args.by_answer else mine(args.data, args.pack)
    write_csv(args.out, out)
    print(f"{args.out}: {len(out)} pairs", file=sys.stderr)


if __name__ == "__main__":
    main()
