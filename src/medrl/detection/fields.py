"""Checked fields as people hold their data: a column, a nested path into structs and lists, or a list of chat
messages, resolved per row into the texts the detectors check.

A field is a column name, or a path of names and list indexes (`extra_info.question`, `prompt[0].content`). A
column whose name is the whole string wins, so a column with a dot in its name still works. The value found is:
- text (a number is its text form, null is empty text): one text, labelled with the field;
- a list of chat messages (OpenAI/Hugging Face `role`/`content`, ShareGPT `from`/`value`; content as a string or
  as a list of `{type: text, text}` parts): one text per message, labelled `field[i]`, kept with its role so a
  `--roles` choice can skip the others;
- a list of `{type: text, text}` parts: their texts joined, as one text.
Anything else is an error naming the row, the field and what it holds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from medrl.errors import MedrlError

# ShareGPT's speaker names and their chat-template roles; other roles are kept as they are.
_ROLE_NAMES = {"human": "user", "gpt": "assistant", "chatgpt": "assistant", "bot": "assistant", "model": "assistant"}
_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


@dataclass(frozen=True)
class FieldPath:
    """A checked field: its text as given, and its path (names and list indexes) below the top-level column."""

    text: str
    column: str
    steps: tuple[str | int, ...]

    @classmethod
    def parse(cls, text: str, columns: Sequence[str] = ()) -> FieldPath:
        """The field `text`; a column named exactly `text` is taken whole (its name may hold dots)."""
        if text in columns or not any(mark in text for mark in ".["):
            return cls(text, text, ())
        parts, position = [], 0
        for found in _PATH_PART.finditer(text):
            separator = text[position : found.start()]
            if separator not in ("", ".") or (separator == "." and found.group(2) is not None):
                break
            parts.append(found.group(1) if found.group(1) is not None else int(found.group(2)))
            position = found.end()
        if position != len(text) or not parts or not isinstance(parts[0], str):
            raise MedrlError(
                f"--field {text!r} is not a column or a path such as extra_info.question or prompt[0].content"
            )
        return cls(text, parts[0], tuple(parts[1:]))

    def resolve(self, value: object) -> tuple[object, str | None]:
        """The value at this path below the column's `value`, or (None, the first missing step) when absent."""
        walked = self.column
        for step in self.steps:
            if isinstance(step, int):
                if not isinstance(value, list | tuple) or step >= len(value):
                    return None, f"{walked}[{step}]"
                value = value[step]
                walked = f"{walked}[{step}]"
            else:
                if not isinstance(value, Mapping) or step not in value:
                    return None, f"{walked}.{step}"
                value = value[step]
                walked = f"{walked}.{step}"
        return value, None


@dataclass(frozen=True)
class FieldText:
    """One text a row gives for a field: its label (`messages[1]` for a message), the message's role, the text."""

    label: str
    role: str | None
    text: str


def _message_text(content: object) -> str | None:
    """A message's content as text: a string, or the texts of `{type: text, text}` parts (None: neither)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(part, Mapping) for part in content):
        texts = [part.get("text") for part in content if part.get("type", "text") == "text"]
        if all(isinstance(text, str) for text in texts):
            return "\n".join(text for text in texts if isinstance(text, str))
    return None


def _message(entry: object) -> tuple[str | None, str] | None:
    """(role, text) of a chat message in either layout, or None when `entry` is not one."""
    if not isinstance(entry, Mapping):
        return None
    for role_key, content_key in (("role", "content"), ("from", "value")):
        if content_key in entry:
            text = _message_text(entry[content_key])
            if text is None:
                return None
            role = entry.get(role_key)
            role = str(role) if role is not None else None
            return (_ROLE_NAMES.get(role.lower(), role.lower()) if role else None), text
    return None


def field_texts_of(value: object, label: str) -> list[FieldText] | str:
    """The texts a resolved value gives (see the module's docstring), or what it holds when it gives none."""
    if isinstance(value, str):
        return [FieldText(label, None, value)]
    if value is None:
        return [FieldText(label, None, "")]
    if isinstance(value, int | float):
        return [FieldText(label, None, str(value))]
    if isinstance(value, list | tuple):
        if not value:
            return [FieldText(label, None, "")]
        messages = [_message(entry) for entry in value]
        if all(message is not None for message in messages):
            return [
                FieldText(f"{label}[{position}]", message[0], message[1])
                for position, message in enumerate(messages)
                if message is not None
            ]
        parts = _message_text(list(value))
        if parts is not None:
            return [FieldText(label, None, parts)]
        return "a list of other values"
    return f"a {type(value).__name__}"
