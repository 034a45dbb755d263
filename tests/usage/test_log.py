"""The usage log with real files and real processes: concurrency, rotation, fallbacks."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from conda_limits.usage import log
from conda_limits.usage.entry import Run

from ..test_prefix_files import read_only

ROOT = os.geteuid() == 0
SOURCE = str(Path(__file__).resolve().parents[2])


def a_run(number: int = 0, command: str = "python") -> Run:
    return Run(at=1764583200.0 + number, via="run-limited", command=command, wall=1.0,
               status=0, used={"rss": (number + 1) << 20, "cpu": 0.5})


@pytest.fixture
def env(tmp_path) -> Path:
    prefix = tmp_path / "env"
    (prefix / "conda-meta").mkdir(parents=True)
    return prefix


@pytest.fixture
def home(tmp_path) -> dict[str, str]:
    """An environment whose user state directory is under tmp_path."""
    state = tmp_path / "state"
    return {"HOME": str(tmp_path / "home"), "XDG_STATE_HOME": str(state)}


def test_runs_are_appended_to_the_prefix_and_read_back_oldest_first(env, home):
    for number in (2, 0, 1):
        assert log.append(env, a_run(number), environ=home) == env / log.LOG
    entries = log.read(env, environ=home)
    assert [run.at for run in entries.runs] == sorted(run.at for run in entries.runs)
    assert len(entries.runs) == 3 and entries.skipped == 0
    assert entries.files == (env / log.LOG,)
    assert not Path(home["XDG_STATE_HOME"]).exists()


def test_the_prefix_log_is_beside_the_record():
    assert log.LOG == Path("etc", "conda", "limits-usage.jsonl")


def test_user_log_is_keyed_by_the_real_path_of_the_prefix(env, tmp_path, home):
    link = tmp_path / "link"
    link.symlink_to(env)
    mine = log.user_log(env, home)
    assert mine == log.user_log(link, home)
    assert mine is not None and mine.parent == Path(home["XDG_STATE_HOME"], "conda-limits",
                                                    "usage")
    assert mine.name.startswith("env-") and mine.suffix == ".jsonl"
    other = tmp_path / "other" / "env"
    assert log.user_log(other, home) != mine


def test_state_dir_follows_xdg_rules(tmp_path):
    assert log.state_dir({"HOME": "/home/u"}) == Path("/home/u/.local/state/conda-limits/usage")
    assert log.state_dir({"HOME": "/home/u", "XDG_STATE_HOME": "relative"}) == \
        Path("/home/u/.local/state/conda-limits/usage")
    assert log.state_dir({"XDG_STATE_HOME": "/s"}) == Path("/s/conda-limits/usage")


def test_a_read_only_prefix_records_into_the_users_state_dir(env, home):
    (env / "etc" / "conda").mkdir(parents=True)
    with read_only(env / "etc" / "conda"):
        written = log.append(env, a_run(), environ=home)
    assert written == log.user_log(env, home)
    assert not (env / log.LOG).exists()
    assert oct(written.parent.stat().st_mode & 0o777) == oct(0o700)
    entries = log.read(env, environ=home)
    assert [run.at for run in entries.runs] == [a_run().at]
    assert entries.files == (written,)


def test_runs_from_both_logs_are_merged(env, home):
    log.append(env, a_run(5), environ=home)
    (env / "etc" / "conda").chmod(0o755)
    with read_only(env / "etc" / "conda"):
        os.chmod(env / log.LOG, 0o444)
        if ROOT:  # root ignores file modes: make the file itself immutable too
            with read_only(env / log.LOG):
                log.append(env, a_run(1), environ=home)
        else:
            log.append(env, a_run(1), environ=home)
    assert [run.at for run in log.read(env, environ=home).runs] == [a_run(1).at, a_run(5).at]


def test_nothing_writable_raises_not_recorded_naming_each_place(env, tmp_path):
    (env / "etc" / "conda").mkdir(parents=True)
    state = tmp_path / "state"
    state.mkdir()
    with read_only(env / "etc" / "conda", state), pytest.raises(log.NotRecorded) as caught:
        log.append(env, a_run(), environ={"XDG_STATE_HOME": str(state)})
    assert len(caught.value.problems) == 2
    assert str(env / log.LOG) in caught.value.problems[0]
    assert str(state) in caught.value.problems[1]


def test_a_removed_environment_is_not_made_again(tmp_path, home):
    gone = tmp_path / "gone"
    written = log.append(gone, a_run(), environ=home)
    assert not gone.exists()
    assert written == log.user_log(gone, home)


def test_the_home_directory_is_never_created(env, tmp_path):
    environ = {"HOME": str(tmp_path / "no-such-home")}
    (env / "etc" / "conda").mkdir(parents=True)
    with read_only(env / "etc" / "conda"), pytest.raises(log.NotRecorded):
        log.append(env, a_run(), environ=environ)
    assert not (tmp_path / "no-such-home").exists()


def test_a_symlinked_log_is_not_followed(env, tmp_path, home):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (env / "etc" / "conda").mkdir(parents=True)
    (env / log.LOG).symlink_to(victim)
    written = log.append(env, a_run(), environ=home)
    assert victim.read_text() == "precious\n"
    assert written == log.user_log(env, home)
    assert log.read(env, environ=home).runs == (a_run(),)


def test_a_fifo_in_place_of_the_log_neither_blocks_nor_is_written(env, home):
    (env / "etc" / "conda").mkdir(parents=True)
    os.mkfifo(env / log.LOG)
    written = log.append(env, a_run(), environ=home)
    assert written == log.user_log(env, home)
    assert log.read(env, environ=home).runs == (a_run(),)


def test_a_log_locked_by_a_stuck_process_is_given_up_quickly(env, home):
    log.append(env, a_run(0), environ=home)
    with open(env / log.LOG, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        start = time.monotonic()
        written = log.append(env, a_run(1), environ=home)
        assert time.monotonic() - start < 2 * log.LOCK_WAIT + 0.5
    assert written == log.user_log(env, home)


def test_torn_lines_cost_only_themselves(env, home):
    path = env / log.LOG
    log.append(env, a_run(0), environ=home)
    with open(path, "ab") as handle:  # a write cut short by a full disk, then the next entry
        handle.write(a_run(1).to_line().encode()[:40])
    log.append(env, a_run(2), environ=home)
    with open(path, "ab") as handle:
        handle.write(b"not json\n\xff\xfe\n{}\n")
    entries = log.read(env, environ=home)
    assert [run.at for run in entries.runs] == [a_run(0).at, a_run(2).at]
    assert entries.skipped == 3


def test_the_log_rotates_and_stays_bounded(env, home):
    line = len(a_run().to_line())
    max_bytes = 20 * line
    for number in range(100):
        log.append(env, a_run(number), environ=home, max_bytes=max_bytes)
    path = env / log.LOG
    rotated = path.with_name(path.name + ".1")
    assert not path.exists() or path.stat().st_size <= max_bytes + line
    assert rotated.stat().st_size <= max_bytes + line
    assert not path.with_name(path.name + ".2").exists()
    kept = log.read(env, environ=home, max_bytes=max_bytes).runs
    assert 20 <= len(kept) <= 42
    assert kept[-1] == a_run(99)  # the newest are kept


def test_a_log_that_cannot_rotate_stops_growing(env, home):
    path = env / log.LOG
    log.append(env, a_run(), environ=home, max_bytes=4096)
    with open(path, "ab") as handle:
        handle.write(b"x" * 2 * 4096 + b"\n")
    with read_only(env / "etc" / "conda"):  # the file is writable, its folder is not
        written = log.append(env, a_run(1), environ=home, max_bytes=4096)
    assert written == log.user_log(env, home)
    assert path.stat().st_size < 3 * 4096


WRITER = textwrap.dedent("""
    import sys
    from conda_limits.usage import log
    from conda_limits.usage.entry import Run

    prefix, worker, count, max_bytes, generations = sys.argv[1:6]
    sys.stdin.read()  # wait until every writer has started
    for n in range(int(count)):
        run = Run(at=1764583200.0, via="run-limited", command=f"w{worker}-{n}", wall=1.0,
                  status=0, used={"rss": 1 << 20})
        log.append(prefix, run, environ={"XDG_STATE_HOME": sys.argv[6]},
                   max_bytes=int(max_bytes), generations=int(generations))
""")


def concurrent_writers(env: Path, state: Path, writers: int, count: int, max_bytes: int,
                       generations: int) -> None:
    """Start ``writers`` processes, let them append ``count`` entries each at once."""
    environ = {**os.environ, "PYTHONPATH": SOURCE}
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(env), str(worker), str(count),
                               str(max_bytes), str(generations), str(state)],
                              stdin=subprocess.PIPE, env=environ)
             for worker in range(writers)]
    time.sleep(0.5)  # let them all import and block on stdin
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.close()
    for proc in procs:
        assert proc.wait(timeout=120) == 0


def all_lines(folder: Path) -> list[str]:
    lines = []
    for path in folder.rglob("*.jsonl*"):
        lines += path.read_text().splitlines()
    return lines


def test_twenty_writers_at_once_lose_nothing(env, tmp_path):
    concurrent_writers(env, tmp_path / "state", writers=20, count=10, max_bytes=log.MAX_BYTES,
                       generations=1)
    lines = (env / log.LOG).read_text().splitlines()
    assert len(lines) == 200
    names = sorted(json.loads(line)["command"] for line in lines)
    assert names == sorted(f"w{w}-{n}" for w in range(20) for n in range(10))
    assert not (tmp_path / "state").exists()


def test_twenty_writers_rotating_all_the_time_lose_nothing(env, tmp_path):
    """With enough generations kept, every entry survives rotations racing with writers."""
    line = len(a_run().to_line())
    concurrent_writers(env, tmp_path / "state", writers=20, count=10, max_bytes=8 * line,
                       generations=200)
    lines = all_lines(env / "etc" / "conda")
    assert all_lines(tmp_path) == lines, "some went to the user's log"
    names = sorted(json.loads(text)["command"] for text in lines)
    assert names == sorted(f"w{w}-{n}" for w in range(20) for n in range(10))
    assert len(list((env / "etc" / "conda").glob("*.jsonl.*"))) >= 10
    assert not (tmp_path / "state").exists()


def test_clear_removes_both_logs(env, home):
    log.append(env, a_run(), environ=home)
    mine = log.user_log(env, home)
    assert mine is not None
    mine.parent.mkdir(parents=True)
    mine.write_text(a_run(1).to_line())
    removed = log.clear(env, environ=home)
    assert set(removed) == {env / log.LOG, mine}
    assert log.read(env, environ=home).runs == ()


@contextlib.contextmanager
def small_tmpfs(size: str = "64k"):
    """A tmpfs of ``size`` mounted on a new folder (root only), unmounted afterwards."""
    if not ROOT or not shutil.which("mount"):
        pytest.skip("mounting a small tmpfs (a disk that fills up) needs root")
    folder = Path(tempfile.mkdtemp(prefix="limits-full-"))
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                              str(folder)], capture_output=True, text=True, check=False)
    if mounted.returncode:
        folder.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)
        folder.rmdir()


def fill(folder: Path) -> None:
    with open(folder / "filler", "wb", buffering=0) as handle, contextlib.suppress(OSError):
        while True:
            handle.write(b"\0" * 4096)


def test_a_full_disk_raises_not_recorded_and_leaves_readable_logs():
    with small_tmpfs() as disk:
        env = disk / "env"
        (env / "conda-meta").mkdir(parents=True)
        environ = {"XDG_STATE_HOME": str(disk / "state")}
        log.append(env, a_run(0), environ=environ)
        fill(disk)
        with pytest.raises(log.NotRecorded) as caught:
            for number in range(1, 50):  # the page the log has left fills up too
                log.append(env, a_run(number), environ=environ)
        assert "No space left on device" in str(caught.value)
        runs = log.read(env, environ=environ).runs
        assert runs and runs[0] == a_run(0)
