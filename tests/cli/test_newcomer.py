"""What a newcomer trips over (exact values, one table style, values people type, exit codes,
hints naming the environment, JSON, help text, broken pipes), through the real conda CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import conda_limits
from conda_limits.state import record

from ..conftest import requires_conda

pytestmark = requires_conda

GiB, MiB = 2**30, 2**20


def _block(out: str) -> list[str]:
    """The table block (title to last row) of a command's output."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("# limits"))
    end = next((i for i in range(start + 2, len(lines)) if not lines[i]), len(lines))
    return lines[start:end]


def test_set_and_show_print_exact_values_in_one_table_style(conda_cli, tmp_env):
    with tmp_env() as prefix:
        out, err, code = conda_cli("limits", "set", "-p", prefix, "--data", "1280M",
                                   "--vmem", "1025M", "--threads", "2")
        assert code == 0, err
        shown, _, _ = conda_cli("limits", "show", "-p", prefix)
        assert _block(out) == _block(shown)
        rows = {line.split()[0]: line.split()[1:3] for line in _block(shown)[3:]}
        assert rows["data"] == ["1.25", "GiB"] and rows["vmem"] == ["1025", "MiB"]
        assert rows["threads"][0] == "2"
        dry, _, _ = conda_cli("limits", "set", "-p", prefix, "--nofile", "512", "--dry-run")
        assert _block(dry)[0].startswith("# limits the environment at") and "(dry run)" in dry


def test_values_people_type(conda_cli, tmp_env):
    with tmp_env() as prefix:
        _, err, code = conda_cli("limits", "set", "-p", prefix, "--data", "4.5G",
                                 "--cpu", "1h30m", "--stack", "8M")
        assert code == 0, err
        assert record.read(prefix)["data"].soft == 9 * GiB // 2
        assert record.read(prefix)["cpu"].soft == 5400
        for text, seconds in (("90min", 5400), ("1.5h", 5400), ("1:30:00", 5400),
                              ("2-00:00:00", 172800)):
            conda_cli("limits", "set", "-p", prefix, "--cpu", text)
            assert record.read(prefix)["cpu"].soft == seconds, text


def test_a_unit_split_from_its_number_is_refused_saying_so(conda_cli, tmp_env):
    with tmp_env() as prefix:
        _, err, info = conda_cli("limits", "set", "-p", prefix, "--vmem", "4", "G",
                                 raises=SystemExit)
        assert info.value.code == 2
        assert "a space between the number and its unit; write --vmem 4G" in err
        _, err, info = conda_cli("run-limited", "-p", prefix, "--cpu", "90", "min", "--",
                                 "true", raises=SystemExit)
        assert info.value.code == 2 and "write --cpu 90min" in err
        assert not record.record_path(prefix).exists()


def test_a_bare_size_is_bytes_and_says_so(conda_cli, tmp_env):
    with tmp_env() as prefix:
        _, err, code = conda_cli("limits", "set", "-p", prefix, "--vmem", str(4 * GiB))
        assert code == 0
        assert "without a unit is bytes, where `ulimit` counts KiB" in err
        assert record.read(prefix)["vmem"].soft == 4 * GiB
        from conda.exceptions import ArgumentError

        _, err, info = conda_cli("limits", "set", "-p", prefix, "--vmem", "4194304",
                                 raises=ArgumentError)
        assert info.value.return_code == 2  # 4 MiB: below what conda deactivate needs
        assert "--vmem 4194304 is 4M" in err and "4194304K would be 4G" in err
        assert record.read(prefix)["vmem"].soft == 4 * GiB


# ------------------------------------------------------------------ through conda's executable

CONDA = Path(sys.prefix, "bin", "conda")
SOURCE = str(Path(conda_limits.__file__).resolve().parent.parent)


def conda(*args: object, stdout: int | None = subprocess.PIPE,
          environ: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    if not CONDA.exists():
        pytest.skip(f"no conda executable at {CONDA}")
    return subprocess.run([str(CONDA), *map(str, args)], stdout=stdout, check=False,
                          stderr=subprocess.PIPE, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": SOURCE, **(environ or {})})


@pytest.fixture(scope="module")
def env(session_tmp_env):
    with session_tmp_env() as prefix:
        assert conda("limits", "set", "-p", prefix, "--nofile", "1024", "--data", "1280M",
                     "--threads", "2").returncode == 0
        yield prefix


def test_usage_errors_and_bad_values_exit_2_failures_1(env, tmp_path):
    # (--cores above this machine's CPUs is recorded with a warning: meant for a bigger one)
    for args in (["run-limited", "-p", env, "--mem", "0", "--", "true"],
                 ["limits", "kernel", "install", "-p", env, "--kernel-name", "a b"],
                 ["limits", "kernel", "remove", "a/b"],
                 ["limits", "set", "-p", env],
                 ["limits", "unset", "-p", env],
                 ["limits", "set", "-p", env, "--cores", "0"],
                 ["limits", "set", "-p", env, "--threads", "2.5"],
                 ["limits", "set", "-p", env, "--vmem", "100M"],
                 ["limits", "set", "-p", env, "--cpu", "1:30"],
                 ["run-limited", "-p", env, "--nofile", "4 G", "--", "true"],
                 ["limits", "show", "--bogus"]):
        result = conda(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert "Traceback" not in result.stderr
    for args in (["limits", "show", "-p", tmp_path / "missing"],
                 ["limits", "suggest", "-p", env, "--apply"],
                 ["limits", "kernel", "remove", "no-such-kernel"]):
        result = conda(*args)
        assert result.returncode == 1, (args, result.stderr)


@pytest.mark.parametrize("args", [
    ["limits", "show"], ["limits", "set", "--nofile", "1024"], ["limits", "usage"],
    ["limits", "unset", "--cpu", "--dry-run"], ["limits", "suggest"], ["limits", "export"],
    ["limits", "kernel", "list"], ["limits", "list"],
], ids=lambda args: " ".join(args[1:]))
def test_json_output_ends_with_a_newline(env, args):
    if args[1:] not in (["kernel", "list"], ["list"]):
        args = [*args, "-p", env]
    result = conda(*args, "--json")
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("}\n") and json.loads(result.stdout)


def test_yes_is_accepted_by_the_writing_commands(env, tmp_path):
    (tmp_path / "environment.yml").write_text("name: x\nlimits:\n  nofile: 1024\n")
    for args in (["limits", "set", "-p", env, "--nofile", "1024", "-y"],
                 ["limits", "unset", "-p", env, "--cpu", "--yes"],
                 ["limits", "apply", "-p", env, "-f", tmp_path / "environment.yml", "-y",
                  "--dry-run"],
                 ["limits", "suggest", "-p", env, "-y"],
                 ["limits", "usage", "-p", env, "--enable", "-y"],
                 ["limits", "export", "-p", env, "-y"]):
        result = conda(*args)
        assert result.returncode == 0, (args, result.stderr)
    assert "-y, --yes" in conda("limits", "kernel", "install", "--help").stdout
    assert "-y, --yes" in conda("limits", "kernel", "remove", "--help").stdout


def test_usage_clear_dry_run_keeps_the_log(env):
    from conda_limits.usage import log

    assert conda("run-limited", "-p", env, "--", "true").returncode == 0
    files = [path for path in log.logs(env) if path.exists()]
    assert files
    result = conda("limits", "usage", "-p", env, "--clear", "--dry-run")
    assert result.returncode == 0 and "Would remove" in result.stdout
    assert all(str(path) in result.stdout for path in files)
    assert all(path.exists() for path in files)
    data = json.loads(conda("limits", "usage", "-p", env, "--clear", "-d", "--json").stdout)
    assert data["dry_run"] and data["changed"] and all(path.exists() for path in files)


@pytest.mark.parametrize("args", [
    ["limits", "show"], ["limits", "show", "--json"], ["limits", "set", "--nofile", "1024"],
    ["limits", "unset", "--cpu", "--dry-run"], ["limits", "usage"], ["limits", "suggest"],
    ["limits", "export"], ["limits", "kernel", "list"], ["limits", "set", "--help"],
    ["limits", "--help"], ["run-limited", "--help"], ["limits", "list"],
], ids=lambda args: " ".join(args[1:]))
def test_a_closed_pipe_ends_quietly(env, args):
    """As ``conda limits show | head -1`` when head has gone: no traceback, no report."""
    if "--help" not in args and args[1:] not in (["kernel", "list"], ["list"]):
        args = [*args, "-p", env]
    read, write = os.pipe()
    os.close(read)
    try:
        result = conda(*args, stdout=write)
    finally:
        os.close(write)
    assert result.returncode == 128 + signal.SIGPIPE, result.stderr
    assert result.stderr == ""


@pytest.fixture(scope="module")
def named(tmp_path_factory):
    """An environment named ai_env in an envs dir of its own (CONDA_ENVS_DIRS)."""
    envs = tmp_path_factory.mktemp("envs")
    environ = {"CONDA_ENVS_DIRS": str(envs)}
    created = conda("create", "-q", "-y", "--offline", "-n", "ai_env", environ=environ)
    assert created.returncode == 0, created.stderr
    return envs / "ai_env", environ


def test_hints_name_the_environment_as_the_user_did(named):
    prefix, environ = named
    assert conda("limits", "set", "-n", "ai_env", "--threads", "64", "--nofile", "4096",
                 environ=environ).returncode == 0
    doctor = conda("doctor", "-n", "ai_env", environ=environ)
    assert "`conda limits set -n ai_env --threads N`" in doctor.stdout, doctor.stdout
    doctor = conda("doctor", "-p", prefix, environ=environ)
    assert "`conda limits set -n ai_env --threads N`" in doctor.stdout  # conda's name for it
    # a script out of date: show says how to repair it, naming the environment
    next((prefix / "etc" / "conda" / "activate.d").glob("*.sh")).write_text("# edited\n")
    for option, named_as in ((["-n", "ai_env"], "-n ai_env"), (["-p", f"{prefix}/"],
                                                                 f"-p {prefix}/")):
        show = conda("limits", "show", *option, environ=environ)
        assert f"`conda doctor {named_as} --fix`" in show.stdout, show.stdout
    record.record_path(prefix).write_text("limits: [\n")
    for option, named_as in ((["-n", "ai_env"], "-n ai_env"), (["-p", prefix], f"-p {prefix}")):
        broken = conda("limits", "show", *option, environ=environ)
        assert broken.returncode == 1
        assert f"`conda limits unset {named_as} --all`" in broken.stderr, broken.stderr
    doctor = conda("doctor", "-n", "ai_env", environ=environ)
    assert "`conda limits unset -n ai_env --all`" in doctor.stdout
    assert conda("limits", "unset", "-n", "ai_env", "--all", environ=environ).returncode == 0


def test_a_path_is_quoted_for_the_shell_in_hints(conda_cli, tmp_path):
    prefix = tmp_path / "my envs" / "x"
    created = conda("create", "-q", "-y", "--offline", "-p", prefix)
    assert created.returncode == 0, created.stderr
    out = conda("limits", "set", "-p", prefix, "--threads", "64").stdout
    assert f"`conda activate '{prefix}'`" in out
    doctor = conda("doctor", "-p", prefix).stdout
    assert f"`conda limits set -p '{prefix}' --threads N`" in doctor


def test_notes_that_list_the_limits_name_every_setting(named):
    prefix, environ = named
    conda("limits", "unset", "-n", "ai_env", "--all", environ=environ)
    assert conda("limits", "set", "-n", "ai_env", "--nofile", "4096", "--threads", "2",
                 environ=environ).returncode == 0
    doctor = conda("doctor", "-n", "ai_env", environ=environ)
    assert "The resource limits (nofile 4096, threads 2) are recorded" in doctor.stdout
    exported = conda("env", "export", "-n", "ai_env", "--json", environ=environ)
    if "does not include" in exported.stderr:  # conda versions whose JSON export has no place
        assert "(nofile, threads)" in exported.stderr
        assert "`conda limits export -n ai_env`" in exported.stderr


def test_list_names_every_environment_with_limits_and_the_way_out(named):
    prefix, environ = named
    envs = prefix.parent
    conda("limits", "unset", "-n", "ai_env", "--all", environ=environ)
    assert conda("limits", "set", "-n", "ai_env", "--data", "1280M", "--threads", "2",
                 environ=environ).returncode == 0
    for name in ("plain", "orphan"):
        assert conda("create", "-q", "-y", "--offline", "-n", name,
                     environ=environ).returncode == 0
    assert conda("limits", "set", "-n", "orphan", "--nofile", "512",
                 environ=environ).returncode == 0
    record.record_path(envs / "orphan").unlink()  # scripts left without a record

    listed = conda("limits", "list", environ=environ)
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[0]: line for line in listed.stdout.splitlines()}
    assert rows["ai_env"].split(None, 1)[1] == "data 1.25 GiB, threads 2"
    assert "activation scripts without a record" in rows["orphan"]
    assert "plain" not in rows
    quiet = conda("limits", "list", "--quiet", environ=environ).stdout.splitlines()
    ours = [line for line in quiet if line.startswith(str(envs))]
    assert sorted(ours) == [str(envs / "ai_env"), str(envs / "orphan")]
    data = json.loads(conda("limits", "list", "--json", environ=environ).stdout)
    by_prefix = {e["prefix"]: e for e in data["environments"]}
    assert by_prefix[str(envs / "ai_env")]["limits"]["threads"]["value"] == 2
    assert by_prefix[str(envs / "orphan")]["limits"] == {}
    assert by_prefix[str(envs / "orphan")]["files"]

    # the way out before uninstalling, as docs/commands/limits-list.md gives it (limited
    # to this test's environments)
    loop = ('while IFS= read -r p; do case $p in "$ENVS"/*) '
            'conda limits unset -p "$p" --all $DRY;; esac; done')
    for dry in ("--dry-run", ""):
        done = subprocess.run(
            ["sh", "-c", f"{CONDA} limits list --quiet | {{ {loop}; }}"], text=True,
            capture_output=True, timeout=300, check=False,
            env={**os.environ, **environ, "PYTHONPATH": SOURCE, "ENVS": str(envs),
                 "DRY": dry, "PATH": f"{CONDA.parent}:{os.environ['PATH']}"})
        assert done.returncode == 0, done.stderr
        assert done.stdout.count("all limits of the environment") == 2
        left = [line for line in conda("limits", "list", "--quiet", environ=environ)
                .stdout.splitlines() if line.startswith(str(envs))]
        assert left == ([] if not dry else ours)
    assert not any((envs / "orphan" / "etc" / "conda" / "activate.d").glob("*conda-limits*"))


def test_run_limited_writes_its_report_as_json(env, tmp_path):
    path = tmp_path / "report.json"
    result = conda("run-limited", "-p", env, "--nofile", "512", "--threads", "1",
                   "--report-json", path, "--", "sh", "-c", "echo out; exit 3")
    assert result.returncode == 3 and result.stdout == "out\n", result.stderr
    assert "conda-limits report" not in result.stderr  # --report-json alone prints nothing
    data = json.loads(path.read_text())
    assert data["schema_version"] == 1 and data["command"] == ["sh", "-c", "echo out; exit 3"]
    assert data["status"] == 3 and data["signal"] is None and data["stopped_by"] is None
    assert data["limits"]["nofile"] == {"kind": "rlimit", "value": 512, "soft": 512,
                                        "hard": data["limits"]["nofile"]["hard"],
                                        "unit": "count", "source": {"kind": "flag"}}
    assert data["limits"]["data"]["source"] == {"kind": "environment"}
    assert data["limits"]["data"]["value"] == 1280 * MiB
    assert data["limits"]["threads"]["value"] == 1 and data["limits"]["threads"]["kind"] == "cpu"
    assert data["wall_seconds"] >= 0 and data["thread_pools"]["size"] == 1

    result = conda("run-limited", "-p", env, "--report-json", tmp_path / "no" / "r.json",
                   "--", "sh", "-c", "exit 4")
    assert result.returncode == 4
    assert "conda-limits: the report was not written" in result.stderr
    result = conda("run-limited", "-p", env, "--slurm", "--report-json", path, "--", "true")
    assert result.returncode == 2 and "--report" in result.stderr


def _command_parsers():
    sys.path.insert(0, str(Path(SOURCE, "docs", "_ext")))
    try:
        import command_parsers
    finally:
        sys.path.pop(0)
    return command_parsers


COMMANDS = {"limits": "conda_limits.cli.limits",
            "run-limited": "conda_limits.cli.main_run_limited"}


def _leaves(parsers, command):
    try:
        words = parsers.subcommands(parsers.build_parser(COMMANDS, command)).choices
    except KeyError:
        return [command]
    return [command, *(leaf for word in words for leaf in _leaves(parsers, f"{command} {word}"))]


def test_the_command_pages_are_the_real_help(monkeypatch):
    """The docs' command pages are rendered from the parsers as conda builds them: their
    text is what ``--help`` prints, within 80 columns, each example once."""
    parsers = _command_parsers()
    monkeypatch.setenv("COLUMNS", "80")
    commands = [leaf for name in COMMANDS for leaf in _leaves(parsers, f"conda {name}")]
    assert "conda limits kernel install" in commands and "conda limits list" in commands
    for command in commands:
        real = subprocess.run([str(CONDA), *command.split()[1:], "--help"], text=True,
                              capture_output=True, check=False, timeout=300,
                              env={**os.environ, "PYTHONPATH": SOURCE, "COLUMNS": "80"})
        assert real.returncode == 0, real.stderr
        documented = parsers.build_parser(COMMANDS, command).format_help()
        assert documented == real.stdout, command
        description = real.stdout.split("\n\n")[1:]
        wide = [line for part in description for line in part.splitlines()
                if len(line) > 80 and not line.startswith("usage:") and "[" not in line]
        assert not wide, (command, wide)
        if command != "conda limits":
            assert "Examples:" in real.stdout, command
        assert real.stdout.count("e.g. 0-3,8") <= 1, command
