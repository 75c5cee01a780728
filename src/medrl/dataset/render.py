"""Render a record's `problem`: the prompt the policy sees, asking for the final letter in `\\boxed{}`.

The default instruction matches what `medrl.reward` scores: the last `\\boxed{...}` holding one option letter.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from medrl.errors import MedrlError

# Only these two placeholders are substituted; every other brace (LaTeX such as \boxed{}) is kept as written.
PLACEHOLDERS = ("{question}", "{options}")
DEFAULT_TEMPLATE = (
    "{question}\n{options}\nPlease reason step by step, and put your final answer (the letter only) within \\boxed{}."
)
_PLACEHOLDER = re.compile(r"\{(question|options)\}")


def check_template(template: str) -> str:
    """The template, or an error when a placeholder is missing (a problem without its options is unanswerable)."""
    missing = [name for name in PLACEHOLDERS if name not in template]
    if missing:
        raise MedrlError(
            f"the problem template lacks {' and '.join(missing)}; it needs both {' and '.join(PLACEHOLDERS)}"
        )
    return template


def render_options(options: Sequence[tuple[str, str]]) -> str:
    """One "A. text" line per option."""
    return "\n".join(f"{letter}. {text}" for letter, text in options)


def options_block(options: Sequence[tuple[str, str]]) -> str:
    """The options as MedReason / II-Medical-RL store them: "Answer Choices:" then the lettered lines."""
    return f"Answer Choices:\n{render_options(options)}"


def render_problem(question: str, options: Sequence[tuple[str, str]], template: str) -> str:
    """Fill the template in one pass, so braces or placeholders inside the question are never re-substituted."""
    values = {"question": question.strip(), "options": render_options(options)}
    return _PLACEHOLDER.sub(lambda found: values[found.group(1)], template)
