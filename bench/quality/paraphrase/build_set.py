"""Build the labelled paraphrase set (deterministic) from the shared files and adjudication.csv.

    python bench/quality/paraphrase/build_set.py [DATA] [--out .cache/paraphrase.jsonl]

One JSON object per training-side row of the four files in rows.TRAIN_FILES:
    {"id": "FILE:ROW", "file", "row", "label", "half", "text", "options": [[letter, text], ...],
     "targets": [{"benchmark", "item_id"}, ...], "exclude": [benchmark, ...], "reasons": [...]}
Row labels come from the pairs read for that row (adjudication.csv): paraphrase > copy > unsure/not_read/other_copy
(left out) > sibling > negative. Rows with no adjudicated pair were below every mining threshold ("far") and are
negatives. `exclude` names the benchmarks the row comes from, which the evaluation pack leaves out.
"""

from __future__ import annotations

import csv
import sys
from collections import Counter, defaultdict
from pathlib import Path

from rows import (
    ADJUDICATION,
    DEFAULT_PACK,
    DEFAULT_SET,
    HERE,
    TRAIN_FILES,
    builder_parser,
    load_entries,
    row_half,
    write_jsonl,
)

# bench/quality's adjudication found these training rows reused verbatim in a benchmark outside this set's targets
# (HuatuoGPT-o1 demo rows copied from MedMCQA): not paraphrases, not negatives either.
OLD_ADJUDICATION = HERE.parent / "adjudication.csv"
PRIORITY = ("paraphrase", "copy", "unsure", "not_read", "other_copy", "sibling", "unrelated")
EXCLUDED = {"unsure", "not_read", "other_copy"}


def read_decisions(path: Path) -> dict[tuple[str, str], list[dict]]:
    decisions: dict[tuple[str, str], list[dict]] = defaultdict(list)
    with path.open(encoding="utf-8", newline="") as handle:
        for line in csv.DictReader(handle):
            decisions[(line["train_file"], line["train_row"])].append(line)
    with OLD_ADJUDICATION.open(encoding="utf-8", newline="") as handle:
        for line in csv.DictReader(handle):
            if line["decision"] == "reuse" and line["benchmark"] not in ("medxpertqa", "medbullets_op4"):
                decision = {**line, "decision": "other_copy", "reason": f"bench/quality: {line['reason']}"}
                decisions[(f"training/{line['training_file']}", line["row"])].append(decision)
    return decisions


def build(data: Path, pack: Path, adjudication: Path = ADJUDICATION) -> list[dict]:
    rows, targets = load_entries(data, pack)
    known = {(t.source, t.key) for t in targets}
    decisions = read_decisions(adjudication)
    out = []
    for row in rows:
        pairs = decisions.get((row.source, row.key), [])
        found = {pair["decision"] for pair in pairs}
        decision = next((d for d in PRIORITY if d in found), "far")
        label = {"unrelated": "negative", "far": "negative"}.get(decision, decision)
        positive = [p for p in pairs if p["decision"] in ("paraphrase", "copy")]
        for pair in positive:
            if (pair["benchmark"], pair["item_id"]) not in known:
                raise SystemExit(f"adjudication.csv names an unknown item: {pair['benchmark']} {pair['item_id']}")
        row_id = f"{row.source}:{row.key}"
        out.append(
            {
                "id": row_id,
                "file": row.source,
                "row": int(row.key),
                "label": label,
                "half": row_half(row_id),
                "text": row.stem,
                "options": [list(option) for option in row.options],
                "targets": [{"benchmark": p["benchmark"], "item_id": p["item_id"]} for p in positive],
                "exclude": list(TRAIN_FILES[row.source]),
                "reasons": sorted({p["reason"] for p in pairs if p["decision"] == decision}),
            }
        )
    return out


def main(argv: list[str] | None = None) -> Path:
    args = builder_parser(__doc__, DEFAULT_SET, DEFAULT_PACK).parse_args(argv)
    rows = build(args.data, args.pack)
    write_jsonl(args.out, rows)
    counts = Counter((row["label"], row["half"]) for row in rows)
    for (label, which), count in sorted(counts.items()):
        print(f"{label:11} {which:9} {count}", file=sys.stderr)
    print(f"{args.out}: {len(rows)} rows", file=sys.stderr)
    return args.out


if __name__ == "__main__":
    main()
