"""The CPU part of the activation scripts, sourced in real shells; numpy's OpenBLAS pool and
the affinity are read from a child."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from conda_limits.limits import threads
from conda_limits.limits.affinity import format_cpu_list
from conda_limits.limits.model import parse_limits
from conda_limits.state import prefix_files

from ..shells.harness import ALL_SHELLS, SH_SHELLS, Session, Shell, forks, script
from .probes import probe

PROBE = probe("'env': {n: os.environ.get(n) for n in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS', "
              "'NUMBA_NUM_THREADS', 'PYTHON_CPU_COUNT')}, 'cpus': sorted(os.sched_getaffinity(0))")
ONE = max(os.sched_getaffinity(0))


def environment(tmp_path: Path, limits: dict) -> Path:
    prefix = tmp_path / "env"
    (prefix / "conda-meta").mkdir(parents=True)
    prefix_files.write(prefix, parse_limits(limits))
    return prefix


def probes(lines: list[str]) -> list[dict]:
    return [json.loads(line) for line in lines if line.startswith("{")]


@pytest.mark.parametrize("shell", ALL_SHELLS, ids=lambda s: s.name)
def test_threads_and_cpuset_apply_and_are_put_back_exactly(shell: Shell, tmp_path: Path):
    shell.required()
    prefix = environment(tmp_path, {"threads": 1, "cpuset": str(ONE), "nofile": 512})
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    session = Session(shell)
    if shell.family == "sh":
        session.raw("set -eu")
    session.setenv_quoted("OMP_NUM_THREADS", "9 x").setenv_quoted("NUMBA_NUM_THREADS", "")
    session.activate(prefix, 2).raw(f"{sys.executable} {probe}")
    session.deactivate(prefix, 2).raw(f"{sys.executable} {probe}").snapshot("after")
    result = session.run(tmp_path, env={"MKL_NUM_THREADS": ""})
    assert result.returncode == 0, result.stderr
    assert result.warnings() == []
    inside, after = probes(result.lines)
    assert inside["env"] == {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                             "NUMBA_NUM_THREADS": "1", "PYTHON_CPU_COUNT": "1"}
    assert inside["cpus"] == [ONE]
    if "openblas" in inside["pools"]:
        assert inside["pools"]["openblas"] == 1
    assert after["env"] == {"OMP_NUM_THREADS": "9 x", "MKL_NUM_THREADS": "",
                            "NUMBA_NUM_THREADS": "", "PYTHON_CPU_COUNT": None}
    assert after["cpus"] == sorted(os.sched_getaffinity(0))
    assert result["after"].saved == {} and result["after"].leftovers == []
    assert result["after"].soft("nofile") != 512


@pytest.mark.parametrize("shell", ALL_SHELLS, ids=lambda s: s.name)
def test_a_variable_unset_before_is_unset_after(shell: Shell, tmp_path: Path):
    shell.required()
    prefix = environment(tmp_path, {"threads": 3})
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    session = Session(shell)
    session.activate(prefix, 1).raw(f"{sys.executable} {probe}")
    # conda re-runs activate.d at the same level: the first saved state stays.
    session.source(script(prefix, "activate", shell.family))
    session.deactivate(prefix, 1).raw(f"{sys.executable} {probe}")
    env = {k: v for k, v in os.environ.items() if k not in threads.NAMES}
    result = session.run(tmp_path, env=env)
    inside, after = probes(result.lines)
    assert inside["env"]["OMP_NUM_THREADS"] == "3" and after["env"]["OMP_NUM_THREADS"] is None
    assert result.warnings() == []


@pytest.mark.parametrize("shell", ALL_SHELLS, ids=lambda s: s.name)
def test_cpus_outside_the_shells_set_are_a_warning(shell: Shell, tmp_path: Path):
    shell.required()
    missing = max(os.sched_getaffinity(0)) + 1
    prefix = environment(tmp_path, {"cpuset": f"{ONE},{missing}"})
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    session = Session(shell).activate(prefix, 1).raw(f"{sys.executable} {probe}")
    session.deactivate(prefix, 1).raw(f"{sys.executable} {probe}")
    result = session.run(tmp_path)
    assert result.returncode == 0
    inside, after = probes(result.lines)
    assert inside["cpus"] == [ONE] and after["cpus"] == sorted(os.sched_getaffinity(0))
    if shell.family == "csh":  # given to taskset as it is; the kernel keeps what it can
        assert result.warnings() == [] or "cpuset" in result.warnings()[0]
    else:
        wanted = format_cpu_list({ONE, missing})
        line = (f"conda-limits: cpuset {wanted}: CPU(s) {missing} not available here "
                f"(allowed: {_list()}); using {ONE}")
        assert result.warnings() == [line]


def _list() -> str:
    return format_cpu_list(os.sched_getaffinity(0))


@pytest.mark.parametrize("shell", SH_SHELLS, ids=lambda s: s.name)
def test_threads_cost_no_fork_and_a_cpuset_one_taskset_each_way(shell: Shell, tmp_path: Path):
    shell.required()
    prefix = environment(tmp_path, {"threads": 2})
    body = (f'CONDA_SHLVL=1; . "{script(prefix, "activate", "sh")}"; '
            f'. "{script(prefix, "deactivate", "sh")}"')
    assert forks(shell, body, tmp_path, {}) == []
    same = environment(tmp_path / "same", {"cpuset": _list()})
    body = (f'CONDA_SHLVL=1; . "{script(same, "activate", "sh")}"; '
            f'. "{script(same, "deactivate", "sh")}"')
    assert forks(shell, body, tmp_path, {}) == []  # the set in force already
    pinned = environment(tmp_path / "pinned", {"cpuset": str(ONE)})
    body = (f'CONDA_SHLVL=1; . "{script(pinned, "activate", "sh")}"; '
            f'. "{script(pinned, "deactivate", "sh")}"')
    if len(os.sched_getaffinity(0)) > 1:
        assert len(forks(shell, body, tmp_path, {})) == 2  # taskset, then taskset back


def test_a_variable_the_environment_sets_itself_is_left_alone(tmp_path: Path):
    prefix = tmp_path / "env"
    (prefix / "conda-meta").mkdir(parents=True)
    (prefix / "conda-meta" / "state").write_text('{"env_vars": {"OMP_NUM_THREADS": "8"}}')
    prefix_files.write(prefix, parse_limits({"threads": 2}))
    for family in ("sh", "fish", "csh"):
        text = script(prefix, "activate", family).read_text()
        assert "MKL_NUM_THREADS" in text and "OMP_NUM_THREADS" not in text
    # The scripts follow the variables: after `conda env config vars unset`, doctor's
    # check sees them out of date.
    (prefix / "conda-meta" / "state").write_text('{"env_vars": {}}')
    assert prefix_files.check(prefix).out_of_date


def test_deactivation_of_an_environment_without_cpu_settings_is_unchanged(tmp_path: Path):
    prefix = environment(tmp_path, {"nofile": 100})
    for family in ("sh", "fish", "csh"):
        assert "_ENV_" not in script(prefix, "deactivate", family).read_text()


@pytest.mark.parametrize("shell", ALL_SHELLS, ids=lambda s: s.name)
def test_a_variable_with_newlines_or_an_equals_sign_is_put_back_exactly(shell: Shell,
                                                                          tmp_path: Path):
    """fish's deactivation split a saved value at its newlines ("a\\nb" came back "a b")."""
    shell.required()
    prefix = environment(tmp_path, {"threads": 2})
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    session = Session(shell)
    session.activate(prefix, 1).deactivate(prefix, 1).raw(f"{sys.executable} {probe}")
    values = {"OMP_NUM_THREADS": "a\nb", "MKL_NUM_THREADS": "=x =\n\ny",
              "NUMBA_NUM_THREADS": "  2  "}
    env = {**{k: v for k, v in os.environ.items() if k not in threads.NAMES}, **values}
    result = session.run(tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert result.warnings() == []
    [after] = probes(result.lines)
    assert after["env"] == {**values, "PYTHON_CPU_COUNT": None}
