"""Locks that serialise every change of an environment's limits and of an environment file.

- An environment's lock is ``$PREFIX/etc/conda/.conda-limits.lock``, an empty file that is
  created once and never removed (removing a lock file while another process waits on it
  would let two writers in). Writers hold it exclusively around the whole read-modify-write
  of the record and the scripts; readers hold it shared, so they never see half a change.
- An environment file's lock is the file itself (symbolic links resolved): no lock file is
  left beside it. A writer that replaces the file by renaming has locked the old inode; the
  next process notices that the path moved on and locks the new one.

Only users who may change an environment may take or block its lock: the lock file is
created with the mode of its folder (``etc/conda``) for the owner and, where the folder is
group-writable, the group, never other users (an existing file gets that mode from its
next writer), and a writer opens it read-write. ``flock`` works on a read-only descriptor,
so a lock file of an older mode could still be held by a user who cannot write: a reader
does not wait for such a holder (it reads without the lock), and a writer says who it is at
once instead of waiting. An environment file's lock follows the same rule, judged by who
may write the file.

The locks are ``flock(2)`` locks: the kernel releases them when their holder dies, so a killed
writer never leaves a stale lock. A blocked process waits (polling, up to
``CONDA_LIMITS_LOCK_TIMEOUT`` seconds, default 60) and then raises :class:`LockTimeout`,
naming the process that holds the lock when ``/proc/locks`` says. The locks are re-entrant
within a process, and per process, not per thread.

On NFS, Linux emulates ``flock`` with the server's byte-range locks: they work between
machines when the NFS lock service runs, not at all with the ``nolock`` mount option.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from ..errors import LimitsError
from ..printable import escape

LOCK_FILE = Path("etc", "conda", ".conda-limits.lock")
TIMEOUT_VARIABLE = "CONDA_LIMITS_LOCK_TIMEOUT"
DEFAULT_TIMEOUT = 60.0
#: After this long a waiting process is told who it waits for (``on_wait``).
ANNOUNCE_AFTER = 1.0
T = TypeVar("T")
_CANNOT_LOCK = {errno.ENOLCK, errno.EOPNOTSUPP, errno.EBADF, errno.EINVAL}


@dataclass(frozen=True)
class Holder:
    """The process that holds a lock, as far as the system says."""

    pid: int
    command: str = ""  # its command line, escaped for printing ("" when unknown)

    def describe(self) -> str:
        return f"process {self.pid}" + (f" ({self.command})" if self.command else "")


class LockError(LimitsError):
    """A lock that cannot be taken."""

    def __init__(self, path: Path, message: str) -> None:
        self.path = path
        super().__init__(message)


class LockTimeout(LockError):
    """Another process held the lock for longer than the timeout."""

    def __init__(self, path: Path, what: str, waited: float, holder: Holder | None) -> None:
        self.what = what
        self.waited = waited
        self.holder = holder
        who = holder.describe() if holder else "another process"
        super().__init__(path, f"{who} has been changing {what} for over {waited:.0f} s "
                         f"(lock {escape(str(path))}); waited that long, then gave up. Try "
                         f"again when it has finished, or set {TIMEOUT_VARIABLE} to wait longer. "
                         "Nothing was changed")


class LockHeldByOutsider(LockError):
    """The lock is held by a process of a user who cannot change what it protects (through a
    lock file of an older, too open mode): waiting would let them block every change."""

    def __init__(self, path: Path, what: str, holder: Holder) -> None:
        self.holder = holder
        super().__init__(path, f"{holder.describe()}, of a user who cannot change {what}, "
                         f"holds its lock ({escape(str(path))}); it cannot be waited for. The "
                         "lock file's mode no longer lets such users open it: once that "
                         "process has ended, this cannot happen again. Nothing was changed")


class LockUnavailable(LockError):
    """The lock file cannot be created or opened, or the file system refuses locks."""

    def __init__(self, path: Path, error: OSError) -> None:
        self.error = error
        super().__init__(path, f"cannot lock {escape(str(path))}: {error.strerror or error}")


@dataclass
class _Held:
    fd: int
    shared: bool
    count: int


_held: dict[tuple[int, int], _Held] = {}  # (st_dev, st_ino) of a lock -> its holding


def timeout() -> float:
    """Seconds to wait for a lock: ``CONDA_LIMITS_LOCK_TIMEOUT``, else the default."""
    raw = os.environ.get(TIMEOUT_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise LockError(Path(), f"{TIMEOUT_VARIABLE}={escape(raw)} is not a number of seconds")
    return value


def lock_path(prefix: str | os.PathLike[str]) -> Path:
    return Path(prefix) / LOCK_FILE


@contextmanager
def environment(prefix: str | os.PathLike[str], *, shared: bool = False,
                wait: float | None = None,
                on_wait: Callable[[Holder | None], None] | None = None) -> Iterator[bool]:
    """Hold the lock of an environment's limits; yields whether a lock is held.

    A writer (``shared`` False) creates ``etc/conda`` and the lock file when missing and
    raises :class:`LockUnavailable` when it cannot: such a writer could not write either.
    A reader takes the lock if the file exists and can be opened, and reads without it
    otherwise (yielding False): then no writer can have been in the middle of a change
    when the reader looked, except one that has just begun (see :func:`read_consistently`).
    """
    path = lock_path(prefix)
    fd = _open_environment_lock(path, shared)
    if fd is None:
        yield False
        return
    with ExitStack() as stack:
        try:
            stack.enter_context(_holding(
                fd, path, shared, f"the limits of the environment at {Path(prefix)}", wait,
                on_wait, Writers.of(path.parent)))
        except _NotWaited:  # a reader, and only a process that could not write holds it
            yield False
            return
        yield True


def lock_mode(folder_mode: int) -> int:
    """The mode of an environment's lock file in a folder of ``folder_mode``: read-write for
    the owner, and for the group where the folder is group-writable; nothing for others."""
    return 0o600 | (0o060 if folder_mode & stat.S_IWGRP else 0)


def _open_environment_lock(path: Path, shared: bool) -> int | None:
    flags = os.O_CLOEXEC | os.O_NOFOLLOW
    if shared:
        try:
            return os.open(path, os.O_RDONLY | flags)
        except OSError:
            return None  # no writer has ever locked it, or it is not ours to read
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise LockUnavailable(path, error) from None
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | flags, 0o600)
    except FileExistsError:
        pass
    except OSError as error:
        raise LockUnavailable(path, error) from None
    else:
        _give_to_folder_owner(fd, path.parent)
        _fix_mode(fd, path.parent)
        return fd
    try:
        fd = os.open(path, os.O_RDWR | flags)
    except OSError as error:
        # Root's lock file in a user's prefix, from before root handed it over: the user
        # may still change the environment (its folder is theirs to write).
        if not (isinstance(error, PermissionError) and os.access(path.parent, os.W_OK)):
            raise LockUnavailable(path, error) from None
        try:
            fd = os.open(path, os.O_RDONLY | flags)
        except OSError as again:
            raise LockUnavailable(path, again) from None
    _fix_mode(fd, path.parent)
    return fd


def _give_to_folder_owner(fd: int, folder: Path) -> None:
    """Root creating a lock in a user's environment hands it to the folder's owner."""
    if os.geteuid() != 0:
        return
    try:
        owner = folder.stat()
        os.fchown(fd, owner.st_uid, owner.st_gid)
    except OSError:
        pass


def _fix_mode(fd: int, folder: Path) -> None:
    """Give a lock file (new, or of an older mode) the mode :func:`lock_mode` says, and the
    folder's group where that group may write; a file this user may not change is left."""
    try:
        folder_stat = folder.stat()
        held = os.fstat(fd)
        wanted = lock_mode(folder_stat.st_mode)
        if folder_stat.st_mode & stat.S_IWGRP and held.st_gid != folder_stat.st_gid:
            os.fchown(fd, -1, folder_stat.st_gid)
        if stat.S_IMODE(held.st_mode) != wanted:
            os.fchmod(fd, wanted)
    except OSError:
        pass


@dataclass(frozen=True)
class Writers:
    """Who may write a file or folder, by its owner, group and mode (root always may)."""

    uid: int
    gid: int
    mode: int

    @classmethod
    def of(cls, path: Path) -> Writers | None:
        try:
            found = os.stat(path)
        except OSError:
            return None
        return cls(found.st_uid, found.st_gid, found.st_mode)

    def include(self, pid: int) -> bool | None:
        """Whether process ``pid`` may write; None when its ids cannot be read."""
        ids = _ids_of(pid)
        if ids is None:
            return None
        uid, groups = ids
        if uid == 0:
            return True
        if uid == self.uid:
            return bool(self.mode & stat.S_IWUSR)
        if self.gid in groups:
            return bool(self.mode & stat.S_IWGRP)
        return bool(self.mode & stat.S_IWOTH)


def _ids_of(pid: int) -> tuple[int, frozenset[int]] | None:
    """The file-system user id and the group ids of process ``pid``, from /proc."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            fields = dict(line.split(":", 1) for line in status if ":" in line)
        uid = int(fields["Uid"].split()[3])
        groups = {int(fields["Gid"].split()[3]), *map(int, fields.get("Groups", "").split())}
    except (OSError, KeyError, ValueError, IndexError):
        return None
    return uid, frozenset(groups)


class _NotWaited(Exception):
    """A reader's lock is held only by processes that could not write: read without it."""


@dataclass(frozen=True)
class LockedFile:
    """An environment file under its lock: the real path and an open descriptor of it."""

    path: Path  # symbolic links resolved
    fd: int  # read-write for a writer, read-only for a reader


@contextmanager
def file(path: str | os.PathLike[str], *, shared: bool = False, wait: float | None = None,
         on_wait: Callable[[Holder | None], None] | None = None) -> Iterator[LockedFile]:
    """Hold the lock of an environment file (the file itself, symbolic links resolved).

    A writer opens the file for writing: a file it may not write raises the ``OSError``
    of ``open`` (``PermissionError``, ``FileNotFoundError``, ...), before anything is read.
    """
    deadline = time.monotonic() + (timeout() if wait is None else wait)
    what = f"the environment file {Path(path)}"
    while True:
        real = Path(os.path.realpath(path))
        # O_NONBLOCK: a FIFO given as the file must not hang the command.
        fd = os.open(real, (os.O_RDONLY if shared else os.O_RDWR) | os.O_CLOEXEC
                     | os.O_NONBLOCK)
        left = max(0.0, deadline - time.monotonic())
        with ExitStack() as stack:
            try:
                held_fd = stack.enter_context(
                    _holding(fd, real, shared, what, left, on_wait, Writers.of(real)))
            except _NotWaited:  # held by a process that may not write it: read as it is
                unlocked = os.open(real, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
                stack.callback(os.close, unlocked)
                yield LockedFile(real, unlocked)
                return
            if _same_file(held_fd, real):
                yield LockedFile(real, held_fd)
                return
        # Another writer replaced the file while this one waited: lock the new one.


def _same_file(fd: int, path: Path) -> bool:
    try:
        now = os.stat(path)
    except OSError:
        return False
    held = os.fstat(fd)
    return (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino)


@contextmanager
def _holding(fd: int, path: Path, shared: bool, what: str, wait: float | None,
             on_wait: Callable[[Holder | None], None] | None,
             writers: Writers | None = None) -> Iterator[int]:
    """Lock ``fd`` and yield the descriptor that holds the lock.

    Takes ``fd`` over: it is closed when the lock is released, or at once when this
    process already held the lock through another descriptor (that one is yielded).
    """
    found = os.fstat(fd)
    key = (found.st_dev, found.st_ino)
    held = _held.get(key)
    if held is not None:
        if fd != held.fd:
            os.close(fd)  # closing another descriptor of the file keeps a flock
        if held.shared and not shared:
            raise RuntimeError(f"{path}: an exclusive lock was asked for under a shared one")
        held.count += 1
        try:
            yield held.fd
        finally:
            held.count -= 1
        return
    _acquire(fd, path, shared, what, timeout() if wait is None else wait, on_wait, writers)
    _held[key] = _Held(fd, shared, 1)
    try:
        yield fd
    finally:
        del _held[key]
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _acquire(fd: int, path: Path, shared: bool, what: str, wait: float,
             on_wait: Callable[[Holder | None], None] | None,
             writers: Writers | None = None) -> None:
    """Lock ``fd``, waiting up to ``wait`` seconds, but not for a holder that ``writers``
    does not include (then a reader gets :class:`_NotWaited`, a writer an error)."""
    operation = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB
    start = time.monotonic()
    delay, announced = 0.001, False
    while True:
        try:
            fcntl.flock(fd, operation)
            return
        except BlockingIOError:
            outsider = _outsider(fd, writers)
            if outsider is not None:
                os.close(fd)
                if shared:
                    raise _NotWaited() from None
                raise LockHeldByOutsider(path, what, outsider) from None
        except OSError as error:
            os.close(fd)
            if error.errno == errno.EBADF:  # NFS: a lock of a file opened read-only
                error = OSError(error.errno, f"cannot lock {escape(str(path))}: on this file "
                                "system (NFS) only a file this user may write can be locked")
            if error.errno in _CANNOT_LOCK:
                raise LockUnavailable(path, error) from None
            raise
        waited = time.monotonic() - start
        if waited >= wait:
            holder = holder_of(fd)
            os.close(fd)
            raise LockTimeout(path, what, wait, holder)
        if on_wait is not None and not announced and waited >= ANNOUNCE_AFTER:
            announced = True
            on_wait(holder_of(fd))
        time.sleep(min(delay, wait - waited))
        delay = min(delay * 2, 0.05)


def holder_of(fd: int) -> Holder | None:
    """The process holding a lock on ``fd``'s file, from ``/proc/locks`` (Linux)."""
    pids = _holders(fd)
    return Holder(pids[0], _command_of(pids[0])) if pids else None


def _holders(fd: int) -> list[int]:
    """Every other process holding a lock on ``fd``'s file, from ``/proc/locks``."""
    held = os.fstat(fd)
    wanted = f"{os.major(held.st_dev):02x}:{os.minor(held.st_dev):02x}:{held.st_ino}"
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as locks:
            lines = locks.readlines()
    except OSError:
        return []
    pids = []
    for line in lines:
        fields = line.split()
        if len(fields) < 6 or "->" in fields or fields[1] != "FLOCK" or fields[5] != wanted:
            continue
        try:
            pid = int(fields[4])
        except ValueError:
            continue
        if pid > 0 and pid != os.getpid() and pid not in pids:
            pids.append(pid)
    return pids


def _outsider(fd: int, writers: Writers | None) -> Holder | None:
    """A holder of ``fd``'s lock when every holder is known not to be one of ``writers``
    (a process whose ids cannot be read might write: it is waited for)."""
    if writers is None:
        return None
    pids = _holders(fd)
    if not pids or any(writers.include(pid) is not False for pid in pids):
        return None
    return Holder(pids[0], _command_of(pids[0]))


def _command_of(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    text = " ".join(raw.decode("utf-8", "replace").split("\0")).strip()
    text = escape(text)
    return text if len(text) <= 120 else text[:117] + "..."


def read_consistently(prefix: str | os.PathLike[str], read: Callable[[], T],
                      consistent: Callable[[T], bool],
                      on_wait: Callable[[Holder | None], None] | None = None) -> T:
    """``read()`` under the environment's shared lock; when no lock could be taken and the
    result is not ``consistent``, once more (a writer that had just begun holds it now)."""
    with environment(prefix, shared=True, on_wait=on_wait) as locked:
        result = read()
    if locked or consistent(result):
        return result
    with environment(prefix, shared=True, on_wait=on_wait):
        return read()


def is_locked_here(path: str | os.PathLike[str]) -> bool:
    """Whether this process holds a lock on ``path`` (for assertions and tests)."""
    try:
        found = os.stat(path)
    except OSError:
        return False
    return (found.st_dev, found.st_ino) in _held
