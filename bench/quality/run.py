"""Measure detection quality on the labelled contamination set.

    python bench/quality/run.py [--set PATH] [--pack PATH] [--preset NAME ...] [--json OUT] [--misses METHOD]

Builds the set (and a pack of every shared benchmark) under bench/quality/.cache when missing, runs medrl's pure
`detect_batch` with each method on the rows' `text`, and prints per kind: recall for positive kinds, false-positive
rate for negative kinds, plus overall recall / FPR and, for `default`, the target hit rate (the flagged row names
the right benchmark item, or an item with the identical question text), and per rule (a stage, or one of the
rewrite stage's rules) how many positives it finds and how many negatives it flags.

Every row belongs to one of two halves by a stable hash of its kind and text: `tune` (thresholds may be chosen
looking at it) and `held-out` (never used to choose a threshold). The tables are printed per half; quote held-out.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    DEFAULT_PACK,
    DEFAULT_SET,
    ensure_pack,
    harness_parser,
    markdown_table,
    rules_of,
    rules_table,
    with_embedding_model,
)


def methods(extra: list[str], embedding_model: str) -> dict[str, object]:
    from medrl.config import DEFAULT_PRESET, preset

    seed = preset("ii-medical-rl")
    configs = {
        "ii-medical-rl": seed,
        "8-gram only": seed.replace(fuzzy=None),
        "fuzzy only": seed.replace(ngram=None),
        "default": preset(DEFAULT_PRESET),
    }
    for name in extra:
        configs[name] = with_embedding_model(preset(name), embedding_model)
    return configs


def _key(config) -> str:
    """A config's detection settings (results do not depend on the name, batch size or workers)."""
    settings = config.to_dict()
    for name in ("preset", "batch_size", "workers", "max_matches_per_row"):
        settings.pop(name, None)
    return json.dumps(settings, sort_keys=True)


def evaluate(rows: list[dict], pack: Path, configs: dict) -> tuple[dict, dict]:
    from medrl.benchmarks.pack import load_pack
    from medrl.detection.index import build_index
    from medrl.detection.runner import detect_batch
    from medrl.detection.text import folded_options

    items = load_pack(pack).items
    texts = [row["text"] for row in rows]
    # Each row's own options, as a training file's options column would give them (option-aware stages use them).
    options = [folded_options(row.get("options") or []) for row in rows]
    cache: dict[str, list] = {}
    verdicts, seconds = {}, {}
    for name, config in configs.items():
        key = _key(config)
        started = time.perf_counter()
        if key not in cache:
            index = build_index(items, config)
            found = []
            for start in range(0, len(texts), config.batch_size):
                end = start + config.batch_size
                batch, _ = detect_batch({"text": texts[start:end]}, index, config, {"text": options[start:end]})
                found.extend(batch)
            cache[key] = found
        verdicts[name] = cache[key]
        seconds[name] = round(time.perf_counter() - started, 2)
        print(f"{name}: {seconds[name]}s", file=sys.stderr)
    # Per rule: every stage run on every row and every match kept (decisions are the same), for `default`.
    rules_config = configs["default"].replace(run_all_stages=True, max_matches_per_row=0)
    index = build_index(items, rules_config)
    rules: list[set[str]] = []
    for start in range(0, len(texts), rules_config.batch_size):
        end = start + rules_config.batch_size
        batch, _ = detect_batch({"text": texts[start:end]}, index, rules_config, {"text": options[start:end]})
        rules.extend(rules_of(verdict.matches) for verdict in batch)
    # Items that share a target's question text (MedQA 4/5-option, MedBullets op4/op5) count as the target.
    by_question = defaultdict(set)
    for index, item in enumerate(items):
        by_question[item.question].add(index)
    position = {(item.benchmark, item.item_id): index for index, item in enumerate(items)}
    targets = []
    for row in rows:
        target = row.get("target")
        if target:
            targets.append(by_question[items[position[(target["benchmark"], target["item_id"])]].question])
        else:
            targets.append(set())
    return verdicts, {"seconds": seconds, "targets": targets, "rules": rules}


def table(rows: list[dict], verdicts: dict, targets: list[set]) -> dict:
    kinds: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        kinds[(row["label"], row["kind"])].append(i)
    result = {"kinds": {}, "overall": {}}
    for (label, kind), members in sorted(kinds.items()):
        entry = {"label": label, "count": len(members), "rates": {}}
        for name, found in verdicts.items():
            entry["rates"][name] = sum(found[i].contaminated for i in members) / len(members)
        if label == "positive":
            hits = [i for i in members if targets[i] & set(verdicts["default"][i].items)]
            entry["target_hit_rate"] = len(hits) / len(members)
        result["kinds"][kind] = entry
    for label, metric in (("positive", "recall"), ("negative", "fpr")):
        members = [i for i, row in enumerate(rows) if row["label"] == label]
        entry = {"count": len(members), "rates": {}}
        for name, found in verdicts.items():
            entry["rates"][name] = sum(found[i].contaminated for i in members) / len(members)
        if label == "positive":
            entry["target_hit_rate"] = sum(bool(targets[i] & set(verdicts["default"][i].items)) for i in members) / len(
                members
            )
        # Macro average over kinds: every kind weighs the same whatever its size.
        per_kind = [e["rates"] for e in result["kinds"].values() if e["label"] == label]
        entry["macro"] = {name: sum(r[name] for r in per_kind) / len(per_kind) for name in verdicts}
        result["overall"][metric] = entry
    return result


HALVES = ("held-out", "tune")


def half_of(row: dict) -> str:
    """A row's half, stable whatever else the set holds (so adding rows never moves one between halves)."""
    digest = hashlib.sha256(f"{row['kind']}\n{row['text']}".encode()).digest()
    return HALVES[digest[0] % 2]


def render(result: dict, names: list[str]) -> str:
    head = ["kind", "label", "n", *names, "target hit (default)"]
    lines = []
    for kind, entry in result["kinds"].items():
        rates = [f"{entry['rates'][n]:.1%}" for n in names]
        hit = f"{entry['target_hit_rate']:.1%}" if "target_hit_rate" in entry else ""
        lines.append([kind, "recall" if entry["label"] == "positive" else "FPR", str(entry["count"]), *rates, hit])
    for metric, entry in result["overall"].items():
        name = "overall recall" if metric == "recall" else "overall FPR"
        hit = f"{entry['target_hit_rate']:.1%}" if "target_hit_rate" in entry else ""
        lines.append([name, "", str(entry["count"]), *[f"{entry['rates'][n]:.1%}" for n in names], hit])
        lines.append([name.replace("overall", "macro"), "", "", *[f"{entry['macro'][n]:.1%}" for n in names], ""])
    return markdown_table(head, lines)


def main(argv: list[str] | None = None) -> dict:
    parser = harness_parser(__doc__, DEFAULT_SET, DEFAULT_PACK)
    parser.add_argument("--preset", action="append", default=[], help="extra preset to measure (repeatable)")
    parser.add_argument("--misses", metavar="METHOD", help="list the rows METHOD gets wrong")
    args = parser.parse_args(argv)

    ensure_pack(args.data, args.pack)
    if not args.set.exists():
        import build_set

        build_set.main([str(args.data), "--out", str(args.set), "--pack", str(args.pack)])
    rows = [json.loads(line) for line in args.set.read_text(encoding="utf-8").split("\n") if line.strip()]
    configs = methods(args.preset, args.embedding_model)
    if args.misses and args.misses not in configs:
        parser.error(f"--misses {args.misses!r}: not one of {', '.join(configs)}")
    verdicts, extra = evaluate(rows, args.pack, configs)
    result = {"halves": {}, "seconds": extra["seconds"], "set": {"path": str(args.set), "rows": len(rows)}}
    for half in HALVES:
        members = [i for i, row in enumerate(rows) if half_of(row) == half]
        picked = {name: [found[i] for i in members] for name, found in verdicts.items()}
        result["halves"][half] = table([rows[i] for i in members], picked, [extra["targets"][i] for i in members])
        print(f"\n### {half} half ({len(members)} rows)\n")
        print(render(result["halves"][half], list(configs)))
        groups = {
            label: [extra["rules"][i] for i in members if rows[i]["label"] == kind]
            for label, kind in (("positives found", "positive"), ("negatives flagged", "negative"))
        }
        print(f"\nPer rule (`default`, {half} half): rows with a match of the rule\n")
        print(rules_table(groups))
        result["halves"][half]["rules"] = {
            label: {"n": len(found), "by_rule": dict(Counter(rule for rules in found for rule in rules))}
            for label, found in groups.items()
        }
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if args.misses:
        found = verdicts[args.misses]
        wrong = [r for i, r in enumerate(rows) if found[i].contaminated != (r["label"] == "positive")]
        print(f"\n{args.misses}: {len(wrong)} rows wrong")
        for row in wrong:
            text = " ".join(row["text"].split())[:150]
            print(f"{row['id']}\t{row['kind']}\t{text}")
    return result


if __name__ == "__main__":
    main()
