"""The boxed-letter reward (medrl.reward): the documented rule, adversarial completions, TRL and verl call shapes."""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

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


def test_trl_length_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="2 completions but 1 labels"):
        trl_reward(["\\boxed{B}", "\\boxed{B}"], ["B"])
