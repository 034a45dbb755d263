"""A log entry from what a run's supervisor saw: ``run-limited``'s outcome, or a kernel's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from ..limits.values import UNLIMITED, Value
from ..system.signals import signal_name
from .entry import MemUse, Run, command_name, now

if TYPE_CHECKING:
    from ..run.process import Outcome
    from ..system.memory_cap import MemoryStats


def finite(limits: Mapping[str, tuple[Value, Value]]) -> dict[str, int]:
    """The finite soft limits of a ``{key: (soft, hard)}`` mapping."""
    return {key: int(soft) for key, (soft, _) in limits.items() if soft != UNLIMITED}


def mem_use(stats: MemoryStats | None) -> MemUse | None:
    return None if stats is None else MemUse(stats.limit, stats.peak, stats.oom_kills)


def from_outcome(outcome: Outcome, command: Sequence[str], *, stopped_by: str | None = None,
                 ended: float | None = None) -> Run:
    """The entry of a ``run-limited`` run that ended at ``ended`` (default: now): the process
    tree's sampled peaks, with the exact peak resident memory and CPU time from wait4."""
    used: dict[str, float] = dict(outcome.peaks)
    if outcome.peak_rss is not None:
        used["rss"] = max(outcome.peak_rss, used.get("rss", 0))
    used["cpu"] = outcome.user + outcome.system
    return Run(
        at=(ended if ended is not None else now()) - outcome.wall, via="run-limited",
        command=command_name(command[0]) if command else "?", wall=outcome.wall,
        status=outcome.status, signal=None if outcome.signal is None else signal_name(outcome.signal), stopped_by=stopped_by,
        used=used, limits=finite(outcome.limits), mem=mem_use(outcome.memory),
    )
