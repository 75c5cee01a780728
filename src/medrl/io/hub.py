"""A training input on the Hugging Face hub: `hf://ORG/NAME[:CONFIG]` with a split, read as shards.

The dataset repository's data files for the split are fetched through `huggingface_hub.snapshot_download` (the `hub`
extra; no dataset script is ever run) at a commit the report records, and read by medrl's own readers as one sharded
input. Offline (`HF_HUB_OFFLINE=1`) the same call serves them from the local Hugging Face cache, which is how the
tests run it. Files are chosen by the hub's data layouts: `[CONFIG/]SPLIT.EXT`, `[CONFIG/]SPLIT-*.EXT` and
`[CONFIG/]SPLIT/*.EXT`, under the repository root or `data/` (the parquet conversion's layout).
"""

from __future__ import annotations

from pathlib import Path

from medrl.errors import MedrlError
from medrl.io.formats import SUFFIX_FORMATS, TrainingSource, sharded

SCHEME = "hf://"


def is_hub_input(value: str | Path) -> bool:
    """`hf://...` (a path object folds the double slash: `hf:/...`)."""
    return str(value).startswith(("hf://", "hf:/"))


def parse(value: str | Path) -> tuple[str, str | None]:
    """(repo id, config) of `hf://ORG/NAME[:CONFIG]`."""
    text = str(value)
    text = text[len(SCHEME) :] if text.startswith(SCHEME) else text[len("hf:/") :]
    repo_id, _, config = text.partition(":")
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise MedrlError(f"{value}: a hub input is hf://ORG/NAME or hf://ORG/NAME:CONFIG")
    return repo_id, config or None


def _patterns(config: str | None, split: str) -> list[str]:
    roots = [f"{config}/", f"data/{config}/", f"{config}/data/"] if config else ["", "data/"]
    suffixes = [suffix.lstrip(".") for suffix in SUFFIX_FORMATS]
    return [
        f"{root}{name}.{suffix}"
        for root in roots
        for name in (split, f"{split}-*", f"{split}/*")
        for suffix in suffixes
    ]


def open_hub_source(value: str | Path, split: str | None, revision: str | None = None) -> tuple[TrainingSource, str]:
    """The split's data files as one sharded input, and the commit they were read at."""
    repo_id, config = parse(value)
    if not split:
        raise MedrlError(f"{value}: name the split to read with --split (e.g. --split train)")
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise MedrlError("reading hub datasets needs the hub extra: pip install 'medrl[hub]'") from None
    patterns = _patterns(config, split)
    try:
        folder = Path(str(snapshot_download(repo_id, repo_type="dataset", revision=revision, allow_patterns=patterns)))
    except Exception as error:  # network, auth, a missing repo or cache entry all end here
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        raise MedrlError(
            f"cannot read {repo_id} from the Hugging Face hub: {reason}. Offline? Download it once where the hub is "
            "reachable (the Hugging Face cache serves it after), or give the files' path"
        ) from None
    files = sorted({path for pattern in patterns for path in folder.glob(pattern) if path.is_file()})
    if not files:
        where = f"{repo_id}{f' ({config})' if config else ''}"
        raise MedrlError(f"{value}: {where} has no data files for split {split!r} (looked for {patterns[0]}, ...)")
    return sharded(Path(str(value)), files, None), folder.name
