"""The peaks of a process tree, sampled from ``/proc`` while it runs.

A look (:meth:`Peaks.look`) reads, for the process and every descendant it finds through
``/proc/PID/task/TID/children``: ``/proc/PID/status`` (``VmPeak``, ``VmHWM``, ``VmData``,
``Threads``) and the number of entries of ``/proc/PID/fd``. ``VmPeak`` and ``VmHWM`` are the
kernel's own high-water marks, so a look sees every earlier peak of a process still running;
what a process reached after the last look before it ended is missed (the kernel frees those
figures when a process exits, before it can be reaped), as are ``VmData`` and open files
between looks, and processes that lived only between two looks.

Limits apply per process, so the memory figures and open files are those of the largest
single process; ``procs`` and ``threads`` count the whole tree.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable

#: A look follows at most this many processes of the tree.
MAX_PROCESSES = 256
#: Seconds a look reuses the tree found before (finding it reads a file per thread).
TREE_AGE = 0.5
_STATUS = {b"VmPeak": "vmem", b"VmHWM": "rss", b"VmData": "data", b"Threads": "threads"}


class Peaks:
    """Highest figures seen so far (bytes, counts); a measure never seen is absent.

    A plain class: the kernel watcher imports this module, and stays small without
    ``dataclasses``.
    """

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}
        self._tree: list[int] = []
        self._found = -TREE_AGE

    def look(self, pid: int) -> None:
        """Read the figures of ``pid`` and its descendants now (the descendants as found at
        most :data:`TREE_AGE` seconds ago)."""
        threads = 0
        now = time.monotonic()
        if now - self._found >= TREE_AGE or self._tree[:1] != [pid]:
            self._tree, self._found = descendants(pid), now
        members = [member for member in self._tree if os.path.isdir(f"/proc/{member}")]
        for member in members:
            status = status_figures(member)
            threads += status.pop("threads", 0)
            files = _open_files(member)
            if files is not None:
                status["nofile"] = files
            for name, value in status.items():
                self.raise_to(name, value)
        if members:
            self.raise_to("procs", len(members))
        if threads:
            self.raise_to("threads", threads)

    def status_names(self) -> dict[str, int]:
        """The memory peaks under their ``/proc/PID/status`` names (VmPeak, VmHWM, VmData)."""
        names = {"vmem": "VmPeak", "rss": "VmHWM", "data": "VmData"}
        return {names[key]: value for key, value in self.seen.items() if key in names}

    def raise_to(self, name: str, value: int | None) -> None:
        if value is not None and value > self.seen.get(name, -1):
            self.seen[name] = value


def descendants(pid: int) -> list[int]:
    """``pid`` and the processes below it (at most MAX_PROCESSES); empty when it is gone."""
    return tree([pid])


def tree(roots: Iterable[int]) -> list[int]:
    """The ``roots`` still running and the processes below them, each once (at most
    MAX_PROCESSES)."""
    found: dict[int, None] = {}
    queue = [pid for pid in roots if os.path.isdir(f"/proc/{pid}")]
    found.update(dict.fromkeys(queue))
    while queue and len(found) < MAX_PROCESSES:
        for child in children(queue.pop()):
            if child not in found and len(found) < MAX_PROCESSES:
                found[child] = None
                queue.append(child)
    return list(found)


def children(pid: int) -> list[int]:
    """The children of ``pid`` (of all its threads), from ``/proc/PID/task/TID/children``."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    out = []
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children", "rb") as handle:
                out += [int(child) for child in handle.read().split()]
        except (OSError, ValueError):
            pass
    return out


def status_figures(pid: int) -> dict[str, int]:
    """``vmem``, ``rss``, ``data`` (peaks and size, bytes) and ``threads`` from
    ``/proc/PID/status`` (VmPeak, VmHWM, VmData, Threads); empty when it cannot be read."""
    out = {}
    try:
        with open(f"/proc/{pid}/status", "rb") as handle:
            for line in handle:
                name, _, value = line.partition(b":")
                key = _STATUS.get(name)
                if key is not None:
                    number = int(value.split()[0])
                    out[key] = number if key == "threads" else number * 1024
    except (OSError, ValueError, IndexError):
        pass
    return out


def _open_files(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None  # gone, or another user's process


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class ProcStat:
    """What ``/proc/PID/stat`` says (also of a zombie, until it is reaped)."""

    def __init__(self, state: str, cpu: float, starttime: int, exit_status: int | None,
                 session: int) -> None:
        self.state = state
        self.cpu = cpu  # seconds: the process's own, and its waited-for children's
        self.starttime = starttime  # clock ticks after boot: tells a reused pid apart
        self.exit_status = exit_status  # a wait status, for a zombie
        self.session = session  # the session id


def proc_stat(pid: int) -> ProcStat | None:
    """``/proc/PID/stat`` of ``pid``; None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            text = handle.read()
    except OSError:
        return None
    fields = text.rpartition(b")")[2].split()
    try:
        cpu = sum(int(fields[i]) for i in (11, 12, 13, 14)) / _TICK
        state = fields[0].decode()
        exit_status = int(fields[49]) if state in ("Z", "X") and len(fields) > 49 else None
        return ProcStat(state, cpu, int(fields[19]), exit_status, int(fields[3]))
    except (IndexError, ValueError):
        return None
