"""A question split across two checked fields (issue 25): each row's checked fields are also matched as one text,
with the evidence placed back into the fields it came from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import medrl
from conftest import TRAINING, invoke
from medrl.benchmarks.pack import BenchmarkPack
from medrl.detection.decide import Match
from medrl.detection.joined import JOINED, JoinedTexts

HUATUO = json.loads((TRAINING / "huatuogpt_o1_demo.json").read_text(encoding="utf-8")) if TRAINING.is_dir() else []
MEDQA_DEV = json.loads((TRAINING / "medqa_dev.json").read_text(encoding="utf-8")) if TRAINING.is_dir() else []


def short_medmcqa(pack: BenchmarkPack, count: int) -> list:
    """Short MedMCQA questions (at most 12 words), which match only whole."""
    return [item for item in pack.items if item.benchmark == "medmcqa" and len(item.question.split()) <= 12][:count]


def halves(question: str) -> dict:
    words = question.split(" ")
    return {"question": " ".join(words[: len(words) // 2]), "context": " ".join(words[len(words) // 2 :])}


def run(rows: list[dict], pack: Path, out: Path, **changes: object) -> tuple[medrl.Report, list[dict]]:
    source = out.parent / f"{out.name}.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    config = medrl.preset().replace(fields=("question", "context"), options_field=None, **changes)
    report = medrl.decontaminate(source, pack, out, config=config)
    removed = [json.loads(line) for line in (out / "removed.jsonl").read_text(encoding="utf-8").splitlines()]
    return report, removed


def test_a_question_split_across_two_fields_is_found(full_pack: BenchmarkPack, tmp_path: Path) -> None:
    items = short_medmcqa(full_pack, 20)
    rows = [halves(item.question) for item in items]
    report, removed = run(rows, full_pack.path, tmp_path / "joined")
    assert report.removed_rows == len(rows)
    assert report.config["join_fields"] is True
    across = 0  # rows whose evidence runs across the cut, placed in both fields
    for row in removed:
        position = row["contamination"][0]["input_row"]
        assert items[position].item_id in {match["item_id"] for match in row["contamination"]}
        for match in row["contamination"]:
            assert match["field"] in ("question", "context")  # a field of the row, never the joined text
            start, end = match["row_span"]
            assert rows[position][match["field"]][start:end] == match["evidence"]
        across += {match["field"] for match in row["contamination"]} == {"question", "context"}
    assert across > 0
    assert sum(report.by_field.values()) >= len(rows)

    apart, _ = run(rows, full_pack.path, tmp_path / "apart", join_fields=False)
    assert apart.removed_rows < len(rows) // 2  # each half alone is not the question


def test_rows_with_unrelated_fields_are_not_flagged(full_pack_dir: Path, tmp_path: Path) -> None:
    """Real training questions beside their own reasoning or answer, or beside another training question: joining
    flags no row that its fields apart do not (rows reused from a benchmark are flagged either way)."""
    rows = [{"question": row["question"], "context": row["Complex_CoT"]} for row in HUATUO[100:140]]
    rows += [{"question": row["question"], "context": row["answer"]} for row in MEDQA_DEV[600:640]]
    pairs = zip(MEDQA_DEV[700:740], HUATUO[:40], strict=True)
    rows += [{"question": first["question"], "context": second["question"]} for first, second in pairs]
    joined = run(rows, full_pack_dir, tmp_path / "joined")[1]
    apart = run(rows, full_pack_dir, tmp_path / "apart", join_fields=False)[1]
    positions = [[row["contamination"][0]["input_row"] for row in removed] for removed in (joined, apart)]
    assert positions[0] == positions[1] and len(positions[0]) < len(rows) // 10
    clean = [{"question": MEDQA_DEV[3]["question"], "context": MEDQA_DEV[3]["answer"]}]
    clean.append({"question": HUATUO[109]["question"], "context": HUATUO[109]["Complex_CoT"]})
    assert run(clean, full_pack_dir, tmp_path / "clean")[0].removed_rows == 0


def test_one_checked_field_is_never_joined(full_pack: BenchmarkPack, tmp_path: Path) -> None:
    """A single --field, even a chat whose messages are several texts, is checked as before: messages apart."""
    item = short_medmcqa(full_pack, 1)[0]
    parts = halves(item.question)
    chat = {"messages": [{"role": "user", "content": parts["question"]}, {"role": "user", "content": parts["context"]}]}
    source = tmp_path / "chat.jsonl"
    source.write_text(json.dumps(chat) + "\n", encoding="utf-8")
    report = medrl.decontaminate(source, full_pack.path, tmp_path / "out", fields=["messages"])
    assert report.removed_rows == 0
    assert not medrl.preset().replace(fields=("messages",)).joins_fields()


def test_joining_is_turned_off_in_a_config_file(full_pack: BenchmarkPack, tmp_path: Path) -> None:
    rows = [halves(item.question) for item in short_medmcqa(full_pack, 5)]
    source = tmp_path / "split.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    removed = {}
    for join in ("true", "false"):
        config = tmp_path / f"{join}.toml"
        config.write_text(
            f'input = "split.jsonl"\npack = "{full_pack.path}"\nout = "out-{join}"\n'
            f'fields = ["question", "context"]\noptions_field = "none"\njoin_fields = {join}\n',
            encoding="utf-8",
        )
        result = invoke("decontaminate", "--config", config)
        assert result.exit_code == 0, result.output
        report = json.loads((tmp_path / f"out-{join}" / "report.json").read_text(encoding="utf-8"))
        assert report["config"]["join_fields"] is (join == "true")
        removed[join] = report["removed_rows"]
    assert removed["true"] == len(rows) > removed["false"]


def _match(span: tuple[int, int] | None, evidence: str, field: str = JOINED) -> Match:
    return Match("b", "test", "1", "coverage", 90.0, evidence, field, span, (0, 5))


@pytest.mark.parametrize(
    ("span", "placed"),
    [
        ((0, 3), [("question", (0, 3), "abc")]),
        ((5, 9), [("context", (1, 5), "efgh")]),
        ((2, 7), [("question", (2, 3), "c"), ("context", (0, 3), "def")]),
        (None, [("question", None, "shared options"), ("context", None, "shared options")]),
    ],
)
def test_joined_matches_are_placed_into_the_fields(span: tuple[int, int] | None, placed: list[tuple]) -> None:
    joined = JoinedTexts.of({"question": ["abc", "x"], "context": {0: "defgh", 1: "  "}}, 2)
    assert joined.texts == {0: "abc\ndefgh"}  # the second row has one non-blank text: nothing to join
    evidence = joined.texts[0][span[0] : span[1]] if span else "shared options"
    found = [(match.field, match.row_span, match.evidence) for match in joined.place(0, _match(span, evidence))]
    assert found == placed


def test_a_joined_match_a_field_already_shows_is_dropped() -> None:
    joined = JoinedTexts.of({"question": ["abc"], "context": ["defgh"]}, 1)
    alone, both = _match((0, 3), "abc", "question"), _match((2, 7), "c\ndef")
    found, fields = joined.placed([[(7, alone), (7, both), (8, both)]], [{"question": None, JOINED: None}])
    assert [(item, match.field) for item, match in found[0]] == [(7, "question"), (8, "question"), (8, "context")]
    assert list(fields[0]) == ["question", "context"]
