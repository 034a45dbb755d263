"""An environment's limits on disk: the record and the activation scripts, kept in step.

Everything an environment needs at activation time is written into its prefix, so the
scripts work without conda-limits (or conda's Python) being importable when they run.
"""

from __future__ import annotations

import os
from pathlib import Path

from . import atomicfile, record
from .errors import LimitsError
from .model import LimitSet
from .provenance import Sources
from .shells.families import FAMILIES
from .shells.protocol import ACTIVATE_D, DEACTIVATE_D, SCRIPT_NAME


class PrefixNotWritable(LimitsError, OSError):
    """The environment's files cannot be written; nothing was changed."""

    def __init__(self, prefix: Path, error: OSError) -> None:
        self.prefix = prefix
        self.error = error
        super().__init__(f"cannot write the limits of {prefix}: {error.strerror or error}")


def script_paths(prefix: str | os.PathLike[str]) -> list[Path]:
    """Every script file conda-limits may write in ``prefix``."""
    prefix = Path(prefix)
    return [prefix / folder / f"{SCRIPT_NAME}{family.suffix}"
            for family in FAMILIES for folder in (ACTIVATE_D, DEACTIVATE_D)]


def render(limits: LimitSet) -> dict[Path, str]:
    """Relative path -> content of every script for ``limits`` (empty when no limits)."""
    if not limits:
        return {}
    out: dict[Path, str] = {}
    for family in FAMILIES:
        out[ACTIVATE_D / f"{SCRIPT_NAME}{family.suffix}"] = family.activate(limits)
        out[DEACTIVATE_D / f"{SCRIPT_NAME}{family.suffix}"] = family.deactivate()
    return out


def expected_files(limits: LimitSet, sources: Sources | None = None) -> dict[Path, str]:
    """Relative path -> content of the record and scripts that ``limits`` call for."""
    files = render(limits)
    if limits:
        files[record.RECORD] = record.dumps(limits, sources)
    return files


def read(prefix: str | os.PathLike[str]) -> LimitSet:
    """The limits recorded in ``prefix``."""
    return record.read(prefix)


def write(prefix: str | os.PathLike[str], limits: LimitSet,
          sources: Sources | None = None) -> list[Path]:
    """Make record and scripts in ``prefix`` match ``limits``; an empty set removes them.

    ``sources`` says where the limits came from; None keeps what the record says for the
    limits that stay. All or nothing: if any file cannot be written, the files already changed
    are put back and :class:`PrefixNotWritable` is raised. Returns the paths written or removed.
    """
    prefix = Path(prefix)
    if sources is None:
        sources = record.read_sources(prefix)
    wanted = {prefix / rel: text for rel, text in expected_files(limits, sources).items()}
    stale = [p for p in [*script_paths(prefix), record.record_path(prefix)] if p not in wanted]
    backup: dict[Path, str | None] = {}
    changed: list[Path] = []
    try:
        for path, text in wanted.items():
            backup[path] = _read_or_none(path)
            if backup[path] == text:
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            atomicfile.write_text(path, text)
            changed.append(path)
        for path in stale:
            backup[path] = _read_or_none(path)
            if atomicfile.remove(path):
                changed.append(path)
    except OSError as error:
        _roll_back(changed, backup)
        raise PrefixNotWritable(prefix, error) from error
    return changed


def _read_or_none(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def _roll_back(changed: list[Path], backup: dict[Path, str | None]) -> None:
    for path in reversed(changed):
        old = backup.get(path)
        try:
            if old is None:
                atomicfile.remove(path)
            else:
                atomicfile.write_text(path, old)
        except OSError:
            pass


def stale_files(prefix: str | os.PathLike[str]) -> tuple[list[Path], list[Path]]:
    """Scripts that are missing/out of date for the record, and scripts without a record."""
    prefix = Path(prefix)
    limits = record.read(prefix)
    wanted = {prefix / rel: text for rel, text in render(limits).items()}
    out_of_date = [p for p, text in wanted.items() if _read_or_none(p) != text]
    orphans = [p for p in script_paths(prefix) if p not in wanted and p.exists()]
    return out_of_date, orphans
