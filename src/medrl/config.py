"""A decontamination run's settings as one frozen dataclass, plus the named presets.

Stage settings are the stages' own dataclasses (each stage module holds its `settings_class`); this module knows
stages only through the registry (`medrl.detection.stages`). A preset is just a complete `DecontaminationConfig`;
the resolved config is written into every report so a run can be reproduced and diffed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medrl.detection.stages import STAGES, STAGES_BY_NAME, RunContext, Stage, StageSettings, run_option
from medrl.detection.stages.presets import DEFAULT_PRESET, PRESET_STAGES
from medrl.errors import MedrlError
from medrl.settings import Setting, dataclass_table

REVIEW_POLICIES = ("remove", "keep", "separate")


@dataclass(frozen=True)
class DecontaminationConfig:
    """A complete decontamination run configuration (what a preset resolves to)."""

    preset: str
    # The enabled stages' settings by stage name (a stage not named is off). Stages run in the registry's order
    # (`medrl.detection.stages.STAGES`), whatever the order here. `replace(name=settings or None)` changes one.
    stages: dict[str, StageSettings]
    # Training fields whose text is checked: columns, nested paths (`extra_info.question`, `prompt[0].content`) or
    # columns of chat messages (each message checked on its own; see `medrl.detection.fields`). Each is checked on
    # its own and a match in any flags the row.
    fields: tuple[str, ...] = ("question",)
    # With several fields, each row's checked texts are also matched joined into one (`medrl.detection.joined`): a
    # question split across two fields is found. On by default: on bench/quality/split_fields.py it finds 100% of
    # 40 short MedMCQA questions cut in half (15% checked apart) and 99.8-100% of split questions (86-98%), and
    # flags no more of the real rows with an unrelated second field (reasoning, answers, another question); a run
    # with one field is unchanged.
    join_fields: bool = True
    # The chat roles whose messages are checked (`user`, `system`, `assistant`, ...; ShareGPT's human/gpt read as
    # user/assistant); empty: every role.
    roles: tuple[str, ...] = ()
    # Where each row's options are, for option-aware matching: "auto" (default) finds an options column by name
    # (see `medrl.detection.records.detect_options_field`); a column name (dict, list or "A. ..." lines) or a tuple
    # of one column per option; None: no column. Rows without column options use the options written in their text.
    options_field: str | tuple[str, ...] | None = "auto"
    # What happens to rows whose only evidence is review-class (a rewrite, not the benchmark text itself): "remove"
    # them (default), "keep" them in clean, or "separate" them into review.<ext> for a person to decide.
    review: str = "remove"
    # False: a stage skips rows whose class it cannot change (rows already holding a match of its class or a
    # stronger one: see `medrl.detection.runner.detect_batch`), which is faster; `by_method` then counts the rows
    # each stage flagged. True: every stage examines every row (complete evidence). Either way a row's decision and
    # confidence class are the same.
    run_all_stages: bool = False
    # Evidence kept per removed row, strongest first (0 = all). Counts in the report always use every match.
    max_matches_per_row: int = 10
    # Rows per batch: the unit of work of every engine. Results do not depend on it.
    batch_size: int = 2048
    # Threads for the stages that use them (-1 = all cores). Results do not depend on it.
    workers: int = -1
    # Worker processes for detection (0 = auto: one per core for inputs over 16 MB). Results do not depend on it.
    processes: int = 0
    # Where batches run: "local" (this process, or `processes` worker processes) or "ray" (Ray actors; a cluster
    # when `ray_address` is set). Results do not depend on it.
    engine: str = "local"
    ray_address: str | None = None

    def __post_init__(self) -> None:
        unknown = [name for name in self.stages if name not in STAGES_BY_NAME]
        if unknown:
            raise MedrlError(f"unknown detection stages {unknown}; known: {', '.join(STAGES_BY_NAME)}")
        for name, settings in self.stages.items():
            expected = STAGES_BY_NAME[name].settings_class
            if not isinstance(settings, expected):
                raise MedrlError(f"the {name} stage's settings must be a {expected.__name__}, got {settings!r:.80}")
        # Registry order, so equal configs compare, print and hash their cache key alike.
        object.__setattr__(self, "stages", {stage.name: self.stages[stage.name] for stage in self.enabled()})
        if not self.fields:
            raise MedrlError("at least one --field is needed")
        if any(not role or role != role.strip().lower() for role in self.roles):
            raise MedrlError(f"roles must be lower-case role names such as user,system; got {list(self.roles)}")
        if not self.stages:
            raise MedrlError(f"every detection stage is disabled: enable one of {', '.join(STAGES_BY_NAME)}")
        if self.batch_size < 1:
            raise MedrlError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.review not in REVIEW_POLICIES:
            raise MedrlError(f"review must be one of {', '.join(REVIEW_POLICIES)}, got {self.review!r}")
        if self.engine not in ("local", "ray"):
            raise MedrlError(f"engine must be 'local' or 'ray', got {self.engine!r}")
        if self.processes < 0:
            raise MedrlError(f"processes must be >= 0 (0 = auto), got {self.processes}")
        if self.max_matches_per_row < 0:
            raise MedrlError(f"max_matches_per_row must be >= 0, got {self.max_matches_per_row}")

    def enabled(self) -> list[Stage[Any, Any]]:
        """The enabled stages, in the order they run."""
        return [stage for stage in STAGES if stage.name in self.stages]

    def settings(self, name: str) -> StageSettings | None:
        """A stage's settings (None: off)."""
        return self.stages.get(name)

    def joins_fields(self) -> bool:
        """Whether rows' checked texts are also matched joined: asked for, and more than one field checked."""
        return self.join_fields and len(self.fields) > 1

    def run_context(self) -> RunContext:
        return RunContext(max_matches_per_row=self.max_matches_per_row, workers=self.workers)

    def replace(self, **changes: Any) -> DecontaminationConfig:
        """This config with settings changed; a stage's name sets its settings (None: off)."""
        stage_changes = {name: changes.pop(name) for name in list(changes) if name in STAGES_BY_NAME}
        if stage_changes:
            stages = {**changes.get("stages", self.stages), **stage_changes}
            changes["stages"] = {name: settings for name, settings in stages.items() if settings is not None}
        return dataclasses.replace(self, **changes)

    def with_stage_option(self, option: str, value: object) -> DecontaminationConfig:
        """This config with a stage's run option (`Stage.run_options`, e.g. `embedding_model`) set (None:
        unchanged); an error when the stage offering it is off."""
        if value is None:
            return self
        stage, offered = run_option(option)
        settings = self.stages.get(stage.name)
        if settings is None:
            runs_it = [name for name, stages in PRESET_STAGES.items() if stage.name in stages]
            raise MedrlError(
                f"--{option.replace('_', '-')} is only used by the {stage.name} stage, which preset {self.preset} "
                f"does not run (--preset {' or '.join(runs_it)}, or a [{stage.name}] table in --config)"
            )
        return self.replace(**{stage.name: dataclasses.replace(settings, **{offered.setting: value})})  # type: ignore[type-var]

    def to_dict(self) -> dict:
        """Every setting, each stage under its name (None when off), as reports store the config."""
        stages = {stage.name: self.stages.get(stage.name) for stage in STAGES}
        values = {"preset": self.preset, "fields": self.fields, **stages}
        values |= {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("stages", *values)}
        return {key: _plain(value) for key, value in values.items()}


def _plain(value: object) -> object:
    return dataclasses.asdict(value) if isinstance(value, StageSettings) else value  # type: ignore[call-overload]


PRESETS: dict[str, DecontaminationConfig] = {
    name: DecontaminationConfig(preset=name, stages=stages) for name, stages in PRESET_STAGES.items()
}


def preset(name: str = DEFAULT_PRESET) -> DecontaminationConfig:
    """The named preset's config; raise with the list of known presets when it is unknown."""
    try:
        return PRESETS[name]
    except KeyError:
        raise MedrlError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}") from None


def _stage_table(stage: Stage[Any, Any]) -> Setting:
    """A stage's table in a config file: its settings (over the class defaults), true for the defaults, false off."""

    def convert(value: bool | dict, base: Path, where: str) -> StageSettings | None:
        if isinstance(value, bool):
            return stage.settings_class() if value else None
        return dataclass_table(stage.settings_class, value, f"{where} [{stage.name}]")

    return Setting((bool, dict), convert=convert)


# Config-file keys that tune detection, the same in every job that detects (`decontaminate --config`, `build
# --config`): one table per stage (`[coverage]`, `fuzzy = false`, ...) and the run-wide detection settings. Each is
# a `DecontaminationConfig.replace` keyword.
DETECTION_SETTINGS: dict[str, Setting] = {
    **dict.fromkeys(("run_all_stages", "join_fields"), Setting((bool,))),
    **dict.fromkeys(("max_matches_per_row", "workers"), Setting((int,))),
    **{stage.name: _stage_table(stage) for stage in STAGES},
}


__all__ = ["DEFAULT_PRESET", "DETECTION_SETTINGS", "PRESETS", "REVIEW_POLICIES", "DecontaminationConfig", "preset"]
