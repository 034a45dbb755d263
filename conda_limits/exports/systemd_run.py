"""A ``systemd-run --user --scope`` command line for an environment's limits.

What maps: ``mem`` -> ``-p MemoryMax=``, ``cores`` -> ``-p CPUQuota=`` (percent of one CPU),
``cpuset`` -> ``-p AllowedCPUs=``: cgroup settings of the scope, enforced where systemd
delegates those controllers to the user's manager (memory and cpu usually are, cpuset rarely).
A scope cannot carry rlimits (``LimitNOFILE=`` and the like are process settings, and in
``--scope`` mode systemd starts no process: systemd/systemd#21643), so the rlimits follow as a
``prlimit`` command (util-linux) inside the scope, in the kernel's units. The command to run
goes after the final ``--``. A limit with only a hard value gets it as the soft value too
(prlimit keeps the soft limit it is not given, and refuses a hard limit below it), with a note.
``threads`` has no property: a note says so.
"""

from __future__ import annotations

import shlex

from ..limits.resources import MEM
from ..limits.values import UNLIMITED, Value, human
from . import Export, Settings, described

#: conda-limits' names -> prlimit's long options.
PRLIMIT = {"vmem": "as", "data": "data", "stack": "stack", "memlock": "memlock",
           "fsize": "fsize", "core": "core", "nofile": "nofile", "nproc": "nproc", "cpu": "cpu"}


def _number(value: Value | None) -> str:
    if value is None:
        return ""
    return UNLIMITED if value == UNLIMITED else str(int(value))


def render(settings: Settings) -> Export:
    words = ["systemd-run", "--user", "--scope"]
    notes: list[str] = []
    if settings.mem is not None:
        words += ["-p", f"MemoryMax={human(MEM, settings.mem)}"]
    else:
        notes.append("mem: not set for this environment: no MemoryMax")
    if settings.cores is not None:
        words += ["-p", f"CPUQuota={settings.cores.hundredths}%"]
    if settings.cpuset:
        words += ["-p", f"AllowedCPUs={settings.cpuset}"]
    if settings.threads is not None:
        notes.append(f"threads {settings.threads}: no systemd property; the thread pool "
                     f"variables come from `conda activate {settings.name}`")
    if settings.limits:
        words += ["--", "prlimit"]
        for resource, limit in settings.limits.items_with_resource():
            # soft only: "N:" keeps the hard limit. Hard only: "N:N", as prlimit refuses a
            # hard limit below the soft one it keeps (":N" under a higher soft never starts).
            soft = limit.hard if limit.soft is None else limit.soft
            words.append(f"--{PRLIMIT[resource.key]}={_number(soft)}:{_number(limit.hard)}")
            if limit.soft is None:
                notes.append(f"{described(resource, limit)} has no soft value: prlimit needs "
                             "one at or below the hard limit, so the soft limit is the hard one")
    words.append("--")
    return Export(shlex.join(words) + "\n", tuple(notes))
