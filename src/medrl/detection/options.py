"""A row's answer options, as the option-aware detectors (coverage, rewrite, semantic) and dedup compare them."""

from __future__ import annotations

from medrl.detection.text import folded_options, option_texts


def row_options_of(text: str, row: int, row_options: list[frozenset[str]] | None) -> frozenset[str]:
    """A row's options: from its options column when it has any, else the lettered options in its text."""
    if row_options and row_options[row]:
        return row_options[row]
    return folded_options(enumerate(option_texts(text)))


def options_disagree(row_options: frozenset[str], unit_options: frozenset[str]) -> bool:
    """Both sides list options and not one is shared: the row asks a different question with the same stem."""
    return len(row_options) >= 2 and len(unit_options) >= 2 and not row_options & unit_options
