"""An environment's limits as other tools' options: a Slurm batch script's ``#SBATCH`` lines,
a ``systemd-run --user --scope`` command line, ``docker run`` flags.

Each format is one module with ``render(settings) -> Export``. What a tool has no option for
is said, never dropped silently: a note per such limit (for sbatch, a comment line in the
script; for the others, notes the CLI prints on stderr, so that stdout stays usable as
``docker run $(conda limits export --format docker -n ENV) IMAGE``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from ..limits.affinity import format_cpu_list
from ..limits.cpu import Cores
from ..limits.model import Limit, LimitSet
from ..limits.resources import Resource
from ..limits.values import human

FORMATS = ("sbatch", "systemd-run", "docker")


@dataclass(frozen=True)
class Settings:
    """What an environment asks for: its rlimits and CPU settings (``limits.cpu``), and a
    resident memory cap where one is known (the record has none: ``run-limited --mem``)."""

    limits: LimitSet
    name: str = "ENV"  # the environment's name (or path), for `conda activate` in notes
    mem: int | None = None  # bytes of resident memory (a cgroup cap)

    @property
    def threads(self) -> int | None:
        return self.limits.cpu.threads

    @property
    def cores(self) -> Cores | None:
        return self.limits.cpu.cores

    @property
    def cpuset(self) -> str | None:
        cpus = self.limits.cpu.cpuset
        return format_cpu_list(cpus) if cpus is not None else None


@dataclass(frozen=True)
class Export:
    """The text for stdout, and notes about what did not map (for stderr)."""

    text: str
    notes: tuple[str, ...] = field(default=())


def render(format: str, settings: Settings) -> Export:
    """``settings`` in ``format`` (one of :data:`FORMATS`)."""
    if format not in FORMATS:
        raise ValueError(f"unknown export format {format!r}; known: {', '.join(FORMATS)}")
    module = importlib.import_module(f".{format.replace('-', '_')}", __name__)
    return module.render(settings)  # type: ignore[no-any-return]


def described(resource: Resource, limit: Limit) -> str:
    """``nofile 1024``, ``nofile 1024, hard 4096``, ``stack hard 8M``."""
    if limit.soft is None:
        return f"{resource.key} hard {human(resource, limit.hard)}"  # type: ignore[arg-type]
    text = f"{resource.key} {human(resource, limit.soft)}"
    if limit.hard is not None:
        text += f", hard {human(resource, limit.hard)}"
    return text
