"""The rewrite stage: a reworded benchmark case keeps its options and its numbers; flagged when the row shares the
item's (rare) options, enough rarer words and the case's numbers (see `RewriteConfig`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from medrl.benchmarks.loaders import BenchmarkItem
from medrl.detection.arrays import ArrayReader
from medrl.detection.cases import (
    CaseFacts,
    CaseIndex,
    build_case_index,
    case_facts,
    case_numbers,
    case_patient,
    load_case_index,
    shown_numbers,
    specific_numbers,
)
from medrl.detection.hits import Hit
from medrl.detection.options import row_options_of
from medrl.detection.rare_ngrams import SharedCounts, shared_counts
from medrl.detection.stages.base import RowHits, Stage, StageBatch, StageSettings, TextTable
from medrl.detection.text import text_before_options
from medrl.detection.text import words as word_tokens
from medrl.errors import MedrlError


@dataclass(frozen=True)
class RewriteConfig(StageSettings):
    """Rewritten copies: a benchmark case reworded (MedXpertQA rewrote MedQA cases) keeps its options and its
    numbers (ages, vitals, lab values, doses), while different patients on the same topic share stock options.

    "Words" is the share of rarer words (in at most `stock_df` benchmark questions) of the shorter text found in the
    other; "numbers agree" when neither text has a number above 10 (or a decimal), or at least
    `min_number_agreement` of the smaller set of such numbers is shared, or the words alone are overwhelming
    (>= `words_override`). A row sharing at least one option with an item, and at least `min_words` words, is
    flagged when:
    1. at least `min_option_overlap` of the row's options are the item's, words >= `min_word_overlap`, the numbers
       agree, and (when a side has no such numbers) a shared option is rare (in at most `stock_option_df`
       benchmark questions: "Propranolol" or "Autosomal dominant" are stock distractors, not a case);
    2. or words >= `min_word_overlap_one_option` and the numbers agree (rewrites that reworded their options);
    3. or the case's numbers match: at least `fingerprint_numbers` shared numbers (one of them above 10 or with
       decimals), and at least `fingerprint_agreement` of each side's numbers shared (a rewrite that reworded
       nearly everything but the patient; a different patient on the same topic shares a few stock values, not
       most of a case's numbers). A row sharing too few rarer words to be the item's candidate is retrieved by its
       rare numbers (in at most `stock_df` cases) instead, and then also needs the same patient and at most
       `max_contradictions` facts differing (see below): a MedBullets back-pain case rewritten word by word kept its
       ten numbers and shared one rarer word, while a different 42-year-old man shared a temperature, a
       respiratory rate and small counts.
    Rules 1 and 2 resting on stock options alone (none of the shared options rare, no specific case number
    shared) also need the stems to agree: at least `min_stock_option_words` rarer words shared. "Which vitamin is
    required for calcium absorption?" and "Which of the following vitamin increases the absorption of iron?" share
    "vitamin A" and "vitamin C" and one rarer word of two, which is 50% but not the same question. (Chosen on the
    tune halves: the fewest rarer words a positive found only through stock options shared was 4.)
    A row with no options at all (open-ended or reformatted training data) is flagged by rule 3, or when it
    describes the same patient (age and sex) as the item, shares at least `min_word_overlap_same_patient` of the
    rarer words, and the rest of the case does not say it is another patient (see `CaseFacts`): what both sides
    state alike (durations, measured values by what they measure, drugs, and the specific numbers shared besides the
    age), less what they state differently (K+ 6.1 vs 5.8 mEq/L, 3 days vs 4 weeks, metoprolol vs enalapril), must
    be at least `min_patient_agreement`, and more than `max_contradictions` facts differing is another patient
    unless the words are overwhelming (>= `words_override`): a template variant can share a whole lab panel but
    the potassium its question is about, and agree in more facts than it contradicts. When they neither agree nor
    differ in any of these, the same age and sex need at least `min_word_overlap_patient_only` of the rarer words
    (thousands of cases are 57-year-old men, and a shared topic meets 35%). All three were chosen on the tune half of
    bench/quality/paraphrase: an agreement margin of 1 lost 3 of its 86 paraphrases, 0 lost 1 (a rewrite that
    changed the pulse, respirations and blood pressure); every tune paraphrase pair with two or more facts
    differing shared at least 86% of the rarer words; and every tune paraphrase pair resting on the patient and
    words alone shared at least 47% of them.
    A row that is mostly one item's option list (a copy cut so far that little but its options is left, e.g. the
    end of a MedXpertQA question and its "Answer Choices" block) matches that item when it carries at least
    `min_list_options` of the item's options that are rare (in at most `stock_option_df` benchmark questions), its
    text before the options has no more words than its options, and the last words of that text (up to 5) appear
    in order in the item's question: another question's stem over the same options is not the item.
    Matches of this stage are `review` class: a person can check them (see `--review`). The thresholds were set on
    bench/quality's adjudicated real reuse (see its README for which figures are in-sample).
    """

    stock_df: int = 20
    min_words: float = 0.12
    min_word_overlap: float = 0.15
    min_option_overlap: float = 0.6
    min_word_overlap_one_option: float = 0.5
    stock_option_df: int = 2
    min_number_agreement: float = 0.5
    words_override: float = 0.75
    fingerprint_numbers: int = 3
    fingerprint_agreement: float = 0.6
    min_word_overlap_same_patient: float = 0.35
    min_word_overlap_patient_only: float = 0.45
    min_patient_agreement: int = 0
    max_contradictions: int = 1
    min_stock_option_words: int = 3
    min_list_options: int = 5

    def __post_init__(self) -> None:
        fractions = ("min_words", "min_word_overlap", "min_option_overlap", "min_word_overlap_one_option")
        more = ("min_number_agreement", "words_override", "fingerprint_agreement", "min_word_overlap_same_patient")
        self.check_fractions("rewrite", *fractions, *more, "min_word_overlap_patient_only")
        counts = (self.stock_df, self.stock_option_df, self.fingerprint_numbers, self.min_stock_option_words)
        if min(*counts, self.min_list_options) < 1 or min(self.min_patient_agreement, self.max_contradictions) < 0:
            raise MedrlError(
                "rewrite.stock_df, stock_option_df, fingerprint_numbers, min_stock_option_words and min_list_options"
                " must be >= 1, min_patient_agreement and max_contradictions >= 0"
            )


class RewriteStage(Stage[RewriteConfig, CaseIndex]):
    name = "rewrite"
    settings_class = RewriteConfig
    evidence_rank = 2
    confidence = "review"  # a reworded case: weaker evidence a person may want to check
    checks_paragraphs = True  # a share of the row: a copy inside a long text is a small share of it
    color = "#d97706"
    score = "% of rarer words shared (an option list: % of the item's options it carries)"
    evidence = "the shared options and case numbers (or, without options, the patient and numbers)"

    def index(self, items: Sequence[BenchmarkItem], table: TextTable, settings: RewriteConfig) -> CaseIndex:
        return build_case_index(items, settings.stock_df)

    def load_index(self, reader: ArrayReader, table: TextTable, settings: RewriteConfig, item_count: int) -> CaseIndex:
        return load_case_index(reader, settings.stock_df, item_count)

    def hits(self, batch: StageBatch, index: CaseIndex, settings: RewriteConfig) -> list[RowHits]:
        return [RowHits.of(hits) for hits in rewrite_hits(batch.texts, index, settings, batch.options)]

    def threshold(self, settings: Mapping[str, Any]) -> tuple[float, str]:
        return float(settings["min_word_overlap"]) * 100, "rarer words shared"


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
    patient on the same topic shares a few stock values, never most of a case's ages, vitals and lab values).
    At least one shared number must be specific (what the evidence shows): small counts alone ("4 years, 2 years,
    5 months") are in many cases, and tied a 4-year-old's rash to a 4-month-old's toe with no number to show."""
    shared = row & unit
    agree = len(shared) >= config.fingerprint_agreement * max(len(row), len(unit))
    return len(shared) >= config.fingerprint_numbers and agree and bool(specific_numbers(shared))


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
    facts_of: dict[int, CaseFacts] = {}
    unit_facts_of: dict[int, CaseFacts] = {}
    pairs = (counts.rows[candidates], counts.units[candidates], overlap[candidates], counts.shared[candidates])
    for row, unit, words, shared_words in zip(*(values.tolist() for values in pairs), strict=True):
        if row not in options_of:
            options_of[row] = row_options_of(texts[row], row, row_options)
            numbers_of[row] = case_numbers(texts[row])
        options = options_of[row]
        shared = options & words_index.unit_options[unit]
        row_numbers, unit_numbers = numbers_of[row], index.unit_numbers[unit]
        if not options:
            # A row without options (open-ended or reformatted) is tied to a case by its numbers, or by its patient
            # (the same age and sex) and many of its rarer words.
            if row not in patients_of:
                patients_of[row] = case_patient(texts[row])
            patient = patients_of[row]
            same_patient = patient is not None and patient == index.unit_patients[unit]
            if same_patient and patient is not None and words >= config.min_word_overlap_same_patient:
                if row not in facts_of:
                    facts_of[row] = case_facts(texts[row])
                if unit not in unit_facts_of:
                    unit_facts_of[unit] = case_facts(words_index.unit_texts[unit])
                row_facts, unit_facts = facts_of[row], unit_facts_of[unit]
                shared_numbers = specific_numbers(row_numbers & unit_numbers) - {float(patient[0].split()[0])}
                agreement = len(row_facts.agreements(unit_facts)) + len(shared_numbers)
                contradictions = len(row_facts.contradictions(unit_facts))
                if contradictions > config.max_contradictions and words < config.words_override:
                    same_patient = False  # several facts differ: another patient on the same template
                elif agreement or contradictions:
                    same_patient = agreement - contradictions >= config.min_patient_agreement
                else:
                    same_patient = words >= config.min_word_overlap_patient_only
            else:
                same_patient = False
            if same_patient or _same_case_numbers(row_numbers, unit_numbers, config):
                numbers = shown_numbers(specific_numbers(row_numbers & unit_numbers))
                found = [f"patient: {' '.join(patient)}"] if patient is not None and same_patient else []
                found += [f"numbers: {numbers}"] if numbers else []
                hits[row].append(Hit(unit, round(100 * words, 2), "; ".join(found)))
            continue
        if len(options) < 2 or not shared:
            continue
        agree, numberless = _numbers_agree(row_numbers, unit_numbers, words, config)
        rare_option = any(len(index.option_units.get(option, ())) <= config.stock_option_df for option in shared)
        many = len(shared) >= config.min_option_overlap * len(options) and words >= config.min_word_overlap
        # Only stock options and no case number shared: the stems must agree in more than a word or two.
        stem_agrees = rare_option or shared_words >= config.min_stock_option_words
        stem_agrees = stem_agrees or bool(specific_numbers(row_numbers & unit_numbers))
        flagged = (
            (many and agree and stem_agrees and (rare_option or not numberless))
            or (words >= config.min_word_overlap_one_option and agree and stem_agrees)
            or _same_case_numbers(row_numbers, unit_numbers, config)
        )
        if flagged:
            numbers = shown_numbers(specific_numbers(row_numbers & unit_numbers))
            evidence = "; ".join(sorted(shared)) + (f" | numbers: {numbers}" if numbers else "")
            hits[row].append(Hit(unit, round(100 * words, 2), evidence))
    for row, text in enumerate(texts):
        if row not in options_of:
            options_of[row] = row_options_of(text, row, row_options)
            numbers_of[row] = case_numbers(text)
        hits[row] += _case_number_hits(
            row, text, numbers_of[row], hits[row], index, counts, overlap, unit_facts_of, config
        )
        matched = {hit.text_id for hit in hits[row]}
        listed = _option_list_hits(text, options_of[row], index, config)
        hits[row] += [hit for hit in listed if hit.text_id not in matched]
    return hits


def _case_number_hits(
    row: int,
    text: str,
    numbers: frozenset[float],
    found: list[Hit],
    index: CaseIndex,
    counts: SharedCounts,
    overlap: np.ndarray,
    unit_facts_of: dict[int, CaseFacts],
    config: RewriteConfig,
) -> list[Hit]:
    """Items a row rewrites that the rules above did not reach (too few rarer words shared to be a candidate, or
    options sharing none of the item's): retrieved by any of the row's rare numbers, flagged when it carries the
    item's case numbers (rule 3), states the same patient, and the rest of the case differs in at most
    `max_contradictions` facts (another 42-year-old man with a temperature of 38.9°C and a respiratory rate of
    18/min has other durations and another blood pressure)."""
    done = {hit.text_id for hit in found}
    units = {unit for number in specific_numbers(numbers) for unit in index.number_units.get(number, ())} - done
    patient = case_patient(text) if units else None
    if patient is None:
        return []
    facts: CaseFacts | None = None
    hits = []
    for unit in sorted(units):
        unit_numbers = index.unit_numbers[unit]
        if patient != index.unit_patients[unit]:
            continue
        if not _same_case_numbers(numbers, unit_numbers, config):
            continue
        if unit not in unit_facts_of:
            unit_facts_of[unit] = case_facts(index.words.unit_texts[unit])
        facts = facts or case_facts(text)
        if len(facts.contradictions(unit_facts_of[unit])) > config.max_contradictions:
            continue
        pair = (counts.rows == row) & (counts.units == unit)
        words = float(overlap[pair][0]) if pair.any() else 0.0
        evidence = f"numbers: {shown_numbers(specific_numbers(numbers & unit_numbers))}; patient: {' '.join(patient)}"
        hits.append(Hit(unit, round(100 * words, 2), evidence))
    return hits


# How many of the last words before a row's options must appear, in order, in the item's question.
_LIST_TAIL_WORDS = 5


def _option_list_hits(text: str, options: frozenset[str], index: CaseIndex, config: RewriteConfig) -> list[Hit]:
    """Items whose option list the row mostly is (see `RewriteConfig`). Score: the percentage of the item's
    options the row carries; evidence: those options."""
    if len(options) < config.min_list_options:
        return []
    rare: dict[int, list[str]] = {}
    for option in options:
        units = index.option_units.get(option, ())
        if len(units) <= config.stock_option_df:
            for unit in units:
                rare.setdefault(unit, []).append(option)
    found = {unit: shared for unit, shared in rare.items() if len(shared) >= config.min_list_options}
    if not found:
        return []
    before = word_tokens(text_before_options(text))
    if len(before) > sum(option.count(" ") + 1 for option in options):
        return []  # not mostly options
    tail = f" {' '.join(before[-_LIST_TAIL_WORDS:])} "
    hits = []
    for unit, shared in sorted(found.items()):
        if tail.strip() and tail not in f" {index.words.unit_questions[unit]} ":
            continue
        share = 100 * len(shared) / len(index.words.unit_options[unit])
        hits.append(Hit(unit, round(share, 2), "options: " + "; ".join(sorted(shared))))
    return hits
