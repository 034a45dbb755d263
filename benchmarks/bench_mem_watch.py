"""The ``watch`` backend of ``--mem``: how far past the cap a program gets, and what watching
costs. Figures, not a test.

1. Overshoot: a program that allocates (and touches) memory at a steady rate, from 100 MiB/s
   to as fast as this machine can, runs under a 1 GiB cap enforced by watching; the figure is
   its peak resident memory (from wait4) past the cap, and the rate it actually reached.
   Goal: under 10% of the cap at 1 GiB/s.
2. Cost: the runner's CPU time while it watches a steady program (one process, and a parent
   with 4 workers) for a few seconds, at half the cap and at 90% of it, against the same run
   without a cap. Goal: under 1% of one core.

The runner is the real one (conda_limits.run.process.run_command), in this process.
Usage: python benchmarks/bench_mem_watch.py [--cap MIB] [--seconds S]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conda_limits.limits.model import LimitSet
from conda_limits.run.activation import from_prefix
from conda_limits.run.plan import plan_activation
from conda_limits.run.process import Outcome, run_command
from conda_limits.system.memory_watch import MemoryWatch

MiB = 1 << 20
# Allocates argv[1] MiB/s (0: as fast as it can) in touched chunks, writing the time of its
# first allocation to argv[2]; runs until it is stopped.
GROW = """
import sys, time
rate, mark = float(sys.argv[1]) * (1 << 20), sys.argv[2]
chunk = max(1 << 20, int(rate * 0.005)) if rate else 16 << 20
held, start = [], time.monotonic()
open(mark, "w").write(repr(time.monotonic()))
while True:
    held.append(bytearray(b"1") * chunk)
    if rate:
        ahead = start + len(held) * chunk / rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
"""
# Holds argv[1] MiB, in argv[3] - 1 workers (or itself, for 1), for argv[2] seconds.
STEADY = """
import os, sys, time
size, seconds, count = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
if count == 1:
    held = bytearray(b"1") * (size << 20)
    time.sleep(seconds)
for _ in range(count - 1):
    if os.fork() == 0:
        held = bytearray(b"1") * (size // (count - 1) << 20)
        time.sleep(seconds)
        os._exit(0)
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
"""


def run(prefix: Path, command: list[str], cap: int | None) -> tuple[Outcome, float, float]:
    """The outcome, the wall time and this process's CPU time of one run."""
    activation = from_prefix(prefix)
    plan, activation = plan_activation(LimitSet(), activation)
    memory = MemoryWatch(cap) if cap else None
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.monotonic()
    outcome = run_command(command, activation, plan, memory=memory)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return outcome, wall, cpu


def overshoot(prefix: Path, folder: Path, cap: int) -> None:
    print(f"1. Overshoot past a {cap // MiB} MiB cap enforced by watching "
          "(goal: < 10% at 1 GiB/s)")
    print(f"  {'asked':>12} {'reached':>12} {'peak':>10} {'past the cap':>18}  "
          "last looks apart")
    for rate in (100, 250, 500, 1024, 2048, 0):
        mark = folder / "start"
        outcome, _, _ = run(prefix, [sys.executable, "-c", GROW, str(rate), str(mark)], cap)
        ended = time.monotonic()
        started = float(mark.read_text())
        peak = outcome.peak_rss or 0
        reached = peak / MiB / max(1e-3, ended - started)
        past = peak - cap
        stats = outcome.memory
        gap = f"{stats.interval * 1000:6.1f} ms" if stats and stats.interval else "?"
        asked = f"{rate} MiB/s" if rate else "fastest"
        print(f"  {asked:>12} {reached:8.0f} MiB/s {peak / MiB:6.0f} MiB "
              f"{past / MiB:+8.1f} MiB {100 * past / cap:+6.1f}%  {gap}")


def cost(prefix: Path, cap: int, seconds: float) -> None:
    print(f"2. The runner's CPU time watching a steady program for {seconds:.0f} s "
          "(goal: < 1% of one core)")
    for share in (0.5, 0.9):
        for count in (1, 5):
            size = str(int(cap * share) // MiB)
            command = [sys.executable, "-c", STEADY, size, str(seconds), str(count)]
            _, _, cpu_free = run(prefix, command, None)
            outcome, wall, cpu = run(prefix, command, cap)
            assert outcome.status == 0, outcome
            extra = max(0.0, cpu - cpu_free)
            what = "1 process" if count == 1 else f"{count} processes"
            print(f"  {share:.0%} of the cap, {what:<11}: {cpu * 1000:7.1f} ms CPU in "
                  f"{wall:5.2f} s watched, {cpu_free * 1000:6.1f} ms unwatched: "
                  f"{100 * extra / wall:.2f}% of one core")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cap", type=int, default=1024, help="the cap in MiB (1024)")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        prefix = Path(folder) / "env"
        (prefix / "conda-meta").mkdir(parents=True)
        print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
        overshoot(prefix, Path(folder), args.cap * MiB)
        cost(prefix, args.cap * MiB, args.seconds)


if __name__ == "__main__":
    main()
