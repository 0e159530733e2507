"""Committed results vs reproduced ones: does this commit hold the results its code produces?

A change merges with its `dvc.lock` and git-tracked results (`reports/`); main's baseline is only
right if they are what the change's code, params and data produce. Two facts decide it: whether
DVC found any stage stale against the committed `dvc.lock` (missing cached outputs do not count,
see `pipelines.repro.up_to_date`), and whether the committed metrics equal the reproduced ones
within `results.metrics_tolerance`. Binary output hashes are not compared: they may differ across
platforms while the results do not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from gitops_ml.errors import UserError

MODES = ("fail", "warn")
COMMIT_MESSAGE = "Reproduce pipeline results"


@dataclass(frozen=True)
class ResultsConfig:
    """The `results:` section of params.yaml."""

    metrics_tolerance: float = 1e-6
    on_mismatch: str = "fail"

    @property
    def blocking(self) -> bool:
        return self.on_mismatch == "fail"

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> ResultsConfig:
        """Read `results:`; a missing section means the defaults (blocking, 1e-6)."""
        section = params.get("results")
        if section is None:
            return cls()
        if not isinstance(section, dict):
            raise UserError(f"results: must be a mapping, got {section!r}")
        unknown = sorted(set(section) - {"metrics_tolerance", "on_mismatch"})
        if unknown:
            raise UserError(f"results.{unknown[0]}: unknown key (known: metrics_tolerance, "
                            "on_mismatch)")
        tol = section.get("metrics_tolerance", cls.metrics_tolerance)
        if isinstance(tol, bool) or not isinstance(tol, int | float) or not tol >= 0:
            raise UserError(f"results.metrics_tolerance: expected a number ≥ 0, got {tol!r}")
        mode = section.get("on_mismatch", cls.on_mismatch)
        if mode not in MODES:
            raise UserError(f"results.on_mismatch: expected one of {', '.join(MODES)}, "
                            f"got {mode!r}")
        return cls(float(tol), mode)


@dataclass(frozen=True)
class MetricMismatch:
    """One metric whose committed value is not the reproduced one (None: absent on that side)."""

    name: str
    committed: float | None
    reproduced: float | None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "committed": self.committed, "reproduced": self.reproduced}


@dataclass(frozen=True)
class Consistency:
    """The verdict on the committed results, and how to fix them."""

    state: str                               # match | mismatch | not_checked
    stale_stages: tuple[str, ...] = ()       # stages DVC found stale against the committed lock
    mismatches: tuple[MetricMismatch, ...] = ()
    tolerance: float = 0.0
    blocking: bool = True
    command: str = ""                        # reproduce and commit, when state is mismatch
    reason: str = ""                         # why not_checked

    def as_dict(self) -> dict[str, Any]:
        return {"state": self.state, "stale_stages": list(self.stale_stages),
                "metrics": [m.as_dict() for m in self.mismatches], "tolerance": self.tolerance,
                "blocking": self.blocking, "command": self.command or None,
                "reason": self.reason or None}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else None


def compare_metrics(committed: dict[str, Any] | None, reproduced: dict[str, Any] | None,
                    tolerance: float) -> tuple[MetricMismatch, ...]:
    """Metrics that differ by more than `tolerance`, or exist on one side only, sorted by name."""
    committed, reproduced = committed or {}, reproduced or {}
    out = []
    for name in sorted(set(committed) | set(reproduced)):
        a, b = _number(committed.get(name)), _number(reproduced.get(name))
        if a is None or b is None:
            if committed.get(name) != reproduced.get(name):
                out.append(MetricMismatch(name, a, b))
        elif not (math.isclose(a, b, rel_tol=0.0, abs_tol=tolerance)
                  or (math.isnan(a) and math.isnan(b))):
            out.append(MetricMismatch(name, a, b))
    return tuple(out)


def fix_command(changed_files: list[str], lock: str) -> str:
    """The one line that reproduces the pipeline and commits what it changes."""
    files = sorted(set(changed_files) | {lock})
    return (f"uv run dvc repro && git add {' '.join(files)} && "
            f'git commit -m "{COMMIT_MESSAGE}"')


def check(cfg: ResultsConfig, stale_stages: tuple[str, ...], committed: dict[str, Any] | None,
          reproduced: dict[str, Any] | None, changed_files: list[str], lock: str) -> Consistency:
    """Compare the commit's results with what its pipeline produced (after any reproduction).

    `stale_stages`: stages DVC found stale before reproducing; `committed`: the metrics file as
    committed (git), `reproduced`: as the pipeline left it; `changed_files`: git-tracked files the
    reproduction changed or created, which belong in the fix commit.
    """
    mismatches = compare_metrics(committed, reproduced, cfg.metrics_tolerance)
    ok = not stale_stages and not mismatches
    return Consistency(
        state="match" if ok else "mismatch", stale_stages=stale_stages, mismatches=mismatches,
        tolerance=cfg.metrics_tolerance, blocking=cfg.blocking,
        command="" if ok else fix_command(changed_files, lock))


def not_checked(reason: str, cfg: ResultsConfig) -> Consistency:
    """No reproduction to compare with (`--no-repro`, a failed stage, a config error)."""
    return Consistency("not_checked", tolerance=cfg.metrics_tolerance, blocking=cfg.blocking,
                       reason=reason)
