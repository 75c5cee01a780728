"""Loading benchmark rows from the Hugging Face hub (or a local mirror of it), with the revision recorded.

The real loader needs the optional `hub` extra (`pip install medrl[hub]`). On a machine that cannot reach the hub it
fails with one clear line; a mirror directory laid out `<repo_id>/<config>/<split>.<ext>` serves air-gapped
machines (and the tests) through the same mapping code.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol

from medrl.benchmarks.loaders import SUPPORTED_SUFFIXES, read_rows
from medrl.errors import MedrlError


class HubLoader(Protocol):
    def load(self, repo_id: str, config: str | None, split: str, revision: str | None) -> tuple[list[dict], str]:
        """Rows of one hub split and the exact revision (commit sha or content hash) they came from."""
        ...


class DatasetsHubLoader:
    """The hub itself, through `datasets.load_dataset` (rows) and `huggingface_hub` (the resolved commit sha)."""

    def load(self, repo_id: str, config: str | None, split: str, revision: str | None) -> tuple[list[dict], str]:
        try:
            import datasets
            from huggingface_hub import HfApi
        except ImportError:
            raise MedrlError("loading from the hub needs the hub extra: pip install 'medrl[hub]'") from None
        where = f"{repo_id}{f' ({config})' if config else ''} split {split}"
        try:
            sha = HfApi().dataset_info(repo_id, revision=revision).sha
            if sha is None:
                raise ValueError("the hub named no commit for it")
            dataset = datasets.load_dataset(repo_id, config, split=split, revision=sha)
        except Exception as error:  # network, auth (gated sets) and missing-config errors all end here
            reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
            raise MedrlError(
                f"cannot load {where} from the Hugging Face hub: {reason}. Offline? Import a local copy with "
                "`medrl benchmarks import`, or pass --mirror DIR; gated sets need `huggingface-cli login`."
            ) from None
        return dataset.to_list(), sha


class MirrorLoader:
    """A local mirror: `<root>/<repo_id>/<config or 'default'>/<split>[-*].{parquet,jsonl,json,csv}`.

    The recorded revision is `sha256:` of the split files, so a changed mirror shows up in `benchmarks verify`.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def load(self, repo_id: str, config: str | None, split: str, revision: str | None) -> tuple[list[dict], str]:
        directory = self.root / repo_id / (config or "default")
        files = sorted(
            path
            for path in directory.glob(f"{split}*")
            if path.suffix.lower() in SUPPORTED_SUFFIXES and (path.stem == split or path.stem.startswith(f"{split}-"))
        )
        if not files:
            raise MedrlError(f"{directory}: no {split}.<ext> file in the mirror for {repo_id}")
        digest = hashlib.sha256()
        for path in files:
            digest.update(path.read_bytes())
        return read_rows(files), f"sha256:{digest.hexdigest()}"
