"""The default `medrl` preset's detectors on real benchmark items: what they catch, what they leave, the evidence
they give, and invariance to batching."""

from __future__ import annotations

import json
import re
import unicodedata

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import MEDRL, TRAINING
from medrl.config import preset
from medrl.detection.coverage_match import _covered_tokens
from medrl.detection.index import build_index
from medrl.detection.rare_ngrams import pack_ngrams
from medrl.detection.runner import detect_batch
from medrl.detection.text import fold, folded_options, option_texts, question_stem, word_spans, words


def verdicts(medrl_index, texts, options=None, config=MEDRL):
    return detect_batch({"question": texts}, medrl_index, config, {"question": options} if options else None)[0]


def matched_items(verdict) -> set[tuple[str, str]]:
    return {(match.benchmark, match.item_id) for match in verdict.matches}


def lettered(options) -> str:
    return "\n".join(f"{letter}. {text}" for letter, text in options)


def test_copies_of_a_vignette_are_caught_and_named(medrl_index, pack_items) -> None:
    item = pack_items[("medqa", "0")]
    shuffled = list(reversed(item.options))
    variants = {
        "verbatim": item.question,
        "options appended": f"{item.question}\n{lettered(item.options)}",
        "options shuffled": f"{item.question}\n{lettered(zip('ABCD', (t for _, t in shuffled), strict=True))}",
        "wrapped": f"<|im_start|>user\nAnswer the question.\n\n{item.question}<|im_end|>",
        "unicode": unicodedata.normalize("NFKD", item.question.upper().replace("'", "\u2019")),
        "truncated": " ".join(item.question.split()[: len(item.question.split()) * 6 // 10]),
    }
    for kind, text in variants.items():
        (verdict,) = verdicts(medrl_index, [text])
        assert verdict.contaminated, kind
        assert ("medqa", "0") in matched_items(verdict) and ("medqa_5options", "0") in matched_items(verdict), kind


def test_evidence_spans_point_at_the_shared_text_in_both_texts(medrl_index, pack_items) -> None:
    item = pack_items[("medqa", "3")]
    text = f"Please solve: {item.question}"
    (verdict,) = verdicts(medrl_index, [text])
    match = next(m for m in verdict.matches if (m.benchmark, m.item_id) == ("medqa", "3"))
    assert match.method == "coverage" and match.score == 100.0
    row_start, row_end = match.row_span
    item_start, item_end = match.item_span
    assert text[row_start:row_end] == match.evidence
    assert words(match.evidence) == words(item.question[item_start:item_end])
    assert row_start >= len("Please solve: ")


@pytest.fixture(scope="module")
def seed_index(full_pack):
    return build_index(full_pack.items, preset("ii-medical-rl"))


def test_stock_phrases_alone_do_not_flag_a_row(medrl_index, seed_index) -> None:
    text = (
        "A 34-year-old carpenter comes to the clinic because of a painless swelling on his left wrist that has grown "
        "over four months. Which of the following is the most likely diagnosis?"
    )
    (seed_verdict,) = verdicts(seed_index, [text], config=preset("ii-medical-rl"))
    assert seed_verdict.contaminated  # the seed's 8-gram stage fires on the stock question
    (verdict,) = verdicts(medrl_index, [text])
    assert not verdict.contaminated


def test_short_and_generic_questions_match_only_with_their_own_options(medrl_index, full_pack) -> None:
    short = next(
        item
        for item in full_pack.items
        if item.benchmark == "medmcqa" and len(item.question.split()) <= 5 and len(item.options) == 4
    )
    other = next(item for item in full_pack.items if item.benchmark == "medmcqa" and item.options != short.options)
    same_options = f"{short.question}\n{lettered(short.options[::-1])}"
    other_options = f"{short.question}\n{lettered(other.options)}"
    vignette = " ".join(["A 40-year-old man has had a cough for three weeks and a low fever."] * 5)
    embedded = f"{vignette} {short.question} something else."
    alone, with_same, with_other, in_vignette = verdicts(
        medrl_index, [short.question, same_options, other_options, embedded]
    )
    key = (short.benchmark, short.item_id)
    assert key in matched_items(alone) and key in matched_items(with_same)
    assert key not in matched_items(with_other)
    assert key not in matched_items(in_vignette)


def test_rewrites_are_anchored_by_their_options(medrl_index, pack_items) -> None:
    item = pack_items[("medxpertqa", "Text-0")]
    row_options = [frozenset(folded_options(item.options[:5]))]
    rewrite = (
        "Which scenario best indicates eccentric anterior glenoid reaming in shoulder replacement surgery, "
        "considering glenoid retroversion and posterior wear?"
    )
    (verdict,) = verdicts(medrl_index, [rewrite], row_options)
    assert ("medxpertqa", "Text-0") in matched_items(verdict)
    assert any(m.method == "rewrite" for m in verdict.matches)
    (unrelated,) = verdicts(
        medrl_index, ["Which antibiotic is first line for community-acquired pneumonia?"], row_options
    )
    assert not unrelated.contaminated
    # Options reworded but one kept: the case itself must then be largely the item's (half of its rarer words).
    one_option = [frozenset(folded_options([item.options[0], ("B", "Watchful waiting"), ("C", "Arthroscopy")]))]
    (close,) = verdicts(medrl_index, [item.question.split("Answer Choices")[0]], one_option)
    assert ("medxpertqa", "Text-0") in matched_items(close)
    other_case = "A 70-year-old man has shoulder pain after a fall. Which imaging study should be ordered first?"
    (loose,) = verdicts(medrl_index, [other_case], one_option)
    assert not loose.contaminated


def test_option_texts_parses_lines_and_inline_blocks() -> None:
    assert option_texts("Q?\nA. x\nB) y\n(C) z") == ["x", "y", "z"]
    assert option_texts("Q? Answer Choices: (A) one thing (B) two (C) three") == ["one thing", "two", "three"]
    assert option_texts("A 45-year-old man. B. not an option list") == []


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.sampled_from("aßéİﬁ 1-’'\u2028Ａ\u0301\n"), max_size=40))
def test_word_spans_cover_exactly_the_words(text: str) -> None:
    spans = word_spans(text)
    assert [" ".join(words(text[a:b])) for a, b in spans] == words(text)
    assert words(unicodedata.normalize("NFC", text)) == words(unicodedata.normalize("NFD", text)) == words(text)
    assert fold(text) == fold(unicodedata.normalize("NFKD", text))


@pytest.mark.slow
def test_decisions_do_not_depend_on_the_batch_size(medrl_index) -> None:
    rows = [row["question"] for row in json.loads((TRAINING / "medqa_dev.json").read_text())][:600]
    whole = verdicts(medrl_index, rows)
    for size in (1, 7, 256):
        pieces = []
        for start in range(0, len(rows), size):
            pieces.extend(verdicts(medrl_index, rows[start : start + size]))
        assert pieces == whole, size


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 5), max_size=30),
    st.lists(st.integers(0, 5), max_size=30),
    st.integers(1, 8),
)
def test_evidence_marks_every_token_of_each_shared_ngram(ids: list[int], shared_ids: list[int], n: int) -> None:
    """The evidence's covered tokens (numpy, no loop) are what marking each shared n-gram's tokens in turn gives."""
    keys = pack_ngrams(np.array(ids, dtype=np.uint64), n)
    shared = np.unique(pack_ngrams(np.array(shared_ids, dtype=np.uint64), n))
    expected, wanted = np.zeros(len(ids), dtype=bool), set(shared.tolist())
    for start, key in enumerate(keys.tolist()):
        if key in wanted:
            expected[start : start + n] = True
    assert _covered_tokens(keys, shared, len(ids), n).tolist() == expected.tolist()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["A 3-year-old", " ", "\n", "\u2003", "Answer Choices:", "(A) x", "\t", "Answer"])))
def test_question_stem_cuts_the_inline_choices_block_as_the_pattern_it_replaced_did(parts: list[str]) -> None:
    question = "".join(parts)
    assert question_stem(question) == (re.sub(r"\s*Answer Choices:.*", "", question, flags=re.DOTALL) or question)
