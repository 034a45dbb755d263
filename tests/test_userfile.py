"""Editing a user's environment.yml keeps it theirs: links, owner, group, mode; never torn."""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conda_limits.limits.model import parse_limits
from conda_limits.state import environment_yml, userfile

from .readonly import read_only
from .writers import environ

TEXT = "name: team\n# keep this comment\ndependencies:\n  - python\nlimits:\n  nofile: 1024\n"
NEW = parse_limits({"nofile": 2048, "vmem": "8G"})
ROOT = os.geteuid() == 0


def unprivileged() -> pwd.struct_passwd:
    if not ROOT:
        pytest.skip("needs root, to hand files to an unprivileged user")
    try:
        return pwd.getpwnam("limtest")
    except KeyError:
        pytest.skip("no unprivileged user 'limtest' here (useradd -m limtest)")


@pytest.fixture
def open_tmp():
    """A temporary folder other users can enter (pytest's own are private to root)."""
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="conda-limits-test-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def envfile(tmp_path) -> Path:
    path = tmp_path / "environment.yml"
    path.write_text(TEXT)
    return path


def set_new(path: Path) -> None:
    environment_yml.set_limits(path, NEW)


def test_a_symlink_is_written_through(tmp_path, envfile):
    link = tmp_path / "link.yml"
    link.symlink_to(envfile)
    set_new(link)
    assert link.is_symlink() and link.resolve() == envfile
    assert environment_yml.load(envfile).limits == NEW


def test_a_chain_of_relative_symlinks_is_written_through(tmp_path, envfile):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "one.yml").symlink_to("../environment.yml")
    (tmp_path / "two.yml").symlink_to("sub/one.yml")
    set_new(tmp_path / "two.yml")
    assert environment_yml.load(envfile).limits == NEW
    assert (tmp_path / "two.yml").is_symlink() and (tmp_path / "sub" / "one.yml").is_symlink()


def test_hard_links_stay_one_file(tmp_path, envfile):
    other = tmp_path / "other.yml"
    other.hardlink_to(envfile)
    inode = envfile.stat().st_ino
    set_new(other)
    assert envfile.stat().st_ino == inode == other.stat().st_ino
    assert envfile.stat().st_nlink == 2
    assert environment_yml.load(envfile).limits == NEW
    assert sorted(p.name for p in tmp_path.iterdir()) == ["environment.yml", "other.yml"]


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o664, 0o444 | 0o200])
def test_the_mode_is_kept(envfile, mode):
    envfile.chmod(mode)
    set_new(envfile)
    assert stat.S_IMODE(envfile.stat().st_mode) == mode


def test_root_keeps_a_users_file_theirs(open_tmp):
    user = unprivileged()
    envfile = open_tmp / "environment.yml"
    envfile.write_text(TEXT)
    envfile.chmod(0o640)
    os.chown(envfile, user.pw_uid, user.pw_gid)
    set_new(envfile)
    info = envfile.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == \
        (user.pw_uid, user.pw_gid, 0o640)
    read = subprocess.run(["runuser", "-u", user.pw_name, "--", "cat", str(envfile)],
                          capture_output=True, text=True, check=False)
    assert read.returncode == 0 and "vmem: 8G" in read.stdout


def run_as(user: pwd.struct_passwd, code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["runuser", "-u", user.pw_name, "--", sys.executable, "-c", code,
                           *args], capture_output=True, text=True, check=False,
                          env=environ(HOME=user.pw_dir, XDG_CACHE_HOME=""))


SET_AS_USER = """
import sys
from conda_limits.state import environment_yml
from conda_limits.limits.model import parse_limits
try:
    environment_yml.set_limits(sys.argv[1], parse_limits({"nofile": 2048, "vmem": "8G"}))
except environment_yml.EnvFileError as error:
    print(error)
    sys.exit(3)
"""


def shared_folder(open_tmp: Path, user: pwd.struct_passwd) -> Path:
    """A folder the user may enter and write."""
    folder = open_tmp / "shared"
    folder.mkdir()
    os.chown(folder, user.pw_uid, user.pw_gid)
    return folder


def test_a_user_keeps_anothers_writable_file_theirs(open_tmp):
    """A user edits root's group-writable file in the user's folder: written in place,
    root's owner and mode stay (a rename would have made it the user's)."""
    user = unprivileged()
    path = shared_folder(open_tmp, user) / "environment.yml"
    path.write_text(TEXT)
    path.chmod(0o666)
    result = run_as(user, SET_AS_USER, str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    info = path.stat()
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (0, 0o666)
    assert environment_yml.load(path).limits == NEW
    assert sorted(p.name for p in path.parent.iterdir()) == ["environment.yml"]


def test_a_user_cannot_write_anothers_read_only_file(open_tmp):
    user = unprivileged()
    path = shared_folder(open_tmp, user) / "environment.yml"
    path.write_text(TEXT)
    path.chmod(0o644)
    result = run_as(user, SET_AS_USER, str(path))
    assert result.returncode == 3, result.stderr
    assert "cannot write: Permission denied; the file was not changed" in result.stdout
    assert path.read_text() == TEXT


def test_a_file_that_cannot_be_written_is_refused(envfile):
    with read_only(envfile):
        with pytest.raises(environment_yml.EnvFileError,
                           match="cannot write: Operation not permitted|cannot write: "
                                 "Permission denied") as caught:
            set_new(envfile)
        assert "the file was not changed" in str(caught.value)
        assert environment_yml.set_limits(envfile, NEW, dry_run=True)[1] == NEW  # reads
    assert envfile.read_text() == TEXT


def test_a_file_in_a_folder_that_cannot_be_written_is_written_in_place(tmp_path, monkeypatch):
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "environment.yml"
    path.write_text(TEXT)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    inode = path.stat().st_ino
    with read_only(folder):
        set_new(path)
    assert path.stat().st_ino == inode
    assert environment_yml.load(path).limits == NEW
    assert list((tmp_path / "cache" / "conda-limits" / "recovery").iterdir()) == []


def test_extended_attributes_are_kept(envfile):
    try:
        os.setxattr(envfile, "user.project", b"alpha")
    except OSError:
        pytest.skip("no user extended attributes on this file system")
    set_new(envfile)
    assert os.getxattr(envfile, "user.project") == b"alpha"


def test_files_above_the_cap_are_refused(envfile):
    envfile.write_text(TEXT + "#" * environment_yml.MAX_BYTES)
    with pytest.raises(environment_yml.EnvFileError, match="conda-limits reads files of up "
                                                           "to 4.0 MiB"):
        environment_yml.load(envfile)


def test_a_fifo_is_refused_without_hanging(tmp_path):
    fifo = tmp_path / "environment.yml"
    os.mkfifo(fifo)
    with pytest.raises(environment_yml.EnvFileError, match="not a regular file"):
        environment_yml.load(fifo)


# ----------------------------------------------------------------- kills at every step

KILLED_WRITER = """
import sys
from conda_limits.state import environment_yml
from conda_limits.limits.model import parse_limits
environment_yml.set_limits(sys.argv[1], parse_limits({"nofile": 2048, "vmem": "8G"}))
"""


@pytest.mark.parametrize("how", ["replace", "in place"])
def test_a_kill_at_any_step_leaves_the_old_file_or_the_new(tmp_path, how):
    old_text = TEXT + "# padding\n" * 200  # longer than the new: a torn write would show
    new_text = environment_yml.edit(environment_yml.loads(old_text), NEW)
    step = 1
    while True:
        folder = tmp_path / f"kill{step}"
        folder.mkdir()
        path = folder / "environment.yml"
        path.write_text(old_text)
        if how == "in place":
            (folder / "link.yml").hardlink_to(path)
        killed = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(path)],
                                env=environ(CONDA_LIMITS_TEST_KILL_AT_STEP=str(step),
                                            XDG_CACHE_HOME=str(tmp_path / "cache")),
                                capture_output=True, text=True, check=False)
        assert killed.returncode in (0, -9), killed.stderr
        env = environment_yml.load(path)  # recovers an interrupted in-place write
        assert env.text in (old_text, new_text), step
        environment_yml.set_limits(path, NEW)  # the next write leaves nothing behind
        names = sorted(p.name for p in folder.iterdir())
        assert names == (["environment.yml", "link.yml"] if how == "in place" else
                         ["environment.yml"]), (step, names)
        if killed.returncode == 0:
            break
        step += 1
    assert step >= 3


def test_a_torn_in_place_write_is_put_back(tmp_path):
    """What a kill between the writes of an in-place update leaves is recovered exactly."""
    path = tmp_path / "environment.yml"
    old, new = b"name: a\n" + b"# pad\n" * 100, b"name: b\nlimits:\n  nofile: 64\n"
    path.write_bytes(old)
    from conda_limits.state import locking

    with locking.file(path) as locked:
        info = os.fstat(locked.fd)
        userfile._write_recovery_copy(path, info, old, new)
        os.pwrite(locked.fd, new[:10], 0)  # torn: part of the new, the rest of the old
    assert environment_yml.load(path).text == old.decode()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["environment.yml"]


def test_a_file_changed_since_an_interrupted_write_is_left_alone(tmp_path):
    path = tmp_path / "environment.yml"
    path.write_bytes(b"name: a\n")
    from conda_limits.state import locking

    with locking.file(path) as locked:
        userfile._write_recovery_copy(path, os.fstat(locked.fd), b"name: a\n", b"name: b\n")
    path.write_bytes(b"name: edited by hand\n")
    assert environment_yml.load(path).name == "edited by hand"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["environment.yml"]
