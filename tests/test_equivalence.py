"""The ii-medical-rl preset must equal the exhaustive reference exactly: on generated edge cases and real data."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import TRAINING, TRAINING_FILES
from medrl.benchmarks.loaders import BenchmarkItem
from medrl.config import preset
from medrl.detection.index import build_index
from medrl.detection.runner import detect_batch
from reference import fuzzy_matches_matrix, fuzzy_matches_scalar, ngram_matches

EXHAUSTIVE = preset("ii-medical-rl").replace(run_all_stages=True, max_matches_per_row=0)


def medrl_matches(rows: list[str], items: list[BenchmarkItem], config=EXHAUSTIVE) -> list[dict[str, set[int]]]:
    """Per row, {method: matched item indices} from medrl's own pipeline function."""
    index = build_index(items, config)
    position = {(item.benchmark, item.item_id): i for i, item in enumerate(items)}
    verdicts, _ = detect_batch({"question": rows}, index, config)
    found = []
    for verdict in verdicts:
        by_method: dict[str, set[int]] = {"ngram": set(), "fuzzy": set()}
        for match in verdict.matches:
            by_method[match.method].add(position[(match.benchmark, match.item_id)])
        found.append(by_method)
    return found


def items_from(questions: list[str]) -> list[BenchmarkItem]:
    return [BenchmarkItem("bench", "test", str(i), question, (), None) for i, question in enumerate(questions)]


# Few words so 8-gram collisions are common; characters that trip naive normalisation.
WORDS = ["the", "patient", "most", "likely", "diagnosis", "İstanbul", "straße", "ﬁbrosis", "x", "—"]
SEPARATORS = [" ", "  ", "\n", "\t", "\u2028", "\u2029", "\u0085", "\xa0", "\u3000", "\x1c"]


@st.composite
def texts(draw: st.DrawFn) -> str:
    words = draw(st.lists(st.sampled_from(WORDS), max_size=20))
    parts = []
    for word in words:
        parts.append(draw(st.sampled_from(SEPARATORS)))
        parts.append(draw(st.sampled_from([word, word.upper(), word.title()])))
    return "".join(parts) + draw(st.sampled_from(["", " ", "?"]))


@st.composite
def near_copies(draw: st.DrawFn, base: str) -> str:
    """`base` with a few character edits, so fuzz.ratio lands around the 80 threshold."""
    chars = list(base)
    for _ in range(draw(st.integers(0, max(1, len(chars) // 4)))):
        position = draw(st.integers(0, len(chars)))
        if draw(st.booleans()) and position < len(chars):
            del chars[position]
        else:
            chars.insert(position, draw(st.sampled_from("ae ?")))
    return "".join(chars)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_equals_reference_on_generated_edge_cases(data: st.DataObject) -> None:
    questions = data.draw(st.lists(texts(), min_size=1, max_size=6))
    rows = data.draw(st.lists(texts(), max_size=6))
    rows += [data.draw(near_copies(question)) for question in questions[:3]]
    rows += ["", " ", questions[0]]
    got = medrl_matches(rows, items_from(questions))
    assert [row["ngram"] for row in got] == ngram_matches(rows, questions)
    assert [row["fuzzy"] for row in got] == fuzzy_matches_scalar(rows, questions)


@settings(max_examples=100, deadline=None)
@given(
    rows=st.lists(st.text(max_size=40), max_size=5), questions=st.lists(st.text(max_size=40), min_size=1, max_size=5)
)
def test_matrix_reference_equals_scalar_reference(rows: list[str], questions: list[str]) -> None:
    assert fuzzy_matches_matrix(rows, questions) == fuzzy_matches_scalar(rows, questions)


def test_short_texts_are_invisible_to_ngrams_but_fuzzy_catches_close_copies() -> None:
    questions = ["Which vitamin deficiency causes scurvy?"]  # 5 words: the 8-gram stage cannot see it
    rows = ["which vitamin deficiency causes scurvy?", "Which hormone deficiency causes cretinism?"]
    got = medrl_matches(rows, items_from(questions))
    assert got == [{"ngram": set(), "fuzzy": {0}}, {"ngram": set(), "fuzzy": set()}]


def test_cascade_and_exhaustive_modes_make_the_same_decisions() -> None:
    questions = ["a b c d e f g h i j", "completely different benchmark question text here"]
    rows = ["a b c d e f g h", "completely different benchmark question text her", "unrelated", ""]
    index_items = items_from(questions)
    cascade = preset("ii-medical-rl")
    exhaustive = cascade.replace(run_all_stages=True)
    decisions = [
        [v.contaminated for v in detect_batch({"question": rows}, build_index(index_items, c), c)[0]]
        for c in (cascade, exhaustive)
    ]
    assert decisions[0] == decisions[1] == [True, True, False, False]


def load_training_questions(name: str) -> list[str]:
    path = TRAINING / name
    if path.suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_bytes().split(b"\n") if line.strip()]
    else:
        rows = json.loads(path.read_bytes())
    return [row["question"] for row in rows]


@pytest.mark.slow
@pytest.mark.parametrize("name", TRAINING_FILES)
def test_equals_exhaustive_reference_on_real_training_files(name: str, full_pack) -> None:
    rows = load_training_questions(name)
    questions = [item.question for item in full_pack.items]
    got = medrl_matches(rows, full_pack.items)
    expected_ngram = ngram_matches(rows, questions)
    expected_fuzzy = fuzzy_matches_matrix(rows, questions)
    assert [row["ngram"] for row in got] == expected_ngram
    assert [row["fuzzy"] for row in got] == expected_fuzzy
    # The data is not trivial: the 8-gram stage fires on real rows.
    assert any(expected_ngram)
