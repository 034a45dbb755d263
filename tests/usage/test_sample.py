"""Peaks of a real process tree, read from /proc."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from conda_limits.system.sample import Peaks, descendants

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
MiB = 1 << 20

# A parent that holds 200 MiB and 40 extra open files, with one child holding 100 MiB; both
# say "ready" and wait for stdin to close.
TREE = textwrap.dedent("""
    import os, subprocess, sys
    child = subprocess.Popen([sys.executable, "-c",
        "import sys; b = bytearray(100 << 20); b[::4096] = b'x' * len(b[::4096]); "
        "print('ready', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    child.stdout.readline()
    held = bytearray(200 << 20)
    held[::4096] = b"x" * len(held[::4096])
    files = [open(os.devnull) for _ in range(40)]
    print("ready", flush=True)
    sys.stdin.read()
    child.stdin.close()
    child.wait()
""")


def test_a_look_sees_the_largest_process_and_the_whole_tree():
    proc = subprocess.Popen([sys.executable, "-c", TREE], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        tree = descendants(proc.pid)
        assert tree[0] == proc.pid and len(tree) == 2
        peaks = Peaks()
        peaks.look(proc.pid)
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=30)
    seen = peaks.seen
    assert 200 * MiB < seen["rss"] < 300 * MiB  # the parent's, not the sum of both
    assert seen["vmem"] >= seen["rss"]
    assert seen["data"] > 200 * MiB
    assert 43 <= seen["nofile"] < 80
    assert seen["procs"] == 2
    assert seen["threads"] >= 2


def test_peaks_only_ever_rise():
    peaks = Peaks()
    peaks.raise_to("rss", 10)
    peaks.raise_to("rss", 5)
    peaks.raise_to("rss", None)
    assert peaks.seen == {"rss": 10}


def test_a_process_that_is_gone_gives_nothing():
    proc = subprocess.Popen(["true"])
    proc.wait()
    time.sleep(0.05)
    peaks = Peaks()
    peaks.look(proc.pid)
    assert descendants(proc.pid) == [] and peaks.seen == {}
