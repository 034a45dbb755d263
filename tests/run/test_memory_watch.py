"""``--mem`` for every user: the ``watch`` backend with real processes (it needs no privilege,
so it runs as root and as an unprivileged user alike), the backend names and order, and a
cap that stops the whole command on the cgroup backends too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conda_limits.system import cgroups, memory_cap, memory_watch
from conda_limits.usage import log

from .processes import running

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="/proc is Linux's")
SOURCE = str(Path(__file__).resolve().parents[2])
MiB = 1 << 20

# The runner in its own process, as `conda run-limited` runs it, recording the run.
RUN = textwrap.dedent("""
    import json, sys
    from conda_limits.run import command
    a = json.loads(sys.argv[1])
    sys.exit(command.run(a["prefix"], a["command"], mem=a["mem"], mem_backends=a["backends"],
                         report=True, record_usage=True))
""")
# Grows by 10 MiB every 20 ms for ever.
GROW = ("import time\nheld = []\nwhile True:\n    held.append(bytearray(b'1') * (10 << 20))\n"
        "    time.sleep(0.02)\n")
# A parent that forks N workers, each growing to SIZE MiB, holding it for a while; the
# parent then prints its result.
WORKERS = textwrap.dedent("""
    import os, sys, time
    count, size = int(sys.argv[1]), int(sys.argv[2])
    pids = []
    for _ in range(count):
        pid = os.fork()
        if pid == 0:
            held = [bytearray(b"1") * (10 << 20) for _ in range(size // 10)
                    if time.sleep(0.02) is None]
            time.sleep(3)
            os._exit(0)
        pids.append(pid)
    with open(sys.argv[3], "w") as handle:
        handle.write(" ".join(map(str, pids)))
    failed = sum(os.waitpid(pid, 0)[1] != 0 for pid in pids)
    print("result", failed, flush=True)
""")
# Forks a process that leaves the session, forks again and exits (a daemon); the daemon
# writes its pid to argv[1], then grows (argv[2] == "grow") or sleeps.
DAEMON = textwrap.dedent("""
    import os, sys, time
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            with open(sys.argv[1] + ".tmp", "w") as handle:
                handle.write(str(os.getpid()))
            os.rename(sys.argv[1] + ".tmp", sys.argv[1])
            held = []
            while True:
                if sys.argv[2] == "grow":
                    held.append(bytearray(b"1") * (10 << 20))
                time.sleep(0.02)
        os._exit(0)
    os.wait()
""")


@pytest.fixture
def env(tmp_path: Path) -> Path:
    prefix = tmp_path / "env"
    (prefix / "conda-meta").mkdir(parents=True)
    return prefix


def run(prefix: Path, command: list[str], mem: int, tmp_path: Path,
        backends: tuple[str, ...] = ("watch",)) -> subprocess.CompletedProcess[str]:
    args = json.dumps({"prefix": str(prefix), "command": command, "mem": mem,
                       "backends": list(backends)})
    return subprocess.run([sys.executable, "-c", RUN, args], capture_output=True, text=True,
                          timeout=120, check=False, env={**os.environ, "PYTHONPATH": SOURCE,
                                            "XDG_STATE_HOME": str(tmp_path / "state")})


def the_run(prefix: Path, tmp_path: Path) -> log.Run:
    (entry,) = log.read(prefix, environ={"XDG_STATE_HOME": str(tmp_path / "state")}).runs
    return entry


def pids_in(path: Path) -> list[int]:
    return [int(pid) for pid in path.read_text().split()] if path.exists() else []


def test_a_program_growing_past_the_cap_is_stopped_and_mem_is_named(env, tmp_path):
    result = run(env, [sys.executable, "-c", GROW], 200 * MiB, tmp_path)
    assert result.returncode == 143, result.stderr  # SIGTERM
    lines = result.stderr.splitlines()
    assert lines[0].startswith("conda-limits: the --mem limit stopped the command: the "
                               "resident memory of its processes reached ")
    assert "past the cap of 200 MiB" in lines[0] and "enforced by watching" in lines[0]
    assert any(line.startswith("  --mem:       200 MiB (watch) enforced by watching")
               and line.endswith("stopped by the cap") for line in lines)
    assert any(line.startswith("  --mem order: ") and line.endswith("watch: used")
               for line in lines)
    entry = the_run(env, tmp_path)
    assert entry.stopped_by == "mem" and entry.signal == "SIGTERM"
    assert entry.mem.limit == 200 * MiB and entry.mem.oom_kills == 1
    assert entry.mem.peak > 200 * MiB


def test_a_program_under_the_cap_runs_to_the_end_with_its_status(env, tmp_path):
    code = ("import time\nx = bytearray(b'1') * (50 << 20)\ntime.sleep(1)\nprint('done')\n"
            "raise SystemExit(7)")  # held for several looks: the peak is what they saw
    result = run(env, [sys.executable, "-c", code], 200 * MiB, tmp_path)
    assert (result.returncode, result.stdout) == (7, "done\n")
    assert "stopped" not in result.stderr
    entry = the_run(env, tmp_path)
    assert entry.stopped_by is None and entry.mem.oom_kills == 0
    assert 50 * MiB <= entry.mem.peak < 200 * MiB


def test_workers_are_counted_together(env, tmp_path):
    """Three workers of 150 MiB: each under the 300 MiB cap, together past it."""
    pids = tmp_path / "pids"
    result = run(env, [sys.executable, "-c", WORKERS, "3", "150", str(pids)], 300 * MiB,
                 tmp_path)
    assert result.returncode == 143, result.stderr
    assert "result" not in result.stdout  # the parent was stopped with its workers
    assert result.stderr.startswith("conda-limits: the --mem limit stopped the command")
    assert pids_in(pids) and not any(running(pid) for pid in pids_in(pids))


def test_pages_shared_after_fork_count_once(env, tmp_path):
    """A parent holding 150 MiB forks three children that only read it: the resident sizes
    add up to 600 MiB, the memory used is 150 MiB (PSS decides), under the 400 MiB cap."""
    code = textwrap.dedent("""
        import os, time
        held = bytearray(b"1") * (150 << 20)
        pids = []
        for _ in range(3):
            pid = os.fork()
            if pid == 0:
                time.sleep(1.5)
                os._exit(held[-1] - 49)   # 0: the byte is "1"
            pids.append(pid)
        print("kept", sum(os.waitpid(pid, 0)[1] for pid in pids), flush=True)
    """)
    result = run(env, [sys.executable, "-c", code], 400 * MiB, tmp_path)
    assert (result.returncode, result.stdout) == (0, "kept 0\n"), result.stderr
    entry = the_run(env, tmp_path)
    assert entry.stopped_by is None and 150 * MiB <= entry.mem.peak < 400 * MiB


def test_a_daemon_that_grows_is_still_watched_and_stopped(env, tmp_path):
    daemon = tmp_path / "daemon"
    command = ["sh", "-c", f'"$0" -c "$1" "{daemon}" grow; sleep 60', sys.executable, DAEMON]
    result = run(env, command, 200 * MiB, tmp_path)
    assert any(line.startswith("conda-limits: the --mem limit stopped the command: the "
                               "resident memory of its processes reached ")
               for line in result.stderr.splitlines()), result.stderr  # (sh may say Terminated)
    assert pids_in(daemon) and not running(pids_in(daemon)[0])


def test_a_daemon_left_running_is_stopped_when_the_command_ends(env, tmp_path):
    daemon = tmp_path / "daemon"
    script = f'"$0" -c "$1" "{daemon}" sleep; while [ ! -e "{daemon}" ]; do sleep 0.05; done'
    command = ["sh", "-c", script, sys.executable, DAEMON]
    result = run(env, command, 200 * MiB, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0] == ("conda-limits: stopped 1 process(es) the command "
                                             "left running (the --mem watch found them)")
    assert not running(pids_in(daemon)[0])


def usable_cgroup() -> str:
    try:
        cap = memory_cap.choose(64 * MiB, cgroups.BACKENDS)
    except memory_cap.MemoryCapUnavailable as error:
        pytest.skip(f"no usable memory cgroup here ({error}); on cgroup v1 this needs root")
    cap.close()
    return cap.backend


def test_an_oom_kill_of_one_worker_stops_the_whole_command(env, tmp_path):
    """Under a cgroup (v1 kills one process; v2 with memory.oom.group kills all): the parent
    does not go on to print its result, the line and the usage log name mem."""
    backend = usable_cgroup()
    pids = tmp_path / "pids"
    result = run(env, [sys.executable, "-c", WORKERS, "3", "200", str(pids)], 300 * MiB,
                 tmp_path, backends=cgroups.BACKENDS)
    assert result.returncode == 137, result.stderr
    assert "result" not in result.stdout
    assert result.stderr.startswith("conda-limits: the --mem limit stopped the command: its "
                                    "memory reached 300 MiB"), result.stderr
    assert f"({backend})" in result.stderr
    assert not any(running(pid) for pid in pids_in(pids))
    entry = the_run(env, tmp_path)
    assert entry.stopped_by == "mem" and entry.mem.oom_kills >= 1


def test_backend_names_order_and_what_forces_them():
    assert memory_cap.ORDER == ("systemd", "cgroup v2", "cgroup v1", "watch")
    assert memory_cap.spelled("auto") == memory_cap.ORDER
    assert memory_cap.spelled("cgroup-v1") == memory_cap.spelled("cgroup v1") == ("cgroup v1",)
    with pytest.raises(ValueError, match="unknown --mem backend 'cgroup-v3': choose one of "
                       "auto, systemd, cgroup-v2, cgroup-v1, watch"):
        memory_cap.spelled("cgroup-v3")
    variable = {memory_cap.VARIABLE: "watch"}
    assert memory_cap.wanted(environ={}) == memory_cap.ORDER
    assert memory_cap.wanted(environ={}, configured="cgroup-v2") == ("cgroup v2",)
    assert memory_cap.wanted(environ=variable, configured="cgroup-v2") == ("watch",)
    assert memory_cap.wanted("systemd", environ=variable) == ("systemd",)
    with pytest.raises(ValueError, match=f"^{memory_cap.VARIABLE}: unknown --mem backend"):
        memory_cap.wanted(environ={memory_cap.VARIABLE: "ram"})


def test_the_survey_ends_with_the_watch_which_is_what_choose_gives_without_a_cgroup():
    survey = memory_cap.survey()
    assert [name for name, _ in survey] == list(memory_cap.ORDER)
    assert survey[-1] == ("watch", None)
    first = next(name for name, reason in survey if reason is None)
    cap = memory_cap.choose(64 * MiB)
    try:
        assert cap.backend == {"systemd": "systemd scope"}.get(first, first)
        assert [line.split(":")[0] for line in cap.skipped] == \
            [name for name, _ in survey[:memory_cap.ORDER.index(first)]]
    finally:
        cap.close()


def test_forcing_only_cgroups_where_none_is_usable_is_refused_with_each_reason():
    try:
        memory_cap.choose(64 * MiB, cgroups.BACKENDS).close()
        pytest.skip("a cgroup can cap memory here")
    except memory_cap.MemoryCapUnavailable as error:
        assert [reason.split(":")[0] for reason in error.reasons] == list(cgroups.BACKENDS)


def test_the_interval_shortens_near_the_cap_and_with_growth():
    watch = memory_watch.MemoryWatch(1000 * MiB)
    far = watch._next_interval(100 * MiB, 1.0)
    near = watch._next_interval(960 * MiB, 1.0)
    assert far == memory_watch.MAX_INTERVAL and memory_watch.MIN_INTERVAL <= near < far / 4
    watch._last = (1.0, 500 * MiB)
    # growing 1 GiB/s with 400 MiB left: at most half of the 0.39 s it needs
    assert watch._next_interval(600 * MiB, 1.1) <= 0.2
    assert watch._next_interval(990 * MiB, 1.5) == memory_watch.MIN_INTERVAL


def test_the_line_of_show_names_the_backend_a_command_gets_here():
    line = memory_cap.order_here()
    first = next(name for name, reason in memory_cap.survey() if reason is None)
    assert line.startswith(first.replace(" ", "-"))
    assert memory_cap.order_here(("watch",)) == "watch (by watching the command's memory)"


def test_a_program_that_ignores_sigterm_is_killed_after_the_grace(env, tmp_path):
    code = "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n" + GROW
    result = run(env, [sys.executable, "-c", code], 200 * MiB, tmp_path)
    assert result.returncode == 137, result.stderr  # SIGKILL
    assert result.stderr.startswith("conda-limits: the --mem limit stopped the command: the "
                                    "resident memory of its processes reached ")
    assert the_run(env, tmp_path).stopped_by == "mem"
