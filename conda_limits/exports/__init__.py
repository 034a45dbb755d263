"""An environment's limits as other tools' options: a Slurm batch script's ``#SBATCH`` lines,
a ``systemd-run --user --scope`` command line, ``docker run`` flags.

Each format is one module with ``render(settings) -> Export``. What a tool has no option for
is said, never dropped silently: a note per such limit (for sbatch, a comment line in the
script; for the others, notes the CLI prints on stderr, so that stdout stays usable as
``docker run $(conda limits export --format docker -n ENV) IMAGE``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field, replace

from ..limits.affinity import format_cpu_list
from ..limits.cpu import Cores
from ..limits.mem import cap
from ..limits.model import Limit, LimitSet
from ..limits.resources import Resource
from ..limits.values import human
from ..printable import escape, shell_word

FORMATS = ("sbatch", "systemd-run", "docker")


@dataclass(frozen=True)
class Settings:
    """What an environment asks for: its rlimits, resident memory cap (``limits.mem``) and
    CPU settings (``limits.cpu``)."""

    limits: LimitSet
    name: str = "ENV"  # the environment's name (or path), for `conda activate` in notes

    @property
    def mem(self) -> int | None:
        """Bytes of resident memory (a cgroup cap; None: not set, or unlimited)."""
        return cap(self.limits.mem)

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
    """``settings`` in ``format`` (one of :data:`FORMATS`).

    The environment's name or path may hold anything (a newline, after ``conda rename``, a
    move or an unpacked copy): the formats get it escaped and quoted as a shell word
    (:func:`~conda_limits.printable.shell_word`), and what they return is checked (:func:`checked`).
    """
    if format not in FORMATS:
        raise ValueError(f"unknown export format {format!r}; known: {', '.join(FORMATS)}")
    module = importlib.import_module(f".{format.replace('-', '_')}", __name__)
    safe = replace(settings, name=shell_word(settings.name))
    return checked(format, module.render(safe))


def checked(format: str, export: Export) -> Export:
    """``export`` if every line of it is what its tool reads it as: in a batch script, a
    comment or an ``#SBATCH`` line; elsewhere, one line; notes one line each. A line that is
    not would run, or be read as options (a ``ValueError``: a defect, never the output)."""
    lines = export.text.splitlines()
    if format == "sbatch":
        wrong = [line for line in lines if not line.startswith(("# ", "#SBATCH "))]
    else:
        wrong = lines[1:]
    wrong += [line for line in (*lines, *export.notes) if not line.isprintable()]
    wrong += [note for note in export.notes if len(note.splitlines()) > 1]
    if wrong or not export.text.endswith("\n"):
        raise ValueError(f"the {format} export would hold lines that are not its own: "
                         f"{[escape(line) for line in wrong]}")
    return export


def described(resource: Resource, limit: Limit) -> str:
    """``nofile 1024``, ``nofile 1024, hard 4096``, ``stack hard 8M``."""
    if limit.soft is None:
        return f"{resource.key} hard {human(resource, limit.hard)}"  # type: ignore[arg-type]
    text = f"{resource.key} {human(resource, limit.soft)}"
    if limit.hard is not None:
        text += f", hard {human(resource, limit.hard)}"
    return text
