"""The kernel watcher with real processes: a "kernel" (a Python process that starts the
watcher and execs a program, as the launcher does) is observed until it ends and recorded."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conda_limits.jupyter import watch
from conda_limits.usage import log

from ..test_prefix_files import read_only

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
SOURCE = str(Path(__file__).resolve().parents[2])
MiB = 1 << 20

LAUNCHER = textwrap.dedent("""
    import os, sys
    from conda_limits.jupyter import watch
    watch.start(sys.argv[1], {"data": 1 << 30}, extra=["--interval", "0.1"])
    os.execv(sys.executable, [sys.executable, "-c", sys.argv[2]])
""")
# Grows to 150 MiB, opens 30 files, then ends with status 3 after a while.
GROW = textwrap.dedent("""
    import os, time
    held = bytearray(150 << 20)
    held[::4096] = b"x" * len(held[::4096])
    files = [open(os.devnull) for _ in range(30)]
    time.sleep(1.0)
    raise SystemExit(3)
""")
SPIN = "while True: pass"


@pytest.fixture
def env(tmp_path) -> Path:
    prefix = tmp_path / "env"
    (prefix / "conda-meta").mkdir(parents=True)
    return prefix


def kernel(env: Path, program: str, tmp_path: Path, **popen) -> subprocess.Popen:
    environ = {**os.environ, "PYTHONPATH": SOURCE, "XDG_STATE_HOME": str(tmp_path / "state")}
    return subprocess.Popen([sys.executable, "-c", LAUNCHER, str(env), program], env=environ,
                            **popen)


def recorded(env: Path, tmp_path: Path | dict[str, str], timeout: float = 30):
    """The runs recorded for ``env`` once there are any (the state dir under ``tmp_path``, or
    the environment variables given)."""
    environ = tmp_path if isinstance(tmp_path, dict) else \
        {"XDG_STATE_HOME": str(tmp_path / "state")}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = log.read(env, environ=environ).runs
        if runs:
            return runs
        time.sleep(0.05)
    raise AssertionError("the watcher recorded nothing")


def ended(proc: subprocess.Popen, timeout: float = 30) -> None:
    """Wait until ``proc`` has exited without reaping it (as Jupyter may be slow to)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT):
            return
        time.sleep(0.02)
    raise AssertionError("the kernel did not end")


def test_a_session_is_recorded_with_its_peaks_and_status(env, tmp_path):
    begin = time.time()
    proc = kernel(env, GROW, tmp_path)
    ended(proc)
    runs = recorded(env, tmp_path)
    proc.wait()
    (run,) = runs
    assert run.via == "kernel" and run.command == "ipykernel"
    assert run.status == 3 and run.signal is None and run.stopped_by is None
    assert begin - 1 <= run.at <= begin + 1
    assert 1.0 <= run.wall < 20
    assert 150 * MiB <= run.used["rss"] < 250 * MiB
    assert run.used["vmem"] >= run.used["rss"] and run.used["data"] >= 150 * MiB
    assert run.used["nofile"] >= 33 and run.used["procs"] == 1
    assert 0 < run.used["cpu"] < 10
    assert run.limits == {"data": 1 << 30}
    assert (env / log.LOG).exists()


def test_a_kernel_reaped_at_once_is_still_recorded(env, tmp_path):
    proc = kernel(env, GROW, tmp_path)
    assert proc.wait(timeout=30) == 3
    (run,) = recorded(env, tmp_path)
    assert run.status in (3, None)  # the zombie may be gone before the watcher looks
    assert run.used["rss"] >= 150 * MiB and run.used["cpu"] > 0


def test_a_kernel_the_cpu_limit_stops_is_recorded_as_stopped_by_it(env, tmp_path):
    proc = kernel(env, SPIN, tmp_path,
                  preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_CPU, (1, 5)))
    ended(proc)
    (run,) = recorded(env, tmp_path)
    proc.wait()
    assert run.signal == "SIGXCPU" and run.status == 128 + signal.SIGXCPU
    assert run.stopped_by == "cpu"
    assert run.used["cpu"] >= 0.5  # tick-based figures lag the exact CPU time


def test_the_watcher_is_a_fresh_interpreter_in_a_session_of_its_own(env, tmp_path):
    proc = kernel(env, "import time; time.sleep(3)", tmp_path, start_new_session=True)
    deadline = time.monotonic() + 10
    found = None
    while found is None and time.monotonic() < deadline:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if any(b"conda_limits.jupyter.watch" in arg for arg in argv) and \
                    str(proc.pid).encode() in argv:
                found = int(entry.name)
        time.sleep(0.05)
    assert found is not None, "no watcher process"
    try:
        assert os.getsid(found) != os.getsid(proc.pid)
        assert os.getpgid(found) != os.getpgid(proc.pid)
        assert Path(f"/proc/{found}/stat").read_text().split()[3] != str(proc.pid)  # ppid
        fds = {int(fd) for fd in os.listdir(f"/proc/{found}/fd")}
        assert len(fds) <= 6, fds  # stdio, the pidfd, and what Python opens itself
        modules = Path(f"/proc/{found}/maps").read_text()
        assert "libcrypto" not in modules  # hashlib (of the log) is not loaded while watching
    finally:
        proc.kill()
        proc.wait()
    recorded(env, tmp_path)


def test_a_session_that_cannot_be_recorded_says_so_once(env, tmp_path):
    (env / "etc" / "conda").mkdir(parents=True)
    state = tmp_path / "state"
    state.mkdir()
    with read_only(env / "etc" / "conda", state):
        proc = kernel(env, "pass", tmp_path, stderr=subprocess.PIPE)
        _, err = proc.communicate(timeout=30)  # EOF once the watcher has ended too
    lines = err.decode().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("conda-limits kernel: the session's usage was not recorded: ")
    assert str(env / log.LOG) in lines[0]


def test_proc_stat_of_a_zombie_has_its_status_and_cpu():
    proc = subprocess.Popen([sys.executable, "-c", "sum(range(10**7)); raise SystemExit(7)"])
    ended(proc)
    seen = watch.proc_stat(proc.pid)
    proc.wait()
    assert seen is not None and seen.state == "Z"
    assert seen.exit_status is not None and os.waitstatus_to_exitcode(seen.exit_status) == 7
    assert seen.cpu > 0
