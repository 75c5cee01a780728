"""Text normalisation shared by the detection stages, dedup and labels. Kept byte-for-byte faithful to the methods
they reproduce."""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from collections.abc import Iterable


def openr1_normalise(text: str) -> str:
    """open-r1's `normalize_string`: lower-case, strip, collapse whitespace runs (Python `str.split()` rules)."""
    return " ".join(text.lower().strip().split())


def word_ngrams(text: str, n: int) -> list[str]:
    """open-r1's word n-grams of the normalised text, in text order (empty when it has fewer than n words)."""
    words = openr1_normalise(text).split()
    return [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]


_COMBINING = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_WORD = re.compile(r"[^\W_]+")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
# Disguises a copy may wear that span several characters: HTML tags (a space, so the words they separate stay
# apart), HTML entities (their character), and words spelled out letter by letter ("p a t i e n t": four or more
# single letters joined by single spaces). Markdown emphasis (`**`, `_`) needs nothing: it is not a word character.
_WRAPPED = re.compile(r"<[A-Za-z/!][^<>]{0,200}>|&(?:#\d{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});|"
                      r"\b[^\W\d_](?: [^\W\d_]){3,}\b")  # fmt: skip
# Any run of four spaced letters holds " x y " (a cheap test that rules out nearly every text).
_SPACED_HINT = re.compile(r" \w \w ")


def _maybe_wrapped(text: str) -> bool:
    """Whether `text` may hold something `_WRAPPED` unwraps (cheap; a false alarm only costs the unwrapping)."""
    return "<" in text or "&" in text or _SPACED_HINT.search(text) is not None


@functools.cache
def _look_alikes() -> dict[int, str | None]:
    """`str.translate` table: invisible format characters (zero-width spaces and joiners, soft hyphens, byte-order
    marks: Unicode category Cf, from Python's own Unicode database) removed, and every character that Unicode's
    confusables table (TR39, through the `confusable-homoglyphs` package) says looks like one ASCII letter or digit
    (Cyrillic "а", Greek "ο", mathematical "𝐚") made that letter."""
    from confusable_homoglyphs.confusables import confusables_data

    table: dict[int, str | None] = {}
    for character, homoglyphs in confusables_data.items():
        ascii_like = [glyph["c"] for glyph in homoglyphs if len(glyph["c"]) == 1 and glyph["c"].isascii()]
        ascii_like = [glyph for glyph in ascii_like if glyph.isalnum()]
        if len(character) == 1 and not character.isascii() and ascii_like:
            table[ord(character)] = ascii_like[0]
    # Format characters live in planes 0, 1 and 14 (tags).
    for code in (*range(0x20000), *range(0xE0000, 0xE1000)):
        if unicodedata.category(chr(code)) == "Cf":
            table[code] = None
    return table


@functools.cache
def _look_alike_characters() -> frozenset[str]:
    """The characters `_look_alikes` changes: most texts hold none, and looking is cheaper than translating."""
    return frozenset(chr(code) for code in _look_alikes())


def _decomposed(text: str) -> str:
    """Compatibility-decompose (NFKD: ligatures, full-width, composed accents) and drop accents.

    NFKD works character by character, so NFC, NFD and NFKC spellings of the same text fold alike.
    """
    return _COMBINING.sub("", unicodedata.normalize("NFKD", text))


def _plain_fold(text: str) -> str:
    return _decomposed(text).casefold()


def fold(text: str) -> str:
    """`_decomposed`, invisible format characters dropped, look-alike letters of other scripts read as the ASCII
    letters they imitate (before case-folding: Cyrillic "В" looks like "B", its lower case "в" like no letter), then
    case-folded."""
    decomposed = _decomposed(text)
    table = _look_alikes()
    if not _look_alike_characters().isdisjoint(_NON_ASCII.findall(decomposed)):
        decomposed = decomposed.translate(table)
    return decomposed.casefold()


def plain_words(text: str) -> list[str]:
    """Word tokens of the plain fold only (no unwrapping, no look-alikes): the normalisation split placement keys
    use, kept as it is across releases so that a rebuild leaves every row in its split."""
    return _WORD.findall(text.lower() if text.isascii() else _plain_fold(text))


def words(text: str) -> list[str]:
    """Word tokens of the folded text: runs of letters and digits. Punctuation, quotes of any shape, dashes and
    whitespace of any kind only separate words, so they cannot hide a copy; nor can HTML tags and entities,
    letters spaced out, invisible characters or look-alike letters (see `_WRAPPED`, `fold`)."""
    return list(_words(text))


@functools.lru_cache(maxsize=8192)
def _words(text: str) -> tuple[str, ...]:
    """Several stages tokenise the same rows of a batch (and dedup the same questions): fold each text once."""
    if _maybe_wrapped(text):
        text = _unwrap(text)[0]
    if text.isascii():  # folding ASCII only lower-cases it (NFKD leaves it alone; it has no accents)
        return tuple(_WORD.findall(text.lower()))
    return tuple(_WORD.findall(fold(text)))


def _unwrap(text: str) -> tuple[str, list[int]]:
    """`text` without its HTML tags and entities and with spaced-out letters joined (see `_WRAPPED`), and for each
    character of the result its position in `text`."""
    pieces: list[str] = []
    origin: list[int] = []
    position = 0
    for match in _WRAPPED.finditer(text):
        pieces.append(text[position : match.start()])
        origin.extend(range(position, match.start()))
        found = match.group()
        if found.startswith("<"):
            pieces.append(" ")
            origin.append(match.start())
        elif found.startswith("&"):
            character = html.unescape(found)
            pieces.append(character)
            origin.extend([match.start()] * len(character))
        else:  # spaced letters: every other character is a letter
            pieces.append(found[::2])
            origin.extend(range(match.start(), match.end(), 2))
        position = match.end()
    pieces.append(text[position:])
    origin.extend(range(position, len(text)))
    return "".join(pieces), origin


def word_spans(text: str) -> list[tuple[int, int]]:
    """Character spans in the original `text` of each token `words(text)` returns, in order (for evidence).

    Unwrapping and folding may change lengths (a tag, "ß" -> "ss", a zero-width space dropped), so tokens are found
    on the folded text and mapped back through a per-character offset table.
    """
    unwrapped, before = _unwrap(text) if _maybe_wrapped(text) else (text, None)
    if unwrapped.isascii() and before is None:  # folding ASCII only changes case: same positions
        return [match.span() for match in _WORD.finditer(text)]
    pieces: list[str] = []
    origin: list[int] = []
    position = 0
    for match in _NON_ASCII.finditer(unwrapped):  # ASCII runs fold by lower-casing; other characters one by one
        pieces.append(unwrapped[position : match.start()].lower())
        origin.extend(range(position, match.start()))
        piece = fold(match.group())
        pieces.append(piece)
        origin.extend([match.start()] * len(piece))
        position = match.end()
    pieces.append(unwrapped[position:].lower())
    origin.extend(range(position, len(unwrapped)))
    if before is not None:
        origin = [before[at] for at in origin]
    folded = "".join(pieces)
    spans = [(origin[m.start()], origin[m.end() - 1] + 1) for m in _WORD.finditer(folded)]
    # A token ending in an HTML entity ends where the entity does.
    return [(start, text.index(";", end - 1) + 1 if text[end - 1] == "&" else end) for start, end in spans]


# "A. text" / "B) text" lines, or inline "(A) text (B) text" as in MedXpertQA's "Answer Choices:" block.
_OPTION_LINE = re.compile(r"^[ \t]*\(?([A-J])[.):][ \t]+(\S.*)$", re.MULTILINE)
# Markdown emphasis: asterisks, and underscores around a word (a blank "____" in a question stays).
_EMPHASIS = re.compile(r"\*{1,3}|(?<![\w_])_{1,2}(?=[^\W_])|(?<=[^\W_])_{1,2}(?![\w_])")
_OPTION_INLINE = re.compile(r"\(([A-J])\)\s+(.+?)(?=\s+\([A-J]\)\s|\s*$)", re.DOTALL)


def readable(text: str) -> str:
    """The text as a reader sees it: HTML tags and entities and spaced-out letters unwrapped, markdown emphasis
    dropped, invisible characters dropped, look-alike letters read as the ASCII ones (case kept), so that disguises
    cannot hide a row's options."""
    if _maybe_wrapped(text):
        text = _unwrap(text)[0]
    if "*" in text or "_" in text:
        text = _EMPHASIS.sub("", text)
    if not text.isascii() and not _look_alike_characters().isdisjoint(_NON_ASCII.findall(text)):
        text = text.translate(_look_alikes())
    return text


def option_texts(text: str) -> list[str]:
    """Lettered options carried inside a text (at least two, lettered from A), else an empty list. The text is read
    as `readable` gives it."""
    text = readable(text)
    for pattern in (_OPTION_LINE, _OPTION_INLINE):
        found = pattern.findall(text)
        if len(found) >= 2 and found[0][0] == "A":
            return [option for _, option in found]
    return []


# A label introducing a row's options ("Answer Choices:", "Options:"), left at the end of the text before them.
_OPTIONS_LABEL = re.compile(r"\s*(?:answer choices|answer options|options|choices)\s*:?\s*$", re.IGNORECASE)


def text_before_options(text: str) -> str:
    """What a row says before its lettered options (as `option_texts` finds them), without a label introducing
    them; the whole text when it carries none. Read as `readable` gives it."""
    text = readable(text)
    for pattern in (_OPTION_LINE, _OPTION_INLINE):
        found = list(pattern.finditer(text))
        if len(found) >= 2 and found[0].group(1) == "A":
            return _OPTIONS_LABEL.sub("", text[: found[0].start()])
    return text


def folded_options(options: Iterable[tuple[object, str]]) -> frozenset[str]:
    """Option texts compared without letters, case, accents or punctuation (shuffled options still match)."""
    return frozenset(folded for _, text in options if (folded := " ".join(words(text))))


_INLINE_CHOICES = "Answer Choices:"


def question_stem(question: str) -> str:
    """The question without an inline "Answer Choices:" block (MedXpertQA): options are compared as options, so
    a row that merely lists the same drugs is not taken for the question. (A plain search: the rewrite stage asks
    for the stem of every row, and a regex starting with whitespace tried at every position cost 10% of its time.)"""
    at = question.find(_INLINE_CHOICES)
    return question if at < 0 else question[:at].rstrip() or question
