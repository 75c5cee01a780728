"""Laundered text: are benchmark copies found when disguised past a plain normaliser, and are clean rows left alone
when disguised the same way?

    python bench/quality/laundered.py [--set PATH] [--pack PATH] [--half held-out|tune|both] [--seed 27]

Rows come from the labelled set (bench/quality, built when missing): positives are its `verbatim` rows (whole
benchmark questions), negatives every negative row (real training rows, stock phrases, generic stems, same-template
siblings). Each row is checked as it is and with each disguise: look-alike letters (Cyrillic/Greek homoglyphs for
30% of the letters that have one), invisible characters (zero-width spaces/joiners, soft hyphens, BOMs after 30% of
the letters), HTML (the text in tags, every third word bold, entities for quotes and ampersands), markdown emphasis
and letters spaced out (words of 5+ letters, words two spaces apart). A positive counts when the row is flagged
against its benchmark item (or one with the same question text). Nothing here was used to choose a threshold.
"""

from __future__ import annotations

import html
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_PACK, DEFAULT_SET, ensure_pack, harness_parser, markdown_table
from run import HALVES, half_of

# What a launderer types: letters of other scripts that look Latin (medrl reads Unicode's own confusables table).
LOOK_ALIKES = dict(zip("aceopxyiAOBEHKMPT", "асеорхуіΑΟВЕНКМРТ", strict=True))
INVISIBLE = ("\u200b", "\u200c", "\u200d", "\u00ad", "\u2060", "\ufeff")


def homoglyphs(text: str, chooser: random.Random) -> str:
    return "".join(LOOK_ALIKES[c] if c in LOOK_ALIKES and chooser.random() < 0.3 else c for c in text)


def invisible(text: str, chooser: random.Random) -> str:
    return "".join(c + chooser.choice(INVISIBLE) if c.isalpha() and chooser.random() < 0.3 else c for c in text)


def html_wrapped(text: str, chooser: random.Random) -> str:
    escaped = html.escape(text).replace("\n", "<br>\n")
    bold = " ".join(f"<b>{word}</b>" if position % 3 == 0 else word for position, word in enumerate(escaped.split(" ")))
    return f'<div class="question"><p>{bold}</p></div>'


def markdown(text: str, chooser: random.Random) -> str:
    return " ".join(f"**{word}**" if position % 4 == 0 else word for position, word in enumerate(text.split(" ")))


def spaced(text: str, chooser: random.Random) -> str:
    return "  ".join(" ".join(word) if len(word) >= 5 and word.isalpha() else word for word in text.split(" "))


DISGUISES = {
    "as it is": lambda text, chooser: text,
    "homoglyphs 30%": homoglyphs,
    "invisible characters": invisible,
    "HTML": html_wrapped,
    "markdown": markdown,
    "spaced letters": spaced,
}


def main() -> None:
    parser = harness_parser(__doc__, DEFAULT_SET, DEFAULT_PACK)
    parser.add_argument("--half", choices=[*HALVES, "both"], default="held-out")
    parser.add_argument("--seed", type=int, default=27)
    args = parser.parse_args()
    if not args.set.exists():
        raise SystemExit(f"{args.set}: build the labelled set first (python bench/quality/run.py)")
    from medrl.benchmarks.pack import load_pack
    from medrl.config import preset
    from medrl.detection.index import load_or_build_index
    from medrl.detection.runner import detect_batch

    rows = [json.loads(line) for line in args.set.read_text(encoding="utf-8").splitlines()]
    rows = [row for row in rows if args.half == "both" or half_of(row) == args.half]
    positives = [row for row in rows if row["kind"] == "verbatim"]
    negatives = [row for row in rows if row["label"] == "negative"]
    pack = load_pack(ensure_pack(args.data, args.pack))
    item_keys = [f"{item.benchmark}|{item.item_id}" for item in pack.items]
    same_text: dict[str, set[str]] = {}
    for item, key in zip(pack.items, item_keys, strict=True):
        same_text.setdefault(item.question, set()).add(key)
    question_of = dict(zip(item_keys, (item.question for item in pack.items), strict=True))
    lines = []
    for name in ("medrl", "ii-medical-rl"):
        config = preset(name).replace(options_field=None)
        index = load_or_build_index(pack, config)
        for disguise, launder in DISGUISES.items():
            chooser = random.Random(args.seed)
            found = 0
            for start in range(0, len(positives), 512):
                batch = positives[start : start + 512]
                verdicts, _ = detect_batch(
                    {"question": [launder(row["text"], chooser) for row in batch]}, index, config
                )
                for row, verdict in zip(batch, verdicts, strict=True):
                    target = f"{row['target']['benchmark']}|{row['target']['item_id']}"
                    wanted = same_text.get(question_of.get(target, ""), {target})
                    found += bool(wanted & {item_keys[i] for i in verdict.items})
            flagged = 0
            for start in range(0, len(negatives), 512):
                batch = negatives[start : start + 512]
                verdicts, _ = detect_batch(
                    {"question": [launder(row["text"], chooser) for row in batch]}, index, config
                )
                flagged += sum(verdict.contaminated for verdict in verdicts)
            lines.append(
                [
                    name,
                    disguise,
                    f"{found / len(positives):.1%} ({found}/{len(positives)})",
                    f"{flagged / len(negatives):.1%} ({flagged}/{len(negatives)})",
                ]
            )
    print(f"{args.half} half: {len(positives)} verbatim benchmark questions, {len(negatives)} negative rows")
    print(markdown_table(["preset", "disguise", "recall (the right item)", "FPR"], lines))


if __name__ == "__main__":
    main()
