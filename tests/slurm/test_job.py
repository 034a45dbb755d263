"""Commands run as Slurm jobs on the real one-node test cluster, as root and as a user.

Each job is submitted by a separate process (the runner as a program runs it: its own stdio),
as root or as the unprivileged user ``limtest``, with the test cluster's ``SLURM_CONF``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

import conda_limits
from conda_limits.limits.model import parse_limits
from conda_limits.slurm import job
from conda_limits.state import prefix_files

SOURCE = str(Path(conda_limits.__file__).resolve().parent.parent)
RUN = """\
import json, sys
from conda_limits.limits.model import parse_limits
from conda_limits.slurm import job
from conda_limits.slurm.options import user_options
a = json.loads(sys.argv[1])
sys.exit(job.run(a["prefix"], a["command"], parse_limits(a.get("overrides")),
                 mem=a.get("mem"), user_options=user_options(a.get("srun"))))
"""
MiB = 2**20


@pytest.fixture(scope="module")
def limtest():
    from tests.slurm_cluster import Unavailable, ensure_user

    try:
        user = ensure_user("limtest")
    except Unavailable as error:
        pytest.skip(str(error))
    probe = subprocess.run([sys.executable, "-c", "import conda_limits.slurm.job"],
                           capture_output=True, text=True, env={"PYTHONPATH": SOURCE},
                           user=user.pw_uid, group=user.pw_gid, extra_groups=[], cwd="/")
    if probe.returncode:
        pytest.skip(f"limtest cannot run {sys.executable} with conda_limits from {SOURCE} "
                    f"(a folder it cannot read?): {probe.stderr.strip()[-200:]}")
    return user


@pytest.fixture
def env():
    """An environment every user can read: a record, its scripts, a package's activate.d
    script and a `conda env config vars` variable."""
    folder = Path(tempfile.mkdtemp(prefix="conda-limits-slurm-env-"))
    folder.chmod(0o755)
    prefix = folder / "env"
    (prefix / "conda-meta").mkdir(parents=True)
    (prefix / "conda-meta" / "state").write_text('{"env_vars": {"FROM_STATE": "state-value"}}')
    scripts = prefix / "etc" / "conda" / "activate.d"
    scripts.mkdir(parents=True)
    (scripts / "pkg.sh").write_text('export FROM_SCRIPT="script:$CONDA_PREFIX"\n')
    prefix_files.write(prefix, parse_limits({"nofile": 512, "vmem": "3G"}))
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    yield prefix
    shutil.rmtree(folder, ignore_errors=True)


def submit(cluster, prefix: Path, command: list[str], *, user=None, overrides=None,
           mem=None, srun=None, input=None, timeout=120) -> subprocess.CompletedProcess:
    environ = cluster.environ()
    environ["PYTHONPATH"] = SOURCE
    kwargs = {}
    if user is not None:
        kwargs = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        environ.update(HOME=user.pw_dir, USER=user.pw_name, LOGNAME=user.pw_name)
    args = json.dumps({"prefix": str(prefix), "command": command, "overrides": overrides,
                       "mem": mem, "srun": srun})
    return subprocess.run([sys.executable, "-c", RUN, args], capture_output=True, text=True,
                          input=input, timeout=timeout, env=environ, cwd=prefix.parent,
                          **kwargs)


def limit_row(out: str, label: str) -> list[str]:
    line = next(line for line in out.splitlines() if line.startswith(label))
    return line[len(label):].split()[:2]


SHOW = ["sh", "-c", "grep -E '^Max (open files|address space|stack size) ' /proc/self/limits; "
        "echo \"user=$(id -un) job=$SLURM_JOB_ID prefix=$CONDA_PREFIX\"; "
        "echo \"state=$FROM_STATE $FROM_SCRIPT\""]


@pytest.mark.parametrize("who", ["root", "limtest"])
def test_the_environments_limits_and_activation_on_the_node(slurm_cluster, env, who, request):
    user = request.getfixturevalue("limtest") if who == "limtest" else None
    # --propagate=NONE: the node must not depend on Slurm copying the submitter's limits
    done = submit(slurm_cluster, env, SHOW, user=user, overrides={"stack": "4M"},
                  srun="--propagate=NONE")
    assert done.returncode == 0, done.stderr
    assert limit_row(done.stdout, "Max open files")[0] == "512"
    assert limit_row(done.stdout, "Max address space")[0] == str(3 * 2**30)
    assert limit_row(done.stdout, "Max stack size")[0] == str(4 * MiB)
    assert f"user={who} job=" in done.stdout
    assert f"prefix={env}\n" in done.stdout
    assert f"state=state-value script:{env}\n" in done.stdout


def test_stdin_stdout_and_exit_status_pass_through(slurm_cluster, env):
    done = submit(slurm_cluster, env, ["sh", "-c", "cat; exit 3"], input="hello from stdin\n")
    assert done.stdout == "hello from stdin\n"
    assert done.returncode == 3
    assert "conda-limits:" not in done.stderr  # a plain failure: no limit is blamed


def test_a_signal_is_the_jobs_status(slurm_cluster, env):
    done = submit(slurm_cluster, env, ["sh", "-c", "kill -USR1 $$"])
    assert done.returncode == 128 + signal.SIGUSR1
    assert "conda-limits:" not in done.stderr


def start(cluster, prefix: Path, command: list[str]) -> subprocess.Popen:
    environ = {**cluster.environ(), "PYTHONPATH": SOURCE}
    args = json.dumps({"prefix": str(prefix), "command": command})
    return subprocess.Popen([sys.executable, "-c", RUN, args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=environ, cwd=prefix.parent)


WAIT = ["sh", "-c", "trap 'echo got USR1; exit 42' USR1; echo ready; "
        "while :; do sleep 0.1; done"]


def test_a_signal_sent_to_conda_reaches_the_job(slurm_cluster, env):
    proc = start(slurm_cluster, env, WAIT)
    try:
        assert proc.stdout.readline() == "ready\n"
        proc.send_signal(signal.SIGUSR1)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert out == "got USR1\n"
    assert proc.returncode == 42
    assert "conda-limits:" not in err


def test_sigterm_to_conda_ends_the_job_and_no_limit_is_blamed(slurm_cluster, env):
    proc = start(slurm_cluster, env, WAIT)
    try:
        assert proc.stdout.readline() == "ready\n"
        proc.send_signal(signal.SIGTERM)  # srun cancels the step ("forcing job termination")
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGKILL
    assert "srun: forcing job termination" in err
    assert "conda-limits:" not in err


MEM_AND_NAME = ["sh", "-c", "scontrol -o show job $SLURM_JOB_ID | grep -o ' TRES=[^ ]*'; "
                "echo \"$SLURM_JOB_NAME\""]


def test_the_users_srun_options_win(slurm_cluster, env):
    done = submit(slurm_cluster, env, MEM_AND_NAME, mem=100 * MiB, srun="--mem=300M -J mine")
    assert done.returncode == 0, done.stderr
    assert done.stdout == " TRES=cpu=1,mem=300M,node=1,billing=1\nmine\n"
    ours = submit(slurm_cluster, env, MEM_AND_NAME, mem=100 * MiB)
    # ours apply when the user gives none; the job is named after the command
    assert ours.stdout == " TRES=cpu=1,mem=100M,node=1,billing=1\nsh\n"
    per_cpu = submit(slurm_cluster, env, MEM_AND_NAME, mem=100 * MiB, srun="--mem-per-cpu=200M")
    assert per_cpu.returncode == 0, per_cpu.stderr  # Slurm refuses --mem with --mem-per-cpu
    assert "mem=200M" in per_cpu.stdout


GROW = [sys.executable, "-c", "import time; a = bytearray(300 * 2**20); time.sleep(10)"]


@pytest.mark.parametrize("who", ["root", "limtest"])
def test_memory_past_mem_is_stopped_by_slurm_and_named(slurm_cluster, env, who, request):
    user = request.getfixturevalue("limtest") if who == "limtest" else None
    started = time.monotonic()
    done = submit(slurm_cluster, env, GROW, user=user, mem=100 * MiB,
                  overrides={"vmem": "unlimited"})
    assert time.monotonic() - started < 9  # stopped, not finished
    assert done.returncode != 0
    line = [x for x in done.stderr.splitlines() if x.startswith("conda-limits:")]
    assert len(line) == 1, done.stderr
    assert line[0].startswith("conda-limits: Slurm's memory limit stopped job ")
    assert "ask for more with --mem" in line[0]


@pytest.mark.parametrize("who", ["root", "limtest"])
def test_the_environments_recorded_mem_is_the_jobs_and_a_flag_wins(slurm_cluster, env, who,
                                                                   request):
    user = request.getfixturevalue("limtest") if who == "limtest" else None
    prefix_files.write(env, parse_limits({"nofile": 512, "vmem": "unlimited", "mem": "100M"}))
    for path in env.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    done = submit(slurm_cluster, env, GROW, user=user)
    assert done.returncode != 0
    assert "conda-limits: Slurm's memory limit stopped job " in done.stderr, done.stderr
    fits = "a = bytearray(300 << 20); a[::4096] = b'x' * len(a[::4096]); print('fits')"
    done = submit(slurm_cluster, env, [sys.executable, "-c", fits], user=user,
                  overrides={"mem": "600M"})
    assert (done.returncode, done.stdout) == (0, "fits\n"), done.stderr


def test_memory_enforced_by_polling_without_accounting(polling_cluster, env):
    sacct = subprocess.run(["sacct"], capture_output=True, text=True,
                           env=polling_cluster.environ())
    assert "accounting storage is disabled" in sacct.stdout + sacct.stderr
    done = submit(polling_cluster, env, GROW, mem=100 * MiB, overrides={"vmem": "unlimited"})
    assert done.returncode == 137
    assert "srun: Exceeded job memory limit" in done.stderr
    assert "conda-limits: Slurm's memory limit stopped job " in done.stderr
    assert ", the job's limit is 100 MiB (srun: memory limit exceeded)" in done.stderr


def test_an_rlimit_stop_on_the_node_is_named(slurm_cluster, env):
    done = submit(slurm_cluster, env, ["sh", "-c", "while :; do :; done"],
                  overrides={"cpu": "1s"})
    assert done.returncode == 128 + signal.SIGXCPU
    assert done.stderr.splitlines()[-1] == (
        "conda-limits: the cpu limit stopped the command on its node: the limit is 1 s of CPU "
        "time (SIGXCPU)")


def test_without_slurm_nothing_runs(env, tmp_path, monkeypatch):
    marker = tmp_path / "ran"
    monkeypatch.setenv("PATH", str(tmp_path))  # no srun there
    with pytest.raises(job.SlurmNotFound, match="srun was not found on PATH"):
        job.run(env, ["touch", str(marker)])
    assert not marker.exists()


def test_inside_an_allocation_a_step_of_that_job(slurm_cluster, env):
    """In a batch script, the command runs as a step of the script's job; a step that passes
    its --mem is still named, from srun's lines (the job itself goes on)."""
    args = json.dumps({"prefix": str(env), "command": [
        "sh", "-c", 'echo "nofile $(ulimit -n) step $SLURM_STEP_ID"']})
    grow = json.dumps({"prefix": str(env), "command": GROW, "mem": 100 * MiB,
                       "overrides": {"vmem": "unlimited"}})
    script = env.parent / "batch.sh"
    script.write_text("#!/bin/sh\n#SBATCH --mem=500M\n"
                      f"{sys.executable} -c '{RUN}' '{args}'\necho \"status $?\"\n"
                      f"{sys.executable} -c '{RUN}' '{grow}'\necho \"status $?\"\n")
    output = env.parent / "batch.out"
    state = slurm_cluster.batch(script, output, environ={**os.environ, "PYTHONPATH": SOURCE})
    assert state == "COMPLETED"
    out = output.read_text()
    assert "nofile 512 step 0\nstatus 0\n" in out
    assert "conda-limits: Slurm's memory limit stopped job " in out
    assert out.endswith("status 1\n") or out.endswith("status 137\n")


def test_with_accounting_the_end_is_read_from_sacct(accounting_cluster, env):
    from conda_limits.slurm import ending

    done = submit(accounting_cluster, env, GROW, mem=100 * MiB, overrides={"vmem": "unlimited"})
    line = done.stderr.splitlines()[-1]
    assert line.startswith("conda-limits: Slurm's memory limit stopped job "), done.stderr
    assert "(state OUT_OF_MEMORY" in line or "srun: memory limit exceeded" in line
    job_id = re.match(r"conda-limits: .* stopped job (\d+)\b", line).group(1)
    end = ending.read(job_id, (), accounting_cluster.environ())
    assert (end.source, end.state, end.mem) in {("sacct", "OUT_OF_MEMORY", "100M"),
                                                ("sacct", "FAILED", "100M")}
    sacct = subprocess.run(["sacct", "-j", job_id, "--noheader", "--parsable2",
                            "--format=JobID,State"], capture_output=True, text=True,
                           env=accounting_cluster.environ())
    assert f"{job_id}|{end.state}" in sacct.stdout


def test_cpu_settings_ask_for_cpus_and_size_the_thread_pools(slurm_cluster, env):
    prefix_files.write(env, parse_limits({"nofile": 512, "cores": 1.5}))
    for path in env.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    show = ["sh", "-c", "scontrol -o show job $SLURM_JOB_ID | grep -o ' TRES=[^ ]*'; "
            'echo "threads $OMP_NUM_THREADS"']
    done = submit(slurm_cluster, env, show)
    assert done.stdout.startswith(" TRES=cpu=2,"), done.stderr  # 1.5 cores: 2 CPUs
    assert done.stdout.endswith("\nthreads 2\n")
    theirs = submit(slurm_cluster, env, show, srun="-c 1")
    assert theirs.stdout.startswith(" TRES=cpu=1,"), theirs.stderr
    assert theirs.stdout.endswith("\nthreads 2\n")


def test_ctrl_c_in_a_terminal_reaches_srun_once(slurm_cluster, env):
    """In a terminal, Ctrl-C goes to srun directly (srun prints the job's state and the job
    goes on); conda-limits neither dies nor sends it a second time (which would cancel it)."""
    import pty
    import select

    environ = {**slurm_cluster.environ(), "PYTHONPATH": SOURCE}
    args = json.dumps({"prefix": str(env), "command": [
        "sh", "-c", "trap 'echo got INT' INT; echo ready; sleep 2; echo done"]})
    pid, fd = pty.fork()
    if pid == 0:  # the child: a new session with the pty as its terminal
        try:
            os.chdir(env.parent)
            os.execve(sys.executable, [sys.executable, "-c", RUN, args], environ)
        finally:
            os._exit(127)
    out = b""
    deadline = time.monotonic() + 60
    sent = False
    try:
        while time.monotonic() < deadline:
            if not sent and b"ready" in out:
                os.write(fd, b"\x03")  # the terminal's Ctrl-C: SIGINT to its foreground group
                sent = True
            if select.select([fd], [], [], 0.1)[0]:
                try:
                    out += os.read(fd, 4096)
                except OSError:  # the child has closed the terminal
                    break
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    text = out.decode(errors="replace")
    assert "srun: interrupt (one more within 1 sec to abort)" in text
    assert "done" in text and "conda-limits:" not in text
    assert os.waitstatus_to_exitcode(status) == 0


def test_without_the_exported_environment_the_node_activates(slurm_cluster, env):
    done = submit(slurm_cluster, env, ["sh", "-c", 'echo "$CONDA_PREFIX $FROM_STATE"; ulimit -n'],
                  srun="--export=NONE")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{env} state-value\n512\n"
    assert "the job did not get the activated environment from srun" in done.stderr
