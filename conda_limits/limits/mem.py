"""The ``mem`` setting: a cap on the resident memory of a command's whole process tree.

It sits in the ``limits:`` block beside the rlimits and the CPU settings, as one plain size
(``mem: 4G``; ``unlimited``: no cap, e.g. to cancel a site default). No shell is held to it:
the supervisor that starts a command applies it (``conda run-limited``, the Jupyter kernel
launcher), Slurm gets it as ``--mem``, and the exports as their memory option. Activation
leaves it alone, since a shell cannot be moved into a cgroup by a script it sources.

A value is strict like every size (:func:`conda_limits.limits.values.parse`), above 0, and
not below its floor (:data:`conda_limits.limits.floors.SUPERVISED`) unless allowed.
"""

from __future__ import annotations

from typing import Final

from . import floors
from .resources import MEM
from .values import UNLIMITED, InvalidValue, Value, human, parse, pretty

KEY: Final = "mem"
SUMMARY: Final = ("resident memory of the command and its children, e.g. 4G (run-limited, "
                  "kernels and Slurm jobs; not an interactive shell)")
#: Who applies it, for ``show`` and the docs.
APPLIED_BY: Final = "`conda run-limited`, Jupyter kernels and Slurm jobs"


def parse_mem(raw: object, *, check_floor: bool = False) -> Value:
    """``raw`` (text, or a number from YAML) as a ``mem`` value; :class:`InvalidValue` (a
    :class:`~conda_limits.limits.floors.TinyValue` below the floor with ``check_floor``)."""
    value = parse(MEM, raw)
    if value == 0:
        raise InvalidValue(MEM, raw, "0 would leave the command no memory at all, so nothing "
                           "could run; give a size such as 4G, or 'unlimited' for no cap")
    if check_floor:
        floors.check(MEM, value)
    return value


def cap(value: Value | None) -> int | None:
    """Bytes to cap at (None: no cap, for an unset or ``unlimited`` value)."""
    return None if value is None or value == UNLIMITED else int(value)


def to_yaml(value: Value) -> str:
    return human(MEM, value)


def physical_memory() -> int | None:
    """This machine's memory in bytes (None where the system does not say)."""
    import os

    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def above_machine(value: Value | None) -> str | None:
    """A warning for a cap above this machine's memory (it holds nothing back here), else
    None: such a value is recorded for bigger machines, as other limits above the ceiling."""
    memory = physical_memory()
    if value is None or value == UNLIMITED or not memory or int(value) <= memory:
        return None
    return (f"mem {human(MEM, value)} is more than this machine's memory "
            f"({pretty(MEM, memory)}): it holds nothing back here")
