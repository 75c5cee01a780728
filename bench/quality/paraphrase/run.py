"""Measure medrl's presets on the labelled paraphrase set, per half, with and without the rows' options.

    python bench/quality/paraphrase/run.py [--preset NAME ...] [--json OUT] [--flagged PRESET]
                                           [--semantic-setting KEY=VALUE ...]

Each row is checked as a training row would be: its question stem as the text, and (mode "options") its options as
the options column. The pack is every shared benchmark except the ones the row comes from (a MedQA test row is
trivially in the pack as MedQA; MedBullets rows leave out op4 and op5). Per half (tune / held-out) it prints:
recall on paraphrases (any flag) and the share flagged on a right item (an adjudicated target, or an item with the
same question text), recall on near-verbatim copies, and the false-positive rate on siblings and on all negatives;
then, per preset and mode, per rule (a stage, or one of the rewrite stage's rules) how many held-out rows of each
label it flags.
A flag on a sibling or a negative counts as a false positive whatever item it names: none of these rows was found
to be a copy of any pack item. `--flagged PRESET` lists the negatives and siblings that PRESET flags, and the
paraphrases it misses, to re-read. `--semantic-setting max_seq_length=96` runs the presets' semantic stage with
a setting of `SemanticConfig` changed (to measure a change on both halves before making it).
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

from rows import (
    DEFAULT_PACK,
    DEFAULT_SET,
    ensure_pack,
    harness_parser,
    markdown_table,
    rules_of,
    rules_table,
    with_embedding_model,
)

PRESETS = ("medrl", "medrl-semantic", "ii-medical-rl")
MODES = ("stem", "options")
HALVES = ("tune", "held-out", "all")
# Row labels that enter the metrics (unsure, not_read and other_copy rows are left out).
MEASURED = ("paraphrase", "copy", "sibling", "negative")
NEGATIVE = ("sibling", "negative")


def load_rows(path: Path, data: Path, pack: Path) -> list[dict]:
    if not path.exists():
        import build_set

        build_set.main([str(data), "--out", str(path), "--pack", str(pack)])
    lines = path.read_text(encoding="utf-8").split("\n")
    return [row for row in map(json.loads, filter(None, lines)) if row["label"] in MEASURED]


Found = tuple[bool, set[tuple[str, str]], set[str]]


def detect(rows: list[dict], pack: Path, config, mode: str) -> list[Found]:
    """(flagged, matched (benchmark, item_id)s, rules matched) per row, each group of rows against its own pack.
    Every stage runs on every row and every match is kept, for the per-rule table (the decisions are the same)."""
    from medrl.benchmarks.pack import load_pack
    from medrl.detection.index import build_index
    from medrl.detection.runner import detect_batch
    from medrl.detection.text import folded_options

    items = load_pack(pack).items
    config = config.replace(run_all_stages=True, max_matches_per_row=0)
    groups: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        groups[tuple(row["exclude"])].append(i)
    result: list[Found] = [(False, set(), set())] * len(rows)
    for exclude, members in groups.items():
        kept = [item for item in items if item.benchmark not in exclude]
        index = build_index(kept, config)
        for start in range(0, len(members), config.batch_size):
            batch = members[start : start + config.batch_size]
            texts = {"text": [rows[i]["text"] for i in batch]}
            options = {"text": [folded_options(rows[i]["options"]) for i in batch]} if mode == "options" else None
            verdicts, _ = detect_batch(texts, index, config, options)
            for i, verdict in zip(batch, verdicts, strict=True):
                matched = {(kept[k].benchmark, kept[k].item_id) for k in verdict.items}
                result[i] = (verdict.contaminated, matched, rules_of(verdict.matches))
    return result


def same_question_items(pack: Path) -> dict[tuple[str, str], set[tuple[str, str]]]:
    """Each item -> the items with the same question text (MedBullets op4/op5, MedQA 4/5 options count as one)."""
    from medrl.benchmarks.pack import load_pack

    by_question: dict[str, set[tuple[str, str]]] = defaultdict(set)
    items = load_pack(pack).items
    for item in items:
        by_question[item.question].add((item.benchmark, item.item_id))
    return {(item.benchmark, item.item_id): by_question[item.question] for item in items}


def rates(rows: list[dict], found: list[Found], twins: dict) -> dict[str, dict]:
    out = {}
    for which in HALVES:
        members = [i for i, row in enumerate(rows) if which in ("all", row["half"])]
        by_label = defaultdict(list)
        for i in members:
            by_label[rows[i]["label"]].append(i)
        right = [
            i
            for i in by_label["paraphrase"]
            if any(found[i][1] & twins[(t["benchmark"], t["item_id"])] for t in rows[i]["targets"])
        ]
        negatives = by_label["negative"] + by_label["sibling"]

        def share(indices: list[int]) -> float:
            return sum(found[i][0] for i in indices) / len(indices) if indices else 0.0

        out[which] = {
            "n_paraphrase": len(by_label["paraphrase"]),
            "paraphrase_recall": share(by_label["paraphrase"]),
            "paraphrase_right_item": len(right) / len(by_label["paraphrase"]) if by_label["paraphrase"] else 0.0,
            "n_copy": len(by_label["copy"]),
            "copy_recall": share(by_label["copy"]),
            "n_sibling": len(by_label["sibling"]),
            "sibling_fpr": share(by_label["sibling"]),
            "n_negative": len(negatives),
            "negative_fpr": share(negatives),
        }
    return out


def render(results: dict) -> str:
    head = ["preset", "mode", "half", "paraphrase recall", "right item", "copy recall", "sibling FPR", "negative FPR"]
    lines = []
    for (name, mode), per_half in results.items():
        for which, r in per_half.items():
            lines.append(
                [
                    name,
                    mode,
                    which,
                    f"{r['paraphrase_recall']:.1%} (n={r['n_paraphrase']})",
                    f"{r['paraphrase_right_item']:.1%}",
                    f"{r['copy_recall']:.1%} (n={r['n_copy']})",
                    f"{r['sibling_fpr']:.1%} (n={r['n_sibling']})",
                    f"{r['negative_fpr']:.2%} (n={r['n_negative']})",
                ]
            )
    return markdown_table(head, lines)


def with_semantic_settings(config, settings: list[str]):
    """`config` with its semantic stage's settings changed by KEY=VALUE texts (each parsed as the setting's type)."""
    semantic = config.settings("semantic")
    if semantic is None or not settings:
        return config
    from medrl.errors import MedrlError

    changes = {}
    for setting in settings:
        key, _, value = setting.partition("=")
        if key not in {field.name for field in dataclasses.fields(semantic)}:
            raise SystemExit(f"--semantic-setting {setting}: SemanticConfig has no setting {key!r}")
        current = getattr(semantic, key)
        try:
            changes[key] = value if isinstance(current, str) or current is None else type(current)(value)
        except ValueError:
            kind = "a whole number" if isinstance(current, int) else "a number"
            raise SystemExit(f"--semantic-setting {setting}: {key} must be {kind}") from None
    try:
        return config.replace(semantic=dataclasses.replace(semantic, **changes))
    except MedrlError as error:
        raise SystemExit(f"--semantic-setting: {error}") from None


def main(argv: list[str] | None = None) -> dict:
    from medrl.config import preset

    parser = harness_parser(__doc__, DEFAULT_SET, DEFAULT_PACK)
    parser.add_argument("--preset", action="append", help=f"repeatable; default: {', '.join(PRESETS)})")
    parser.add_argument(
        "--flagged",
        metavar="PRESET",
        help="list the negatives and siblings PRESET flags and the paraphrases it misses (both modes)",
    )
    parser.add_argument(
        "--semantic-setting",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change a setting of the semantic stage (repeatable), e.g. max_seq_length=96",
    )
    args = parser.parse_args(argv)

    ensure_pack(args.data, args.pack)
    rows = load_rows(args.set, args.data, args.pack)
    twins = same_question_items(args.pack)
    results, flagged = {}, {}
    for name in args.preset or PRESETS:
        for mode in MODES:
            started = time.perf_counter()
            config = with_embedding_model(preset(name), args.embedding_model)
            found = detect(rows, args.pack, with_semantic_settings(config, args.semantic_setting), mode)
            print(f"{name} / {mode}: {time.perf_counter() - started:.1f}s", file=sys.stderr)
            results[(name, mode)] = rates(rows, found, twins)
            flagged[(name, mode)] = found
    print(render(results))
    for (name, mode), found in flagged.items():
        held_out = [i for i, row in enumerate(rows) if row["half"] == "held-out"]
        groups = {
            title: [found[i][2] for i in held_out if rows[i]["label"] == label]
            for title, label in (
                ("paraphrases found", "paraphrase"),
                ("copies found", "copy"),
                ("siblings flagged", "sibling"),
                ("other negatives flagged", "negative"),
            )
        }
        print(f"\nPer rule ({name}, {mode}, held-out half): rows with a match of the rule\n")
        print(rules_table(groups))
    if args.json:
        payload = [{"preset": n, "mode": m, "halves": r} for (n, m), r in results.items()]
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    if args.flagged:
        for mode in MODES:
            found = flagged[(args.flagged, mode)]
            wrong = [(r, found[i][1]) for i, r in enumerate(rows) if found[i][0] and r["label"] in NEGATIVE]
            print(f"\n{args.flagged} / {mode}: {len(wrong)} negatives or siblings flagged")
            for row, matched in wrong:
                print(f"{row['id']}\t{row['label']}\t{sorted(matched)[:3]}\t{' '.join(row['text'].split())[:120]}")
            missed = [r for i, r in enumerate(rows) if not found[i][0] and r["label"] == "paraphrase"]
            print(f"\n{args.flagged} / {mode}: {len(missed)} paraphrases missed")
            for row in missed:
                print(f"{row['id']}\t{row['half']}\t{row['targets'][0]['item_id']}\t{'; '.join(row['reasons'])[:150]}")
    return results


if __name__ == "__main__":
    main()
