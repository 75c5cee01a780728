"""Build the labelled contamination set (deterministic, seed 0) from the shared benchmark and training files.

    python bench/quality/build_set.py [DATA] [--out .cache/labelled.jsonl] [--pack .cache/pack] [--per-kind 150]

DATA defaults to <repo>/../shared/data. One JSON object per line:
    {"id", "kind", "label": "positive"|"negative", "text", "options": [[letter, text], ...],
     "source": {...}, "target": {"benchmark", "item_id"} | null}
Detectors check `text` only; `options` is there for option-aware detectors. See README.md for every kind.
Real training rows are labelled from adjudication.csv (reuse -> real_reuse positives; uncertain_excluded -> left
out) and otherwise treated as negatives (every other row is either adjudicated not_reuse or "far", see README).
"""

from __future__ import annotations

import csv
import json
import random
import re
import sys
import unicodedata
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    ADJUDICATION,
    DEFAULT_PACK,
    DEFAULT_SET,
    TrainingRow,
    builder_parser,
    ensure_pack,
    load_training,
    stem,
    write_jsonl,
)

SEED = 0
LETTERS = "ABCDEFGHIJKLMNOP"
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_NUMBER = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)(?![\w.]*\d)")
GENERIC_STEM = re.compile(
    r"^(which of the following (statements? )?(is|are) (not )?(true|correct|false|incorrect|wrong|right)"
    r"|all (of the following )?(are|is) (true|correct|seen|used|features)[^?]*except"
    r"|all of the following (are|is|statements)[^?]*except"
    r"|true (statement|about)|false (statement|about)|which (one )?of the following (is|are) (true|false|correct)"
    r"|which statement is (true|correct|false))",
    re.I,
)

OPTION_FORMATS = ("lines", "paren_inline", "answer_choices", "jsonish")
TEMPLATES = (
    "Please answer the following multiple-choice question. Reply with the letter of the correct option.\n\n"
    "{question}\n{options}",
    "<|im_start|>system\nYou are a helpful medical assistant.<|im_end|>\n<|im_start|>user\n{question}\n{options}"
    "<|im_end|>\n<|im_start|>assistant\n",
    "Question: {question}\n{options}\nAnswer:",
    "[INST] You are a medical expert. Answer the question below and explain your reasoning.\n{question}\n{options} "
    "[/INST]",
    "### Instruction:\nSelect the single best answer.\n\n### Input:\n{question}\n{options}\n\n### Response:\n",
    "{question}\n{options}\n\nThink step by step, then give the final answer as \\boxed{{letter}}.",
)


def format_options(options: list[tuple[str, str]], style: str) -> str:
    if style == "lines":
        return "\n".join(f"{letter}. {text}" for letter, text in options)
    if style == "paren_inline":
        return " ".join(f"({letter}) {text}" for letter, text in options)
    if style == "answer_choices":
        return "Answer Choices: " + " ".join(f"({letter}) {text}" for letter, text in options)
    return json.dumps({letter: text for letter, text in options}, ensure_ascii=False)


def sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE.split(text.strip()) if s]


def words(text: str) -> int:
    return len(text.split())


# ---- positive transformations: each returns (text, detail) or None when the item does not qualify ----


def t_verbatim(item, rng):
    return item.question, {}


def t_options_appended(item, rng):
    if not item.options:
        return None
    style = rng.choice(OPTION_FORMATS)
    sep = rng.choice(("\n", "\n\n", " "))
    return stem(item.question) + sep + format_options(list(item.options), style), {"format": style}


def t_instruction_wrapped(item, rng):
    template = rng.randrange(len(TEMPLATES))
    options = format_options(list(item.options), "lines") if item.options else ""
    return TEMPLATES[template].format(question=stem(item.question), options=options), {"template": template}


def t_options_shuffled(item, rng):
    if len(item.options) < 3:
        return None
    texts = [text for _, text in item.options]
    order = list(range(len(texts)))
    while order == sorted(order):
        rng.shuffle(order)
    options = [(LETTERS[i], texts[j]) for i, j in enumerate(order)]
    style = rng.choice(("lines", "paren_inline"))
    return stem(item.question) + "\n" + format_options(options, style), {"order": order, "format": style}


_QUOTES = str.maketrans({"'": "\u2019", '"': "\u201d"})
_STRAIGHT = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


def t_case_unicode_whitespace(item, rng):
    text = stem(item.question)
    ops = rng.sample(("upper", "lower", "nfkd", "nfkc", "quotes", "nbsp", "collapse", "linebreaks"), 2)
    for op in ops:
        if op == "upper":
            text = text.upper()
        elif op == "lower":
            text = text.lower()
        elif op in ("nfkd", "nfkc"):
            text = unicodedata.normalize(op.upper(), text)
        elif op == "quotes":
            text = (
                text.translate(_STRAIGHT)
                if any(c in text for c in "\u2018\u2019\u201c\u201d")
                else text.translate(_QUOTES)
            )
        elif op == "nbsp":
            text = re.sub(r" ", lambda m: "\u00a0" if rng.random() < 0.5 else " ", text)
        elif op == "collapse":
            text = " ".join(text.split())
        else:
            text = "\n".join(sentences(text))
    return text, {"ops": ops}


def t_numbers_edited(item, rng):
    text = stem(item.question)
    spans = [m for m in _NUMBER.finditer(text)]
    if not spans:
        return None
    chosen = sorted(rng.sample(spans, min(len(spans), rng.randint(1, 3))), key=lambda m: m.start())
    out, last, edits = [], 0, []
    for m in chosen:
        old = m.group(1)
        if "." in old:
            new = f"{float(old) + rng.choice((-1, 1)) * rng.choice((0.1, 0.2, 0.5)):.{len(old.split('.')[1])}f}"
        else:
            value = int(old)
            new = str(max(0, value + rng.choice((-1, 1)) * max(1, round(value * rng.uniform(0.05, 0.2)))))
            if new == old:
                new = str(value + 1)
        out += [text[last : m.start()], new]
        last = m.end()
        edits.append([old, new])
    out.append(text[last:])
    return "".join(out), {"edits": edits}


def t_sentence_dropped(item, rng):
    parts = sentences(stem(item.question))
    if len(parts) < 3:
        return None
    drop = rng.randrange(len(parts) - 1)
    return " ".join(p for i, p in enumerate(parts) if i != drop), {"dropped": drop, "sentences": len(parts)}


def t_tail_truncated(item, rng):
    """The question's end cut off: the first 50-70% of its words, or its final sentence dropped."""
    text = stem(item.question)
    parts = sentences(text)
    if words(text) < 20:
        return None
    if len(parts) >= 3 and rng.random() < 0.5:
        return " ".join(parts[:-1]), {"mode": "drop_final_sentence"}
    tokens = text.split()
    keep = max(1, round(len(tokens) * rng.uniform(0.5, 0.7)))
    return " ".join(tokens[:keep]), {"mode": "prefix", "kept_words": keep, "words": len(tokens)}


def t_head_truncated(item, rng):
    """The question's start cut off: its first 25-35% of words dropped, from the question as stored (MedXpertQA's
    keep their inline "Answer Choices" block, so the kept end is mostly options)."""
    tokens = item.question.split()
    if words(stem(item.question)) < 20:
        return None
    drop = max(1, round(len(tokens) * rng.uniform(0.25, 0.35)))
    return " ".join(tokens[drop:]), {"dropped_words": drop, "words": len(tokens)}


def t_short_verbatim(item, rng):
    if words(stem(item.question)) >= 8:
        return None
    return item.question, {}


POSITIVE_KINDS = {
    "verbatim": t_verbatim,
    "options_appended": t_options_appended,
    "instruction_wrapped": t_instruction_wrapped,
    "options_shuffled": t_options_shuffled,
    "case_unicode_whitespace": t_case_unicode_whitespace,
    "numbers_edited": t_numbers_edited,
    "sentence_dropped": t_sentence_dropped,
    "tail_truncated": t_tail_truncated,
    "head_truncated": t_head_truncated,
    "short_verbatim": t_short_verbatim,
}
# Real negatives kept per kind (seeded sample) so run.py's fuzzy stages stay within ~3 minutes on 2 cores:
# PubMedQA train-pool rows are long abstracts (costly for fuzz.ratio), and nearly every MedQA dev row shares a
# stock 8-gram, so hard_stock_phrase would otherwise dominate the set.
NEGATIVE_CAPS = {"hard_stock_phrase": 300, "pubmedqa_trainpool": 150}
# Transformations whose output must keep the benchmark's options with the row.
_CARRY_OPTIONS = {"options_appended", "instruction_wrapped", "options_shuffled"}


def balanced_sample(items, kind, rng, per_kind):
    """Up to per_kind (item, text, detail) spread evenly over benchmarks (round-robin over shuffled pools)."""
    make = POSITIVE_KINDS[kind]
    pools = defaultdict(list)
    for item in items:
        pools[item.benchmark].append(item)
    for pool in pools.values():
        rng.shuffle(pool)
    names = sorted(pools)
    cursors = dict.fromkeys(names, 0)
    chosen, seen_questions = [], set()
    while len(chosen) < per_kind and names:
        for name in list(names):
            if len(chosen) >= per_kind:
                break
            pool = pools[name]
            while cursors[name] < len(pool):
                item = pool[cursors[name]]
                cursors[name] += 1
                if item.question in seen_questions:
                    continue
                made = make(item, rng)
                if made is not None and made[0].strip() and made[0] != "":
                    seen_questions.add(item.question)
                    chosen.append((item, *made))
                    break
            else:
                names.remove(name)
    return chosen


def _sibling(decision: dict) -> bool:
    """A read row judged a different case although it is close to its candidate item (a same-template sibling:
    similar wording or content words, a different patient or question)."""
    return decision["decision"] == "not_reuse" and (float(decision["ratio"]) >= 55 or float(decision["wcos"]) >= 0.35)


def read_adjudication(path: Path) -> dict[tuple[str, int], dict]:
    with path.open(encoding="utf-8", newline="") as handle:
        return {(row["training_file"], int(row["row"])): row for row in csv.DictReader(handle)}


def build(data: Path, pack: Path, per_kind: int = 150, adjudication: Path = ADJUDICATION) -> list[dict]:
    from medrl.benchmarks.pack import load_pack
    from medrl.config import preset
    from medrl.detection.index import build_index
    from medrl.detection.stages.ngram import ngram_hits

    rng = random.Random(SEED)
    items = load_pack(ensure_pack(data, pack)).items
    by_key = {(item.benchmark, item.item_id): item for item in items}
    out: list[dict] = []

    def add(kind, label, text, options, source, target):
        out.append(
            {
                "id": f"{kind}-{sum(r['kind'] == kind for r in out):04d}",
                "kind": kind,
                "label": label,
                "text": text,
                "options": [list(o) for o in options],
                "source": source,
                "target": target,
            }
        )

    for kind in POSITIVE_KINDS:
        for item, text, detail in balanced_sample(items, kind, rng, per_kind):
            options = item.options if kind in _CARRY_OPTIONS or kind == "verbatim" else ()
            if kind == "options_shuffled":
                options = [(LETTERS[i], item.options[j][1]) for i, j in enumerate(detail["order"])]
            source = {"benchmark": item.benchmark, "item_id": item.item_id, **detail}
            add(kind, "positive", text, options, source, {"benchmark": item.benchmark, "item_id": item.item_id})

    # Real training rows: adjudicated reuse -> positives; uncertain -> excluded; the rest -> negatives.
    decisions = read_adjudication(adjudication)
    training = load_training(data)
    negatives: list[TrainingRow] = []
    for row in training:
        decision = decisions.get((row.file, row.row))
        if decision and decision["decision"] == "reuse":
            target = {"benchmark": decision["benchmark"], "item_id": decision["item_id"]}
            if (target["benchmark"], target["item_id"]) not in by_key:
                raise SystemExit(f"adjudication.csv names an unknown item: {target}")
            source = {"file": row.file, "row": row.row, "reason": decision["reason"]}
            add("real_reuse", "positive", row.text, row.options, source, target)
        elif decision and decision["decision"] == "uncertain_excluded":
            continue
        else:
            negatives.append(row)

    # hard_stock_phrase: real negatives the seed word-8-gram method flags (shared stock phrases).
    seed = preset("ii-medical-rl")
    index = build_index(items, seed.replace(fuzzy=None))
    kinds = {"medqa_dev.json": "medqa_dev", "pubmedqa_trainpool.jsonl": "pubmedqa_trainpool"}
    for row in negatives:
        hits = ngram_hits(row.text, index.stages["ngram"], seed.settings("ngram")).hits
        source = {"file": row.file, "row": row.row}
        decision = decisions.get((row.file, row.row))
        source["adjudication"] = decision["decision"] if decision else "far"
        if decision and _sibling(decision):
            source["candidate"] = {"benchmark": decision["benchmark"], "item_id": decision["item_id"]}
            add("same_template_sibling", "negative", row.text, row.options, source, None)
        elif hits:
            best = max(hits, key=lambda h: h.score)
            source["shared_ngram"] = best.evidence
            source["from_kind"] = kinds.get(row.file, "huatuo_demo")
            add("hard_stock_phrase", "negative", row.text, row.options, source, None)
        else:
            add(kinds.get(row.file, "huatuo_demo"), "negative", row.text, row.options, source, None)

    # generic_stem: a benchmark's generic stem with options from another item (text-only matching cannot tell).
    generic = [i for i in items if words(stem(i.question)) <= 14 and GENERIC_STEM.search(stem(i.question).strip())]
    donors = [i for i in items if len(i.options) >= 4 and i.benchmark != "pubmedqa"]
    rng.shuffle(generic)
    used = set()
    for item in generic:
        if len(used) >= min(per_kind, 120):
            break
        if item.question in used:
            continue
        used.add(item.question)
        donor = rng.choice(donors)
        while donor.question == item.question or set(donor.options) == set(item.options):
            donor = rng.choice(donors)
        options = [(LETTERS[k], text) for k, (_, text) in enumerate(donor.options[:5])]
        style = rng.choice(("lines", "paren_inline"))
        source = {
            "stem_from": {"benchmark": item.benchmark, "item_id": item.item_id},
            "options_from": {"benchmark": donor.benchmark, "item_id": donor.item_id},
        }
        add(
            "generic_stem",
            "negative",
            stem(item.question) + "\n" + format_options(options, style),
            options,
            source,
            None,
        )
    for kind, cap in NEGATIVE_CAPS.items():
        members = [row for row in out if row["kind"] == kind]
        if len(members) > cap:
            keep = {id(row) for row in rng.sample(members, cap)}
            out = [row for row in out if row["kind"] != kind or id(row) in keep]
    for kind in dict.fromkeys(row["kind"] for row in out):
        for n, row in enumerate(row for row in out if row["kind"] == kind):
            row["id"] = f"{kind}-{n:04d}"
    return out


def main(argv: list[str] | None = None) -> Path:
    parser = builder_parser(__doc__, DEFAULT_SET, DEFAULT_PACK)
    parser.add_argument("--per-kind", type=int, default=150)
    args = parser.parse_args(argv)
    rows = build(args.data, args.pack, args.per_kind)
    write_jsonl(args.out, rows)
    counts = defaultdict(int)
    for row in rows:
        counts[(row["label"], row["kind"])] += 1
    for (label, kind), count in sorted(counts.items()):
        print(f"{label:8} {kind:24} {count}", file=sys.stderr)
    print(f"{args.out}: {len(rows)} rows", file=sys.stderr)
    return args.out


if __name__ == "__main__":
    main()
