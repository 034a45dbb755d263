"""What the generated scripts and Python agree on, written once.

An activate script keeps the shell's previous soft value of each limit it changes in
``_CONDA_LIMITS_<CONDA_SHLVL>_<KEY>``, in bytes, counts or seconds as ``/proc/self/limits``
shows them, or ``unlimited``. When it lowers a hard limit it adds the key to the list in
``_CONDA_LIMITS_<CONDA_SHLVL>_HARD`` and keeps the previous hard value in
``_CONDA_LIMITS_<CONDA_SHLVL>_HARD_<KEY>``: deactivation puts it back where the shell may
raise a hard limit (root with CAP_SYS_RESOURCE). The deactivate script of the same level
restores and unsets them all. Every family (``.sh``, ``.fish``, ``.csh``) uses the same names
and units, so a nested shell of another family can deactivate, and ``conda run-limited``
(:mod:`conda_limits.run`) writes and reads the same variables for a shell it starts.

This module imports nothing but the resource table: the renderers and the runner both use it.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..limits.resources import Kind, Resource
from ..limits.values import UNLIMITED, Value, human

#: conda-limits' script files: ``<folder>/<SCRIPT_NAME><suffix>``. The name sorts last, so
#: the limits are applied after, and restored before, other packages' scripts.
SCRIPT_NAME = "zz-conda-limits"
ACTIVATE_D = Path("etc", "conda", "activate.d")
DEACTIVATE_D = Path("etc", "conda", "deactivate.d")
POSIX_SUFFIX = ".sh"  # bash, zsh, dash, ksh (and conda run, xonsh's source-bash)
FISH_SUFFIX = ".fish"
CSH_SUFFIX = ".csh"
SUFFIXES = (POSIX_SUFFIX, FISH_SUFFIX, CSH_SUFFIX)
#: The ``.sh`` script conda sources for bash/zsh/sh and in ``conda run``.
POSIX_SCRIPT = SCRIPT_NAME + POSIX_SUFFIX

SAVED_PREFIX = "_CONDA_LIMITS_"
HARD_KEY = "HARD"  # _CONDA_LIMITS_<level>_HARD: " KEY KEY", the hard limits activation lowered
#: A shell variable (never exported) listing the warnings about a value above the hard limit
#: that this shell has shown, `` KEY=VALUE/CEILING`` each (``KEY-H`` for a hard value): every
#: family's full activate script says so once per shell, and again only if either changes.
WARNED = "_CONDA_LIMITS_WARNED"

#: Every function and variable the scripts use while they run starts with this, and none is
#: left behind (short: shells parse the text on every activation).
PREFIX = "__cl_"
_TEMPORARY = re.compile(rf"\b{PREFIX}\w+")

#: Row of each limit in /proc/self/limits (the header is row 0) where the kernel numbers
#: limits the generic way (x86, arm, riscv...: RLIMIT_* + 1). The scripts check the row's
#: label and search the rows where it does not match.
ROW = {"cpu": 1, "fsize": 2, "data": 3, "stack": 4, "core": 5, "nproc": 7, "nofile": 8,
       "memlock": 9, "vmem": 10}
#: Columns of a row: "%-25s %-20s %-20s %-10s" (label, soft, hard, units).
SOFT_COLUMN = 26
HARD_COLUMN = 47
#: Characters per row, newline included, up to row 12: every row has a unit there, and the
#: rows without one (nice and realtime priority) come after it.
ROW_WIDTH = 79

HEADER = """\
# Written by conda-limits: `conda limits set/unset` manages this file; do not edit it.
# {purpose}
# {shell}
"""
ACTIVATE_PURPOSE = "Applies this environment's resource limits on activation."
DEACTIVATE_PURPOSE = "Restores the shell's resource limits on deactivation."

_UNIT = {Kind.SIZE: " (in bytes)", Kind.COUNT: "", Kind.DURATION: " (in seconds)"}


def header(activate: bool, shell: str) -> str:
    """The comment at the top of every script: who wrote it, what it does, for which shell."""
    return HEADER.format(purpose=ACTIVATE_PURPOSE if activate else DEACTIVATE_PURPOSE,
                         shell=shell)


def key(resource: Resource) -> str:
    """The resource's part of the variable names: ``NOFILE``."""
    return resource.key.upper()


def saved_name(level: int | str, name: str) -> str:
    """``_CONDA_LIMITS_<level>_<name>``: ``name`` is a key (``NOFILE``, any case), ``HARD``
    or ``HARD_<KEY>``; ``level`` may be script text such as ``${__cl_l}``."""
    return f"{SAVED_PREFIX}{level}_{name.upper()}"


def hard_name(level: int | str, resource_key: str) -> str:
    """``_CONDA_LIMITS_<level>_HARD_<KEY>``: the hard value before activation lowered it."""
    return saved_name(level, f"{HARD_KEY}_{resource_key}")


def temporaries(script: str) -> list[str]:
    """The names in ``script`` that start with :data:`PREFIX`, in the order they first
    appear: what the script must unset (or may, for a word that names nothing) at its end."""
    return list(dict.fromkeys(_TEMPORARY.findall(script)))


def figure(value: Value | None) -> str:
    """A value as script text: digits, ``unlimited``, or ``-`` for "not configured"."""
    if value is None:
        return "-"
    return UNLIMITED if value == UNLIMITED else str(int(value))


def parse_figure(text: str | None) -> Value | None:
    """A saved value read back (bytes, count, seconds or ``unlimited``), or None."""
    if text == UNLIMITED:
        return UNLIMITED
    return int(text) if text and text.isascii() and text.isdigit() else None


def text(resource: Resource, value: Value | None) -> str:
    """A value for people in warnings (``4G``), or ``-``; from a validated value only."""
    return "-" if value is None else human(resource, value)


def unit(resource: Resource) -> str:
    """What follows a limit's name, or a figure that is not ``unlimited``, in a warning."""
    return _UNIT[resource.kind]
