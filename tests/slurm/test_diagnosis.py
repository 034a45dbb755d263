"""The one line after a Slurm job: Slurm's limits first, then the rlimits."""

from __future__ import annotations

import signal

from conda_limits.limits.model import parse_limits
from conda_limits.slurm import ending
from conda_limits.slurm.diagnosis import explain
from tests.slurm.captured import (
    SCONTROL_CANCELLED,
    SCONTROL_OOM_CGROUP,
    SCONTROL_OOM_POLLING,
    SCONTROL_TIMEOUT,
    SRUN_CANCELLED,
    SRUN_OOM_CGROUP,
    SRUN_OOM_POLLING,
    SRUN_TIMEOUT,
)

NONE = parse_limits({})


def end_of(scontrol: str, job: str, said=()) -> ending.JobEnd:
    from dataclasses import replace

    printed = ending.from_srun(said, job)
    return replace(ending.parse_scontrol(scontrol, job), oom=printed.oom,
                   time_out=printed.time_out, cancelled=printed.cancelled,
                   memory_exceeded=printed.memory_exceeded)


def test_out_of_memory_from_the_job_state():
    lines = explain(end_of(SCONTROL_OOM_CGROUP, "4", SRUN_OOM_CGROUP), 1, NONE)
    assert lines == ["conda-limits: Slurm's memory limit stopped job 4: its memory reached the "
                     "job's limit (--mem=100M) (state OUT_OF_MEMORY); ask for more with --mem"]


def test_out_of_memory_by_polling_names_the_figures():
    lines = explain(end_of(SCONTROL_OOM_POLLING, "1", SRUN_OOM_POLLING), 137, NONE)
    assert lines == ["conda-limits: Slurm's memory limit stopped job 1: it used 313.1 MiB, the "
                     "job's limit is 100 MiB (srun: memory limit exceeded); ask for more with "
                     "--mem"]


def test_without_accounting_or_controller_srun_lines_still_tell():
    lines = explain(ending.from_srun(SRUN_OOM_POLLING), 137, NONE)
    assert lines[0].startswith("conda-limits: Slurm's memory limit stopped job 1: it used "
                               "313.1 MiB")
    lines = explain(ending.from_srun(SRUN_TIMEOUT), 143, NONE)
    assert lines == ["conda-limits: Slurm's time limit stopped job 7 (srun: DUE TO TIME LIMIT); "
                     "ask for more with --time"]


def test_timeout():
    lines = explain(end_of(SCONTROL_TIMEOUT, "7", SRUN_TIMEOUT), 143, NONE)
    assert lines == ["conda-limits: Slurm's time limit of 00:01:00 stopped job 7 after "
                     "00:01:04 (state TIMEOUT); ask for more with --time"]


def test_cancelled_by_someone_else_but_not_by_the_user():
    end = end_of(SCONTROL_CANCELLED, "7", SRUN_CANCELLED)
    assert explain(end, 143, NONE) == [
        "conda-limits: job 7 was cancelled (state CANCELLED): by scancel, an administrator or "
        "the scheduler, not by a limit of the environment"]
    assert explain(end, 143, NONE, requested=[signal.SIGINT]) == []


def test_node_failure():
    end = ending.JobEnd("9", "scontrol", "NODE_FAIL")
    assert explain(end, 1, NONE) == ["conda-limits: job 9 did not complete: its node failed "
                                     "(state NODE_FAIL)"]


def test_rlimit_signals_when_slurm_did_not_stop_the_job():
    failed = ending.JobEnd("5", "scontrol", "FAILED", exit_code=0, signal=signal.SIGXCPU)
    cpu = parse_limits({"cpu": "10s"})
    assert explain(failed, 152, cpu) == [
        "conda-limits: the cpu limit stopped the command on its node: the limit is 10 s of CPU "
        "time (SIGXCPU)"]
    # srun's 128+N when Slurm's own record is not there
    assert explain(ending.JobEnd(None, "srun"), 128 + signal.SIGXFSZ,
                   parse_limits({"fsize": "1M"})) == [
        "conda-limits: the file size limit stopped the command: it tried to write a file past "
        "fsize 1 MiB (SIGXFSZ)"]


def test_python_failing_under_a_vmem_limit_gets_the_hint():
    failed = ending.JobEnd("6", "scontrol", "FAILED", exit_code=1, signal=0)
    lines = explain(failed, 1, parse_limits({"vmem": "2G"}), command=["python3", "-c", "x"])
    assert lines == ["conda-limits: the command failed (exit status 1) with vmem limited to "
                     "2 GiB: if it reported MemoryError or 'Cannot allocate memory', an "
                     "allocation did not fit under the vmem limit"]
    assert explain(failed, 1, parse_limits({"vmem": "2G"}), command=["false"]) == []


def test_success_and_plain_failures_get_no_line():
    assert explain(ending.JobEnd("3", "scontrol", "COMPLETED", exit_code=0, signal=0), 0,
                   NONE) == []
    assert explain(ending.JobEnd("3", "scontrol", "FAILED", exit_code=3, signal=0), 3,
                   NONE) == []
    # Slurm's internal 125 "signal" of an OOM kill is not a signal number
    assert explain(ending.JobEnd("3", "scontrol", "FAILED", exit_code=0, signal=125), 1,
                   NONE) == []
