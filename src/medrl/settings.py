"""The one config-file loader every command uses: a TOML file with the command's settings, flags on top.

A command declares its keys (`Setting`: the TOML type, whether it is a path, an optional conversion); `read_settings`
loads the file, rejects unknown keys naming the known ones, checks each value's type, resolves paths against the
file's directory and converts tables; `merge` puts the flags that were given over the file's values.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medrl.errors import MedrlError

_TYPE_NAMES = {str: "a string", list: "a list", int: "an integer", bool: "true or false", dict: "a table"}


@dataclass(frozen=True)
class Setting:
    """One key of a config file."""

    kinds: tuple[type, ...]
    path: bool = False  # a path relative to the config file
    # Turns the TOML value into the setting's value: (value, base directory, the file for messages) -> value.
    convert: Callable[[Any, Path, str], Any] | None = None


def check_keys(values: Mapping[str, object], known: list[str] | tuple[str, ...], where: str) -> None:
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise MedrlError(f"{where}: unknown keys {unknown}; known: {', '.join(known)}")


def _kind_ok(value: object, kinds: tuple[type, ...]) -> bool:
    if isinstance(value, bool):  # TOML booleans are not integers
        return bool in kinds
    return isinstance(value, kinds)


def convert_values(values: dict, settings: Mapping[str, Setting], base: Path, where: str) -> dict:
    """Check and convert already-parsed values against `settings` (relative paths against `base`)."""
    check_keys(values, list(settings), where)
    converted = {}
    for key, value in values.items():
        setting = settings[key]
        if not _kind_ok(value, setting.kinds):
            expected = " or ".join(_TYPE_NAMES.get(kind, kind.__name__) for kind in setting.kinds)
            raise MedrlError(f"{where}: {key} must be {expected}, got {value!r:.80}")
        if setting.path:
            value = base / value
        if setting.convert is not None:
            value = setting.convert(value, base, where)
        converted[key] = value
    return converted


def read_settings(path: str | Path, settings: Mapping[str, Setting], what: str) -> dict:
    """The settings in a TOML file, checked and converted (see `Setting`)."""
    path = Path(path)
    try:
        values = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise MedrlError(f"{path}: cannot read the {what} ({error})") from None
    return convert_values(values, settings, path.parent, str(path))


def merge(file_values: Mapping[str, object], overrides: Mapping[str, object]) -> dict:
    """The file's values with every override that was given (not None) on top."""
    return {**file_values, **{key: value for key, value in overrides.items() if value is not None}}


def require(
    command: str, values: Mapping[str, object], needed: Mapping[str, str], config_flag: str = "--config"
) -> None:
    """Refuse missing required settings, naming each both ways it can be given: `needed` maps a key to its flag
    ("pack" -> "--pack PACK"), so the message reads `decontaminate needs --pack PACK (or pack = ... in --config)`."""
    missing = [key for key in needed if not values.get(key)]
    if missing:
        flags = " and ".join(needed[key] for key in missing)
        keys = ", ".join(f"{key} = ..." for key in missing)
        raise MedrlError(f"{command} needs {flags} (or {keys} in {config_flag})")


def dataclass_table(cls: type, value: dict, where: str) -> Any:
    """A TOML table as a frozen settings dataclass, unknown keys rejected by name."""
    check_keys(value, [f.name for f in dataclasses.fields(cls)], where)
    try:
        return cls(**value)
    except TypeError as error:
        raise MedrlError(f"{where}: {error}") from None
