"""Observe a Jupyter kernel until it ends, then record its session and remove its cgroup.

The kernel launcher execs the kernel and keeps its pid, so nothing of conda-limits is the
kernel's parent. Instead, :func:`start` (called by the launcher just before its ``exec``)
leaves a small detached process running :func:`main`: a fresh interpreter (not a copy of the
launcher's memory, and started without ``site``) in a session of its own, so Jupyter's signals
to the kernel's process group never reach it. It holds a pidfd of the kernel (from Linux 5.3;
else it polls ``/proc``), looks at the kernel's process tree every :data:`INTERVAL` seconds
(:class:`.sample.Peaks`: high-water marks of memory, open files, processes; CPU time from
``/proc/PID/stat``), and when the kernel ends reads its exit status and CPU time from the
zombie if it is quicker than Jupyter reaping it (else the status is unknown and the CPU time
is the last look's). Then it reads the ``--mem`` cgroup's figures and removes the cgroup (it
kills what the kernel left in it first), appends one entry and exits. Only stderr is kept
open, for the one line that says the session could not be recorded. The launcher forks it
before it joins the cgroup and sets the limits, so the watcher is under neither.

Under ``--mem`` it also enforces the cap for the whole kernel: with a cgroup, it looks at
the cgroup's OOM count as the kernel runs and, after an OOM kill of any of its processes,
kills the rest (the kernel included: Jupyter then says the kernel died, and restarts it);
without one (the ``watch`` backend, :mod:`conda_limits.system.memory_watch`), it adds up the
memory of the kernel's processes (its descendants and its session's) and stops them past
the cap. Either way the session is recorded as stopped by ``mem``.

While it watches, the process has imported only what watching needs (about 9-10 MiB
resident, most of it the interpreter's own; the cgroup code too under a ``--mem`` cgroup):
the log and the entry are imported once the kernel has ended.
"""

from __future__ import annotations

import os
import select
import sys
import time
from collections.abc import Callable, Mapping, Sequence

from ..system.sample import Peaks, proc_stat

TYPE_CHECKING = False  # typing itself is not imported: the watcher stays small
if TYPE_CHECKING:
    from pathlib import Path

    from ..system.memory_cap import MemoryCap
    from ..system.memory_watch import MemoryWatch
    from ..usage.entry import MemUse, Run

#: Seconds between two looks at the kernel (the first look is one interval after start,
#: when the launcher has become the kernel).
INTERVAL = 1.0


class Session:
    """What was seen of a kernel from its start to its end."""

    def __init__(self) -> None:
        self.peaks = Peaks()
        self.cpu: float | None = None
        self.exit_status: int | None = None  # a wait status; None when Jupyter reaped it
        self.ended = 0.0


def observe(pid: int, starttime: int, *, pidfd: int | None = None,
            interval: float = INTERVAL, looked: Callable[[], None] | None = None,
            memory: MemoryCap | MemoryWatch | None = None) -> Session:
    """Look at ``pid`` every ``interval`` seconds until it ends, and let ``memory`` look
    whenever it asks to (its cgroup's OOM count, or the watched tree's memory)."""
    session = Session()
    next_look = time.monotonic() + interval
    while True:
        wait = next_look - time.monotonic()
        if memory is not None:
            wait = min(wait, memory.interval())
        if _ended(pid, starttime, pidfd, max(0.0, wait)):
            break
        if memory is not None:
            memory.look()
        if time.monotonic() < next_look:
            continue
        next_look = time.monotonic() + interval
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
    if mem is not None and mem.oom_kills and signal in ("SIGKILL", "SIGTERM", None):
        return "mem"
    return {"SIGXCPU": "cpu", "SIGXFSZ": "fsize"}.get(signal or "")


def to_run(session: Session, *, started: float, limits: Mapping[str, int],
           command: str = "ipykernel", mem: MemUse | None = None) -> Run:
    from ..system.signals import signal_name
    from ..usage.entry import Run, command_name

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
          memory: MemoryCap | MemoryWatch | None = None, command: str = "ipykernel",
          extra: Sequence[str] = (), cgroups: Sequence[Path] = ()) -> None:
    """Leave a detached watcher of this process (about to exec the kernel); return at once.

    ``record``: add the session to the usage log; ``memory``: the ``--mem`` cap to enforce
    for the whole kernel and whose cgroup (if any) to remove after it;
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
    import json

    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    argv = [sys.executable, "-S", "-c", _MAIN, package_root, "--pid", str(pid), "--starttime",
            str(seen.starttime), "--prefix", str(prefix), "--started", f"{time.time():.3f}",
            "--limits", json.dumps(dict(limits)), "--command", command, *extra]
    if not record:
        argv.append("--no-record")
    if memory is not None:
        argv += ["--mem-backend", memory.backend, "--mem-limit", str(memory.limit)]
        if memory.directory is not None:
            argv += ["--mem-dir", str(memory.directory)]
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


#: What the watcher's interpreter runs: this module's main, found where this copy of
#: conda-limits is (``-S`` skips site and its .pth files; the path is given instead).
_MAIN = ("import sys; sys.path.insert(0, sys.argv.pop(1)); "
         "from conda_limits.jupyter.watch import main; sys.exit(main())")
_VALUED = {"--pid", "--starttime", "--pidfd", "--prefix", "--started", "--limits",
           "--command", "--interval", "--mem-backend", "--mem-limit", "--mem-dir"}


def _parse_args(argv: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """``--name value`` pairs and ``--no-record``, and the directories of the
    ``--remove-cgroup DIR`` given (written by :func:`start` only)."""
    args: dict[str, str] = {}
    removed: list[str] = []
    rest = list(argv)
    while rest:
        name = rest.pop(0)
        if name == "--no-record":
            args[name] = ""
        elif name == "--remove-cgroup" and rest:
            removed.append(rest.pop(0))
        elif name in _VALUED and rest:
            args[name] = rest.pop(0)
        else:
            raise SystemExit(f"conda-limits kernel watcher: unexpected argument {name!r}")
    return args, removed


def main(argv: Sequence[str] | None = None) -> int:
    args, removed = _parse_args(sys.argv[1:] if argv is None else argv)
    pidfd = int(args["--pidfd"]) if "--pidfd" in args else None
    memory = _memory(args)
    session = observe(int(args["--pid"]), int(args["--starttime"]), pidfd=pidfd,
                      interval=float(args.get("--interval", INTERVAL)), memory=memory)
    return finish(session, args, removed, memory)


def _memory(args: Mapping[str, str]) -> MemoryCap | MemoryWatch | None:
    """The kernel's ``--mem`` cap: its cgroup (made by the launcher), or a watch of it."""
    if "--mem-limit" not in args:
        return None
    limit = int(args["--mem-limit"])
    if args.get("--mem-dir"):
        from pathlib import Path

        from ..system import memory_cap

        return memory_cap.adopt(args["--mem-backend"], limit, Path(args["--mem-dir"]))
    from ..system.memory_watch import MemoryWatch

    watch = MemoryWatch(limit)
    watch.follow(int(args["--pid"]), session=True)
    return watch


def finish(session: Session, args: Mapping[str, str], removed: Sequence[str] = (),
           memory: MemoryCap | MemoryWatch | None = None) -> int:
    """After the kernel: the ``--mem`` cap's figures, the removal of what the kernel left
    and of the cgroups (``removed``: a ``cores`` quota's), the entry (imports from here)."""
    import json
    from pathlib import Path

    from ..usage import log
    from ..usage.measure import mem_use

    stats = None
    if memory is not None:
        stats = memory.stats()
        memory.close()
    if removed:
        from ..system import cgroups

        for directory in removed:
            cgroups.kill_all(Path(directory))
            cgroups.remove(Path(directory))
    if "--no-record" in args:
        return 0
    run = to_run(session, started=float(args["--started"]), limits=json.loads(args["--limits"]),
                 command=args.get("--command", "ipykernel"), mem=mem_use(stats))
    try:
        log.append(args["--prefix"], run)
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
