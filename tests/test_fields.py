"""Checked fields as people hold their data: chat messages (OpenAI/HF and ShareGPT layouts, content parts), nested
paths into JSON objects and Parquet structs, and medrl's own verl and TRL exports checked again."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import medrl
from conftest import REPO, invoke
from medrl.detection.fields import FieldPath, FieldText, field_texts_of
from medrl.errors import MedrlError

EXAMPLES = REPO / "examples"
TRAIN = EXAMPLES / "training" / "demo_train.jsonl"


def demo_rows() -> list[dict]:
    return [json.loads(line) for line in TRAIN.read_text(encoding="utf-8").splitlines()]


def chat_row(row: dict, parts: bool = True) -> dict:
    """A demo row as a chat: a system prompt, the question (with its options; as content parts, or a string for
    Parquet, whose columns hold one type), an answer."""
    question = row["question"] + "\n" + "\n".join(row["options"])
    return {
        "messages": [
            {"role": "system", "content": "You are a careful physician."},
            {"role": "user", "content": [{"type": "text", "text": question}] if parts else question},
            {"role": "assistant", "content": "The answer is \\boxed{B}."},
        ],
        "extra_info": {"question": row["question"], "source": row["source"]},
    }


@pytest.mark.parametrize(
    ("text", "column", "steps"),
    [
        ("question", "question", ()),
        ("extra_info.question", "extra_info", ("question",)),
        ("prompt[0].content", "prompt", (0, "content")),
        ("a.b[2][1].c", "a", ("b", 2, 1, "c")),
    ],
)
def test_field_paths_parse(text: str, column: str, steps: tuple) -> None:
    assert FieldPath.parse(text) == FieldPath(text, column, steps)


def test_a_column_named_with_a_dot_is_taken_whole() -> None:
    assert FieldPath.parse("v1.question", ["v1.question"]).steps == ()


@pytest.mark.parametrize("text", ["prompt[x]", "[0].content", "a..b", "a.[0]", "a[0"])
def test_malformed_paths_are_one_clear_error(text: str) -> None:
    with pytest.raises(MedrlError, match="is not a column or a path"):
        FieldPath.parse(text)


def test_values_become_texts() -> None:
    openai = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "Q?"}]
    assert field_texts_of(openai, "m") == [FieldText("m[0]", "system", "be brief"), FieldText("m[1]", "user", "Q?")]
    sharegpt = [{"from": "human", "value": "Q?"}, {"from": "gpt", "value": "A."}]
    assert [(t.role, t.text) for t in field_texts_of(sharegpt, "c")] == [("user", "Q?"), ("assistant", "A.")]
    parts = [{"type": "text", "text": "one"}, {"type": "image_url", "image_url": {}}, {"type": "text", "text": "two"}]
    assert field_texts_of([{"role": "user", "content": parts}], "m") == [FieldText("m[0]", "user", "one\ntwo")]
    assert field_texts_of(parts, "p") == [FieldText("p", None, "one\ntwo")]
    assert field_texts_of(None, "q") == [FieldText("q", None, "")] == field_texts_of([], "q")
    assert field_texts_of(3.5, "q") == [FieldText("q", None, "3.5")]
    assert field_texts_of(["A", "B"], "q") == "a list of other values"
    assert field_texts_of({"a": 1}, "q") == "a dict"


def test_chat_messages_are_checked_one_by_one(tmp_path: Path, example_pack: Path) -> None:
    rows = demo_rows()
    chat = tmp_path / "chat.jsonl"
    chat.write_text("".join(json.dumps(chat_row(row)) + "\n" for row in rows), encoding="utf-8")
    flat = medrl.decontaminate(TRAIN, example_pack, tmp_path / "flat")
    report = medrl.decontaminate(chat, example_pack, tmp_path / "chat", fields=["messages"])
    assert report.removed_rows >= flat.removed_rows > 0
    removed = [json.loads(line) for line in (tmp_path / "chat" / "removed.jsonl").read_text().splitlines()]
    planted = {i for i, row in enumerate(rows) if "planted" in row["source"]}
    found = {row["contamination"][0]["input_row"] for row in removed}
    assert planted <= found
    for row in removed:  # evidence names the message and its role; its span points into that message's text
        match = next(m for m in row["contamination"] if m["method"] == "coverage")
        assert match["field"] == "messages[1] (user)"
        start, end = match["row_span"]
        assert row["messages"][1]["content"][0]["text"][start:end] == match["evidence"]
    # The column is written back unchanged, every row in exactly one output.
    clean = [json.loads(line) for line in (tmp_path / "chat" / "clean.jsonl").read_text().splitlines()]
    originals = [chat_row(row) for row in rows]
    assert sorted(map(json.dumps, clean + [{k: v for k, v in r.items() if k != "contamination"} for r in removed])) == (
        sorted(map(json.dumps, originals))
    )
    # Only the assistant's turns: none holds a question.
    only = medrl.decontaminate(chat, example_pack, tmp_path / "assistant", config=report_config("assistant"))
    assert only.removed_rows == 0


def report_config(*roles: str) -> medrl.DecontaminationConfig:
    return medrl.preset().replace(fields=("messages",), roles=roles)


def test_sharegpt_roles_and_the_roles_flag(tmp_path: Path, example_pack: Path) -> None:
    rows = demo_rows()
    shared = tmp_path / "sharegpt.jsonl"
    lines = [
        {"conversations": [{"from": "human", "value": "Help me study."}, {"from": "gpt", "value": row["question"]}]}
        for row in rows
    ]
    shared.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    args = ("decontaminate", shared, "--pack", example_pack, "--field", "conversations", "-q")
    assert invoke(*args, "--out", tmp_path / "user", "--roles", "user").exit_code == 0
    assert json.loads((tmp_path / "user" / "report.json").read_text())["removed_rows"] == 0
    assert invoke(*args, "--out", tmp_path / "gpt", "--roles", "assistant").exit_code == 0
    report = json.loads((tmp_path / "gpt" / "report.json").read_text())
    assert report["removed_rows"] > 0 and report["config"]["roles"] == ["assistant"]


def test_nested_paths_in_jsonl_and_parquet(tmp_path: Path, example_pack: Path) -> None:
    """A nested path finds what the same text finds as a flat column, in JSONL objects and Parquet structs/lists."""
    rows = [chat_row(row, parts=False) for row in demo_rows()]
    jsonl = tmp_path / "nested.jsonl"
    jsonl.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    parquet = tmp_path / "nested.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet)
    flat = tmp_path / "flat.jsonl"
    flat_rows = [{"question": row["extra_info"]["question"], "turn": row["messages"][1]["content"]} for row in rows]
    flat.write_text("".join(json.dumps(row) + "\n" for row in flat_rows), encoding="utf-8")
    for nested, column in (("extra_info.question", "question"), ("messages[1].content", "turn")):
        expected = medrl.decontaminate(flat, example_pack, tmp_path / f"flat-{column}", config=checking(column))
        assert expected.removed_rows > 0
        for path in (jsonl, parquet):
            out = tmp_path / f"{column}{path.suffix}"
            assert medrl.decontaminate(path, example_pack, out, config=checking(nested)).removed_rows == (
                expected.removed_rows
            )


def checking(field: str) -> medrl.DecontaminationConfig:
    return medrl.preset().replace(fields=(field,), options_field=None)


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("extra_info.nope", r"line 1: no 'extra_info.nope' in this row; check the path"),
        ("messages[7].content", r"line 1: no 'messages\[7\]' in this row \(for --field 'messages\[7\].content'\)"),
        ("extra_info", r"line 1: 'extra_info' holds a dict, not text or chat messages"),
        ("nope.question", r"no column 'nope'"),
    ],
)
def test_a_missing_path_is_one_line_before_the_pack_is_read(
    tmp_path: Path, example_pack: Path, field: str, message: str
) -> None:
    chat = tmp_path / "chat.jsonl"
    chat.write_text(json.dumps(chat_row(demo_rows()[0])) + "\n", encoding="utf-8")
    result = invoke("decontaminate", chat, "--pack", tmp_path / "no-pack", "--out", tmp_path / "o", "--field", field)
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output
    with pytest.raises(MedrlError, match=message):
        medrl.decontaminate(chat, example_pack, tmp_path / "o", fields=[field])


def test_medrl_checks_its_own_verl_and_trl_exports(tmp_path: Path, example_pack: Path) -> None:
    """Build against a pack that lacks MedQA (so MedQA questions stay in the exports), then check the verl and TRL
    exports' chat prompts against the full example pack: both find what the flat problems hold."""
    benchmarks = tmp_path / "benchmarks"
    shutil.copytree(EXAMPLES / "benchmarks" / "pubmedqa", benchmarks / "pubmedqa")
    medrl.import_benchmarks(benchmarks, tmp_path / "small", allow_partial=True)
    result = invoke(
        "build", "--config", EXAMPLES / "build.toml", "--pack", tmp_path / "small", "--out", tmp_path / "rl"
    )
    assert result.exit_code == 0, result.output
    found = {}
    for export, field in (("parquet", "problem"), ("verl", "prompt"), ("trl", "prompt")):
        source = tmp_path / "rl" / export / "train.parquet"
        report = medrl.decontaminate(source, example_pack, tmp_path / f"check-{export}", fields=[field])
        found[export] = report.removed_rows
        if export != "parquet":
            removed = pq.read_table(tmp_path / f"check-{export}" / "removed.parquet").to_pylist()
            assert {m["field"] for row in removed for m in row["contamination"]} == {"prompt[0] (user)"}
            assert pq.read_table(source).schema == pq.read_table(tmp_path / f"check-{export}" / "clean.parquet").schema
    assert found["verl"] == found["trl"] == found["parquet"] > 0


def test_matches_are_counted_per_field(tmp_path: Path, example_pack: Path) -> None:
    """A benchmark question restated inside a reasoning trace shows in the report's counts per field."""
    rows = demo_rows()
    planted = [row for row in rows if "planted" in row["source"]]
    mixed = tmp_path / "reasoning.jsonl"
    lines = [
        {"question": "Which nerve is injured?", "reasoning": f"Recall the exam item: {row['question']} So, B."}
        for row in planted
    ] + [{"question": row["question"], "reasoning": "Think step by step."} for row in planted[:2]]
    mixed.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    fields = ("--field", "question", "--field", "reasoning", "--options-field", "none")
    result = invoke("decontaminate", mixed, "--pack", example_pack, "--out", tmp_path / "o", *fields)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["removed_rows"] == len(lines)
    assert report["by_field"] == {"question": 2, "reasoning": len(planted)}
    assert f"by field {{'question': 2, 'reasoning': {len(planted)}}}" in result.output.replace("\n", " ")


def test_a_short_question_pasted_into_a_long_document_is_found_but_not_its_words_in_a_sentence(
    tmp_path: Path, example_pack: Path
) -> None:
    """A short benchmark question on a line of its own inside a long text is a copy (found however long the text);
    the same words inside a running sentence are not."""
    question = "Which of the following is not true for myelinated nerve fibers:"
    abstracts = [
        json.loads(line)["question"]
        for line in (REPO.parent / "shared" / "data" / "training" / "pubmedqa_trainpool.jsonl").read_text().splitlines()
    ][:25]
    document = "\n\n".join(abstracts)
    assert len(document.split()) > 5000
    pasted = "\n\n".join([*abstracts[:12], question, *abstracts[12:]])
    said = "Students often ask which of the following is not true for myelinated nerve fibers: the answer"
    sentence = f"{document}\n\n{said} {'depends on the fibre ' * 12}"
    source = tmp_path / "long.jsonl"
    rows = [{"text": document}, {"text": pasted}, {"text": sentence}]
    source.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    config = medrl.preset().replace(fields=("text",), options_field=None)
    report = medrl.decontaminate(source, example_pack, tmp_path / "out", config=config)
    removed = [json.loads(line) for line in (tmp_path / "out" / "removed.jsonl").read_text().splitlines()]
    assert report.removed_rows == 1 and removed[0]["text"] == pasted
    evidence = removed[0]["contamination"][0]["evidence"]
    assert evidence and evidence in question


def test_a_row_with_thousands_of_messages_costs_its_own_messages(tmp_path: Path, example_pack: Path) -> None:
    """Messages are checked per row that has them: one hostile row of 20,000 messages beside ordinary rows is
    checked whole (a question in its last message is found) without every other row paying for its length."""
    rows = demo_rows()
    planted = next(row for row in rows if "planted" in row["source"])
    long_chat = [{"role": "user", "content": f"Message {i}."} for i in range(20_000)]
    long_chat.append({"role": "user", "content": planted["question"]})
    chats = [chat_row(row) for row in rows[:150]] + [{"messages": long_chat, "extra_info": {}}]
    source = tmp_path / "chats.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in chats), encoding="utf-8")
    report = medrl.decontaminate(source, example_pack, tmp_path / "out", fields=["messages"])
    removed = [json.loads(line) for line in (tmp_path / "out" / "removed.jsonl").read_text().splitlines()]
    last = next(row for row in removed if row["contamination"][0]["input_row"] == len(chats) - 1)
    assert {match["field"] for match in last["contamination"]} == {"messages[20000] (user)"}
    assert report.input_rows == len(chats)
