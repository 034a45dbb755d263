"""Several files changed together, all or nothing, whatever interrupts the change."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conda_limits.state import atomicfile, transaction


@pytest.fixture
def files(tmp_path):
    """Three files: a and b exist, c does not."""
    (tmp_path / "a").write_bytes(b"old a\n")
    (tmp_path / "b").write_bytes(b"old b\n")
    return [tmp_path / "a", tmp_path / "b", tmp_path / "c"]


def contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


CHANGES = [b"new a\n", None, b"new c\n"]  # replace a, remove b, create c


def test_commit_changes_every_file(files):
    changed = transaction.commit(list(zip(files, CHANGES)))
    assert changed == files
    assert contents(files[0].parent) == {"a": b"new a\n", "c": b"new c\n"}


def test_unchanged_files_are_left_alone(files):
    before = files[0].stat().st_mtime_ns, files[0].stat().st_ino
    assert transaction.commit([(files[0], b"old a\n"), (files[2], None)]) == []
    assert (files[0].stat().st_mtime_ns, files[0].stat().st_ino) == before


def steps_of(changes) -> list[str]:
    seen: list[str] = []
    atomicfile.on_step = seen.append
    try:
        transaction.commit(changes)
    finally:
        atomicfile.on_step = None
    return seen


def test_the_steps_follow_the_order_given(files):
    seen = steps_of(list(zip(files, CHANGES)))
    firsts = [next(i for i, s in enumerate(seen) if s.split(": ")[0].endswith(f"/{name}"))
              for name in "abc"]
    assert firsts == sorted(firsts)
    assert seen[-1].endswith("backup removed")


@pytest.mark.parametrize("error", [KeyboardInterrupt, MemoryError, OSError, SystemExit])
def test_any_exception_at_any_step_rolls_everything_back(tmp_path, error):
    """Stopped at any step before the change is complete, every file is as it was and no
    temporary file is left; stopped while removing backups, the change is complete."""
    def prepare(folder: Path) -> list[tuple[Path, bytes | None]]:
        folder.mkdir()
        (folder / "a").write_bytes(b"old a\n")
        (folder / "b").write_bytes(b"old b\n")
        return [(folder / name, change) for name, change in zip("abc", CHANGES)]

    steps = steps_of(prepare(tmp_path / "reference"))
    assert len(steps) >= 8
    for number, name in enumerate(steps, 1):
        folder = tmp_path / f"stop{number}"
        changes = prepare(folder)
        calls: list[str] = []

        def interrupt(what, number=number, calls=calls):
            calls.append(what)
            if len(calls) == number:
                raise error(f"stopped at {what}")

        atomicfile.on_step = interrupt
        try:
            with pytest.raises(error):
                transaction.commit(changes)
        finally:
            atomicfile.on_step = None
        assert calls[-1].split("/", 1)[1] == name.split("/", 1)[1]
        if name.endswith("backup removed"):
            files = {k: v for k, v in contents(folder).items() if not k.endswith(".tmp")}
            assert files == {"a": b"new a\n", "c": b"new c\n"}, name
        else:
            assert contents(folder) == {"a": b"old a\n", "b": b"old b\n"}, name


def test_a_folder_in_the_way_is_an_error_and_rolls_back(files):
    files[1].unlink()
    files[1].mkdir()
    with pytest.raises(IsADirectoryError):
        transaction.commit([(files[0], b"new a\n"), (files[1], None)])
    assert files[0].read_bytes() == b"old a\n" and files[1].is_dir()
    assert not [p for p in files[0].parent.iterdir() if p.name.endswith(".tmp")]


def test_without_hard_links_the_file_is_moved_aside(files, monkeypatch):
    def no_links(*args, **kwargs):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    seen = steps_of([(files[0], b"new a\n")])
    assert f"{files[0].parent.name}/a: moved aside" in seen
    assert files[0].read_bytes() == b"new a\n"


def test_root_keeps_the_owner_and_mode_of_a_replaced_file(files):
    files[0].chmod(0o640)
    if os.geteuid() == 0:
        os.chown(files[0], 1234, 5678)
    transaction.commit([(files[0], b"new a\n")])
    info = files[0].stat()
    assert info.st_mode & 0o777 == 0o640
    if os.geteuid() == 0:
        assert (info.st_uid, info.st_gid) == (1234, 5678)
