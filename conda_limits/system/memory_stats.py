"""What a ``--mem`` backend saw of a command: the figures every backend reports the same way
(a cgroup's, :mod:`.memory_cap`, or the watch's, :mod:`.memory_watch`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MemoryStats:
    """What the cgroup saw: its limit, peak usage and OOM kills (None: not known)."""

    backend: str
    limit: int
    peak: int | None = None
    oom_kills: int | None = None  # the watch backend counts its stop as one
    stopped: int = 0  # processes conda-limits stopped after an OOM kill (the rest of the command)
    interval: float | None = None  # watch: seconds between the last two looks (before a stop)
    skipped: tuple[str, ...] = ()  # the backends tried before this one: "backend: why not"
