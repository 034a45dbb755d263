"""Oversubscription and ``threads: 1``: figures, not a test.

A BLAS-heavy job (a loop of numpy matrix products, sized to take a few seconds on one core)
is run by ``--procs`` processes at once (default 4), first as they start without any setting
(each OpenBLAS/MKL pool as wide as the machine), then with the variables ``threads: 1``
exports (:func:`conda_limits.limits.threads.environment`), alternately ``--rounds`` times. The
wall time of each process and of the whole batch are printed side by side. With more busy
threads than cores, the pools' threads wait for each other: that is what the setting removes.

The BLAS in force (library, kernel, pool size) is printed from threadpoolctl for both modes.
Some machines set OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE for old OpenBLAS builds; they are left as
they are (pass ``--native-kernel`` to unset both in the children, for figures of the kernel
OpenBLAS would pick itself).

Usage: python benchmarks/bench_cpu.py [--procs N] [--size N] [--reps N] [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from conda_limits.limits import threads

JOB = """\
import sys, time, numpy
size, reps = int(sys.argv[1]), int(sys.argv[2])
a = numpy.random.default_rng(0).random((size, size))
sys.stdin.read()  # start together
start = time.perf_counter()
for _ in range(reps):
    b = a @ a
print(time.perf_counter() - start)
"""
INFO = """\
import json, numpy, threadpoolctl
print(json.dumps([{k: i.get(k) for k in ("internal_api", "architecture", "num_threads",
                   "threading_layer", "version")} for i in threadpoolctl.threadpool_info()]))
"""


def environ(limited: bool, native: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in threads.NAMES}
    if native:
        env.pop("OPENBLAS_CORETYPE", None)
        env.pop("OPENBLAS_L2_SIZE", None)
    return {**env, **threads.environment(1)} if limited else env


def batch(procs: int, size: int, reps: int, env: dict[str, str]) -> tuple[float, list[float]]:
    """Start ``procs`` jobs, let them go at once; the batch's wall time and each job's."""
    jobs = [subprocess.Popen([sys.executable, "-c", JOB, str(size), str(reps)], env=env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            for _ in range(procs)]
    time.sleep(1.0)  # numpy imported and the matrix made in every one of them
    start = time.perf_counter()
    for job in jobs:
        assert job.stdin is not None
        job.stdin.close()
    each = [float(job.stdout.read()) for job in jobs if job.stdout and job.wait() == 0]
    return time.perf_counter() - start, each


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--procs", type=int, default=4)
    parser.add_argument("--size", type=int, default=600, help="matrix side (default 600)")
    parser.add_argument("--reps", type=int, default=60, help="products per job (default 60)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--native-kernel", action="store_true",
                        help="unset OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE in the jobs")
    args = parser.parse_args()

    print(f"{os.cpu_count()} CPU(s), affinity {sorted(os.sched_getaffinity(0))}; "
          f"{args.procs} processes x {args.reps} products of {args.size}x{args.size} doubles")
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        state = "unset for the jobs" if args.native_kernel else os.environ.get(var, "not set")
        print(f"  {var}: {state}")
    modes = {"no setting": False, "threads: 1": True}
    for name, limited in modes.items():
        info = subprocess.run([sys.executable, "-c", INFO], env=environ(limited,
                              args.native_kernel), capture_output=True, text=True, check=True)
        for pool in json.loads(info.stdout):
            print(f"  {name:<11} {pool}")

    walls: dict[str, list[float]] = {name: [] for name in modes}
    jobs: dict[str, list[float]] = {name: [] for name in modes}
    for _ in range(args.rounds):
        for name, limited in modes.items():
            wall, each = batch(args.procs, args.size, args.reps,
                               environ(limited, args.native_kernel))
            walls[name].append(wall)
            jobs[name].extend(each)

    print(f"\n{'':<14}{'batch wall (median)':>20}{'job wall median':>18}{'job max':>10}"
          f"{'job min':>10}")
    for name in modes:
        print(f"{name:<14}{statistics.median(walls[name]):>19.2f}s"
              f"{statistics.median(jobs[name]):>17.2f}s{max(jobs[name]):>9.2f}s"
              f"{min(jobs[name]):>9.2f}s")
    ratio = statistics.median(walls["no setting"]) / statistics.median(walls["threads: 1"])
    print(f"\nbatch wall, no setting / threads: 1 = {ratio:.2f}x "
          f"(rounds: {', '.join(f'{a:.2f}/{b:.2f}' for a, b in zip(*walls.values()))})")


if __name__ == "__main__":
    main()
