"""The usage log of an environment: where it is, appending to it, reading it back.

Where: ``$PREFIX/etc/conda/limits-usage.jsonl``, beside the limits record, so that the log
moves with the environment (``conda rename``, conda-pack) and a clone starts from its
original's history. When that file cannot be written (a read-only or someone else's
environment, a full disk), the run goes to the user's own state directory instead:
``$XDG_STATE_HOME/conda-limits/usage/NAME-HASH.jsonl`` (default ``~/.local/state``), one file
per environment, keyed by a hash of the prefix's real path. Readers merge both.

Concurrent writers (two kernels ending at once, twenty runs at once) lose nothing: an entry is
one ``write`` of one line to a file opened with ``O_APPEND``, under an exclusive ``flock`` of
that file held for the write alone. The log is bounded: the writer whose line takes it above
:data:`MAX_BYTES` renames it to ``limits-usage.jsonl.1`` (replacing the previous one) before it
lets the lock go; a writer that opened the file before the rename sees, once it has the lock,
that the name now means another file, and appends to that one. Locks are only waited for
briefly (:data:`LOCK_WAIT`): a stuck process makes a run unrecorded, never hang.

Recording never makes a run fail: :func:`append` raises :class:`NotRecorded` naming each
place it tried, and the caller says so in one line.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import re
import stat
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import LimitsError
from ..printable import escape
from .entry import START, Run, from_json

LOG = Path("etc", "conda", "limits-usage.jsonl")
#: A log above this size is rotated (about 700 entries); at most this much again is kept.
MAX_BYTES = 256 * 1024
#: How many rotated files are kept beside the log.
GENERATIONS = 1
#: A log this many times MAX_BYTES that could not be rotated takes no more entries.
FULL = 2
#: Seconds a writer waits for a lock before giving up on that file.
LOCK_WAIT = 2.0
_REOPEN = 20  # times a writer follows a log renamed under it
_OPEN = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class NotRecorded(LimitsError):
    """No log took the entry; ``problems`` says why, per file tried."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True)
class Entries:
    """The runs read from an environment's logs (oldest first), and the files read."""

    runs: tuple[Run, ...]
    files: tuple[Path, ...]
    skipped: int = 0  # lines that were not valid entries


def prefix_log(prefix: str | os.PathLike[str]) -> Path:
    """The log inside the environment."""
    return Path(prefix) / LOG


def state_dir(environ: Mapping[str, str] | None = None) -> Path | None:
    """The user's state directory for conda-limits (None without a home directory)."""
    found = _state_base(environ)
    return None if found is None else found[0] / "conda-limits" / "usage"


def _state_base(environ: Mapping[str, str] | None) -> tuple[Path, Path] | None:
    """``$XDG_STATE_HOME`` (else ``~/.local/state``), and the folder below which the state
    directory may be created (the home directory is never created)."""
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_STATE_HOME", "")
    if os.path.isabs(base):  # the XDG rule: a relative value is ignored
        return Path(base), Path(base).parent
    home = environ.get("HOME") or _home()
    if not home or not os.path.isabs(home):
        return None
    return Path(home, ".local", "state"), Path(home)


def _home() -> str | None:
    import pwd

    try:
        return pwd.getpwuid(os.getuid()).pw_dir
    except KeyError:
        return None


def user_log(prefix: str | os.PathLike[str],
             environ: Mapping[str, str] | None = None) -> Path | None:
    """The user's own log of the environment at ``prefix``."""
    folder = state_dir(environ)
    if folder is None:
        return None
    real = os.path.realpath(prefix)
    digest = hashlib.sha256(os.fsencode(real)).hexdigest()[:16]
    name = re.sub(r"[^A-Za-z0-9._-]", "_", os.path.basename(real))[:40] or "root"
    return folder / f"{name}-{digest}.jsonl"


def logs(prefix: str | os.PathLike[str],
         environ: Mapping[str, str] | None = None) -> list[Path]:
    """The places a run of ``prefix`` is recorded, in the order they are tried."""
    found = [prefix_log(prefix)]
    mine = user_log(prefix, environ)
    if mine is not None:
        found.append(mine)
    return found


def append(prefix: str | os.PathLike[str], run: Run, *,
           environ: Mapping[str, str] | None = None, max_bytes: int = MAX_BYTES,
           generations: int = GENERATIONS) -> Path:
    """Add ``run`` to the environment's log (else the user's); return the file written.

    Raises :class:`NotRecorded` when neither could take it.
    """
    line = run.to_line().encode("ascii")
    problems = []
    places: list[tuple[Path, Path, int]] = [(prefix_log(prefix), Path(prefix), 0o777)]
    mine, found = user_log(prefix, environ), _state_base(environ)
    if mine is not None and found is not None:
        places.append((mine, found[1], 0o700))
    for path, root, mode in places:
        try:
            _make_dirs(path.parent, root, mode)
            append_line(path, line, max_bytes=max_bytes, generations=generations)
            return path
        except OSError as error:
            problems.append(f"{path}: {_reason(error)}")
    if len(places) < 2:
        problems.append("no home directory for the user's own log")
    raise NotRecorded(problems)


def _make_dirs(folder: Path, root: Path, mode: int) -> None:
    """Create ``folder`` and its parents below ``root``, which must exist (an environment
    removed meanwhile is not made again)."""
    if folder.is_dir():
        return
    if not root.is_dir():
        raise OSError(errno.ENOENT, f"{root} does not exist")
    missing = []
    for parent in (folder, *folder.parents):
        if parent == root or parent.is_dir():
            break
        missing.append(parent)
    for parent in reversed(missing):
        try:
            os.mkdir(parent, mode)
        except FileExistsError:
            pass


def _reason(error: OSError) -> str:
    if error.errno == errno.ELOOP:
        return "is a symbolic link (not followed)"
    return error.strerror or str(error)


def append_line(path: Path, line: bytes, *, max_bytes: int = MAX_BYTES,
                generations: int = GENERATIONS) -> None:
    """Append one line to ``path`` under its lock, rotating the file once it is too large."""
    deadline = time.monotonic() + LOCK_WAIT
    for _ in range(_REOPEN):
        fd = os.open(path, _OPEN, 0o666)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise OSError(errno.EINVAL, "not a regular file")
            _lock(fd, deadline)
            opened = os.fstat(fd)
            if not _same_file(path, opened):
                continue  # rotated away between open and lock: append to the new file
            if opened.st_size >= FULL * max_bytes:  # an earlier rotation failed
                try:
                    _rotate(path, generations)
                except OSError as error:
                    raise OSError(errno.EFBIG, "the log is full and cannot be rotated ("
                                  f"{_reason(error)})") from None
                continue
            if os.write(fd, line) != len(line):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            if opened.st_size + len(line) > max_bytes:
                try:
                    _rotate(path, generations)
                except OSError:
                    pass  # the next writer tries again; FULL bounds the file meanwhile
            return
        finally:
            os.close(fd)  # releases the lock
    raise OSError(errno.EAGAIN, "the log kept being replaced while it was written")


def _rotate(path: Path, generations: int) -> None:
    """Rename ``path`` to ``path.1``, shifting older ones (the caller holds its lock)."""
    for number in range(generations - 1, 0, -1):
        try:
            os.replace(_rotated(path, number), _rotated(path, number + 1))
        except FileNotFoundError:
            pass
    os.replace(path, _rotated(path, 1))


def _rotated(path: Path, number: int) -> Path:
    return path.with_name(f"{path.name}.{number}")


def _same_file(path: Path, opened: os.stat_result) -> bool:
    try:
        now = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return (now.st_dev, now.st_ino) == (opened.st_dev, opened.st_ino)


def _lock(fd: int, deadline: float) -> None:
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise OSError(errno.ETIMEDOUT, "another process holds the log's lock") \
                    from None
            time.sleep(0.002)


def read(prefix: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None,
         max_bytes: int = MAX_BYTES, generations: int = GENERATIONS) -> Entries:
    """Every recorded run of ``prefix`` (the environment's log and the user's), oldest first."""
    runs: list[Run] = []
    files: list[Path] = []
    skipped = 0
    for path in logs(prefix, environ):
        for generation in [_rotated(path, n) for n in range(generations, 0, -1)] + [path]:
            lines = _tail_lines(generation, FULL * max_bytes)
            if lines is None:
                continue
            files.append(generation)
            for line in lines:
                run = parse_line(line)
                if run is None:
                    skipped += 1
                else:
                    runs.append(run)
    runs.sort(key=lambda r: r.at)
    return Entries(tuple(runs), tuple(files), skipped)


def _tail_lines(path: Path, limit: int) -> list[bytes] | None:
    """The complete lines of the last ``limit`` bytes of ``path`` (None: cannot be read)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None
        start = max(0, info.st_size - limit)
        os.lseek(fd, start, os.SEEK_SET)
        data = _read_all(fd, limit)
    except OSError:
        return None
    finally:
        os.close(fd)
    lines = data.split(b"\n")
    if start:
        lines = lines[1:]  # began inside a line
    return [line for line in lines if line.strip()]


def _read_all(fd: int, limit: int) -> bytes:
    chunks, left = [], limit
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 16))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def parse_line(line: bytes) -> Run | None:
    """The entry on ``line``; a line torn by a failed write is read from its last entry."""
    start = line.rfind(START.encode("ascii"))
    if start < 0:
        return None
    try:
        return from_json(json.loads(line[start:]))
    except (ValueError, RecursionError):
        return None


class NotCleared(LimitsError):
    """Some logs could not be removed (the others were): ``removed``, and why not per file."""

    def __init__(self, removed: list[Path], refused: list[tuple[Path, OSError]]) -> None:
        self.removed = removed
        self.refused = refused
        done = (f"Removed {', '.join(escape(str(path)) for path in removed)}. "
                if removed else "")
        why = "; ".join(f"cannot remove {escape(str(path))}: {error.strerror or error}"
                        for path, error in refused)
        hint = (" (only a user who may write the environment can clear its log)"
                if any(isinstance(error, PermissionError) for _, error in refused) else "")
        super().__init__(f"{done}{why[0].upper()}{why[1:]}{hint}.")


def clear(prefix: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None,
          dry_run: bool = False) -> list[Path]:
    """Remove the environment's logs and the user's log of it; return the files removed
    (``dry_run``: the files that would be).

    Each file that exists is tried: :class:`NotCleared` names those that could not be
    removed (a user who may not write the environment still clears their own log of it).
    """
    removed: list[Path] = []
    refused: list[tuple[Path, OSError]] = []
    for path in _all_files(prefix, environ):
        if dry_run:
            if os.path.lexists(path):
                removed.append(path)
            continue
        try:
            os.unlink(path)
            removed.append(path)
        except FileNotFoundError:
            pass
        except OSError as error:
            refused.append((path, error))
    if refused:
        raise NotCleared(removed, refused)
    return removed


def _all_files(prefix: str | os.PathLike[str],
               environ: Mapping[str, str] | None) -> Iterator[Path]:
    for path in logs(prefix, environ):
        yield path
        for number in range(1, GENERATIONS + 1):
            yield _rotated(path, number)
