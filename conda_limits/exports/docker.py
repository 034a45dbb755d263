"""``docker run`` flags for an environment's limits.

What maps: ``mem`` -> ``--memory``, ``cores`` -> ``--cpus``, ``cpuset`` -> ``--cpuset-cpus``,
and the rlimits docker knows -> ``--ulimit NAME=SOFT:HARD`` in the kernel's units (bytes,
seconds, counts). What does not, each with a note: ``vmem`` (docker refuses ``--ulimit as``),
``threads`` (the variables come from ``conda activate`` inside the container, or ``-e``), a
limit without a hard value (docker sets the hard limit to the soft one then: the note says
so), and ``nofile: unlimited`` (the kernel caps open files at ``fs.nr_open``).
"""

from __future__ import annotations

from ..limits.values import UNLIMITED, Value
from . import Export, Settings, described

#: conda-limits' names -> docker's --ulimit names (docker's own spelling happens to match).
ULIMIT_NAMES = {"data": "data", "stack": "stack", "memlock": "memlock", "fsize": "fsize",
                "core": "core", "nofile": "nofile", "nproc": "nproc", "cpu": "cpu"}


def _number(value: Value) -> str:
    return "-1" if value == UNLIMITED else str(int(value))


def docker_size(size: int) -> str:
    """Bytes as ``--memory`` takes them: ``4g``, ``512m``, ``64k`` or bytes."""
    for suffix, factor in (("g", 2**30), ("m", 2**20), ("k", 2**10)):
        if size and size % factor == 0:
            return f"{size // factor}{suffix}"
    return f"{size}b"


def render(settings: Settings) -> Export:
    flags: list[str] = []
    notes: list[str] = []
    if settings.mem is not None:
        flags.append(f"--memory={docker_size(settings.mem)}")
    else:
        notes.append("mem: not set for this environment: no --memory (the container may use "
                     "all the machine's memory)")
    if settings.cores is not None:
        flags.append(f"--cpus={settings.cores}")
    if settings.cpuset:
        flags.append(f"--cpuset-cpus={settings.cpuset}")
    if settings.threads is not None:
        notes.append(f"threads {settings.threads}: no docker flag; the thread pool variables "
                     f"come from `conda activate {settings.name}` inside the container (or "
                     f"-e OMP_NUM_THREADS={settings.threads} ...)")
    for resource, limit in settings.limits.items_with_resource():
        name = ULIMIT_NAMES.get(resource.key)
        if name is None:
            notes.append(f"{described(resource, limit)}: docker refuses --ulimit as; --memory "
                         "caps resident memory instead; applied by `conda activate "
                         f"{settings.name}` inside the container")
            continue
        soft = limit.soft if limit.soft is not None else limit.hard
        hard = limit.hard if limit.hard is not None else soft
        if resource.key == "nofile" and UNLIMITED in (soft, hard):
            notes.append(f"{described(resource, limit)}: the kernel has no unlimited number of "
                         "open files; left to docker's default")
            continue
        flags.append(f"--ulimit={name}={_number(soft)}:{_number(hard)}")  # type: ignore[arg-type]
        if limit.hard is None and soft != UNLIMITED:
            notes.append(f"{described(resource, limit)} is a soft limit: docker needs a hard "
                         "value, so the hard limit is the same (the program cannot raise it)")
        elif limit.soft is None:
            notes.append(f"{described(resource, limit)} has no soft value: docker needs one, so "
                         "the soft limit is the hard one")
        if resource.key == "nproc":
            notes.append("nproc: docker applies it per user id across the whole machine, not "
                         "per container (docker's --pids-limit caps a container)")
    return Export(" ".join(flags) + "\n", tuple(notes))
