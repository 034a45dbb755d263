"""What conda-limits left in an environment: its record, its activation scripts, temporary
files of interrupted writes (``conda limits list``, and the way out before uninstalling).

Read without the environment's lock (a listing of many environments, some of them other
users', must neither wait nor create lock files): a change in progress may be seen half-done,
which a listing can afford. Conda-free.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..limits.model import LimitSet
from . import prefix_files, record


@dataclass(frozen=True)
class Footprint:
    """conda-limits' files in one environment and the settings its record holds."""

    prefix: Path
    limits: LimitSet  # empty when there is no record, or it cannot be read
    problem: str | None  # why the record cannot be read (printable), else None
    files: tuple[Path, ...]  # the record, scripts and temporary files that exist

    def to_json(self) -> dict[str, object]:
        return {"prefix": str(self.prefix), "limits": self.limits.to_json(),
                "problem": self.problem, "files": [str(path) for path in self.files]}


def of(prefix: str | os.PathLike[str]) -> Footprint | None:
    """conda-limits' footprint in ``prefix``; None where it left nothing."""
    prefix = Path(prefix)
    paths = [record.record_path(prefix), *prefix_files.script_paths(prefix)]
    try:
        paths += prefix_files.leftovers(prefix)
    except OSError:  # a folder this user cannot list
        pass
    files = tuple(path for path in paths if os.path.lexists(path))
    if not files:
        return None
    try:
        limits, problem = record.read(prefix), None
    except record.RecordError as error:
        limits, problem = LimitSet(), error.problem
    except OSError as error:
        limits, problem = LimitSet(), error.strerror or str(error)
    return Footprint(prefix, limits, problem, files)
