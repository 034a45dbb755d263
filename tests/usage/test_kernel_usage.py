"""Kernel sessions recorded by the launcher's watcher, with real jupyter_client/ipykernel."""

from __future__ import annotations

import time

import pytest

from conda_limits.limits.model import parse_limits
from conda_limits.state import prefix_files
from conda_limits.usage import log, optout

from ..jupyter.test_launch import (  # noqa: F401 (kenv, start: fixtures)
    _v1_memory_writable,
    install,
    kenv,
    start,
)
from .test_watch import recorded

MiB = 1 << 20


@pytest.fixture
def state(tmp_path, monkeypatch) -> dict[str, str]:
    environ = {"XDG_STATE_HOME": str(tmp_path / "state")}
    monkeypatch.setenv("XDG_STATE_HOME", environ["XDG_STATE_HOME"])
    monkeypatch.delenv("CONDA_LIMITS_NO_RECORD", raising=False)
    return environ


def test_a_kernel_session_is_recorded_when_it_ends(kenv, start, state):  # noqa: F811
    prefix_files.write(kenv, parse_limits({"data": "2G", "nofile": 512}))
    install(kenv)
    kernel = start("limited")
    kernel.run("held = bytearray(150 << 20)\nheld[::4096] = b'x' * len(held[::4096])\n"
               "import time; time.sleep(1.5)")
    assert log.read(kenv, environ=state).runs == ()  # nothing before the session ends
    kernel.stop()
    (run,) = recorded(kenv, state)
    assert run.via == "kernel" and run.command == "ipykernel"
    assert run.wall > 1.5
    assert run.used["rss"] >= 150 * MiB and run.used["data"] >= 150 * MiB
    assert run.used["cpu"] > 0 and run.used["nofile"] >= 3
    assert run.limits["data"] == 2 << 30 and run.limits["nofile"] == 512
    assert run.stopped_by is None
    assert run.status is None or run.signal == "SIGKILL"  # shut down with now=True
    assert (kenv / log.LOG).exists()


def test_no_session_is_recorded_where_recording_is_off(kenv, start, state):  # noqa: F811
    optout.disable(kenv)
    install(kenv)
    kernel = start("limited")
    kernel.run("print(1)")
    kernel.stop()
    time.sleep(2)
    assert log.read(kenv, environ=state).runs == ()


@pytest.mark.skipif(not _v1_memory_writable(), reason="no writable cgroup v1 memory "
                    "controller here (needs root on a v1/hybrid hierarchy)")
def test_a_kernel_the_mem_cap_killed_is_recorded_with_the_cgroups_figures(
        kenv, start, state):  # noqa: F811
    install(kenv, mem="200M")
    kernel = start("limited")
    kernel.client.execute("b = bytearray(600 * 2**20)\nfor i in range(0, len(b), 4096): b[i] = 1")
    (run,) = recorded(kenv, state)
    assert run.mem is not None and run.mem.limit == 200 * MiB
    assert run.mem.oom_kills and run.mem.peak is not None and run.mem.peak >= 190 * MiB
    assert run.stopped_by == "mem"
    assert run.status in (None, 137)


def test_a_kernel_past_its_mem_is_stopped_by_the_watch_and_recorded(
        kenv, start, state, monkeypatch):  # noqa: F811
    """The watch backend (what a user without a writable cgroup gets; forced here so that
    root tests it too): the kernel's watcher adds up its memory and stops it past the cap."""
    from conda_limits.system import memory_cap

    monkeypatch.setenv(memory_cap.VARIABLE, "watch")
    install(kenv, mem="200M")
    kernel = start("limited")
    out, _ = kernel.run("print(open('/proc/self/cgroup').read())")
    assert "conda-limits" not in out  # no cgroup: watched
    kernel.client.execute("import time\nheld = []\nwhile True:\n"
                          "    held.append(bytearray(b'1') * (10 << 20)); time.sleep(0.02)")
    (run,) = recorded(kenv, state)
    assert run.stopped_by == "mem" and run.mem is not None
    assert run.mem.limit == 200 * MiB and run.mem.oom_kills == 1
    assert run.mem.peak is not None and run.mem.peak > 200 * MiB
    assert run.status in (None, 143, 137)
    deadline = time.monotonic() + 30
    while kernel.manager.is_alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not kernel.manager.is_alive()


def test_a_kernel_under_its_mem_runs_on(kenv, start, state, monkeypatch):  # noqa: F811
    from conda_limits.system import memory_cap

    monkeypatch.setenv(memory_cap.VARIABLE, "watch")
    install(kenv, mem="300M")
    kernel = start("limited")
    out, _ = kernel.run("held = bytearray(b'1') * (100 << 20)\nimport time; time.sleep(1)\n"
                        "print(len(held) >> 20)")
    assert out.strip() == "100" and kernel.manager.is_alive()
    kernel.stop()
    (run,) = recorded(kenv, state)
    assert run.stopped_by is None and run.mem.oom_kills == 0 and run.mem.peak >= 100 * MiB


@pytest.mark.skipif(not _v1_memory_writable(), reason="no writable cgroup v1 memory "
                    "controller here (needs root on a v1/hybrid hierarchy)")
def test_an_oom_kill_of_a_kernels_worker_ends_the_whole_kernel(kenv, start, state):  # noqa: F811
    """cgroup v1's OOM killer ends one worker; the kernel's watcher then ends the rest, the
    kernel included, rather than let it go on without its worker."""
    install(kenv, mem="300M")
    kernel = start("limited")
    kernel.client.execute(
        "import os, time\npids = []\nfor _ in range(3):\n    pid = os.fork()\n"
        "    if pid == 0:\n        held = [bytearray(b'1') * (10 << 20) for _ in range(20)]\n"
        "        time.sleep(30)\n        os._exit(0)\n    pids.append(pid)\n"
        "print([os.waitpid(pid, 0)[1] for pid in pids])")
    (run,) = recorded(kenv, state)
    assert run.stopped_by == "mem" and run.mem.oom_kills >= 1
    deadline = time.monotonic() + 30
    while kernel.manager.is_alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not kernel.manager.is_alive()
