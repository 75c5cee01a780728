"""The rewrite stage's rules of detection quality III (issue 21): a row that is mostly one item's option list, a
short stem matched through stock options (both on real benchmark items), and a different patient of the same age
and sex (on a small made-up pack)."""

from __future__ import annotations

from dataclasses import replace

from conftest import MEDRL
from medrl.benchmarks.loaders import BenchmarkItem
from medrl.detection.cases import CaseIndex, build_case_index, case_facts
from medrl.detection.index import build_index
from medrl.detection.runner import detect_batch
from medrl.detection.stages.rewrite import RewriteConfig, rewrite_hits
from medrl.detection.text import folded_options, words


def verdicts(index, texts):
    return detect_batch({"question": texts}, index, MEDRL)[0]


def matched(verdict) -> set[tuple[str, str]]:
    return {(match.benchmark, match.item_id) for match in verdict.matches}


def test_a_row_that_is_mostly_an_items_option_list_is_that_item(medrl_index, pack_items) -> None:
    item = pack_items[("medxpertqa", "Text-0")]
    stem, choices = item.question.split("Answer Choices:")
    tail = " ".join(stem.split()[-3:])
    (cut,) = verdicts(medrl_index, [f"{tail} Answer Choices:{choices}"])
    assert ("medxpertqa", "Text-0") in matched(cut)
    match = next(m for m in cut.matches if (m.benchmark, m.item_id) == ("medxpertqa", "Text-0"))
    assert match.method == "rewrite" and match.evidence.startswith("options: ")
    assert sum(" ".join(words(text)) in match.evidence for _, text in item.options) >= 5
    # Another question's stem over the same options is not the item (the rows bench/quality calls generic stems),
    # nor is a long text that merely lists them.
    other = "Which of the following statements is true?"
    vignette = " ".join(["A 40-year-old man has had a cough for three weeks and a low fever."] * 8)
    generic, long_text = verdicts(
        medrl_index, [f"{other} Answer Choices:{choices}", f"{vignette} Answer Choices:{choices}"]
    )
    assert ("medxpertqa", "Text-0") not in matched(generic)
    assert ("medxpertqa", "Text-0") not in matched(long_text)


def test_an_option_list_needs_enough_of_the_items_options(medrl_index, pack_items) -> None:
    item = pack_items[("medxpertqa", "Text-0")]
    stem, _ = item.question.split("Answer Choices:")
    tail = " ".join(stem.split()[-3:])
    four = " ".join(f"({letter}) {text}" for letter, text in item.options[:4])
    (cut,) = verdicts(medrl_index, [f"{tail} Answer Choices: {four}"])
    assert ("medxpertqa", "Text-0") not in matched(cut)


VITAMINS = ("Vitamin A", "Vitamin C", "Vitamin D", "Vitamin E", "Vitamin K", "Vitamin B12", "Folic acid", "Niacin")


def test_a_short_stem_through_stock_options_needs_the_stem_to_agree(full_pack) -> None:
    # MMLU-Pro holds this question itself: without it, MedMCQA's "Which of the following vitamin increases the
    # absorption of iron?" shares "vitamin A" and "vitamin C" (stock options) and one of two rarer words.
    items = [item for item in full_pack.items if item.benchmark != "mmlu_pro_health"]
    index = build_index(items, MEDRL)
    question = "Which vitamin is required for calcium absorption from the small intestine?"
    options = {"question": [folded_options(enumerate(VITAMINS))]}
    (verdict,) = detect_batch({"question": [question]}, index, MEDRL, options)[0]
    assert not verdict.contaminated
    loose = MEDRL.replace(rewrite=replace(MEDRL.stages["rewrite"], min_stock_option_words=1))
    (stock,) = detect_batch({"question": [question]}, build_index(items, loose), loose, options)[0]
    assert stock.contaminated and {m.method for m in stock.matches} == {"rewrite"}


CASE = (
    "A 62-year-old man comes to the emergency department because of 12 hours of severe epigastric pain radiating to "
    "the back. He takes enalapril for hypertension. His temperature is 38.1°C, pulse is 104/min, and blood pressure "
    "is 150/90 mm Hg. Serum lipase is 900 U/L. Which of the following is the most likely cause?"
)
OTHER_CASES = (
    "A 30-year-old woman has had a rash on her cheeks for 2 weeks. Which of the following is the best next step?",
    "A 7-year-old boy has had a sore throat and fever for 3 days. Which organism is most likely responsible?",
)


def case_index_of(case: str) -> CaseIndex:
    """The case index of a made-up pack: `case` (item 0) and two unrelated cases."""
    items = [BenchmarkItem("bench", "test", str(i), text, (), None) for i, text in enumerate((case, *OTHER_CASES))]
    return build_case_index(items, RewriteConfig().stock_df)


def test_case_facts_read_durations_measured_values_and_drugs() -> None:
    one = case_facts("A 57-year-old man has had diarrhea for two weeks. K+ is 6.1 mEq/L. He takes metoprolol.")
    assert one.durations == {14.0} and one.measures == {"k+ meq/l": {6.1}} and one.drugs == {"metoprolol"}
    other = case_facts("A 57-year-old man has had cramps for 4 weeks. K+ is 5.8 mEq/L. He takes enalapril.")
    assert one.contradictions(other) == ["durations", "k+ meq/l", "drugs"] and not one.agreements(other)
    same = case_facts("For 14 days, a 57-year-old man has had loose stools; potassium 6.1 mEq/L, on metoprolol.")
    assert one.agreements(same) == ["durations", "k+ meq/l", "drugs"] and not one.contradictions(same)


def test_case_facts_name_each_measured_value_by_what_it_measures() -> None:
    # A lab panel in running text and as a table: the same values agree per analyte, and one changed value (the
    # potassium a question is about) is a contradiction, not hidden by the rest of the panel sharing its unit.
    text = case_facts(
        "Serum studies show: Na+ 138 mEq/L K+ 6.1 mEq/L Cl- 100 mEq/L Urea nitrogen 13 mg/dL. His temperature is "
        "38.1°C (100.6°F), heart rate 89/min, BP 132/88 mm Hg. Leukocyte count 13,000/mm3. He takes metoprolol and "
        "simvastatin."
    )
    assert text.measures == {
        "na+ meq/l": {138.0},
        "k+ meq/l": {6.1},
        "cl- meq/l": {100.0},
        "urea nitrogen mg/dl": {13.0},
        "temperature °c": {38.1},  # the same temperature in °F is not a second fact
        "pulse /min": {89.0},
        "blood pressure mmhg": {88.0},
        "leukocyte count /mm3": {13000.0},
    }
    table = case_facts(
        "| Na+ | 138 mEq/L | | K+ | 5.8 mEq/L | | Cl- | 100 mEq/L | | BUN | 13 mg/dL | Pulse is 89/min. "
        "He takes enalapril and simvastatin."
    )
    assert text.agreements(table) == ["cl- meq/l", "na+ meq/l", "pulse /min", "urea nitrogen mg/dl"]
    # Simvastatin is shared, but each takes a drug the other does not: another medication list.
    assert text.contradictions(table) == ["k+ meq/l", "drugs"]
    fewer = case_facts("She takes simvastatin.")
    assert "drugs" in text.agreements(fewer) and not text.contradictions(fewer)


def test_the_same_age_and_sex_do_not_tie_a_different_patient_to_a_case() -> None:
    index = case_index_of(CASE)
    rewrite = (
        "A 62-year-old male presents to the emergency room with severe pain in the epigastrium for 12 hours that "
        "radiates to his back. He is on enalapril for high blood pressure. Temperature 38.1°C, pulse 104/min, blood "
        "pressure 150/90 mm Hg; lipase 900 U/L. What is the most likely cause?"
    )
    # The same age, sex, topic and most of the wording, but another patient: 3 days, metoprolol, other vitals.
    sibling = (
        "A 62-year-old man comes to the emergency department because of 3 days of severe epigastric pain radiating "
        "to the back. He takes metoprolol for hypertension. His temperature is 37.2°C, pulse is 88/min, and blood "
        "pressure is 130/80 mm Hg. Which of the following is the most likely cause?"
    )
    found, other = rewrite_hits([rewrite, sibling], index, RewriteConfig())
    assert [hit.text_id for hit in found] == [0] and "patient: 62 year m" in found[0].evidence
    assert other == []


def test_several_facts_that_differ_are_another_patient_whatever_else_agrees() -> None:
    # A template variant: the same lab panel but for the potassium, another duration and other drugs. Its many
    # agreements outweigh three contradictions by count, but a rewrite changes at most one fact (on the tune half).
    case = (
        "A 62-year-old man has had upper abdominal pain for 6 hours. He takes metoprolol and simvastatin. Serum "
        "studies show Na+ 138 mEq/L, K+ 6.1 mEq/L, Cl- 100 mEq/L, HCO3- 22 mEq/L, urea nitrogen 13 mg/dL. Which of "
        "the following is the most appropriate next step in management of his hyperkalemia?"
    )
    index = case_index_of(case)
    variant = (
        "A 62-year-old man has had progressive abdominal pain for 12 hours; calculous cholecystitis. He takes "
        "enalapril, ibuprofen and simvastatin. Serum studies show Na+ 138 mEq/L, K+ 5.8 mEq/L, Cl- 100 mEq/L, "
        "HCO3- 22 mEq/L, urea nitrogen 13 mg/dL. Temperature 38.1°C, pulse 89/min, respirations 24/min, blood "
        "pressure 132/88 mm Hg, hemoglobin 15.5 g/dL. What is the most appropriate next step for this patient?"
    )
    reworded = case.replace("has had upper abdominal pain for 6 hours", "reports 6 hours of epigastric pain")
    found, other = rewrite_hits([reworded, variant], index, RewriteConfig())
    assert [hit.text_id for hit in found] == [0] and other == []
    (tied,) = rewrite_hits([variant], index, RewriteConfig(max_contradictions=3))
    assert [hit.text_id for hit in tied] == [0]


def test_a_rewrite_that_kept_only_the_patient_and_numbers_is_found_by_its_numbers() -> None:
    # Nearly every word reworded (too few rarer words shared to be a candidate by words), the patient and every
    # number of the case kept: retrieved by its rare numbers. Another patient with those numbers is not tied.
    case = (
        "A 60-year-old woman presents with low back pain after gardening, 7/10 in severity. Temperature 37.0°C, "
        "pulse 90/min, blood pressure 120/80 mm Hg, respirations 18/min. Serum calcium 10.6 mg/dL, creatinine 1.1 "
        "mg/dL. Which of the following is the most likely diagnosis?"
    )
    index = case_index_of(case)
    rewrite = (
        "After an afternoon of yard work, a 60-year-old female reports lumbar discomfort rated 7/10. Vitals: T "
        "37.0°C, HR 90/min, BP 120/80 mm Hg, RR 18/min. Labs: Ca 10.6 mg/dL, Cr 1.1 mg/dL. What explains this?"
    )
    # In a pack of three every word is rare (numbers too), so words alone would make it a candidate: the bar for
    # words is raised to leave the numbers as the only way in, as in a real pack where 90 or 120 are in many cases.
    config = RewriteConfig(min_words=0.95)
    assert rewrite_hits([rewrite], index, replace(config, max_contradictions=0, fingerprint_numbers=20)) == [[]]
    found, other = rewrite_hits([rewrite, rewrite.replace("60-year-old female", "60-year-old male")], index, config)
    assert [hit.text_id for hit in found] == [0] and found[0].evidence.startswith("numbers: ")
    assert "patient: 60 year f" in found[0].evidence and other == []
