"""Long texts are checked paragraph by paragraph as well as whole: a cut or reworded benchmark question restated in a
reasoning trace is found with its evidence placed in the trace, and the trace's other paragraphs flag nothing."""

from __future__ import annotations

import json

import pytest

from conftest import MEDRL, TRAINING
from medrl.config import preset
from medrl.detection.paragraphs import MIN_PARAGRAPH_WORDS, split_paragraphs
from medrl.detection.runner import detect_batch


@pytest.fixture(scope="module")
def traces() -> list[str]:
    """Real medical reasoning traces (HuatuoGPT-o1's `Complex_CoT`), several paragraphs each."""
    rows = json.loads((TRAINING / "huatuogpt_o1_demo.json").read_text(encoding="utf-8"))
    return [row["Complex_CoT"] for row in rows if row["Complex_CoT"].count("\n\n") >= 4][:20]


def restated(trace: str, text: str) -> tuple[str, int]:
    """`trace` with `text` as a paragraph of its own in the middle, and where `text` starts."""
    paragraphs = trace.split("\n\n")
    middle = len(paragraphs) // 2
    head = "\n\n".join([*paragraphs[:middle], "Let me restate it:"]) + "\n\n"
    return head + text + "\n\n" + "\n\n".join(paragraphs[middle:]), len(head)


def test_paragraphs_and_where_they_start() -> None:
    long = " ".join(["word"] * MIN_PARAGRAPH_WORDS)
    text = f"  {long}\n \n\nshort one\n\n{long} end\n"
    found = split_paragraphs({"reasoning": [text, long, "no breaks at all"]})
    assert set(found.parent.values()) == {"reasoning"}
    assert [column[0] for column in found.texts.values()] == [long, f"{long} end"]  # "short one" is too short
    for name, column in found.texts.items():
        start = found.start[name][0]
        assert text[start : start + len(column[0])] == column[0]
        assert 1 not in column and 2 not in column  # one paragraph only: nothing to split
    # A sparse column (a chat's i-th message) keeps its rows' offsets.
    assert list(split_paragraphs({"messages[2]": {5: text}}).texts["messages[2]¶0"]) == [5]


def test_a_paragraph_takes_the_options_listed_after_it() -> None:
    question = " ".join(["which"] * MIN_PARAGRAPH_WORDS)
    found = split_paragraphs({"q": [f"{question}\n\nA. Aspirin\nB. Heparin\n\nThe answer is B.", question]})
    (column,) = found.texts
    assert found.options(column, 2)[0] == frozenset({"aspirin", "heparin"})


def test_a_cut_vignette_inside_a_reasoning_trace_is_found_and_placed(medrl_index, pack_items, traces) -> None:
    item = pack_items[("medqa", "0")]
    # The first 40% of a vignette: found as a row of its own, and a small share of a whole trace (not found there).
    cut = " ".join(item.question.split()[: len(item.question.split()) * 4 // 10])
    found_in = 0
    for trace in traces:
        text, start = restated(trace, cut)
        (verdict,), _ = detect_batch({"messages[2]": {0: text}}, medrl_index, MEDRL, row_count=1)
        if not verdict.contaminated:
            continue
        found_in += 1
        match = next(m for m in verdict.matches if (m.benchmark, m.item_id) == ("medqa", "0"))
        assert match.field == "messages[2]" and verdict.fields == ("messages[2]",)
        row_start, row_end = match.row_span
        assert start <= row_start < row_end <= start + len(cut)
        assert text[row_start:row_end] == match.evidence
    assert found_in == len(traces)


def test_the_seed_method_never_looks_at_paragraphs() -> None:
    """ii-medical-rl reproduces its reference (8-grams and fuzz.ratio of the whole text): neither stage takes
    paragraphs, and both are position-free or whole-text by definition."""
    assert not any(stage.checks_paragraphs for stage in preset("ii-medical-rl").enabled())
    assert {stage.name for stage in MEDRL.enabled() if stage.checks_paragraphs} == {"coverage", "rewrite"}


def test_reasoning_traces_alone_flag_nothing(medrl_index, traces) -> None:
    verdicts, _ = detect_batch({"reasoning": traces}, medrl_index, MEDRL)
    assert not any(verdict.contaminated for verdict in verdicts)
