"""``conda limits`` and ``conda doctor`` on environments left in odd states, with real conda:
undecodable or broken files, interrupted writes, other writers, escape sequences, prefixes
that conda's activator would expand."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from conda_limits.limits.model import parse_limits
from conda_limits.state import locking, prefix_files, record

from ..conftest import requires_conda
from ..writers import VALUES, environ, limits_of, run_together, settled

pytestmark = requires_conda

CONDA = [sys.executable, "-m", "conda"]


def conda_run(*args: str | Path, **extra: str) -> subprocess.CompletedProcess[str]:
    """conda in its own process (the plugin from this checkout)."""
    return subprocess.run([*CONDA, *map(str, args)], capture_output=True, text=True,
                          env=environ(**extra), timeout=300, check=False)


@pytest.fixture
def env(conda_cli, tmp_env):
    with tmp_env() as prefix:
        yield Path(prefix)


def doctor(conda_cli, prefix: Path, *extra: str):
    from conda_limits.hooks.health_checks import has_fixer

    names = ("limits",) if has_fixer() else ()
    return conda_cli("doctor", "-p", prefix, *names, *extra)


def needs_fixer() -> None:
    from conda_limits.hooks.health_checks import has_fixer

    if not has_fixer():
        pytest.skip("this conda's health checks take no fixer (conda doctor --fix: 26.1+)")


# ----------------------------------------------------------------- undecodable files


def test_an_undecodable_record(conda_cli, env):
    from conda_limits.cli.exceptions import LimitsRecordError

    conda_cli("limits", "set", "-p", env, "--nofile", "1024")
    path = record.record_path(env)
    path.write_bytes(path.read_bytes() + b"\xff\n")
    _, _, info = conda_cli("limits", "show", "-p", env, raises=LimitsRecordError)
    assert "not UTF-8 text" in str(info.value)
    assert f"`conda limits unset -p {env} --all`" in str(info.value)
    conda_cli("limits", "set", "-p", env, "--vmem", "8G", raises=LimitsRecordError)
    out, _, _ = doctor(conda_cli, env)
    assert "the limits record is broken: not UTF-8 text" in out
    assert f"`conda limits unset -p {env} --all`" in out
    out, _, code = conda_cli("limits", "unset", "-p", env, "--all")
    assert not code and "the limits record was broken (not UTF-8 text" in out
    assert not path.exists() and not any(p.exists() for p in prefix_files.script_paths(env))
    out, _, _ = conda_cli("limits", "show", "-p", env)
    assert "No limits are set" in out and "warning" not in out


@pytest.mark.parametrize("script", range(6))
def test_an_undecodable_script(conda_cli, env, script):
    conda_cli("limits", "set", "-p", env, "--nofile", "1024")
    path = prefix_files.script_paths(env)[script]
    path.write_bytes(path.read_bytes() + b"\xff\xfe\n")
    out, _, _ = conda_cli("limits", "show", "-p", env)
    assert "warning: the activation scripts do not match the limits record (1 missing or " \
        "different)" in out and f"`conda doctor -p {env} --fix`" in out
    out, _, _ = doctor(conda_cli, env, "--verbose")
    assert "1 activation script is out of date" in out and str(path) in out
    out, _, code = conda_cli("limits", "set", "-p", env, "--vmem", "8G")
    assert not code and "note: the activation scripts did not match" in out
    assert settled(env) == parse_limits({"nofile": 1024, "vmem": "8G"})


def test_doctor_fix_rewrites_an_undecodable_script(conda_cli, env):
    needs_fixer()
    conda_cli("limits", "set", "-p", env, "--nofile", "1024")
    path = prefix_files.script_paths(env)[0]
    path.write_bytes(b"\xff" * 100)
    out, _, code = doctor(conda_cli, env, "--fix", "--yes")
    assert code == 0 and f"Rewrote {path}" in out
    assert settled(env) == parse_limits({"nofile": 1024})


def test_unset_all_clears_a_record_that_is_not_even_a_mapping(conda_cli, env):
    path = record.record_path(env)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"- \x1b]0;pwned\x07\n- [\n")
    out, _, code = conda_cli("limits", "unset", "-p", env, "--all")
    assert not code and not path.exists() and "\x1b" not in out


# ----------------------------------------------------------------- interrupted writes


def test_show_notices_what_a_killed_set_left_and_the_next_set_repairs_it(env):
    assert conda_run("limits", "set", "-p", env, "--nofile", "1024").returncode == 0
    killed = conda_run("limits", "set", "-p", env, "--nofile", "2048", "--vmem", "8G",
                       CONDA_LIMITS_TEST_KILL_AT_STEP="5")
    assert killed.returncode == -9
    shown = conda_run("limits", "show", "-p", env)
    assert shown.returncode == 0
    assert "warning: the activation scripts do not match the limits record" in shown.stdout
    as_json = json.loads(conda_run("limits", "show", "-p", env, "--json").stdout)
    assert as_json["warnings"] and f"`conda doctor -p {env} --fix`" in as_json["warnings"][0]
    again = conda_run("limits", "set", "-p", env, "--data", "4G")
    assert again.returncode == 0 and "note: the activation scripts did not match" in again.stdout
    assert settled(env) == parse_limits({"nofile": 2048, "vmem": "8G", "data": "4G"})


def test_every_kill_point_of_the_cli(conda_cli, env):
    """`conda limits set` killed at each step of its write, then `show`, `set`, doctor."""
    conda_cli("limits", "set", "-p", env, "--nofile", "1024")
    step = 1
    while True:
        killed = conda_run("limits", "set", "-p", env, "--nofile", str(3000 + step),
                           CONDA_LIMITS_TEST_KILL_AT_STEP=str(step))
        assert killed.returncode in (0, -9), killed.stderr
        state = prefix_files.check(env)
        out, _, code = conda_cli("limits", "show", "-p", env)
        assert not code and ("warning:" in out) == (not state.in_step), (step, out)
        out, _, _ = doctor(conda_cli, env)
        assert ("Resource limits (conda-limits):" in out) == (not state.in_step), (step, out)
        conda_cli("limits", "set", "-p", env, "--cpu", "2h")
        assert settled(env) in (parse_limits({"nofile": 1024, "cpu": "2h"}),
                                parse_limits({"nofile": 3000 + step, "cpu": "2h"}))
        if killed.returncode == 0:
            break
        step += 1
    assert step > 5


# ----------------------------------------------------------------- other writers


def test_parallel_sets_keep_every_limit(env):
    run_together(env, [{key: values[0]} for key, values in VALUES.items()], cli=True)
    assert settled(env) == limits_of({key: values[0] for key, values in VALUES.items()})


HOLD = """
import sys, time
from conda_limits.state import locking
with locking.environment(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(60)
"""


def test_a_writer_that_keeps_the_lock_is_named(env):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(env)], env=environ(),
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        result = conda_run("limits", "set", "-p", env, "--nofile", "100",
                           CONDA_LIMITS_LOCK_TIMEOUT="1.5")
        assert result.returncode == 1
        assert f"process {holder.pid} (" in result.stderr
        assert "CONDA_LIMITS_LOCK_TIMEOUT" in result.stderr
        assert "Nothing was changed" in result.stderr and "Traceback" not in result.stderr
        assert f"conda-limits: waiting for process {holder.pid}" in result.stderr
        shown = conda_run("limits", "show", "-p", env, CONDA_LIMITS_LOCK_TIMEOUT="0.5")
        assert shown.returncode == 1 and f"process {holder.pid}" in shown.stderr
    finally:
        holder.kill()
        holder.wait()
    assert not record.record_path(env).exists()
    assert conda_run("limits", "set", "-p", env, "--nofile", "100").returncode == 0


# ----------------------------------------------------------------- text from files


def test_sources_with_escape_sequences_are_printed_escaped(conda_cli, env):
    conda_cli("limits", "set", "-p", env, "--nofile", "1024")
    path = record.record_path(env)
    text = path.read_text().replace(
        "{kind: conda-limits-set}",
        '{kind: environment-file, path: "/tmp/\\e[31mred\\e]0;title\\a.yml"}')
    path.write_text(text)
    assert record.read_sources(env)["nofile"].path == "/tmp/\x1b[31mred\x1b]0;title\x07.yml"
    out, err, _ = conda_cli("limits", "show", "-p", env)
    assert "\x1b" not in out + err and "\x07" not in out + err
    assert "/tmp/\\x1b[31mred\\x1b]0;title\\x07.yml" in out
    out, err, _ = conda_cli("limits", "set", "-p", env, "--vmem", "8G")
    assert "\x1b" not in out + err


def test_a_broken_record_quoting_escape_sequences_is_reported_escaped(conda_cli, env):
    from conda_limits.cli.exceptions import LimitsRecordError

    path = record.record_path(env)
    path.parent.mkdir(parents=True)
    path.write_text('limits:\n  "\\e[2J\\e]0;owned\\a": 1\n')  # YAML escapes: ESC, BEL
    _, _, info = conda_cli("limits", "show", "-p", env, raises=LimitsRecordError)
    assert "\x1b" not in str(info.value) and "\\x1b[2J" in str(info.value)
    out, _, _ = doctor(conda_cli, env)
    assert "\x1b" not in out and "\\x1b" in out


# ----------------------------------------------------------------- unsafe prefixes


# (conda expands a variable of its own environment in -p: $NO_SUCH_VARIABLE stays as it is)
UNSAFE_NAMES = ["e$(touch PWNED)", "e`touch PWNED`", 'e"q', "e\\b", "e$NO_SUCH_VARIABLE"]


@pytest.mark.parametrize("name", UNSAFE_NAMES)
def test_no_scripts_in_a_prefix_that_conda_would_expand(conda_cli, tmp_path, name):
    prefix = tmp_path / name
    (prefix / "conda-meta").mkdir(parents=True)
    result = conda_run("limits", "set", "-p", prefix, "--nofile", "1024")
    assert result.returncode == 1, result.stdout
    assert "which conda's activation expands" in result.stderr
    assert "conda-limits writes no scripts into such an environment" in result.stderr
    assert not (prefix / "etc").exists() and not (tmp_path / "PWNED").exists()
    dry = conda_run("limits", "set", "-p", prefix, "--nofile", "1024", "--dry-run")
    assert dry.returncode == 1 and "expands" in dry.stderr


def test_scripts_already_in_such_a_prefix_are_reported_and_can_be_removed(conda_cli, tmp_path):
    safe = tmp_path / "safe"
    (safe / "conda-meta").mkdir(parents=True)
    (safe / "conda-meta" / "history").write_text("")  # what conda doctor calls an environment
    assert conda_run("limits", "set", "-p", safe, "--nofile", "1024").returncode == 0
    moved = tmp_path / "e$(touch PWNED)"
    safe.rename(moved)  # moved by hand, or renamed before conda-limits checked paths
    out, _, _ = conda_cli("limits", "show", "-p", moved)
    assert "which conda's activation expands" in out
    assert f"`conda limits unset -p {shlex.quote(str(moved))} --all`" in out
    out, _, _ = doctor(conda_cli, moved)
    assert "which conda's activation expands" in out
    out, _, code = conda_cli("limits", "unset", "-p", moved, "--all")
    assert not code and not any(p.exists() for p in prefix_files.script_paths(moved))


def test_conda_activation_runs_what_such_a_path_holds(tmp_path):
    """Why conda-limits refuses: conda sources activate.d scripts inside double quotes, so
    a `$(...)` in the prefix runs as soon as there is any script there (conda's weakness)."""
    conda = Path(sys.prefix, "bin", "conda")
    if not conda.exists():
        pytest.skip(f"no conda executable at {conda}")
    prefix = tmp_path / "e$(touch PWNED)"
    (prefix / "conda-meta").mkdir(parents=True)
    (prefix / "conda-meta" / "history").write_text("")
    script = f'eval "$("{conda}" shell.posix activate \'{prefix}\')"'
    ran = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True,
                         check=False)
    assert ran.returncode == 0, ran.stderr
    assert not (tmp_path / "PWNED").exists()  # no activate.d script: nothing runs
    activate_d = prefix / "etc" / "conda" / "activate.d"
    activate_d.mkdir(parents=True)
    (activate_d / "other-package.sh").write_text(": nothing\n")
    subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, check=False)
    assert (tmp_path / "PWNED").exists()


def test_site_defaults_at_create_give_such_a_prefix_no_scripts(tmp_path):
    condarc = tmp_path / ".condarc"
    condarc.write_text("plugins:\n  limits_defaults:\n    nofile: 1024\n")
    prefix = tmp_path / "e$(touch${IFS}PWNED)"  # conda create refuses spaces
    result = conda_run("create", "-p", prefix, "--yes", "--offline",
                       CONDARC=str(condarc), CONDA_PKGS_DIRS=str(tmp_path / "pkgs"))
    assert (prefix / "conda-meta").is_dir(), result.stderr
    assert "which conda's activation expands" in result.stdout + result.stderr
    assert not (prefix / "etc" / "conda" / "activate.d").exists()
    assert not (tmp_path / "PWNED").exists()


def test_locks_leave_nothing_but_their_file(env):
    assert conda_run("limits", "set", "-p", env, "--nofile", "1024").returncode == 0
    assert conda_run("limits", "unset", "-p", env, "--all").returncode == 0
    files = sorted(str(p.relative_to(env)) for p in (env / "etc").rglob("*") if p.is_file())
    assert files == [str(locking.LOCK_FILE)]
    assert os.stat(locking.lock_path(env)).st_size == 0
