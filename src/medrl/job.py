"""The frame every job (`decontaminate`, `build`) runs in, so run-level behaviour is written once.

A job opens one output set (`medrl.io.output_set`: all-or-nothing), refuses inputs and a pack that its outputs
would replace, indexes the pack for detection, writes its files into the set, then `finish` hashes every file,
writes the summary JSON and report.html and commits the set. Nothing appears in `--out` unless all of it does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType

from medrl.benchmarks.pack import BenchmarkPack, load_pack
from medrl.config import DecontaminationConfig
from medrl.detection.runner import DetectionRunner
from medrl.io.files import sha256_file
from medrl.io.output_set import OutputSet, refuse_inputs_in
from medrl.io.writers import write_json_atomic
from medrl.progress import Progress
from medrl.reporting.html import write_html_report


class Job:
    """One run's output set and what every job does around its own steps. Use as a context manager: leaving it
    without `finish` (an error, Ctrl-C) discards the staged outputs and leaves `--out` as it was."""

    def __init__(
        self,
        out: str | Path,
        owns_output: Callable[[str], bool],
        inputs: Iterable[str | Path],
        pack: str | Path,
        progress: Progress,
        input_kind: str = "input",
    ) -> None:
        self.outputs = OutputSet(out, owns_output)
        self.inputs = [Path(path) for path in inputs]
        self.pack_path = Path(pack)
        self.progress = progress
        self.input_kind = input_kind

    def __enter__(self) -> Job:
        self.outputs.__enter__()
        try:
            refuse_inputs_in(self.outputs, self.inputs, self.input_kind)
            refuse_inputs_in(self.outputs, [self.pack_path], "benchmark pack", out_inside=True)
        except BaseException as error:
            self.outputs.__exit__(type(error), error, error.__traceback__)
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.outputs.__exit__(kind, error, trace)

    def path(self, name: str) -> Path:
        """Where the output `name` is staged."""
        return self.outputs.path(name)

    def final_path(self, name: str) -> Path:
        """Where the output `name` will be once the set is committed."""
        return self.outputs.final_path(name)

    def detection(self, config: DecontaminationConfig, input_bytes: int) -> tuple[BenchmarkPack, DetectionRunner]:
        """The pack and a detection runner for `config` (its index loaded, or cached for worker processes)."""
        pack = load_pack(self.pack_path)
        return pack, DetectionRunner.for_pack(pack, config, input_bytes)

    def hashes(self) -> dict[str, str]:
        """sha256 of every file written so far, so a reader can check that the set is whole and unchanged."""
        return {str(name): sha256_file(self.outputs.stage / name) for name in self.outputs.files()}

    def finish(self, summary_name: str, summary: dict) -> None:
        """Write the summary JSON (its `outputs.sha256` filled in when the job has not), then report.html (a view
        of the set, re-rendered by `medrl report`, so not hashed), and commit the set."""
        outputs = summary.setdefault("outputs", {})
        if "sha256" not in outputs:
            outputs["sha256"] = self.hashes()
        write_json_atomic(self.path(summary_name), summary)
        write_html_report(self.outputs.stage, self.progress)
        self.outputs.commit()
