"""The boxed-letter reward (medrl.reward): the documented rule, adversarial completions, TRL and verl call shapes."""

from __future__ import annotations

import math
import re
import string
import sys
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import medrl.reward
from medrl.reward import (
    completion_text,
    compute_score,
    extract_answer_letter,
    extract_boxed,
    format_score,
    make_trl_reward,
    parse_letter,
    strip_reasoning,
    trl_reward,
)

LETTERS = st.sampled_from(string.ascii_uppercase)
# Free text that holds no box and no reasoning tag (the invariants below are about boxes after the reasoning).
PROSE = st.text(max_size=300).filter(lambda text: "\\boxed" not in text and "think>" not in text)


def score(completion: str, label: str = "B", **kwargs) -> float:
    return compute_score("ii_medical_rl", completion, label, **kwargs)


# --- accepted letter forms ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "box",
    [
        "B",
        "b",
        " B ",
        "(B)",
        "[B]",
        "B.",
        "B)",
        "B:",
        "B. Aspirin",
        "B) Aspirin 81 mg daily",
        "(B) Aspirin",
        "B: Aspirin",
        "B - Aspirin",
        "B — Aspirin",
        "Option B",
        "option b",
        "Answer: B",
        "ANSWER:B",
        "Choice (B)",
        "Answer: B. Aspirin",
        "\\text{B}",
        "\\textbf{B}",
        "\\mathrm{B}",
        "\\mathbf{(B)}",
        "\\text{ B. Aspirin }",
        "\\textbf{\\text{B}}",
        "{B}",
        "$B$",
        "$\\text{B}$",
        "Ｂ",  # full-width, NFKC folds it to B
        "ｂ",
        "（Ｂ）",
        "\\text｛Ｂ｝",  # full-width braces fold to { } before unwrapping
    ],
)
def test_accepted_forms_score_one(box: str) -> None:
    assert score(f"The answer is \\boxed{{{box}}}") == 1.0
    assert parse_letter(box) == "B"


@pytest.mark.parametrize(
    "box",
    [
        "The answer is B",  # a sentence that merely contains the letter
        "I think B",
        "Because of B",
        "B and D",
        "B, D",
        "BD",
        "Bx",
        "B.C.",
        "B.Aspirin",  # separator not followed by whitespace
        "answers",  # a label word glued to a letter is not a label
        "optionB",
        "Β",  # Greek capital beta: NFKC keeps it Greek
        "В",  # Cyrillic capital ve
        "2",
        "\\text{B} and \\text{D}",
        "\\text{B}.",  # a wrapper must enclose the whole box
        "B)(C)",
        "\\frac{1}{2}",
        "(B",
        "-B",
    ],
)
def test_rejected_forms_score_zero(box: str) -> None:
    assert score(f"\\boxed{{{box}}}") == 0.0
    assert extract_answer_letter(f"\\boxed{{{box}}}") is None


@pytest.mark.parametrize("label", ["B", "b", "(B)", " B ", "\\text{B}", "Ｂ", "B."])
def test_ground_truth_forms(label: str) -> None:
    assert compute_score("src", "\\boxed{B}", label) == 1.0
    assert compute_score("src", "\\boxed{C}", label) == 0.0


@pytest.mark.parametrize("label", ["", "BC", "the answer", "2", None])
def test_a_ground_truth_without_a_letter_scores_zero_rather_than_raising(label) -> None:
    assert compute_score("src", "\\boxed{B}", label) == 0.0


# --- which box counts ----------------------------------------------------------------------------------------------


def test_several_boxes_the_last_wins() -> None:
    assert score("\\boxed{A} hmm, no: \\boxed{C} final \\boxed{B}") == 1.0
    assert score("\\boxed{B} hmm, no: \\boxed{C}") == 0.0


@pytest.mark.parametrize("empty", ["", " ", "\n\t", "\\text{}", "\\text{ }", "$ $", "{}", "\\textbf{\\text{}}"])
def test_an_empty_last_box_falls_back_to_the_previous_non_empty_one(empty: str) -> None:
    assert extract_boxed(f"\\boxed{{B}} and \\boxed{{{empty}}}") == "B"
    assert score(f"\\boxed{{B}} then \\boxed{{{empty}}}") == 1.0
    assert score(f"\\boxed{{B}} \\boxed{{{empty}}} \\boxed{{}}") == 1.0
    assert score(f"\\boxed{{{empty}}}") == 0.0


def test_a_non_empty_last_box_without_a_letter_overrides_earlier_boxes() -> None:
    assert score("\\boxed{B} ... actually \\boxed{none of these}") == 0.0


def test_nested_braces() -> None:
    assert score("\\boxed{\\text{B}}") == 1.0
    assert score("\\boxed{\\textbf{\\text{(B)}}}") == 1.0
    assert score("\\boxed{{B}}") == 1.0
    assert score("\\boxed{\\boxed{B}}") == 1.0  # the inner box opens last
    assert score("\\boxed {B}") == 1.0
    assert extract_boxed("x \\boxed{a{b}c} y") == "a{b}c"


def test_unbalanced_boxes_are_ignored() -> None:
    assert score("\\boxed{B} then \\boxed{C") == 1.0  # the unclosed box is not an answer
    assert score("\\boxed{C") == 0.0
    assert score("}}} \\boxed{B} }}}") == 1.0  # stray closing braces are ignored
    assert score("{ \\boxed{B}") == 1.0  # an unclosed plain brace around a closed box


@pytest.mark.parametrize(
    "completion",
    [
        "The answer is B.",
        "Answer: B",
        "**B**",
        "(B) Aspirin",
        "\\fbox{B}",
        "\\boxed B",
        "boxed{B}",
        "",
    ],
)
def test_no_box_no_reward(completion: str) -> None:
    assert score(completion) == 0.0
    assert extract_boxed(completion) is None


# --- reasoning ---------------------------------------------------------------------------------------------------


def test_a_box_inside_the_reasoning_only_scores_zero() -> None:
    assert score("<think>It is \\boxed{B}.</think>The answer is B.") == 0.0
    assert score("It is \\boxed{B}.</think>The answer is B.") == 0.0  # the <think> opening was in the prompt
    assert score("<think>\\boxed{A}</think>\\boxed{B}") == 1.0
    assert score("<think>\\boxed{B}</think>\\boxed{A}") == 0.0


def test_the_last_think_close_counts() -> None:
    assert score("<think>a</think> \\boxed{B} <think>b</think> no box") == 0.0
    assert score("<think>a</think> \\boxed{A} <think>b</think> \\boxed{B}") == 1.0


def test_an_unclosed_think_after_the_answer_is_cut_off() -> None:
    assert score("\\boxed{B} <think> wait, \\boxed{C}") == 1.0
    assert score("<think> truncated reasoning \\boxed{B}") == 0.0
    assert score("<think>a</think>\\boxed{B}<think>\\boxed{C}") == 1.0


def test_strip_reasoning() -> None:
    assert strip_reasoning("plain") == "plain"
    assert strip_reasoning("r</think>a") == "a"
    assert strip_reasoning("r</think>a</think>b") == "b"
    assert strip_reasoning("a<think>b") == "a"
    assert strip_reasoning("x</think>a<think>b<think>c") == "a"
    assert strip_reasoning("</THINK>a") == "</THINK>a"  # exact, case-sensitive tag


# --- invariants --------------------------------------------------------------------------------------------------


@given(prefix=PROSE, letter=LETTERS, lower=st.booleans())
@example(prefix="", letter="A", lower=False)
@example(prefix="{{{", letter="J", lower=True)
@example(prefix="}}} \\", letter="E", lower=False)
def test_any_prose_then_a_boxed_letter_scores_one(prefix: str, letter: str, lower: bool) -> None:
    boxed = letter.lower() if lower else letter
    assert compute_score("src", prefix + f"\\boxed{{{boxed}}}", letter) == 1.0
    assert compute_score("src", prefix + f"\\boxed{{{boxed}}}", letter.lower()) == 1.0


@given(prefix=PROSE, middle=PROSE, letter=LETTERS, wrong=LETTERS)
def test_a_later_box_with_another_letter_flips_the_score(prefix: str, middle: str, letter: str, wrong: str) -> None:
    completion = prefix + f"\\boxed{{{letter}}}" + middle
    assert compute_score("src", completion, letter) == 1.0
    flipped = completion + f"\\boxed{{{wrong}}}"
    assert compute_score("src", flipped, letter) == (1.0 if wrong == letter else 0.0)


@given(reasoning=PROSE, answer=PROSE, letter=LETTERS)
def test_a_box_only_in_the_reasoning_never_scores(reasoning: str, answer: str, letter: str) -> None:
    completion = f"<think>{reasoning}\\boxed{{{letter}}}{reasoning}</think>{answer}"
    assert compute_score("src", completion, letter) == 0.0
    assert compute_score("src", completion + f"\\boxed{{{letter}}}", letter) == 1.0


@given(prose=PROSE, letter=LETTERS)
def test_no_box_never_scores(prose: str, letter: str) -> None:
    assert compute_score("src", prose + f" The answer is {letter}. ({letter})", letter) == 0.0


@given(letter=LETTERS)
def test_full_width_letters_are_normalised(letter: str) -> None:
    full_width = chr(ord(letter) - ord("A") + ord("Ａ"))
    assert compute_score("src", f"\\boxed{{{full_width}}}", letter) == 1.0
    assert compute_score("src", f"\\boxed{{{letter}}}", full_width) == 1.0


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(completion=st.text(alphabet=st.sampled_from(list("\\boxed{}()ABC </think>.:$ text")) | st.characters()))
def test_any_text_scores_zero_or_one_and_never_raises(completion: str) -> None:
    value = compute_score("src", completion, "B")
    assert value in (0.0, 1.0)
    assert format_score(completion) in (0.0, 1.0)
    letter = extract_answer_letter(completion)
    assert letter is None or (len(letter) == 1 and letter in string.ascii_uppercase)
    assert value == (1.0 if letter == "B" else 0.0)


# --- huge and adversarial inputs (no timing thresholds: they must simply finish) -----------------------------------

MB = 1 << 20


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        pytest.param("\\boxed{" * (2 * MB // 7), 0.0, id="unbalanced-box-openings"),
        pytest.param("\\boxed{" * (MB // 7) + "\\boxed{B}", 1.0, id="unbalanced-openings-then-a-box"),
        pytest.param("\\boxed{B}" + "\\boxed{" * (MB // 7), 1.0, id="a-box-then-unbalanced-openings"),
        pytest.param("{" * 2 * MB, 0.0, id="open-braces"),
        pytest.param("}" * 2 * MB + "\\boxed{B}", 1.0, id="close-braces-then-a-box"),
        pytest.param("\\boxed{" + "{" * MB + "B" + "}" * (MB + 1), 0.0, id="megabyte-deep-nesting"),
        pytest.param("\\boxed{" + "\\text{" * (MB // 6) + "B" + "}" * (MB // 6 + 1), 0.0, id="deep-text-wrappers"),
        pytest.param("\\boxed{B. " + "x" * 2 * MB + "}", 1.0, id="huge-option-text"),
        pytest.param("\\boxed{option" + " " * 2 * MB + "}", 0.0, id="label-then-whitespace"),
        pytest.param("\\boxed{B" + " " * 2 * MB + "x}", 0.0, id="letter-then-whitespace"),
        pytest.param("\\boxed" + " " * 2 * MB + "{B}", 1.0, id="whitespace-before-the-brace"),
        pytest.param("\\boxed{}" * (MB // 8) + "\\boxed{B}" + "\\boxed{}" * (MB // 8), 1.0, id="many-empty-boxes"),
        pytest.param("\\boxed{A}" * (MB // 9) + "\\boxed{B}", 1.0, id="many-boxes"),
        pytest.param("</think>" * (MB // 8) + "\\boxed{B}", 1.0, id="many-think-closes"),
        pytest.param("<think>" * (MB // 7) + "\\boxed{B}", 0.0, id="many-think-opens"),
        pytest.param("x" * 2 * MB, 0.0, id="plain-prose"),
        pytest.param(("\\boxed{x " + "{" * 10) * (MB // 19 + 1), 0.0, id="mixed-unbalanced"),
    ],
)
def test_huge_adversarial_completions_finish(completion: str, expected: float) -> None:
    assert len(completion) >= MB
    assert compute_score("src", completion, "B") == expected
    assert compute_score("src", completion, "B", format_weight=0.5) in (expected, expected + 0.5)
    assert trl_reward([completion], ["B"]) == [expected]


def random_text(size: int, seed: int) -> str:
    """``size`` code points drawn uniformly from all of Unicode (lone surrogates included), braces made x."""
    codes = np.random.default_rng(seed).integers(0, sys.maxunicode + 1, size, dtype=np.uint32)
    return codes.astype("<u4").tobytes().decode("utf-32-le", "surrogatepass").replace("{", "x").replace("}", "x")


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        pytest.param(random_text(MB, 0), 0.0, id="random-unicode"),
        pytest.param("\\boxed{" + random_text(MB, 1) + "}", 0.0, id="random-unicode-box"),
        pytest.param("\\boxed{B. " + random_text(MB, 2) + "}", 1.0, id="letter-then-random-unicode"),
        pytest.param("\\boxed{B. " + "\ufdfa" * MB + "}", 1.0, id="nfkc-expands-18-fold"),
        pytest.param("\\boxed{a" + "\u0301" * (MB // 2) + "\u0316" * (MB // 2) + "}", 0.0, id="combining-marks"),
        pytest.param("\\boxed{Ｂ. " + "\u0316\u0301" * (MB // 2) + "}", 1.0, id="full-width-then-marks"),
        pytest.param("\\boxed{" * (MB // 7) + "B" + "}" * (MB // 7), 1.0, id="nested-boxes"),
        pytest.param("\\boxed{B}" + "\\boxed{\\text{}}" * (MB // 15), 1.0, id="many-empty-wrapper-boxes"),
        pytest.param("\\boxed{B}" + "\\boxed {\\bm{ }}" * (MB // 15), 1.0, id="many-spaced-empty-boxes"),
        pytest.param("\\boxed{B}" + "\\boxed{\\hat{}$}" * (MB // 14), 1.0, id="many-empty-command-boxes"),
        pytest.param("\\" * MB + "\\boxed{B}", 1.0, id="backslashes"),
        pytest.param("\\boxed" * (MB // 6 + 1) + "{B}", 1.0, id="box-names-without-braces"),
        pytest.param("\\text{" * (MB // 6) + "\\boxed{B}", 1.0, id="unclosed-wrappers-then-a-box"),
        pytest.param("\\boxed{\\text{B}" + "}" * MB, 1.0, id="a-box-then-close-braces"),
    ],
)
def test_more_huge_adversarial_completions_finish(completion: str, expected: float) -> None:
    assert len(completion) >= MB
    assert compute_score("src", completion, "B") == expected
    assert compute_score("src", "r</think>" + completion, "B", format_weight=0.5) in (expected, expected + 0.5)
    assert compute_score("src", completion.encode("utf-8", "surrogatepass"), "B") == expected
    assert trl_reward([[{"role": "assistant", "content": completion}]], ["B"]) == [expected]


# --- format reward -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        ("reasoning</think>The answer is \\boxed{B}.", 1.0),
        ("<think>reasoning</think>\\boxed{\\text{C}}", 1.0),  # the format, whatever the letter
        ("reasoning</think>\\boxed{B. Aspirin}", 1.0),
        ("\\boxed{B}", 0.0),  # no </think>
        ("reasoning</think>no box", 0.0),
        ("reasoning</think>\\boxed{B} \\boxed{B}", 0.0),  # not exactly one box
        ("reasoning</think>\\boxed{B} \\boxed{", 0.0),  # an unclosed second box
        ("reasoning</think>\\boxed{}", 0.0),
        ("reasoning</think>\\boxed{the answer is B}", 0.0),
        ("a</think>b</think>\\boxed{B}", 0.0),  # two </think>
        ("a</think>\\boxed{B}<think>", 0.0),  # an unclosed thought after the answer
        ("\\boxed{A} reasoning</think>\\boxed{B}", 1.0),  # boxes in the reasoning do not count
    ],
)
def test_format_score(completion: str, expected: float) -> None:
    assert format_score(completion) == expected


def test_the_format_reward_is_off_by_default_and_added_with_a_weight() -> None:
    good = "r</think>\\boxed{B}"
    unformatted = "\\boxed{B}"
    assert score(good) == score(unformatted) == 1.0
    assert score(good, format_weight=0.2) == pytest.approx(1.2)
    assert score(unformatted, format_weight=0.2) == 1.0
    assert score("r</think>\\boxed{C}", format_weight=0.2) == pytest.approx(0.2)
    # Per row, through extra_info; the keyword wins over it.
    assert score(good, extra_info={"format_weight": 0.5}) == pytest.approx(1.5)
    assert score(good, extra_info={"format_weight": 0.5}, format_weight=0.0) == 1.0
    assert score(good, extra_info={"index": 3}) == 1.0
    assert score(good, extra_info=None) == 1.0


def test_verl_extra_keywords_are_accepted() -> None:
    assert (
        compute_score(
            data_source="ii_medical_rl",
            solution_str="\\boxed{B}",
            ground_truth="B",
            extra_info={"num_turns": 2, "rollout_reward_scores": {}},
            reward_router_address=None,
            reward_model_tokenizer=None,
        )
        == 1.0
    )


# --- TRL adapter -------------------------------------------------------------------------------------------------


def test_trl_plain_completions() -> None:
    completions = ["\\boxed{B}", "\\boxed{C}", "B", "<think>\\boxed{A}</think>\\boxed{a}"]
    assert trl_reward(completions, ["B", "B", "B", "A"]) == [1.0, 0.0, 0.0, 1.0]


def test_trl_conversational_completions_use_the_last_assistant_message() -> None:
    completions = [
        [{"role": "assistant", "content": "\\boxed{B}"}],
        [{"role": "assistant", "content": "\\boxed{B}"}, {"role": "assistant", "content": "\\boxed{C}"}],
        [{"role": "assistant", "content": "\\boxed{B}"}, {"role": "tool", "content": "\\boxed{C}"}],
        [{"role": "assistant", "content": [{"type": "text", "text": "\\boxed"}, {"type": "text", "text": "{B}"}]}],
        [{"role": "assistant", "content": None}],
        [{"role": "user", "content": "\\boxed{B}"}],
        [],
    ]
    assert trl_reward(completions, ["B"] * len(completions)) == [1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0]
    assert completion_text([{"role": "assistant", "content": "x"}]) == "x"


def test_trl_passes_every_dataset_column_as_keywords() -> None:
    class TrainerState:  # stands in for transformers.TrainerState
        global_step = 3

    rewards = trl_reward(
        prompts=[[{"role": "user", "content": "Q1"}], [{"role": "user", "content": "Q2"}]],
        completions=[[{"role": "assistant", "content": "\\boxed{B}"}], [{"role": "assistant", "content": "B"}]],
        completion_ids=[[1, 2], [3]],
        label=["B", "B"],
        problem=["Q1", "Q2"],
        data_source=["ii_medical_rl", "ii_medical_rl"],
        extra_info=[{"index": 0}, {"index": 1}],
        trainer_state=TrainerState(),
        log_extra=lambda *args, **kwargs: None,
        log_metric=lambda *args, **kwargs: None,
    )
    assert rewards == [1.0, 0.0]


def test_trl_per_row_format_weight_through_extra_info() -> None:
    completions = ["r</think>\\boxed{B}", "r</think>\\boxed{B}"]
    extra = [{"format_weight": 0.5}, {}]
    assert trl_reward(completions, ["B", "B"], extra_info=extra) == [1.5, 1.0]


def test_make_trl_reward() -> None:
    plain, weighted = make_trl_reward(), make_trl_reward(format_weight=0.25)
    assert plain.__name__ == "medrl_accuracy" and trl_reward.__name__ == "trl_reward"
    assert weighted.__name__ == "medrl_accuracy_format"
    completions = ["r</think>\\boxed{B}", "\\boxed{B}", "r</think>\\boxed{C}"]
    assert plain(completions, ["B"] * 3) == [1.0, 1.0, 0.0]
    assert weighted(completions, ["B"] * 3) == [1.25, 1.0, 0.25]


def test_trl_rows_without_a_label_score_zero() -> None:
    # A label column shorter than the completions (once a ValueError) scores the rows it lacks 0.0.
    assert trl_reward(["\\boxed{B}", "\\boxed{B}"], ["B"]) == [1.0, 0.0]
    assert trl_reward(["\\boxed{B}", "\\boxed{B}"]) == [0.0, 0.0]
    assert trl_reward(["\\boxed{B}"], None) == [0.0]
    assert trl_reward(["\\boxed{B}"], "B") == [0.0]  # a label column is a list, not one string
    assert trl_reward(["\\boxed{B}"], ["B", "C"]) == [1.0]


# --- never raising: any completion, ground truth and setting -----------------------------------------------------


class Hostile:
    """An object whose every hook raises: the reward must score it 0.0 without calling any of them."""

    def __str__(self) -> str:
        raise RuntimeError("__str__")

    __repr__ = __str__

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("__eq__")

    def __hash__(self) -> int:
        raise RuntimeError("__hash__")

    def __len__(self) -> int:
        raise RuntimeError("__len__")

    def __iter__(self):
        raise RuntimeError("__iter__")

    def __float__(self) -> float:
        raise RuntimeError("__float__")

    @property
    def __class__(self):  # isinstance() reads it
        raise RuntimeError("__class__")


class HostileStr(str):
    """A str whose methods raise: the reward works on a plain copy."""

    def find(self, *args):
        raise RuntimeError("find")

    rfind = strip = encode = find

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("__eq__")

    __hash__ = str.__hash__


class HostileList(list):
    def __iter__(self):
        raise RuntimeError("__iter__")

    def __reversed__(self):
        raise RuntimeError("__reversed__")

    def __len__(self) -> int:
        raise RuntimeError("__len__")


class HostileDict(dict):
    def get(self, *args):
        raise RuntimeError("get")


# Built on demand: hypothesis would call repr() (which raises) on objects listed in sampled_from.
HOSTILE = st.one_of(
    st.builds(Hostile),
    st.builds(HostileList, st.just(["\\boxed{B}"])),
    st.builds(HostileDict, format_weight=st.just(1.0)),
    st.builds(object),
    st.just(Ellipsis),
)
SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
# Text around the answer machinery: box openings, braces, tags and letters, mixed with any character at all.
TOKENS = ["\\boxed{", "\\boxed {", "\\text{", "\\hat{", "{", "}", "}", "B", "b", "(B)", "$", " ", "</think>", "<think>"]
TOKENS += ["\\boxed{B}", "\\boxed{\\text{b}}", "reasoning</think>\\boxed{B}"] * 3
BOXY_TEXT = st.lists(
    st.sampled_from(TOKENS) | st.characters(exclude_categories=()) | SURROGATES | st.text(max_size=5), max_size=30
).map("".join)
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.complex_numbers(), BOXY_TEXT, st.binary(), HOSTILE
)
GARBAGE = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=8) | st.sampled_from(["role", "content", "text"]), inner, max_size=4)
    ),
    max_leaves=12,
)
CONTENT = BOXY_TEXT | st.lists(BOXY_TEXT | st.fixed_dictionaries({"type": st.just("text"), "text": GARBAGE}) | GARBAGE)
MESSAGE = st.fixed_dictionaries({"role": st.sampled_from(["assistant", "user", "tool"]) | GARBAGE, "content": CONTENT})
CONVERSATION = st.lists(MESSAGE | GARBAGE, max_size=4) | st.tuples(MESSAGE)
BYTES = BOXY_TEXT.map(lambda text: text.encode("utf-8", "surrogatepass"))  # lone surrogates give invalid UTF-8
COMPLETIONS = st.one_of(BOXY_TEXT, BYTES, CONVERSATION, GARBAGE)
GROUND_TRUTHS = st.sampled_from(["B", "b", "(B)", "\\text{B}", "A"]) | GARBAGE
WEIGHTS = st.one_of(
    st.none(),
    st.floats(min_value=0, max_value=10),
    st.floats(),
    st.integers(),
    st.text(max_size=5),
    st.sampled_from([float("nan"), float("inf"), -1.0, True, 10**400, "0.1", [0.1]]),  # 10**400 overflows a float
    GARBAGE,
)
EXTRA_INFOS = st.one_of(st.none(), st.fixed_dictionaries({"format_weight": WEIGHTS}), GARBAGE)


def effective_weight(format_weight, extra_info) -> float:
    """The documented rule for the weight a call uses: the keyword, else extra_info's; an invalid one is 0.0."""
    value = format_weight
    if value is None and type(extra_info) is dict:
        value = extra_info.get("format_weight")
    if type(value) not in (int, float):
        return 0.0
    try:
        weight = float(value)
    except OverflowError:
        return 0.0
    return weight if math.isfinite(weight) and weight >= 0 else 0.0


def assert_a_score(value, weight: float) -> None:
    assert type(value) is float
    assert math.isfinite(value)
    assert value in (0.0, 1.0, weight, 1.0 + weight)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data_source=GARBAGE,
    completion=COMPLETIONS,
    ground_truth=GROUND_TRUTHS,
    extra_info=EXTRA_INFOS,
    format_weight=WEIGHTS,
    extra_keywords=st.dictionaries(st.sampled_from(["reward_router_address", "index", "x"]), GARBAGE, max_size=2),
)
def test_compute_score_never_raises_and_returns_a_finite_float(
    data_source, completion, ground_truth, extra_info, format_weight, extra_keywords
) -> None:
    value = compute_score(data_source, completion, ground_truth, extra_info, format_weight, **extra_keywords)
    assert_a_score(value, effective_weight(format_weight, extra_info))
    assert_a_score(compute_score(data_source, completion, ground_truth), 0.0)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    completions=st.lists(COMPLETIONS, max_size=5) | st.tuples(COMPLETIONS),
    label=st.none() | st.lists(GROUND_TRUTHS, max_size=6) | GARBAGE,
    columns=st.dictionaries(
        st.sampled_from(["data_source", "extra_info", "prompts", "completion_ids", "trainer_state", "problem"]),
        st.none() | st.lists(EXTRA_INFOS, max_size=6) | GARBAGE,
        max_size=4,
    ),
)
def test_trl_reward_returns_one_finite_float_per_completion(completions, label, columns) -> None:
    for reward in (trl_reward, make_trl_reward(format_weight=0.5)):
        rewards = reward(completions=completions, label=label, **columns)
        assert type(rewards) is list and len(rewards) == len(completions)
        assert all(type(value) is float and math.isfinite(value) and value >= 0.0 for value in rewards)
    assert trl_reward(completions, label) == trl_reward(completions=completions, label=label)


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        (None, 0.0),
        (5, 0.0),
        (1.5, 0.0),
        (float("nan"), 0.0),
        ([1, 2], 0.0),
        ({"role": "assistant", "content": "\\boxed{B}"}, 0.0),  # a message, not a conversation
        pytest.param(Hostile(), 0.0, id="hostile"),  # explicit ids: pytest's own would call isinstance on it
        (HostileList([{"role": "assistant", "content": "\\boxed{B}"}]), 0.0),
        pytest.param([{"role": Hostile(), "content": "\\boxed{B}"}], 0.0, id="hostile-role"),
        pytest.param([{"role": "assistant", "content": Hostile()}], 0.0, id="hostile-content"),
        (b"\\boxed{B}", 1.0),
        (bytearray(b"\\boxed{B}"), 1.0),
        (b"\xff\xfe \\boxed{B} \xc3", 1.0),  # undecodable bytes are replaced
        pytest.param(HostileStr("\\boxed{B}"), 1.0, id="hostile-str"),
        ("\ud800\\boxed{B}", 1.0),
        ("\\boxed{B\ud800}", 0.0),
        ("\\boxed{\ud800}", 0.0),
        ("\udfff</think>\\boxed{\\text{B}}\ud800", 1.0),
        ([{"role": "assistant", "content": b"\\boxed{B}"}], 1.0),
        ([{"role": "assistant", "content": ["\\boxed{", 7, None, {"text": "B}"}, {"text": 3}]}], 1.0),
        (({"role": "assistant", "content": "\\boxed{B}"},), 1.0),
    ],
)
def test_any_completion_type_is_scored(completion, expected: float) -> None:
    assert compute_score("src", completion, "B") == expected
    assert trl_reward([completion], ["B"]) == [expected]


@pytest.mark.parametrize(
    ("ground_truth", "expected"),
    [
        (b"B", 1.0),
        (bytearray(b"(b)"), 1.0),
        pytest.param(HostileStr("B"), 1.0, id="hostile-str"),
        ("B\ud800", 0.0),
        ("\ud800", 0.0),
        (None, 0.0),
        (2, 0.0),
        (["B"], 0.0),
        ({"ground_truth": "B"}, 0.0),
        pytest.param(Hostile(), 0.0, id="hostile"),
        ([{"role": "assistant", "content": "B"}], 0.0),  # a conversation is not a ground truth
        ("B" + " " * 100_000, 1.0),
        ("B. " + "\u0301" * 100_000, 1.0),  # long ground truths are parsed in linear time too
    ],
)
def test_any_ground_truth_type_is_scored(ground_truth, expected: float) -> None:
    assert compute_score("src", "\\boxed{B}", ground_truth) == expected


def test_completion_text_reads_only_text() -> None:
    assert completion_text(b"caf\xc3\xa9") == "café"
    assert completion_text(HostileStr("x")) == "x" and type(completion_text(HostileStr("x"))) is str
    assert completion_text([{"role": "assistant", "content": ["a", 1, {"text": "b"}, {"text": None}, b"c"]}]) == "abc"
    for unreadable in (None, 3, Hostile(), HostileList([1]), [Hostile()], {"role": "assistant", "content": "x"}):
        assert completion_text(unreadable) == ""


@pytest.mark.parametrize(
    "weight",
    ["abc", "0.1", float("nan"), float("inf"), -float("inf"), -1, -0.5, True, pytest.param(10**400, id="10**400")],
)
def test_an_invalid_per_call_format_weight_counts_as_zero(weight) -> None:
    good = "r</think>\\boxed{B}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert score(good, format_weight=weight) == 1.0
        assert score(good, extra_info={"format_weight": weight}) == 1.0
        assert trl_reward([good], ["B"], extra_info=[{"format_weight": weight}]) == [1.0]


def test_an_invalid_format_weight_warns_once_and_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(medrl.reward, "_WARNED", set())
    with pytest.warns(RuntimeWarning, match="format_weight 'abc' is not a finite number") as caught:
        for _ in range(3):
            assert score("r</think>\\boxed{B}", format_weight="abc") == 1.0
    assert len(caught) == 1
    # Even where warnings are errors, and for values whose own methods raise.
    monkeypatch.setattr(medrl.reward, "_WARNED", set())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for weight in ("xyz", float("nan"), Hostile(), HostileDict(), [0.1]):
            assert score("r</think>\\boxed{B}", format_weight=weight) == 1.0
        assert score("\\boxed{B}", extra_info=HostileDict(format_weight=0.5)) == 1.0


def test_valid_format_weights_of_any_numeric_type() -> None:
    good = "r</think>\\boxed{B}"
    assert score(good, format_weight=1) == 2.0
    assert score(good, format_weight=np.float32(0.5)) == 1.5
    assert score(good, extra_info={"format_weight": np.int64(2)}) == 3.0
    assert type(score(good, format_weight=np.float64(0.5))) is float
    assert score(good, format_weight=1e308) == 1e308  # finite, however large


@pytest.mark.parametrize(
    "weight",
    ["abc", "0.1", float("nan"), float("inf"), -1, -0.1, True, False, None, [0.1], pytest.param(10**400, id="10**400")],
)
def test_make_trl_reward_rejects_an_invalid_format_weight(weight) -> None:
    with pytest.raises(ValueError, match="format_weight must be a finite number >= 0"):
        make_trl_reward(format_weight=weight)


def test_make_trl_reward_rejects_a_hostile_format_weight() -> None:
    with pytest.raises(ValueError, match="got a value of type Hostile"):
        make_trl_reward(format_weight=Hostile())


def test_trl_reward_with_odd_call_shapes() -> None:
    assert trl_reward(None) == [] and trl_reward() == [] and trl_reward("\\boxed{B}", ["B"]) == []
    assert trl_reward(HostileList(["\\boxed{B}"]), ["B"]) == []
    assert trl_reward(("\\boxed{B}", "\\boxed{A}"), ("B", "A")) == [1.0, 1.0]
    rewards = trl_reward(["\\boxed{B}"] * 3, ["B"] * 3, data_source=None, extra_info=[None, 5], trainer_state=Hostile())
    assert rewards == [1.0, 1.0, 1.0]
    assert trl_reward(["\\boxed{B}"], HostileList(["B"])) == [0.0]


# --- the linear-time internals against simple references ---------------------------------------------------------


def test_the_whitespace_list_is_what_isspace_and_the_regex_accept() -> None:
    spaces = {chr(code) for code in range(sys.maxunicode + 1) if chr(code).isspace()}
    assert set(medrl.reward._WHITESPACE) == spaces
    assert all(re.fullmatch(r"\s", char) for char in spaces)


def reference_boxes(text: str) -> list[tuple[int, int]]:
    """The (start, end) of every `\\boxed{` opening (end -1 when unclosed), by a plain brace stack."""
    stack: list[int] = []
    boxes: dict[int, int] = {}
    for match in re.finditer(r"\\boxed\s*\{|[{}]", text):
        if match.group() == "}":
            if stack and (start := stack.pop()) >= 0:
                boxes[start] = match.start()
        elif match.group() == "{":
            stack.append(-1)
        else:
            boxes[match.end()] = -1
            stack.append(match.end())
    return sorted(boxes.items())


REFERENCE_BLANK = re.compile(r"(?:[\s${}＄﹩｛｝﹛﹜︷︸]|\\[a-z]{1,12}(?=\s*\{))*")


def reference_extract_boxed(completion: str) -> str | None:
    text = strip_reasoning(completion)
    for start, end in reversed(reference_boxes(text)):
        if end >= 0 and not REFERENCE_BLANK.fullmatch(text[start:end]):
            return text[start:end]
    return None


BRACE_SOUP = st.lists(
    st.sampled_from(["\\boxed{", "\\boxed {", "\\boxed\u3000\n{", "\\boxed", "\\boxedx{", "\\Boxed{", "\\\\boxed{"])
    | st.sampled_from(["{", "}", "{", "}", " ", "$", "B", "x", "\\text{", "\\text", "\\hat {", "\\abcdefghijklm{"])
    | st.sampled_from(["｛", "｝", "＄", "\u3000", "\\", "</think>", "<think>"])
    | st.characters(exclude_categories=()),
    max_size=60,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(text=BRACE_SOUP)
@example(text="}}{\\boxed{a}{}}\\boxed{\\boxed{}x}}")
@example(text="\\boxed{\\text{}}\\boxed{B}\\boxed{\\hat{}}")
def test_box_matching_and_emptiness_agree_with_a_plain_stack(text: str) -> None:
    expected = reference_boxes(text)
    filled = [end >= 0 and not REFERENCE_BLANK.fullmatch(text[start:end]) for start, end in expected]
    for scan in (medrl.reward._stacked_boxes, medrl.reward._vectorised_boxes):  # short and long texts' paths
        boxes = scan(text)
        assert list(zip(boxes.starts.tolist(), boxes.ends.tolist(), strict=True)) == expected
        assert boxes.filled.tolist() == filled
    assert extract_boxed(text) == reference_extract_boxed(text)


def test_long_boxes_are_normalised_at_their_ends_only() -> None:
    option = "x" * 5000
    assert score(f"\\boxed{{Ｂ. {option}}}") == 1.0  # the letter is at the start
    assert score(f"\\boxed{{\\text｛Ｂ. {option}｝}}") == 1.0  # the wrapper at both ends
    assert score(f"\\boxed{{{' ' * 5000}Ｂ{' ' * 5000}}}") == 1.0  # stripped before the ends are taken
    assert score(f"\\boxed{{B. {option}\u0301{option}}}") == 1.0
