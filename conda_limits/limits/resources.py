"""The kernel resource limits conda-limits manages, and how each shell names them.

This table is the single source of truth: flags, YAML keys, ``resource`` constants,
``/proc/self/limits`` labels and ``ulimit``/``limit`` spellings all come from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Kind(str, Enum):
    """What a limit's value measures."""

    SIZE = "size"  # bytes
    COUNT = "count"  # a plain number
    DURATION = "duration"  # seconds


@dataclass(frozen=True)
class Resource:
    """One kernel resource limit."""

    key: str  # YAML key and flag name: ``--vmem`` / ``vmem:``
    rlimit: str  # name of the constant in Python's ``resource`` module
    kind: Kind
    label: str  # the row name in /proc/<pid>/limits
    ulimit: str  # ulimit option letter in bash, zsh, fish (and dash, but for nproc)
    csh: str  # tcsh ``limit`` resource name
    summary: str  # one line for --help and ``show``
    block: int = 1  # bytes per unit of ``ulimit``/``limit`` (1 for counts and seconds)
    posix_block: int | None = None  # bytes per unit in POSIX shells, where it differs

    @property
    def flag(self) -> str:
        return f"--{self.key}"


RESOURCES: tuple[Resource, ...] = (
    Resource("vmem", "RLIMIT_AS", Kind.SIZE, "Max address space", "v", "vmemoryuse",
             "virtual address space (ulimit -v)", block=1024),
    Resource("data", "RLIMIT_DATA", Kind.SIZE, "Max data size", "d", "datasize",
             "data segment: heap and private writable memory (ulimit -d)", block=1024),
    Resource("stack", "RLIMIT_STACK", Kind.SIZE, "Max stack size", "s", "stacksize",
             "stack size of the main thread (ulimit -s)", block=1024),
    Resource("memlock", "RLIMIT_MEMLOCK", Kind.SIZE, "Max locked memory", "l", "memorylocked",
             "memory locked into RAM (ulimit -l)", block=1024),
    Resource("fsize", "RLIMIT_FSIZE", Kind.SIZE, "Max file size", "f", "filesize",
             "largest file a process may write (ulimit -f)", block=1024, posix_block=512),
    Resource("core", "RLIMIT_CORE", Kind.SIZE, "Max core file size", "c", "coredumpsize",
             "core dump size (ulimit -c)", block=1024, posix_block=512),
    Resource("nofile", "RLIMIT_NOFILE", Kind.COUNT, "Max open files", "n", "descriptors",
             "open file descriptors (ulimit -n)"),
    Resource("nproc", "RLIMIT_NPROC", Kind.COUNT, "Max processes", "u", "maxproc",
             "processes/threads of the user (ulimit -u)"),
    Resource("cpu", "RLIMIT_CPU", Kind.DURATION, "Max cpu time", "t", "cputime",
             "CPU time in seconds, then the process is stopped (ulimit -t); a CPU share "
             "is --threads/--cpuset/--cores"),
)

#: Not a kernel rlimit: the resident-memory cap that ``--mem`` enforces through a cgroup.
#: It shares the size syntax, so it is described like the others.
MEM = Resource("mem", "", Kind.SIZE, "", "", "",
               "resident memory, enforced by a cgroup (memory.max)", block=1024)

BY_KEY: dict[str, Resource] = {r.key: r for r in RESOURCES}
KEYS: tuple[str, ...] = tuple(BY_KEY)


def get(key: str) -> Resource:
    """Return the resource called ``key`` (raises KeyError for an unknown name)."""
    return BY_KEY[key]
