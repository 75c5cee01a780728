"""The rewrite stage's rules of detection quality III (issue 21), on real benchmark items: a row that is mostly one
item's option list, a short stem matched through stock options, and a different patient of the same age and sex."""

from __future__ import annotations

from dataclasses import replace

import pytest

from medrl.config import preset
from medrl.detection.index import build_index
from medrl.detection.runner import detect_batch
from medrl.detection.text import folded_options, words

MEDRL = preset("medrl").replace(max_matches_per_row=0)


@pytest.fixture(scope="module")
def index(full_pack):
    return build_index(full_pack.items, MEDRL)


@pytest.fixture(scope="module")
def items(full_pack):
    return {(item.benchmark, item.item_id): item for item in full_pack.items}


def verdicts(index, texts, options=None):
    return detect_batch({"question": texts}, index, MEDRL, options)[0]


def matched(verdict) -> set[tuple[str, str]]:
    return {(match.benchmark, match.item_id) for match in verdict.matches}


def test_a_row_that_is_mostly_an_items_option_list_is_that_item(index, items) -> None:
    item = items[("medxpertqa", "Text-0")]
    stem, choices = item.question.split("Answer Choices:")
    tail = " ".join(stem.split()[-3:])
    (cut,) = verdicts(index, [f"{tail} Answer Choices:{choices}"])
    assert ("medxpertqa", "Text-0") in matched(cut)
    match = next(m for m in cut.matches if (m.benchmark, m.item_id) == ("medxpertqa", "Text-0"))
    assert match.method == "rewrite" and match.evidence.startswith("options: ")
    assert sum(" ".join(words(text)) in match.evidence for _, text in item.options) >= 5
    # Another question's stem over the same options is not the item (the rows bench/quality calls generic stems),
    # nor is a long text that merely lists them.
    other = "Which of the following statements is true?"
    vignette = " ".join(["A 40-year-old man has had a cough for three weeks and a low fever."] * 8)
    generic, long_text = verdicts(index, [f"{other} Answer Choices:{choices}", f"{vignette} Answer Choices:{choices}"])
    assert ("medxpertqa", "Text-0") not in matched(generic)
    assert ("medxpertqa", "Text-0") not in matched(long_text)


def test_an_option_list_needs_enough_of_the_items_options(index, items) -> None:
    item = items[("medxpertqa", "Text-0")]
    stem, _ = item.question.split("Answer Choices:")
    tail = " ".join(stem.split()[-3:])
    four = " ".join(f"({letter}) {text}" for letter, text in item.options[:4])
    (cut,) = verdicts(index, [f"{tail} Answer Choices: {four}"])
    assert ("medxpertqa", "Text-0") not in matched(cut)


VITAMINS = ("Vitamin A", "Vitamin C", "Vitamin D", "Vitamin E", "Vitamin K", "Vitamin B12", "Folic acid", "Niacin")


def test_a_short_stem_through_stock_options_needs_the_stem_to_agree(full_pack) -> None:
    # MMLU-Pro holds this question itself: without it, MedMCQA's "Which of the following vitamin increases the
    # absorption of iron?" shares "vitamin A" and "vitamin C" (stock options) and one of two rarer words.
    items = [item for item in full_pack.items if item.benchmark != "mmlu_pro_health"]
    index = build_index(items, MEDRL)
    question = "Which vitamin is required for calcium absorption from the small intestine?"
    options = [folded_options(enumerate(VITAMINS))]
    (verdict,) = detect_batch({"question": [question]}, index, MEDRL, options)[0]
    assert not verdict.contaminated
    loose = MEDRL.replace(rewrite=replace(MEDRL.stages["rewrite"], min_stock_option_words=1))
    (stock,) = detect_batch({"question": [question]}, build_index(items, loose), loose, options)[0]
    assert stock.contaminated and {m.method for m in stock.matches} == {"rewrite"}
