"""Kernel start time: a limit-aware kernel (conda-limits' launcher) against plain ipykernel.

Prints the median time from ``KernelManager.start_kernel()`` to the first kernel_info reply,
over alternating runs, for both kernelspecs in the same temporary Jupyter data dir. The
limited kernel runs in an environment whose Python is this interpreter (see
tests/jupyter/test_launch.py), with a few recorded limits.

    python benchmarks/bench_kernel.py [RUNS]
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conda_limits.jupyter import kernelspec
from conda_limits.limits.model import parse_limits
from conda_limits.state import prefix_files
from tests.jupyter.test_launch import make_env  # noqa: E402


def start_time(name: str) -> float:
    from jupyter_client.manager import KernelManager

    manager = KernelManager(kernel_name=name)
    begin = time.perf_counter()
    manager.start_kernel()
    client = manager.client()
    client.start_channels()
    client.wait_for_ready(timeout=60)
    elapsed = time.perf_counter() - begin
    client.stop_channels()
    manager.shutdown_kernel(now=True)
    return elapsed


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["JUPYTER_DATA_DIR"] = os.environ["JUPYTER_PATH"] = str(root / "data")
        os.environ["JUPYTER_RUNTIME_DIR"] = str(root / "runtime")
        prefix = make_env(root)
        prefix_files.write(prefix, parse_limits({"data": "8G", "nofile": 4096, "stack": "8M"}))
        kernels = kernelspec.kernels_dir()
        kernelspec.install(prefix, name="limited", display_name="limited", kernels=kernels)
        plain = kernels / "plain"
        plain.mkdir(parents=True)
        (plain / "kernel.json").write_text(json.dumps({
            "argv": [str(prefix / "bin" / "python"), "-m", "ipykernel_launcher", "-f",
                     "{connection_file}"], "display_name": "plain", "language": "python"}))
        times: dict[str, list[float]] = {"plain": [], "limited": []}
        start_time("plain")  # warm the file cache
        for _ in range(runs):
            for name in ("plain", "limited"):
                times[name].append(start_time(name))
    plain_s, limited_s = (statistics.median(times[n]) for n in ("plain", "limited"))
    conda = "with conda's activator" if _has_conda() else "conda-free activation"
    print(f"kernel start, median of {runs} alternating runs ({conda}):")
    print(f"  plain ipykernel        {plain_s * 1000:7.0f} ms")
    print(f"  conda-limits launcher  {limited_s * 1000:7.0f} ms")
    print(f"  added                  {(limited_s - plain_s) * 1000:7.0f} ms "
          f"({limited_s / plain_s:.2f}x)")


def _has_conda() -> bool:
    import importlib.util

    return importlib.util.find_spec("conda") is not None


if __name__ == "__main__":
    main()
