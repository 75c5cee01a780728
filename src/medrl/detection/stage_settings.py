"""The base of every detection stage's settings dataclass (kept outside `medrl.detection.stages` so the shared
detectors that stages and dedup both use can define settings without importing the stage registry)."""

from __future__ import annotations

from medrl.errors import MedrlError


class StageSettings:
    """Base of a stage's frozen settings dataclass; `Stage.settings_class` names the subclass a stage takes."""

    def check_fractions(self, stage: str, *names: str) -> None:
        """Raise naming the first of these settings that is not in (0, 1]."""
        for name in names:
            if not 0 < getattr(self, name) <= 1:
                raise MedrlError(f"{stage}.{name} must be in (0, 1], got {getattr(self, name)}")
