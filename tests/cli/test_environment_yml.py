"""environment.yml's ``limits:`` through the real conda: create, update, export, apply.

conda's ``conda_cli`` fixture runs commands through ``do_call``, which invokes the pre- and
post-command hooks, so these tests exercise the whole path; one test also runs conda in a
subprocess. Environments are created offline with no packages.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conda_limits.limits.model import LimitSet, parse_limits
from conda_limits.state import environment_yml, prefix_files, record

from ..conftest import requires_conda

pytestmark = requires_conda


def conda_at_least(version: str) -> pytest.MarkDecorator:
    """Skip where the conda under test lacks a feature (the plugin supports conda >= 24.11)."""
    try:
        from conda import __version__
    except ImportError:
        return pytest.mark.skip(reason="conda is not importable")
    have = tuple(int(part) for part in re.findall(r"\d+", __version__)[:2])
    want = tuple(int(part) for part in version.split("."))
    return pytest.mark.skipif(have < want, reason=f"needs conda >= {version} (this is "
                              f"{__version__})")


CREATE_FROM_FILE = conda_at_least("25.9")  # `conda create --file environment.yml`
EXPORT_FORMATS = conda_at_least("25.7")  # `conda export --format`, environment.json
CREATE_COMMANDS = [("env", "create"), pytest.param(("create", "--yes"), marks=CREATE_FROM_FILE)]

LIMITS = parse_limits({"vmem": "4G", "nofile": 1024, "stack": "8M"})
TEAM_FILE = """\
name: {name}   # the team's environment
channels: []
dependencies: []

limits:
  vmem: 4G        # ulimit -v
  nofile: 1024
  stack: 8M
"""


@pytest.fixture
def envs_dir(tmp_path, monkeypatch) -> Path:
    """Named environments go to a temporary envs directory (conda re-reads the variable)."""
    envs = tmp_path / "envs"
    envs.mkdir()
    monkeypatch.setenv("CONDA_ENVS_DIRS", str(envs))
    return envs


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def has_limits(prefix: Path, limits: LimitSet) -> bool:
    return (record.read(prefix) == limits
            and all(p.exists() for p in prefix_files.script_paths(prefix)))


# ---------------------------------------------------------------- set/unset/show -f FILE


def test_set_unset_show_on_a_file(conda_cli, tmp_path):
    path = write(tmp_path / "environment.yml", TEAM_FILE.format(name="x"))
    out, err, code = conda_cli("limits", "set", "-f", path, "--cpu", "2h", "--vmem", "8G")
    assert not code, err
    assert "# limits in" in out and "8 GiB" in out
    assert path.read_text() == TEAM_FILE.format(name="x").replace(
        "vmem: 4G        #", "vmem: 8G        #") + "  cpu: 2h\n"

    out, _, _ = conda_cli("limits", "show", "-f", path, "--json")
    data = json.loads(out)
    assert data["file"] == str(path) and data["schema_version"] == 1
    assert {key: (value["soft"], value["hard"]) for key, value in data["limits"].items()} == {
        "vmem": (8 * 2**30, None), "stack": (8 * 2**20, None), "nofile": (1024, None),
        "cpu": (7200, None)}

    out, _, code = conda_cli("limits", "unset", "-f", path, "--cpu", "--nofile")
    assert not code and "Removed nofile, cpu" in out
    assert environment_yml.load(path).limits == parse_limits({"vmem": "8G", "stack": "8M"})
    conda_cli("limits", "unset", "-f", path, "--all")
    assert "limits" not in path.read_text()
    out, _, _ = conda_cli("limits", "show", "-f", path)
    assert "sets no limits" in out


def test_set_on_a_file_dry_run_and_hard(conda_cli, tmp_path):
    path = write(tmp_path / "environment.yml", "name: x\ndependencies: []\n")
    out, _, code = conda_cli("limits", "set", "-f", path, "--nofile", "512", "--hard",
                             "--dry-run")
    assert not code and "would have (dry run)" in out
    assert path.read_text() == "name: x\ndependencies: []\n"
    conda_cli("limits", "set", "-f", path, "--nofile", "512", "--hard")
    assert path.read_text() == ("name: x\ndependencies: []\n"
                                "limits:\n  nofile: {soft: 512, hard: 512}\n")


@pytest.mark.parametrize("content,where", [
    ("limits: [1, 2]\n", ":1:9: 'limits' must be a mapping"),
    ("name: x\nlimits:\n  vmem: 4Q\n", ":3:9: limits.vmem"),
    ("name: x\nlimits:\n  nofile: -1\n", ":3:11: limits.nofile"),
    ("name: x\nlimits:\n  bogus: 1\n", ":3:3: unknown limit 'bogus'"),
    ("name: x\nlimits:\n  vmem: \"1G; touch /tmp/x\"\n", ":3:9: limits.vmem"),
    ("name: [x\n", ":2:1: not valid YAML"),
])
def test_bad_file_content_is_an_error_naming_file_line_and_column(conda_cli, tmp_path,
                                                                   content, where):
    from conda_limits.cli.exceptions import LimitsFileError

    path = write(tmp_path / "environment.yml", content)
    _, _, error = conda_cli("limits", "set", "-f", path, "--nofile", "100",
                            raises=LimitsFileError)
    assert f"{path}{where}" in str(error.value)
    assert "Nothing was changed" in str(error.value)
    assert path.read_text() == content


def test_missing_file_and_file_with_name_are_errors(conda_cli, tmp_path):
    from conda_limits.cli.exceptions import LimitsFileError

    _, _, error = conda_cli("limits", "show", "-f", tmp_path / "nope.yml",
                            raises=LimitsFileError)
    assert "nope.yml: no such file" in str(error.value)
    conda_cli("limits", "set", "-f", tmp_path / "x.yml", "-n", "base", "--vmem", "1G",
              raises=SystemExit)  # -f and -n are mutually exclusive


# ------------------------------------------------------------------ create / env create


@pytest.mark.parametrize("command", CREATE_COMMANDS)
def test_create_from_a_file_applies_its_limits(conda_cli, tmp_path, command):
    path = write(tmp_path / "environment.yml", TEAM_FILE.format(name="unused"))
    prefix = tmp_path / "env"
    out, err, code = conda_cli(*command, "-f", path, "-p", prefix)
    assert not code, err
    assert has_limits(prefix, LIMITS)
    assert f"Applied the limits of {path} to the environment at {prefix}" in out
    assert "4 GiB" in out and "notice does not apply" in out


@CREATE_FROM_FILE
def test_create_takes_the_name_from_the_file_and_n_overrides_it(conda_cli, tmp_path,
                                                                 envs_dir):
    path = write(tmp_path / "environment.yml", TEAM_FILE.format(name="team_env"))
    conda_cli("env", "create", "-f", path)
    assert has_limits(envs_dir / "team_env", LIMITS)
    conda_cli("create", "-f", path, "-n", "other_env", "--yes")
    assert has_limits(envs_dir / "other_env", LIMITS)


@pytest.mark.parametrize("command", CREATE_COMMANDS)
@pytest.mark.parametrize("value", ['"1G; touch /tmp/x"', '"$(id)"', "4Q", "-1", "[1, 2]"])
def test_create_from_a_bad_file_fails_before_creating_anything(conda_cli, tmp_path, command,
                                                               value):
    from conda_limits.cli.exceptions import LimitsFileError

    path = write(tmp_path / "environment.yml",
                 f"name: x\ndependencies: []\nlimits:\n  vmem: {value}\n")
    prefix = tmp_path / "env"
    _, _, error = conda_cli(*command, "-f", path, "-p", prefix, raises=LimitsFileError)
    assert f"{path}:4:" in str(error.value)
    assert "The environment was not created" in str(error.value)
    assert not prefix.exists()


def test_a_file_without_limits_is_left_to_conda(conda_cli, tmp_path):
    path = write(tmp_path / "environment.yml", "name: x\ndependencies: []\n")
    prefix = tmp_path / "env"
    out, err, code = conda_cli("env", "create", "-f", path, "-p", prefix)
    assert not code, err
    assert (prefix / "conda-meta").is_dir()
    assert not record.record_path(prefix).exists()
    assert not any(p.exists() for p in prefix_files.script_paths(prefix))
    assert "the limits" not in out + err and "conda-limits" not in out + err


def test_create_without_a_file_is_untouched(conda_cli, tmp_path, monkeypatch):
    write(tmp_path / "environment.yml", TEAM_FILE.format(name="x"))
    prefix = tmp_path / "env"
    monkeypatch.chdir(tmp_path)  # `conda create` never reads the cwd's environment.yml
    out, err, code = conda_cli("create", "-p", prefix, "--yes")
    assert not code, err
    assert not record.record_path(prefix).exists()
    assert "the limits" not in out


def test_dry_run_create_writes_no_limits(conda_cli, tmp_path):
    from conda.exceptions import DryRunExit

    path = write(tmp_path / "environment.yml", TEAM_FILE.format(name="x"))
    prefix = tmp_path / "env"
    try:
        conda_cli("env", "create", "-f", path, "-p", prefix, "--dry-run")
    except DryRunExit:  # conda >= 26.7; before, the solved environment is printed
        pass
    assert not prefix.exists()


# ----------------------------------------------------------------------- env update -f


def test_env_update_replaces_the_limits(conda_cli, tmp_env, tmp_path):
    with tmp_env() as prefix:
        conda_cli("limits", "set", "-p", prefix, "--cpu", "1h", "--vmem", "1G")
        path = write(tmp_path / "environment.yml", TEAM_FILE.format(name="x"))
        out, err, code = conda_cli("env", "update", "-f", path, "-p", prefix)
        assert not code, err
        assert has_limits(prefix, LIMITS)  # exactly the file's: cpu is gone
        assert f"Updated the limits of the environment at {prefix}" in out

        write(path, "name: x\ndependencies: []\n")  # no limits key: limits stay
        out, _, _ = conda_cli("env", "update", "-f", path, "-p", prefix)
        assert has_limits(prefix, LIMITS) and "the limits" not in out

        write(path, "name: x\ndependencies: []\nlimits: {}\n")  # an empty section: none
        conda_cli("env", "update", "-f", path, "-p", prefix)
        assert record.read(prefix) == LimitSet()
        assert not any(p.exists() for p in prefix_files.script_paths(prefix))


def test_env_update_takes_the_name_from_the_file(conda_cli, tmp_path, envs_dir):
    path = write(tmp_path / "environment.yml", "name: upd_env\ndependencies: []\n")
    conda_cli("env", "create", "-f", path)
    write(path, TEAM_FILE.format(name="upd_env"))
    conda_cli("env", "update", "-f", path)
    assert has_limits(envs_dir / "upd_env", LIMITS)


def test_env_update_with_a_bad_file_changes_nothing(conda_cli, tmp_env, tmp_path):
    from conda_limits.cli.exceptions import LimitsFileError

    with tmp_env() as prefix:
        conda_cli("limits", "set", "-p", prefix, "--cpu", "1h")
        path = write(tmp_path / "environment.yml", "name: x\ndependencies: []\n"
                     "limits:\n  cpu: '`reboot`'\n")
        _, _, error = conda_cli("env", "update", "-f", path, "-p", prefix,
                                raises=LimitsFileError)
        assert "The environment was not updated" in str(error.value)
        assert record.read(prefix) == parse_limits({"cpu": "1h"})


# ------------------------------------------------------------------------------ export


@pytest.fixture
def limited_env(conda_cli, tmp_env):
    with tmp_env() as prefix:
        conda_cli("limits", "set", "-p", prefix, "--vmem", "4G", "--nofile", "1024",
                  "--stack", "8M")
        yield prefix


@pytest.mark.parametrize("command", [("env", "export"), ("export",)])
def test_export_to_stdout_carries_the_limits(conda_cli, limited_env, command):
    out, err, code = conda_cli(*command, "-p", limited_env)
    assert not code, err
    assert environment_yml.loads(out).limits == LIMITS
    assert out.endswith("limits:\n  vmem: 4G\n  stack: 8M\n  nofile: 1024\n")


@pytest.mark.parametrize("args", [
    ("env", "export", "-f", "environment.yml"),
    ("export", "-f", "environment.yml"),
    pytest.param(("export", "--format", "environment-yaml", "-f", "out.yml"),
                 marks=EXPORT_FORMATS),
    pytest.param(("export", "--format", "yaml", "-f", "env.yaml"), marks=EXPORT_FORMATS),
])
def test_export_to_a_file_carries_the_limits(conda_cli, limited_env, tmp_path, args):
    path = tmp_path / args[-1]
    out, err, code = conda_cli(*args[:-1], str(path), "-p", limited_env)
    assert not code, err
    assert environment_yml.load(path).limits == LIMITS
    assert str(limited_env) in path.read_text()  # conda's export is there too


@EXPORT_FORMATS
def test_export_to_json_file_and_to_json_stdout(conda_cli, limited_env, tmp_path):
    path = tmp_path / "environment.json"
    conda_cli("export", "-p", limited_env, "-f", path)
    assert parse_limits(json.loads(path.read_text())["limits"]) == LIMITS
    out, err, _ = conda_cli("export", "-p", limited_env, "--json")
    assert "limits" not in json.loads(out)  # stdout stays valid JSON...
    assert "does not include this environment's limits" in err  # ...and says so


def test_export_of_an_environment_without_limits_is_untouched(conda_cli, tmp_env, tmp_path):
    with tmp_env() as prefix:
        out, err, _ = conda_cli("export", "-p", prefix)
        assert "limits:" not in out and "conda-limits" not in err
        path = tmp_path / "environment.yml"
        conda_cli("env", "export", "-p", prefix, "-f", path)
        assert "limits:" not in path.read_text()


def test_an_exported_file_recreates_the_limits(conda_cli, limited_env, tmp_path):
    path = tmp_path / "environment.yml"
    conda_cli("env", "export", "-p", limited_env, "-f", path)
    copy = tmp_path / "copy"
    conda_cli("env", "create", "-f", path, "-p", copy)
    assert has_limits(copy, LIMITS)


# ------------------------------------------------------------- conda limits export/apply


def test_limits_export_prints_the_block_and_merges_into_a_file(conda_cli, limited_env,
                                                               tmp_path):
    out, _, code = conda_cli("limits", "export", "-p", limited_env)
    assert not code and out == environment_yml.block_text(LIMITS)
    out, _, _ = conda_cli("limits", "export", "-p", limited_env, "--json")
    assert json.loads(out)["limits"]["vmem"] == {"kind": "rlimit", "value": 4 * 2**30,
                                                 "soft": 4 * 2**30, "hard": None,
                                                 "unit": "bytes"}

    text = "# keep me\nname: x  # and me\ndependencies: [python]\nlimits:\n  cpu: 1h\n"
    path = write(tmp_path / "environment.yml", text)
    out, _, code = conda_cli("limits", "export", "-p", limited_env, "-f", path)
    assert not code and "Wrote the limits" in out
    assert path.read_text() == ("# keep me\nname: x  # and me\ndependencies: [python]\n"
                                "limits:\n  vmem: 4G\n  stack: 8M\n  nofile: 1024\n")


def test_limits_export_of_an_environment_without_limits(conda_cli, tmp_env, tmp_path):
    with tmp_env() as prefix:
        out, err, code = conda_cli("limits", "export", "-p", prefix)
        assert not code and out == "" and "has no limits" in err
        path = write(tmp_path / "environment.yml", "name: x\nlimits:\n  cpu: 1h\n")
        out, _, _ = conda_cli("limits", "export", "-p", prefix, "-f", path)
        assert "has no limits" in out
        assert path.read_text() == "name: x\n"


def test_limits_apply(conda_cli, tmp_env, tmp_path):
    path = write(tmp_path / "environment.yml", TEAM_FILE.format(name="x"))
    with tmp_env() as prefix:
        out, _, code = conda_cli("limits", "apply", "-f", path, "-p", prefix, "--dry-run")
        assert not code and "Would apply" in out
        assert not record.record_path(prefix).exists()
        out, _, code = conda_cli("limits", "apply", "-f", path, "-p", prefix)
        assert not code and "Applied the limits" in out
        assert has_limits(prefix, LIMITS)


def test_limits_apply_errors(conda_cli, tmp_env, tmp_path):
    from conda.exceptions import EnvironmentLocationNotFound

    from conda_limits.cli.exceptions import LimitsFileError, NothingToDoError

    plain = write(tmp_path / "plain.yml", "name: x\ndependencies: []\n")
    bad = write(tmp_path / "bad.yml", "limits:\n  nproc: 1.5\n")
    with tmp_env() as prefix:
        conda_cli("limits", "apply", "-f", plain, "-p", prefix, raises=NothingToDoError)
        _, _, error = conda_cli("limits", "apply", "-f", bad, "-p", prefix,
                                raises=LimitsFileError)
        assert f"{bad}:2:10: limits.nproc" in str(error.value)
    conda_cli("limits", "apply", "-f", write(tmp_path / "e.yml", TEAM_FILE.format(name="x")),
              "-p", tmp_path / "missing", raises=EnvironmentLocationNotFound)


def test_limits_apply_takes_the_name_from_the_file(conda_cli, tmp_path, envs_dir):
    conda_cli("create", "-n", "named_env", "--yes")
    path = write(tmp_path / "environment.yml", TEAM_FILE.format(name="named_env"))
    conda_cli("limits", "apply", "-f", path)
    assert has_limits(envs_dir / "named_env", LIMITS)


# ------------------------------------------------------------------ a real conda process


def run_conda(*args: str | Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    # `python -m conda`: the same entry point as the `conda` script, guarded against
    # multiprocessing re-running it (conda's CUDA detection starts a spawned process).
    return subprocess.run([sys.executable, "-m", "conda", *map(str, args)], env=env,
                          capture_output=True, text=True, check=False)


def test_in_a_conda_process(tmp_path):
    env = {**os.environ, "CONDA_ENVS_DIRS": str(tmp_path / "envs")}
    path = write(tmp_path / "environment.yml", TEAM_FILE.format(name="proc_env"))
    created = run_conda("env", "create", "-f", path, env=env)
    assert created.returncode == 0, created.stderr
    prefix = tmp_path / "envs" / "proc_env"
    assert has_limits(prefix, LIMITS)
    assert "Applied the limits" in created.stdout

    exported = run_conda("env", "export", "-n", "proc_env", env=env)
    assert exported.returncode == 0, exported.stderr
    assert environment_yml.loads(exported.stdout).limits == LIMITS

    bad = write(tmp_path / "bad.yml", 'name: bad_env\ndependencies: []\nlimits:\n'
                '  vmem: "$(touch /tmp/conda-limits-injected)"\n')
    failed = run_conda("env", "create", "-f", bad, env=env)
    assert failed.returncode == 1
    assert f"{bad}:4:9: limits.vmem" in failed.stderr
    assert not (tmp_path / "envs" / "bad_env").exists()
