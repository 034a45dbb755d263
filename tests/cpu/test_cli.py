"""``--threads/--cpuset/--cores`` through the real conda CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conda_limits.limits.cpu import CpuSettings
from conda_limits.state import record

from ..conftest import requires_conda

pytestmark = requires_conda


def conda(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "conda", *args], capture_output=True,
                          text=True, check=False)


def test_set_show_unset_cpu_settings(conda_cli, tmp_env):
    with tmp_env() as prefix:
        out, err, code = conda_cli("limits", "set", "-p", prefix, "--threads", "2",
                                   "--cpuset", "0", "--cores", "0.5")
        assert code == 0, err
        assert record.read(prefix).cpu.threads == 2
        out, _, _ = conda_cli("limits", "show", "-p", prefix)
        rows = {line.split()[0]: line for line in out.splitlines()
                if line[:1].isalpha() and " applies " not in line}
        assert rows["threads"].split()[1] == "2" and rows["cpuset"].split()[1] == "0"
        assert rows["cores"].endswith("run-limited and kernels only")
        assert ("cores applies to `conda run-limited`, Jupyter kernels and Slurm jobs only, "
                "not to an interactive shell") in out
        out, _, _ = conda_cli("limits", "show", "-p", prefix, "--json")
        limits = json.loads(out)["limits"]
        assert limits["cpuset"] == {"value": [0], "source": {"kind": "conda-limits-set"}}
        out, _, code = conda_cli("limits", "unset", "-p", prefix, "--threads", "--cores")
        assert code == 0 and "Removed threads, cores" in out
        assert record.read(prefix).cpu == CpuSettings(cpuset=frozenset({0}))
        out, _, _ = conda_cli("limits", "show", "-p", prefix)
        assert "threads is not set: the thread-pool variables follow cpuset (1)." in out


@pytest.mark.parametrize("args", [
    ("--threads", "0"), ("--threads", "-1"), ("--threads", "1.5"), ("--cpuset", "9-3"),
    ("--cpuset", "a-b"), ("--cpuset", str(max(os.sched_getaffinity(0)) + 64)),
    ("--cores", "0"), ("--cores", "-1"), ("--cores", str((os.cpu_count() or 1) + 1)),
    ("--cpus", "1"),  # not an abbreviation of --cpuset
])
def test_bad_input_exits_2_and_writes_nothing(tmp_env, args):
    with tmp_env() as prefix:
        proc = conda("limits", "set", "-p", str(prefix), *args)
        assert proc.returncode == 2, proc.stderr
        assert "error: " in proc.stderr
        if args[0] != "--cpus":
            assert f"argument {args[0]}: invalid value {args[1]!r}: " in proc.stderr
        assert not record.record_path(prefix).exists()


def test_an_environment_variable_set_for_the_environment_wins_and_show_says_so(conda_cli,
                                                                                tmp_env):
    with tmp_env() as prefix:
        conda_cli("env", "config", "vars", "set", "-p", prefix, "OMP_NUM_THREADS=8")
        conda_cli("limits", "set", "-p", prefix, "--threads", "2")
        out, _, _ = conda_cli("limits", "show", "-p", prefix)
        assert "OMP_NUM_THREADS set with `conda env config vars` win over threads" in out
        assert "! OMP_NUM_THREADS set by `conda env config vars` (wins)" in out
        script = prefix / "etc" / "conda" / "activate.d" / "zz-conda-limits.sh"
        assert "OMP_NUM_THREADS" not in script.read_text()
        # The scripts follow later changes of the variables (a post-command hook).
        conda_cli("env", "config", "vars", "unset", "-p", prefix, "OMP_NUM_THREADS")
        assert " OMP_NUM_THREADS=2 " in script.read_text()  # exported again
        conda_cli("env", "config", "vars", "set", "-p", prefix, "OMP_NUM_THREADS=8")
        assert "OMP_NUM_THREADS" not in script.read_text()


def test_unsetting_the_last_thread_variable_says_activation_sets_them_all_again(conda_cli,
                                                                                tmp_env):
    with tmp_env() as prefix:
        conda_cli("env", "config", "vars", "set", "-p", prefix, "OMP_NUM_THREADS=8",
                  "MKL_NUM_THREADS=4")
        conda_cli("limits", "set", "-p", prefix, "--threads", "2")
        _, err, _ = conda_cli("env", "config", "vars", "unset", "-p", prefix, "MKL_NUM_THREADS")
        assert ("activation scripts updated: OMP_NUM_THREADS set with `conda env config vars` "
                "win over threads; activation sets the other thread variables to 2") in err
        _, err, _ = conda_cli("env", "config", "vars", "unset", "-p", prefix, "OMP_NUM_THREADS")
        assert "win over threads" not in err
        assert ("activation scripts updated: no thread variable is set with `conda env config "
                "vars` now: activation sets them all to 2 again") in err


def test_run_limited_flags_and_report(tmp_env):
    with tmp_env() as prefix:
        code = "import os; print(os.environ['OMP_NUM_THREADS'], sorted(os.sched_getaffinity(0)))"
        proc = conda("run-limited", "-p", str(prefix), "--threads", "3", "--cpuset", "0",
                     "--report", "--", sys.executable, "-c", code)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == "3 [0]\n"
        assert "  threads:      3 (--threads)" in proc.stderr.splitlines()
        assert "  cpuset:       0 (--cpuset); the command ran on 0" in proc.stderr.splitlines()


def test_site_defaults_give_new_environments_cpu_settings_with_their_source(tmp_path):
    condarc = tmp_path / "condarc"
    condarc.write_text("plugins:\n  limits_defaults:\n    threads: 2\n    cores: 1.5\n")
    prefix = tmp_path / "env"
    proc = subprocess.run([sys.executable, "-m", "conda", "create", "-q", "-y", "-p",
                           str(prefix)], env={**os.environ, "CONDARC": str(condarc)},
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert record.read(prefix).cpu.threads == 2
    show = conda("limits", "show", "-p", str(prefix))
    rows = [line for line in show.stdout.splitlines()
            if line.startswith(("threads ", "cores ")) and " applies " not in line]
    assert len(rows) == 2 and all(f"default ({condarc})" in row for row in rows)
