"""``conda run-limited`` through the real conda: a conda process, live stdio, exit statuses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import requires_conda

pytestmark = requires_conda

CONDA = Path(sys.prefix, "bin", "conda")
MiB = 2**20


def conda(*args: str, input: str | None = None,
          env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    if not CONDA.exists():
        pytest.skip(f"no conda executable at {CONDA}")
    return subprocess.run([str(CONDA), *args], capture_output=True, text=True, input=input,
                          timeout=300, env=env)


@pytest.fixture(scope="module")
def env(session_tmp_env):
    """An environment with a package-style activate.d script and a config variable."""
    with session_tmp_env() as prefix:
        scripts = prefix / "etc" / "conda" / "activate.d"
        scripts.mkdir(parents=True)
        (scripts / "gdal-activate.sh").write_text('export GDAL_DATA="$CONDA_PREFIX/share/gdal"\n')
        assert conda("env", "config", "vars", "set", "-p", str(prefix),
                     "MYVAR=hello world").returncode == 0
        yield prefix


def environ_of(result: subprocess.CompletedProcess) -> dict[str, str]:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])  # conda 24.11 adds a blank line


PRINT_ENV = [sys.executable, "-c", "import json, os; print(json.dumps(dict(os.environ)))"]


def activated_shell_environment() -> dict[str, str]:
    """The environment of a shell where conda's hook ran (base active), as users have it."""
    done = subprocess.run(["bash", "-c", 'eval "$("$0" shell.posix hook)" && exec "$@"',
                           str(CONDA), *PRINT_ENV], capture_output=True, text=True,
                          timeout=300, check=True)
    return json.loads(done.stdout)


def test_the_command_gets_what_conda_run_gives_it(env):
    # From an activated shell: without one (CONDA_SHLVL unset, as under cron), conda run's
    # wrapper first activates base through conda's shell hook; run-limited does not.
    shell = activated_shell_environment()
    ran = environ_of(conda("run", "-p", str(env), *PRINT_ENV, env=shell))
    limited = environ_of(conda("run-limited", "-p", str(env), "--", *PRINT_ENV, env=shell))
    for shell_own in ("_", "SHLVL"):  # set by conda run's bash wrapper, not by activation
        ran.pop(shell_own, None)
        limited.pop(shell_own, None)
    assert limited == ran
    assert limited["GDAL_DATA"] == f"{env}/share/gdal"
    assert limited["MYVAR"] == "hello world"
    assert limited["PATH"].split(":")[0] == f"{env}/bin"


def test_nothing_extra_on_success_and_the_exit_status_is_the_commands(env):
    result = conda("run-limited", "-p", str(env), "--", "sh", "-c", "echo out; exit 7")
    assert (result.returncode, result.stdout, result.stderr) == (7, "out\n", "")
    result = conda("run-limited", "-p", str(env), "--", "sh", "-c", "kill -TERM $$")
    assert (result.returncode, result.stderr) == (128 + signal.SIGTERM, "")


def test_stdin_reaches_the_command(env):
    result = conda("run-limited", "-p", str(env), "--", "cat", input="line one\nline two\n")
    assert (result.returncode, result.stdout) == (0, "line one\nline two\n")


def test_recorded_limits_apply_and_flags_win(tmp_env):
    with tmp_env() as prefix:
        assert conda("limits", "set", "-p", str(prefix), "--nofile", "200",
                     "--stack", "4M").returncode == 0
        result = conda("run-limited", "-p", str(prefix), "--nofile", "150", "--",
                       "sh", "-c", "ulimit -n; ulimit -s")
        assert (result.returncode, result.stdout.split(), result.stderr) == (
            0, ["150", "4096"], "")
        result = conda("run-limited", "-p", str(prefix), "--nofile", "120", "--hard", "--",
                       "sh", "-c", "ulimit -S -n; ulimit -H -n")
        assert result.stdout.split() == ["120", "120"]


def test_a_limit_that_stops_the_command_is_named(env):
    result = conda("run-limited", "-p", str(env), "--cpu", "1", "--allow-tiny", "--core", "0",
                   "--", sys.executable, "-c", "while True: pass")
    assert result.returncode == 128 + signal.SIGXCPU
    assert result.stderr.startswith("conda-limits: the cpu limit stopped the command")


def test_memory_error_under_vmem_is_named(env):
    result = conda("run-limited", "-p", str(env), "--vmem", "300M", "--", sys.executable, "-c",
                   "x = []\nwhile True: x.append(bytearray(b'1') * (1 << 20))")
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1].startswith(
        "conda-limits: the vmem limit most likely stopped the command")


def test_report(env):
    result = conda("run-limited", "-p", str(env), "--nofile", "100", "--report", "--", "true")
    assert result.returncode == 0
    lines = result.stderr.splitlines()
    assert lines[0] == "conda-limits report for: true"
    assert "    nofile   100 / " in "\n".join(lines)


def test_mem_oom_kill(env):
    from conda_limits.system import cgroups, memory_cap

    try:
        memory_cap.choose(64 * MiB, cgroups.BACKENDS).close()
    except memory_cap.MemoryCapUnavailable as error:
        pytest.skip(f"no usable memory cgroup here: {error}")
    result = conda("run-limited", "-p", str(env), "--mem", "150M", "--", sys.executable, "-c",
                   "x = bytearray(b'1') * (600 << 20)")
    assert result.returncode == 128 + signal.SIGKILL
    assert result.stderr.startswith("conda-limits: the --mem limit stopped the command")


GROW = "held = []\nwhile True: held.append(bytearray(b'1') * (10 << 20))"


@pytest.mark.parametrize("how", ["flag", "variable", "setting"])
def test_mem_enforced_by_watching_where_forced(env, how):
    """Any user: the watch needs no cgroup (--mem-backend, the variable, conda's setting)."""
    args = ["run-limited", "-p", str(env), "--mem", "150M", "--report"]
    environ = dict(os.environ)
    if how == "flag":
        args += ["--mem-backend", "watch"]
    elif how == "variable":
        environ["CONDA_LIMITS_MEM_BACKEND"] = "watch"
    else:
        environ["CONDA_PLUGINS_LIMITS_MEM_BACKEND"] = "watch"
    result = conda(*args, "--", sys.executable, "-c", GROW, env=environ)
    assert result.returncode == 128 + signal.SIGTERM, result.stderr
    assert result.stderr.startswith("conda-limits: the --mem limit stopped the command: the "
                                    "resident memory of its processes reached ")
    assert "  --mem:       150 MiB (watch) enforced by watching" in result.stderr


def test_mem_where_the_forced_backend_cannot_enforce_it_is_refused_and_nothing_runs(env, tmp_path):
    """What an unprivileged user gets who asks for a cgroup where none may be written."""
    from conda_limits.system import memory_cap

    try:
        memory_cap.choose(64 * MiB, ("cgroup v1",)).close()
        pytest.skip("a cgroup v1 can enforce --mem here (root)")
    except memory_cap.MemoryCapUnavailable:
        pass
    marker = tmp_path / "ran"
    result = conda("run-limited", "-p", str(env), "--mem", "150M", "--mem-backend",
                   "cgroup-v1", "--", "touch", str(marker))
    assert result.returncode == 1
    assert "Cannot cap resident memory at 150M (mem) here: cgroup v1: " in result.stderr
    assert "let --mem-backend watch enforce it" in result.stderr
    assert "Nothing was run." in result.stderr and not marker.exists()


@pytest.mark.parametrize("args,code,message", [
    (["-n", "no-such-env-here", "--"], 1, "EnvironmentLocationNotFound"),
    (["--vmem", "4Q", "--"], 2, "argument --vmem: invalid value '4Q'"),
    (["--mem", "lots", "--"], 2, "argument --mem: invalid value 'lots'"),
    (["--mem", "1G", "--mem-backend", "ram", "--"], 2,
     "argument --mem-backend: unknown --mem backend 'ram': choose one of auto, systemd, "),
    (["--nofile", "-3", "--"], 2, "argument --nofile: invalid value '-3'"),
])
def test_bad_input_is_an_error_and_nothing_runs(env, tmp_path, args, code, message):
    marker = tmp_path / "ran"
    if "-n" not in args:
        args = ["-p", str(env), *args]
    result = conda("run-limited", *args, "touch", str(marker))
    assert result.returncode == code
    assert message in result.stderr
    assert not marker.exists()


def test_no_command_and_a_missing_command(env, tmp_env):
    result = conda("run-limited", "-p", str(env), "--")
    assert result.returncode == 2
    assert "No command given" in result.stderr
    with tmp_env() as plain:  # no activation script: conda-limits checks PATH itself
        result = conda("run-limited", "-p", str(plain), "--", "no-such-command-here")
    assert result.returncode == 127
    assert "'no-such-command-here' is not on the PATH" in result.stderr
    assert "Nothing was run" in result.stderr
    # After the activation scripts (they could extend PATH), the launcher says so.
    result = conda("run-limited", "-p", str(env), "--", "no-such-command-here")
    assert (result.returncode, result.stderr) == (
        127, "conda-limits: command not found: no-such-command-here\n")


# --- odd situations (the conda side of tests/run/test_command.py's) -----------------------------


def test_a_closed_stdout_or_stderr_leaves_the_command_and_its_status_alone(env, tmp_path):
    marker = tmp_path / "ran"
    for closed in (">&-", "2>&-"):
        done = subprocess.run(["sh", "-c", f'exec "$@" {closed}', "sh", str(CONDA),
                               "run-limited", "-p", str(env), "--", "sh", "-c",
                               f'touch "{marker}"; echo out; exit 3'],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 3, done.stderr
        assert marker.exists() and "ERROR REPORT" not in done.stdout + done.stderr
        marker.unlink()


def test_an_argument_list_conda_takes_but_the_command_cannot_is_one_clear_error(tmp_env):
    """Near the kernel's maximum, conda starts, and the command, with the activation's
    larger environment and the launcher around it, cannot: one line, nothing run."""
    import resource

    stack = 1 << 20  # the kernel takes a quarter of the stack limit for arguments
    environ = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), "LANG": "C.UTF-8",
               **{k: v for k, v in os.environ.items() if k == "PYTHONPATH"}}
    with tmp_env() as prefix:
        head = [str(CONDA), "run-limited", "-p", str(prefix), "--", "true"]
        strings = [*head, *(f"{k}={v}" for k, v in environ.items())]
        used = sum(len(s.encode()) + 1 + 8 for s in strings) + 8 + 64  # pointers, #! line
        free = stack // 4 - used - 1200  # conda fits, the launcher (over 2 KiB) does not
        args = ["x" * 999] * (free // 1008) + ["y" * (free % 1008 or 1)]
        done = subprocess.run(
            [*head, *args], capture_output=True, text=True, timeout=300, env=environ,
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_STACK, (stack, stack)))
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Argument list too long" in done.stderr and "Traceback" not in done.stderr
    assert "Nothing was run." in done.stderr


def test_mem_0_a_directory_and_a_file_that_is_not_executable_are_refused(tmp_env, tmp_path):
    script = tmp_path / "script.sh"
    script.write_text("echo hi\n")
    with tmp_env() as prefix:
        cases = [(["--mem", "0", "--", "true"], 2, "0 would leave the command no memory"),
                 (["--", str(tmp_path)], 126, f"Cannot run '{tmp_path}': it is a directory."),
                 (["--", str(script)], 126, f"Cannot run '{script}': it is not executable.")]
        for args, code, message in cases:
            result = conda("run-limited", "-p", str(prefix), *args)
            assert result.returncode == code, result.stderr
            assert message in result.stderr
            assert "Nothing was run." in result.stderr or code == 2  # 2: argparse's usage error


def test_low_and_too_small_values_reach_the_command_or_are_named(env):
    result = conda("run-limited", "-p", str(env), "--nofile", "4", "--allow-tiny", "--", "cat",
                   "/proc/self/limits")
    assert result.returncode == 0, result.stderr
    assert next(line for line in result.stdout.splitlines()
                if line.startswith("Max open files")).split()[3] == "4"
    result = conda("run-limited", "-p", str(env), "--vmem", "1M", "--allow-tiny", "--", "true")
    assert result.returncode == 127
    assert result.stderr.splitlines()[-1] == (
        "conda-limits: the command (or a program it started) could not load (exit status 127): "
        "the vmem limit (1 MiB) is too small for a program to load (a shell needs about 4 MiB)")


def test_sigalrm_sent_to_conda_reaches_the_command_and_the_run_is_recorded(env, tmp_path):
    """SIGALRM (like SIGVTALRM, SIGPROF, SIGPWR, SIGIO) killed conda run-limited: exit 142,
    the command gone by the parent-death signal, the run not recorded."""
    from conda_limits.usage import log

    code = ("import signal, sys; signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM]); "
            "print('ready', flush=True); "
            "sys.exit(0 if signal.sigtimedwait([signal.SIGALRM], 60) else 3)")
    before = len(log.read(env).runs)
    if not CONDA.exists():
        pytest.skip(f"no conda executable at {CONDA}")
    proc = subprocess.Popen([str(CONDA), "run-limited", "-p", str(env), "--", sys.executable,
                             "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "XDG_STATE_HOME": str(tmp_path)})
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGALRM)
    _, err = proc.communicate(timeout=120)
    assert (proc.returncode, err) == (0, "")
    assert len(log.read(env, environ={"XDG_STATE_HOME": str(tmp_path)}).runs) == before + 1


def test_show_says_which_backend_enforces_mem_here(tmp_path):
    prefix = tmp_path / "env"
    assert conda("create", "-p", str(prefix), "--offline", "--yes", "--quiet").returncode == 0
    assert conda("limits", "set", "-p", str(prefix), "--mem", "4G").returncode == 0
    shown = conda("limits", "show", "-p", str(prefix),
                  env={**os.environ, "CONDA_LIMITS_MEM_BACKEND": "watch"})
    assert "\nmem is enforced here by watch (by watching the command's memory).\n" in shown.stdout
    shown = conda("limits", "show", "-p", str(prefix))
    assert "\nmem is enforced here by " in shown.stdout
