"""The rewrite stage: a reworded benchmark case keeps its options and its numbers; flagged when the row shares the
item's (rare) options, enough rarer words and the case's numbers (see `RewriteConfig`)."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from medrl.benchmarks.loaders import BenchmarkItem
from medrl.config import CoverageConfig, RewriteConfig
from medrl.detection.arrays import ArrayReader, Arrays, CacheInvalid
from medrl.detection.rare_ngrams import CoverageIndex, build_coverage_index, shared_counts
from medrl.detection.stages.base import Hit, RowHits, StageBatch, TextTable
from medrl.detection.stages.coverage import row_options_of
from medrl.detection.text import question_stem

_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_AGE = re.compile(r"\b(\d+)[- ](year|yr|month|week|day)s?[- ]old\b", re.IGNORECASE)
_SEX = re.compile(r"\b(man|woman|male|female|boy|girl|gentleman|lady|he|she)\b", re.IGNORECASE)
_SEXES = {"man": "m", "male": "m", "boy": "m", "gentleman": "m", "he": "m"}


def case_patient(text: str) -> tuple[str, str] | None:
    """The patient of a case as (age with its unit, sex) from its stem, or None when either is not stated."""
    stem = question_stem(text)
    age, sex = _AGE.search(stem), _SEX.search(stem)
    if age is None or sex is None:
        return None
    return f"{age.group(1)} {age.group(2).lower()}", _SEXES.get(sex.group(1).lower(), "f")


def case_numbers(text: str) -> frozenset[float]:
    """The numbers of a case (ages, vitals, lab values, doses) in its stem: "100.0" and "100" are the same."""
    return frozenset(float(number) for number in _NUMBER.findall(question_stem(text)))


def specific_numbers(numbers: frozenset[float]) -> frozenset[float]:
    """Numbers that say something about a case: above 10 or with decimals (1-10 are counts, grades, steps)."""
    return frozenset(number for number in numbers if number > 10 or number != int(number))


def word_index_config(stock_df: int) -> CoverageConfig:
    """Case indexes hold rare single words (in at most `stock_df` questions); no question is treated as short."""
    return CoverageConfig(n=1, stock_df=stock_df, generic_min_rare=0)


@dataclass(frozen=True)
class CaseIndex:
    """What identifies each benchmark case: its rare single words (`words`), its numbers and patient, and how many
    units carry each option (stock options say little about which case a row is). The rewrite and semantic stages
    retrieve and verify candidates with it."""

    words: CoverageIndex
    unit_numbers: tuple[frozenset[float], ...]
    unit_patients: tuple[tuple[str, str] | None, ...]  # per unit: (age, sex) of its case, see `case_patient`
    option_df: dict[str, int]

    @property
    def unit_items(self) -> tuple[tuple[int, ...], ...]:
        return self.words.unit_items

    @classmethod
    def build(cls, words: CoverageIndex, unit_numbers: tuple[frozenset[float], ...]) -> CaseIndex:
        """The index from its stored parts; the patients and option counts are derived from them (not stored)."""
        options = Counter(option for options in words.unit_options for option in options)
        patients = tuple(case_patient(text) for text in words.unit_texts)
        return cls(words, unit_numbers, patients, dict(options))

    def to_arrays(self) -> Arrays:
        flat = [number for numbers in self.unit_numbers for number in sorted(numbers)]
        lengths = [len(numbers) for numbers in self.unit_numbers]
        return {
            **self.words.to_arrays(),
            "numbers.values": np.array(flat, dtype=np.float64),
            "numbers.offsets": np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]).astype(np.int64),
        }


def build_case_index(items: Sequence[BenchmarkItem], stock_df: int) -> CaseIndex:
    questions, options = [item.question for item in items], [item.options for item in items]
    words = build_coverage_index(questions, options, word_index_config(stock_df))
    numbers = tuple(case_numbers(items[entries[0]].question) for entries in words.unit_items)
    return CaseIndex.build(words, numbers)


def load_case_index(reader: ArrayReader, stock_df: int, item_count: int) -> CaseIndex:
    """The `CaseIndex` stored by `to_arrays`, validated (raises `CacheInvalid`)."""
    words = CoverageIndex.from_arrays(reader, word_index_config(stock_df), item_count)
    values = reader.array("numbers.values", "f")
    offsets = reader.offsets("numbers.offsets", len(values), len(words.unit_texts)).tolist()
    if not np.all(np.isfinite(values)):
        raise CacheInvalid("case numbers are not finite")
    flat = values.tolist()
    numbers = tuple(frozenset(flat[start:end]) for start, end in itertools.pairwise(offsets))
    return CaseIndex.build(words, numbers)


class RewriteStage:
    name = "rewrite"
    evidence_rank = 2
    confidence = "review"  # a reworded case: weaker evidence a person may want to check

    def index(self, items: Sequence[BenchmarkItem], table: TextTable, config: RewriteConfig) -> CaseIndex:
        return build_case_index(items, config.stock_df)

    def load_index(self, reader: ArrayReader, table: TextTable, config: RewriteConfig, item_count: int) -> CaseIndex:
        return load_case_index(reader, config.stock_df, item_count)

    def hits(self, batch: StageBatch, index: CaseIndex, config: RewriteConfig) -> list[RowHits]:
        return [RowHits.of(hits) for hits in rewrite_hits(batch.texts, index, config, batch.options)]


def _numbers_agree(
    row: frozenset[float], unit: frozenset[float], words: float, config: RewriteConfig
) -> tuple[bool, bool]:
    """(the case's specific numbers agree, either side has none)."""
    row_specific, unit_specific = specific_numbers(row), specific_numbers(unit)
    if not row_specific or not unit_specific:
        return True, True
    shared = len(row_specific & unit_specific) / min(len(row_specific), len(unit_specific))
    return shared >= config.min_number_agreement or words >= config.words_override, False


def _same_case_numbers(row: frozenset[float], unit: frozenset[float], config: RewriteConfig) -> bool:
    """The row carries the item's case numbers: several shared, and most of each side's numbers (a different
    patient on the same topic shares a few stock values, never most of a case's ages, vitals and lab values)."""
    shared = len(row & unit)
    return shared >= config.fingerprint_numbers and shared >= config.fingerprint_agreement * max(len(row), len(unit))


def rewrite_hits(
    texts: list[str], index: CaseIndex, config: RewriteConfig, row_options: list[frozenset[str]] | None = None
) -> list[list[Hit]]:
    """Benchmark items a row rewrites (see `RewriteConfig`). Score: the percentage of rarer words shared; evidence:
    the shared options and the shared case numbers."""
    words_index = index.words
    counts = shared_counts(texts, words_index)
    overlap = np.minimum(counts.item_coverage(words_index), counts.row_coverage())
    hits: list[list[Hit]] = [[] for _ in texts]
    candidates = overlap >= config.min_words
    options_of: dict[int, frozenset[str]] = {}
    numbers_of: dict[int, frozenset[float]] = {}
    patients_of: dict[int, tuple[str, str] | None] = {}
    for row, unit, words in zip(
        counts.rows[candidates].tolist(), counts.units[candidates].tolist(), overlap[candidates].tolist(), strict=True
    ):
        if row not in options_of:
            options_of[row] = row_options_of(texts[row], row, row_options)
            numbers_of[row] = case_numbers(texts[row])
        options = options_of[row]
        shared = options & words_index.unit_options[unit]
        row_numbers, unit_numbers = numbers_of[row], index.unit_numbers[unit]
        if not options:
            # A row without options (open-ended or reformatted) is tied to a case by its numbers, or by its patient
            # (the same age and sex) and many of its rarer words.
            patient = patients_of.setdefault(row, case_patient(texts[row]))
            same_patient = patient is not None and words >= config.min_word_overlap_same_patient
            same_patient = same_patient and patient == index.unit_patients[unit]
            if same_patient or _same_case_numbers(row_numbers, unit_numbers, config):
                numbers = ", ".join(f"{number:g}" for number in sorted(specific_numbers(row_numbers & unit_numbers)))
                found = [f"patient: {' '.join(patient)}"] if same_patient else []
                found += [f"numbers: {numbers}"] if numbers else []
                hits[row].append(Hit(unit, round(100 * words, 2), "; ".join(found)))
            continue
        if len(options) < 2 or not shared:
            continue
        agree, numberless = _numbers_agree(row_numbers, unit_numbers, words, config)
        rare_option = any(index.option_df.get(option, 0) <= config.stock_option_df for option in shared)
        many = len(shared) >= config.min_option_overlap * len(options) and words >= config.min_word_overlap
        flagged = (
            (many and agree and (rare_option or not numberless))
            or (words >= config.min_word_overlap_one_option and agree)
            or _same_case_numbers(row_numbers, unit_numbers, config)
        )
        if flagged:
            numbers = ", ".join(f"{number:g}" for number in sorted(specific_numbers(row_numbers & unit_numbers)))
            evidence = "; ".join(sorted(shared)) + (f" | numbers: {numbers}" if numbers else "")
            hits[row].append(Hit(unit, round(100 * words, 2), evidence))
    return hits
