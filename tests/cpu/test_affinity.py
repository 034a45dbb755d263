"""CPU affinity: the current set without a fork, and a configured set narrowed to it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conda_limits.limits import affinity
from conda_limits.limits.affinity import placement


def test_the_allowed_set_is_the_kernels_affinity_of_this_process():
    assert affinity.allowed_cpus() == frozenset(os.sched_getaffinity(0))


def test_the_allowed_set_of_another_process_follows_taskset():
    child = subprocess.Popen(["taskset", "-c", "0", sys.executable, "-c",
                              "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        for _ in range(200):  # until taskset has exec'd Python
            if affinity.allowed_cpus(child.pid) == {0}:
                break
            os.sched_yield()
        assert affinity.allowed_cpus(child.pid) == {0}
    finally:
        child.communicate(b"")


def test_present_cpus_cover_the_allowed_ones():
    assert affinity.allowed_cpus() <= affinity.present_cpus()
    assert len(affinity.present_cpus()) == os.cpu_count()


def test_a_set_within_the_allowed_one_is_applied_as_it_is():
    plan = placement(frozenset({1}), frozenset({0, 1}))
    assert (plan.cpus, plan.outside, plan.changes, plan.warning()) == ({1}, set(), True, None)
    same = placement(frozenset({0, 1}), frozenset({0, 1}))
    assert not same.changes and same.warning() is None


def test_cpus_outside_the_allowed_set_are_a_warning_and_left_out():
    plan = placement(frozenset({1, 2, 3, 7}), frozenset({0, 1, 2}))
    assert plan.cpus == {1, 2} and plan.changes
    assert plan.warning() == ("cpuset 1-3,7: CPU(s) 3,7 not available here (allowed: 0-2); "
                              "using 1-2")


def test_a_set_entirely_outside_leaves_the_affinity_alone():
    plan = placement(frozenset({5, 6}), frozenset({0, 1}))
    assert plan.cpus == set() and not plan.changes
    assert plan.warning() == ("cpuset 5-6: none of these CPUs is available here (allowed: 0-1); "
                              "CPU affinity left as it is")


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_set_affinity_moves_another_process_and_reads_it_back():
    code = "import os, sys; sys.stdin.read(); print(sorted(os.sched_getaffinity(0)))"
    child = subprocess.Popen([sys.executable, "-c", code],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    one = min(os.sched_getaffinity(0))
    assert affinity.set_affinity(child.pid, frozenset({one})) == {one}
    out, _ = child.communicate("")
    assert out == f"[{one}]\n"


def test_as_an_unprivileged_user_the_own_set_can_be_narrowed_and_read():
    if os.geteuid() != 0:
        pytest.skip("needs root, to run a test as another user")
    code = ("from conda_limits.limits import affinity; import os\n"
            "one = min(affinity.allowed_cpus())\n"
            "print(sorted(affinity.set_affinity(os.getpid(), frozenset({one}))),"
            " sorted(affinity.allowed_cpus()))")
    import conda_limits

    source = os.path.dirname(os.path.dirname(conda_limits.__file__))
    proc = subprocess.run([sys.executable, "-c", code], user=65534, group=65534,
                          env={"PYTHONPATH": source}, capture_output=True, text=True, check=False)
    if proc.returncode and "Permission denied" in proc.stderr:
        pytest.skip(f"the user nobody cannot run {sys.executable}")
    one = min(os.sched_getaffinity(0))
    assert proc.stdout == f"[{one}] [{one}]\n", proc.stderr
