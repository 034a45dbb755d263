"""``conda limits set/show/unset`` through the real conda CLI."""

from __future__ import annotations

import json

import pytest

from conda_limits.limits.model import parse_limits
from conda_limits.state import prefix_files, record

from ..conftest import requires_conda

pytestmark = requires_conda

SET = {"kind": "conda-limits-set"}  # the source of values given to `conda limits set`


def test_set_show_unset(conda_cli, tmp_env):
    with tmp_env() as prefix:
        out, err, code = conda_cli("limits", "set", "-p", prefix, "--vmem", "4G",
                                   "--nofile", "1024", "--stack", "8M")
        assert code == 0, err
        assert "vmem" in out and "4 GiB" in out
        assert record.read(prefix) == parse_limits({"vmem": "4G", "nofile": 1024,
                                                    "stack": "8M"})
        assert all(p.exists() for p in prefix_files.script_paths(prefix))

        out, _, code = conda_cli("limits", "show", "-p", prefix, "--json")
        assert code == 0
        assert json.loads(out) == {"schema_version": 1, "prefix": str(prefix), "limits": {
            "vmem": {"kind": "rlimit", "value": 4 * 2**30, "soft": 4 * 2**30, "hard": None,
                     "unit": "bytes", "source": SET},
            "stack": {"kind": "rlimit", "value": 8 * 2**20, "soft": 8 * 2**20, "hard": None,
                      "unit": "bytes", "source": SET},
            "nofile": {"kind": "rlimit", "value": 1024, "soft": 1024, "hard": None,
                       "unit": "count", "source": SET}}}

        out, _, _ = conda_cli("limits", "show", "-p", prefix)
        assert "# Name" in out and "8 MiB" in out and "Source" in out
        assert out.splitlines()[-1].endswith("conda limits set")

        out, _, code = conda_cli("limits", "unset", "-p", prefix, "--vmem")
        assert code == 0 and "Removed vmem" in out
        assert set(record.read(prefix)) == {"stack", "nofile"}

        conda_cli("limits", "unset", "-p", prefix, "--all")
        assert not record.record_path(prefix).exists()
        assert not any(p.exists() for p in prefix_files.script_paths(prefix))
        out, _, _ = conda_cli("limits", "show", "-p", prefix)
        assert "No limits are set" in out
        out, _, _ = conda_cli("limits", "show", "-p", prefix, "--json")
        assert json.loads(out) == {"schema_version": 1, "prefix": str(prefix), "limits": {}}


def test_set_hard_and_unlimited(conda_cli, tmp_env):
    with tmp_env() as prefix:
        out, _, code = conda_cli("limits", "set", "-p", prefix, "--nofile", "512", "--hard",
                                 "--cpu", "unlimited")
        assert code == 0
        assert "cannot raise it again" in out
        assert record.read(prefix)["nofile"].hard == 512
        assert record.read(prefix)["cpu"].soft == "unlimited"
        out, _, _ = conda_cli("limits", "show", "-p", prefix, "--json")
        assert json.loads(out)["limits"]["cpu"] == {
            "kind": "rlimit", "value": "unlimited", "soft": "unlimited", "hard": "unlimited",
            "unit": "seconds", "source": SET}


def test_value_above_the_hard_ceiling_is_recorded_with_a_warning(conda_cli, tmp_env):
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY:
        pytest.skip("the open files hard limit is unlimited here")
    with tmp_env() as prefix:
        out, _, code = conda_cli("limits", "set", "-p", prefix, "--nofile", str(hard + 1))
        assert code == 0
        assert "above the current hard limit" in out
        assert record.read(prefix)["nofile"].soft == hard + 1
        out, _, _ = conda_cli("limits", "show", "-p", prefix)
        assert "! above the hard ceiling" in out


@pytest.mark.parametrize("flag,value", [("--vmem", "4Q"), ("--nofile", "-3"),
                                        ("--cpu", "1.5s"), ("--cpu", "1:30"), ("--stack", "")])
def test_bad_values_are_refused_and_nothing_is_written(conda_cli, tmp_env, flag, value):
    with tmp_env() as prefix:
        _, err, info = conda_cli("limits", "set", "-p", prefix, flag, value, raises=SystemExit)
        assert info.value.code == 2
        assert flag in err and repr(value) in err
        assert "expected" in err or "ambiguous" in err
        assert not (prefix / "etc").exists()


def test_unknown_environment(conda_cli, tmp_path):
    from conda.exceptions import EnvironmentLocationNotFound

    conda_cli("limits", "show", "-p", tmp_path / "missing", raises=EnvironmentLocationNotFound)
    conda_cli("limits", "set", "-p", tmp_path / "missing", "--nofile", "100",
              raises=EnvironmentLocationNotFound)


def test_nothing_to_do(conda_cli, tmp_env):
    from conda_limits.cli.exceptions import NothingToDoError

    with tmp_env() as prefix:
        conda_cli("limits", "set", "-p", prefix, raises=NothingToDoError)
        conda_cli("limits", "unset", "-p", prefix, raises=NothingToDoError)


def test_dry_run_writes_nothing(conda_cli, tmp_env):
    with tmp_env() as prefix:
        out, _, code = conda_cli("limits", "set", "-p", prefix, "--nofile", "64", "--dry-run")
        assert code == 0 and "(dry run)" in out
        assert not (prefix / "etc").exists()


def test_broken_record_is_reported(conda_cli, tmp_env):
    from conda_limits.cli.exceptions import LimitsRecordError

    with tmp_env() as prefix:
        path = record.record_path(prefix)
        path.parent.mkdir(parents=True)
        path.write_text("limits:\n  nofile: lots\n")
        _, _, info = conda_cli("limits", "show", "-p", prefix, raises=LimitsRecordError)
        assert "line 2" in str(info.value) and "nofile" in str(info.value)
        # --all still cleans up
        conda_cli("limits", "unset", "-p", prefix, "--all")
        assert not path.exists()


def test_unset_all_in_the_active_environment_says_what_happens(conda_cli, tmp_env,
                                                               monkeypatch):
    with tmp_env() as prefix:
        conda_cli("limits", "set", "-p", prefix, "--nofile", "100")
        out, _, _ = conda_cli("limits", "unset", "-p", prefix, "--all")
        assert "active in the calling shell" not in out
        conda_cli("limits", "set", "-p", prefix, "--nofile", "100")
        monkeypatch.setenv("CONDA_PREFIX", str(prefix))
        out, _, _ = conda_cli("limits", "unset", "-p", prefix, "--all")
        assert "active in the calling shell" in out and "conda deactivate" in out
