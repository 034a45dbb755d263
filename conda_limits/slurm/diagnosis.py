"""The one line saying what stopped a Slurm job: Slurm's own limits first, then the rlimits.

Slurm's verdict (:class:`~conda_limits.slurm.ending.JobEnd`: OUT_OF_MEMORY, TIMEOUT,
CANCELLED, NODE_FAIL, ... or srun's "Exceeded job memory limit") names the Slurm limit. When
Slurm did not stop the job, the command's status and signal go through the same rules as on
one machine (:mod:`conda_limits.run.explain`), with what is known here: the limits asked
for, not measurements from the node.
"""

from __future__ import annotations

import signal
from collections.abc import Sequence

from ..limits import resources
from ..limits.model import LimitSet
from ..limits.resources import MEM
from ..limits.values import UNLIMITED, Value, approx, pretty
from ..run import explain as one_machine
from ..run.explain import LINE_START
from .ending import JobEnd

_STATES = {
    "NODE_FAIL": "its node failed",
    "PREEMPTED": "a job of higher priority preempted it",
    "BOOT_FAIL": "its node could not be booted",
    "DEADLINE": "it could not finish before its --deadline",
}


def explain(end: JobEnd, status: int, limits: LimitSet, *, requested: Sequence[int] = (),
            command: Sequence[str] = (), path: str | None = None) -> list[str]:
    """The line (in a list; empty when nothing can be said) for a job that ended with srun's
    ``status``; ``requested`` are the signals the user sent it (no limit is blamed then)."""
    line = slurm_line(end, bool(requested)) or rlimit_line(end, status, limits, command, path,
                                                           bool(requested))
    return [LINE_START + line] if line else []


def _job(end: JobEnd) -> str:
    return f"job {end.job_id}" if end.job_id else "the job"


def slurm_line(end: JobEnd, requested: bool = False) -> str | None:
    """What Slurm did to the job, if it stopped it."""
    state = end.state or ""
    job = _job(end)
    said = f"state {state}" if state and state != "FAILED" else f"{end.source}"
    if state == "OUT_OF_MEMORY" or end.oom:
        if end.memory_exceeded:
            used, allowed = end.memory_exceeded
            figures = f": it used {approx(MEM, used)}, the job's limit is {_size(allowed)}"
        else:
            figures = f": its memory reached the job's limit ({_mem(end)})" if end.mem else ""
        how = said if state == "OUT_OF_MEMORY" else "srun: memory limit exceeded"
        peak = f"; sacct's MaxRSS {end.max_rss}" if end.max_rss else ""
        return (f"Slurm's memory limit stopped {job}{figures} ({how}{peak}); ask for more "
                "with --mem")
    if state == "TIMEOUT" or end.time_out:
        ran = f" after {end.elapsed}" if end.elapsed else ""
        of = f" of {end.time_limit}" if end.time_limit else ""
        return (f"Slurm's time limit{of} stopped {job}{ran} "
                f"({'state TIMEOUT' if state == 'TIMEOUT' else 'srun: DUE TO TIME LIMIT'}); "
                "ask for more with --time")
    if state == "CANCELLED" or end.cancelled:
        if requested:
            return None  # the user's own Ctrl-C or kill
        return (f"{job} was cancelled ({'state CANCELLED' if state else 'srun'}): by scancel, "
                "an administrator or the scheduler, not by a limit of the environment")
    if state in _STATES:
        return f"{job} did not complete: {_STATES[state]} (state {state})"
    return None


def _mem(end: JobEnd) -> str:
    return f"--mem={end.mem}" if end.mem else "its --mem"


def _size(value: Value | int) -> str:
    return pretty(MEM, value)


def _signal_of(end: JobEnd, status: int) -> int | None:
    if end.signal and 0 < end.signal < signal.NSIG:
        return end.signal
    if status > 128 and status - 128 < signal.NSIG:
        return status - 128
    return None


def rlimit_line(end: JobEnd, status: int, limits: LimitSet, command: Sequence[str] = (),
                path: str | None = None, requested: bool = False) -> str | None:
    """The rlimit diagnosis of one machine, from the job's status and the limits asked for."""
    from ..run.process import Outcome

    sig = _signal_of(end, status)
    if requested:
        return None
    if sig == signal.SIGXCPU:
        cpu = limits.get("cpu")
        figure = (f": the limit is {pretty(resources.get('cpu'), cpu.effective)} of CPU time"
                  if cpu is not None and cpu.effective != UNLIMITED else "")
        return f"the cpu limit stopped the command on its node{figure} (SIGXCPU)"
    in_force = {key: (limit.effective, limit.hard if limit.hard is not None else UNLIMITED)
                for key, limit in limits.items()}
    outcome = Outcome(
        status=status, signal=sig, wall=0.0, user=0.0, system=0.0, peak_rss=None, rss_floor=0,
        sampled={}, written=None, limits=in_force,
        sources={r.key: "environment" if r.key in limits else "inherited"
                 for r in resources.RESOURCES})
    lines = one_machine.explain(outcome, command, path)
    return lines[0][len(one_machine.LINE_START):] if lines else None
