"""Reading how a job ended, from text that Slurm printed (``captured.py``)."""

from __future__ import annotations

from conda_limits.slurm import ending
from tests.slurm.captured import (
    SACCT,
    SACCT_EARLY,
    SCONTROL_OOM_CGROUP,
    SCONTROL_TIMEOUT,
    SRUN_CANCELLED,
    SRUN_OOM_CGROUP,
    SRUN_OOM_POLLING,
    SRUN_TIMEOUT,
)


def test_scontrol_out_of_memory():
    end = ending.parse_scontrol(SCONTROL_OOM_CGROUP, "4")
    assert (end.state, end.reason, end.exit_code, end.signal, end.mem, end.time_limit) == (
        "OUT_OF_MEMORY", "OutOfMemory", 0, 125, "100M", "UNLIMITED")
    assert end.source == "scontrol"


def test_scontrol_of_another_job_is_not_this_one():
    assert ending.parse_scontrol(SCONTROL_OOM_CGROUP, "14") is None
    assert ending.parse_scontrol("slurm_load_jobs error: Invalid job id specified\n", "4") is None


def test_scontrol_timeout():
    end = ending.parse_scontrol(SCONTROL_TIMEOUT, "7")
    assert (end.state, end.reason, end.signal, end.elapsed, end.time_limit) == (
        "TIMEOUT", "TimeLimit", 15, "00:01:04", "00:01:00")


def test_srun_lines_memory_polling():
    end = ending.from_srun(SRUN_OOM_POLLING)
    assert end.oom and end.memory_exceeded == (328282112, 104857600)
    assert end.job_id == "1"


def test_srun_lines_memory_cgroup():
    end = ending.from_srun(SRUN_OOM_CGROUP, "4")
    assert end.oom and end.memory_exceeded is None and end.job_id == "4"


def test_srun_lines_time_limit_and_cancel():
    timeout = ending.from_srun(SRUN_TIMEOUT)
    assert timeout.time_out and not timeout.cancelled and not timeout.oom
    cancelled = ending.from_srun(SRUN_CANCELLED)
    assert cancelled.cancelled and not cancelled.time_out and not cancelled.oom


def test_srun_lines_of_a_plain_failure_say_nothing():
    end = ending.from_srun(("srun: error: vm: task 0: Exited with exit code 3",))
    assert not (end.oom or end.time_out or end.cancelled or end.memory_exceeded)


def test_sacct_job_and_steps():
    end = ending.parse_sacct(SACCT, "2")
    assert (end.source, end.state, end.exit_code, end.signal, end.mem, end.time_limit) == (
        "sacct", "OUT_OF_MEMORY", 0, 125, "100M", "UNLIMITED")
    assert end.max_rss is None  # MaxRSS 0: the step was too short to be sampled
    failed = ending.parse_sacct(SACCT, "1")
    assert (failed.state, failed.exit_code, failed.signal) == ("FAILED", 3, 0)
    assert ending.parse_sacct(SACCT, "12") is None


def test_sacct_before_the_record_is_complete():
    early = ending.parse_sacct(SACCT_EARLY, "2")
    assert early.state in ending.UNFINISHED  # from_sacct waits for a final state
    assert ending.parse_sacct(SACCT_EARLY, "1").mem is None  # "16?" is not a size


def test_sacct_max_rss_of_the_largest_step():
    end = ending.parse_sacct("5|COMPLETED|0:0|2G||UNLIMITED|00:01:00\n"
                             "5.0|COMPLETED|0:0||1536.50K||00:00:30\n"
                             "5.1|COMPLETED|0:0||101.5M||00:00:30\n", "5")
    assert end.max_rss == "101.5M"


def test_sacct_a_step_out_of_memory_under_a_failed_job():
    end = ending.parse_sacct("13|FAILED|1:0|1G||UNLIMITED|00:00:03\n"
                             "13.0|OUT_OF_MEMORY|0:125||1.1G||00:00:03\n", "13")
    assert end.state == "OUT_OF_MEMORY"


def test_sacct_cancelled_by_a_user():
    end = ending.parse_sacct("14|CANCELLED by 1001|0:15|1G||01:00:00|00:00:09\n", "14")
    assert end.state == "CANCELLED"


def test_squeue_finds_the_job_by_its_comment():
    text = "7|(null)\n3|conda-limits:9cac385d65e88523\n4|conda-limits:3ec0b1b040b42132\n"
    assert ending.parse_squeue(text, "conda-limits:3ec0b1b040b42132") == "4"
    assert ending.parse_squeue(text, "conda-limits:0000") is None
