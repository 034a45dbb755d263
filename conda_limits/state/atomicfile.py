"""Single files on disk, read and written safely.

- Reads are bounded (:func:`read_bytes`): a file above its cap is an error, not minutes of
  parsing.
- :func:`write_text` replaces a file atomically (temporary file, fsync, rename): readers see
  the old content or the new, never a torn file. A writer killed in the middle leaves its
  temporary file, ``.NAME.XXXXXXXX.tmp`` beside the file; :func:`remove_temporaries` removes
  them (only a process that holds the lock of those files may call it).
- Every step of a write calls :func:`step`, where tests can stop a writer (through
  :data:`on_step`, which only code running in the process can set: nothing from outside,
  no environment variable, reaches it).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from ..errors import LimitsError

MiB = 2**20

#: Called with a description at every step of a write (tests raise or kill from it).
on_step: Callable[[str], None] | None = None


def label(path: Path) -> str:
    """How a step names a file: its folder and name."""
    return f"{path.parent.name}/{path.name}"


def step(what: str) -> None:
    """One step of a write is done: the place where tests interrupt a writer."""
    if on_step is not None:
        on_step(what)


class FileTooLarge(LimitsError, ValueError):
    """A file larger than conda-limits reads."""

    def __init__(self, path: Path, size: int, limit: int) -> None:
        self.path = path
        self.size = size
        self.limit = limit
        self.problem = (f"the file has {_size(size)}; conda-limits reads files of up to "
                        f"{_size(limit)}")
        super().__init__(f"{path}: {self.problem}")


def _size(count: int) -> str:
    return f"{count / MiB:.1f} MiB" if count >= MiB else f"{count} bytes"


def read_bytes(path: str | os.PathLike[str], limit: int) -> bytes | None:
    """The content of ``path`` (None when it does not exist); :class:`FileTooLarge` above
    ``limit`` bytes. Other errors are the ``OSError`` of reading."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        return read_fd(fd, Path(path), limit)
    finally:
        os.close(fd)


def read_fd(fd: int, path: Path, limit: int) -> bytes:
    """Everything in the open file ``fd`` from its start, at most ``limit`` bytes."""
    size = os.fstat(fd).st_size
    if size > limit:
        raise FileTooLarge(path, size, limit)
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = os.pread(fd, min(limit + 1 - total, max(size, 65536)), total)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:  # it grew while being read
            raise FileTooLarge(path, total, limit)


def holds(path: Path, data: bytes) -> bool:
    """Whether ``path`` is a file holding exactly ``data`` (reads at most that much)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(len(data) + 1) == data
    except OSError:
        return False


def write_text(path: str | os.PathLike[str], text: str, *, mode: int | None = None) -> None:
    """Replace ``path`` with ``text`` (UTF-8) atomically; see :func:`write_bytes`."""
    write_bytes(path, text.encode("utf-8"), mode=mode)


def write_bytes(path: str | os.PathLike[str], data: bytes, *, mode: int | None = None) -> None:
    """Replace ``path`` with ``data`` atomically (temporary file, fsync, rename).

    The file keeps its permission bits when it exists (else ``mode``, default 0o644), and,
    written by root, its owner (a new file gets its folder's). On any error the old file
    is untouched and no temporary file is left behind.
    """
    path = Path(path)
    tmp = temporary(path, data, mode)
    try:
        os.replace(tmp, path)
    except BaseException:
        remove(tmp)
        raise
    step(f"{label(path)}: renamed into place")


def temporary(path: Path, data: bytes, mode: int | None = None) -> Path:
    """A new temporary file beside ``path`` holding ``data``, synced, with the mode and
    (for root) the owner that ``path`` has or should have."""
    try:
        current = os.stat(path)
    except FileNotFoundError:
        current = None
    if mode is None:
        mode = current.st_mode & 0o7777 if current else 0o644
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            if os.geteuid() == 0:
                owner = current or os.stat(path.parent)
                os.fchown(handle.fileno(), owner.st_uid, owner.st_gid)
            os.fsync(handle.fileno())
        step(f"{label(path)}: temporary file written")
    except BaseException:
        remove(tmp)
        raise
    return tmp


def remove(path: str | os.PathLike[str]) -> bool:
    """Remove ``path`` if it exists; return whether it did."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


def sync_folders(paths: Iterable[Path]) -> None:
    """Make renames and removals in the folders of ``paths`` durable (best effort)."""
    for folder in {path.parent for path in paths}:
        try:
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)


def temporaries(folder: Path, names: Iterable[str]) -> list[Path]:
    """Temporary files that writes of the files ``names`` in ``folder`` left behind."""
    alternatives = "|".join(map(re.escape, names))
    pattern = re.compile(rf"\.(?:{alternatives})\.[A-Za-z0-9_]{{4,}}\.tmp")
    try:
        entries = os.listdir(folder)
    except OSError:
        return []
    return sorted(folder / name for name in entries if pattern.fullmatch(name))


def remove_temporaries(folder: Path, names: Iterable[str]) -> list[Path]:
    """Remove the temporary files of interrupted writes of ``names`` in ``folder``.

    Only a process that holds the lock of those files may call this: the temporary files of
    a writer that is still at work look the same.
    """
    removed = []
    for path in temporaries(folder, names):
        try:
            if remove(path):
                removed.append(path)
        except OSError:
            pass  # not ours to remove (another user's, a read-only folder): reported elsewhere
    return removed
