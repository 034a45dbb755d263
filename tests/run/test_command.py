"""Running a command without conda (run.command, run.process): real commands under real
limits, stdio, exit status, signals."""

from __future__ import annotations

import json
import os
import pty
import resource
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conda_limits.limits.model import LimitSet, parse_limits
from conda_limits.run import process
from conda_limits.run.activation import (
    ACTIVATE_D,
    OWN_SCRIPT,
    Activation,
    from_prefix,
    with_saved_limits,
    without_own_scripts,
)
from conda_limits.run.command import CommandNotFound, find_command
from conda_limits.run.command import run as command_run
from conda_limits.run.plan import plan_limits
from conda_limits.run.process import RunnerError, run_command
from conda_limits.state import prefix_files
from conda_limits.system.memory_cap import MemoryCapError

from .processes import running, wait_until

# Runs the runner as a program would: its own process, the terminal's (here: pipes') stdio.
RUN = """\
import json, sys
from conda_limits.run import command
from conda_limits.limits.model import parse_limits
a = json.loads(sys.argv[1])
sys.exit(command.run(a["prefix"], a["command"], parse_limits(a.get("limits")),
                    mem=a.get("mem"), report=a.get("report", False)))
"""


def spawn(prefix: Path, command: list[str], limits: dict | None = None,
          **kwargs) -> subprocess.Popen:
    args = json.dumps({"prefix": str(prefix), "command": command, "limits": limits,
                       "mem": kwargs.pop("mem", None), "report": kwargs.pop("report", False)})
    return subprocess.Popen([sys.executable, "-c", RUN, args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def run(prefix: Path, command: list[str], limits: dict | None = None, **kwargs):
    stdin = kwargs.pop("input", None)
    proc = spawn(prefix, command, limits, stdin=subprocess.PIPE, **kwargs)
    out, err = proc.communicate(stdin, timeout=60)
    return proc.returncode, out, err


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def limit_of(label: str) -> list[str]:
    """A command printing its own soft and hard limit of ``label`` from /proc/self/limits."""
    return ["sh", "-c", f"grep '^{label} ' /proc/self/limits"]


@pytest.fixture
def env(tmp_path: Path) -> Path:
    prefix = tmp_path / "env"
    (prefix / "conda-meta").mkdir(parents=True)
    (prefix / "bin").mkdir()
    return prefix


def add_script(prefix: Path, name: str, text: str, folder=prefix_files.ACTIVATE_D) -> Path:
    path = prefix / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# --- exit status, stdio ---------------------------------------------------------------------


def test_exit_status_and_output_pass_through_and_nothing_extra_is_printed(env):
    code, out, err = run(env, ["sh", "-c", "echo out; echo err >&2; exit 7"])
    assert (code, out, err) == (7, "out\n", "err\n")
    code, out, err = run(env, ["true"])
    assert (code, out, err) == (0, "", "")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL, signal.SIGUSR1])
def test_a_command_killed_by_signal_n_gives_128_plus_n(env, signum):
    code, _, err = run(env, ["sh", "-c", f"kill -{signum.name[3:]} $$"])
    assert code == 128 + signum
    assert err == ""  # no limit stopped it


def test_stdin_arguments_and_environment_reach_the_command(env):
    arguments = ["a b", "'quoted'", "$HOME", "new\nline", "--", ""]
    code, out, _ = run(env, py("import sys, json, os; print(json.dumps([sys.stdin.read(), "
                               "sys.argv[1:], os.environ['CONDA_PREFIX']]))") + arguments,
                       input="typed input\n")
    assert code == 0
    assert json.loads(out) == ["typed input\n", arguments, str(env)]


def test_the_command_is_the_runners_direct_child(env):
    """One Python process plus one sh, which execs the command: no process in between."""
    proc = spawn(env, py("import os; print(os.getppid())"))
    out, _ = proc.communicate(timeout=60)
    assert int(out) == proc.pid


def test_descriptors_the_caller_passes_down_reach_the_command(env, tmp_path):
    """The launcher's own pipes take free numbers below 10 and leave the caller's alone."""
    args = json.dumps({"prefix": str(env),
                       "command": ["sh", "-c", "echo three >&3; echo four >&4"]})
    out = subprocess.run(["sh", "-c", 'exec 3>"$1" 4>"$2"; shift 2; exec "$@"', "sh",
                          str(tmp_path / "3"), str(tmp_path / "4"), sys.executable, "-c", RUN,
                          args], capture_output=True, text=True, timeout=60)
    assert (out.returncode, out.stderr) == (0, "")
    assert (tmp_path / "3").read_text() == "three\n"
    assert (tmp_path / "4").read_text() == "four\n"


def test_a_missing_command_is_refused_before_anything_runs(env):
    activation = from_prefix(env, {"PATH": "/usr/bin:/bin"})
    with pytest.raises(CommandNotFound, match="no-such-command-here"):
        find_command(["no-such-command-here"], activation)
    code, _, err = run(env, ["no-such-command-here"])
    assert code == 1 and "CommandNotFound" in err


def test_a_missing_command_after_activation_scripts_exits_127(env):
    add_script(env, "a.sh", "A_SCRIPT_RAN=1\n")
    code, out, err = run(env, ["no-such-command-here"])
    assert code == 127
    assert err == "conda-limits: command not found: no-such-command-here\n"


# --- limits -----------------------------------------------------------------------------------


def test_recorded_limits_and_overrides_apply_and_an_override_wins(env):
    prefix_files.write(env, parse_limits({"nofile": 200, "stack": "4M"}))
    code, out, _ = run(env, ["sh", "-c", "ulimit -n; ulimit -s"], {"nofile": 150})
    assert code == 0
    assert out.split() == ["150", "4096"]


def test_an_override_wins_over_a_recorded_hard_limit(env):
    # conda-limits' own activate script would lower the hard limit to 100 for good; the
    # runner skips it and applies the override instead.
    prefix_files.write(env, parse_limits({"nofile": {"soft": 100, "hard": 100}}))
    assert (env / prefix_files.ACTIVATE_D / OWN_SCRIPT).exists()
    code, out, _ = run(env, limit_of("Max open files"), {"nofile": 300})
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    assert code == 0
    assert out.split()[3:5] == ["300", str(hard)]


def test_hard_limits_are_applied(env):
    code, out, _ = run(env, ["sh", "-c", "ulimit -S -n; ulimit -H -n; ulimit -S -n 200"],
                       {"nofile": {"soft": 100, "hard": 150}})
    assert out.split()[:2] == ["100", "150"]
    assert code != 0  # the command cannot raise its soft limit above the hard one


def test_the_stack_limit_survives_the_launchers_own_exec(env, capfd):
    """exec pins RLIMIT_STACK until it completes: a limit set during it would be lost."""
    activation = from_prefix(env)
    plan = plan_limits(parse_limits({"stack": "4M"}))
    for _ in range(20):
        outcome = run_command(["grep", "^Max stack size", "/proc/self/limits"],
                                     activation, plan)
        assert outcome.status == 0
        assert capfd.readouterr().out.split()[3] == str(4 << 20)


def test_the_runner_works_from_another_thread(env, capfd):
    """There it cannot install signal handlers, and SIGCHLD may reach (and be dropped by)
    another thread while the runner is busy: it must still see every command end."""
    import threading

    activation = from_prefix(env)
    plan = plan_limits(parse_limits({"nofile": 99}))
    results = []

    def work():
        for _ in range(50):
            results.append(run_command(["sh", "-c", "ulimit -n; exit 3"], activation,
                                              plan))

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive()
    assert [r.status for r in results] == [3] * 50
    assert capfd.readouterr().out == "99\n" * 50


def test_limits_are_in_force_before_activation_scripts_run(env):
    add_script(env, "seen.sh", 'export SEEN_NOFILE="$(ulimit -n)"\n')
    code, out, _ = run(env, ["sh", "-c", 'echo "$SEEN_NOFILE"'], {"nofile": 123})
    assert (code, out) == (0, "123\n")


def test_a_value_above_the_hard_limit_is_lowered_to_it_with_a_warning(env):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        pytest.skip("the open files hard limit is unlimited here")
    code, out, err = run(env, ["sh", "-c", "ulimit -n"], {"nofile": hard + 1})
    assert (code, out) == (0, f"{hard}\n")
    assert err == (f"conda-limits: nofile {hard + 1} is above the hard limit ({hard}); "
                   "using the hard limit\n")


# --- activation -------------------------------------------------------------------------------


def test_activation_scripts_variables_and_config_vars_reach_the_command(env):
    add_script(env, "gdal.sh", 'export GDAL_DATA="$CONDA_PREFIX/share/gdal"\nset -- clobbered\n')
    add_script(env, "not-sh.fish", "set -gx FISH_ONLY 1\n")
    (env / "conda-meta" / "state").write_text(json.dumps({"env_vars": {"MYVAR": "hello",
                                                                       "GONE": "***unset***"}}))
    code, out, _ = run(env, py("import os, sys; print(os.environ.get('GDAL_DATA'), "
                               "os.environ.get('MYVAR'), os.environ.get('GONE'), "
                               "os.environ.get('FISH_ONLY'), sys.argv[1:], "
                               "os.environ['PATH'].split(':')[0])") + ["x"])
    assert code == 0
    assert out.split() == [f"{env}/share/gdal", "hello", "None", "None", "['x']", f"{env}/bin"]


def test_deactivate_scripts_see_the_environment_being_left(tmp_path, env):
    old = tmp_path / "old"
    script = add_script(old, "x.sh", 'echo "left $CONDA_PREFIX $CONDA_SHLVL" >&2\n'
                        "unset OLD_SCRIPT_VAR\n", prefix_files.DEACTIVATE_D)
    previous = {"PATH": os.environ["PATH"], "CONDA_PREFIX": str(old), "CONDA_SHLVL": "1",
                "OLD_SCRIPT_VAR": "1", "ONLY_BEFORE": "x", "KEPT": "k"}
    environ = {"PATH": f"{env}/bin:" + os.environ["PATH"], "CONDA_PREFIX": str(env),
               "CONDA_SHLVL": "2", "OLD_SCRIPT_VAR": "1", "KEPT": "k", "NEW": "it's $new"}
    activation = Activation(environ, (), (str(script),), previous)
    plan = plan_limits(LimitSet())
    command = py("import os; print(sorted((k, v) for k, v in os.environ.items() "
                 "if k in ('CONDA_PREFIX','CONDA_SHLVL','OLD_SCRIPT_VAR','ONLY_BEFORE','KEPT',"
                 "'NEW') or k.startswith('__CONDA_LIMITS')))")
    out = subprocess.run(
        [sys.executable, "-c", "import sys, pickle; "
         "from conda_limits.run.process import run_command; "
         "a, p, c = pickle.loads(bytes.fromhex(sys.argv[1])); "
         "sys.exit(run_command(c, a, p).status)",
         __import__("pickle").dumps((activation, plan, command)).hex()],
        capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stderr == f"left {old} 1\n"
    assert out.stdout.strip() == str(sorted([("CONDA_PREFIX", str(env)), ("CONDA_SHLVL", "2"),
                                             ("KEPT", "k"), ("NEW", "it's $new")]))


@pytest.mark.parametrize("limits,after", [
    ({"nofile": 100}, None),
    ({"nofile": {"soft": 100, "hard": 150}}, 150),
])
def test_a_shell_started_as_the_command_deactivates_back_with_the_real_script(env, limits,
                                                                              after):
    """The variables the runner leaves are the ones conda-limits' own deactivate script
    reads: sourcing it in the command restores the limits the command started from."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 200 or hard == resource.RLIM_INFINITY:
        pytest.skip("needs a finite open files limit of at least 200")
    prefix_files.write(env, parse_limits(limits))
    script = env / prefix_files.DEACTIVATE_D / OWN_SCRIPT
    code, out, err = run(env, ["sh", "-c", 'ulimit -n; . "$0"; ulimit -n; env | '
                               "grep -c '^_CONDA_LIMITS_' || :", str(script)])
    assert code == 0
    assert out.split() == ["100", str(after or soft), "0"]
    if after:
        assert f"cannot go back up to {soft}" in err
    else:
        assert err == ""


def test_leaving_an_environment_restores_the_limits_it_saved(tmp_path, env):
    old = tmp_path / "old"
    prefix_files.write(old, parse_limits({"nofile": 100}))
    own = old / prefix_files.DEACTIVATE_D / OWN_SCRIPT
    previous = {"PATH": os.environ["PATH"], "CONDA_PREFIX": str(old), "CONDA_SHLVL": "1",
                "_CONDA_LIMITS_1_NOFILE": "321"}
    environ = {**previous, "CONDA_PREFIX": str(env), "CONDA_SHLVL": "2"}
    stripped = without_own_scripts(Activation(environ, (), (str(own),), previous))
    assert stripped.restored == {"nofile": 321}
    assert stripped.activation.deactivate_scripts == ()
    assert "_CONDA_LIMITS_1_NOFILE" not in stripped.activation.environ
    plan = plan_limits(parse_limits({"vmem": "8G"}), restored=stripped.restored)
    assert plan["nofile"].soft == 321
    saved = with_saved_limits(stripped.activation, plan.saved()).environ
    assert saved["_CONDA_LIMITS_2_VMEM"] == str(plan["vmem"].before)
    assert "_CONDA_LIMITS_2_NOFILE" not in saved


# --- limits that stop the command ---------------------------------------------------------------


def test_cpu_limit_sigxcpu_and_its_line(env):
    code, _, err = run(env, py("while True: pass"), {"cpu": 1, "core": 0})
    assert code == 128 + signal.SIGXCPU
    assert err.startswith("conda-limits: the cpu limit stopped the command")
    assert "the limit is 1 s (SIGXCPU)" in err and err.count("\n") == 1


def test_fsize_limit_sigxfsz_and_its_line(env, tmp_path):
    target = tmp_path / "big"
    code, _, err = run(env, ["dd", "if=/dev/zero", f"of={target}", "bs=64K", "count=64",
                             "status=none"], {"fsize": "1M", "core": 0})
    assert code == 128 + signal.SIGXFSZ
    assert target.stat().st_size == 2**20
    assert err == ("conda-limits: the file size limit stopped the command: it tried to write "
                   "a file past fsize 1 MiB (SIGXFSZ)\n")


#: Only root may read an ended process's /proc/PID/io: how much the command wrote, as an
#: unprivileged user gets it (a hint instead of the figure).
WRITTEN_KNOWN = os.geteuid() == 0
FSIZE_HINT = ("conda-limits: the command failed (exit status 1) with the file size limit at "
              "1 MiB: if it reported 'File too large' (EFBIG), a write went past the limit")


def test_fsize_limit_on_python_efbig(env, tmp_path):
    """CPython ignores SIGXFSZ: the write fails with EFBIG and Python exits 1."""
    target = tmp_path / "big"
    code, _, err = run(env, py(f"open({str(target)!r}, 'wb').write(bytes(4 << 20))"),
                       {"fsize": "1M"})
    assert code == 1
    assert "OSError: [Errno 27] File too large" in err
    assert err.splitlines()[-1] == (
        "conda-limits: the command failed after writing 1.0 MiB with the file size limit at "
        "1 MiB: a write past it fails with 'File too large' (EFBIG)" if WRITTEN_KNOWN
        else FSIZE_HINT)


def test_a_failure_that_wrote_little_is_not_blamed_on_fsize(env):
    code, _, err = run(env, py("import sys; sys.exit(1)"), {"fsize": "1M"})
    assert (code, err) == (1, "" if WRITTEN_KNOWN else FSIZE_HINT + "\n")


GROW = "x = []\nwhile True: x.append(bytearray(b'1') * (1 << 20))"


@pytest.mark.parametrize("key,what", [("vmem", "address space"), ("data", "data segment")])
def test_memory_error_under_vmem_or_data_and_its_line(env, key, what):
    code, _, err = run(env, py(GROW), {key: "300M"})
    assert code == 1
    lines = err.splitlines()
    assert lines[-2] == "MemoryError"
    # the sampled figure (every 0.02 s) may miss the last growth; then the exact peak of
    # resident memory (from wait4) is the measure the line gives
    start = (f"conda-limits: the {key} limit most likely stopped the command: it failed "
             "(exit status 1) with its ")
    assert lines[-1].startswith((start + f"{what} at ", start + "resident memory at ")), lines
    assert lines[-1].endswith(f"of the {key} limit 300 MiB (MemoryError or a failed allocation)")


def test_an_unrelated_failure_under_a_memory_limit_says_nothing(env):
    code, _, err = run(env, py("raise SystemExit(3)"), {"vmem": "2G"})
    assert (code, err) == (3, "")


def test_one_allocation_too_large_for_the_limit_gets_a_hint(env):
    """It fails at once, far below the limit: the line says what to look for."""
    code, _, err = run(env, py("x = bytearray(3 * 2**30)"), {"vmem": "1G"})
    assert code == 1
    lines = err.splitlines()
    assert lines[-2] == "MemoryError"
    assert lines[-1] == ("conda-limits: the command failed (exit status 1) with vmem limited to "
                         "1 GiB: if it reported MemoryError or 'Cannot allocate memory', an "
                         "allocation did not fit under the vmem limit")


# repr() of a deeply nested list recurses in C: past the stack limit, Python gets SIGSEGV.
DEEP = "import sys\nsys.setrecursionlimit(10**7)\nx = []\nfor _ in range(10**5): x = [x]\nrepr(x)"


def test_sigsegv_with_a_stack_limit_set_and_its_line(env):
    code, _, err = run(env, py(DEEP), {"stack": "512K", "core": 0})
    assert code == 128 + signal.SIGSEGV
    assert err.splitlines()[-1] == (
        "conda-limits: the command crashed (SIGSEGV) with the stack limit at 512 KiB: "
        "probably a stack overflow; a larger --stack may help")


def test_sigsegv_without_a_stack_limit_of_conda_limits_says_nothing(env):
    code, _, err = run(env, ["sh", "-c", "kill -SEGV $$"], {"core": 0})
    assert (code, err) == (128 + signal.SIGSEGV, "")


def test_report_is_printed_always_with_the_limits_in_force(env):
    code, out, err = run(env, ["sh", "-c", "echo hi"], {"nofile": 100, "cpu": "1m"},
                         report=True)
    assert (code, out) == (0, "hi\n")
    lines = err.splitlines()
    assert lines[0] == "conda-limits report for: sh -c 'echo hi'"
    assert lines[1].split() == ["exit", "status:", "0"]
    assert [line.split(":")[0].strip() for line in lines[2:5]] == [
        "wall time", "CPU time", "peak memory"]
    assert "  limits in force (soft / hard):" in lines
    assert any(line.split()[:2] == ["nofile", "100"] and line.endswith("(--nofile)")
               for line in lines)
    assert any(line.split()[:2] == ["cpu", "1"] for line in lines)


def test_report_measures_the_peak_memory_of_a_large_command(env):
    code, _, err = run(env, py("x = bytearray(b'1') * (400 << 20)"), report=True)
    assert code == 0
    peak = next(line for line in err.splitlines() if "peak memory:" in line)
    figure = float(peak.split(":")[1].split()[0])
    assert 400 <= figure < 500 and "MiB resident (largest single process)" in peak


# --- signals ------------------------------------------------------------------------------------

COUNT_SIGNALS = """\
import signal, sys, time
got = []
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(s, lambda n, f: got.append(n))
print("ready", flush=True)
end = time.monotonic() + 30
while time.monotonic() < end:  # wait for a signal, then a while for a duplicate
    if got and end - time.monotonic() > 0.3:
        end = time.monotonic() + 0.3
    time.sleep(0.02)
print(" ".join(signal.Signals(n).name for n in got), flush=True)
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_signals_sent_to_the_runner_reach_the_command_once(env, signum):
    proc = spawn(env, py(COUNT_SIGNALS))
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert (proc.returncode, out, err) == (0, f"{signum.name}\n", "")


WAIT_FOR_A_SIGNAL = """\
import signal, sys
wanted = int(sys.argv[1])
signal.pthread_sigmask(signal.SIG_BLOCK, [wanted])
print("ready", flush=True)
info = signal.sigtimedwait([wanted], 30)
print(info.si_signo if info else "none", flush=True)
"""


@pytest.mark.parametrize("signum", [signal.SIGALRM, signal.SIGVTALRM, signal.SIGPROF,
                                    signal.SIGPWR, signal.SIGIO, signal.SIGUSR2,
                                    signal.SIGSTKFLT, signal.SIGABRT, signal.SIGRTMIN + 3],
                         ids=str)
def test_every_signal_that_would_end_the_runner_reaches_the_command(env, signum):
    """SIGALRM and the like killed the runner; the command then died by the parent-death
    signal without seeing them (exit 142, the run not recorded)."""
    proc = spawn(env, [*py(WAIT_FOR_A_SIGNAL), str(int(signum))])
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert (proc.returncode, out, err) == (0, f"{int(signum)}\n", "")


def test_a_signal_that_ends_the_command_is_its_status(env):
    proc = spawn(env, ["sh", "-c", "echo ready; exec sleep 30"])
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGALRM)
    proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGALRM


def test_ctrl_c_on_the_terminal_reaches_the_command_once(env):
    args = json.dumps({"prefix": str(env), "command": py(COUNT_SIGNALS)})
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child execs
        os.execv(sys.executable, [sys.executable, "-c", RUN, args])
    output = b""
    try:
        while b"ready" not in output:
            output += os.read(fd, 1024)
        os.write(fd, b"\x03")  # the terminal sends SIGINT to the whole foreground group
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if not select.select([fd], [], [], 1)[0]:
                continue
            try:
                chunk = os.read(fd, 1024)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
    last = output.replace(b"\r", b"").split(b"\n")[-2]
    assert last.removeprefix(b"^C") == b"SIGINT"  # the terminal echoes ^C


# --- odd values and odd commands ----------------------------------------------------------------


@pytest.fixture(params=["no scripts", "a script"])
def any_env(request, env):
    """The environment with and without an activation script (then the launcher is bash)."""
    if request.param == "a script":
        add_script(env, "a.sh", "A_SCRIPT_RAN=1\n")
    return env


@pytest.mark.parametrize("nofile", [4, 5, 8, 12, 19])
def test_a_low_nofile_reaches_the_command(any_env, nofile):
    """The launcher's own descriptors (dash and bash copy them to 10 and up) need room: a
    nofile limit below that is set just before the command starts, so it runs under it."""
    code, out, err = run(any_env, ["cat", "/proc/self/limits"], {"nofile": nofile})
    assert (code, err) == (0, "")
    row = next(line for line in out.splitlines() if line.startswith("Max open files"))
    assert row.split()[3] == str(nofile)


@pytest.mark.parametrize("nofile", [0, 3])
def test_a_nofile_that_leaves_no_descriptor_free_is_named(any_env, nofile):
    code, _, err = run(any_env, ["true"], {"nofile": nofile})
    assert code == 127
    assert "error while loading shared libraries" in err
    assert err.splitlines()[-1] == (
        "conda-limits: the command (or a program it started) could not load (exit status 127): "
        f"the nofile limit ({nofile}) leaves no descriptor free (descriptors 0 to 2 are open "
        "from the start, and a program needs one more to load its libraries); --nofile 4 is "
        "the least that can work")


@pytest.mark.parametrize("limits,code,named", [
    ({"vmem": 0}, 128 + signal.SIGSEGV, "the vmem limit (0 B)"),
    ({"vmem": "1M"}, 127, "the vmem limit (1 MiB)"),
    ({"data": "16K"}, 128 + signal.SIGSEGV, "the data limit (16 KiB)"),
    ({"stack": "4K"}, 128 + signal.SIGSEGV, "the stack limit (4 KiB)"),
])
def test_a_limit_too_small_for_any_program_is_named(any_env, limits, code, named):
    status, _, err = run(any_env, ["true"], {**limits, "core": 0})
    assert status == code
    last = err.splitlines()[-1]
    assert last.startswith("conda-limits: the command (or a program it started) could not "
                           "load (")
    assert f": {named} is too small for a program to load (a shell needs about " in last


def test_an_activation_script_that_fails_is_told_from_the_command(env):
    add_script(env, "bad.sh", "echo broken script >&2\nexit 3\n")
    code, out, err = run(env, ["sh", "-c", "echo ran"])
    assert (code, out) == (3, "")
    assert err == ("broken script\nconda-limits: the command did not start: the shell that "
                   "sources the environment's activation scripts and then starts it ended first "
                   "(exit status 3): an activation script may have failed (see above)\n")


@pytest.mark.parametrize("what,status,problem", [
    ("directory", 126, "it is a directory"),
    ("plain file", 126, "it is not executable"),
    ("missing", 127, None),
])
def test_a_path_that_is_not_a_program_is_named(any_env, tmp_path, what, status, problem):
    target = tmp_path / "target"
    if what == "directory":
        target.mkdir()
    elif what == "plain file":
        target.write_text("echo hi\n")
    code, out, err = run(any_env, [str(target)])
    if (any_env / ACTIVATE_D).is_dir():  # the launcher checks, after the scripts
        reason = f"cannot run {target}: {problem}" if problem else f"command not found: {target}"
        assert (code, out, err) == (status, "", f"conda-limits: {reason}\n")
    else:  # refused before anything runs (the glue turns the error into conda's)
        assert code == 1 and "CommandNotFound" in err
        with pytest.raises(CommandNotFound) as raised:
            find_command([str(target)], from_prefix(any_env))
        assert (raised.value.status, raised.value.problem) == (
            status, problem or "there is no such file")


def test_a_name_on_the_path_that_is_not_executable_is_named(env, tmp_path):
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "tool").write_text("echo hi\n")
    activation = from_prefix(env, {"PATH": f"{folder}:/usr/bin:/bin"})
    with pytest.raises(CommandNotFound) as raised:
        find_command(["tool"], activation)
    assert (raised.value.status, raised.value.problem) == (126, f"{folder}/tool is not "
                                                                 "executable")


def test_an_argument_list_too_long_for_the_system_is_one_clear_error(env):
    with pytest.raises(RunnerError) as raised:
        command_run(env, ["true", "x" * 200_000])
    message = str(raised.value)
    assert message.startswith("the system refused to start ")
    assert "(Argument list too long)" in message and "\n" not in message
    assert "the longest one 195 KiB" in message and "128 KiB for one" in message


def test_mem_0_is_refused_before_anything_runs(env, tmp_path):
    marker = tmp_path / "ran"
    with pytest.raises(MemoryCapError, match="--mem 0 would leave the command no memory"):
        command_run(env, ["touch", str(marker)], mem=0)
    assert not marker.exists()


@pytest.mark.parametrize("closed", [">&-", "2>&-", ">&- 2>&-", "<&-"])
def test_closed_standard_streams_leave_the_command_and_its_status_alone(env, tmp_path, closed):
    """As under cron or a daemon: the command runs, its status comes back, and conda-limits'
    own lines (here: the cpu limit's) go nowhere when stderr is closed."""
    marker = tmp_path / "ran"
    args = json.dumps({"prefix": str(env), "limits": {"cpu": 1, "core": 0}, "command": [
        "sh", "-c", f'touch "{marker}"; echo out; echo err >&2; while :; do :; done']})
    done = subprocess.run(["sh", "-c", f'exec "$@" {closed}', "sh", sys.executable, "-c", RUN,
                           args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 128 + signal.SIGXCPU
    assert marker.exists()
    if "2>&-" not in closed:
        assert done.stderr.endswith("(SIGXCPU)\n") and "Traceback" not in done.stderr


@pytest.mark.skipif(process._setpriv() is None, reason="no util-linux setpriv with "
                    "--pdeathsig here: a command outlives a killed runner (as documented)")
@pytest.mark.parametrize("scripts", [False, True])
def test_a_runner_killed_with_sigkill_takes_the_command_with_it(env, tmp_path, scripts):
    if scripts:
        add_script(env, "a.sh", "A_SCRIPT_RAN=1\n")
    pid_file = tmp_path / "pid"
    proc = spawn(env, ["sh", "-c", f'echo $$ > "{pid_file}"; exec sleep 300'])
    try:
        assert wait_until(lambda: pid_file.exists() and pid_file.read_text().strip())
        command_pid = int(pid_file.read_text())
        assert running(command_pid)
        proc.kill()
        proc.communicate(timeout=60)
        assert wait_until(lambda: not running(command_pid)), "the command outlived its runner"
    finally:
        text = pid_file.read_text().strip() if pid_file.exists() else ""
        if text and running(int(text)):
            os.kill(int(text), signal.SIGKILL)


# A thread that Python's threading module does not know (as OpenBLAS starts when numpy is
# imported): it does not block SIGCHLD, so the kernel may hand it the child's SIGCHLD.
NATIVE_THREAD = """\
import ctypes, sys
from conda_limits.limits.model import parse_limits
from conda_limits.run.activation import from_prefix
from conda_limits.run.plan import plan_limits
from conda_limits.run.process import run_command
libc = ctypes.CDLL(None)
thread = ctypes.c_ulong()
assert libc.pthread_create(ctypes.byref(thread), None, libc.pause, None) == 0
activation, plan = from_prefix(sys.argv[1]), plan_limits(parse_limits({"stack": "4M"}))
for _ in range(50):  # the child must end before the wait begins, now and then
    assert run_command(["true"], activation, plan).status == 0
"""


def test_a_thread_python_does_not_know_cannot_make_the_wait_hang(env):
    done = subprocess.run([sys.executable, "-c", NATIVE_THREAD, str(env)], timeout=60,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
