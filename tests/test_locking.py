"""Locks of environments and environment files, between real processes."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conda_limits.state import locking

from .readonly import read_only

HOLD = """
import os, sys, time
from conda_limits.state import locking
kind, path, shared, action = sys.argv[1], sys.argv[2], sys.argv[3] == "shared", sys.argv[4]
with (locking.environment(path, shared=shared) if kind == "env"
      else locking.file(path, shared=shared)) as held:
    if action == "rename":
        new = path + ".new"
        open(new, "w").write("renamed\\n")
        os.replace(new, path)
    print("locked", flush=True)
    time.sleep(float(sys.argv[5]) if len(sys.argv) > 5 else 60)
"""


def hold(kind: str, path: Path, *, shared: bool = False, action: str = "-",
         seconds: float = 60) -> subprocess.Popen[str]:
    """A process holding the lock of ``path`` (once it has said so) for ``seconds``."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, kind, str(path), "shared" if shared else "exclusive",
         action, str(seconds)], stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    assert process.stdout is not None
    assert process.stdout.readline() == "locked\n"
    return process


@pytest.fixture
def prefix(tmp_path):
    (tmp_path / "conda-meta").mkdir()
    return tmp_path


def stop(process: subprocess.Popen[str]) -> None:
    process.kill()
    process.wait()


def blocked(process: subprocess.Popen[str], lock) -> None:
    """Assert that ``lock`` (a lock context) waits for ``process``, then stop the process."""
    try:
        with pytest.raises(locking.LockTimeout), lock:
            pass
    finally:
        stop(process)


def test_a_writer_waits_then_names_the_holder(prefix):
    holder = hold("env", prefix)
    try:
        start = time.monotonic()
        with pytest.raises(locking.LockTimeout) as caught, \
                locking.environment(prefix, wait=0.3):
            pass
        assert 0.3 <= time.monotonic() - start < 5
        assert caught.value.holder is not None and caught.value.holder.pid == holder.pid
        message = str(caught.value)
        assert f"process {holder.pid} (" in message and "import os" in message
        assert str(prefix) in message and "Nothing was changed" in message
    finally:
        stop(holder)


def test_a_killed_holder_releases_the_lock(prefix):
    holder = hold("env", prefix)
    stop(holder)  # SIGKILL: no chance to unlock
    with locking.environment(prefix, wait=0) as locked:
        assert locked


def test_the_waiter_gets_the_lock_when_it_is_released(prefix):
    holder = hold("env", prefix, seconds=1.5)
    told: list[locking.Holder | None] = []
    start = time.monotonic()
    with locking.environment(prefix, wait=30, on_wait=told.append):
        assert time.monotonic() - start >= 1.0
    holder.wait()
    assert [holder.pid] == [who.pid for who in told if who is not None]


def test_readers_share_and_writers_wait_for_them(prefix):
    with locking.environment(prefix):
        pass  # creates the lock file
    reader = hold("env", prefix, shared=True)
    with locking.environment(prefix, shared=True, wait=0) as locked:
        assert locked
    blocked(reader, locking.environment(prefix, wait=0.2))


def test_a_reader_creates_nothing(prefix):
    with locking.environment(prefix, shared=True) as locked:
        assert not locked
    assert not (prefix / "etc").exists()
    with locking.environment(prefix) as locked:
        assert locked
    assert locking.lock_path(prefix).is_file()


def test_re_entrant_in_one_process(prefix):
    with locking.environment(prefix):
        with locking.environment(prefix), locking.environment(prefix, shared=True):
            assert locking.is_locked_here(locking.lock_path(prefix))
        assert locking.is_locked_here(locking.lock_path(prefix))
    assert not locking.is_locked_here(locking.lock_path(prefix))
    with locking.environment(prefix, shared=True):
        with pytest.raises(RuntimeError, match="exclusive lock was asked for under a shared"):
            with locking.environment(prefix):
                pass


def test_a_file_renamed_by_the_holder_is_locked_anew(tmp_path):
    """The holder replaces the file; a waiter must lock the new file, not the old inode."""
    path = tmp_path / "environment.yml"
    path.write_text("name: x\n")
    holder = hold("file", path, action="rename", seconds=0.5)
    with locking.file(path, wait=30) as locked:
        assert locked.path == path
        assert os.fstat(locked.fd).st_ino == path.stat().st_ino
        assert os.read(locked.fd, 100) == b"renamed\n"
    holder.wait()


def test_a_symlinked_file_is_locked_at_its_target(tmp_path):
    target = tmp_path / "real.yml"
    target.write_text("name: x\n")
    link = tmp_path / "environment.yml"
    link.symlink_to(target)
    blocked(hold("file", target), locking.file(link, wait=0.2))
    with locking.file(link) as locked:
        assert locked.path == target


def test_a_writer_must_be_able_to_write_the_file(tmp_path):
    path = tmp_path / "environment.yml"
    path.write_text("name: x\n")
    with read_only(path):
        with pytest.raises(PermissionError), locking.file(path):
            pass
        with locking.file(path, shared=True):
            pass


def test_a_fifo_does_not_hang(tmp_path):
    fifo = tmp_path / "environment.yml"
    os.mkfifo(fifo)
    with locking.file(fifo, shared=True) as locked:
        assert locked.path == fifo


@pytest.mark.parametrize("raw,expected", [("", 60.0), ("2.5", 2.5), (" 0 ", 0.0)])
def test_timeout_from_the_environment(monkeypatch, raw, expected):
    monkeypatch.setenv(locking.TIMEOUT_VARIABLE, raw)
    assert locking.timeout() == expected


@pytest.mark.parametrize("raw", ["soon", "-1", "nan", "inf", "\x1b[31m"])
def test_a_bad_timeout_is_an_error(monkeypatch, raw):
    monkeypatch.setenv(locking.TIMEOUT_VARIABLE, raw)
    with pytest.raises(locking.LockError, match=locking.TIMEOUT_VARIABLE) as caught:
        locking.timeout()
    assert "\x1b" not in str(caught.value)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root creates a lock in another's prefix")
def test_roots_lock_file_belongs_to_the_folders_owner(prefix):
    import pwd

    try:
        user = pwd.getpwnam("limtest")
    except KeyError:
        pytest.skip("no unprivileged user 'limtest' here")
    folder = prefix / "etc" / "conda"
    folder.mkdir(parents=True)
    os.chown(folder, user.pw_uid, user.pw_gid)
    with locking.environment(prefix):
        pass
    info = locking.lock_path(prefix).stat()
    assert (info.st_uid, info.st_gid) == (user.pw_uid, user.pw_gid)


def test_a_read_only_lock_file_still_locks(prefix):
    """Another user's lock file (here: one this user may not write) is locked read-only."""
    with locking.environment(prefix):
        pass
    path = locking.lock_path(prefix)
    path.chmod(0o444)
    blocked(hold("env", prefix), locking.environment(prefix, wait=0.2))


# --- who may take or block a lock (two real users: needs root) --------------------------------

ATTACK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", os.getpid(), flush=True)
time.sleep(60)
"""
CHECK = """
import json, os, sys, time
from conda_limits.state import locking
kind, path = sys.argv[1], sys.argv[2]
out = {}
start = time.monotonic()
lock = (locking.environment(path, shared=True, wait=10) if kind == "env"
        else locking.file(path, shared=True, wait=10))
with lock as held:
    out["reader_locked"] = held if kind == "env" else locking.is_locked_here(path)
    out["reader_seconds"] = time.monotonic() - start
start = time.monotonic()
try:
    with (locking.environment(path, wait=10) if kind == "env" else locking.file(path, wait=10)):
        out["writer"] = "locked"
except locking.LockError as error:
    out["writer"] = f"{type(error).__name__}: {error}"
out["writer_seconds"] = time.monotonic() - start
print(json.dumps(out))
"""
SOURCE = str(Path(__file__).parents[1])


def as_user(name: str) -> list[str]:
    """runuser's argv prefix for ``name``, whose python can import this checkout, else skip."""
    import pwd

    if os.geteuid() != 0:
        pytest.skip("needs root, to act as two users")
    try:
        pwd.getpwnam(name)
    except KeyError:
        pytest.skip(f"no user {name} here")
    argv = ["runuser", "-u", name, "--", "env", f"PYTHONPATH={SOURCE}", "HOME=/tmp"]
    probe = subprocess.run([*argv, sys.executable, "-c", "import conda_limits.state.locking"],
                           capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"the user {name} cannot run {sys.executable} with this checkout")
    return argv


@pytest.fixture
def open_folder():
    """A folder every user may read (pytest's tmp_path is root's alone)."""
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="conda-limits-locks-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def attack(path: Path) -> tuple[subprocess.Popen[str], int]:
    """cl-tester, who may read ``path`` but not write it, holding its lock; and the pid of
    the process that holds it (runuser's child)."""
    process = subprocess.Popen([*as_user("cl-tester"), sys.executable, "-c", ATTACK, str(path)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("held "):
        process.kill()
        pytest.fail(f"the attacker could not hold the lock: {process.communicate()}")
    return process, int(line.split()[1])


def end_attack(process: subprocess.Popen[str], pid: int) -> None:
    import signal

    try:
        os.kill(pid, signal.SIGKILL)  # runuser's child: killing runuser may leave it
    except ProcessLookupError:
        pass
    stop(process)


def check(owner: str, kind: str, path: Path) -> dict:
    argv = [] if owner == "root" else as_user(owner)
    done = subprocess.run([*argv, sys.executable, "-c", CHECK, kind, str(path)],
                          capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "PYTHONPATH": SOURCE})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_lock_file_is_its_folders_writers_alone():
    assert locking.lock_mode(0o40755) == 0o600
    assert locking.lock_mode(0o42775) == 0o660
    assert locking.lock_mode(0o40777) == 0o660


def test_a_user_who_cannot_write_the_environment_cannot_open_its_lock(open_folder):
    """The lock file was created 0644: any reader could hold it (flock needs no write access)
    and block the owner's set/unset/export and everyone's show."""
    prefix = open_folder / "env"
    (prefix / "conda-meta").mkdir(parents=True)
    with locking.environment(prefix):
        pass
    path = locking.lock_path(prefix)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    tried = subprocess.run([*as_user("cl-tester"), sys.executable, "-c", ATTACK, str(path)],
                           capture_output=True, text=True, timeout=60, check=False)
    assert tried.returncode != 0 and "PermissionError" in tried.stderr
    with locking.environment(prefix, wait=0.5):  # nobody could block it
        pass


@pytest.mark.parametrize("owner", ["root", "nobody"])
def test_a_lock_file_of_the_old_mode_held_by_an_outsider_blocks_nobody(open_folder, owner):
    """A lock file 0644 from an older version, held by cl-tester who cannot write the
    environment: the owner's reader reads at once without it, the owner's writer says who
    holds it at once (it cannot be waited for), and the file gets the new mode."""
    import pwd

    as_user(owner if owner != "root" else "cl-tester")  # skips unless root may act as them
    prefix = open_folder / "env"
    folder = prefix / "etc" / "conda"
    folder.mkdir(parents=True)
    path = locking.lock_path(prefix)
    path.write_text("")
    path.chmod(0o644)
    user = pwd.getpwnam(owner)
    for item in (prefix, prefix / "etc", folder, path):
        os.chown(item, user.pw_uid, user.pw_gid)
    attacker, pid = attack(path)
    try:
        seen = check(owner, "env", prefix)
    finally:
        end_attack(attacker, pid)
    assert seen["reader_locked"] is False and seen["reader_seconds"] < 5
    assert seen["writer"].startswith(f"LockHeldByOutsider: process {pid} (")
    assert "of a user who cannot change the limits of the environment" in seen["writer"]
    assert seen["writer_seconds"] < 5
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_environment_file_held_by_a_user_who_cannot_write_it_blocks_nobody(open_folder):
    envfile = open_folder / "environment.yml"
    envfile.write_text("name: x\n")
    envfile.chmod(0o644)
    attacker, pid = attack(envfile)
    try:
        seen = check("root", "file", envfile)
    finally:
        end_attack(attacker, pid)
    assert seen["reader_locked"] is False and seen["reader_seconds"] < 5
    assert seen["writer"].startswith(f"LockHeldByOutsider: process {pid} (")
    assert seen["writer_seconds"] < 5
