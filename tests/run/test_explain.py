"""Which limit stopped a command, from its outcome; and the ``--report`` summary.

The real processes behind these outcomes are in test_command.py and test_cgroups.py; here each
rule is checked on its own, including the cases where nothing may be claimed.
"""

from __future__ import annotations

import signal

import pytest

from conda_limits.run import explain
from conda_limits.run.process import Outcome
from conda_limits.system.memory_cap import MemoryStats

MiB = 2**20
UNL = ("unlimited", "unlimited")


def outcome(status=0, sig=None, limits=None, sources=None, **changes) -> Outcome:
    base = Outcome(status=status, signal=sig, wall=1.5, user=1.0, system=0.25, peak_rss=None,
                   rss_floor=20 * MiB, sampled={}, written=0, limits=limits or {},
                   sources=sources or {}, memory=None)
    return base._replace(**changes)


def line(result: Outcome) -> str | None:
    lines = explain.explain(result)
    assert len(lines) <= 1
    return lines[0] if lines else None


def test_success_says_nothing_whatever_the_limits():
    assert line(outcome(limits={"vmem": (100 * MiB, 100 * MiB)},
                        sampled={"VmPeak": 100 * MiB})) is None


def test_sigxcpu_names_the_cpu_limit():
    text = line(outcome(152, signal.SIGXCPU, {"cpu": (1, "unlimited")}))
    assert text == ("conda-limits: the cpu limit stopped the command: it used 1.25 s of CPU "
                    "time, the limit is 1 s (SIGXCPU)")


def test_a_limit_signal_is_named_even_when_the_command_set_the_limit_itself():
    assert line(outcome(152, signal.SIGXCPU)) == (
        "conda-limits: the cpu limit stopped the command: it used 1.25 s of CPU time (SIGXCPU)")
    assert line(outcome(153, signal.SIGXFSZ)).endswith("write a file past the limit (SIGXFSZ)")


def test_sigkill_at_the_cpu_hard_limit_names_it():
    text = line(outcome(137, signal.SIGKILL, {"cpu": (1, 1)}))
    assert text.startswith("conda-limits: the cpu hard limit stopped the command")
    assert line(outcome(137, signal.SIGKILL, {"cpu": (1, 60)})) is None


def test_sigxfsz_names_the_file_size_limit():
    text = line(outcome(153, signal.SIGXFSZ, {"fsize": (MiB, "unlimited")}))
    assert text.endswith("past fsize 1 MiB (SIGXFSZ)")


def test_an_oom_kill_in_the_cgroup_names_mem():
    stats = MemoryStats("cgroup v1", 150 * MiB, 150 * MiB, 1)
    text = line(outcome(137, signal.SIGKILL, memory=stats))
    assert text == ("conda-limits: the --mem limit stopped the command: its memory reached "
                    "150 MiB and the kernel's OOM killer ended it (SIGKILL)")
    text = line(outcome(1, memory=stats))
    assert text == ("conda-limits: the --mem limit (150 MiB) made the kernel's OOM killer end "
                    "1 process(es) of the command")
    # An OOM kill is never silent, even when the command went on and exited 0 (item 4).
    assert line(outcome(0, memory=stats)) == (
        "conda-limits: the --mem limit (150 MiB) made the kernel's OOM killer end 1 "
        "process(es) of the command, which went on and exited 0 before the rest could be "
        "stopped: its results may be incomplete")


def test_an_oom_kill_of_one_process_then_the_rest_stopped_names_both():
    stats = MemoryStats("cgroup v1", 300 * MiB, 300 * MiB, 1, stopped=3)
    assert line(outcome(137, signal.SIGKILL, memory=stats)) == (
        "conda-limits: the --mem limit stopped the command: its memory reached 300 MiB, the "
        "kernel's OOM killer ended 1 of its processes; conda-limits then stopped the rest of "
        "the command (3 process(es)) (SIGKILL)")


def test_a_stop_by_the_watch_names_mem_the_peak_and_how_it_is_enforced():
    stats = MemoryStats("watch", 200 * MiB, 210 * MiB, 1, interval=0.02)
    assert line(outcome(143, signal.SIGTERM, memory=stats)) == (
        "conda-limits: the --mem limit stopped the command: the resident memory of its "
        "processes reached 210 MiB, past the cap of 200 MiB, and conda-limits ended them "
        "(killed by SIGTERM); the cap is enforced by watching, so a very fast allocation can "
        "pass it by what it allocates between two looks (the last two looks were 20 ms apart)")
    under = MemoryStats("watch", 200 * MiB, 20 * MiB, 0)
    assert line(outcome(143, signal.SIGTERM, memory=under)) is None  # a user's kill


def test_sigkill_without_a_readable_oom_count_is_only_likely_mem():
    text = line(outcome(137, signal.SIGKILL, memory=MemoryStats("systemd scope", 4 * MiB)))
    assert "most likely the kernel's OOM killer" in text
    assert line(outcome(137, signal.SIGKILL,
                        memory=MemoryStats("cgroup v1", 4 * MiB, MiB, 0))) is None


@pytest.mark.parametrize("key,sampled,what", [("vmem", "VmPeak", "address space"),
                                              ("data", "VmData", "data segment")])
def test_a_failure_near_a_memory_limit_is_likely_that_limit(key, sampled, what):
    limits = {key: (300 * MiB, "unlimited")}
    text = line(outcome(1, limits=limits, sampled={sampled: 290 * MiB}))
    assert text == (f"conda-limits: the {key} limit most likely stopped the command: it failed "
                    f"(exit status 1) with its {what} at 290 MiB of the {key} limit 300 MiB "
                    "(MemoryError or a failed allocation)")
    by_rss = line(outcome(134, signal.SIGABRT, limits=limits, peak_rss=280 * MiB))
    assert "(killed by SIGABRT) with its resident memory at 280 MiB" in by_rss


def test_a_failure_far_from_the_memory_limit_or_a_requested_stop_claims_nothing():
    limits = {"vmem": (300 * MiB, "unlimited")}
    inherited = {"vmem": "inherited"}
    assert line(outcome(1, limits=limits, sources=inherited,
                        sampled={"VmPeak": 100 * MiB})) is None
    assert line(outcome(130, signal.SIGINT, limits=limits, sampled={"VmPeak": 299 * MiB})) is None
    assert line(outcome(1, sampled={"VmPeak": 299 * MiB})) is None  # no limit at all


@pytest.mark.parametrize("status,sig,how", [(1, None, "exit status 1"),
                                            (134, signal.SIGABRT, "killed by SIGABRT")])
def test_a_failure_under_a_memory_limit_never_approached_says_what_to_look_for(status, sig, how):
    """One allocation too large for the limit fails at once: the measures cannot tell."""
    limits = {"data": (300 * MiB, "unlimited")}
    result = outcome(status, sig, limits=limits, sources={"data": "flag"},
                     sampled={"VmData": 10 * MiB})
    lines = explain.explain(result, ["python3.12", "train.py"])
    text = lines[0] if lines else None
    assert text == (f"conda-limits: the command failed ({how}) with data limited to 300 MiB: "
                    "if it reported MemoryError or 'Cannot allocate memory', an allocation did "
                    "not fit under the data limit")
    assert line(outcome(139, signal.SIGSEGV, limits=limits, sources={"data": "flag"})) is None
    assert line(outcome(3, limits=limits, sources={"data": "flag"})) is None


def test_sigsegv_blames_the_stack_only_when_conda_limits_set_it():
    limits = {"stack": (8 * MiB, "unlimited")}
    assert line(outcome(139, signal.SIGSEGV, limits, {"stack": "inherited"})) is None
    text = line(outcome(139, signal.SIGSEGV, limits, {"stack": "environment"}))
    assert "crashed (SIGSEGV) with the stack limit at 8 MiB" in text


def test_a_failure_after_writing_the_file_size_limit():
    limits = {"fsize": (MiB, "unlimited")}
    text = line(outcome(1, limits=limits, written=MiB))
    assert text == ("conda-limits: the command failed after writing 1 MiB with the file size "
                    "limit at 1 MiB: a write past it fails with 'File too large' (EFBIG)")
    assert line(outcome(1, limits=limits, written=MiB - 1)) is None
    assert line(outcome(1, limits=limits, written=None)) is None


def test_report_lists_status_times_memory_and_limits():
    result = outcome(137, signal.SIGKILL, {"vmem": (4 << 30, "unlimited"), "nofile": (100, 4096),
                                           "cpu": UNL},
                     {"vmem": "environment", "nofile": "flag", "cpu": "inherited"},
                     peak_rss=300 * MiB, memory=MemoryStats("cgroup v1", 256 * MiB, 255 * MiB, 1))
    text = explain.report(result, ["python", "train.py", "--epochs", "10"])
    assert text.splitlines() == [
        "conda-limits report for: python train.py --epochs 10",
        "  exit status: 137 (killed by SIGKILL)",
        "  wall time:   1.50 s",
        "  CPU time:    1.25 s (user 1.00 s, system 0.25 s)",
        "  peak memory: 300 MiB resident (largest single process)",
        "  --mem:       256 MiB (cgroup v1), peak 255 MiB (all processes, with page cache), "
        "OOM kills 1",
        "  --mem order: cgroup v1: used",
        "  limits in force (soft / hard):",
        "    vmem     4 GiB / unlimited  (environment)",
        "    nofile   100 / 4096  (--nofile)",
    ]


def test_report_says_when_the_peak_is_too_small_to_measure():
    text = explain.report(outcome(sampled={"VmHWM": 3 * MiB}))
    assert "peak memory: at least 3 MiB, at most 20 MiB resident" in text
    assert "    none" in text
    assert "at most 20 MiB resident" in explain.report(outcome())


def test_exit_1_of_a_program_that_is_not_python_gets_no_memory_hint(tmp_path):
    limits = {"vmem": (300 * MiB, "unlimited")}
    failed = outcome(1, limits=limits, sources={"vmem": "environment"})
    assert explain.explain(failed, ["grep", "x", "file"]) == []
    assert explain.explain(failed, ["false"]) == []
    script = tmp_path / "train"
    script.write_text("#!/usr/bin/env python3\nraise MemoryError\n")
    script.chmod(0o755)
    assert explain.explain(failed, ["train"], str(tmp_path))
    assert explain.explain(failed, [str(script)])
    assert explain.runs_python(["python"]) and explain.runs_python(["/usr/bin/python3.11"])
    assert not explain.runs_python(["pythonista-tool"]) and not explain.runs_python([])


def test_a_python_failure_under_fsize_with_the_bytes_written_unknown_gets_a_hint():
    """As an unprivileged user: an ended process's /proc/PID/io is root's to read."""
    failed = outcome(1, None, {"fsize": (MiB, "unlimited")}, {"fsize": "flag"}, written=None)
    assert explain.explain(failed, ["python3", "-c", "..."]) == [
        "conda-limits: the command failed (exit status 1) with the file size limit at 1 MiB: "
        "if it reported 'File too large' (EFBIG), a write went past the limit"]
    assert explain.explain(failed, ["grep", "x"]) == []  # not Python: SIGXFSZ would say it


@pytest.mark.parametrize("limits,named", [
    ({"nofile": (3, 3)}, "the nofile limit (3) leaves no descriptor free"),
    ({"vmem": (MiB, MiB)}, "the vmem limit (1 MiB) is too small for a program to load"),
    ({"stack": (4096, 4096)}, "the stack limit (4 KiB) is too small for a program to load"),
])
def test_a_limit_too_small_to_load_is_named_only_for_a_load_failure(limits, named):
    sources = dict.fromkeys(limits, "flag")
    text = line(outcome(127, None, limits, sources))
    assert text.startswith("conda-limits: the command (or a program it started) could not "
                           "load (exit status 127): " + named)
    assert line(outcome(3, None, limits, sources)) != text  # an ordinary failure: not this
    assert line(outcome(127, None, limits, dict.fromkeys(limits, "inherited"))) is None


def test_a_launcher_that_ended_before_the_command_is_told():
    text = line(outcome(3, None, started=False))
    assert text == ("conda-limits: the command did not start: the shell that sources the "
                    "environment's activation scripts and then starts it ended first (exit "
                    "status 3): an activation script may have failed (see above)")
    assert line(outcome(127, None, started=False)) is None  # it said why itself
