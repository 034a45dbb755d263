"""Writers of one environment's limits started at the same moment, in separate processes.

Every writer reads the record, merges its limits in and writes record and scripts under the
environment's lock: no limit is lost, and the scripts follow the record at the end.
"""

from __future__ import annotations

import pytest

from conda_limits.state import environment_yml

from .writers import VALUES, environ, limits_of, run_together, settled


@pytest.fixture
def prefix(tmp_path):
    (tmp_path / "conda-meta").mkdir()
    return tmp_path


@pytest.mark.parametrize("trial", range(3))
def test_writers_of_different_limits_keep_them_all(prefix, trial):
    writers = [{key: values[0]} for key, values in VALUES.items()]
    run_together(prefix, writers)
    assert settled(prefix) == limits_of({key: values[0] for key, values in VALUES.items()})


@pytest.mark.parametrize("trial", range(2))
def test_writers_of_the_same_limit_leave_one_of_theirs(prefix, trial):
    values = [1000 + n for n in range(6)]
    run_together(prefix, [{"nofile": value, "cpu": f"{value}s"} for value in values])
    limits = settled(prefix)
    assert limits["nofile"].soft in values
    assert limits["cpu"].soft == limits["nofile"].soft  # both from the same writer


def test_setting_and_removing_together_ends_in_step(prefix):
    run_together(prefix, [{"nofile": 1024}, None, {"vmem": "8G"}, None, {"data": "4G"}])
    settled(prefix)


FILE_WRITER = """
import sys, time
from conda_limits.state import environment_yml
from conda_limits.limits.model import parse_limits
time.sleep(max(0.0, float(sys.argv[3]) - time.time()))
environment_yml.set_limits(sys.argv[1], parse_limits({sys.argv[2]: sys.argv[4]}))
"""


@pytest.mark.parametrize("link", ["plain", "symlink", "hardlink"])
def test_writers_of_an_environment_file_keep_every_limit(tmp_path, link):
    import subprocess
    import sys
    import time

    real = tmp_path / "real.yml"
    real.write_text("name: shared\n# the team's environment\ndependencies:\n  - python\n")
    path = tmp_path / "environment.yml"
    if link == "plain":
        path = real
    elif link == "symlink":
        path.symlink_to(real)
    else:
        path.hardlink_to(real)
    start = time.time() + 1.0
    processes = [subprocess.Popen([sys.executable, "-c", FILE_WRITER, str(path), key,
                                   str(start), str(values[0])], env=environ(),
                                  stderr=subprocess.PIPE)
                 for key, values in VALUES.items()]
    for process in processes:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err.decode()
    env = environment_yml.load(path)
    assert env.limits == limits_of({key: values[0] for key, values in VALUES.items()})
    assert env.text.startswith("name: shared\n# the team's environment\ndependencies:\n")
    if link == "symlink":
        assert path.is_symlink()
    if link == "hardlink":
        assert path.stat().st_ino == real.stat().st_ino and real.stat().st_nlink == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({"real.yml", path.name})


HALF_WRITER = """
import sys, time
from conda_limits.state import locking, prefix_files, record
from conda_limits.limits.model import parse_limits
prefix = sys.argv[1]
new = parse_limits({"nofile": 2048})
with locking.environment(prefix):
    path = record.record_path(prefix)
    path.write_text(record.dumps(new))  # the record changed, the scripts not yet
    print("half", flush=True)
    time.sleep(1.0)
    prefix_files.write(prefix, new)
"""


def test_a_reader_never_sees_half_a_change(prefix):
    """A writer stops between the record and the scripts while holding the lock: a reader
    waits for it and then sees the whole change."""
    import subprocess
    import sys

    from conda_limits.state import prefix_files

    prefix_files.write(prefix, limits_of({"nofile": 1024}))
    writer = subprocess.Popen([sys.executable, "-c", HALF_WRITER, str(prefix)],
                              env=environ(), stdout=subprocess.PIPE, text=True)
    assert writer.stdout is not None and writer.stdout.readline() == "half\n"
    state = prefix_files.check(prefix)  # waits for the writer
    assert writer.wait(timeout=60) == 0
    assert state.in_step and state.limits == limits_of({"nofile": 2048})
