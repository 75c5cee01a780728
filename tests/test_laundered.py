"""Text laundered past a normaliser: look-alike letters of other scripts, invisible characters, HTML tags and
entities, markdown emphasis and spaced-out letters are folded for matching only, and evidence spans still point
into the original text."""

from __future__ import annotations

import html
import json
import random
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

import medrl
from conftest import REPO
from medrl.detection.text import word_spans, words

EXAMPLES = REPO / "examples"
# Cyrillic and Greek letters that look like Latin ones (a launderer's choice; the code reads Unicode's own table).
LOOK_ALIKES = {"a": "а", "c": "с", "e": "е", "o": "о", "p": "р", "x": "х", "y": "у", "i": "і", "A": "Α", "O": "Ο"}


def homoglyphs(text: str, share: float, chooser: random.Random) -> str:
    return "".join(LOOK_ALIKES[c] if c in LOOK_ALIKES and chooser.random() < share else c for c in text)


def zero_width(text: str, chooser: random.Random) -> str:
    marks = ("\u200b", "\u200c", "\u200d", "\u00ad", "\u2060", "\ufeff")
    return "".join(c + chooser.choice(marks) if c.isalpha() and chooser.random() < 0.3 else c for c in text)


def html_wrapped(text: str) -> str:
    lines = [
        " ".join(f"<b>{w}</b>" if i % 3 == 0 else w for i, w in enumerate(line.split())) for line in text.split("\n")
    ]
    body = "<br>\n".join(html.escape(line, quote=False).replace("&lt;", "<").replace("&gt;", ">") for line in lines)
    return f'<div class="q"><p>{body}</p></div>'


def markdown(text: str) -> str:
    return "\n".join(
        " ".join(f"**{w}**" if i % 4 == 0 else f"_{w}_" for i, w in enumerate(line.split()))
        for line in text.split("\n")
    )


def spaced(text: str) -> str:
    """Long words spelled out letter by letter; words apart by two spaces (one would make the words one)."""
    return "\n".join(
        "  ".join(" ".join(w) if len(w) >= 5 and w.isalpha() else w for w in line.split()) for line in text.split("\n")
    )


DISGUISES = {
    "homoglyphs": lambda text, chooser: homoglyphs(text, 0.3, chooser),
    "zero-width": zero_width,
    "html": lambda text, chooser: html_wrapped(text),
    "markdown": lambda text, chooser: markdown(text),
    "spaced letters": lambda text, chooser: spaced(text),
}


def benchmark_questions(limit: int = 60) -> list[str]:
    lines = (EXAMPLES / "benchmarks" / "medqa" / "test.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines[:limit]]


def test_each_disguise_folds_back_to_the_same_words() -> None:
    chooser = random.Random(25)
    for question in benchmark_questions():
        expected = words(question)
        for name, disguise in DISGUISES.items():
            assert words(disguise(question, chooser)) == expected, name


alphabet = st.sampled_from(
    ["a", "b", "p", "e", " ", " ", "\n", "а", "е", "\u200b", "\u00ad", "<b>", "</i>", "&amp;", "&eacute;", "ß", "4"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(alphabet, max_size=40).map("".join))
def test_spans_point_into_the_original_text(text: str) -> None:
    """Every token's span, cut from the original text, folds back to exactly that token."""
    tokens, spans = words(text), word_spans(text)
    assert len(tokens) == len(spans)
    for token, (start, end) in zip(tokens, spans, strict=True):
        assert 0 <= start < end <= len(text)
        assert token in words(text[start:end])


def test_laundered_copies_are_found_with_evidence_in_the_original(tmp_path: Path, example_pack: Path) -> None:
    chooser = random.Random(26)
    questions = benchmark_questions(40)
    rows = [{"kind": name, "question": disguise(q, chooser)} for name, disguise in DISGUISES.items() for q in questions]
    source = tmp_path / "laundered.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    report = medrl.decontaminate(
        source, example_pack, tmp_path / "out", config=medrl.preset().replace(options_field=None)
    )
    assert report.removed_rows == len(rows)
    for line in (tmp_path / "out" / "removed.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        match = next(m for m in row["contamination"] if m["method"] == "coverage")
        start, end = match["row_span"]
        assert row["question"][start:end] == match["evidence"] and len(words(match["evidence"])) >= 3


def test_disguises_do_not_hide_a_rows_options() -> None:
    """A row's inline options are read through the same disguises, so a generic stem asking another question (its
    options share none with the item's) is still told apart."""
    from medrl.detection.text import option_texts

    plain = "Which of the following is true?\nA. Iron\nB. Zinc\nC. Copper"
    chooser = random.Random(3)
    for name, disguise in DISGUISES.items():
        found = [words(option) for option in option_texts(disguise(plain, chooser))]
        assert found == [["iron"], ["zinc"], ["copper"]], name
    inline = "**True** about placenta accreta **is:\n(A)** Leukemia (B) **Cholecystitis** (C) Necrosis"
    assert [words(option) for option in option_texts(inline)] == [["leukemia"], ["cholecystitis"], ["necrosis"]]
    assert option_texts("Fill the blank: ____ is the drug of choice\nA. x\nB. y") == ["x", "y"]
