"""``cores``: a real CPU quota in a real cgroup where this machine allows one, and refusal."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conda_limits.limits.cpu import Cores
from conda_limits.system import cgroups
from conda_limits.system import cpu_quota as quota
from conda_limits.system.cgroups import Mount

MOUNTINFO = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
PROC_CGROUP = """\
4:memory:/process_api/51a2
3:cpuacct:/acct
2:cpu:/jobs/7
0::/user.slice/app.scope
"""


def test_the_cpu_hierarchy_and_this_process_in_it_are_read_from_proc():
    v2, v1 = cgroups.mounts(MOUNTINFO, "cpu")
    assert v2 == Mount(Path("/sys/fs/cgroup/unified"), "/")
    assert v1 == Mount(Path("/sys/fs/cgroup/cpu"), "/")
    assert cgroups.mounts(MOUNTINFO, "cpuacct")[1].path == Path("/sys/fs/cgroup/cpuacct")
    assert cgroups.own_cgroups(PROC_CGROUP, "cpu") == ("/user.slice/app.scope", "/jobs/7")
    assert cgroups.own_cgroups(PROC_CGROUP, "cpuacct")[1] == "/acct"
    combined = MOUNTINFO.replace("rw,cpu\n", "rw,cpu,cpuacct\n")
    assert cgroups.mounts(combined, "cpuacct")[1] == cgroups.mounts(
        combined, "cpu")[1]


def cgroup_dir(path: Path, subtree: str) -> Path:
    path.mkdir(parents=True)
    (path / "cgroup.subtree_control").write_text(subtree + "\n")
    (path / "cgroup.procs").write_text("")
    return path


def test_a_v2_child_goes_under_the_nearest_ancestor_that_enables_cpu(tmp_path):
    root = cgroup_dir(tmp_path / "root", "memory pids")
    cgroup_dir(root / "user.slice", "cpu memory")
    cgroup_dir(root / "user.slice" / "app.scope", "")
    mount = Mount(root, "/")
    assert cgroups.v2_parent(mount, "/user.slice/app.scope", "cpu") == (root / "user.slice", "")
    assert cgroups.v2_parent(mount, "/user.slice/app.scope", "io") == (
        None, f"no io controller is enabled in cgroup v2 at {root}")
    assert cgroups.v2_parent(mount, None, "cpu")[0] is None


def test_quota_figures_and_cpu_stat_of_both_versions():
    assert quota.quota_us(Cores(250)) == 250_000
    assert quota.quota_us(Cores(1)) == 1000
    assert quota.systemd_properties(Cores(50)) == ["-p", "CPUQuota=50%"]
    v2 = quota.parse_stat("usage_usec 900\nuser_usec 800\nnr_periods 10\nnr_throttled 4\n"
                          "throttled_usec 200\n")
    assert v2["nr_throttled"] == 4 and v2["usage_usec"] == 900
    assert quota.CpuStats("x", Cores(100), 10, 4).share() == 0.4
    assert quota.CpuStats("x", Cores(100)).share() is None


def test_v2_cpu_max_is_checked_after_writing(tmp_path):
    directory = tmp_path / "cg"
    directory.mkdir()
    quota.configure_v2(directory, Cores(150))
    assert (directory / "cpu.max").read_text() == "150000 100000"
    (directory / "cpu.max").write_text("max 100000")
    with pytest.raises(quota.CpuQuotaError, match="not in force"):
        quota.check_v2(directory, Cores(150))


def test_an_unknown_backend_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown CPU quota backend"):
        quota.cpu_quota(Cores(100), backends=("cgroup v3",))


def usable(cores: Cores) -> quota.CpuQuota:
    try:
        return quota.cpu_quota(cores)
    except quota.CpuQuotaUnavailable as error:
        pytest.skip(f"no usable cpu cgroup here ({error}); on cgroup v1 this needs root")


LOOP = "import time\nend = time.time() + 2\nwhile time.time() < end: pass"
BUSY = "import sys\nsys.stdin.read()\n" + LOOP


def child_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_busy_pair(cores: Cores) -> tuple[quota.CpuStats, float, float]:
    """Two busy loops of 2 s in a cgroup with ``cores``: its stats, the wall time, and the CPU
    time the loops' own rusage counts."""
    limited = usable(cores)
    script = 'read go; "$0" -c "$1" & "$0" -c "$1"; wait'
    try:
        child = subprocess.Popen(["sh", "-c", script, sys.executable, LOOP],
                                 stdin=subprocess.PIPE, text=True)
        limited.attach(child.pid)
        before, started = child_cpu_seconds(), time.monotonic()
        child.communicate("go\n")
        wall, used = time.monotonic() - started, child_cpu_seconds() - before
        stats = limited.stats()
    finally:
        limited.close()
    assert child.returncode == 0
    assert not limited.directory.exists()
    return stats, wall, used


def test_busy_loops_under_half_a_core_use_about_half_a_core():
    # Two loops want two cores. Other work on the machine may leave them less than half a
    # core (then the quota has nothing to hold back), never more.
    stats, wall, used = run_busy_pair(Cores(50))
    assert 0.2 <= used / wall <= 0.6, (used, wall)
    if stats.usage_us is not None:
        assert 0.2 <= stats.usage_us / 1e6 / wall <= 0.6, (stats, wall)
    assert stats.periods >= 10, stats


def test_busy_loops_under_a_tenth_of_a_core_are_throttled_in_most_periods():
    # A tenth of a core is less than two busy loops get even on a busy machine.
    stats, wall, used = run_busy_pair(Cores(10))
    assert stats.throttled_periods >= 0.5 * stats.periods >= 5, stats
    assert used / wall <= 0.15, (used, wall)
    if stats.usage_us is not None:
        assert 0.05 <= stats.usage_us / 1e6 / wall <= 0.15, (stats, wall)
    assert stats.throttled_us > 0


def test_two_cores_do_not_hold_back_a_single_thread():
    limited = usable(Cores(200))
    try:
        child = subprocess.Popen([sys.executable, "-c", BUSY.replace("2\n", "0.5\n")],
                                 stdin=subprocess.PIPE, text=True)
        limited.attach(child.pid)
        child.communicate("go")
        stats = limited.stats()
    finally:
        limited.close()
    assert stats.throttled_periods == 0, stats


def test_what_the_command_left_running_is_stopped_and_the_cgroup_removed():
    limited = usable(Cores(100))
    child = subprocess.Popen(["sh", "-c", "read x; sleep 300 >/dev/null & echo $!"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    limited.attach(child.pid)
    out, _ = child.communicate("go\n")
    limited.close()
    assert limited.removed_leftovers == 1
    assert not Path(f"/proc/{int(out)}").exists() or \
        Path(f"/proc/{int(out)}/stat").read_text().rsplit(")", 1)[1].split()[0] in "ZX"
    assert not limited.directory.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root, to run a test as an unprivileged user")
def test_as_an_unprivileged_user_without_a_backend_the_quota_is_refused_with_each_reason():
    import conda_limits

    source = str(Path(conda_limits.__file__).parent.parent)
    code = ("from conda_limits.system import cpu_quota as quota\n"
            "from conda_limits.limits.cpu import Cores\n"
            "try:\n quota.cpu_quota(Cores(100)).close()\nexcept quota.CpuQuotaUnavailable as e:\n"
            " print(e)\n raise SystemExit(3)")
    proc = subprocess.run([sys.executable, "-c", code], user=65534, group=65534,
                          env={"PYTHONPATH": source, "PATH": os.environ["PATH"]},
                          capture_output=True, text=True, check=False)
    if proc.returncode != 3:
        pytest.skip(f"an unprivileged user can use a CPU quota here ({proc.stderr.strip()})")
    assert proc.stdout.startswith("no cgroup backend can enforce a CPU quota here: systemd: ")
    for backend in quota.BACKENDS:
        assert f"{backend}: " in proc.stdout
