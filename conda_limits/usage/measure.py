"""What a run's supervisor saw, as the usage log's entries keep it: ``run-limited``'s outcome
(:mod:`conda_limits.run.command`), or a kernel's (:mod:`conda_limits.jupyter.watch`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..limits.values import UNLIMITED, Value
from .entry import MemUse

if TYPE_CHECKING:
    from ..system.memory_stats import MemoryStats


def finite(limits: Mapping[str, tuple[Value, Value]]) -> dict[str, int]:
    """The finite soft limits of a ``{key: (soft, hard)}`` mapping."""
    return {key: int(soft) for key, (soft, _) in limits.items() if soft != UNLIMITED}


def mem_use(stats: MemoryStats | None) -> MemUse | None:
    return None if stats is None else MemUse(stats.limit, stats.peak, stats.oom_kills)
