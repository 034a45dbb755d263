"""``--threads/--cpuset/--cores`` through the real conda CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conda_limits.limits.cpu import Cores, CpuSettings
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
        assert limits["cpuset"] == {"kind": "cpu", "value": [0], "soft": None, "hard": None,
                                    "unit": "cpus", "source": {"kind": "conda-limits-set"}}
        out, _, code = conda_cli("limits", "unset", "-p", prefix, "--threads", "--cores")
        assert code == 0 and "Removed threads, cores" in out
        assert record.read(prefix).cpu == CpuSettings(cpuset=frozenset({0}))
        out, _, _ = conda_cli("limits", "show", "-p", prefix)
        assert "threads is not set: the thread-pool variables follow cpuset (1)." in out


@pytest.mark.parametrize("args", [
    ("--threads", "0"), ("--threads", "-1"), ("--threads", "1.5"), ("--cpuset", "9-3"),
    ("--cpuset", "a-b"), ("--cores", "0"), ("--cores", "-1"),
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


def test_set_says_where_cores_applies_and_when_nothing_here_can_hold_it(tmp_env):
    """`set --cores 0.5` said "They apply from the next `conda activate`" to a user for
    whom neither activation nor run-limited can apply the quota (no cgroup backend)."""
    from conda_limits.system import cpu_quota

    with tmp_env() as prefix:
        out = conda("limits", "set", "-p", str(prefix), "--cores", "0.5").stdout
        assert "They apply from the next" not in out
        assert ("cores applies to `conda run-limited`, Jupyter kernels and Slurm jobs only "
                "(through a cgroup), not to a shell (activation sets the thread-pool "
                "variables from it: 1).") in out
        refused = "Here no cgroup can hold the cores quota for this user ("
        if cpu_quota.unusable():  # e.g. as an unprivileged user without systemd
            assert refused in out and f"`conda limits unset -p {prefix} --cores`" in out
            ran = conda("run-limited", "-p", str(prefix), "--", "true")
            assert ran.returncode != 0 and "Nothing was run" in ran.stderr
        else:
            assert refused not in out
        out = conda("limits", "set", "-p", str(prefix), "--nofile", "300").stdout
        assert (f"They apply from the next `conda activate {prefix}`, except cores: it "
                "applies to `conda run-limited`, Jupyter kernels and Slurm jobs only") in out


def test_after_config_vars_unset_conda_clears_the_variable_after_the_scripts(tmp_env):
    """What docs/cpu.md says: the scripts put the user's value back, then conda's own
    deactivation clears a variable `conda env config vars unset` left its marker for; a
    variable set with config vars gets the user's value back from conda."""
    conda_exe = Path(sys.prefix, "bin", "conda")
    with tmp_env() as prefix:
        assert conda("limits", "set", "-p", str(prefix), "--threads", "2").returncode == 0
        script = (f'export OMP_NUM_THREADS=4; eval "$("{conda_exe}" shell.bash hook)"; '
                  f'conda activate "{prefix}"; echo "in=$OMP_NUM_THREADS"; conda deactivate; '
                  'echo "out=[${OMP_NUM_THREADS-unset}]"')

        def round_trip() -> list[str]:
            done = subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                                  timeout=120, check=False)
            assert done.returncode == 0, done.stderr
            return done.stdout.split()

        assert round_trip() == ["in=2", "out=[4]"]
        for args in (("set", "OMP_NUM_THREADS=8"), ("unset", "OMP_NUM_THREADS")):
            assert conda("env", "config", "vars", *args, "-p", str(prefix)).returncode == 0
        inside, after = round_trip()
        assert inside == "in=2" and after in ("out=[]", "out=[unset]")  # conda 26, 24.11
        assert conda("env", "config", "vars", "set", "-p", str(prefix),
                     "OMP_NUM_THREADS=2").returncode == 0
        assert round_trip() == ["in=2", "out=[4]"]


def test_run_limited_flags_and_report(tmp_env):
    with tmp_env() as prefix:
        code = "import os; print(os.environ['OMP_NUM_THREADS'], sorted(os.sched_getaffinity(0)))"
        proc = conda("run-limited", "-p", str(prefix), "--threads", "3", "--cpuset", "0",
                     "--report", "--", sys.executable, "-c", code)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == "3 [0]\n"
        assert "  threads:      3 (--threads)" in proc.stderr.splitlines()
        assert "  cpuset:       0 (--cpuset); the command ran on 0" in proc.stderr.splitlines()


BIG_CPUSET = f"0-{max(os.sched_getaffinity(0)) + 62}"  # 64 CPUs and more: this machine's and others
BIG_CORES = str((os.cpu_count() or 1) * 16)


def test_settings_for_a_bigger_machine_are_recorded_with_a_warning(conda_cli, tmp_env):
    """An administrator on a small login node records what the compute nodes will get."""
    with tmp_env() as prefix:
        out, err, code = conda_cli("limits", "set", "-p", prefix, "--cpuset", BIG_CPUSET,
                                   "--cores", BIG_CORES)
        assert code == 0, err
        cpu = record.read(prefix).cpu
        assert cpu.cpuset == frozenset(range(max(os.sched_getaffinity(0)) + 63))
        assert str(cpu.cores) == BIG_CORES
        warnings = [line for line in out.splitlines() if line.startswith("warning: ")]
        assert len(warnings) == 2, out
        assert warnings[0].startswith(f"warning: cpuset {BIG_CPUSET}: CPU(s) ")
        assert warnings[1].startswith(f"warning: cores {BIG_CORES} is more than this "
                                      f"machine's {os.cpu_count()} CPU(s)")
        out, _, _ = conda_cli("limits", "show", "-p", prefix)
        rows = {line.split()[0]: line for line in out.splitlines()
                if line[:1].isalpha() and " apply " not in line and " applies " not in line}
        assert rows["cpuset"].endswith(" not available here")
        assert rows["cores"].endswith(f"! more than this machine's CPUs: {os.cpu_count()} here")
        out, _, _ = conda_cli("doctor", "-p", prefix)
        assert f"cpuset {BIG_CPUSET}: CPU(s) " in out
        assert f"cores {BIG_CORES} is more than this machine's" in out


def _quota_here() -> bool:
    from conda_limits.system import cpu_quota as quota

    try:
        quota.cpu_quota(Cores(100)).close()
    except quota.CpuQuotaUnavailable:
        return False
    return True


def test_run_limited_uses_what_this_machine_has_and_says_so_once(tmp_env):
    allowed = sorted(os.sched_getaffinity(0))
    code = "import os; print(os.environ['OMP_NUM_THREADS'], sorted(os.sched_getaffinity(0)))"
    with tmp_env() as prefix:
        record_args = ["--cpuset", BIG_CPUSET] + (["--cores", BIG_CORES] if _quota_here()
                                                  else [])
        assert conda("limits", "set", "-p", str(prefix), *record_args).returncode == 0
        proc = conda("run-limited", "-p", str(prefix), "--", sys.executable, "-c", code)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == f"{len(allowed)} {allowed}\n"  # not 64 threads
        lines = proc.stderr.splitlines()
        assert sum(line.startswith(f"conda-limits: cpuset {BIG_CPUSET}: ") for line in lines) == 1
        if "--cores" in record_args:
            assert sum(line.startswith(f"conda-limits: cores {BIG_CORES} is more than")
                       and line.endswith(f"a quota of {os.cpu_count()} is used here")
                       for line in lines) == 1
        # A flag for a bigger machine is taken too, and narrowed the same way.
        proc = conda("run-limited", "-p", str(prefix), "--cpuset", f"{allowed[0]},4096",
                     "--", sys.executable, "-c", code)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == f"1 [{allowed[0]}]\n"


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
