"""What runs on the node, run here without Slurm: limits, activation, exec, refusals."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conda_limits.limits.model import parse_limits
from conda_limits.slurm import node
from conda_limits.state import prefix_files


@pytest.fixture
def env(tmp_path: Path) -> Path:
    prefix = tmp_path / "env"
    (prefix / "conda-meta").mkdir(parents=True)
    scripts = prefix / "etc" / "conda" / "activate.d"
    scripts.mkdir(parents=True)
    (scripts / "pkg.sh").write_text('export FROM_SCRIPT="$CONDA_PREFIX"\n')
    return prefix


def on_node(prefix: Path, command: list[str], recorded=None, overrides=None, environ=None):
    argv = node.argv(sys.executable, prefix, parse_limits(recorded), parse_limits(overrides),
                     command)
    return subprocess.run(argv, capture_output=True, text=True, timeout=60,
                          env=environ if environ is not None else {**os.environ,
                                                                   "CONDA_PREFIX": str(prefix)})


LIMITS = ["sh", "-c", "grep -E '^Max (open files|address space|stack size) ' /proc/self/limits;"
          " echo \"script=$FROM_SCRIPT level=$CONDA_SHLVL\""]


def row(out: str, label: str) -> list[str]:
    line = next(line for line in out.splitlines() if line.startswith(label))
    return line[len(label):].split()[:2]


def test_limits_set_and_scripts_sourced(env: Path):
    done = on_node(env, LIMITS, {"nofile": 512, "vmem": "3G"}, {"nofile": 256})
    assert done.returncode == 0, done.stderr
    assert row(done.stdout, "Max open files") == ["256", row(done.stdout, "Max open files")[1]]
    assert row(done.stdout, "Max address space")[0] == str(3 * 2**30)
    assert f"script={env} " in done.stdout
    assert done.stderr == ""


def test_own_scripts_are_not_sourced_the_plan_is_applied_once(env: Path):
    # its own script would set nofile 100; the node applies the 300 it was given, once
    prefix_files.write(env, parse_limits({"nofile": 100}))
    done = on_node(env, LIMITS, {"nofile": 300})
    assert done.returncode == 0, done.stderr
    assert row(done.stdout, "Max open files")[0] == "300"


def test_hard_limits(env: Path):
    done = on_node(env, LIMITS, {"stack": {"soft": "4M", "hard": "6M"}})
    assert row(done.stdout, "Max stack size") == [str(4 * 2**20), str(6 * 2**20)]


def test_exit_status_and_signal_are_the_commands(env: Path):
    assert on_node(env, ["sh", "-c", "exit 7"]).returncode == 7
    assert on_node(env, ["sh", "-c", "kill -USR1 $$"]).returncode == -10


def test_without_the_exported_environment_it_activates_from_the_files(env: Path):
    (env / "conda-meta" / "state").write_text('{"env_vars": {"ENV_VAR": "from-state"}}')
    bare = {"PATH": os.defpath}
    done = on_node(env, ["sh", "-c", 'echo "$CONDA_PREFIX $ENV_VAR $FROM_SCRIPT"'],
                   environ=bare)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(env), "from-state", str(env)]
    assert "did not get the activated environment from srun" in done.stderr


def test_missing_environment_nothing_runs(tmp_path: Path):
    marker = tmp_path / "ran"
    done = on_node(tmp_path / "gone", ["touch", str(marker)])
    assert done.returncode == node.NOT_STARTED
    assert "does not exist on this node" in done.stderr
    assert not marker.exists()


def test_command_not_found(env: Path):
    done = on_node(env, ["no-such-command-here"])
    assert done.returncode == 127
    assert "command not found: no-such-command-here" in done.stderr


@pytest.mark.parametrize("spec", ["{", '{"prefix": "/x", "recorded": {"nofile": -1}}', "[]"])
def test_bad_spec_nothing_runs(tmp_path: Path, spec: str):
    marker = tmp_path / "ran"
    argv = [sys.executable, "-I", "-c", node.BOOT, node.package_dir(), spec, "--", "touch",
            str(marker)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == node.NOT_STARTED
    assert done.stderr.startswith("conda-limits: the job's limits cannot be read")
    assert not marker.exists()


def test_the_environments_python_variables_do_not_reach_the_launcher(env: Path):
    # -I: PYTHONPATH/PYTHONHOME of the environment would break the Python that starts it
    environ = {**os.environ, "CONDA_PREFIX": str(env), "PYTHONHOME": "/nonexistent",
               "PYTHONPATH": "/nonexistent"}
    done = on_node(env, ["sh", "-c", 'echo "$PYTHONHOME"'], environ=environ)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "/nonexistent"  # the command still gets them


def test_a_value_above_the_nodes_hard_limit_is_lowered_with_a_warning(env: Path):
    import resource

    def lower_hard() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (300, 400))

    argv = node.argv(sys.executable, env, parse_limits({"nofile": 512}), parse_limits({}),
                     LIMITS)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, preexec_fn=lower_hard,
                          env={**os.environ, "CONDA_PREFIX": str(env)})
    assert done.returncode == 0, done.stderr
    assert row(done.stdout, "Max open files") == ["400", "400"]
    assert done.stderr == ("conda-limits: nofile 512 is above the hard limit (400); using the "
                           "hard limit\n")


def test_thread_variables_from_the_cpu_settings(env: Path):
    from conda_limits.limits import threads

    show = ["sh", "-c", 'echo "$OMP_NUM_THREADS $OPENBLAS_NUM_THREADS $MKL_NUM_THREADS"']
    clean = {k: v for k, v in os.environ.items() if k not in threads.NAMES}
    clean["CONDA_PREFIX"] = str(env)
    assert on_node(env, show, {"threads": 3}, environ=clean).stdout == "3 3 3\n"
    # the quota rounded up
    assert on_node(env, show, {"cores": 1.5}, environ=clean).stdout == "2 2 2\n"
    assert on_node(env, show, environ=clean).stdout == "  \n"  # no CPU settings: none
    # a variable the environment sets itself wins
    (env / "conda-meta" / "state").write_text('{"env_vars": {"OMP_NUM_THREADS": "7"}}')
    assert on_node(env, show, {"threads": 3}, environ={**clean, "OMP_NUM_THREADS": "7"}
                   ).stdout == "7 3 3\n"
