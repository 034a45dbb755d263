"""Runs recorded by the runner (``conda run-limited``'s core) with real processes: what a
known program used, suggestions from it, 20 runs at once, a read-only prefix, a full disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conda_limits.limits import resources
from conda_limits.limits.resources import MEM
from conda_limits.usage import log
from conda_limits.usage.suggest import MARGIN, readable, suggest

from ..test_prefix_files import read_only
from .test_log import fill, small_tmpfs

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="prlimit and /proc are Linux's")
SOURCE = str(Path(__file__).resolve().parents[2])
MiB = 1 << 20

# Runs the runner as `conda run-limited` does (its own process), recording the run.
RUN = textwrap.dedent("""
    import json, sys
    from conda_limits.run import command
    from conda_limits.limits.model import parse_limits
    a = json.loads(sys.argv[1])
    sys.exit(command.run(a["prefix"], a["command"], parse_limits(a.get("limits")),
                         record_usage=True))
""")
# Holds SIZE MiB touched (resident, data segment, address space) for a few of the runner's
# looks, then ends with status 0.
GROW = textwrap.dedent("""
    import sys, time
    held = bytearray(int(sys.argv[1]) << 20)
    held[::4096] = b"x" * len(held[::4096])
    print("grew", flush=True)
    time.sleep(0.5)
""")


@pytest.fixture
def env(tmp_path: Path) -> Path:
    prefix = tmp_path / "env"
    (prefix / "conda-meta").mkdir(parents=True)
    return prefix


def environ(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": SOURCE, "XDG_STATE_HOME": str(tmp_path / "state"),
            **extra}


def spawn(prefix: Path, command: list[str], tmp_path: Path, limits: dict | None = None,
          **popen) -> subprocess.Popen:
    args = json.dumps({"prefix": str(prefix), "command": command, "limits": limits})
    return subprocess.Popen([sys.executable, "-c", RUN, args], env=environ(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def run(prefix: Path, command: list[str], tmp_path: Path,
        limits: dict | None = None) -> tuple[int, str, str]:
    proc = spawn(prefix, command, tmp_path, limits)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def runs(prefix: Path, tmp_path: Path):
    return log.read(prefix, environ={"XDG_STATE_HOME": str(tmp_path / "state")}).runs


def grow(size: int) -> list[str]:
    return [sys.executable, "-c", GROW, str(size)]


def test_a_program_of_known_size_gets_suggestions_above_it_within_the_margin(env, tmp_path):
    size = 400
    assert run(env, grow(0), tmp_path)[0] == 0  # the interpreter alone
    (baseline,) = runs(env, tmp_path)
    log.clear(env, environ={"XDG_STATE_HOME": str(tmp_path / "state")})
    for _ in range(3):
        code, out, err = run(env, grow(size), tmp_path, {"data": "2G", "nofile": 4096})
        assert (code, out, err) == (0, "grew\n", "")
    recorded = runs(env, tmp_path)
    assert len(recorded) == 3
    for entry in recorded:
        assert entry.via == "run-limited" and entry.command == os.path.basename(sys.executable)
        assert entry.status == 0 and entry.stopped_by is None
        assert entry.limits["data"] == 2 << 30 and entry.limits["nofile"] == 4096
        assert entry.used["rss"] >= size * MiB and entry.used["data"] >= size * MiB
    found = {s.key: s for s in suggest(recorded, {"data": 2 << 30})}
    for key, resource in (("data", resources.get("data")), ("vmem", resources.get("vmem")),
                          ("mem", MEM)):
        measure = "rss" if key == "mem" else key
        ceiling = readable(resource, (size * MiB + baseline.used[measure]) * (1 + MARGIN))
        assert size * MiB < found[key].value <= ceiling, (key, found[key])
        assert found[key].runs == 3
    assert found["data"].current == 2 << 30


def test_a_run_a_limit_stopped_is_recorded_as_stopped_by_it(env, tmp_path):
    code, _, err = run(env, ["sh", "-c", "while :; do :; done"], tmp_path, {"cpu": 1})
    assert code == 152 and "the cpu limit stopped the command" in err
    (entry,) = runs(env, tmp_path)
    assert entry.stopped_by == "cpu" and entry.signal == "SIGXCPU" and entry.status == 152
    assert entry.limits["cpu"] == 1 and entry.command == "sh"


@pytest.mark.parametrize(("key", "limit", "proposed_above"), [
    ("data", "256M", 256 * MiB), ("vmem", "512M", 512 * MiB)])
def test_runs_failing_at_once_under_a_memory_limit_count_as_stopped_by_it(env, tmp_path, key,
                                                                          limit, proposed_above):
    """One allocation too large fails at once (MemoryError) with tiny peaks: recorded as
    completed runs, they had suggest propose half the limit, and --apply write it."""
    command = [sys.executable, "-c", "x = bytearray(600 << 20)"]
    for _ in range(3):
        code, _, err = run(env, command, tmp_path, {key: limit})
        assert code == 1 and "MemoryError" in err
        assert f"an allocation did not fit under the {key} limit" in err
    recorded = runs(env, tmp_path)
    assert [entry.stopped_by for entry in recorded] == [key] * 3
    found = {s.key: s for s in suggest(recorded, {key: proposed_above})}[key]
    assert found.value is not None and found.value > proposed_above
    assert found.stopped == 3


def test_only_the_name_of_the_command_is_recorded(env, tmp_path):
    secret = "--password=hunter2"
    assert run(env, ["sh", "-c", "exit 0", secret], tmp_path)[0] == 0
    text = (env / log.LOG).read_text()
    assert "hunter2" not in text and "exit 0" not in text
    assert json.loads(text)["command"] == "sh"


def test_twenty_runs_at_once_are_all_recorded(env, tmp_path):
    procs = [spawn(env, ["sh", "-c", f"exit {n % 4}"], tmp_path) for n in range(20)]
    for n, proc in enumerate(procs):
        proc.communicate(timeout=120)
        assert proc.returncode == n % 4
    lines = (env / log.LOG).read_text().splitlines()
    assert len(lines) == 20
    assert sorted(json.loads(line)["status"] for line in lines) == sorted(n % 4 for n in range(20))
    assert not (tmp_path / "state").exists()


def test_a_read_only_prefix_records_into_the_users_dir_and_says_nothing(env, tmp_path):
    (env / "etc" / "conda").mkdir(parents=True)
    with read_only(env / "etc" / "conda"):
        code, out, err = run(env, ["sh", "-c", "echo out; exit 3"], tmp_path)
    assert (code, out, err) == (3, "out\n", "")
    assert not (env / log.LOG).exists()
    mine = log.user_log(env, {"XDG_STATE_HOME": str(tmp_path / "state")})
    assert mine is not None and len(mine.read_text().splitlines()) == 1
    assert [entry.status for entry in runs(env, tmp_path)] == [3]


def test_a_full_disk_leaves_the_run_unharmed_and_says_so_once(tmp_path):
    with small_tmpfs() as disk:
        env = disk / "env"
        (env / "conda-meta").mkdir(parents=True)
        (env / "etc" / "conda").mkdir(parents=True)
        fill(disk)
        args = json.dumps({"prefix": str(env), "command": ["sh", "-c", "echo out; exit 5"]})
        proc = subprocess.run([sys.executable, "-c", RUN, args], capture_output=True, text=True,
                              env=environ(tmp_path, XDG_STATE_HOME=str(disk / "state")),
                              timeout=120, check=False)
    assert (proc.returncode, proc.stdout) == (5, "out\n")
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("conda-limits: this run's usage was not recorded: ")
    assert lines[0].count("No space left on device") == 2

