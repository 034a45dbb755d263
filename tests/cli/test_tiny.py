"""Values below the floors through the real conda: refused by ``conda limits set``, ``apply``
and ``conda run-limited`` (exit status 2, nothing written or run), allowed by ``--allow-tiny``
and by conda's ``limits_allow_tiny`` setting; as this user and as an unprivileged one."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from conda_limits.limits.model import parse_limits
from conda_limits.state import environment_yml, prefix_files, record

from ..conftest import requires_conda
from .test_environment_yml import write

pytestmark = requires_conda

CONDA = Path(sys.prefix, "bin", "conda")
UNPRIVILEGED = "limtest"
TINY = [["--nofile", "3"], ["--vmem", "16M"], ["--stack", "0"], ["--cpu", "0"],
        ["--data", "1M"], ["--nproc", "1"], ["--fsize", "0"], ["--nofile", "8", "--hard"]]


def no_limits_written(prefix: Path) -> bool:
    return not record.record_path(prefix).exists() and \
        not any(path.exists() for path in prefix_files.script_paths(prefix))


@pytest.fixture
def cli(conda_cli):
    """``conda_cli`` with conda's plugin settings read afresh (see test_site_defaults)."""
    from conda.base.context import context, reset_context

    def run(*args, **kwargs):
        reset_context()
        with suppress(AttributeError):
            del context.plugins
        return conda_cli(*args, **kwargs)

    yield run
    reset_context()


@pytest.mark.parametrize("flags", TINY, ids=" ".join)
def test_set_refuses_a_tiny_value_with_exit_status_2_and_writes_nothing(cli, tmp_env, flags):
    from conda.exceptions import ArgumentError

    with tmp_env() as prefix:
        _, _, error = cli("limits", "set", "-p", prefix, "--cpu", "1h", *flags,
                          raises=ArgumentError)
        message = str(error.value)
        assert f"{flags[0]} " in message and " is below " in message
        assert "`conda deactivate` included" in message
        assert "Nothing was done" in message and "add --allow-tiny" in message
        assert error.value.return_code == 2
        assert no_limits_written(prefix)


def test_core_and_memlock_0_need_nothing(cli, tmp_env):
    with tmp_env() as prefix:
        _, err, code = cli("limits", "set", "-p", prefix, "--core", "0", "--memlock", "0",
                           "--nofile", "32", "--vmem", "256M")
        assert not code, err
        assert record.read(prefix) == parse_limits({"core": 0, "memlock": 0, "nofile": 32,
                                                    "vmem": "256M"})


def test_allow_tiny_flag_and_setting(cli, tmp_env, monkeypatch):
    with tmp_env() as prefix:
        out, err, code = cli("limits", "set", "-p", prefix, "--nofile", "3", "--allow-tiny")
        assert not code, err
        assert record.read(prefix) == parse_limits({"nofile": 3})
        monkeypatch.setenv("CONDA_PLUGINS_LIMITS_ALLOW_TINY", "1")
        out, err, code = cli("limits", "set", "-p", prefix, "--vmem", "16M")
        assert not code, err
        assert record.read(prefix) == parse_limits({"nofile": 3, "vmem": "16M"})
        monkeypatch.setenv("CONDA_PLUGINS_LIMITS_ALLOW_TINY", "false")
        from conda.exceptions import ArgumentError

        cli("limits", "set", "-p", prefix, "--vmem", "8M", raises=ArgumentError)
        # a tiny value already recorded does not stop other changes
        out, err, code = cli("limits", "set", "-p", prefix, "--cpu", "1h")
        assert not code, err
        assert record.read(prefix)["nofile"] == parse_limits({"nofile": 3})["nofile"]


def test_set_on_a_file_refuses_and_leaves_it(cli, tmp_path):
    from conda.exceptions import ArgumentError

    path = write(tmp_path / "environment.yml", "name: x\ndependencies: []\n")
    cli("limits", "set", "-f", path, "--vmem", "16M", raises=ArgumentError)
    assert path.read_text() == "name: x\ndependencies: []\n"
    cli("limits", "set", "-f", path, "--vmem", "16M", "--allow-tiny")
    assert environment_yml.load(path).limits == parse_limits({"vmem": "16M"})


def test_apply_refuses_a_tiny_file_value_naming_its_line(cli, tmp_env, tmp_path):
    from conda_limits.cli.exceptions import LimitsFileError

    path = write(tmp_path / "environment.yml",
                 "name: x\ndependencies: []\nlimits:\n  vmem: 4G\n  nofile: 3\n")
    with tmp_env() as prefix:
        _, _, error = cli("limits", "apply", "-f", path, "-p", prefix, raises=LimitsFileError)
        assert f"{path}:5:11: limits.nofile: 3 is below 32" in str(error.value)
        assert "add --allow-tiny" in str(error.value)
        assert no_limits_written(prefix)
        _, err, code = cli("limits", "apply", "-f", path, "-p", prefix, "--allow-tiny")
        assert not code, err
        assert record.read(prefix) == parse_limits({"vmem": "4G", "nofile": 3})


# ----------------------------------------------------------------- in conda processes


def _unprivileged() -> str | None:
    if os.geteuid() != 0 or not shutil.which("runuser"):
        return None
    try:
        return pwd.getpwnam(UNPRIVILEGED).pw_name
    except KeyError:
        return None


USERS = [None] + ([_unprivileged()] if _unprivileged() else [])


def conda_as(user: str | None, *args: str,
             environ: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """conda in a process of its own, as ``user`` (None: this user), with ``environ`` added
    to this process's variables."""
    if not CONDA.exists():
        pytest.skip(f"no conda executable at {CONDA}")
    argv = [str(CONDA), *args]
    if user:
        argv = ["runuser", "-u", user, "--", *argv]
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd="/",
                          stdin=subprocess.DEVNULL, env={**os.environ, **(environ or {})})


@contextmanager
def owned_dir(user: str | None) -> Iterator[Path]:
    """A temporary folder that ``user`` owns."""
    folder = Path(tempfile.mkdtemp(prefix="conda-limits-tiny-"))
    try:
        if user:
            entry = pwd.getpwnam(user)
            os.chown(folder, entry.pw_uid, entry.pw_gid)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("user", USERS, ids=lambda u: u or "this user")
def test_in_conda_processes(user):
    with owned_dir(user) as folder:
        prefix = folder / "env"
        made = conda_as(user, "create", "-p", str(prefix), "--yes", "--quiet")
        assert made.returncode == 0, made.stderr
        refused = conda_as(user, "limits", "set", "-p", str(prefix), "--nofile", "3")
        assert refused.returncode == 2
        assert "ArgumentError: --nofile 3 is below 32" in refused.stderr
        assert no_limits_written(prefix)

        marker = folder / "ran"
        run = conda_as(user, "run-limited", "-p", str(prefix), "--stack", "0", "--",
                       "touch", str(marker))
        assert run.returncode == 2 and "--stack 0 is below 1M" in run.stderr
        assert not marker.exists()

        allowed = conda_as(user, "run-limited", "-p", str(prefix), "--stack", "512K",
                           "--allow-tiny", "--", "sh", "-c", "ulimit -s")
        assert allowed.returncode == 0, allowed.stderr
        assert allowed.stdout.split() == ["512"]

        done = conda_as(user, "limits", "set", "-p", str(prefix), "--nofile", "3",
                        "--allow-tiny")
        assert done.returncode == 0, done.stderr
        assert record.read(prefix) == parse_limits({"nofile": 3})
