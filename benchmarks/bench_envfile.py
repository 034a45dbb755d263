"""What reading and editing an environment file costs, by its number of top-level keys:
figures, not a test.

For files of N keys (plus name, dependencies and a ``limits:`` block), the time of
``environment_yml.load`` (what ``conda limits show -f`` does) and of ``set_limits`` (load,
edit, check the edit, write: what ``conda limits set -f`` does), the best of a few rounds.
With ruamel.yaml's C parser (conda's environments have it) the document is composed in C;
without it (a plain virtualenv) everything is Python. Target: a 10,000-key file under
1 s for both with the C parser; a normal file (a few keys) in milliseconds.

Usage: python benchmarks/bench_envfile.py [--keys 10,1000,10000,40000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from importlib.util import find_spec
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conda_limits.limits.model import parse_limits
from conda_limits.state import environment_yml


def document(keys: int) -> str:
    lines = ["name: big\n", "dependencies:\n", "  - python\n", "limits:\n", "  vmem: 4G\n"]
    lines += [f"key{i}: value {i}  # comment {i}\n" for i in range(keys)]
    return "".join(lines)


def best(rounds: int, action) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", default="10,1000,10000,40000")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    parser_kind = "C (libyaml)" if find_spec("_ruamel_yaml") else "pure Python"
    print(f"ruamel.yaml composer: {parser_kind}; best of {args.rounds} rounds")
    print(f"{'keys':>7}  {'size':>9}  {'load (show -f)':>15}  {'set (set -f)':>13}")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "environment.yml")
        for keys in (int(k) for k in args.keys.split(",")):
            text = document(keys)
            path.write_text(text)
            load = best(args.rounds, lambda: environment_yml.load(path))
            values = iter(range(1000, 1000 + args.rounds))
            edit = best(args.rounds, lambda values=values: environment_yml.set_limits(
                path, parse_limits({"nofile": next(values)})))
            print(f"{keys:>7}  {len(text) / 1024:>7.0f} K  {load:>13.3f} s  {edit:>11.3f} s")


if __name__ == "__main__":
    main()
