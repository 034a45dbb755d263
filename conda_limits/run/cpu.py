"""The CPU settings of one command (``conda run-limited``, a Jupyter kernel): what to put in
its environment, which CPUs to pin it to, and the cgroup quota to hold it in.

:func:`prepare` merges the environment's settings with the overrides, picks the thread-pool
size (``threads``, else what ``cpuset``/``cores`` allow), leaves alone the variables the
environment sets itself (``conda env config vars``, which win), plans the CPU set against what
this process may use, and sets up the quota (or refuses, as ``--mem`` does). The runner then
calls :meth:`CpuRun.wrap` and :meth:`CpuRun.attach` on the gated launcher, and
:meth:`CpuRun.close` when the command has ended.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..limits import affinity, threads
from ..limits import cpu as settings
from ..limits.cpu import CpuSettings
from ..limits.cpu_checks import on_this_machine

if TYPE_CHECKING:
    from pathlib import Path

    from ..system.cpu_quota import CpuQuota, CpuStats
    from ..system.memory_cap import MemoryCap

FLAG, ENVIRONMENT = "flag", "environment"


@dataclass(frozen=True)
class CpuReport:
    """What was in force on the command, for ``--report``."""

    settings: CpuSettings
    sources: Mapping[str, str]  # "flag" or "environment", per setting that is set
    pool_size: int | None
    exported: tuple[str, ...]  # the thread variables set for the command
    skipped: tuple[str, ...]  # the ones the environment sets itself (they win)
    cpus: frozenset[int] | None  # the command's affinity, when a cpuset was applied
    quota: CpuStats | None  # what the quota's cgroup saw


@dataclass
class CpuRun:
    """The CPU side of one command (see the module docstring)."""

    settings: CpuSettings
    sources: dict[str, str]
    environ: dict[str, str]
    skipped: tuple[str, ...]
    placement: affinity.Placement | None
    quota: CpuQuota | None
    warnings: list[str] = field(default_factory=list)
    cpus: frozenset[int] | None = None
    pool_size: int | None = None  # the thread pools' size on this machine

    def wrap(self, argv: list[str]) -> list[str]:
        return self.quota.wrap(argv) if self.quota else argv

    def attach(self, pid: int) -> None:
        """Pin ``pid`` to the CPU set and put it into the quota's cgroup."""
        if self.quota is not None:
            self.quota.attach(pid)
        if self.placement is not None and self.placement.cpus:
            self.cpus = affinity.set_affinity(pid, self.placement.cpus)

    def report(self) -> CpuReport:
        return CpuReport(self.settings, self.sources, self.pool_size,
                         tuple(self.environ), self.skipped, self.cpus,
                         self.quota.stats() if self.quota else None)

    def close(self) -> None:
        if self.quota is not None:
            self.quota.close()

    def cgroups(self) -> list[Path]:
        """The cgroup directories made for the quota (to remove when the command ends), not
        those of a systemd scope or of a ``--mem`` cgroup it shares."""
        return self.quota.made_here() if self.quota is not None else []


def prepare(recorded: CpuSettings, overrides: CpuSettings | None = None, *,
            own_variables: Mapping[str, str] | None = None,
            beside: MemoryCap | None = None,
            backends: Sequence[str] | None = None) -> CpuRun | None:
    """The CPU side of a command, or None when no CPU setting applies.

    ``own_variables`` are the environment's ``conda env config vars`` (they win over the
    thread variables). ``beside`` is the command's ``--mem`` cap, whose cgroup a quota shares
    where one cgroup must hold both. Raises :class:`~.quota.CpuQuotaUnavailable` when
    ``cores`` is set and nothing can enforce it. ``backends``: the quota backends to try
    (default: all, as for ``--mem``).
    """
    overrides = overrides or CpuSettings()
    merged = recorded.merged(overrides)
    if not merged:
        return None
    sources = {key: FLAG if key in dict(overrides.items()) else ENVIRONMENT
               for key, _ in merged.items()}
    here, warnings = on_this_machine(merged)  # settings meant for a bigger machine, narrowed
    size = here.pool_size()
    wanted = threads.environment(size) if size is not None else {}
    skipped = tuple(threads.overridden(own_variables or {}))
    environ = {k: v for k, v in wanted.items() if k not in skipped}
    placement = affinity.placement(merged.cpuset) if merged.cpuset else None
    quota = None
    if here.cores is not None:
        from ..system.cpu_quota import BACKENDS, cpu_quota

        quota = cpu_quota(here.cores, backends or BACKENDS, beside=beside)
    return CpuRun(merged, sources, environ, skipped, placement, quota, warnings,
                  pool_size=size)


def report_rows(report: CpuReport) -> list[tuple[str, str]]:
    """Rows of ``--report`` for the CPU settings in force, with where each came from."""
    rows = []
    cpu = report.settings
    for key, value in cpu.items():
        text = settings.human(key, value)
        origin = f"--{key}" if report.sources.get(key) == FLAG else "environment"
        if key == settings.CPUSET:
            applied = report.cpus
            text += (f" ({origin}); the command ran on {affinity.format_cpu_list(applied)}"
                     if applied is not None else f" ({origin}); not applied")
        elif key == settings.CORES:
            text += f" ({origin})" + (_quota_text(report.quota) if report.quota else "")
        else:
            text += f" ({origin})"
        rows.append((key, text))
    if report.pool_size is not None:
        text = (f"{report.pool_size} ({', '.join(report.exported[:3])}, ... "
                f"{len(report.exported)} variables)" if report.exported
                else f"{report.pool_size}: none set")
        if cpu.threads is None:
            text += f", from {cpu.pool_source()}"
        if report.skipped:
            text += f"; {', '.join(report.skipped)} left to the environment's own value"
        rows.append(("thread pools", text))
    return rows


def _quota_text(stats: CpuStats) -> str:
    text = f", {stats.backend}"
    if stats.periods:
        text += (f"; held back in {stats.throttled_periods} of {stats.periods} periods of "
                 f"100 ms")
        if stats.throttled_us is not None:
            text += f", {stats.throttled_us / 1e6:.2f} s throttled"
    return text
