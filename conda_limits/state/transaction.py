"""Change several files together, all or nothing: the record and the scripts of a prefix.

:func:`commit` writes each file as :mod:`~conda_limits.state.atomicfile` does (temporary file,
rename), keeping a backup of what it replaces or removes (a hard link, or the renamed file)
until every file is done. On any exception, ``KeyboardInterrupt`` included, it puts the
files already changed back. A process killed in the middle cannot roll back: each file is
then old or new, never torn, and the backups and temporary files are left as
``.NAME.XXXXXXXX.tmp`` beside them for the next writer to remove
(:func:`~conda_limits.state.atomicfile.remove_temporaries`). Callers order the files so that such a
half-done change is harmless and visible (see :mod:`conda_limits.state.prefix_files`).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from . import atomicfile
from .atomicfile import label, step


@dataclass
class _Done:
    path: Path
    backup: Path | None  # what the path held before (None: it did not exist)


def commit(changes: Sequence[tuple[Path, bytes | None]]) -> list[Path]:
    """Make each path hold its bytes (None: not exist), in the order given, all or nothing.

    Files that already hold their bytes are left alone. Returns the paths changed. Raises
    the ``OSError`` that stopped it (after rolling back), or whatever else interrupted it.
    An exception while the backups are removed at the end leaves the change complete.
    """
    done: list[_Done] = []
    try:
        for path, data in changes:
            if data is None:
                _remove(path, done)
            else:
                _write(path, data, done)
    except BaseException:
        _roll_back(done)
        raise
    for change in done:
        if change.backup is not None:
            try:
                atomicfile.remove(change.backup)
            except OSError:
                pass  # the next writer removes it
            step(f"{label(change.path)}: backup removed")
    atomicfile.sync_folders([change.path for change in done])
    return [change.path for change in done]


def _write(path: Path, data: bytes, done: list[_Done]) -> None:
    """Replace or create ``path``; what it did is in ``done`` before the step is reported."""
    if atomicfile.holds(path, data):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = atomicfile.temporary(path, data)
    try:
        backup = _backup(path, keep=True)
    except BaseException:
        atomicfile.remove(tmp)
        raise
    try:
        os.replace(tmp, path)
    except BaseException:
        atomicfile.remove(tmp)
        if backup is not None:
            _put_back(backup, path)
        raise
    done.append(_Done(path, backup))
    step(f"{label(path)}: renamed into place")


def _remove(path: Path, done: list[_Done]) -> None:
    backup = _backup(path, keep=False)
    if backup is not None:
        done.append(_Done(path, backup))


def _backup(path: Path, *, keep: bool) -> Path | None:
    """Keep what ``path`` holds under a temporary name (None: there is nothing).

    With ``keep`` the path stays (a hard link, where the file system and the kernel's
    protected_hardlinks allow it); otherwise, or failing that, it is renamed. Undone if
    interrupted.
    """
    if not os.path.lexists(path):
        return None
    if os.path.isdir(path) and not os.path.islink(path):
        raise IsADirectoryError(21, "is a directory, not a file", str(path))
    backup = _backup_name(path)
    linked = False
    if keep:
        try:
            os.link(path, backup, follow_symlinks=False)
            linked = True
        except OSError:
            pass
    if not linked:
        os.rename(path, backup)  # a replacement then leaves the path missing for a moment
    try:
        step(f"{label(path)}: {'backup linked' if linked else 'moved aside'}")
    except BaseException:
        _put_back(backup, path)
        raise
    return backup


def _put_back(backup: Path, path: Path) -> None:
    """Undo :func:`_backup` after the new file could not take the path."""
    if os.path.lexists(path):
        atomicfile.remove(backup)  # a hard link: the path still holds the old file
    else:
        os.replace(backup, path)


def _backup_name(path: Path) -> Path:
    while True:
        candidate = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        if not os.path.lexists(candidate):
            return candidate


def _roll_back(done: list[_Done]) -> None:
    """Put back what ``done`` changed, last first, as far as possible."""
    for change in reversed(done):
        try:
            if change.backup is None:
                atomicfile.remove(change.path)
            else:
                os.replace(change.backup, change.path)
        except OSError:
            pass
