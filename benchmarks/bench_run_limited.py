"""How fast ``conda run-limited`` starts a command: figures, not a test.

1. ``conda run-limited -n ENV -- true`` against ``conda run -n ENV true`` (target: at most
   0.2 of its wall time), run alternately so that both see the same machine load; their CPU
   time (user + system, every process of each) too, a steadier figure on a busy machine;
   and the CPU time against ``conda minimal-run``, a plugin subcommand (installed in a
   temporary directory) that only runs ``true``: conda's own start-up, the floor of every
   plugin command.
2. The runner alone against util-linux ``prlimit --nofile=... true``: a fresh Python process
   running :func:`conda_limits.run.command.run`, and, inside one Python process, one
   :func:`conda_limits.run.process.run_command` against one ``subprocess.run(["prlimit", ...])``.

Usage: python benchmarks/bench_run_limited.py [-n ENV | -p PREFIX] [--runs N] [--conda PATH]
Without -n/-p, a temporary empty environment is created (and removed) with the conda given.
Child processes run without PYTHONDONTWRITEBYTECODE, so that they use cached bytecode as an
installed conda-limits does.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench_plugin import write_dist

# As installed, Python modules load from cached bytecode; the warm-up round writes it.
ENVIRON = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


# The floor of a plugin command: conda's start-up, then `true` (see with_minimal_run).
MINIMAL_RUN = '''\
import subprocess

from conda.plugins import hookimpl
from conda.plugins.types import CondaSubcommand


def execute(args):
    return subprocess.run(["true"], check=False).returncode


@hookimpl
def conda_subcommands():
    yield CondaSubcommand(name="minimal-run", summary="Runs true.", action=execute)
'''


def with_minimal_run(scratch: Path) -> None:
    """Install the ``conda minimal-run`` plugin under ``scratch``, on the children's path."""
    site = scratch / "site"
    (site / "minimal_run").mkdir(parents=True)
    (site / "minimal_run" / "__init__.py").write_text("")
    (site / "minimal_run" / "plugin.py").write_text(MINIMAL_RUN)
    write_dist(site, "minimal-run", "minimal_run.plugin")
    ENVIRON["PYTHONPATH"] = os.pathsep.join(filter(None, [ENVIRON.get("PYTHONPATH"), str(site)]))


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=ENVIRON)
    return time.perf_counter() - start


def cpu_timed(command: list[str], cpu: list[float]) -> float:
    """:func:`timed`, appending the CPU time the command's processes used to ``cpu``."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = timed(command)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return wall


def alternate(runs: int, **commands: Callable[[], float]) -> dict[str, list[float]]:
    """Run each callable ``runs`` times, in turn, after one warm-up round."""
    for measure in commands.values():
        measure()
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, measure in commands.items():
            times[name].append(measure())
    return times


def show(title: str, times: dict[str, list[float]], baseline: str) -> None:
    print(title)
    base = statistics.median(times[baseline])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:<34} median {median * 1000:8.1f} ms   min {min(values) * 1000:8.1f} ms"
              f"   {median / base:5.2f}x {baseline}")
    ratios = [a / b for a, b in zip(*times.values(), strict=True)] if len(times) == 2 else []
    if ratios:
        first, second = times
        print(f"  paired ratio {first}/{second}: median {statistics.median(ratios):.2f}, "
              f"max {max(ratios):.2f}")


def in_process(prefix: Path, runs: int) -> dict[str, list[float]]:
    from conda_limits.limits.model import parse_limits
    from conda_limits.run.activation import from_prefix, without_own_scripts
    from conda_limits.run.plan import plan_limits
    from conda_limits.run.process import run_command

    activation = without_own_scripts(from_prefix(prefix)).activation
    plan = plan_limits(parse_limits({"nofile": 1024}))
    prlimit = shutil.which("prlimit")

    def runner_once() -> float:
        start = time.perf_counter()
        run_command(["true"], activation, plan)
        return time.perf_counter() - start

    def prlimit_once() -> float:
        return timed([prlimit, "--nofile=1024", "true"])

    return alternate(runs, **{"run_command(['true'])": runner_once,
                              "subprocess.run(prlimit ... true)": prlimit_once})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group()
    where.add_argument("-n", "--name")
    where.add_argument("-p", "--prefix")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--conda", default=shutil.which("conda") or
                        str(Path(sys.prefix, "bin", "conda")))
    args = parser.parse_args()

    prlimit = shutil.which("prlimit")
    conda = args.conda if Path(args.conda).exists() else None
    with tempfile.TemporaryDirectory(prefix="bench-run-limited-") as scratch:
        if args.name:
            target = ["-n", args.name]
            prefix = Path(subprocess.run([conda, "run", "-n", args.name, "sh", "-c",
                                          'echo "$CONDA_PREFIX"'], capture_output=True,
                                         text=True, check=True).stdout.strip())
        elif args.prefix:
            target, prefix = ["-p", args.prefix], Path(args.prefix)
        elif conda:
            prefix = Path(scratch, "env")
            subprocess.run([conda, "create", "-q", "-y", "-p", str(prefix)], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            target = ["-p", str(prefix)]
        else:
            prefix = Path(scratch, "env")
            (prefix / "conda-meta").mkdir(parents=True)
            target = []
        print(f"environment: {prefix}; {args.runs} alternating runs each\n")

        if conda:
            cpu: dict[str, list[float]] = {"conda run-limited ENV -- true": [],
                                           "conda run ENV true": []}
            show("1. conda run-limited against conda run (target: ratio <= 0.2)",
                 alternate(args.runs,
                           **{"conda run-limited ENV -- true": lambda: cpu_timed(
                               [conda, "run-limited", *target, "--", "true"],
                               cpu["conda run-limited ENV -- true"]),
                              "conda run ENV true": lambda: cpu_timed(
                                  [conda, "run", *target, "true"], cpu["conda run ENV true"])}),
                 "conda run ENV true")
            for values in cpu.values():
                del values[0]  # the warm-up round
            show("1b. the same, CPU time (user + system) instead of wall time", cpu,
                 "conda run ENV true")
            with_minimal_run(Path(scratch))
            floor: dict[str, list[float]] = {"conda run-limited ENV -- true": [],
                                             "conda minimal-run": []}
            alternate(args.runs,
                      **{name: lambda name=name, argv=argv: cpu_timed(argv, floor[name])
                         for name, argv in (
                             ("conda run-limited ENV -- true",
                              [conda, "run-limited", *target, "--", "true"]),
                             ("conda minimal-run", [conda, "minimal-run"]))})
            for values in floor.values():
                del values[0]  # the warm-up round
            show("1c. CPU time against a plugin subcommand that only runs true (conda's own "
                 "start-up)", floor, "conda minimal-run")
        else:
            print("1. skipped: no conda found (give --conda PATH)")
        print()
        if not prlimit:
            print("2. skipped: util-linux prlimit is not installed")
            return
        code = ("import sys; from conda_limits.run import command; "
                "from conda_limits.limits.model import parse_limits; "
                "sys.exit(command.run(sys.argv[1], ['true'], parse_limits({'nofile': 1024})))")
        show("2a. the runner in a fresh Python process against prlimit",
             alternate(args.runs, **{
                 "python -c command.run(['true'])": lambda: timed(
                     [sys.executable, "-c", code, str(prefix)]),
                 "prlimit --nofile=1024 true": lambda: timed([prlimit, "--nofile=1024", "true"]),
             }), "prlimit --nofile=1024 true")
        print()
        show("2b. inside one Python process", in_process(prefix, args.runs * 5),
             "subprocess.run(prlimit ... true)")
        startup = alternate(args.runs, **{"python -c pass": lambda: timed(
            [sys.executable, "-c", "pass"])})
        print(f"\n(for scale: Python's own start-up, median "
              f"{statistics.median(startup['python -c pass']) * 1000:.1f} ms; "
              f"{os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
