"""Writers of an environment's limits in their own processes, and what they leave on disk.

A writer does what ``conda limits set`` does with the core alone: under the environment's
lock it reads the record, merges its limits in and writes record and scripts; with
``cli=True`` it is the real ``conda limits set`` (or ``unset --all``) of the interpreter
running this, which must have conda. With ``kill_at=N`` it kills itself with SIGKILL at its
N-th write step (``tests/killpoints/sitecustomize.py``). Used by the tests and by
``benchmarks/bench_writes.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from conda_limits.limits.model import LimitSet, parse_limits
from conda_limits.state import prefix_files, record

ROOT = Path(__file__).parents[1]
KILL_VARIABLE = "CONDA_LIMITS_TEST_KILL_AT_STEP"
#: On the PYTHONPATH of a process given KILL_VARIABLE: its sitecustomize makes the kill.
KILLPOINTS = Path(__file__).parent / "killpoints"
WRITER = """
import json, sys, time
from conda_limits.state import locking, prefix_files
from conda_limits.limits.model import parse_limits
prefix, given, start = sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[3])
time.sleep(max(0.0, start - time.time()))
with locking.environment(prefix):
    state = prefix_files.check(prefix)
    if given is None:
        prefix_files.write(prefix, parse_limits({}))
    else:
        prefix_files.write(prefix, state.limits.merged(parse_limits(given)))
"""
CLI = """
import runpy, sys, time
time.sleep(max(0.0, float(sys.argv.pop(1)) - time.time()))
sys.argv[0] = "conda"
runpy.run_module("conda", run_name="__main__")
"""
#: A value of every limit that any environment accepts, and other ones.
VALUES: dict[str, list[Any]] = {
    "vmem": ["8G", "16G"], "data": ["4G", "6G"], "stack": ["16M", "32M"],
    "memlock": ["64M", "128M"], "fsize": ["1G", "2G"], "core": [0, "1G"],
    "nofile": [1024, 2048], "nproc": [4000, 5000], "cpu": ["2h", "3h"],
}


def environ(**extra: str) -> dict[str, str]:
    """This environment with the checkout importable; with ``KILL_VARIABLE`` in ``extra``,
    also the kill points that act on it."""
    path = [str(KILLPOINTS)] if KILL_VARIABLE in extra else []
    return {**os.environ, "PYTHONPATH": os.pathsep.join([*path, str(ROOT)]), **extra}


def start_writer(prefix: Path, limits: dict[str, Any] | None, *, start: float = 0.0,
                 kill_at: int | None = None, cli: bool = False) -> subprocess.Popen[bytes]:
    """A process that sets ``limits`` (None: removes all) in ``prefix`` at time ``start``."""
    extra = {} if kill_at is None else {KILL_VARIABLE: str(kill_at)}
    if cli:
        flags = ["unset", "--all"] if limits is None else ["set", *(
            arg for key, value in limits.items() for arg in (f"--{key}", str(value)))]
        argv = [sys.executable, "-c", CLI, str(start), "limits", *flags, "-p", str(prefix)]
    else:
        argv = [sys.executable, "-c", WRITER, str(prefix), json.dumps(limits), str(start)]
    return subprocess.Popen(argv, env=environ(**extra), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def run_writer(prefix: Path, limits: dict[str, Any] | None, *,
               kill_at: int | None = None, cli: bool = False) -> int:
    process = start_writer(prefix, limits, kill_at=kill_at, cli=cli)
    _, err = process.communicate(timeout=120)
    assert process.returncode in (0, -9), err.decode()
    return process.returncode


def run_together(prefix: Path, writers: list[dict[str, Any] | None], *,
                 cli: bool = False) -> None:
    """Start every writer at the same moment (after all have started) and wait for all."""
    start = time.time() + (3.0 if cli else 1.0)
    processes = [start_writer(prefix, limits, start=start, cli=cli) for limits in writers]
    for process in processes:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err.decode()


def snapshot(prefix: Path) -> dict[str, bytes]:
    """Every file under the prefix's etc/ (relative path -> content)."""
    return {str(p.relative_to(prefix)): p.read_bytes()
            for p in sorted((prefix / "etc").rglob("*")) if p.is_file()}


def expected(limits: LimitSet) -> dict[str, bytes]:
    """The scripts ``limits`` call for (relative path -> content)."""
    return {str(rel): text.encode() for rel, text in prefix_files.render(limits).items()}


def scripts_follow(prefix: Path, limits: LimitSet) -> bool:
    """Whether the scripts on disk are exactly those the limits call for."""
    on_disk = {str(p.relative_to(prefix)): p.read_bytes()
               for p in prefix_files.script_paths(prefix) if p.exists()}
    return on_disk == expected(limits)


def settled(prefix: Path) -> LimitSet:
    """The recorded limits, after asserting that scripts follow them and nothing is left."""
    state = prefix_files.check(prefix)
    assert state.error is None, state.error
    assert state.in_step, state
    assert scripts_follow(prefix, state.limits)
    assert prefix_files.leftovers(prefix) == []
    return state.limits


def limits_of(values: dict[str, Any]) -> LimitSet:
    return parse_limits(values)


def record_is_one_of(prefix: Path, *choices: LimitSet) -> LimitSet:
    """The record, whole, holding one of ``choices``."""
    limits = record.read(prefix)
    assert limits in choices, limits
    return limits
