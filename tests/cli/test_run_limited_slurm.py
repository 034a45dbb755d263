"""``conda run-limited --slurm`` through the real conda, on the real one-node test cluster."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import conda_limits

from ..conftest import requires_conda

pytestmark = requires_conda

CONDA = Path(sys.prefix, "bin", "conda")
SOURCE = str(Path(conda_limits.__file__).resolve().parent.parent)


def conda(*args: str, environ: dict[str, str] | None = None, user=None,
          cwd: str | Path | None = None) -> subprocess.CompletedProcess:
    if not CONDA.exists():
        pytest.skip(f"no conda executable at {CONDA}")
    kwargs = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []} if user else {}
    return subprocess.run([str(CONDA), *args], capture_output=True, text=True, timeout=300,
                          env=environ, cwd=cwd, **kwargs)


@pytest.fixture(scope="module")
def env():
    """An environment every user can read, with limits, a config variable and a package's
    activate.d script (made by the real conda)."""
    folder = Path(tempfile.mkdtemp(prefix="conda-limits-slurm-cli-"))
    folder.chmod(0o755)
    prefix = folder / "env"
    try:
        for args in (["create", "-q", "-p", str(prefix), "--yes"],
                     ["limits", "set", "-p", str(prefix), "--nofile", "512", "--vmem", "3G"],
                     ["env", "config", "vars", "set", "-p", str(prefix), "MYVAR=hello world"]):
            done = conda(*args)
            assert done.returncode == 0, done.stderr
        scripts = prefix / "etc" / "conda" / "activate.d"
        (scripts / "pkg.sh").write_text('export FROM_PKG="pkg:$CONDA_PREFIX"\n')
        for path in folder.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        yield prefix
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def on_cluster(cluster, **extra: str) -> dict[str, str]:
    return {**cluster.environ(), "PYTHONPATH": SOURCE, **extra}


SHOW = ["sh", "-c", "grep -E '^Max (open files|address space) ' /proc/self/limits; "
        "echo \"$MYVAR|$FROM_PKG|$(id -un)\"; "
        "scontrol -o show job $SLURM_JOB_ID | grep -o ' TRES=[^ ]*'"]


def rows(out: str) -> dict[str, str]:
    return {line[:25].strip(): line[25:].split()[0] for line in out.splitlines()
            if line.startswith("Max ")}


def test_limits_activation_and_mem_on_the_node(slurm_cluster, env):
    done = conda("run-limited", "-p", str(env), "--slurm", "--mem", "100M", "--nofile", "256",
                 "--", *SHOW, environ=on_cluster(slurm_cluster), cwd=env.parent)
    assert done.returncode == 0, done.stderr
    assert rows(done.stdout) == {"Max open files": "256", "Max address space": str(3 << 30)}
    assert f"hello world|pkg:{env}|root\n" in done.stdout
    assert " TRES=cpu=1,mem=100M,node=1,billing=1" in done.stdout
    assert done.stderr == ""


def test_as_an_unprivileged_user(slurm_cluster, env):
    from tests.slurm_cluster import Unavailable, ensure_user

    try:
        user = ensure_user("limtest")
    except Unavailable as error:
        pytest.skip(str(error))
    environ = on_cluster(slurm_cluster, HOME=user.pw_dir, USER=user.pw_name)
    done = conda("run-limited", "-p", str(env), "--slurm=-J mine --mem=120M", "--", *SHOW,
                 environ=environ, user=user, cwd=env.parent)
    if "Permission denied" in done.stderr and done.returncode != 0:
        pytest.skip(f"limtest cannot run {CONDA}: {done.stderr.strip()[-200:]}")
    assert done.returncode == 0, done.stderr
    assert rows(done.stdout)["Max open files"] == "512"
    assert f"hello world|pkg:{env}|limtest\n" in done.stdout
    assert " TRES=cpu=1,mem=120M,node=1,billing=1" in done.stdout


def test_memory_past_mem_is_named(slurm_cluster, env):
    done = conda("run-limited", "-p", str(env), "--slurm", "--mem", "100M", "--vmem",
                 "unlimited", "--", sys.executable, "-c",
                 "import time; a = bytearray(300 << 20); time.sleep(10)",
                 environ=on_cluster(slurm_cluster), cwd=env.parent)
    assert done.returncode != 0
    assert done.stderr.splitlines()[-1].startswith(
        "conda-limits: Slurm's memory limit stopped job ")


def test_exit_status_and_a_signal(slurm_cluster, env):
    environ = on_cluster(slurm_cluster)
    assert conda("run-limited", "-p", str(env), "--slurm", "--", "sh", "-c", "exit 5",
                 environ=environ, cwd=env.parent).returncode == 5
    done = conda("run-limited", "-p", str(env), "--slurm", "--cpu", "1", "--allow-tiny", "--",
                 "sh", "-c", "while :; do :; done", environ=environ, cwd=env.parent)
    assert done.returncode == 152  # 128 + SIGXCPU
    assert done.stderr.splitlines()[-1] == (
        "conda-limits: the cpu limit stopped the command on its node: the limit is 1 s of CPU "
        "time (SIGXCPU)")


@pytest.mark.parametrize(("args", "code", "message"), [
    (["--slurm=-p debug python"], 1, "Cannot run the command with Slurm: 'python' in the srun "
     "options is not an option"),
    (["--slurm=-p 'debug"], 1, "cannot read the srun options"),
    (["--slurm", "--report"], 2, "--report measures a command on this machine"),
])
def test_bad_input_nothing_runs(env, tmp_path, args, code, message):
    marker = tmp_path / "ran"
    done = conda("run-limited", "-p", str(env), *args, "--", "touch", str(marker),
                 environ={**os.environ, "PYTHONPATH": SOURCE})
    assert done.returncode == code
    assert message in done.stderr
    assert not marker.exists()


def test_no_slurm_installed_nothing_runs(env, tmp_path):
    marker = tmp_path / "ran"
    done = conda("run-limited", "-p", str(env), "--slurm", "--", "touch", str(marker),
                 environ={**os.environ, "PYTHONPATH": SOURCE, "PATH": str(tmp_path)})
    assert done.returncode == 1
    assert ("Cannot run the command with Slurm: srun was not found on PATH: Slurm's client "
            "commands are not installed here, or not on PATH.\nNothing was run.") in done.stderr
    assert not marker.exists()
