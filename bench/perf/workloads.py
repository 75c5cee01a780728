"""Synthetic-but-real training workloads: JSONL rows `{"id", "question"}` built from the real shared texts.

Every row starts from a real text in ../shared/data (benchmark questions from the pack, training questions from
`training/`) and gets light random edits, so the texts look like real medical QA training data at any size:

| kind        | share | what                                                                              |
|-------------|-------|-----------------------------------------------------------------------------------|
| bench_copy  | 15%   | a benchmark question, verbatim (30%) or with 1-3 light edits (near-copy)          |
| bench_mixed | 2%    | the first sentences of a benchmark question + the last of a training question    |
| short       | 10%   | a 3-7 word span of a training question ending in "?" (under 8 words)              |
| train_edit  | 53%   | a training question with 1-3 light edits                                          |
| recombined  | 20%   | the first sentences of one training question + the last of another, 0-1 edits   |

Light edits: drop a word, swap two adjacent words, change a number (ages, doses, lab values).
Training questions are drawn by source weight (MedQA dev 60%, HuatuoGPT-o1 25%, PubMedQA 15%: USMLE vignettes
dominate medical RL sets, abstract-length PubMedQA contexts are a minority); benchmark questions uniformly over
the pack's items (so ~1/3 of benchmark copies are MedMCQA's short questions).

Rows are generated in chunks of CHUNK rows, chunk k seeded from (SEED, k): a workload of n rows is exactly the
first n rows of the stream, so S is a prefix of M and M of L, and the scaling runs use prefixes.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import random
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from common import CACHE, SEED, TRAINING_DIR, fmt_rows

CHUNK = 10_000
KINDS = ("bench_copy", "bench_mixed", "short", "train_edit", "recombined")
KIND_WEIGHTS = (0.15, 0.02, 0.10, 0.53, 0.20)
TRAINING_SOURCES = {  # file -> weight
    "medqa_dev.json": 0.60,
    "huatuogpt_o1_demo.json": 0.25,
    "pubmedqa_trainpool.jsonl": 0.15,
}
_SENTENCE_END = re.compile(r"(?<=[.?!])\s+")
_DIGITS = re.compile(r"\d+")
_HAS_DIGIT = re.compile(r"\d")


def load_training_questions() -> dict[str, list[str]]:
    """The `question` texts of each training file, read as they are (JSONL split on \\n only)."""
    found = {}
    for name in TRAINING_SOURCES:
        raw = (TRAINING_DIR / name).read_bytes()
        if name.endswith(".jsonl"):
            rows = [json.loads(line) for line in raw.split(b"\n") if line.strip()]
        else:
            rows = json.loads(raw)
        found[name] = [row["question"] for row in rows if isinstance(row.get("question"), str) and row["question"]]
    return found


@dataclass
class _Text:
    text: str
    words: list[str]
    numbered: tuple[int, ...]  # indices of words holding a digit
    sentences: list[str]


def _prepare(text: str) -> _Text:
    words = text.split()
    numbered = tuple(i for i, word in enumerate(words) if _HAS_DIGIT.search(word))
    return _Text(text, words, numbered, [s for s in _SENTENCE_END.split(text.strip()) if s])


class Generator:
    def __init__(self, benchmark_questions: list[str], training: dict[str, list[str]]) -> None:
        self.bench = [_prepare(q) for q in benchmark_questions if q.strip()]
        self.train: list[_Text] = []
        weights: list[float] = []
        for name, texts in training.items():
            self.train.extend(_prepare(t) for t in texts)
            weights.extend([TRAINING_SOURCES[name] / len(texts)] * len(texts))
        total = sum(weights)
        self.train_cum = list(itertools.accumulate(weight / total for weight in weights))

    def _train_index(self, rng: random.Random) -> int:
        return min(bisect.bisect_right(self.train_cum, rng.random()), len(self.train) - 1)

    @staticmethod
    def _edit(base: list[str], numbered: tuple[int, ...], edits: int, rng: random.Random) -> list[str]:
        """`edits` light edits of the words `base` (`numbered`: indices of its words holding digits)."""
        words = list(base)
        actions = sorted(rng.random() for _ in range(edits))  # number changes (< 0.3) first, on base indices
        for action in actions:
            if len(words) < 2:
                break
            if action < 0.3 and numbered:
                i = rng.choice(numbered)
                if i < len(words):
                    delta = rng.choice((-3, -2, -1, 1, 2, 5))
                    words[i] = _DIGITS.sub(lambda m, d=delta: str(max(0, int(m.group()) + d)), words[i], count=1)
                    continue
            if action < 0.65:
                del words[rng.randrange(len(words))]
            else:
                i = rng.randrange(len(words) - 1)
                words[i], words[i + 1] = words[i + 1], words[i]
        return words

    @staticmethod
    def _join_parts(first: _Text, second: _Text, rng: random.Random) -> str:
        head = first.sentences[: rng.randint(1, max(1, len(first.sentences) - 1))]
        tail = second.sentences[rng.randint(1, len(second.sentences) - 1) if len(second.sentences) > 1 else 0 :]
        return " ".join(head + tail)

    def row(self, kind: str, rng: random.Random) -> str:
        if kind == "bench_copy":
            base = self.bench[rng.randrange(len(self.bench))]
            if rng.random() < 0.3:
                return base.text
            return " ".join(self._edit(base.words, base.numbered, rng.randint(1, 3), rng)) or base.text
        if kind == "bench_mixed":
            return self._join_parts(self.bench[rng.randrange(len(self.bench))], self.train[self._train_index(rng)], rng)
        base = self.train[self._train_index(rng)]
        if kind == "short":
            size = rng.randint(3, 7)
            start = rng.randrange(max(1, len(base.words) - size + 1))
            span = base.words[start : start + size]
            return " ".join(span).rstrip(".,;:?!") + "?"
        if kind == "train_edit":
            return " ".join(self._edit(base.words, base.numbered, rng.randint(1, 3), rng)) or base.text
        text = self._join_parts(base, self.train[self._train_index(rng)], rng)
        return " ".join(self._edit(text.split(), (), rng.randint(0, 1), rng)) or text

    def chunk(self, index: int) -> tuple[list[str], list[str]]:
        """Chunk `index` of the stream: (kinds, texts) for rows index*CHUNK .. (index+1)*CHUNK - 1."""
        seed = int(np.random.SeedSequence([SEED, index]).generate_state(1)[0])
        rng = random.Random(seed)
        kinds = rng.choices(KINDS, weights=KIND_WEIGHTS, k=CHUNK)
        return kinds, [self.row(kind, rng) for kind in kinds]


def fingerprint(benchmark_questions: list[str], training: dict[str, list[str]]) -> str:
    """Changes when the generator's code or its input texts change (then cached workloads are rebuilt)."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    for text in benchmark_questions:
        digest.update(text.encode("utf-8", "surrogatepass") + b"\0")
    for name in sorted(training):
        digest.update(name.encode() + b"\1")
        for text in training[name]:
            digest.update(text.encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()


def workload_path(rows: int) -> Path:
    return CACHE / f"workload-{fmt_rows(rows)}.jsonl"


def ensure_workload(rows: int, benchmark_questions: list[str], training: dict[str, list[str]]) -> dict:
    """Generate (or reuse the cached) workload of `rows` rows; return its metadata (path, shares, seconds)."""
    path = workload_path(rows)
    meta_path = path.with_suffix(".meta.json")
    key = fingerprint(benchmark_questions, training)
    if path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("fingerprint") == key and meta.get("rows") == rows:
            meta["cached"] = True
            return meta
    started = time.perf_counter()
    generator = Generator(benchmark_questions, training)
    counts = dict.fromkeys(KINDS, 0)
    short = 0
    written = 0
    tmp = path.with_suffix(".jsonl.tmp")
    with tmp.open("w", encoding="utf-8") as out:
        for chunk in range((rows + CHUNK - 1) // CHUNK):
            kinds, texts = generator.chunk(chunk)
            take = min(CHUNK, rows - written)
            lines = []
            for offset in range(take):
                text = texts[offset]
                counts[kinds[offset]] += 1
                short += len(text.split()) < 8
                lines.append(json.dumps({"id": f"r{written + offset:07d}", "question": text}))
            out.write("\n".join(lines) + "\n")
            written += take
    tmp.replace(path)
    meta = {
        "path": str(path),
        "rows": rows,
        "fingerprint": key,
        "kinds": counts,
        "near_copy_share": (counts["bench_copy"] + counts["bench_mixed"]) / rows,
        "short_share": short / rows,
        "bytes": path.stat().st_size,
        "generate_seconds": round(time.perf_counter() - started, 2),
    }
    meta_path.write_text(json.dumps(meta, indent=1))
    meta["cached"] = False
    return meta
