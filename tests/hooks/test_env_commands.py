"""``conda env create -f`` / ``conda create -f`` / ``conda env update -f`` find ``limits:`` the
way YAML does (quoted key, flow mapping, merge key), refuse bad and tiny values in it and
integers not written in decimal, and leave files without the key to conda."""

from __future__ import annotations

import pytest

from conda_limits.limits.model import parse_limits
from conda_limits.state import record

from ..cli.test_environment_yml import CREATE_COMMANDS, write
from ..cli.test_tiny import USERS, conda_as, owned_dir
from ..conftest import requires_conda

pytestmark = requires_conda

# Files whose top level YAML reads as a mapping with a `limits` key that does not validate.
HIDDEN_KEYS = {
    "quoted key": '"limits": {nofile: -1}\nname: x\ndependencies: []\n',
    "single-quoted key": "name: x\ndependencies: []\n'limits':\n  nofile: -1\n",
    "flow top level": "{name: x, dependencies: [], limits: {nofile: -1}}\n",
    "JSON": '{"name": "x", "dependencies": [], "limits": {"nofile": -1}}\n',
    "escaped key": 'name: x\ndependencies: []\n"\\x6cimits": {nofile: -1}\n',
    "explicit key": "name: x\ndependencies: []\n? limits\n: {nofile: -1}\n",
    "space before colon": "name: x\ndependencies: []\nlimits   : {nofile: -1}\n",
}


@pytest.mark.parametrize("command", CREATE_COMMANDS)
@pytest.mark.parametrize("content", HIDDEN_KEYS.values(), ids=HIDDEN_KEYS)
def test_create_finds_the_key_as_yaml_does(conda_cli, tmp_path, command, content):
    from conda_limits.cli.exceptions import LimitsFileError

    path = write(tmp_path / "environment.yml", content)
    prefix = tmp_path / "env"
    _, _, error = conda_cli(*command, "-f", path, "-p", prefix, raises=LimitsFileError)
    assert "limits.nofile: negative values are not limits" in str(error.value)
    assert "The environment was not created" in str(error.value)
    assert not prefix.exists()


def test_update_finds_the_key_as_yaml_does(conda_cli, tmp_env, tmp_path):
    from conda_limits.cli.exceptions import LimitsFileError

    with tmp_env() as prefix:
        path = write(tmp_path / "environment.yml", HIDDEN_KEYS["flow top level"])
        _, _, error = conda_cli("env", "update", "-f", path, "-p", prefix,
                                raises=LimitsFileError)
        assert "The environment was not updated" in str(error.value)
        assert not record.record_path(prefix).exists()


@pytest.mark.parametrize("command", CREATE_COMMANDS)
def test_valid_limits_behind_those_spellings_are_applied(conda_cli, tmp_path, command):
    path = write(tmp_path / "environment.yml",
                 '{"name": "x", "dependencies": [], "limits": {"nofile": 1024, "vmem": "4G"}}\n')
    prefix = tmp_path / "env"
    _, err, code = conda_cli(*command, "-f", path, "-p", prefix)
    assert not code, err
    assert record.read(prefix) == parse_limits({"nofile": 1024, "vmem": "4G"})


@pytest.mark.parametrize("content", [
    "name: x\ndependencies: []\n# limits: {nofile: -1}\n",  # a comment
    "name: x\ndependencies: []\nvariables:\n  limits: -1\n",  # not at the top level
    "name: x\ndependencies: []\nnotes: |\n  limits: {nofile: -1}\n",  # inside a string
])
def test_text_that_only_looks_like_the_key_is_left_to_conda(conda_cli, tmp_path, content):
    path = write(tmp_path / "environment.yml", content)
    prefix = tmp_path / "env"
    _, err, code = conda_cli("env", "create", "-f", path, "-p", prefix)
    assert not code, err
    assert not record.record_path(prefix).exists()


@pytest.mark.parametrize(("value", "message"), [
    ("0x400", "not plain decimal digits: this YAML reader takes it as 1024"),
    ("1_024", "not plain decimal digits"),
    ("!!int '0x400'", "not plain decimal digits"),
    ("3", "3 is below 32, the least shells and small programs need"),
    ("{soft: 8, hard: 4096}", "8 is below 32"), ("{hard: 16}", "16 is below 32"),
])
def test_create_refuses_non_decimal_and_tiny_values(conda_cli, tmp_path, value, message):
    from conda_limits.cli.exceptions import LimitsFileError

    path = write(tmp_path / "environment.yml",
                 f"name: x\ndependencies: []\nlimits:\n  nofile: {value}\n")
    prefix = tmp_path / "env"
    _, _, error = conda_cli("env", "create", "-f", path, "-p", prefix, raises=LimitsFileError)
    assert f"{path}:4:" in str(error.value) and message in str(error.value)
    assert not prefix.exists()
    if "below" in message:
        assert "CONDA_PLUGINS_LIMITS_ALLOW_TINY=1" in str(error.value)


def test_a_yaml_11_document_is_read_as_written(conda_cli, tmp_path):
    """``1:30`` (YAML 1.1's 90, Slurm's 90 seconds, many people's hour and a half) is
    refused; ``1:30:00`` is the same 5400 seconds to YAML 1.1, YAML 1.2 and Slurm."""
    from conda_limits.cli.exceptions import LimitsFileError

    path = write(tmp_path / "environment.yml",
                 "%YAML 1.1\n---\nname: x\ndependencies: []\nlimits:\n  cpu: 1:30\n")
    _, _, error = conda_cli("env", "create", "-f", path, "-p", tmp_path / "env",
                            raises=LimitsFileError)
    assert "limits.cpu: not plain decimal digits: this YAML reader takes it as 90" in \
        str(error.value)
    write(path, "%YAML 1.1\n---\nname: x\ndependencies: []\nlimits:\n  cpu: 1:30:00\n")
    conda_cli("env", "create", "-f", path, "-p", tmp_path / "env")
    assert record.read(tmp_path / "env")["cpu"].soft == 5400


@pytest.mark.parametrize("user", USERS, ids=lambda u: u or "this user")
def test_in_conda_processes(user):
    with owned_dir(user) as folder:
        path = write(folder / "environment.yml", HIDDEN_KEYS["quoted key"])
        prefix = folder / "env"
        refused = conda_as(user, "env", "create", "-f", str(path), "-p", str(prefix))
        assert refused.returncode == 1 and "limits.nofile: negative" in refused.stderr
        assert not prefix.exists()

        write(path, "{name: x, dependencies: [], limits: {nofile: 8}}\n")
        refused = conda_as(user, "env", "create", "-f", str(path), "-p", str(prefix))
        assert refused.returncode == 1 and "8 is below 32" in refused.stderr
        assert not prefix.exists()

        allowed = conda_as(user, "env", "create", "-f", str(path), "-p", str(prefix),
                           environ={"CONDA_PLUGINS_LIMITS_ALLOW_TINY": "1"})
        assert allowed.returncode == 0, allowed.stderr
        assert record.read(prefix) == parse_limits({"nofile": 8})
