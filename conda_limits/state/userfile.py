"""Rewrite a user's file (an environment.yml) and keep it theirs, never torn.

``conda limits set -f`` edits a file that belongs to the user, maybe through a symbolic link,
maybe with other hard links, maybe owned by someone else and shared through its group.
:func:`rewrite` writes the real file (links resolved) under its lock
(:func:`conda_limits.state.locking.file`), in one of two ways:

- **Replace** (the common case: a regular file with one link, no extended attributes, in a
  folder the writer may write, whose owner and group the new file can have): a temporary
  copy beside it with the same owner, group and mode, synced, renamed over it. Readers see the
  old file or the new one, never a torn one.
- **In place** (otherwise, so that links, owner, group, mode, ACLs and the inode stay): a
  recovery copy of the old and the new content is written first, then the new content over
  the file, synced, then the copy is removed. A writer killed in the middle leaves the copy:
  the next :func:`recover` under the file's lock finds the file whole and new (and drops the
  copy), or torn, that is some start of the new content followed by the rest of the old
  (and puts the old content back), or changed by someone since (and leaves it alone). The
  copy sits beside the file (``.NAME.conda-limits-recovery``) or, in a folder the writer may
  not write, in ``$XDG_CACHE_HOME/conda-limits/recovery/`` (then only that user's next
  command finds it).
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
from pathlib import Path

from . import atomicfile
from .atomicfile import label, step
from .locking import LockedFile

RECOVERY_SUFFIX = ".conda-limits-recovery"


class _CannotReplace(Exception):
    """Replacing the file would change its owner, group or attributes: write in place."""


def rewrite(locked: LockedFile, data: bytes) -> None:
    """Make the locked file hold ``data``, keeping links, owner, group and mode."""
    info = os.fstat(locked.fd)
    if _replaceable(locked, info):
        try:
            _replace(locked.path, info, data)
            return
        except _CannotReplace:
            pass
    _write_in_place(locked, info, data)


def _replaceable(locked: LockedFile, info: os.stat_result) -> bool:
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        return False
    try:
        if os.listxattr(locked.fd):  # ACLs, SELinux labels, user attributes: keep them
            return False
    except OSError:
        pass  # no extended attributes on this file system
    return True


def _replace(path: Path, info: os.stat_result, data: bytes) -> None:
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except (PermissionError, OSError) as error:
        raise _CannotReplace from error  # a folder the writer may not write
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            made = os.fstat(handle.fileno())
            if (made.st_uid, made.st_gid) != (info.st_uid, info.st_gid):
                try:
                    os.fchown(handle.fileno(), info.st_uid, info.st_gid)
                except PermissionError:
                    raise _CannotReplace from None  # another user's file, a foreign group
            os.fchmod(handle.fileno(), stat.S_IMODE(info.st_mode))
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        step(f"{label(path)}: temporary file written")
        os.replace(tmp, path)
    except BaseException:
        atomicfile.remove(tmp)
        raise
    step(f"{label(path)}: renamed into place")
    atomicfile.sync_folders([path])


def _write_in_place(locked: LockedFile, info: os.stat_result, data: bytes) -> None:
    old = atomicfile.read_fd(locked.fd, locked.path, max(info.st_size, 0))
    copy = _write_recovery_copy(locked.path, info, old, data)
    try:
        _overwrite(locked.fd, data)
    except BaseException:
        _overwrite(locked.fd, old)  # put it back before anything else happens
        atomicfile.remove(copy)
        raise
    step(f"{label(locked.path)}: written in place")
    atomicfile.remove(copy)
    step(f"{label(locked.path)}: recovery copy removed")


def _overwrite(fd: int, data: bytes) -> None:
    view, done = memoryview(data), 0
    while done < len(data):
        done += os.pwrite(fd, view[done:], done)
    os.ftruncate(fd, len(data))
    os.fsync(fd)


def recovery_paths(path: Path, info: os.stat_result) -> list[Path]:
    """Where a recovery copy of the file (real path ``path``) would be: beside it, else in
    this user's cache."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return [path.with_name(f".{path.name}{RECOVERY_SUFFIX}"),
            cache / "conda-limits" / "recovery" / f"{info.st_dev}-{info.st_ino}"]


def remove_leftovers(locked: LockedFile) -> None:
    """Remove the temporary files that interrupted writes of the file (or of its recovery
    copy) left beside it or in the cache (under the file's exclusive lock)."""
    for copy in recovery_paths(locked.path, os.fstat(locked.fd)):
        names = [copy.name] + ([locked.path.name] if copy.parent == locked.path.parent else [])
        atomicfile.remove_temporaries(copy.parent, names)


_HEADER = b"conda-limits recovery copy: %d bytes before, %d bytes after\n"


def _write_recovery_copy(path: Path, info: os.stat_result, old: bytes, new: bytes) -> Path:
    mode = stat.S_IMODE(info.st_mode) & 0o666 or 0o600
    data = _HEADER % (len(old), len(new)) + old + new
    last: OSError | None = None
    for copy in recovery_paths(path, info):
        try:
            copy.parent.mkdir(parents=True, exist_ok=True)
            atomicfile.write_bytes(copy, data, mode=mode)
            return copy
        except OSError as error:
            last = error
    assert last is not None
    raise last


def pending_recovery(locked: LockedFile) -> Path | None:
    """The recovery copy an interrupted in-place write of this file left, if any."""
    info = os.fstat(locked.fd)
    for copy in recovery_paths(locked.path, info):
        if copy.is_file():
            return copy
    return None


def recover(locked: LockedFile, limit: int) -> bool:
    """Finish what an interrupted in-place write left (under the file's exclusive lock):
    a torn file gets its old content back. Returns whether it put anything back."""
    copy = pending_recovery(locked)
    if copy is None:
        return False
    restored = False
    parts = _read_recovery_copy(copy, 2 * limit + 200)
    if parts is not None:
        old, new = parts
        current = atomicfile.read_fd(locked.fd, locked.path, limit + 1)
        if current != new and _torn(current, old, new):
            _overwrite(locked.fd, old)
            restored = True
            step(f"{label(locked.path)}: recovered")
    atomicfile.remove(copy)
    return restored


def _read_recovery_copy(copy: Path, limit: int) -> tuple[bytes, bytes] | None:
    try:
        raw = atomicfile.read_bytes(copy, limit) or b""
    except (OSError, ValueError):
        return None
    header, _, body = raw.partition(b"\n")
    match = re.fullmatch(_HEADER.rstrip(b"\n").replace(b"%d", rb"(\d+)"), header)
    if match is None:
        return None
    before, after = int(match[1]), int(match[2])
    if len(body) != before + after:
        return None
    return body[:before], body[before:]


def _torn(current: bytes, old: bytes, new: bytes) -> bool:
    """Whether ``current`` is what overwriting ``old`` with ``new`` leaves when stopped part
    way: ``new[:k] + old[k:]`` for some k (before the final truncation)."""
    k = len(os.path.commonprefix([current, new]))
    return current[k:] == old[k:] and len(current) == max(len(old), k)
