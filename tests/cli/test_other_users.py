"""Users who cannot write an environment, with real conda (needs root, to act as two users):
they can neither take nor block its lock, and what they cannot change is a clean error."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import conda_limits
from conda_limits.state import locking
from conda_limits.usage import log

from ..conftest import requires_conda

pytestmark = [requires_conda,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root, to act as two users")]

SOURCE = str(Path(conda_limits.__file__).resolve().parent.parent)
OTHER = "cl-tester"
HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", os.getpid(), flush=True)
time.sleep(120)
"""


def other_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(OTHER)
    except KeyError:
        pytest.skip(f"no user {OTHER} here (.ci/setup creates it)")


def conda(*args: str | Path, user: pwd.struct_passwd | None = None,
          **extra: str) -> subprocess.CompletedProcess[str]:
    """conda in its own process, as root or as ``user``."""
    environ = {**os.environ, "PYTHONPATH": SOURCE, **extra}
    argv = [sys.executable, "-m", "conda", *map(str, args)]
    if user is not None:
        environ.update(HOME=user.pw_dir)
        argv = ["runuser", "-u", user.pw_name, "--", "env",
                *(f"{k}={v}" for k, v in environ.items()), *argv]
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False,
                          env=environ)


@pytest.fixture(scope="module")
def root_env() -> Iterator[Path]:
    """Root's environment with limits, in a folder every user may read."""
    folder = Path(tempfile.mkdtemp(prefix="conda-limits-users-"))
    folder.chmod(0o755)
    prefix = folder / "env"
    try:
        for args in (["create", "-q", "-y", "-p", prefix],
                     ["limits", "set", "-p", prefix, "--nofile", "333"]):
            done = conda(*args)
            assert done.returncode == 0, done.stderr
        yield prefix
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def state(root_env) -> Path:
    """A state directory (XDG_STATE_HOME) of the other user's."""
    user = other_user()
    folder = Path(tempfile.mkdtemp(prefix="state-", dir=root_env.parent))
    os.chown(folder, user.pw_uid, user.pw_gid)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_a_lock_file_of_the_old_mode_held_by_another_user_blocks_no_command(root_env):
    """A lock file created 0644 (as before): a user who may only read the environment held
    it, and the owner's `set` and everyone's `show` waited, blaming "their process changing
    the limits"."""
    user = other_user()
    path = locking.lock_path(root_env)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # what set creates now
    refused = subprocess.run(["runuser", "-u", user.pw_name, "--", sys.executable, "-c", HOLD,
                              str(path)], capture_output=True, text=True, timeout=60,
                             check=False)
    assert "PermissionError" in refused.stderr
    path.chmod(0o644)  # as an older version left it
    holder = subprocess.Popen(["runuser", "-u", user.pw_name, "--", sys.executable, "-c", HOLD,
                               str(path)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None
    pid = int(holder.stdout.readline().split()[1])
    try:
        start = time.monotonic()
        shown = conda("limits", "show", "-p", root_env, CONDA_LIMITS_LOCK_TIMEOUT="20")
        assert shown.returncode == 0, shown.stderr
        assert "nofile" in shown.stdout and time.monotonic() - start < 15
        start = time.monotonic()
        changed = conda("limits", "set", "-p", root_env, "--nofile", "444",
                        CONDA_LIMITS_LOCK_TIMEOUT="20")
        assert time.monotonic() - start < 15
        assert changed.returncode == 1 and "Traceback" not in changed.stderr
        assert f"process {pid} (" in changed.stderr
        assert "of a user who cannot change the limits of the environment" in changed.stderr
    finally:
        os.kill(pid, signal.SIGKILL)
        holder.wait()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # the writer gave it the new mode
    assert conda("limits", "set", "-p", root_env, "--nofile", "444").returncode == 0


def test_usage_switches_of_a_user_who_cannot_write_the_environment(root_env, state):
    """--clear/--disable/--enable ended in a PermissionError traceback for an environment
    with limits, and --clear did not clear the user's own log."""
    user = other_user()
    ran = conda("run-limited", "-p", root_env, "--", "true", user=user, XDG_STATE_HOME=state)
    assert ran.returncode == 0, ran.stderr
    mine = log.user_log(root_env, {"XDG_STATE_HOME": str(state)})
    assert mine is not None and mine.exists()
    assert conda("run-limited", "-p", root_env, "--", "true").returncode == 0  # root's run
    theirs = log.prefix_log(root_env)
    assert theirs.exists()
    cleared = conda("limits", "usage", "-p", root_env, "--clear", user=user,
                    XDG_STATE_HOME=state)
    assert cleared.returncode == 1 and "Traceback" not in cleared.stderr
    assert f"Removed {mine}." in cleared.stderr
    assert f"Cannot remove {theirs}: Permission denied (only a user who may write the " \
        "environment can clear its log)" in cleared.stderr
    assert not mine.exists() and theirs.exists()
    for switch, word in (("--disable", "off"), ("--enable", "on")):
        done = conda("limits", "usage", "-p", root_env, switch, user=user, XDG_STATE_HOME=state)
        assert done.returncode == 1 and "Traceback" not in done.stderr
        assert f"Cannot turn recording {word} for the environment at {root_env}: " \
            "Permission denied (only a user who may write the environment can)" in done.stderr
    assert not (root_env / "etc" / "conda" / "limits-usage.off").exists()
