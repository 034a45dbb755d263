"""The ``.fish`` activation scripts in a real fish; limits read by a child (``cat``)."""

from __future__ import annotations

import pytest

from .harness import (
    FISH,
    ActivationScenarios,
    Session,
    assert_clean,
    forks,
    make_env,
    script,
)

pytestmark = pytest.mark.shell


@pytest.fixture
def shell():
    return FISH.required()


class TestFishScenarios(ActivationScenarios):
    pass


def test_saved_value_too_large_for_math_is_a_warning(shell, tmp_path):
    # fish's math computes in doubles and refuses results from 2**53 on (here 2**54 KiB).
    env = make_env(tmp_path, "big", {"nofile": 1500})
    s = Session(shell).level(2).setenv("_CONDA_LIMITS_2_VMEM", str(2**64 - 1024))
    s.source(script(env, "deactivate", "fish")).echo("alive").snapshot("off")
    result = s.run(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "alive" in result.lines
    [warning] = result.warnings()
    assert "could not restore the vmem limit" in warning
    assert_clean(result["off"])


def test_no_process_forks(shell, tmp_path):
    # fish starts threads of its own; no process.
    env = make_env(tmp_path, "forks", {"nofile": 1000, "vmem": "4G", "fsize": "1M",
                                       "nproc": 500, "cpu": "1h"})
    body = (f'source "{script(env, "activate", "fish")}"; '
            f'source "{script(env, "deactivate", "fish")}"')
    assert forks(shell, body, tmp_path, {"CONDA_SHLVL": "2"}) == []

