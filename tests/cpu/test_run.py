"""The CPU settings of ``conda run-limited`` (the conda-free runner), with real numpy/OpenBLAS."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conda_limits.limits.cpu import Cores, CpuSettings
from conda_limits.limits.model import LimitSet, parse_limits
from conda_limits.run import command
from conda_limits.state import prefix_files
from conda_limits.system import cpu_quota as quota

from .probes import probe

PROBE = probe("'cpus': sorted(os.sched_getaffinity(0)), 'env': {k: os.environ.get(k) for k in "
              "('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'PYTHON_CPU_COUNT', "
              "'MKL_NUM_THREADS')}")


def env_with(tmp_path: Path, limits: dict, env_vars: dict | None = None) -> Path:
    prefix = tmp_path / "env"
    (prefix / "conda-meta").mkdir(parents=True)
    if env_vars:
        (prefix / "conda-meta" / "state").write_text(json.dumps({"env_vars": env_vars}))
    prefix_files.write(prefix, parse_limits(limits))
    return prefix


def run_probe(prefix: Path, capfd, overrides: LimitSet | None = None, **kwargs) -> tuple[dict, str]:
    err = io.StringIO()
    status = command.run(prefix, [sys.executable, "-c", PROBE], overrides, stderr=err,
                         env={k: v for k, v in os.environ.items() if not k.endswith("THREADS")},
                         **kwargs)
    out = capfd.readouterr().out
    assert status == 0, err.getvalue()
    return json.loads(out), err.getvalue()


def test_threads_reach_numpys_openblas_and_every_variable(tmp_path, capfd):
    pytest.importorskip("threadpoolctl")
    seen, err = run_probe(env_with(tmp_path, {"threads": 1}), capfd)
    assert seen["pools"]["openblas"] == 1
    assert set(seen["env"].values()) == {"1"}
    assert err == ""


def test_a_cpuset_pins_the_command_and_sizes_the_pools(tmp_path, capfd):
    one = max(os.sched_getaffinity(0))
    seen, _ = run_probe(env_with(tmp_path, {"cpuset": str(one)}), capfd, report=True)
    assert seen["cpus"] == [one]
    assert seen["env"]["OMP_NUM_THREADS"] == "1"  # the size of the set


def test_flags_win_over_the_recorded_settings(tmp_path, capfd):
    prefix = env_with(tmp_path, {"threads": 1})
    seen, _ = run_probe(prefix, capfd, LimitSet(cpu=CpuSettings(threads=3)))
    assert seen["env"]["OMP_NUM_THREADS"] == "3"


def test_variables_the_environment_sets_itself_win(tmp_path, capfd):
    prefix = env_with(tmp_path, {"threads": 1}, env_vars={"OMP_NUM_THREADS": "7"})
    seen, err = run_probe(prefix, capfd, report=True)
    assert seen["env"]["OMP_NUM_THREADS"] == "7" and seen["env"]["MKL_NUM_THREADS"] == "1"
    assert "OMP_NUM_THREADS left to the environment's own value" in err


def test_cpus_outside_the_allowed_set_are_a_warning(tmp_path, capfd):
    allowed = sorted(os.sched_getaffinity(0))
    missing = max(allowed) + 1
    seen, err = run_probe(env_with(tmp_path, {"cpuset": f"{allowed[0]},{missing}"}), capfd)
    assert seen["cpus"] == [allowed[0]]
    assert f"CPU(s) {missing} not available here" in err


def test_the_report_says_what_was_in_force_and_where_it_came_from(tmp_path, capfd):
    try:
        quota.cpu_quota(Cores(50)).close()
    except quota.CpuQuotaUnavailable as error:
        pytest.skip(f"no CPU quota here: {error}")
    prefix = env_with(tmp_path, {"cores": "0.5"})
    seen, err = run_probe(prefix, capfd, LimitSet(cpu=CpuSettings(threads=2)), report=True)
    assert seen["env"]["OMP_NUM_THREADS"] == "2"
    lines = err.splitlines()
    assert "  threads:      2 (--threads)" in lines
    assert any(line.startswith("  cores:        0.5 (environment), cgroup v") for line in lines)
    assert any(line.startswith("  thread pools: 2 (OMP_NUM_THREADS") for line in lines)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root, to run a test as an unprivileged user")
def test_as_an_unprivileged_user_cores_without_a_backend_runs_nothing():
    import conda_limits

    source = str(Path(conda_limits.__file__).parent.parent)
    with tempfile.TemporaryDirectory() as folder:
        top = Path(folder)
        top.chmod(0o777)
        prefix = env_with(top, {"cores": "1"})
        for path in [prefix, *prefix.rglob("*")]:
            path.chmod(0o777 if path.is_dir() else 0o644)
        marker = top / "ran"
        code = ("import sys\nfrom conda_limits.run import command\n"
                "from conda_limits.system import cpu_quota as quota\ntry:\n"
                " sys.exit(command.run(sys.argv[1], ['touch', sys.argv[2]]))\n"
                "except quota.CpuQuotaUnavailable as e:\n print(e)\n sys.exit(3)\n")
        proc = subprocess.run([sys.executable, "-c", code, str(prefix), str(marker)],
                              user=65534, group=65534, capture_output=True, text=True,
                              env={"PYTHONPATH": source, "PATH": os.environ["PATH"]},
                              check=False)
        if proc.returncode == 0:
            pytest.skip("an unprivileged user can use a CPU quota here")
        assert proc.returncode == 3, proc.stderr
        assert proc.stdout.startswith("no cgroup backend can enforce a CPU quota here")
        assert not marker.exists()


def test_leaving_an_environment_puts_back_the_thread_variables_it_saved(tmp_path):
    from conda_limits.run.activation import Activation, without_own_scripts
    from conda_limits.shells.protocol import DEACTIVATE_D, POSIX_SCRIPT

    previous = {"CONDA_SHLVL": "2", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                "NUMBA_NUM_THREADS": "1", "_CONDA_LIMITS_2_ENV_OMP_NUM_THREADS": "=7",
                "_CONDA_LIMITS_2_ENV_MKL_NUM_THREADS": "-",
                "_CONDA_LIMITS_2_ENV_NUMBA_NUM_THREADS": "-", "_CONDA_LIMITS_2_CPUSET": "0-1"}
    # The new environment sets NUMBA_NUM_THREADS itself (conda env config vars): it stays.
    environ = {**previous, "CONDA_SHLVL": "2", "NUMBA_NUM_THREADS": "4"}
    own = str(tmp_path / "A" / DEACTIVATE_D / POSIX_SCRIPT)
    stripped = without_own_scripts(Activation(environ, (), (own,), previous)).activation
    assert stripped.environ["OMP_NUM_THREADS"] == "7"
    assert "MKL_NUM_THREADS" not in stripped.environ
    assert stripped.environ["NUMBA_NUM_THREADS"] == "4"
    assert not [k for k in stripped.environ if k.startswith("_CONDA_LIMITS_2_")]
