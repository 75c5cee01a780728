"""Derive a training row's label (the correct option letter) from its answer, or say exactly why it cannot be.

A wrong label silently teaches the policy the wrong answer, so only unambiguous evidence counts: the answer text
must single out one option (exactly, after normalisation, or as an unambiguous word prefix either way), and a
label the source gives must be an option letter that the answer text does not contradict.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from medrl.benchmarks.loaders import answer_letter
from medrl.detection.text import words

Options = Sequence[tuple[str, str]]

# MedMCQA-derived answers read "<option text>. Explanation: <why>"; the head alone is the answer.
_EXPLANATION = re.compile(r"\s*\bExplanation\s*:", re.IGNORECASE)
# "B", "(B)", "B.", "B) Heparin": a letter, optionally followed by the option's text.
_LETTERED = re.compile(r"^\(?([A-Z])(?:\)|[.):]\s*|\s*$)(.*)$", re.DOTALL)


class LabelError(ValueError):
    """No unambiguous label: `category` is a short key for counting, the message says what was found."""

    def __init__(self, category: str, detail: str) -> None:
        super().__init__(detail)
        self.category = category
        self.detail = detail


def _unique(candidates: list[str], method: str) -> str | None:
    """The one letter found, None when none; several letters are an ambiguity, never a guess."""
    if len(candidates) > 1:
        raise LabelError("ambiguous", f"the answer matches options {', '.join(candidates)} ({method} match)")
    return candidates[0] if candidates else None


def _stages(options: Options) -> list[tuple[str, Callable[[str], list[str]]]]:
    """The answer-to-option matchers, strictest first; each maps an answer text to the letters it matches."""
    option_words = [(letter, words(text)) for letter, text in options]

    def exact(answer: str) -> list[str]:
        return [letter for letter, text in options if text.strip() == answer.strip()]

    def normalised(answer: str) -> list[str]:
        answer_words = words(answer)
        return [letter for letter, tokens in option_words if answer_words and tokens == answer_words]

    def lettered(answer: str) -> list[str]:
        found = _LETTERED.match(answer.strip())
        if not found:
            return []
        letter, rest = found.group(1), found.group(2)
        option = dict(options).get(letter)
        return [letter] if option is not None and (not rest.strip() or words(rest) == words(option)) else []

    def prefix(answer: str) -> list[str]:
        answer_words = words(answer)
        if not answer_words:
            return []
        return [
            letter
            for letter, tokens in option_words
            if tokens and (answer_words[: len(tokens)] == tokens or tokens[: len(answer_words)] == answer_words)
        ]

    return [("exact", exact), ("normalised", normalised), ("letter", lettered), ("prefix", prefix)]


def match_answer(answer: str, options: Options) -> tuple[str, str]:
    """(letter, method) for an answer text: exact, then normalised (`medrl.detection.text.words`), then a letter
    form, then an unambiguous word prefix (the option starts the answer, or the answer starts the option). Each stage
    is tried on the whole answer, then on the part before an "Explanation:"; the first stage that finds one letter
    wins."""
    if not answer.strip():
        raise LabelError("no-answer", "the row has no answer")
    texts = [answer]
    head = _EXPLANATION.split(answer, maxsplit=1)[0].strip().rstrip(".").strip()
    if head and head != answer:
        texts.append(head)
    for method, stage in _stages(options):
        for text in texts:
            letter = _unique(stage(text), method)
            if letter is not None:
                return letter, method
    shown = ", ".join(f"{letter}. {text}" for letter, text in options)
    raise LabelError("no-match", f"the answer {answer!r:.80} matches none of the options ({shown:.200})")


def derive_label(answer: str, options: Options, given: object = None) -> tuple[str, str]:
    """(letter, method) for a row with lettered `options`, its `answer` text and optionally a `given` label.

    A given label (a letter, "(B)", an index) must name an option and not contradict the answer text; the text is
    only consulted for contradiction when it matches one option unambiguously.
    """
    if not options:
        raise LabelError("open-ended", "open-ended: the row has no options")
    letters = [letter for letter, _ in options]
    if len(set(letters)) != len(letters):
        raise LabelError("bad-options", f"the options repeat a letter: {', '.join(letters)}")
    has_given = given is not None and not (isinstance(given, str) and not given.strip())
    if not has_given:
        return match_answer(answer, options)
    letter = answer_letter(given, options)
    if letter is None or letter not in letters:
        raise LabelError("bad-label", f"the label {given!r:.40} is not one of the option letters {', '.join(letters)}")
    try:
        from_text, method = match_answer(answer, options)
    except LabelError:
        return letter, "given"
    if from_text != letter:
        raise LabelError(
            "conflict", f"the label is {letter} but the answer text matches option {from_text} ({method} match)"
        )
    return letter, "given"
