"""Rows in the shapes training data is published in: are benchmark copies found inside chat messages, reasoning
traces and nested fields as well as in a flat column, and are clean rows in those shapes left alone?

    python bench/quality/shapes.py [--set PATH] [--pack PATH] [--half held-out|tune|both] [--preset medrl ...]
                                   [--misses]   # also count the missed positives of each shape by kind

Every row goes through `medrl.decontaminate` (the command's own path: reading, field paths, chat messages, writing)
as a JSONL file of one shape. The rows come from the labelled set (bench/quality, built when missing): positives are
every positive row of the half (all kinds: verbatim, options appended or shuffled, cut, edited, real reuse), each
with its options lettered below the text when the row has them; negatives every negative row of the half.

Shapes (the field checked in brackets):
- flat: `{"question": text}` [question] — the baseline, the same texts as the labelled-set table.
- chat: system prompt, the text in the user turn, an assistant turn with a real reasoning trace [messages].
- sharegpt: the same as `conversations: [{from: human|gpt, value}]` [conversations].
- verl: medrl's own verl export layout, `prompt: [{role: user, content}]` plus `extra_info` [prompt].
- nested: `{"extra_info": {"question": text}}` [extra_info.question].
- in reasoning (paragraph): the user turn holds another, real training question; the assistant's reasoning trace
  restates the benchmark text as a paragraph of its own in the middle [messages].
- in reasoning (inline): the same, the text run into the trace's sentences with no line break [messages].
- stock-phrase chat (negatives only): a negative row in the user turn and an assistant turn made of the phrases
  benchmark questions share most (word 8-grams found in 20+ benchmark items, as the seed method counts them)
  between real reasoning sentences [messages].

Reasoning traces are HuatuoGPT-o1's `Complex_CoT` (the shared demo file), except the rows whose question the
default preset removes as a benchmark copy (read as reuse, see the real-data table). A positive counts when its row
is removed naming its benchmark item (or one with the same question text). One setting was looked at here: the
paragraph guard `CoverageConfig.min_paragraph_item_coverage`, compared on the tune half only (0.2 and 0.3 find the
same paragraph copies, 0.4 loses one); quote the held-out half.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_PACK, DEFAULT_SET, ensure_pack, harness_parser, markdown_table
from run import HALVES, half_of

SYSTEM = "You are a medical expert. Think step by step, then give the letter of the answer in \\boxed{}."
Shape = Callable[[str, random.Random], dict]


def lettered(row: dict) -> str:
    """The row's text with its options (if any) lettered below it, as a user turn carries them."""
    options = row.get("options") or []
    lines = [f"{letter}. {text}" for letter, text in options]
    return "\n".join([row["text"], *lines]) if lines else row["text"]


class Shapes:
    """Builds each shape's row from a text, with real reasoning traces and stock phrases drawn by a seeded chooser."""

    def __init__(self, traces: list[str], questions: list[str], stock: list[str]) -> None:
        self.traces = traces
        self.questions = questions
        self.stock = stock

    def trace(self, chooser: random.Random) -> str:
        return chooser.choice(self.traces)

    def answer(self, chooser: random.Random) -> str:
        return f"{self.trace(chooser)}\n\nThe answer is \\boxed{{{chooser.choice('ABCD')}}}."

    def chat(self, text: str, chooser: random.Random) -> dict:
        return {
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": text},
                {"role": "assistant", "content": self.answer(chooser)},
            ]
        }

    def sharegpt(self, text: str, chooser: random.Random) -> dict:
        turns = self.chat(text, chooser)["messages"][1:]
        speaker = {"user": "human", "assistant": "gpt"}
        return {"conversations": [{"from": speaker[turn["role"]], "value": turn["content"]} for turn in turns]}

    def verl(self, text: str, chooser: random.Random) -> dict:
        return {
            "data_source": "medical",
            "prompt": [{"role": "user", "content": text}],
            "reward_model": {"style": "rule", "ground_truth": chooser.choice("ABCD")},
            "extra_info": {"index": 0, "split": "train"},
        }

    def in_reasoning(self, text: str, chooser: random.Random, inline: bool) -> dict:
        trace = self.trace(chooser)
        paragraphs = trace.split("\n\n")
        middle = len(paragraphs) // 2
        if inline:
            restated = f"This is like the case where {text[0].lower()}{text[1:]} "
            paragraphs[middle] = restated + paragraphs[middle].replace("\n", " ")
        else:
            paragraphs.insert(middle, f"Let me restate it:\n\n{text}")
        return {
            "messages": [
                {"role": "user", "content": self.other_question(chooser)},
                {"role": "assistant", "content": "\n\n".join(paragraphs)},
            ]
        }

    def stock_chat(self, text: str, chooser: random.Random) -> dict:
        sentences = self.trace(chooser).split(". ")
        for phrase in chooser.sample(self.stock, 3):
            sentences.insert(chooser.randrange(len(sentences) + 1), phrase[0].upper() + phrase[1:] + "?")
        return {
            "messages": [
                {"role": "user", "content": text},
                {"role": "assistant", "content": ". ".join(sentences) + " \\boxed{A}"},
            ]
        }

    def other_question(self, chooser: random.Random) -> str:
        return chooser.choice(self.questions)


def shapes(build: Shapes) -> dict[str, tuple[Shape, str, bool]]:
    """name -> (row maker, field checked, whether positives are made in it)."""
    return {
        "flat": (lambda text, chooser: {"question": text}, "question", True),
        "chat": (build.chat, "messages", True),
        "sharegpt": (build.sharegpt, "conversations", True),
        "verl": (build.verl, "prompt", True),
        "nested": (lambda text, chooser: {"extra_info": {"question": text}}, "extra_info.question", True),
        "in reasoning (paragraph)": (lambda text, c: build.in_reasoning(text, c, False), "messages", True),
        "in reasoning (inline)": (lambda text, c: build.in_reasoning(text, c, True), "messages", True),
        "stock-phrase chat": (build.stock_chat, "messages", False),
    }


def stock_phrases(questions: list[str], least_items: int = 20) -> list[str]:
    """Word 8-grams (open-r1's normalisation) found in at least `least_items` benchmark questions."""
    from medrl.detection.text import word_ngrams

    counts: Counter[str] = Counter()
    for question in questions:
        counts.update(set(word_ngrams(question, 8)))
    return sorted(gram for gram, count in counts.items() if count >= least_items)


def _lines(path: str) -> list[str]:
    return Path(path).read_text(encoding="utf-8").splitlines()


def reasoning_traces(data: Path, pack: Path) -> tuple[list[str], list[str]]:
    """HuatuoGPT-o1 demo `Complex_CoT` traces and questions of the rows the default preset keeps."""
    from medrl.pipeline import decontaminate

    rows = json.loads((data / "training" / "huatuogpt_o1_demo.json").read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "huatuo.jsonl"
        source.write_text("".join(json.dumps({"question": r["question"]}) + "\n" for r in rows), encoding="utf-8")
        report = decontaminate(source, pack, Path(scratch) / "out", "medrl")
        removed = {json.loads(line)["question"] for line in _lines(report.outputs["removed"])}
    kept = [row for row in rows if row["question"] not in removed and row["Complex_CoT"].strip()]
    return [row["Complex_CoT"].strip() for row in kept], [row["question"] for row in kept]


def run_shape(rows: list[dict], field: str, preset: str, pack: Path, scratch: Path) -> list[set[str]]:
    """Per row the benchmark items (`benchmark|item_id`) its removal names (empty: kept). Seconds are not measured
    here (a few hundred rows per run: start-up dominates); bench/perf/shapes_speed.py times the shapes."""
    from medrl.pipeline import decontaminate

    scratch.mkdir(parents=True)
    source = scratch / "rows.jsonl"
    source.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    report = decontaminate(source, pack, scratch / "out", preset, fields=[field])
    named: list[set[str]] = [set() for _ in rows]
    for line in _lines(report.outputs["removed"]):
        removed = json.loads(line)
        row = removed["contamination"][0]["input_row"]
        named[row] = {f"{match['benchmark']}|{match['item_id']}" for match in removed["contamination"]}
    return named


def main() -> None:
    parser = harness_parser(__doc__, DEFAULT_SET, DEFAULT_PACK)
    parser.add_argument("--half", choices=[*HALVES, "both"], default="held-out")
    parser.add_argument("--preset", action="append", help="repeatable; default: medrl, ii-medical-rl")
    parser.add_argument("--seed", type=int, default=31)
    parser.add_argument("--misses", action="store_true", help="count each shape's missed positives by kind")
    args = parser.parse_args()
    if not args.set.exists():
        raise SystemExit(f"{args.set}: build the labelled set first (python bench/quality/build_set.py)")
    from medrl.benchmarks.pack import load_pack

    pack_path = ensure_pack(args.data, args.pack)
    pack = load_pack(pack_path)
    rows = [json.loads(line) for line in args.set.read_text(encoding="utf-8").splitlines()]
    rows = [row for row in rows if args.half == "both" or half_of(row) == args.half]
    positives = [row for row in rows if row["label"] == "positive"]
    negatives = [row for row in rows if row["label"] == "negative"]
    same_text: dict[str, set[str]] = {}
    for item in pack.items:
        same_text.setdefault(item.question, set()).add(f"{item.benchmark}|{item.item_id}")
    question_of = {f"{item.benchmark}|{item.item_id}": item.question for item in pack.items}

    traces, questions = reasoning_traces(args.data, pack_path)
    build = Shapes(traces, questions, stock_phrases([item.question for item in pack.items]))
    lines = []
    for preset in args.preset or ["medrl", "ii-medical-rl"]:
        for name, (make, field, has_positives) in shapes(build).items():
            cells = [preset, name, field]
            with tempfile.TemporaryDirectory() as scratch:
                if has_positives:
                    chooser = random.Random(args.seed)
                    made = [make(lettered(row), chooser) for row in positives]
                    named = run_shape(made, field, preset, pack_path, Path(scratch) / "positives")
                    missed: Counter[str] = Counter()
                    for row, items in zip(positives, named, strict=True):
                        target = f"{row['target']['benchmark']}|{row['target']['item_id']}"
                        if not items & same_text.get(question_of.get(target, ""), {target}):
                            missed[row["kind"]] += 1
                    found = len(positives) - missed.total()
                    cells.append(f"{found / len(positives):.1%} ({found}/{len(positives)})")
                    if args.misses and missed:
                        print(f"{preset} {name} missed: {dict(missed.most_common())}", file=sys.stderr)
                else:
                    cells.append("")
                chooser = random.Random(args.seed + 1)
                made = [make(lettered(row), chooser) for row in negatives]
                named = run_shape(made, field, preset, pack_path, Path(scratch) / "negatives")
                flagged = sum(bool(items) for items in named)
                cells.append(f"{flagged / len(negatives):.1%} ({flagged}/{len(negatives)})")
            lines.append(cells)
            print(" | ".join(cells), file=sys.stderr)
    print(
        f"{args.half} half: {len(positives)} positive rows, {len(negatives)} negative rows; "
        f"{len(traces)} reasoning traces, {len(build.stock)} stock phrases"
    )
    head = ["preset", "shape", "field checked", "recall (the right item)", "FPR"]
    print(markdown_table(head, lines))


if __name__ == "__main__":
    main()
