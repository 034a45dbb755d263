"""The least a shell and a small program live with, per limit: values below are refused.

After ``conda activate``, a limit below its floor makes every program fail (``ls`` cannot map
libc, Python cannot start, a pipeline cannot fork) and ``conda deactivate`` itself fails,
since it runs conda's own Python: the user is stuck in a shell they cannot fix without knowing
``ulimit``. Such values are refused wherever a value is given (``conda limits set``, ``conda
run-limited``, environment.yml's ``limits:`` when it is applied, site defaults) unless the
user asks for them (``--allow-tiny``, or conda's setting ``plugins.limits_allow_tiny``). The
record is never checked: a value it holds was allowed when it was set.

The figures were measured with ``benchmarks/measure_floors.py`` (Debian 12, kernel 6.x, as
root and as an unprivileged user): the smallest soft limit under which ``ls | cat`` runs in
dash, bash, zsh, fish and tcsh, ``python3 -c pass`` starts, and ``conda deactivate`` (conda
24.11 and 26.7) succeeds in a bash that activated an environment. Each floor keeps a margin
of 2-20 times the largest need measured, for other machines, locales and conda plugins.
``core`` and ``memlock`` have no floor: 0 is common and harmless for both.

``mem`` (the resident-memory cap of ``conda run-limited``, kernels and Slurm jobs; no shell is
held to it) has its floor beside them, in :data:`SUPERVISED`: the least a small program's
whole process tree needs to start under the supervisor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from .resources import Resource
from .values import UNLIMITED, InvalidValue, Value, human

#: What allows a value below its floor on the command line (``conda limits set``, ``run-limited``).
FLAG: Final = "--allow-tiny"
#: conda's setting that allows them everywhere (``plugins: limits_allow_tiny: true``).
SETTING: Final = "limits_allow_tiny"
#: ... and the variable that sets it for one command.
VARIABLE: Final = f"CONDA_PLUGINS_{SETTING.upper()}"


@dataclass(frozen=True)
class Floor:
    """The least value of one limit, and what needs it."""

    value: int
    why: str


FLOORS: Final[Mapping[str, Floor]] = {
    # Address space. Measured: dash, bash, tcsh 3.4-4.0 MiB, zsh 4.5, fish 17, python3 -c pass
    # 13, conda deactivate 49 (26.7) / 46 (24.11). 256 MiB: five times conda's need, room for
    # a thread or two (each reserves its stack and a 64 MiB malloc arena) and a large locale.
    "vmem": Floor(256 * 2**20, "conda deactivate alone maps 50 MiB"),
    # Private writable memory. Measured: shells 0.3-0.4 MiB, fish 8.5, python3 3.7, conda
    # deactivate 31 (26.7) / 28 (24.11). 128 MiB: four times conda's need. (Linux ignores a
    # soft limit of 0 entirely, so `data: 0` would not even limit anything.)
    "data": Floor(128 * 2**20, "conda deactivate alone needs 31 MiB of heap"),
    # Stack. Measured: bash 12 KiB, tcsh 22, dash 23, zsh 50, python3 74 (990 recursive
    # calls still fit in 512), conda deactivate 82, fish 120. 1 MiB: eight times fish's need;
    # glibc also gives every new thread this much stack.
    "stack": Floor(2**20, "fish needs 120 KiB, and new threads get this much"),
    # Descriptors. Measured: bash, python3, conda deactivate 5, interactive bash 7, dash 11
    # (it keeps copies at fd 10 and up), zsh 13, fish 15, tcsh 20 (it moves its own to 15-19).
    # 32: the next power of two above tcsh, with room for a small program's files.
    "nofile": Floor(32, "shells keep descriptors up to fd 19 for themselves"),
    # Processes and threads of the user (root is not held to it). Measured as a user with
    # nothing else running: a pipeline 4-7 (fish), conda deactivate 5. 64: every other
    # process and thread of the same user (login, tmux, an editor) counts against it too.
    "nproc": Floor(64, "a pipeline needs 5-7, and every process and thread of your user "
                   "counts"),
    # File size. Measured: 0 passes non-interactive probes; an interactive bash needs 1 KiB
    # for its history. 1 MiB: shells rewrite history and state files on exit (bash, zsh, fish),
    # bash puts large here-documents in temporary files, editors save files.
    "fsize": Floor(2**20, "shells rewrite their history files, and bash writes "
                   "here-documents to temporary files"),
    # CPU seconds, per process, the shell's own included. Measured: 0 kills every program
    # at its first tick; conda deactivate's Python takes 0.3 s. 10 s: thirty times that, for
    # slower machines, and the shell that activated the environment is held to it too.
    "cpu": Floor(10, "the shell's own CPU time counts, and conda deactivate takes 0.3 s"),
}


#: Floors of the settings a supervisor applies (``run-limited``, kernels), not the shell.
SUPERVISED: Final[Mapping[str, Floor]] = {
    # Resident memory of the command's whole tree. Measured (Debian 12, Python 3.11):
    # `python3 -c pass` peaks at 8 MiB resident (VmHWM, shared library pages included, as a
    # watcher reading RSS counts them); in a cgroup v1 memory.limit_in_bytes, which reclaims
    # file pages, it starts at 4 MiB and not at 3. 32 MiB: four times the resident need, room
    # for the launcher's sh and the environment's own activate.d scripts.
    "mem": Floor(32 * 2**20, "`python -c pass` alone is 8 MiB resident"),
}


class TinyValue(InvalidValue):
    """A value below its limit's floor; the message says why and how to allow it."""

    def __init__(self, resource: Resource, value: Value, how: str = "") -> None:
        floor = _entry(resource)
        assert floor is not None
        if resource.key in SUPERVISED:
            reason = (f"{human(resource, value)} is below {human(resource, floor.value)}, the "
                      f"least a small program needs ({floor.why}): the command would be "
                      "stopped as it starts")
        else:
            reason = (f"{human(resource, value)} is below {human(resource, floor.value)}, the "
                      f"least shells and small programs need ({floor.why}): programs under it "
                      "fail, `conda deactivate` included")
        super().__init__(resource, human(resource, value), reason + (f". {how}" if how else ""))
        self.value = value


def _entry(resource: Resource) -> Floor | None:
    return FLOORS.get(resource.key) or SUPERVISED.get(resource.key)


def floor(resource: Resource) -> int | None:
    """The least value ``resource`` accepts without being allowed tiny (None: no floor)."""
    entry = _entry(resource)
    return entry.value if entry else None


def is_tiny(resource: Resource, value: Value | None) -> bool:
    """Whether ``value`` is below the floor of ``resource`` (``unlimited`` never is)."""
    least = floor(resource)
    return least is not None and value is not None and value != UNLIMITED and \
        int(value) < least


def check(resource: Resource, value: Value | None, how: str = "") -> None:
    """Raise :class:`TinyValue` if ``value`` is below the floor; ``how`` says how to allow it."""
    if is_tiny(resource, value):
        assert value is not None
        raise TinyValue(resource, value, how)


__all__ = ["FLAG", "FLOORS", "SETTING", "SUPERVISED", "VARIABLE", "Floor", "TinyValue", "check",
           "floor", "is_tiny"]
