"""Writers at once and writers killed mid-write: how many trials left anything inconsistent.

Figures, not a test (the tests run a few of the same trials). Real processes, each writing an
environment's limits as ``conda limits set`` does:

- parallel trials: W processes started at the same moment set W different limits (every
  limit must be kept), or the same two limits to different values (one writer's pair must
  win whole), or set and remove all at once; afterwards the scripts must be exactly what the
  record calls for, with no temporary file left.
- kill trials: a writer killed with SIGKILL at each step of its write in turn (a change of
  existing limits, the first limits, removing all). After each kill every file must be whole
  (the old or the new version), the record old or new, and ``prefix_files.check`` must say
  whether the scripts follow the record; the next write must leave scripts that follow it
  and no temporary file.

The writers drive the conda-free core; when conda is importable in this interpreter, the same
trials run through the real ``conda limits set`` CLI too (``--no-cli`` skips them).
A trial is inconsistent if any of those checks fails. Goal: 0.

Usage: python benchmarks/bench_writes.py [--trials N] [--no-cli]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conda_limits.limits.model import LimitSet
from conda_limits.state import prefix_files, record
from tests.writers import (  # noqa: E402
    VALUES,
    expected,
    limits_of,
    run_together,
    run_writer,
    scripts_follow,
    settled,
)

OLD = {"nofile": 1024, "vmem": "8G"}
KILLS = {"change": (OLD, {"nofile": 2048, "data": "4G"}), "create": (None, {"nofile": 2048}),
         "remove": (OLD, None)}


class Tally:
    """Trials run and trials that left something inconsistent, per kind."""

    def __init__(self) -> None:
        self.rows: dict[str, list[int]] = {}

    def add(self, kind: str, consistent: bool, note: str = "") -> None:
        row = self.rows.setdefault(kind, [0, 0])
        row[0] += 1
        row[1] += not consistent
        if not consistent:
            print(f"  INCONSISTENT: {kind} {note}", flush=True)

    def print(self) -> int:
        width = max(len(kind) for kind in self.rows)
        for kind, (trials, bad) in self.rows.items():
            print(f"{kind:<{width}}  trials {trials:>5}  inconsistent {bad:>3}")
        return sum(bad for _, bad in self.rows.values())


def fresh(folder: Path, name: str) -> Path:
    prefix = folder / name
    (prefix / "conda-meta").mkdir(parents=True)
    return prefix


def holds(check: Callable[[], object]) -> bool:
    """Whether ``check`` passes (its assertions hold, nothing raises)."""
    try:
        check()
    except Exception as error:  # noqa: BLE001 (an assertion, a broken record: inconsistent)
        print(f"    {type(error).__name__}: {error}"[:300], flush=True)
        return False
    return True


def parallel_trials(folder: Path, trials: int, cli: bool, tally: Tally) -> None:
    via = "cli" if cli else "core"
    everything = limits_of({key: values[0] for key, values in VALUES.items()})
    for trial in range(trials):
        prefix = fresh(folder, f"{via}-different-{trial}")
        run_together(prefix, [{key: values[0]} for key, values in VALUES.items()], cli=cli)
        tally.add(f"parallel ({via}): {len(VALUES)} writers, different limits",
                  holds(lambda prefix=prefix: _equal(settled(prefix), everything)))
        prefix = fresh(folder, f"{via}-same-{trial}")
        values = [1000 + n for n in range(6)]
        run_together(prefix, [{"nofile": value, "cpu": f"{value}s"} for value in values],
                     cli=cli)
        tally.add(f"parallel ({via}): 6 writers, the same limits",
                  holds(lambda prefix=prefix, values=values: _one_writer_won(prefix, values)))
        prefix = fresh(folder, f"{via}-mixed-{trial}")
        run_together(prefix, [{"nofile": 1024}, None, {"vmem": "8G"}, None, {"data": "4G"}],
                     cli=cli)
        tally.add(f"parallel ({via}): 5 writers setting and removing",
                  holds(lambda prefix=prefix: settled(prefix)))


def _equal(got: LimitSet, wanted: LimitSet) -> None:
    assert got == wanted, f"kept {sorted(got)} of {sorted(wanted)}"


def _one_writer_won(prefix: Path, values: list[int]) -> None:
    limits = settled(prefix)
    assert limits["nofile"].soft in values and limits["cpu"].soft == limits["nofile"].soft


def kill_trials(folder: Path, trials: int, cli: bool, tally: Tally) -> None:
    via = "cli" if cli else "core"
    for trial in range(trials):
        for name, (old_values, new_values) in KILLS.items():
            old = limits_of(old_values or {})
            new = LimitSet() if new_values is None else old.merged(limits_of(new_values))
            step = 1
            while True:
                prefix = fresh(folder, f"{via}-kill-{name}-{trial}-{step}")
                if old_values is not None:
                    prefix_files.write(prefix, old)
                code = run_writer(prefix, new_values, kill_at=step, cli=cli)
                killed = code != 0
                tally.add(f"kills ({via}): {name}, every step",
                          holds(lambda prefix=prefix, old=old, new=new, killed=killed,
                                new_values=new_values:
                                _after_kill(prefix, old, new, killed, new_values, cli)),
                          f"at step {step}")
                if not killed:
                    break
                step += 1


def _after_kill(prefix: Path, old: LimitSet, new: LimitSet, killed: bool,
                new_values: dict[str, object] | None, cli: bool) -> None:
    current = record.read(prefix)
    assert current in (old, new), f"the record holds {current}"
    for path in prefix_files.script_paths(prefix):
        if path.exists():
            rel = str(path.relative_to(prefix))
            assert path.read_bytes() in (expected(old).get(rel), expected(new).get(rel)), \
                f"{rel} is torn"
    state = prefix_files.check(prefix)
    truth = scripts_follow(prefix, current) and not prefix_files.leftovers(prefix)
    assert state.in_step == truth, "check() misjudged the scripts"
    if killed:
        assert run_writer(prefix, new_values, cli=cli) == 0, "the next write failed"
    assert settled(prefix) == new, "the next write did not finish the change"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10,
                        help="rounds of each kind of trial (default 10)")
    parser.add_argument("--no-cli", action="store_true",
                        help="only the core, even where conda is importable")
    args = parser.parse_args()
    ways = [False]
    if importlib.util.find_spec("conda") is not None and not args.no_cli:
        ways.append(True)
    else:
        print("conda is not importable here: core writers only")
    tally = Tally()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-writes-") as folder:
        for cli in ways:
            parallel_trials(Path(folder), args.trials, cli, tally)
            kill_trials(Path(folder), args.trials, cli, tally)
    print(f"\n{'writers: conda-free core' + (' and conda limits set' if len(ways) > 1 else '')}"
          f"; {time.monotonic() - started:.0f} s")
    bad = tally.print()
    print(f"\ninconsistent in total: {bad} (goal 0)")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
