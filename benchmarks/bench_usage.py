"""What recording usage costs: figures, not a test.

1. ``conda run-limited ENV -- true`` recording (the default) against the same with
   ``CONDA_LIMITS_NO_RECORD=1`` and against ``conda run ENV true``, alternating runs (the target
   of the runner: at most 0.5x ``conda run``).
2. One append to the usage log, in this process (open, lock, write, close).
3. A Jupyter kernel's start with the session watcher (the default) and without it, and the
   watcher's resident memory while the kernel runs.

Usage: python benchmarks/bench_usage.py [-p PREFIX] [--runs N] [--conda PATH] [--no-kernel]
Without -p, a temporary empty environment is created with the conda given.
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ENVIRON = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

from bench_run_limited import alternate  # noqa: E402  (this folder is sys.path[0])


def timed(command: list[str], environ: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=environ or ENVIRON)
    return time.perf_counter() - start


def show(title: str, times: dict[str, list[float]], baseline: str) -> None:
    print(title)
    base = statistics.median(times[baseline])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:<44} median {median * 1000:8.1f} ms   min {min(values) * 1000:8.1f} ms"
              f"   {median / base:5.2f}x")


def run_limited(conda: str, prefix: Path, runs: int, state: str) -> None:
    recording = {**ENVIRON, "XDG_STATE_HOME": state}
    silent = {**recording, "CONDA_LIMITS_NO_RECORD": "1"}
    target = ["-p", str(prefix)]
    times = alternate(runs, **{
        "conda run-limited -- true (recording)": lambda: timed(
            [conda, "run-limited", *target, "--", "true"], recording),
        "conda run-limited -- true (not recording)": lambda: timed(
            [conda, "run-limited", *target, "--", "true"], silent),
        "conda run true": lambda: timed([conda, "run", *target, "true"], recording),
    })
    show("1. conda run-limited with and without recording, against conda run "
         "(target: <= 0.50x)", times, "conda run true")
    pairs = [a - b for a, b in zip(times["conda run-limited -- true (recording)"],
                                   times["conda run-limited -- true (not recording)"])]
    print(f"  recording adds (paired, median): {statistics.median(pairs) * 1000:.1f} ms")


def append_cost(prefix: Path, state: str) -> None:
    from conda_limits.usage import log
    from conda_limits.usage.entry import Run

    run = Run(at=time.time(), via="run-limited", command="python", wall=1.0, status=0,
              used={"cpu": 0.5, "rss": 1 << 30, "vmem": 3 << 30, "data": 2 << 30,
                    "nofile": 12, "procs": 1, "threads": 4}, limits={"data": 4 << 30})
    environ = {"XDG_STATE_HOME": state}
    count = 500
    start = time.perf_counter()
    for _ in range(count):
        log.append(prefix, run, environ=environ)
    each = (time.perf_counter() - start) / count
    size = len(run.to_line())
    print(f"2. one append to the usage log: {each * 1e6:.0f} us ({size}-byte entry; "
          f"{count} appends, rotation included)")
    log.clear(prefix, environ=environ)


def kernel(runs: int, state: str) -> None:
    from bench_kernel import start_time

    from conda_limits.jupyter import kernelspec
    from conda_limits.limits.model import parse_limits
    from conda_limits.state import prefix_files
    from tests.jupyter.test_launch import make_env

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["JUPYTER_DATA_DIR"] = os.environ["JUPYTER_PATH"] = str(root / "data")
        os.environ["JUPYTER_RUNTIME_DIR"] = str(root / "runtime")
        os.environ["XDG_STATE_HOME"] = state
        prefix = make_env(root)
        prefix_files.write(prefix, parse_limits({"data": "8G", "nofile": 4096}))
        kernelspec.install(prefix, name="limited", display_name="limited",
                           kernels=kernelspec.kernels_dir())

        def recording() -> float:
            os.environ.pop("CONDA_LIMITS_NO_RECORD", None)
            return start_time("limited")

        def silent() -> float:
            os.environ["CONDA_LIMITS_NO_RECORD"] = "1"
            return start_time("limited")

        times = alternate(runs, **{"kernel start, session recorded": recording,
                                   "kernel start, not recorded": silent})
        os.environ.pop("CONDA_LIMITS_NO_RECORD", None)
        show("3. a limited kernel's start with and without the session watcher", times,
             "kernel start, not recorded")
        print(f"  the watcher's resident memory: {watcher_rss(prefix)}")


def watcher_rss(prefix: Path) -> str:
    from jupyter_client.manager import KernelManager

    manager = KernelManager(kernel_name="limited")
    manager.start_kernel()
    client = manager.client()
    client.start_channels()
    client.wait_for_ready(timeout=60)
    try:
        time.sleep(1.0)
        for entry in Path("/proc").iterdir():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if any(b"conda_limits.jupyter.watch" in arg for arg in argv) and \
                    str(prefix).encode() in argv:
                for line in (entry / "status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        return line.split(":", 1)[1].strip()
        return "no watcher found"
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-p", "--prefix")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--conda", default=shutil.which("conda") or
                        str(Path(sys.prefix, "bin", "conda")))
    parser.add_argument("--no-kernel", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    conda = args.conda if Path(args.conda).exists() else None
    with tempfile.TemporaryDirectory(prefix="bench-usage-") as scratch:
        state = str(Path(scratch, "state"))
        prefix = Path(args.prefix) if args.prefix else Path(scratch, "env")
        if not args.prefix:
            if conda:
                subprocess.run([conda, "create", "-q", "-y", "-p", str(prefix)], check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            else:
                (prefix / "conda-meta").mkdir(parents=True)
        print(f"environment: {prefix}; {args.runs} alternating runs each; "
              f"{os.cpu_count()} CPUs\n")
        if conda:
            run_limited(conda, prefix, args.runs, state)
        else:
            print("1. skipped: no conda found (give --conda PATH)")
        print()
        append_cost(prefix, state)
        if not args.no_kernel:
            print()
            kernel(args.runs, state)


if __name__ == "__main__":
    main()
