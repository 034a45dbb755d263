"""The smallest limits a shell and a small program live with: figures behind ``floors.py``.

For each limit that has a floor, and for each probe (a shell running ``ls | cat``, Python
starting, ``conda deactivate`` in a bash that activated an environment), finds by bisection
the smallest soft limit under which the probe still succeeds: exit status 0, its marker on
stdout, nothing on stderr. The limit is set with bash's own ``ulimit -S`` just before the
probe runs, as an activation script sets it. Run it as root and as an unprivileged user:
``nproc`` counts every process of the user, and root may not be held to it.

Usage: python benchmarks/measure_floors.py [--conda PATH/TO/conda ...] [--only vmem,nofile]
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conda_limits.limits import floors, resources
from conda_limits.limits.values import human

MARK = "probe-ok"
#: what an interactive bash says on stderr without a terminal, limits or not
NOISE = re.compile(r"cannot set terminal process group|no job control in this shell")
#: bash's ulimit unit per limit (bash, not in POSIX mode: -f counts KiB)
UNIT = {"vmem": 1024, "data": 1024, "stack": 1024, "fsize": 1024, "nofile": 1, "nproc": 1,
        "cpu": 1}
#: where bisection starts looking (a value under which every probe is expected to pass)
START = {"vmem": 4 * 2**30, "data": 4 * 2**30, "stack": 64 * 2**20, "fsize": 64 * 2**20,
         "nofile": 4096, "nproc": 4096, "cpu": 60}


def probes(condas: list[str]) -> dict[str, Callable[[str], str]]:
    """Probe name -> bash script around the ``ulimit`` command it is given."""
    out: dict[str, Callable[[str], str]] = {}
    for shell, argv in (("sh (dash)", "dash -c"), ("bash", "bash --norc -c"),
                        ("zsh", "zsh -f -c"), ("fish", "fish --no-config -c"),
                        ("tcsh", "tcsh -f -c")):
        if shutil.which(argv.split()[0]):
            inner = shlex.quote(f"ls -d / | cat >/dev/null && echo {MARK}")
            out[f"{shell}: ls | cat"] = lambda limit, a=argv, i=inner: f"{limit}; exec {a} {i}"
    out["bash -i: ls"] = lambda limit: (f"{limit}; exec bash -i -c "
                                        f"{shlex.quote(f'ls -d / >/dev/null && echo {MARK}')}")
    for python in ("/usr/bin/python3", sys.executable):
        if os.path.exists(python):
            code = shlex.quote(f"print('{MARK}')")
            out[f"{python} -c pass"] = lambda limit, p=python, c=code: f"{limit}; exec {p} -c {c}"
    for conda in condas:
        hook = f'eval "$({shlex.quote(conda)} shell.bash hook)"'
        out[f"{conda}: deactivate"] = lambda limit, h=hook: (
            f"{h} && conda activate base && {limit} && conda deactivate && "
            f"ls -d / >/dev/null && echo {MARK}")
    return out


def passes(script: str) -> bool:
    try:
        done = subprocess.run(["bash", "--norc", "--noprofile", "-c", script],
                              capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return False
    errors = [line for line in done.stderr.splitlines() if not NOISE.search(line)]
    return done.returncode == 0 and MARK in done.stdout and not errors


def smallest(resource: resources.Resource, probe: Callable[[str], str]) -> int | None:
    """The smallest value (in bytes, a count or seconds) under which the probe passes."""
    unit = UNIT[resource.key]

    def ok(units: int) -> bool:
        return passes(probe(f"ulimit -S -{resource.ulimit} {units}"))

    high = START[resource.key] // unit
    if not ok(high):
        return None
    low = 0  # the largest value known to fail; 0 itself is reported apart (see main)
    while high - low > 1:
        middle = (low + high) // 2
        if ok(middle):
            high = middle
        else:
            low = middle
    return high * unit


def at_zero(resource: resources.Resource, probe: Callable[[str], str]) -> bool:
    """Whether the probe passes with the limit at 0 (Linux ignores a soft RLIMIT_DATA of 0)."""
    return passes(probe(f"ulimit -S -{resource.ulimit} 0"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conda", action="append", default=[],
                        help="a conda executable whose `conda deactivate` to probe")
    parser.add_argument("--only", default="", help="comma-separated limit names")
    args = parser.parse_args()
    keys = [k for k in (args.only.split(",") if args.only else floors.FLOORS) if k]
    print(f"user {os.getuid()}; soft limit set by bash's ulimit -S just before each probe")
    for key in keys:
        resource = resources.get(key)
        floor = floors.floor(resource)
        print(f"\n{key} (floor {human(resource, floor) if floor is not None else '-'}):")
        for name, probe in probes(args.conda).items():
            least = smallest(resource, probe)
            figure = "fails even at the start value" if least is None else human(resource, least)
            zero = " (and passes at 0)" if at_zero(resource, probe) else ""
            print(f"  {name:<48} needs {figure}{zero}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
