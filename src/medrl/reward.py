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
   empty when it holds nothing but whitespace, ``$``, braces (full-width ``＄｛｝`` included) and the openings of
   ``\\name{...}`` commands (``\\boxed{}``, ``\\boxed{ }``, ``\\boxed{$ $}``, ``\\boxed{\\text{}}``,
   ``\\boxed{\\hat{}}``); empty boxes are skipped in favour of the previous box. A non-empty last box that holds
   no recognisable letter is the answer all the same and scores 0: there is no falling back to an earlier box the
   model has overridden.
3. **No box, no reward.** There is no fallback to a letter written in prose ("The answer is B"): the model must use
   the format it was asked for.
4. **Letter forms accepted inside the box** (after Unicode NFKC normalisation, so full-width ``Ｂ`` reads as ``B``;
   after unwrapping ``\\text``/``\\textbf``/``\\mathrm``/``\\mathbf``/... and ``{...}`` wrappers, at most eight nested
   ones, plenty for real answers and a bound that keeps the peeling linear; after stripping whitespace and ``$``).
   ``X`` is one ASCII letter A-Z, either case:

   * ``X``, ``(X)``, ``[X]``;
   * ``X.``, ``X)``, ``X:`` alone or followed by whitespace and the option text: ``B. Aspirin``, ``B) Aspirin``,
     ``(B) Aspirin``, ``B: Aspirin``; also ``X - text`` (a dash with spaces either side);
   * one explicit label in front of any of the above: ``Option B``, ``Answer: B``, ``Choice (B)``,
     ``Answer: B. Aspirin`` (the words ``option``, ``answer``, ``choice`` in any case, then whitespace or a
     ``:``; so ``\\boxed{answers}`` is not the letter S).

   Anything else scores 0, in particular a sentence that merely contains a capital letter (``\\boxed{I think B}``,
   ``\\boxed{The answer is B}``), several letters (``\\boxed{B, D}``, ``\\boxed{B and D}``, ``\\boxed{BD}``), a
   letter glued to more text (``\\boxed{B.C.}``, ``\\boxed{Bx}``), a wrapper that does not enclose the whole box
   (``\\boxed{\\text{B}.}``) and non-ASCII letters that NFKC does not fold to ASCII (Greek ``Β``). NFKC applies to
   the first and last 256 characters of the box contents (stripped of whitespace and ``$``), where the letter and
   the wrappers are; the middle of a longer box, option text, is read as written. CPython normalises a long run of
   combining marks in quadratic time, so normalising a whole megabyte-long box could take minutes.
5. **Comparison** is case-insensitive against ``ground_truth``, which is read with the same letter parser (so
   ``"B"``, ``"b"``, ``"(B)"``, ``"\\text{B}"`` all mean B). A ground truth that holds no single letter is a dataset
   bug; it scores every completion 0.0 rather than crash a training run.

Inputs: the reward never raises, whatever it is given, because one malformed row must not stop a training run;
what cannot be read scores 0.0. A completion that is a ``str`` is used as is (lone surrogates included); ``bytes``
or ``bytearray`` are decoded as UTF-8 with undecodable bytes replaced; a TRL conversation (a list or tuple of
``{"role", "content"}`` messages) gives the content of its last assistant message (see :func:`completion_text`);
anything else (None, numbers, other objects) is read as no text, and so is a conversation whose list, messages or
parts raise when read. A ground truth is read the same way, except that a conversation is not a ground truth.
``str()`` is never called on a value, nor are its ``__eq__`` or ``__len__``: a ``str`` subclass is copied to a
plain ``str`` first.

Optional format reward (off by default): :func:`format_score` is 1.0 for a completion shaped ``reasoning </think>
answer`` with exactly one ``</think>``, no unclosed ``<think>`` after it, and exactly one ``\\boxed{`` after it whose
contents are a letter as above; else 0.0. It is added to the accuracy as ``accuracy + format_weight *
format_score``. ``format_weight`` comes from the ``format_weight`` keyword or, when that is not given, from
``extra_info["format_weight"]`` (per row); it defaults to 0.0, which gives the plain 0/1 reward. In verl pass it as
``+reward.custom_reward_function.reward_kwargs.format_weight=0.1`` on the command line; in TRL use
:func:`make_trl_reward` or an ``extra_info`` column. A weight must be a finite number >= 0 (an int, a float or a
numpy number; not a bool, which is more likely a misplaced flag). :func:`make_trl_reward` rejects any other value
with a ValueError when the reward is configured; a per-call value (the keyword, or a row's ``extra_info``) arrives
inside the training loop, so an invalid one counts as 0.0, with a ``RuntimeWarning`` the first time each such value
(for an arbitrary object: each such type) is seen, up to 64 of them; a warnings filter that turns warnings into
errors does not make the reward raise. The score is always a finite ``float`` in ``[0, 1 + weight]``.

Cost: linear time and memory; a megabyte-long completion takes tens of milliseconds at most, whatever it holds.
In an answer part longer than 4096 characters, commands, braces and box contents are found with numpy over the
code points (no Python loop per brace or per box: an adversarial megabyte holds a million braces or a hundred
thousand boxes); a shorter one, the usual case, is scanned by a Python loop, which is faster there. Then
``str.find`` calls and regular expressions whose alternatives are fixed strings or single characters, with no
nested quantifiers, run over the answer box; NFKC is bounded as step 4 says.

The module imports only the standard library and numpy, and no other medrl module: verl loads the reward function
from this file by path (``custom_reward_function.path``), outside the package.
"""

from __future__ import annotations

import contextlib
import math
import re
import unicodedata
import warnings
from collections.abc import Callable, Mapping
from itertools import accumulate
from typing import Any, NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

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

# Every character that str.isspace() and the regex `\s` accept (tests/test_reward.py checks the list is complete).
_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def _table(chars: str) -> np.ndarray:
    """A lookup table over the Basic Multilingual Plane that holds every character of ``chars``; indexed with
    ``take(codes, mode="clip")``, which maps every code point past it to U+FFFF, not in ``chars``."""
    table = np.zeros(0x10000, dtype=bool)
    table[[ord(char) for char in chars]] = True
    return table


_SPACES = _table(_WHITESPACE)
# What an empty box may hold besides whitespace and `\name{` commands: `$`, braces, and the characters NFKC folds
# to `$` or a brace.
_BLANK_CHARS = "${}＄﹩｛｝﹛﹜︷︸"
_BLANK = _table(_WHITESPACE + _BLANK_CHARS)
_OPEN, _CLOSE, _BACKSLASH = ord("{"), ord("}"), ord("\\")
_BRACE_STEPS = {"{": 1, "}": -1}

# Formatting commands whose argument is the answer itself: `\text{B}`, `\textbf{B}`, `\mathrm{B}`, ...
_WRAPPER_NAMES = [
    *("text", "textbf", "textrm", "textsf", "texttt", "textit", "textup", "textnormal", "emph"),
    *("mathrm", "mathbf", "mathit", "mathsf", "mathtt", "mathnormal", "boldsymbol", "bm", "operatorname"),
]
_WRAPPER = re.compile(rf"\\(?:{'|'.join(_WRAPPER_NAMES)})\s*+\{{")

# Commands are recognised by names of at most this many letters (operatorname has twelve).
_NAME_MAX = 12
_BOXED = np.array([ord(char) for char in "boxed"], dtype=np.uint32)
_PAD = "\0" * (_NAME_MAX + 1)  # after the text scanned for commands, so every backslash has a full window after it
# Texts up to this long are scanned by Python loops and the regular expressions below, longer ones with numpy,
# whose fixed cost (tens of microseconds) outweighs a loop over a few hundred braces but not over a million. The
# regular expressions find box openings and braces, and what an empty box may hold (module docstring, step 2).
_SHORT = 4096
_BOX_TOKENS = re.compile(r"\\boxed\s*+\{|[{}]")
_UNFILLED_RUN = re.compile(rf"(?:[\s{re.escape(_BLANK_CHARS)}]|\\[a-z]{{1,{_NAME_MAX}}}(?=\s*\{{))*+")

# The accepted letter forms, tried with fullmatch on the unwrapped, stripped box contents (module docstring, step 4).
# The letter classes are plain ASCII and case-sensitive (IGNORECASE would let Unicode look-alikes in); only the
# label words are case-insensitive. Whitespace runs are possessive (`\s*+`, `\s++`: what follows them is never
# whitespace, so giving characters back could not help), so a failing match scans a megabyte of spaces once per
# alternative instead of backtracking through it.
_LABEL = r"(?:(?i:option|answer|choice)(?:\s*+:\s*+|\s++))?"
_LETTER_FORMS = re.compile(
    rf"{_LABEL}(?:"
    r"\((?P<paren>[A-Za-z])\)(?:\s.*)?"  # (B)  (B) Aspirin
    r"|\[(?P<bracket>[A-Za-z])\]"  # [B]
    r"|(?P<bare>[A-Za-z])(?:[.):](?:\s.*)?|\s++[-–—]\s.*)?"  # B  B.  B) Aspirin  B: Aspirin  B - Aspirin
    r")",
    re.DOTALL,
)

_STRIP_RUN = re.compile(r"[\s$]*")


def _run_end(run: re.Pattern[str], text: str, start: int, end: int) -> int:
    """Where a run pattern that may match nothing (`*`, `*+`) ends from `start`: it always matches."""
    found = run.match(text, start, end)
    assert found is not None
    return found.end()


_STRIP_CHARS = _WHITESPACE + "$"

# Wrappers deeper than this are not peeled (real answers use two or three); it bounds the peeling to linear time.
_MAX_UNWRAP = 8
# NFKC is applied to this many characters at each end of a box (module docstring, step 4).
_NFKC_EDGE = 256

# Invalid per-call format weights already warned about (described by _describe), at most _MAX_WARNINGS of them.
_WARNED: set[str] = set()
_MAX_WARNINGS = 64


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


def _codes(text: str) -> np.ndarray:
    """The code points of ``text``, lone surrogates included."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")


def _commands(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every ``\\name{`` command (a backslash, a name of at most _NAME_MAX lower-case ASCII letters, optional
    whitespace, ``{``) in text whose code points ``codes`` end with _PAD: the offsets of its backslash and of its
    ``{``, the name's length, and whether it is a box.

    This is what the regex ``\\\\[a-z]+\\s*\\{`` finds, computed with numpy: a megabyte can hold 150,000 commands,
    too many for a Python loop over regex matches.
    """
    slashes = np.flatnonzero(codes == _BACKSLASH)
    lower = codes - ord("a") < 26  # unsigned: code points below "a" wrap around to huge numbers
    lengths = sliding_window_view(lower, _NAME_MAX + 1)[slashes + 1].argmin(axis=1)  # 0: no name, or a longer one
    braces = slashes + 1 + lengths
    maybe = np.flatnonzero((lengths > 0) & (codes[braces] != _OPEN))
    spaced = maybe[_SPACES.take(codes[braces[maybe]], mode="clip")]
    if len(spaced):  # `\boxed {`: the first non-space character after the name (_PAD has one)
        solid = np.flatnonzero(~_SPACES.take(codes, mode="clip"))
        braces[spaced] = solid[np.searchsorted(solid, braces[spaced])]
    found = np.flatnonzero((lengths > 0) & (codes[braces] == _OPEN))
    slashes, braces, lengths = slashes[found], braces[found], lengths[found]
    boxed = lengths == len(_BOXED)
    for place, code in enumerate(_BOXED, 1):
        boxed &= codes[slashes + place] == code
    return slashes, braces, lengths, boxed


def _box_ends(codes: np.ndarray, box_braces: np.ndarray) -> np.ndarray:
    """For each box's ``{`` (ascending offsets), the offset of the ``}`` that closes it, or -1 when none does.

    Braces are matched as by a stack on which a ``}`` with nothing open is ignored, computed with numpy instead (a
    megabyte of ``{`` is a million stack operations): the depth after each brace is the running sum of its +1/-1
    reflected at zero, and a ``{`` opening to depth k is closed by the first later ``}`` closing from depth k. So
    the box braces and the ``}`` closing from the boxes' depths are sorted by (depth, offset), where each box is
    followed by its ``}`` if it has one.
    """
    start = box_braces[0]  # a brace's partner depends only on the braces after it
    tail = codes[start:]
    braces = np.flatnonzero((tail == _OPEN) | (tail == _CLOSE))  # offsets from `start`
    signs = np.int32(124) - tail[braces].view(np.int32)  # `{` is 123, `}` is 125
    after = np.cumsum(signs, dtype=np.int32)
    after -= np.minimum.accumulate(np.minimum(after, 0))
    before = np.concatenate(([np.int32(0)], after[:-1]))
    is_box = np.zeros(len(tail), dtype=bool)
    is_box[box_braces - start] = True
    boxes = np.flatnonzero(is_box[braces])  # the boxes' indices among the braces
    levels = after[boxes]
    closes = np.flatnonzero((signs < 0) & (before > 0))  # a `}` with nothing open (depth 0) closes nothing
    closes = closes[np.isin(before[closes], levels)]
    depths = np.concatenate((levels, before[closes])).astype(np.int64)
    keys = np.sort(depths << 32 | np.concatenate((boxes, closes)))
    first, second = keys[:-1] & 0xFFFFFFFF, keys[1:] & 0xFFFFFFFF
    pairs = (keys[:-1] >> 32 == keys[1:] >> 32) & (signs[first] > 0) & (signs[second] < 0)
    partner = np.full(len(braces), -1, dtype=np.int64)
    partner[first[pairs]] = start + braces[second[pairs]]
    return partner[boxes]


class _Boxes(NamedTuple):
    """The ``\\boxed{`` openings of a text, in order: content start, content end (-1 for a box whose braces never
    close) and whether the box is closed and not empty (module docstring, step 2)."""

    starts: np.ndarray
    ends: np.ndarray
    filled: np.ndarray


_NO_BOXES = _Boxes(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool))


def _boxes(text: str) -> _Boxes:
    """The boxes of ``text``: by a brace stack when it is short, else with numpy."""
    if "\\boxed" not in text:
        return _NO_BOXES
    return _stacked_boxes(text) if len(text) <= _SHORT else _vectorised_boxes(text)


def _stacked_boxes(text: str) -> _Boxes:
    """:func:`_boxes` by a brace stack: one regex pass over the braces and box openings, then a box is filled when
    the first filling character at or after its start comes before its end. Boxes are taken from the last, each
    scanning only up to the next box's start, so nested boxes do not rescan each other's contents."""
    stack: list[int] = []  # for each open brace, the index of its box, or -1 for a plain `{`
    starts: list[int] = []
    ends: list[int] = []
    for match in _BOX_TOKENS.finditer(text):
        if match.group() == "}":
            if stack and (box := stack.pop()) >= 0:
                ends[box] = match.start()
        elif match.group() == "{":
            stack.append(-1)
        else:
            stack.append(len(starts))
            starts.append(match.end())
            ends.append(-1)
    filled = [False] * len(starts)
    filling, following = len(text), len(text)  # the first filling character at or after `following`
    for box in reversed(range(len(starts))):
        blank_end = _run_end(_UNFILLED_RUN, text, starts[box], following)
        if blank_end < following:
            filling = blank_end
        following = starts[box]
        filled[box] = filling < ends[box]
    return _Boxes(np.array(starts, dtype=np.int64), np.array(ends, dtype=np.int64), np.array(filled, dtype=bool))


def _vectorised_boxes(text: str) -> _Boxes:
    """:func:`_boxes` with numpy, in a few linear passes whatever the text (:func:`_commands`, :func:`_box_ends`)."""
    codes = _codes(text + _PAD)
    slashes, braces, lengths, boxed = _commands(codes)
    if not boxed.any():
        return _NO_BOXES
    starts = braces[boxed] + 1
    ends = _box_ends(codes, braces[boxed])
    closed = ends >= 0
    filled = np.zeros(len(starts), dtype=bool)
    if closed.any():
        # Count the characters that are neither blank nor in a command's backslash and name, in the stretch of
        # text that holds the closed boxes.
        start, end = starts[closed], ends[closed]
        low, high = start.min(), end.max()
        names = np.zeros(high - low + 1, dtype=np.int8)
        inside = (slashes >= low) & (slashes < high)
        names[slashes[inside] - low] = 1
        names[slashes[inside] + lengths[inside] + 1 - low] = -1  # followed by whitespace or `{`, not a command
        solid = ~_BLANK.take(codes[low:high], mode="clip") & (np.cumsum(names[:-1], dtype=np.int8) == 0)
        counts = np.concatenate(([np.int32(0)], np.cumsum(solid, dtype=np.int32)))  # counts[i]: text[low:low + i]
        filled[closed] = counts[end - low] > counts[start - low]
    return _Boxes(starts, ends, filled)


def _normalise(content: str) -> str:
    """Box contents stripped of whitespace and ``$``, with NFKC applied to their ends (module docstring, step 4)."""
    text = content.strip(_STRIP_CHARS)
    if len(text) <= 2 * _NFKC_EDGE:
        return unicodedata.normalize("NFKC", text)
    head = unicodedata.normalize("NFKC", text[:_NFKC_EDGE])
    return head + text[_NFKC_EDGE:-_NFKC_EDGE] + unicodedata.normalize("NFKC", text[-_NFKC_EDGE:])


def _strip(text: str, reverse: str, start: int, end: int) -> tuple[int, int]:
    """The bounds of ``text[start:end]`` without its leading and trailing whitespace and ``$``. ``reverse`` is
    ``text[::-1]``, where a regex finds the trailing run without copying the window."""
    start = _run_end(_STRIP_RUN, text, start, end)
    end = len(text) - _run_end(_STRIP_RUN, reverse, len(text) - end, len(text) - start)
    return start, end


def _depths(text: str) -> np.ndarray | list[int]:
    """The brace depth before each character of ``text`` and at its end: a list for short text, numpy for long."""
    if len(text) <= _SHORT:
        return list(accumulate((_BRACE_STEPS.get(char, 0) for char in text), initial=0))
    codes = _codes(text)
    steps = (codes == _OPEN).view(np.int8) - (codes == _CLOSE).view(np.int8)
    return np.concatenate(([np.int32(0)], np.cumsum(steps, dtype=np.int32)))


def _unwrap(content: str) -> str:
    """Box contents with formatting removed: normalised, and outer ``$``, whitespace, ``{...}`` and
    ``\\text{...}``-style wrappers peeled off for as long as one wraps the whole string.

    The peeling moves two bounds over one string and checks each wrapper's inside against one array of brace
    depths, so eight peels of a megabyte cost a few vectorised passes, not eight copies and brace counts.
    """
    text = _normalise(content)
    reverse = text[::-1]
    start, end = _strip(text, reverse, 0, len(text))
    depth: np.ndarray | list[int] | None = None  # computed on the first peel
    for _ in range(_MAX_UNWRAP):
        if end - start < 2 or text[end - 1] != "}":
            break
        if wrapper := _WRAPPER.match(text, start, end):
            inner = wrapper.end()
        elif text[start] == "{":
            inner = start + 1
        else:
            break
        if depth is None:
            depth = _depths(text)
        lowest = depth[inner:end].min() if isinstance(depth, np.ndarray) else min(depth[inner:end])
        if depth[end - 1] != depth[inner] or lowest < depth[inner]:
            break  # the wrapper's brace closes before the end: it does not enclose the whole string
        start, end = _strip(text, reverse, inner, end - 1)
    return text[start:end]


def parse_letter(text: str) -> str | None:
    """The single answer letter (upper case) written in ``text`` in one of the accepted forms, else None.

    ``text`` is box contents or a ground truth; see the module docstring (step 4) for the accepted forms.
    """
    match = _LETTER_FORMS.fullmatch(_unwrap(text))
    if match is None:
        return None
    letter = match.group("paren") or match.group("bracket") or match.group("bare")
    return letter.upper()


def extract_boxed(solution_str: str) -> str | None:
    """The contents of the answer box: the last non-empty ``\\boxed{...}`` after the reasoning, else None."""
    text = strip_reasoning(solution_str)
    return _answer_box(text, _boxes(text))


def _answer_box(text: str, boxes: _Boxes) -> str | None:
    """The contents of the last non-empty closed box of ``text``, else None."""
    answers = np.flatnonzero(boxes.filled)
    if not len(answers):
        return None
    return text[boxes.starts[answers[-1]] : boxes.ends[answers[-1]]]


def _answer_letter(text: str, boxes: _Boxes) -> str | None:
    """The letter in the answer box of ``text``, else None."""
    content = _answer_box(text, boxes)
    return None if content is None else parse_letter(content)


def extract_answer_letter(solution_str: str) -> str | None:
    """The upper-case letter the completion answers with, or None when it has no valid boxed letter."""
    text = strip_reasoning(solution_str)
    return _answer_letter(text, _boxes(text))


def _reasoning_then_answer(text: str) -> bool:
    """Whether ``text`` has exactly one ``</think>`` and no ``<think>`` after it (then the answer part,
    :func:`strip_reasoning`, is all the text after that ``</think>``)."""
    close = text.find(THINK_CLOSE)
    return close >= 0 and text.find(THINK_CLOSE, close + 1) < 0 and text.find(THINK_OPEN, close) < 0


def format_score(solution_str: str) -> float:
    """1.0 for ``reasoning </think> answer`` with exactly one ``</think>``, no ``<think>`` after it, and exactly one
    ``\\boxed{`` after it that is closed and holds a letter in an accepted form; else 0.0."""
    if not _reasoning_then_answer(solution_str):
        return 0.0
    answer = strip_reasoning(solution_str)
    boxes = _boxes(answer)
    return 1.0 if len(boxes.starts) == 1 and _answer_letter(answer, boxes) is not None else 0.0


def _as_text(value: Any) -> str | None:
    """``value`` read as text: a ``str`` as is (a subclass copied to a plain ``str``, whose methods cannot be
    overridden), ``bytes``/``bytearray`` decoded as UTF-8 with undecodable bytes replaced, anything else None.

    Types are tested with ``issubclass(type(value), ...)``: ``isinstance`` would read ``value.__class__``, which an
    object can make raise.
    """
    kind = type(value)
    if issubclass(kind, str):
        return str.__str__(value)
    if issubclass(kind, bytes):
        return bytes.decode(value, "utf-8", "replace")
    if issubclass(kind, bytearray):
        return bytearray.decode(value, "utf-8", "replace")
    return None


def _content_text(content: Any) -> str:
    """The text of a message's ``content``: text as is, a list of parts (as in multimodal messages) gives its text
    parts joined (a part is text, or a mapping whose ``"text"`` is text), anything else ""."""
    text = _as_text(content)
    if text is not None:
        return text
    if not issubclass(type(content), (list, tuple)):
        return ""
    parts = (part.get("text") if isinstance(part, Mapping) else part for part in content)
    return "".join(text for text in map(_as_text, parts) if text is not None)


def completion_text(completion: Any) -> str:
    """The text of one completion: text (``str``, or UTF-8 ``bytes``) as is; a TRL conversation (a list or tuple of
    ``{"role", "content"}`` messages) gives the content of its last assistant message (content given as a list of
    parts, as in multimodal messages, gives its text parts joined), or "" when it has none; anything else, including
    a conversation whose objects raise when read, gives ""."""
    text = _as_text(completion)
    if text is not None:
        return text
    if not issubclass(type(completion), (list, tuple)):
        return ""
    try:
        for message in reversed(completion):
            if isinstance(message, Mapping) and _as_text(message.get("role")) == "assistant":
                return _content_text(message.get("content"))
    except Exception:  # a container, message or part with methods that raise: unreadable, so no text
        return ""
    return ""


def _as_weight(value: Any) -> float | None:
    """``value`` as a format weight, a finite float >= 0, or None when it is not one (module docstring)."""
    try:
        if issubclass(type(value), bool) or not issubclass(type(value), (int, float, np.integer, np.floating)):
            return None
        weight = float(value)
    except Exception:  # an int too large for a float; a subclass whose __float__ raises
        return None
    return weight if math.isfinite(weight) and weight >= 0 else None


def _describe(value: Any) -> str:
    """``value`` for a message: its repr when that is short and safe to compute, else its type's name."""
    kind = type(value)
    if kind is bool or kind is float or (kind is int and abs(value) < 10**15) or (kind is str and len(value) <= 40):
        return repr(value)
    with contextlib.suppress(Exception):  # a metaclass can make even __name__ raise
        return f"a value of type {kind.__name__}"
    return "a value of unknown type"


def _warn_invalid_weight(value: Any) -> None:
    """Warn, once per description, that a per-call ``format_weight`` is invalid and counts as 0.0."""
    with contextlib.suppress(Exception):  # never raise, even where warnings are turned into errors
        description = _describe(value)
        if description not in _WARNED and len(_WARNED) < _MAX_WARNINGS:
            _WARNED.add(description)
            warnings.warn(
                f"medrl.reward: format_weight {description} is not a finite number >= 0; it counts as 0.0",
                RuntimeWarning,
                stacklevel=4,
            )


def _format_weight(format_weight: Any, extra_info: Any) -> float:
    """The per-call weight: the keyword when given, else ``extra_info["format_weight"]``, else 0.0; invalid, 0.0."""
    value = format_weight
    if value is None:
        try:
            value = extra_info.get("format_weight") if isinstance(extra_info, Mapping) else None
        except Exception:  # a mapping whose methods raise
            value = None
    if value is None:
        return 0.0
    weight = _as_weight(value)
    if weight is None:
        _warn_invalid_weight(value)
        return 0.0
    return weight


def compute_score(
    data_source: Any,
    solution_str: Any,
    ground_truth: Any,
    extra_info: Any = None,
    format_weight: Any = None,
    **kwargs: Any,
) -> float:
    """verl custom reward: 1.0 when the completion's final boxed letter equals ``ground_truth``, else 0.0.

    ``data_source`` is accepted for verl's signature and not used: every source is scored by the same letter rule.
    ``format_weight`` (keyword, or ``extra_info["format_weight"]`` when the keyword is absent; default 0.0) adds
    ``format_weight * format_score(solution_str)``. Other keywords verl may pass (``reward_router_address``,
    ``reward_model_tokenizer``, further ``reward_kwargs``) are accepted and ignored. Never raises: see the module
    docstring for how unreadable inputs and invalid weights are scored.
    """
    text = completion_text(solution_str)
    answer = strip_reasoning(text)
    boxes = _boxes(answer)
    letter = _answer_letter(answer, boxes)  # computed once for both terms
    truth = _as_text(ground_truth)
    expected = None if truth is None else parse_letter(truth)
    score = 1.0 if expected is not None and letter == expected else 0.0
    weight = _format_weight(format_weight, extra_info)
    # The format term is format_score(text): with exactly one box, a letter can only come from that box.
    if weight and letter is not None and len(boxes.starts) == 1 and _reasoning_then_answer(text):
        score += weight
    return score


def _column(values: Any) -> list[Any] | None:
    """A per-row keyword (TRL passes each dataset column as a list) as a list, or None when it is not one."""
    if not issubclass(type(values), (list, tuple)):
        return None
    try:
        return list(values)
    except Exception:  # a list subclass whose iteration raises
        return None


def _row(column: list[Any] | None, index: int) -> Any:
    return column[index] if column is not None and index < len(column) else None


def make_trl_reward(format_weight: float = 0.0) -> Callable[..., list[float]]:
    """A TRL reward function that scores with :func:`compute_score` and the given ``format_weight``.

    ``make_trl_reward()`` is :func:`trl_reward`'s rule; ``reward_funcs=[make_trl_reward(format_weight=0.1)]`` adds
    the format reward. TRL logs each reward function under its ``__name__``: ``medrl_accuracy`` without the format
    term, ``medrl_accuracy_format`` with it. An invalid ``format_weight`` (module docstring) raises ValueError here,
    when the reward is configured, rather than inside the training loop.
    """
    weight = _as_weight(format_weight)
    if weight is None:
        raise ValueError(f"format_weight must be a finite number >= 0 (not a bool), got {_describe(format_weight)}")

    def reward(completions: Any = None, label: Any = None, **kwargs: Any) -> list[float]:
        texts = _column(completions)
        if texts is None:
            return []
        labels = _column(label)
        data_source = _column(kwargs.get("data_source"))
        extra_info = _column(kwargs.get("extra_info"))
        return [
            compute_score(
                _row(data_source, i),
                completion,
                _row(labels, i),
                _row(extra_info, i),
                format_weight=weight if weight else None,
            )
            for i, completion in enumerate(texts)
        ]

    reward.__name__ = reward.__qualname__ = "medrl_accuracy_format" if weight else "medrl_accuracy"
    return reward


def trl_reward(completions: Any = None, label: Any = None, **kwargs: Any) -> list[float]:
    """TRL ``GRPOTrainer`` reward function: one :func:`compute_score` per completion against its row's ``label``.

    TRL calls it with ``prompts=``, ``completions=``, ``completion_ids=`` and every other dataset column as a list
    keyword argument (plus ``trainer_state``, ``log_extra``, ``log_metric``); all but ``completions`` and ``label``
    go to ``**kwargs``. Optional columns used when present: ``data_source`` and ``extra_info`` (so a per-row
    ``extra_info["format_weight"]`` turns the format reward on). ``completions`` are strings or conversations
    (see :func:`completion_text`). Returns one float per completion and never raises: a row with no label (``label``
    missing, None or shorter than ``completions``) scores 0.0, and ``completions`` that is not a list gives ``[]``.
    """
    return _plain_trl_reward(completions, label, **kwargs)


_plain_trl_reward = make_trl_reward()
