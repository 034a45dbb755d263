"""``--mem``: a real OOM kill in a real cgroup where this machine allows one, and refusal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conda_limits.system import cgroups, memory_cap
from conda_limits.system.cgroups import Mount

from .processes import running, wait_until

MiB = 2**20

MOUNTINFO = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
CONTAINER_MOUNTINFO = """\
900 800 0:32 /docker/abc /sys/fs/cgroup/my\\040memory ro,nosuid shared:9 - cgroup cgroup rw,memory
"""
PROC_CGROUP = """\
9:name=systemd:/
4:memory:/process_api/51a2
2:cpu,cpuacct:/
0::/user.slice/app.scope
"""


def test_mounts_and_own_cgroups_are_read_from_proc():
    v2, v1 = cgroups.mounts(MOUNTINFO)
    assert v2 == Mount(Path("/sys/fs/cgroup/unified"), "/")
    assert v1 == Mount(Path("/sys/fs/cgroup/memory"), "/")
    assert cgroups.own_cgroups(PROC_CGROUP) == ("/user.slice/app.scope", "/process_api/51a2")
    assert v1.directory("/process_api/51a2") == Path("/sys/fs/cgroup/memory/process_api/51a2")
    assert v2.directory("/") == Path("/sys/fs/cgroup/unified")


def test_a_mount_of_part_of_the_hierarchy_maps_paths_inside_it_only():
    v2, v1 = cgroups.mounts(CONTAINER_MOUNTINFO)
    assert v2 is None
    assert v1 == Mount(Path("/sys/fs/cgroup/my memory"), "/docker/abc")
    assert v1.directory("/docker/abc") == Path("/sys/fs/cgroup/my memory")
    assert v1.directory("/docker/abc/x") == Path("/sys/fs/cgroup/my memory/x")
    assert v1.directory("/elsewhere") is None


def cgroup_dir(path: Path, subtree: str) -> Path:
    """A directory laid out like a cgroup v2 one (the files the backend reads)."""
    path.mkdir(parents=True)
    (path / "cgroup.subtree_control").write_text(subtree + "\n")
    (path / "cgroup.procs").write_text("")
    return path


def test_a_v2_child_goes_under_the_nearest_ancestor_that_enables_memory(tmp_path):
    root = cgroup_dir(tmp_path / "root", "cpu memory pids")
    cgroup_dir(root / "user.slice", "cpu")
    cgroup_dir(root / "user.slice" / "app.scope", "")
    mount = Mount(root, "/")
    assert cgroups.v2_parent(mount, "/user.slice/app.scope") == (root, "")
    # The root cgroup itself may hold processes and have children with controllers.
    assert cgroups.v2_parent(mount, "/")[0] == root
    (root / "cgroup.subtree_control").write_text("cpu\n")
    assert cgroups.v2_parent(mount, "/user.slice/app.scope") == (
        None, f"no memory controller is enabled in cgroup v2 at {root}")
    assert cgroups.v2_parent(mount, None)[0] is None


def test_an_unknown_backend_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown memory cap backend"):
        memory_cap.choose(MiB, backends=("cgroup v3",))


def usable_backend(name: str | None = None) -> str:
    """The backend ``memory_cap`` picks here (or ``name``); skip where none is usable."""
    try:
        cap = memory_cap.choose(64 * MiB, (name,) if name else cgroups.BACKENDS)
    except memory_cap.MemoryCapUnavailable as error:
        pytest.skip(f"no usable memory cgroup here ({error}); on cgroup v1 this needs root")
    cap.close()
    return cap.backend


RUN = """\
import json, sys
from conda_limits.run import command
from conda_limits.system import memory_cap
a = json.loads(sys.argv[1])
try:
    sys.exit(command.run(a["prefix"], a["command"], mem=a["mem"], report=a.get("report", False),
                         mem_backends=a.get("backends", ("systemd", "cgroup v2", "cgroup v1"))))
except memory_cap.MemoryCapUnavailable as error:
    print("refused:", error, file=sys.stderr)
    sys.exit(3)
"""


def run_with_mem(prefix: Path, command: list[str], mem: int, report=False, **kwargs):
    """Run the runner in its own process; returns its result and pid (which names its cgroup)."""
    args = json.dumps({"prefix": str(prefix), "command": command, "mem": mem, "report": report})
    with subprocess.Popen([sys.executable, "-c", RUN, args], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, **kwargs) as proc:
        out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), proc.pid


@pytest.fixture
def env(tmp_path: Path) -> Path:
    prefix = tmp_path / "env"
    (prefix / "conda-meta").mkdir(parents=True)
    return prefix


def leftover_cgroups(pid: int) -> list[Path]:
    """The cgroups that the runner in process ``pid`` made under this process's cgroups
    (other runs, e.g. other test sessions', may come and go there meanwhile)."""
    mountinfo = Path("/proc/self/mountinfo").read_text()
    v2_mount, v1_mount = cgroups.mounts(mountinfo)
    v2_own, v1_own = cgroups.own_cgroups(Path("/proc/self/cgroup").read_text())
    found = []
    for mount, own in ((v1_mount, v1_own), (v2_mount, v2_own)):
        directory = mount.directory(own) if mount and own else None
        if directory is not None and directory.is_dir():
            found += list(directory.glob(f"{cgroups.NAME_PREFIX}{pid}-*"))
    return found


TOUCH_600M = "x = bytearray(b'1') * (600 << 20)\nprint('survived')"


def test_oom_kill_under_mem_gives_137_and_its_line_and_the_cgroup_is_removed(env):
    backend = usable_backend()
    proc, pid = run_with_mem(env, [sys.executable, "-c", TOUCH_600M], 150 * MiB, report=True)
    assert proc.returncode == 128 + signal.SIGKILL, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert lines[0] == ("conda-limits: the --mem limit stopped the command: its memory reached "
                        "150 MiB and the kernel's OOM killer ended it (SIGKILL)")
    assert any(line.startswith(f"  --mem:       150 MiB ({backend})") and
               line.endswith("OOM kills 1") for line in lines)
    assert any(line.startswith("  --mem order: ") and line.endswith(f"{backend}: used")
               for line in lines)
    assert leftover_cgroups(pid) == []


def test_cgroup_v1_takes_the_limit_and_counts_the_oom_kill(env):
    usable_backend("cgroup v1")
    cap = memory_cap.choose(150 * MiB, backends=("cgroup v1",))
    try:
        assert (cap.directory / "memory.limit_in_bytes").read_text().strip() == str(150 * MiB)
        child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()\n"
                                  + TOUCH_600M], stdin=subprocess.PIPE, text=True)
        cap.attach(child.pid)
        assert str(child.pid) in (cap.directory / "cgroup.procs").read_text().split()
        child.communicate("go")
        assert child.returncode == -signal.SIGKILL
        stats = cap.stats()
        assert stats.oom_kills == 1 and stats.limit == 150 * MiB
        assert 140 * MiB <= stats.peak <= 150 * MiB
    finally:
        cap.close()
    assert not cap.directory.exists()


def test_a_command_under_its_cap_runs_normally(env):
    usable_backend()
    proc, _ = run_with_mem(env, [sys.executable, "-c", "x = bytearray(b'1') * (20 << 20); "
                                 "print('fine')"], 150 * MiB)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "fine\n", "")


def test_processes_left_in_the_cgroup_are_stopped_and_the_cgroup_removed(env):
    usable_backend()
    proc, pid = run_with_mem(env, ["sh", "-c", "sleep 300 & echo $!"], 150 * MiB)
    assert proc.returncode == 0
    assert proc.stderr == ("conda-limits: stopped 1 process(es) the command left running in "
                           "its --mem cgroup\n")
    assert not running(int(proc.stdout))
    assert leftover_cgroups(pid) == []


def test_stale_cgroups_of_dead_runs_are_cleaned_up():
    usable_backend("cgroup v1")
    cap = memory_cap.choose(64 * MiB, backends=("cgroup v1",))
    parent = cap.directory.parent
    cap.close()
    stale = parent / f"{cgroups.NAME_PREFIX}999999999-dead"
    stale.mkdir()
    cap = memory_cap.choose(64 * MiB, backends=("cgroup v1",))
    cap.close()
    assert not stale.exists()


def test_a_runner_killed_with_sigkill_leaves_its_cgroup_to_the_next_run(env, tmp_path):
    """The command dies with its runner; what it left running stays capped in the cgroup
    until the next --mem run notices the dead owner, stops it and removes the cgroup."""
    from conda_limits.run import process

    usable_backend("cgroup v1")
    if process._setpriv() is None:
        pytest.skip("no util-linux setpriv with --pdeathsig here")
    pids = tmp_path / "pids"
    args = json.dumps({"prefix": str(env), "mem": 150 * MiB, "command": [
        "sh", "-c", f'sleep 300 & echo $$ $! > "{pids}"; exec sleep 300']})
    proc = subprocess.Popen([sys.executable, "-c", RUN, args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    assert wait_until(lambda: pids.exists() and len(pids.read_text().split()) == 2)
    command, left = map(int, pids.read_text().split())
    try:
        proc.kill()
        proc.wait(timeout=60)
        assert wait_until(lambda: not running(command))
        assert running(left) and len(leftover_cgroups(proc.pid)) == 1
        memory_cap.choose(64 * MiB, backends=("cgroup v1",)).close()  # the next run
        assert wait_until(lambda: not running(left))
        assert leftover_cgroups(proc.pid) == []
    finally:
        for pid in (command, left):
            if running(pid):
                os.kill(pid, signal.SIGKILL)


def unprivileged_python() -> list[str]:
    """A Python that the user nobody can run with conda_limits importable, else skip."""
    import conda_limits

    source = str(Path(conda_limits.__file__).parent.parent)
    for python in (sys.executable, "/usr/bin/python3"):
        try:
            probe = subprocess.run([python, "-c", "import conda_limits.run.command"], user=65534,
                                   group=65534, env={"PYTHONPATH": source}, capture_output=True)
        except OSError:
            continue
        if probe.returncode == 0:
            return [python]
    pytest.skip("no Python that an unprivileged user can run imports conda_limits here")


def test_without_a_usable_backend_nothing_runs():
    """As an unprivileged user on a machine without systemd, no cgroup can be written (root
    runs this as the user nobody; an unprivileged user runs it as itself): with the cgroup
    backends alone allowed (the watch left out), nothing runs."""
    import conda_limits

    source = str(Path(conda_limits.__file__).parent.parent)
    if os.geteuid() == 0:
        python = unprivileged_python()
        as_nobody = {"user": 65534, "group": 65534,
                     "env": {"PYTHONPATH": source, "PATH": os.environ["PATH"]}}
    else:
        python = [sys.executable]
        as_nobody = {"env": {**os.environ, "PYTHONPATH": source}}
    probe = subprocess.run(
        [*python, "-c", "from conda_limits.system import memory_cap\ntry:\n"
         " memory_cap.choose(1 << 26, ('systemd', 'cgroup v2', 'cgroup v1')).close()\n"
         "except memory_cap.MemoryCapUnavailable:\n"
         " raise SystemExit(3)"], capture_output=True, text=True, **as_nobody)
    if probe.returncode != 3:
        pytest.skip(f"an unprivileged user can cap memory here ({probe.stderr.strip()})")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        folder.chmod(0o777)
        (folder / "env" / "conda-meta").mkdir(parents=True)
        marker = folder / "ran"
        args = json.dumps({"prefix": str(folder / "env"), "command": ["touch", str(marker)],
                           "mem": 150 * MiB})
        proc = subprocess.run([*python, "-c", RUN, args], capture_output=True, text=True,
                              timeout=120, **as_nobody)
        assert proc.returncode == 3, proc.stderr
        assert proc.stderr.startswith("refused: no backend can enforce a memory cap here")
        for backend in cgroups.BACKENDS:
            assert f"{backend}: " in proc.stderr
        assert not marker.exists()
