"""Site defaults through the real conda: ``plugins: limits_defaults:`` in a .condarc.

The defaults go in ``$XDG_CONFIG_HOME/conda/.condarc`` of a temporary ``XDG_CONFIG_HOME``: a
file on conda's search path that leaves ``CONDARC`` (and so the test setup's own
configuration) alone. ``conda_cli`` re-reads the configuration for every command.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conda_limits.limits import provenance
from conda_limits.limits.model import parse_limits
from conda_limits.state import prefix_files, record

from ..cli.test_environment_yml import CREATE_COMMANDS, conda_at_least, write
from ..cli.test_tiny import USERS, conda_as, owned_dir
from ..conftest import requires_conda

pytestmark = requires_conda

DEFAULTS = "plugins:\n  limits_defaults:\n    vmem: 4G\n    nofile: 1024\n"
LIMITS = parse_limits({"vmem": "4G", "nofile": 1024})


@pytest.fixture
def config_dir(tmp_path, monkeypatch) -> Path:
    """The ``conda`` folder of a temporary ``XDG_CONFIG_HOME``, which conda reads."""
    from conda.base.context import reset_context

    folder = tmp_path / "config" / "conda"
    folder.mkdir(parents=True)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(folder.parent))
    monkeypatch.delenv("CONDA_LIMITS_NO_DEFAULTS", raising=False)
    monkeypatch.delenv("CONDA_PLUGINS_LIMITS_DEFAULTS", raising=False)
    monkeypatch.delenv("CONDA_PLUGINS_LIMITS_ALLOW_TINY", raising=False)
    yield folder
    monkeypatch.undo()
    reset_context()


@pytest.fixture
def cli(conda_cli):
    """``conda_cli`` that first drops conda's cached plugin settings, as conda's own settings
    tests do: before conda 25, ``reset_context`` leaves them stale between commands."""
    from contextlib import suppress

    from conda.base.context import context

    def run(*args, **kwargs):
        with suppress(AttributeError):
            del context.plugins
        return conda_cli(*args, **kwargs)

    return run


@pytest.fixture
def condarc(config_dir):
    """Write the .condarc that holds the defaults; returns its path."""
    from conda.base.context import reset_context

    def configure(text: str) -> Path:
        path = write(config_dir / ".condarc", text)
        reset_context()
        return path

    return configure


def defaulted(path: Path, keys) -> dict:
    return provenance.each(keys, provenance.condarc(str(path)))


def test_create_gets_the_site_defaults(cli, tmp_path, condarc):
    rc = condarc(DEFAULTS)
    prefix = tmp_path / "env"
    out, err, code = cli("create", "-p", prefix, "--yes")
    assert not code, err
    assert record.read(prefix) == LIMITS
    assert all(p.exists() for p in prefix_files.script_paths(prefix))
    assert record.read_sources(prefix) == defaulted(rc, ["vmem", "nofile"])
    assert f"Applied the default limits to the environment at {prefix}" in out
    assert f"default ({rc})" in out and "CONDA_LIMITS_NO_DEFAULTS=1" in out


@pytest.mark.parametrize("command", CREATE_COMMANDS)
def test_the_environment_file_wins_per_limit(cli, tmp_path, condarc, command):
    rc = condarc(DEFAULTS)
    path = write(tmp_path / "environment.yml",
                 "name: x\ndependencies: []\nlimits:\n  vmem: unlimited\n  stack: 8M\n")
    prefix = tmp_path / "env"
    out, err, code = cli(*command, "-f", path, "-p", prefix)
    assert not code, err
    assert record.read(prefix) == parse_limits({"vmem": "unlimited", "stack": "8M",
                                                "nofile": 1024})
    from_file = provenance.environment_file(str(path))
    assert record.read_sources(prefix) == {"vmem": from_file, "stack": from_file,
                                           "nofile": provenance.condarc(str(rc))}
    assert f"Applied the limits of {path} and site defaults" in out


def test_a_file_without_limits_still_gets_the_defaults(cli, tmp_path, condarc):
    condarc(DEFAULTS)
    path = write(tmp_path / "environment.yml", "name: x\ndependencies: []\n")
    prefix = tmp_path / "env"
    cli("env", "create", "-f", path, "-p", prefix)
    assert record.read(prefix) == LIMITS


def test_the_opt_out_variable(cli, tmp_path, condarc, monkeypatch):
    rc = condarc(DEFAULTS)
    monkeypatch.setenv("CONDA_LIMITS_NO_DEFAULTS", "1")
    out, err, code = cli("create", "-p", tmp_path / "none", "--yes")
    assert not code, err
    assert not record.record_path(tmp_path / "none").exists()
    assert "the default limits" not in out

    monkeypatch.setenv("CONDA_LIMITS_NO_DEFAULTS", "vmem")
    cli("create", "-p", tmp_path / "some", "--yes")
    assert record.read(tmp_path / "some") == parse_limits({"nofile": 1024})
    assert record.read_sources(tmp_path / "some") == defaulted(rc, ["nofile"])


def test_a_bad_opt_out_variable_stops_the_create(cli, tmp_path, condarc, monkeypatch):
    from conda_limits.cli.exceptions import LimitsDefaultsError

    condarc(DEFAULTS)
    monkeypatch.setenv("CONDA_LIMITS_NO_DEFAULTS", "vmem,ram")
    _, _, error = cli("create", "-p", tmp_path / "env", "--yes", raises=LimitsDefaultsError)
    assert "unknown limit 'ram'" in str(error.value)
    assert not (tmp_path / "env").exists()


@pytest.mark.parametrize(("entry", "message"), [
    ("vmem: 4Q", "plugins.limits_defaults.vmem: expected a number of bytes"),
    ("vmem: '1G; touch /tmp/x'", "plugins.limits_defaults.vmem: expected"),
    ("ram: 4G", "plugins.limits_defaults.ram: unknown limit"),
    ("nofile: {soft: 1024, hard: 4096}", "plugins.limits_defaults.nofile: a default is one "
     "value"),
])
def test_a_bad_default_stops_only_the_commands_that_apply_defaults(cli, tmp_env, tmp_path,
                                                                   condarc, monkeypatch,
                                                                   entry, message):
    from conda_limits.cli.exceptions import LimitsDefaultsError

    with tmp_env() as existing:  # made before the defaults are configured
        rc = condarc(f"plugins:\n  limits_defaults:\n    {entry}\n")
        prefix = tmp_path / "env"
        _, _, error = cli("create", "-p", prefix, "--yes", raises=LimitsDefaultsError)
        assert f"{rc}: {message}" in str(error.value)
        assert "The environment was not created" in str(error.value)
        assert not prefix.exists()

        out, err, code = cli("limits", "set", "-p", existing, "--cpu", "1h")
        assert not code, err
        out, err, code = cli("limits", "show", "-p", existing)
        assert not code and "conda limits set" in out
        out, err, code = cli("create", "--clone", existing, "-p", tmp_path / "clone", "--yes")
        assert not code, err
    monkeypatch.setenv("CONDA_LIMITS_NO_DEFAULTS", "1")  # the way out for one command
    out, err, code = cli("create", "-p", prefix, "--yes")
    assert not code, err
    assert not record.record_path(prefix).exists()


def test_conda_environment_variable_cannot_hold_the_defaults(cli, tmp_path, condarc,
                                                             monkeypatch):
    from conda_limits.cli.exceptions import LimitsDefaultsError

    condarc(DEFAULTS)
    monkeypatch.setenv("CONDA_PLUGINS_LIMITS_DEFAULTS", "vmem=4G")
    _, _, error = cli("create", "-p", tmp_path / "env", "--yes", raises=LimitsDefaultsError)
    assert "CONDA_PLUGINS_LIMITS_DEFAULTS is set" in str(error.value)


def test_a_clone_keeps_the_limits_of_its_source(cli, tmp_path, condarc):
    condarc(DEFAULTS)
    source = tmp_path / "source"
    cli("create", "-p", source, "--yes", "--quiet")
    cli("limits", "unset", "-p", source, "--vmem")
    cli("limits", "set", "-p", source, "--cpu", "1h")
    clone = tmp_path / "clone"
    out, err, code = cli("create", "--clone", source, "-p", clone, "--yes")
    assert not code, err
    assert record.read(clone) == record.read(source) == parse_limits({"nofile": 1024,
                                                                      "cpu": "1h"})
    assert record.read_sources(clone) == record.read_sources(source)
    assert "the default limits" not in out


def test_env_update_applies_no_defaults(cli, tmp_env, tmp_path, condarc):
    with tmp_env() as prefix:  # made before the defaults are configured
        condarc(DEFAULTS)
        path = write(tmp_path / "environment.yml", "name: x\ndependencies: []\n")
        cli("env", "update", "-f", path, "-p", prefix)
        assert not record.record_path(prefix).exists()
        write(path, "name: x\ndependencies: []\nlimits:\n  cpu: 1h\n")
        cli("env", "update", "-f", path, "-p", prefix)
        assert record.read(prefix) == parse_limits({"cpu": "1h"})


def test_show_says_where_each_value_came_from(cli, tmp_path, condarc):
    rc = condarc(DEFAULTS)
    path = write(tmp_path / "environment.yml", "name: x\ndependencies: []\n"
                 "limits:\n  stack: 8M\n")
    prefix = tmp_path / "env"
    cli("env", "create", "-f", path, "-p", prefix)
    cli("limits", "set", "-p", prefix, "--vmem", "8G")
    out, _, code = cli("limits", "show", "-p", prefix)
    assert not code
    rows = {line.split()[0]: line for line in out.splitlines()[2:]}
    assert "Source" in rows["#"]
    assert rows["vmem"].endswith("conda limits set")
    assert rows["stack"].endswith(str(path))
    assert rows["nofile"].endswith(f"default ({rc})")

    out, _, _ = cli("limits", "show", "-p", prefix, "--json")
    assert {key: value["source"] for key, value in json.loads(out)["limits"].items()} == {
        "vmem": {"kind": "conda-limits-set"},
        "stack": {"kind": "environment-file", "path": str(path)},
        "nofile": {"kind": "condarc", "path": str(rc)}}

    cli("limits", "apply", "-f", path, "-p", prefix)
    assert record.read_sources(prefix) == {"stack": provenance.environment_file(str(path))}


def test_a_later_file_wins_unless_an_earlier_one_is_final(cli, tmp_path, config_dir):
    from conda.base.context import reset_context

    (config_dir / "condarc.d").mkdir()
    site = write(config_dir / "condarc.d" / "10-site.yml", DEFAULTS)
    user = write(config_dir / "condarc.d" / "20-user.yml",
                 "plugins:\n  limits_defaults:\n    nofile: 2048\n    cpu: 1h\n")
    reset_context()
    cli("create", "-p", tmp_path / "a", "--yes")
    assert record.read(tmp_path / "a") == parse_limits({"vmem": "4G", "nofile": 2048,
                                                        "cpu": "1h"})
    assert record.read_sources(tmp_path / "a") == {**defaulted(site, ["vmem"]),
                                                   **defaulted(user, ["nofile", "cpu"])}

    write(site, DEFAULTS.replace("nofile: 1024", "nofile: 1024  #!final"))
    reset_context()
    cli("create", "-p", tmp_path / "b", "--yes")
    assert record.read(tmp_path / "b")["nofile"] == parse_limits({"nofile": 1024})["nofile"]
    assert record.read_sources(tmp_path / "b")["nofile"] == provenance.condarc(str(site))


@conda_at_least("25.5")  # `conda config` handles plugin settings
def test_conda_config_writes_and_describes_the_setting(cli, tmp_path, condarc):
    rc = condarc("")
    out, err, code = cli("config", "--file", rc, "--set", "plugins.limits_defaults.nofile",
                         "512")
    assert not code, err
    out, _, _ = cli("config", "--describe", "plugins.limits_defaults")
    assert "default resource limits of every environment created" in out
    cli("create", "-p", tmp_path / "env", "--yes")
    assert record.read(tmp_path / "env") == parse_limits({"nofile": 512})


def test_in_a_conda_process(tmp_path):
    (tmp_path / "conda").mkdir()
    rc = write(tmp_path / "conda" / ".condarc", DEFAULTS)
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path),
           "CONDA_ENVS_DIRS": str(tmp_path / "envs")}
    env.pop("CONDA_LIMITS_NO_DEFAULTS", None)
    created = subprocess.run([sys.executable, "-m", "conda", "create", "-n", "site_env",
                              "--yes"], env=env, capture_output=True, text=True, check=False)
    assert created.returncode == 0, created.stderr
    prefix = tmp_path / "envs" / "site_env"
    assert record.read(prefix) == LIMITS
    assert record.read_sources(prefix) == defaulted(rc, ["vmem", "nofile"])
    assert "Applied the default limits" in created.stdout


@pytest.mark.parametrize(("text", "message"), [
    ("plugins:\n  limits_defaults:\n    nofile: 0x400\n", "nofile: not plain decimal digits: "
     "this YAML reader takes it as 1024, others may not; write 1024 instead"),
    ("plugins:\n  limits_defaults:\n    nofile: 0o2000\n", "nofile: not plain decimal digits"),
    ("plugins:\n  limits_defaults:\n    nofile: 0b10000000000\n", "nofile: not plain decimal"),
    ("plugins:\n  limits_defaults:\n    nofile: 1_024\n", "nofile: not plain decimal digits"),
    ("plugins:\n  limits_defaults:\n    nofile: +1024\n", "nofile: not plain decimal digits"),
    ("plugins:\n  limits_defaults:\n    nofile: !!int '0x400'\n", "nofile: not plain decimal"),
    ("plugins: {limits_defaults: {vmem: 4G, nofile: 0x400}}\n", "nofile: not plain decimal"),
    ("%YAML 1.1\n---\nplugins:\n  limits_defaults:\n    nofile: 02000\n",
     "nofile: not plain decimal digits: this YAML reader takes it as 1024"),
    ("%YAML 1.1\n---\nplugins:\n  limits_defaults:\n    cpu: 1:30\n",
     "cpu: not plain decimal digits: this YAML reader takes it as 90, others may not; "
     "write 90s instead"),
])
def test_a_default_integer_is_checked_as_written(cli, tmp_path, condarc, text, message):
    from conda_limits.cli.exceptions import LimitsDefaultsError

    rc = condarc(text)
    prefix = tmp_path / "env"
    _, _, error = cli("create", "-p", prefix, "--yes", raises=LimitsDefaultsError)
    assert f"{rc}: plugins.limits_defaults.{message}" in str(error.value)
    assert not prefix.exists()


def test_a_tiny_default_is_refused_unless_allowed(cli, tmp_path, condarc, monkeypatch):
    from conda_limits.cli.exceptions import LimitsDefaultsError

    rc = condarc("plugins:\n  limits_defaults:\n    vmem: 16M\n    core: 0\n")
    _, _, error = cli("create", "-p", tmp_path / "env", "--yes", raises=LimitsDefaultsError)
    assert f"{rc}: plugins.limits_defaults.vmem: 16M is below 256M" in str(error.value)
    assert "CONDA_PLUGINS_LIMITS_ALLOW_TINY=1" in str(error.value)
    assert not (tmp_path / "env").exists()

    monkeypatch.setenv("CONDA_LIMITS_NO_DEFAULTS", "vmem")  # skipping it is enough
    _, err, code = cli("create", "-p", tmp_path / "skipped", "--yes")
    assert not code, err
    assert record.read(tmp_path / "skipped") == parse_limits({"core": 0})

    monkeypatch.delenv("CONDA_LIMITS_NO_DEFAULTS")
    monkeypatch.setenv("CONDA_PLUGINS_LIMITS_ALLOW_TINY", "true")
    _, err, code = cli("create", "-p", tmp_path / "allowed", "--yes")
    assert not code, err
    assert record.read(tmp_path / "allowed") == parse_limits({"vmem": "16M", "core": 0})


def test_a_tiny_default_overridden_by_a_later_file_is_no_error(cli, tmp_path, config_dir):
    from conda.base.context import reset_context

    (config_dir / "condarc.d").mkdir()
    write(config_dir / "condarc.d" / "10-site.yml", "plugins:\n  limits_defaults:\n"
          "    nofile: 8\n")
    write(config_dir / "condarc.d" / "20-user.yml", "plugins:\n  limits_defaults:\n"
          "    nofile: 4096\n")
    reset_context()
    _, err, code = cli("create", "-p", tmp_path / "env", "--yes")
    assert not code, err
    assert record.read(tmp_path / "env") == parse_limits({"nofile": 4096})


def test_the_allow_tiny_setting_from_a_condarc(cli, tmp_path, condarc):
    condarc("plugins:\n  limits_allow_tiny: true\n  limits_defaults:\n    nofile: 8\n")
    _, err, code = cli("create", "-p", tmp_path / "env", "--yes")
    assert not code, err
    assert record.read(tmp_path / "env") == parse_limits({"nofile": 8})


@pytest.mark.parametrize("user", USERS, ids=lambda u: u or "this user")
def test_bad_defaults_in_conda_processes(user):
    with owned_dir(user) as folder:
        config = folder / "config" / "conda"
        config.mkdir(parents=True)
        rc = write(config / ".condarc", "plugins:\n  limits_defaults:\n    nofile: 0x400\n")
        if user:
            shutil.chown(config.parent, user)
            shutil.chown(config, user)
        environ = {"XDG_CONFIG_HOME": str(config.parent), "CONDA_LIMITS_NO_DEFAULTS": ""}
        prefix = folder / "env"
        refused = conda_as(user, "create", "-p", str(prefix), "--yes", environ=environ)
        assert refused.returncode == 1
        assert f"{rc}: plugins.limits_defaults.nofile: not plain decimal" in refused.stderr
        write(rc, "plugins:\n  limits_defaults:\n    nofile: 16\n")
        refused = conda_as(user, "create", "-p", str(prefix), "--yes", environ=environ)
        assert refused.returncode == 1 and "nofile: 16 is below 32" in refused.stderr
        assert not prefix.exists()
        allowed = conda_as(user, "create", "-p", str(prefix), "--yes",
                           environ={**environ, "CONDA_PLUGINS_LIMITS_ALLOW_TINY": "1"})
        assert allowed.returncode == 0, allowed.stderr
        assert record.read(prefix) == parse_limits({"nofile": 16})
