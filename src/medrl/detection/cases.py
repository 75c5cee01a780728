"""What identifies a benchmark case: its patient (age and sex), its numbers (ages, vitals, lab values, doses), its
rare words and options. The rewrite and semantic stages retrieve and verify candidates with the `CaseIndex`."""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from medrl.benchmarks.loaders import BenchmarkItem
from medrl.detection.arrays import ArrayReader, Arrays, CacheInvalid
from medrl.detection.rare_ngrams import CoverageConfig, CoverageIndex, build_coverage_index
from medrl.detection.text import question_stem

# A number; digit groups of three after commas are one number ("1,500/mm3", "12,000", "1,500,000"), while a list
# of small numbers ("1, 2, 3" or "1,2,3") stays a list.
_NUMBER = re.compile(r"(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?")
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
    return frozenset(float(number.replace(",", "")) for number in _NUMBER.findall(question_stem(text)))


def specific_numbers(numbers: frozenset[float]) -> frozenset[float]:
    """Numbers that say something about a case: above 10 or with decimals (1-10 are counts, grades, steps)."""
    return frozenset(number for number in numbers if number > 10 or number != int(number))


def shown_numbers(numbers: frozenset[float]) -> str:
    """Case numbers for evidence, in order, thousands grouped as cases write them: "7.4, 92, 1,500" (not "1.5e+06")."""
    return ", ".join(f"{int(number):,}" if number == int(number) else f"{number:,}" for number in sorted(numbers))


# Durations ("3 days", "a 6-month history", "two weeks"), in days; "-old" ages are not durations.
_SMALL = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve")
_COUNT = r"(\d+(?:\.\d+)?|" + "|".join(_SMALL) + r")"
_DURATION = re.compile(rf"\b{_COUNT}[- ](hour|day|week|month|year)s?\b(?![- ]old)", re.IGNORECASE)
_DAYS = {"hour": 1 / 24, "day": 1, "week": 7, "month": 30, "year": 365}
# A measured value and its unit: a temperature, a rate per minute, a pressure, a concentration, a count, a percentage.
_MEASURE = re.compile(
    r"((?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?)\s*(°\s*[CF]|/min|mm\s*Hg|mg/dL|mEq/L|mmol/L|g/dL|U/L|/mm3|/μL|%)",
    re.IGNORECASE,
)
# What a value measures is the last word before it ("K+ 6.1 mEq/L", "| K+ | 5.8 mEq/L |", "pulse is 89/min",
# "blood pressure 132/88 mm Hg"), skipping linking words and units; a generic last word takes the one before it
# ("heart rate", "urea nitrogen"), and common synonyms are one name. A value with no such word is named by its unit.
_ANALYTE_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*[+-]?")
_ANALYTE_WINDOW = 40  # characters before a value searched for its name (a slice: long documents stay linear)
# Words read past on the way back to a value's name: linking words, then units and their pieces.
_LINKING = frozenset(
    "a an and are at be been by concentration from had has have her his in initially is its level levels "  # noqa: SIM905
    "measured measures now of on remains serum shows the their to value was were with "
    "c f mm hg mg dl meq mmol l g u ul min".split()
)
_GENERIC = frozenset({"rate", "pressure", "nitrogen", "saturation", "count"})
_SYNONYMS = {
    "heart rate": "pulse",
    "pulse rate": "pulse",
    "respiratory rate": "respirations",
    "respiration": "respirations",
    "potassium": "k+",
    "k": "k+",
    "sodium": "na+",
    "na": "na+",
    "chloride": "cl-",
    "cl": "cl-",
    "bicarbonate": "hco3-",
    "hco3": "hco3-",
    "bun": "urea nitrogen",
    "bp": "blood pressure",
    "temp": "temperature",
    "hb": "hemoglobin",
    "hgb": "hemoglobin",
}


def _analyte(before: str) -> str | None:
    """The name of what the value after `before` measures (see `_ANALYTE_WORD`), or None."""
    words = [word.lower() for word in _ANALYTE_WORD.findall(before[-_ANALYTE_WINDOW:])]
    words = [word for word in words if word not in _LINKING]
    if not words:
        return None
    name = words[-1]
    if name in _GENERIC and len(words) > 1:
        name = f"{words[-2]} {name}"
    return _SYNONYMS.get(name, name)


# Drug names by their stems' endings (ACE inhibitors, beta blockers, statins, antibiotics, ...): a case's
# medication list. Conservative: a drug it does not know is simply not compared.
_DRUG = re.compile(
    r"\b[a-z]+(?:pril|sartan|olol|dipine|statin|formin|gliptin|glitazone|azole|mycin|cillin|cycline|floxacin|"
    r"prazole|tidine|oxetine|triptyline|azepam|azolam|thiazide|semide|profen|parin|farin|ximab|zumab|umab|tinib|"
    r"sone|solone|zosin|olactone)\b|\b(?:aspirin|insulin|levothyroxine|lithium|digoxin|amiodarone|acetaminophen)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class CaseFacts:
    """What a case states that another patient would state differently: its durations (in days), its measured
    values per analyte ("k+ meq/l", "pulse /min", or the unit alone when nothing names the value), and its drugs.
    Two cases contradict on a duration or a measure when both state it and share no value, and on drugs when each
    takes one the other does not (metoprolol and simvastatin vs enalapril and simvastatin: another medication list)."""

    durations: frozenset[float]
    measures: dict[str, frozenset[float]]
    drugs: frozenset[str]

    def agreements(self, other: CaseFacts) -> list[str]:
        """What two cases state alike: "durations", a measure ("k+ meq/l"), "drugs" (the same list, or one within the
        other)."""
        found = ["durations"] if self.durations & other.durations else []
        found += [unit for unit, values in sorted(self.measures.items()) if values & other.measures.get(unit, set())]
        return found + (["drugs"] if self.drugs and other.drugs and not self._other_drugs(other) else [])

    def _other_drugs(self, other: CaseFacts) -> bool:
        """Each case takes a drug the other does not."""
        return bool(self.drugs - other.drugs) and bool(other.drugs - self.drugs)

    def contradictions(self, other: CaseFacts) -> list[str]:
        """What differs between two cases: "durations", a measure ("k+ meq/l"), "drugs"; empty when nothing does."""
        found = ["durations"] if self.durations and other.durations and not self.durations & other.durations else []
        found += [
            unit
            for unit, values in sorted(self.measures.items())
            if unit in other.measures and not values & other.measures[unit]
        ]
        return found + (["drugs"] if self.drugs and other.drugs and self._other_drugs(other) else [])


def _count(word: str) -> float:
    word = word.lower()
    return _SMALL.index(word) + 1.0 if word in _SMALL else float(word)


def case_facts(text: str) -> CaseFacts:
    """The durations, measured values and drugs of a case's stem (see `CaseFacts`)."""
    stem = question_stem(text)
    durations = frozenset(round(_count(count) * _DAYS[unit.lower()], 3) for count, unit in _DURATION.findall(stem))
    measures: dict[str, set[float]] = {}
    celsius = re.search(r"°\s*C", stem, re.IGNORECASE) is not None
    for found in _MEASURE.finditer(stem):
        unit = re.sub(r"\s+", "", found.group(2)).lower()
        if celsius and unit == "°f":
            continue  # the same temperature in the other scale: one fact, not two
        analyte = _analyte(stem[max(0, found.start() - _ANALYTE_WINDOW) : found.start()])
        name = f"{analyte} {unit}" if analyte else unit
        measures.setdefault(name, set()).add(float(found.group(1).replace(",", "")))
    drugs = frozenset(drug.lower() for drug in _DRUG.findall(stem))
    return CaseFacts(durations, {unit: frozenset(values) for unit, values in measures.items()}, drugs)


def word_index_config(stock_df: int) -> CoverageConfig:
    """Case indexes hold rare single words (in at most `stock_df` questions); no question is treated as short."""
    return CoverageConfig(n=1, stock_df=stock_df, generic_min_rare=0)


@dataclass(frozen=True)
class CaseIndex:
    """What identifies each benchmark case: its rare single words (`words`), its numbers and patient, how many
    units carry each option (stock options say little about which case a row is), and which units state each rare
    number (a rewrite can reword nearly every word and keep the case's numbers). The rewrite and semantic stages
    retrieve and verify candidates with it. How many units carry an option is `len(option_units[option])`."""

    words: CoverageIndex
    unit_numbers: tuple[frozenset[float], ...]
    unit_patients: tuple[tuple[str, str] | None, ...]  # per unit: (age, sex) of its case, see `case_patient`
    option_units: dict[str, tuple[int, ...]]  # per folded option: the units carrying it
    # per rare specific number (above 10 or with decimals, in at most `stock_df` units): the units stating it
    number_units: dict[float, tuple[int, ...]]

    @property
    def unit_items(self) -> tuple[tuple[int, ...], ...]:
        return self.words.unit_items

    @classmethod
    def build(cls, words: CoverageIndex, unit_numbers: tuple[frozenset[float], ...]) -> CaseIndex:
        """The index from its stored parts; the patients and option counts are derived from them (not stored)."""
        units: dict[str, list[int]] = {}
        for unit, options in enumerate(words.unit_options):
            for option in options:
                units.setdefault(option, []).append(unit)
        patients = tuple(case_patient(text) for text in words.unit_texts)
        stated: dict[float, list[int]] = {}
        for unit, numbers in enumerate(unit_numbers):
            for number in specific_numbers(numbers):
                stated.setdefault(number, []).append(unit)
        rare = {number: tuple(found) for number, found in stated.items() if len(found) <= words.config.stock_df}
        return cls(words, unit_numbers, patients, {option: tuple(found) for option, found in units.items()}, rare)

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
