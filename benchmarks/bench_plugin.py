"""What the plugin costs conda: figures, not a test.

A minimal plugin package (one hookimpl yielding one subcommand) is written to a temporary
directory at run time, with an entry-point ``.dist-info``, and put on the ``PYTHONPATH`` of
the conda runs beside conda-limits (this checkout, found first on the ``PYTHONPATH``). Then,
from ``-X importtime`` of the same conda runs (median over runs):

1. the entry module: conda-limits' ``conda_limits.plugin`` (with its package) against the
   minimal plugin's (target: at most 1.5x);
2. a conda command that is not ours (``conda env list``): everything conda-limits makes
   Python import (its modules and what they alone pull in) against the minimal plugin
   (target: at most 1.5x); the modules are listed;
3. the wall time of ``conda env list`` against ``CONDA_NO_PLUGINS=true``, paired runs.

Usage: python benchmarks/bench_plugin.py [--python PYTHON] [--runs N] [-- COMMAND...]
PYTHON is the Python of a conda base environment (default: the one running this script);
COMMAND is the conda command to measure (default: ``env list``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OURS = "conda_limits"
MINIMAL = "minimal_bench_plugin"

# A package, as conda-limits is: an empty __init__.py and the hookimpl in plugin.py.
MINIMAL_MODULE = '''\
from conda.plugins import hookimpl
from conda.plugins.types import CondaSubcommand


def execute(args):
    return 0


@hookimpl
def conda_subcommands():
    yield CondaSubcommand(name="minimal-bench", summary="A minimal plugin.", action=execute)
'''


# conda loads entry points with importlib.import_module, which -X importtime does not see:
# the driver imports each entry module with an import statement first (same process, same
# moment), then lets conda run as ``python -m conda``.
DRIVER = """\
import importlib.metadata, runpy, sys

_load = importlib.metadata.EntryPoint.load


def load(self):
    __import__(self.module)
    return _load(self)


importlib.metadata.EntryPoint.load = load
sys.argv[0] = "conda"
runpy.run_module("conda", run_name="__main__", alter_sys=True)
"""


def write_dist(site: Path, name: str, module: str) -> None:
    """An installed-looking distribution whose ``conda`` entry point is ``module``."""
    info = site / f"{name}-0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.0\n")
    (info / "entry_points.txt").write_text(f"[conda]\n{name} = {module}\n")


def has_entry_point(python: str, environ: dict[str, str], cwd: Path) -> bool:
    code = ("import importlib.metadata as m; import sys; sys.exit(0 if any("
            f"e.value == '{OURS}.plugin' for e in m.entry_points(group='conda')) else 1)")
    return subprocess.run([python, "-c", code], env=environ, cwd=cwd,
                          check=False).returncode == 0


def import_times(stderr: str) -> dict[str, tuple[int, int, bool]]:
    """name -> (self us, cumulative us, nested) for each top-level import of ours or the
    minimal plugin's; ``nested``: imported by another of ours (counted in that one)."""
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line or "self [us]" in line:
            continue
        own, cumulative, name = line[len("import time:"):].split("|")
        depth = (len(name) - len(name.lstrip())) // 2
        rows.append((depth, name.strip(), int(own), int(cumulative)))
    out: dict[str, tuple[int, int, bool]] = {}
    stack: list[tuple[int, str]] = []  # ancestors of the current row (parents print later)
    for depth, name, own, cumulative in reversed(rows):
        while stack and stack[-1][0] >= depth:
            stack.pop()
        inside = [n for _, n in stack if n.split(".")[0] in (OURS, MINIMAL)]
        if name.split(".")[0] in (OURS, MINIMAL) or inside:
            out[name] = (own, cumulative, bool(inside))
        stack.append((depth, name))
    return out


def figures(times: dict[str, tuple[int, int, bool]]) -> dict[str, float]:
    """Milliseconds: our entry module, all of ours, the minimal plugin's."""
    def top(prefix: str) -> list[tuple[str, int]]:
        return [(n, c) for n, (_, c, nested) in times.items()
                if not nested and n.split(".")[0] == prefix]

    entry = sum(c for n, c in top(OURS) if n in (OURS, f"{OURS}.plugin"))  # one or both
    return {"entry": entry / 1000, "ours": sum(c for _, c in top(OURS)) / 1000,
            "minimal": sum(c for _, c in top(MINIMAL)) / 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", default=sys.executable,
                        help="the Python of a conda base environment")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("command", nargs="*", default=["env", "list"])
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-plugin-") as scratch:
        site = Path(scratch)
        (site / MINIMAL).mkdir()
        (site / MINIMAL / "__init__.py").write_text("")
        (site / MINIMAL / "plugin.py").write_text(MINIMAL_MODULE)
        write_dist(site, MINIMAL.replace("_", "-"), f"{MINIMAL}.plugin")
        environ = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        environ["PYTHONPATH"] = os.pathsep.join(
            [str(ROOT), str(site)] + ([environ["PYTHONPATH"]] if environ.get("PYTHONPATH")
                                      else []))
        # Run from the scratch directory: `python -c` puts the working directory first on
        # sys.path, and another checkout there would be measured instead of this one.
        if not has_entry_point(args.python, environ, site):
            write_dist(site, "conda-limits-checkout", f"{OURS}.plugin")
        command = [args.python, "-m", "conda", *args.command]

        def imports() -> dict[str, tuple[int, int, bool]]:
            done = subprocess.run([args.python, "-X", "importtime", "-c", DRIVER, *args.command],
                                  env=environ, cwd=site,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  text=True, check=True)
            return import_times(done.stderr)

        def wall(extra: dict[str, str]) -> float:
            start = time.perf_counter()
            subprocess.run(command, env={**environ, **extra}, cwd=site, stdout=subprocess.DEVNULL,
                           check=True)
            return time.perf_counter() - start

        imports()  # warm-up: writes bytecode
        runs = [imports() for _ in range(args.runs)]
        found = [figures(times) for times in runs]
        if not any(f["minimal"] for f in found) or not any(f["ours"] for f in found):
            sys.exit("the plugins did not load: is conda importable by " + args.python + "?")
        median = {key: statistics.median(f[key] for f in found) for key in found[0]}
        low = {key: min(f[key] for f in found) for key in found[0]}
        ratios = {key: statistics.median(f[key] / f["minimal"] for f in found)
                  for key in ("entry", "ours")}
        label = " ".join(args.command)
        print(f"conda {label!r} with {args.python}; {args.runs} runs of -X importtime "
              "(cumulative ms; ratio: median of the runs' ratios, and of the fastest runs)\n")
        print(f"  minimal plugin package            median {median['minimal']:6.2f}  "
              f"min {low['minimal']:6.2f}")
        print(f"1. entry module (package + plugin)  median {median['entry']:6.2f}  "
              f"min {low['entry']:6.2f}   {ratios['entry']:5.2f}x / "
              f"{low['entry'] / low['minimal']:5.2f}x minimal (target <= 1.5)")
        print(f"2. all conda-limits imports         median {median['ours']:6.2f}  "
              f"min {low['ours']:6.2f}   {ratios['ours']:5.2f}x / "
              f"{low['ours'] / low['minimal']:5.2f}x minimal (target <= 1.5)")
        last = runs[-1]
        for name, (own, cumulative, nested) in last.items():
            if name.split(".")[0] != MINIMAL:
                print(f"     {'  ' if nested else ''}{name:<40} self {own / 1000:6.2f} ms  "
                      f"cumulative {cumulative / 1000:6.2f} ms")

        wall({})
        paired = [(wall({}), wall({"CONDA_NO_PLUGINS": "true"})) for _ in range(args.runs)]
        ratio = statistics.median(a / b for a, b in paired)
        print(f"\n3. wall time: median {statistics.median(a for a, _ in paired) * 1000:.0f} ms "
              f"against {statistics.median(b for _, b in paired) * 1000:.0f} ms with "
              f"CONDA_NO_PLUGINS=true; paired ratio {ratio:.3f}")


if __name__ == "__main__":
    main()
