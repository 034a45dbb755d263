"""How a Slurm job ended, read from Slurm itself.

Three sources, best first: ``sacct`` where the site keeps accounting (the job's and its
steps' State and ExitCode, MaxRSS), else ``scontrol show job`` (the controller remembers a
finished job for ``MinJobAge``, 300 s by default), else the lines srun and slurmstepd
printed. Each reader returns a :class:`JobEnd` or ``None``; :func:`read` tries them in turn.
The parsers take the commands' text, so they are tested on output captured from a real
cluster.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

#: States in which the job has not ended yet (the controller is still cleaning up).
UNFINISHED = frozenset({"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED",
                        "RESIZING", "REQUEUED", "SIGNALING", "STAGE_OUT", "STOPPED"})
#: How long to wait for a job's final state after srun has returned.
SETTLE_SECONDS = 3.0
_TIMEOUT = 15  # seconds for one sacct/scontrol/squeue call


@dataclass(frozen=True)
class JobEnd:
    """What Slurm says about how the job ended (``None``: it does not say)."""

    job_id: str | None
    source: str  # "sacct", "scontrol" or "srun"
    state: str | None = None  # OUT_OF_MEMORY, TIMEOUT, CANCELLED, FAILED, COMPLETED, ...
    reason: str | None = None  # scontrol's Reason (e.g. TimeLimit, OutOfMemory)
    exit_code: int | None = None  # ExitCode N:S, the N
    signal: int | None = None  # ExitCode N:S, the S (0: none)
    mem: str | None = None  # the memory the job had, as Slurm writes it (100M)
    time_limit: str | None = None
    elapsed: str | None = None
    max_rss: str | None = None  # sacct's MaxRSS of the step that used most
    memory_exceeded: tuple[int, int] | None = None  # (used, limit) bytes, from slurmstepd
    oom: bool = False  # srun/slurmstepd reported an OOM kill or an exceeded memory limit
    time_out: bool = False  # srun/slurmstepd reported the time limit
    cancelled: bool = False  # srun/slurmstepd reported a cancellation


def _run(argv: Sequence[str], environ: Mapping[str, str] | None = None
         ) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(list(argv), capture_output=True, text=True, errors="replace",
                              timeout=_TIMEOUT, env=None if environ is None else dict(environ),
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None


# --- which job ------------------------------------------------------------------------------

def find_job(token: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The id of this user's job whose comment is ``token`` (still known to the controller)."""
    done = _run(["squeue", "--me", "--states=all", "--noheader", "--format=%i|%k"], environ)
    if done is None or done.returncode:
        return None
    return parse_squeue(done.stdout, token)


def parse_squeue(text: str, token: str) -> str | None:
    for line in text.splitlines():
        job, _, comment = line.strip().partition("|")
        if comment == token and job.isdigit():
            return job
    return None


# --- sacct ----------------------------------------------------------------------------------

SACCT_FIELDS = ("JobID", "State", "ExitCode", "ReqMem", "MaxRSS", "Timelimit", "Elapsed")


def from_sacct(job_id: str, environ: Mapping[str, str] | None = None) -> JobEnd | None:
    """The job's end from accounting, or ``None`` where the site keeps none."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        done = _run(["sacct", "-j", job_id, "--noheader", "--parsable2",
                     "--format=" + ",".join(SACCT_FIELDS)], environ)
        if done is None or done.returncode or "accounting storage is disabled" in done.stderr:
            return None
        end = parse_sacct(done.stdout, job_id)
        if end is None:
            return None
        complete = end.state not in UNFINISHED and "?" not in done.stdout.split("\n")[0]
        if complete:
            return end
        if time.monotonic() > deadline:
            # not ended as far as accounting knows: it says nothing yet; ended, but the
            # record still incomplete (ReqMem "16?"): its state and exit code hold
            return None if end.state in UNFINISHED else end
        time.sleep(0.2)


def parse_sacct(text: str, job_id: str) -> JobEnd | None:
    """``sacct --parsable2`` rows of a job and its steps -> the job's end.

    The job's own row gives the state; a step that ran out of memory or was cancelled (the
    job row may then say FAILED) wins; MaxRSS is the largest of the steps'.
    """
    rows = []
    for line in text.splitlines():
        cells = line.split("|")
        if len(cells) < len(SACCT_FIELDS):
            continue
        row = dict(zip(SACCT_FIELDS, cells))
        if row["JobID"] == job_id or row["JobID"].startswith(job_id + "."):
            rows.append(row)
    if not rows:
        return None
    job = next((r for r in rows if r["JobID"] == job_id), rows[0])
    state = _state(job["State"])
    for row in rows:
        if _state(row["State"]) in ("OUT_OF_MEMORY", "TIMEOUT") and state != "TIMEOUT":
            state = _state(row["State"])
    exit_code, signal = _exit_code(job["ExitCode"])
    rss = [_bytes(r["MaxRSS"]) for r in rows]
    largest = max((r for r in rss if r), default=None)  # 0: not sampled (a short step)
    return JobEnd(job_id, "sacct", state, None, exit_code, signal, _size_text(job["ReqMem"]),
                  job["Timelimit"] or None, job["Elapsed"] or None,
                  _slurm_size(largest) if largest else None)


def _size_text(text: str) -> str | None:
    """A memory size as Slurm writes it (``100M``), or None for anything else (sacct shows
    ``16?`` for a job whose record is not complete yet)."""
    return text if re.fullmatch(r"[0-9]+(?:\.[0-9]+)?[KMGTP]?", text or "") else None


def _state(text: str) -> str:
    # "CANCELLED by 1001" -> CANCELLED
    return text.split()[0] if text.strip() else ""


def _exit_code(text: str) -> tuple[int | None, int | None]:
    match = re.fullmatch(r"\s*(\d+):(\d+)\s*", text or "")
    return (int(match.group(1)), int(match.group(2))) if match else (None, None)


_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40, "P": 2**50}


def _bytes(text: str) -> int | None:
    match = re.fullmatch(r"\s*([0-9.]+)([KMGTP]?)\s*", text or "")
    if not match:
        return None
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def _slurm_size(size: int) -> str:
    for suffix in ("T", "G", "M", "K"):
        if size >= _UNITS[suffix]:
            return f"{size / _UNITS[suffix]:.1f}".rstrip("0").rstrip(".") + suffix
    return str(size)


# --- scontrol -------------------------------------------------------------------------------

def from_scontrol(job_id: str, environ: Mapping[str, str] | None = None) -> JobEnd | None:
    """The job's end as the controller remembers it (for ``MinJobAge`` after it ended)."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        done = _run(["scontrol", "--oneliner", "show", "job", job_id], environ)
        if done is None or done.returncode:
            return None
        end = parse_scontrol(done.stdout, job_id)
        if end is None or end.state not in UNFINISHED:
            return end
        if time.monotonic() > deadline:
            return end if end.state == "COMPLETING" else None  # COMPLETING has a Reason
        time.sleep(0.2)


_FIELD = re.compile(r"(?:^|\s)([A-Za-z/:]+)=(\S*)")


def parse_scontrol(text: str, job_id: str) -> JobEnd | None:
    """``scontrol --oneliner show job`` -> the job's end (values with spaces are not read)."""
    for line in text.splitlines():
        fields = dict(_FIELD.findall(line))
        if fields.get("JobId") != job_id:
            continue
        exit_code, signal = _exit_code(fields.get("ExitCode", ""))
        tres = dict(item.split("=", 1) for item in fields.get("TRES", "").split(",")
                    if "=" in item)
        mem = tres.get("mem") or fields.get("MinMemoryNode") or fields.get("MinMemoryCPU")
        return JobEnd(job_id, "scontrol", fields.get("JobState") or None,
                      fields.get("Reason") or None, exit_code, signal, _size_text(mem or ""),
                      fields.get("TimeLimit") or None, fields.get("RunTime") or None)
    return None


# --- srun's own lines -----------------------------------------------------------------------

_EXCEEDED = re.compile(r"exceeded (?:job )?memory limit \((\d+) > (\d+)\)")
_OOM = re.compile(r"Out Of Memory|oom-kill event|Exceeded job memory limit|"
                  r"exceeded memory limit", re.IGNORECASE)
_JOB_ID = re.compile(r"\b(?:StepId=|JobId=|STEP |JOB |job )(\d+)")


def from_srun(said: Sequence[str], job_id: str | None = None) -> JobEnd:
    """What srun's and slurmstepd's lines say (always an answer, possibly an empty one)."""
    text = "\n".join(said)
    exceeded = _EXCEEDED.search(text)
    if job_id is None:
        found = _JOB_ID.search(text)
        job_id = found.group(1) if found else None
    return JobEnd(
        job_id, "srun",
        memory_exceeded=(int(exceeded.group(1)), int(exceeded.group(2))) if exceeded else None,
        oom=bool(_OOM.search(text)),
        time_out="DUE TO TIME LIMIT" in text,
        cancelled=bool(re.search(r"\bCANCELLED\b", text)) and "DUE TO TIME LIMIT" not in text,
    )


def read(job_id: str | None, said: Sequence[str],
         environ: Mapping[str, str] | None = None, *, own_job: bool = True) -> JobEnd:
    """The best account of the job's end: accounting, else the controller, plus srun's lines.

    ``own_job`` false: srun ran a step inside an allocation that goes on (``salloc``, a batch
    script), whose state says nothing about the step; only srun's lines are read.
    """
    printed = from_srun(said, job_id)
    job_id = printed.job_id
    end = None
    if job_id is not None and own_job:
        end = from_sacct(job_id, environ) or from_scontrol(job_id, environ)
    if end is None:
        return printed
    return replace(end, memory_exceeded=printed.memory_exceeded, oom=printed.oom,
                   time_out=printed.time_out, cancelled=printed.cancelled)
