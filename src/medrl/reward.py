"""Rule-based 0/1 reward for lettered multiple-choice medical QA (II-Medical-RL style rows).

A training row has a ``problem`` (question, lettered options, and an instruction to put the final letter in
``\\boxed{}``) and a ``label`` (the correct letter). The policy's completion earns 1.0 when the letter in its final
``\\boxed{...}`` equals the label, else 0.0. Two entry points share one rule:

* :func:`compute_score` has verl's custom reward signature ``(data_source, solution_str, ground_truth,
  extra_info=None)``; point ``reward.custom_reward_function.path`` at this file and ``name`` at ``compute_score``.
* :func:`trl_reward` is a TRL ``GRPOTrainer`` reward function: ``reward_funcs=[medrl.reward.trl_reward]``.

The rule, step by step (each step is a deliberate, conservative decision):

1. **Reasoning is ignored.** Everything up to and including the *last* ``</think>`` is dropped. The match is exact
   and case-sensitive. If the remaining text contains a ``<think>``, that thought was never closed (a truncated
   completion) and everything from the first such ``<think>`` on is dropped too. So a box that only appears inside
   reasoning never scores. (verl decodes responses with ``skip_special_tokens=True``: the tags reach this function
   only when the model's tokenizer does not mark them special, which is worth checking for the model trained.)
2. **The last non-empty box is the answer.** ``\\boxed{...}`` (``\\boxed {`` with spaces too) is matched with
   balanced braces, so ``\\boxed{\\text{B}}`` works; a box whose braces never close is ignored. Among the closed
   boxes, the one that *opens* last wins (for a nested ``\\boxed{\\boxed{B}}`` that is the inner one). A box is
   empty when nothing is left after removing whitespace, ``$`` and text-formatting wrappers (``\\boxed{}``,
   ``\\boxed{ }``, ``\\boxed{\\text{}}``; at most eight nested wrappers are peeled, plenty for real answers and a
   bound that keeps the peeling linear); empty boxes are skipped in favour of the previous box. A non-empty last box
   that holds no recognisable letter is the answer all the same and scores 0: there is no falling back to an
   earlier box the model has overridden.
3. **No box, no reward.** There is no fallback to a letter written in prose ("The answer is B"): the model must use
   the format it was asked for.
4. **Letter forms accepted inside the box** (after Unicode NFKC normalisation, so full-width ``Ｂ`` reads as ``B``;
   after unwrapping ``\\text``/``\\textbf``/``\\mathrm``/``\\mathbf``/... and ``{...}`` wrappers; after stripping
   whitespace and ``$``). ``X`` is one ASCII letter A-Z, either case:

   * ``X``, ``(X)``, ``[X]``;
   * ``X.``, ``X)``, ``X:`` alone or followed by whitespace and the option text: ``B. Aspirin``, ``B) Aspirin``,
     ``(B) Aspirin``, ``B: Aspirin``; also ``X - text`` (a dash with spaces either side);
   * one explicit label in front of any of the above: ``Option B``, ``Answer: B``, ``Choice (B)``,
     ``Answer: B. Aspirin`` (the words ``option``, ``answer``, ``choice`` in any case, then whitespace or a
     ``:``; so ``\\boxed{answers}`` is not the letter S).

   Anything else scores 0, in particular a sentence that merely contains a capital letter (``\\boxed{I think B}``,
   ``\\boxed{The answer is B}``), several letters (``\\boxed{B, D}``, ``\\boxed{B and D}``, ``\\boxed{BD}``), a
   letter glued to more text (``\\boxed{B.C.}``, ``\\boxed{Bx}``), a wrapper that does not enclose the whole box
   (``\\boxed{\\text{B}.}``) and non-ASCII letters that NFKC does not fold to ASCII (Greek ``Β``).
5. **Comparison** is case-insensitive against ``ground_truth``, which is read with the same letter parser (so
   ``"B"``, ``"b"``, ``"(B)"``, ``"\\text{B}"`` all mean B). A ground truth that holds no single letter is a dataset
   bug; it scores every completion 0.0 rather than crash a training run.

Optional format reward (off by default): :func:`format_score` is 1.0 for a completion shaped ``reasoning </think>
answer`` with exactly one ``</think>``, no unclosed ``<think>`` after it, and exactly one ``\\boxed{`` after it whose
contents are a letter as above; else 0.0. It is added to the accuracy as ``accuracy + format_weight *
format_score``. ``format_weight`` comes from the ``format_weight`` keyword or, when that is not given, from
``extra_info["format_weight"]`` (per row); it defaults to 0.0, which gives the plain 0/1 reward. In verl pass it as
``+reward.custom_reward_function.reward_kwargs.format_weight=0.1`` on the command line; in TRL use
:func:`make_trl_reward` or an ``extra_info`` column.

Cost: every step is a linear scan (``str.rfind``/``str.find``, one regex over the text whose alternatives are
fixed strings or single characters, with no nested quantifiers, and brace counts on long box contents vectorised with
numpy), so a multi-megabyte completion with thousands of unbalanced ``\\boxed{`` openings is handled in linear time
and memory.

The module imports only the standard library and numpy, and no other medrl module: verl loads the reward function
from this file by path (``custom_reward_function.path``), outside the package.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "completion_text",
    "compute_score",
    "extract_answer_letter",
    "extract_boxed",
    "format_score",
    "make_trl_reward",
    "parse_letter",
    "strip_reasoning",
    "trl_reward",
]

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"

# One token per match: a box opening, or a single brace. `\s*` is followed by a literal `{`, and a run of
# whitespace can follow only one `\boxed`, so the whole scan stays linear.
_BOX_TOKENS = re.compile(r"\\boxed\s*\{|[{}]")

# Formatting commands whose argument is the answer itself: `\text{B}`, `\textbf{B}`, `\mathrm{B}`, ...
_WRAPPER = re.compile(
    r"\\(?:text|textbf|textrm|textsf|texttt|textit|textup|textnormal|mathrm|mathbf|mathit|mathsf|mathtt|"
    r"mathnormal|boldsymbol|bm|emph|operatorname)\s*\{"
)

# The accepted letter forms, tried with fullmatch on the unwrapped, stripped box contents (module docstring, step 4).
# The letter classes are plain ASCII and case-sensitive (IGNORECASE would let Unicode look-alikes in); only the
# label words are case-insensitive. Every quantifier is followed by a different fixed character class, so a
# failing match backtracks at most linearly.
_LABEL = r"(?:(?i:option|answer|choice)(?:\s*:\s*|\s+))?"
_LETTER_FORMS = re.compile(
    rf"{_LABEL}(?:"
    r"\((?P<paren>[A-Za-z])\)(?:\s.*)?"  # (B)  (B) Aspirin
    r"|\[(?P<bracket>[A-Za-z])\]"  # [B]
    r"|(?P<bare>[A-Za-z])(?:[.):](?:\s.*)?|\s+[-–—]\s.*)?"  # B  B.  B) Aspirin  B: Aspirin  B - Aspirin
    r")",
    re.DOTALL,
)

_OPEN, _CLOSE = ord("{"), ord("}")
_VECTOR_MIN = 512  # strings longer than this get their braces counted by numpy

# Wrappers deeper than this are not peeled (real answers use two or three); it bounds the peeling to linear time.
_MAX_UNWRAP = 8


def strip_reasoning(text: str) -> str:
    """The answer part of a completion: the text after the last ``</think>``, cut before an unclosed ``<think>``.

    With no ``</think>`` the whole text is the answer part (a model trained without reasoning tags), unless it
    contains a ``<think>``, whose unclosed thought is cut off like any other.
    """
    close = text.rfind(THINK_CLOSE)
    if close >= 0:
        text = text[close + len(THINK_CLOSE) :]
    open_ = text.find(THINK_OPEN)
    if open_ >= 0:
        text = text[:open_]
    return text


def _boxes(text: str) -> tuple[list[tuple[int, int]], int]:
    """The (start, end) content spans of every closed ``\\boxed{...}`` in ``text``, in order of their opening,
    and the number of ``\\boxed{`` openings (closed or not).

    One left-to-right pass with a brace stack: linear in ``len(text)``. A ``}`` with nothing open is ignored; box
    openings still open at the end are unbalanced and dropped.
    """
    stack: list[int] = []  # content start of an open box, or -1 for a plain `{`
    spans: list[tuple[int, int]] = []
    openings = 0
    for match in _BOX_TOKENS.finditer(text):
        token = match.group()
        if token == "}":
            if stack:
                start = stack.pop()
                if start >= 0:
                    spans.append((start, match.start()))
        elif token == "{":
            stack.append(-1)
        else:
            openings += 1
            stack.append(match.end())
    spans.sort()
    return spans, openings


def _balanced(text: str) -> bool:
    """Whether every brace in ``text`` closes one opened before it, and all are closed.

    Long strings are checked with a numpy running sum, so that peeling wrappers off a megabyte-long box costs a
    few vectorised passes rather than Python-level loops over every character.
    """
    if len(text) > _VECTOR_MIN:
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        depth = np.cumsum((codes == _OPEN).astype(np.int64) - (codes == _CLOSE))
        return bool(depth[-1] == 0 and depth.min() >= 0)
    depth = 0
    for char in text:
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def _unwrap(content: str) -> str:
    """Box contents with formatting removed: NFKC-normalised, and outer ``$``, whitespace, ``{...}`` and
    ``\\text{...}``-style wrappers peeled off for as long as one wraps the whole string."""
    text = unicodedata.normalize("NFKC", content).strip().strip("$").strip()
    for _ in range(_MAX_UNWRAP):
        wrapper = _WRAPPER.match(text)
        if wrapper and text.endswith("}") and _balanced(text[wrapper.end() : -1]):
            inner = text[wrapper.end() : -1]
        elif text.startswith("{") and text.endswith("}") and _balanced(text[1:-1]):
            inner = text[1:-1]
        else:
            break
        text = inner.strip().strip("$").strip()
    return text


def parse_letter(text: str) -> str | None:
    """The single answer letter (upper case) written in ``text`` in one of the accepted forms, else None.

    ``text`` is box contents or a ground truth; see the module docstring (step 4) for the accepted forms.
    """
    unwrapped = _unwrap(text)
    match = _LETTER_FORMS.fullmatch(unwrapped)
    if match is None:
        return None
    letter = match.group("paren") or match.group("bracket") or match.group("bare")
    return letter.upper()


def extract_boxed(solution_str: str) -> str | None:
    """The contents of the answer box: the last non-empty ``\\boxed{...}`` after the reasoning, else None."""
    text = strip_reasoning(solution_str)
    spans, _ = _boxes(text)
    for start, end in reversed(spans):
        content = text[start:end]
        if _unwrap(content):
            return content
    return None


def extract_answer_letter(solution_str: str) -> str | None:
    """The upper-case letter the completion answers with, or None when it has no valid boxed letter."""
    content = extract_boxed(solution_str)
    return None if content is None else parse_letter(content)


def format_score(solution_str: str) -> float:
    """1.0 for ``reasoning </think> answer`` with exactly one ``</think>``, no ``<think>`` after it, and exactly one
    ``\\boxed{`` after it that is closed and holds a letter in an accepted form; else 0.0."""
    close = solution_str.find(THINK_CLOSE)
    if close < 0 or solution_str.find(THINK_CLOSE, close + 1) >= 0:
        return 0.0
    answer = solution_str[close + len(THINK_CLOSE) :]
    if THINK_OPEN in answer:
        return 0.0
    spans, openings = _boxes(answer)
    if openings != 1 or len(spans) != 1:
        return 0.0
    start, end = spans[0]
    return 1.0 if parse_letter(answer[start:end]) is not None else 0.0


def _format_weight(format_weight: float | None, extra_info: Mapping[str, Any] | None) -> float:
    if format_weight is not None:
        return float(format_weight)
    if isinstance(extra_info, Mapping) and extra_info.get("format_weight") is not None:
        return float(extra_info["format_weight"])
    return 0.0


def compute_score(
    data_source: Any,
    solution_str: str,
    ground_truth: Any,
    extra_info: Mapping[str, Any] | None = None,
    format_weight: float | None = None,
    **kwargs: Any,
) -> float:
    """verl custom reward: 1.0 when the completion's final boxed letter equals ``ground_truth``, else 0.0.

    ``data_source`` is accepted for verl's signature and not used: every source is scored by the same letter rule.
    ``format_weight`` (keyword, or ``extra_info["format_weight"]`` when the keyword is absent; default 0.0) adds
    ``format_weight * format_score(solution_str)``. Other keywords verl may pass (``reward_router_address``,
    ``reward_model_tokenizer``, further ``reward_kwargs``) are accepted and ignored.
    """
    expected = parse_letter(str(ground_truth))
    answer = extract_answer_letter(solution_str)
    score = 1.0 if expected is not None and answer == expected else 0.0
    weight = _format_weight(format_weight, extra_info)
    if weight:
        score += weight * format_score(solution_str)
    return score


def completion_text(completion: Any) -> str:
    """The text of one TRL completion: a plain string as is; a conversation (a list of ``{"role", "content"}``
    messages) gives the content of its last assistant message (content given as a list of parts, as in
    multimodal messages, gives its text parts joined), or "" when it has none."""
    if isinstance(completion, str):
        return completion
    for message in reversed(completion):
        if isinstance(message, Mapping) and message.get("role") == "assistant":
            content = message.get("content")
            if content is None:
                return ""
            if isinstance(content, str):
                return content
            return "".join((part.get("text") or "") if isinstance(part, Mapping) else str(part) for part in content)
    return ""


def _row(values: Sequence[Any] | None, index: int) -> Any:
    return None if values is None else values[index]


def make_trl_reward(format_weight: float = 0.0) -> Callable[..., list[float]]:
    """A TRL reward function that scores with :func:`compute_score` and the given ``format_weight``.

    ``make_trl_reward()`` is :func:`trl_reward`'s rule; ``reward_funcs=[make_trl_reward(format_weight=0.1)]`` adds
    the format reward. TRL logs each reward function under its ``__name__``: ``medrl_accuracy`` without the format
    term, ``medrl_accuracy_format`` with it.
    """

    def reward(completions: Sequence[Any], label: Sequence[Any], **kwargs: Any) -> list[float]:
        if len(completions) != len(label):
            raise ValueError(f"{len(completions)} completions but {len(label)} labels")
        data_source = kwargs.get("data_source")
        extra_info = kwargs.get("extra_info")
        return [
            compute_score(
                _row(data_source, i),
                completion_text(completion),
                label[i],
                _row(extra_info, i),
                format_weight=format_weight if format_weight else None,
            )
            for i, completion in enumerate(completions)
        ]

    reward.__name__ = reward.__qualname__ = "medrl_accuracy_format" if format_weight else "medrl_accuracy"
    return reward


def trl_reward(completions: Sequence[Any], label: Sequence[Any], **kwargs: Any) -> list[float]:
    """TRL ``GRPOTrainer`` reward function: one :func:`compute_score` per completion against its row's ``label``.

    TRL calls it with ``prompts=``, ``completions=``, ``completion_ids=`` and every other dataset column as a list
    keyword argument (plus ``trainer_state``, ``log_extra``, ``log_metric``); all but ``completions`` and ``label``
    go to ``**kwargs``. Optional columns used when present: ``data_source`` and ``extra_info`` (so a per-row
    ``extra_info["format_weight"]`` turns the format reward on). ``completions`` are strings or conversations
    (see :func:`completion_text`).
    """
    return _plain_trl_reward(completions, label, **kwargs)


_plain_trl_reward = make_trl_reward()
