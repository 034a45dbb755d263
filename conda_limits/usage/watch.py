"""Observe a Jupyter kernel until it ends, then record its session and remove its cgroup.

The kernel launcher execs the kernel and keeps its pid, so nothing of conda-limits is the
kernel's parent. Instead, :func:`start` (called by the launcher just before its ``exec``)
leaves a small detached process, ``python -m conda_limits.usage.watch``: a fresh interpreter
(not a copy of the launcher's memory) in a session of its own, so Jupyter's signals to the
kernel's process group never reach it. It holds a pidfd of the kernel (from Linux 5.3; else it
polls ``/proc``), looks at the kernel's process tree every :data:`INTERVAL` seconds
(:class:`.sample.Peaks`: high-water marks of memory, open files, processes; CPU time from
``/proc/PID/stat``), and when the kernel ends reads its exit status and CPU time from the
zombie if it is quicker than Jupyter reaping it (else the status is unknown and the CPU time
is the last look's). Then it reads the ``--mem`` cgroup's figures and removes the cgroup (it
kills what the kernel left in it first), appends one entry and exits. Only stderr is kept
open, for the one line that says the session could not be recorded. The launcher forks it
before it joins the cgroup and sets the limits, so the watcher is under neither.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .entry import MemUse, Run, command_name
from .measure import mem_use, signal_name
from .sample import Peaks

if TYPE_CHECKING:
    from ..run.cgroups import MemoryCap

#: Seconds between two looks at the kernel (the first look is one interval after start,
#: when the launcher has become the kernel).
INTERVAL = 1.0
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class ProcStat:
    """What ``/proc/PID/stat`` says (also of a zombie, until it is reaped)."""

    state: str
    cpu: float  # seconds: the process's own, and its waited-for children's
    starttime: int  # clock ticks after boot: tells a reused pid apart
    exit_status: int | None  # a wait status, for a zombie


def proc_stat(pid: int) -> ProcStat | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            text = handle.read()
    except OSError:
        return None
    fields = text.rpartition(b")")[2].split()
    try:
        cpu = sum(int(fields[i]) for i in (11, 12, 13, 14)) / _TICK
        state = fields[0].decode()
        exit_status = int(fields[49]) if state in ("Z", "X") and len(fields) > 49 else None
        return ProcStat(state, cpu, int(fields[19]), exit_status)
    except (IndexError, ValueError):
        return None


@dataclass
class Session:
    """What was seen of a kernel from its start to its end."""

    peaks: Peaks = field(default_factory=Peaks)
    cpu: float | None = None
    exit_status: int | None = None  # a wait status; None when Jupyter reaped it first
    ended: float = 0.0


def observe(pid: int, starttime: int, *, pidfd: int | None = None,
            interval: float = INTERVAL, looked: Callable[[], None] | None = None) -> Session:
    """Look at ``pid`` every ``interval`` seconds until it ends."""
    session = Session()
    while True:
        if _ended(pid, starttime, pidfd, interval):
            break
        session.peaks.look(pid)
        seen = proc_stat(pid)
        if seen is not None and seen.starttime == starttime:
            session.cpu = seen.cpu
        if looked is not None:
            looked()
    last = proc_stat(pid)  # the zombie, if Jupyter has not reaped it yet
    session.ended = time.time()
    if last is not None and last.starttime == starttime and last.exit_status is not None:
        session.cpu = last.cpu
        session.exit_status = last.exit_status
    return session


def _ended(pid: int, starttime: int, pidfd: int | None, interval: float) -> bool:
    if pidfd is not None:
        return bool(select.select([pidfd], [], [], interval)[0])
    time.sleep(interval)
    seen = proc_stat(pid)
    return seen is None or seen.starttime != starttime or seen.state in ("Z", "X")


def stopped_by(status: int | None, signal: str | None, mem: MemUse | None) -> str | None:
    """The limit that ended a kernel, where the evidence names one."""
    if mem is not None and mem.oom_kills and signal in ("SIGKILL", None):
        return "mem"
    return {"SIGXCPU": "cpu", "SIGXFSZ": "fsize"}.get(signal or "")


def to_run(session: Session, *, started: float, limits: Mapping[str, int],
           command: str = "ipykernel", mem: MemUse | None = None) -> Run:
    status = sig = None
    if session.exit_status is not None:
        code = os.waitstatus_to_exitcode(session.exit_status)
        status, sig = (128 - code, signal_name(-code)) if code < 0 else (code, None)
    used: dict[str, float] = dict(session.peaks.seen)
    if session.cpu is not None:
        used["cpu"] = session.cpu
    return Run(at=started, via="kernel", command=command_name(command),
               wall=max(0.0, session.ended - started), status=status, signal=sig,
               stopped_by=stopped_by(status, sig, mem), used=used, limits=dict(limits), mem=mem)


def start(prefix: str, limits: Mapping[str, int], *, record: bool = True,
          memory: MemoryCap | None = None, command: str = "ipykernel",
          extra: Sequence[str] = (), cgroups: Sequence[Path] = ()) -> None:
    """Leave a detached watcher of this process (about to exec the kernel); return at once.

    ``record``: add the session to the usage log; ``memory``: the cgroup to remove after it;
    ``cgroups``: more cgroup directories to empty and remove then (a ``cores`` quota's).
    """
    pid = os.getpid()
    seen = proc_stat(pid)
    if seen is None:
        return
    try:
        pidfd: int | None = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    argv = [sys.executable, "-m", __name__, "--pid", str(pid), "--starttime",
            str(seen.starttime), "--prefix", str(prefix), "--started", f"{time.time():.3f}",
            "--limits", json.dumps(dict(limits)), "--command", command, *extra]
    if not record:
        argv.append("--no-record")
    if memory is not None and memory.directory is not None:
        argv += ["--mem-backend", memory.backend, "--mem-limit", str(memory.limit),
                 "--mem-dir", str(memory.directory)]
    for directory in cgroups:
        argv += ["--remove-cgroup", str(directory)]
    if pidfd is not None:
        argv += ["--pidfd", str(pidfd)]
    child = os.fork()
    if child:
        os.waitpid(child, 0)  # the intermediate process exits at once
        if pidfd is not None:
            os.close(pidfd)
        return
    try:
        os.setsid()
        if os.fork():
            os._exit(0)
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        keep = sorted({2, *([pidfd] if pidfd is not None else [])})
        _close_all_but(keep)
        if pidfd is not None:
            os.set_inheritable(pidfd, True)
        os.execv(sys.executable, argv)
    finally:
        os._exit(127)


def _close_all_but(keep: Sequence[int]) -> None:
    low = 3
    for fd in keep:
        if fd >= low:
            os.closerange(low, fd)
            low = fd + 1
    os.closerange(low, 1 << 16)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=f"python -m {__name__}")
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--starttime", type=int, required=True)
    parser.add_argument("--pidfd", type=int)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--started", type=float, required=True)
    parser.add_argument("--limits", default="{}")
    parser.add_argument("--command", default="ipykernel")
    parser.add_argument("--interval", type=float, default=INTERVAL)
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--mem-backend")
    parser.add_argument("--mem-limit", type=int)
    parser.add_argument("--mem-dir")
    parser.add_argument("--remove-cgroup", action="append", default=[])
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    from . import log

    args = _parse_args(argv)
    memory = None
    if args.mem_dir:
        from ..run import cgroups

        memory = cgroups.adopt(args.mem_backend, args.mem_limit, Path(args.mem_dir))
    session = observe(args.pid, args.starttime, pidfd=args.pidfd, interval=args.interval)
    stats = None
    if memory is not None:
        stats = memory.stats()
        memory.close()
    if args.remove_cgroup:
        from ..run import cgroups

        for directory in args.remove_cgroup:
            cgroups._empty(Path(directory))
            cgroups._rmdir(Path(directory))
    if args.no_record:
        return 0
    run = to_run(session, started=args.started, limits=json.loads(args.limits),
                 command=args.command, mem=mem_use(stats))
    try:
        log.append(args.prefix, run)
    except log.NotRecorded as error:
        _say(f"conda-limits kernel: the session's usage was not recorded: {error}")
    return 0


def _say(line: str) -> None:
    try:
        print(line, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
