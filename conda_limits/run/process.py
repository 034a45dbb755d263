"""Start one command under a plan of limits and supervise it until it ends (Linux).

How the command starts: this process spawns the launcher (:mod:`conda_limits.run.launcher`)
with ``posix_spawn`` (so the caller's large process is never copied; util-linux ``setpriv``
first gives it PR_SET_PDEATHSIG, so that it dies with this process), which waits at a gate.
Meanwhile :func:`run_command` moves it into the ``--mem`` cgroup, sets its limits with
prlimit(2) and reads them back; then it opens the gate, and the launcher sources the
activation scripts, checks the command, and stops itself (SIGSTOP): the limits it could not
live with itself (a small nofile) are set then, it is continued and execs the command, which
inherits all of it. stdin, stdout and stderr are the caller's, open or closed.

While the command runs, every signal sent to this process that would end it (SIGINT,
SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGALRM, the real-time signals, ...: :data:`FORWARDED`)
is passed on to it; the ones a terminal sends to its whole foreground group (Ctrl-C)
reach the command directly and are not sent twice. The exit status is the command's, or
128+N when signal N killed it; the :class:`Outcome` also holds what it used (from wait4 and
/proc) and the limits it ran under.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import time
from collections.abc import Collection, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, NamedTuple

from ..errors import Kind, LimitsError
from ..limits import resources
from ..limits.values import UNLIMITED, Value, human
from ..system import rlimits
from ..system.sample import Peaks, status_figures
from . import launcher
from .activation import Activation
from .plan import LimitPlan

if TYPE_CHECKING:
    import resource
    from types import FrameType

    from ..system.memory_cap import MemoryCap
    from ..system.memory_stats import MemoryStats
    from ..system.memory_watch import MemoryWatch
    from .cpu import CpuReport, CpuRun

#: Signals never passed on: those that do not end a process by default (or stop it), those
#: that cannot be caught, faults the kernel raises in the process that caused them, and the
#: ones about this process's own writes and CPU time (SIGPIPE, SIGXFSZ, SIGXCPU).
NOT_FORWARDED = frozenset({
    signal.SIGCHLD, signal.SIGCONT, signal.SIGURG, signal.SIGWINCH, signal.SIGKILL,
    signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU, signal.SIGSEGV,
    signal.SIGBUS, signal.SIGFPE, signal.SIGILL, signal.SIGTRAP, signal.SIGSYS, signal.SIGPIPE,
    signal.SIGXFSZ, signal.SIGXCPU})
#: Every other signal, real-time ones included: each would end this process (SIGALRM,
#: SIGPROF, SIGPWR, SIGIO, ... as much as SIGTERM), leaving the command to die by the
#: parent-death signal without seeing it, so each is passed on to the command instead.
FORWARDED = tuple(sorted(s for s in signal.valid_signals() if s not in NOT_FORWARDED))
_HELD = {signal.SIGCHLD, *FORWARDED}
_SI_KERNEL = 0x80  # si_code of a signal the kernel sent, e.g. the terminal's Ctrl-C
#: Seconds between looks at the command's memory, when a vmem/data limit needs watching.
SAMPLE_INTERVAL = 0.02
REPORT_INTERVAL = 0.1
POLL_INTERVAL = 0.05


class RunnerError(LimitsError, RuntimeError):
    """The command could not be started; it did not run."""

    kind = Kind.RUN
    heading = "Cannot start the command"


class Outcome(NamedTuple):
    """How the command ended, what it used, and the limits it ran under."""

    status: int  # as a shell reports it: the exit code, or 128+N for signal N
    signal: int | None  # the signal that killed the command
    wall: float  # seconds
    user: float  # CPU seconds of the command and the children it waited for
    system: float
    peak_rss: int | None  # bytes: the largest process's peak, None when not measurable
    rss_floor: int  # peaks up to this are indistinguishable from this process's own size
    sampled: Mapping[str, int]  # highest VmPeak/VmHWM/VmData seen in one process of the command
    written: int | None  # bytes written (all writes) by the command and its waited-for children
    limits: Mapping[str, tuple[Value, Value]]  # (soft, hard) in force on the command
    sources: Mapping[str, str]  # "flag" / "environment" / "inherited", per resource
    memory: MemoryStats | None = None  # the --mem backend's view (a cgroup's, or the watch's)
    peaks: Mapping[str, int] = MappingProxyType({})  # system.sample.Peaks of the tree
    cpu: CpuReport | None = None  # the CPU settings in force (threads, cpuset, cores)
    started: bool = True  # the launcher got as far as exec'ing the command
    free_fd: int = 3  # the lowest descriptor the command had free (nofile must be above it)


def _status(wait_status: int) -> tuple[int, int | None]:
    code = os.waitstatus_to_exitcode(wait_status)
    return (128 - code, -code) if code < 0 else (code, None)


def _written(pid: int) -> int | None:
    """``wchar`` of an exited, not yet reaped process (includes its reaped children)."""
    try:
        with open(f"/proc/{pid}/io", "rb") as handle:
            for line in handle:
                if line.startswith(b"wchar:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


class _Signals:
    """Hold the signals to forward (and SIGCHLD) for :func:`sigwaitinfo` while a child runs."""

    def __init__(self) -> None:
        self.pid: int | None = None
        self.handlers: dict[int, object] = {}

    def __enter__(self) -> _Signals:
        self.mask = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
        try:
            # Other threads do not block these: a handler there passes them on.
            for signum in FORWARDED:
                if signal.getsignal(signum) is not signal.SIG_IGN:
                    self.handlers[signum] = signal.signal(signum, self.forward)
            self.handlers[signal.SIGCHLD] = signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        except ValueError:  # not the main thread: only this thread's mask applies
            pass
        return self

    def forward(self, signum: int, frame: FrameType | None) -> None:
        if self.pid is not None:
            try:
                os.kill(self.pid, signum)
            except ProcessLookupError:
                pass

    def wait(self, timeout: float | None) -> signal.struct_siginfo | None:
        if timeout is None:
            return signal.sigwaitinfo(_HELD)
        return signal.sigtimedwait(_HELD, timeout)

    def __exit__(self, *exc: object) -> None:
        while signal.sigtimedwait(_HELD, 0) is not None:
            pass  # drop what arrived for the child after it ended
        for signum, handler in self.handlers.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        signal.pthread_sigmask(signal.SIG_SETMASK, self.mask)


def _other_threads() -> bool:
    """Whether another thread may take SIGCHLD: Python's, or one a C library started
    (OpenBLAS does when numpy is imported), which ``threading`` does not list."""
    import threading

    try:
        native = len(os.listdir("/proc/self/task")) > 1
    except OSError:  # no /proc: Python's threads alone
        native = False
    return (native or threading.active_count() > 1
            or threading.current_thread() is not threading.main_thread())


def _own_peak_rss() -> int:
    return status_figures(os.getpid()).get("rss", 0)


def _late(plan: LimitPlan) -> set[str]:
    """The limits of ``plan`` the launcher itself could not live with: a nofile limit below
    :data:`launcher.SHELL_FDS` is set just before the launcher execs the command, after the
    activation scripts (which open files of their own); a larger one is in force for the
    scripts too."""
    nofile = plan["nofile"]
    small = any(value != UNLIMITED and int(value) < launcher.SHELL_FDS
                for value in (nofile.soft, nofile.hard))
    return {"nofile"} if small and nofile.source != "inherited" else set()


def _apply(pid: int, plan: LimitPlan, keys: Collection[str]) -> dict[str, tuple[Value, Value]]:
    """Set the plan's limits of ``keys`` on ``pid``; return the limits it has afterwards."""
    in_force, failed = rlimits.apply([w for w in plan.wanted() if w[0] in keys], pid)
    if failed:
        first = failed[0]
        raise RunnerError(f"cannot set the {first.key} limit of the command to "
                          f"{human(resources.get(first.key), first.soft)}: {first.reason}")
    return in_force


def high_pipe() -> tuple[int, int]:
    """A pipe whose descriptors are above 9 (so that 3-9 stay free for the launcher)."""
    import fcntl

    ends = []
    for fd in os.pipe():
        ends.append(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10))
        os.close(fd)
    return ends[0], ends[1]


def free_descriptors() -> tuple[int, int]:
    """Two descriptor numbers in 3-9 that the command would not inherit anyway."""
    free = []
    for fd in range(3, 10):
        try:
            if os.get_inheritable(fd):
                continue  # one the caller passes down to the command: left alone
        except OSError:
            pass  # not open
        free.append(fd)
        if len(free) == 2:
            return free[0], free[1]
    raise RunnerError("descriptors 3 to 9 are all taken; the launcher needs two of them")


def open_gate() -> tuple[int, int]:
    """Descriptors for a launcher that need not wait: its gate already open, and a sink for
    its 'ready' line (the kernel launcher and Slurm's node side exec the launcher themselves)."""
    import fcntl

    read_end, write_end = high_pipe()  # above 9: never one of the numbers chosen
    os.write(write_end, b"go\n")
    os.close(write_end)
    sink = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
    sink_high = fcntl.fcntl(sink, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(sink)
    gate_fd, ready_fd = free_descriptors()
    os.dup2(read_end, gate_fd)
    os.dup2(sink_high, ready_fd)
    os.close(read_end)
    os.close(sink_high)
    return gate_fd, ready_fd


def run_command(command: Sequence[str], activation: Activation, plan: LimitPlan, *,
                memory: MemoryCap | MemoryWatch | None = None, sample: bool = False,
                cpu: CpuRun | None = None) -> Outcome:
    """Run ``command`` under ``plan`` (and under ``memory``'s cap: in its cgroup, or watched;
    under ``cpu``'s CPU set and quota) and wait for it.

    ``activation`` gives the environment and the scripts to source first (conda-limits' own
    scripts already removed, see :func:`activation.without_own_scripts`). ``sample``
    watches the command's process tree (for a report or the usage log) even without vmem/data
    limits.
    The memory cap and the CPU quota are closed (cgroups removed) before this returns.
    Raises :class:`RunnerError` when the command could not be started.
    """
    import resource as _resource

    if not hasattr(_resource, "prlimit"):
        raise RunnerError("running a command under limits needs Linux (prlimit)")
    watch = any(plan[key].soft != UNLIMITED for key in ("vmem", "data"))
    interval = SAMPLE_INTERVAL if watch else REPORT_INTERVAL if sample else None
    if _other_threads():
        # Another thread may take (and drop) SIGCHLD: look at the child regularly too.
        interval = min(interval or POLL_INTERVAL, POLL_INTERVAL)
    late = _late(plan)
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:  # None: the descriptor was closed when Python started
                stream.flush()
        with _Signals() as signals:
            started = time.monotonic()
            pid, in_force, floor = _start(command, activation, plan, memory, late, cpu)
            signals.pid = pid
            ended = _wait(pid, signals, interval, plan, late, memory)
            wall = time.monotonic() - started
            signals.pid = None
        cpu_report = cpu.report() if cpu else None  # before a shared cgroup goes
        stats = memory.stats() if memory else None
    finally:
        if cpu:
            cpu.close()
        if memory:
            memory.close()
    status, killed_by = _status(ended.wait_status)
    usage = ended.usage
    maxrss = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    return Outcome(
        status=status, signal=killed_by, wall=wall, user=usage.ru_utime,
        system=usage.ru_stime, peak_rss=maxrss if maxrss > floor else None, rss_floor=floor,
        sampled=ended.peaks.status_names(), written=ended.written,
        limits={**in_force, **ended.late}, sources={s.key: s.source for s in plan.settings},
        memory=stats, peaks=ended.peaks.seen, cpu=cpu_report, started=ended.started,
        free_fd=_free_fd(),
    )


def _free_fd() -> int:
    """The lowest descriptor the command has free: every one below it is passed down to it."""
    fd = 0
    while True:
        try:
            if not os.get_inheritable(fd):
                return fd
        except OSError:
            return fd  # not open
        fd += 1


def _start(command: Sequence[str], activation: Activation, plan: LimitPlan,
           memory: MemoryCap | MemoryWatch | None,
           late: set[str],
           cpu: CpuRun | None = None) -> tuple[int, dict[str, tuple[Value, Value]], int]:
    """Spawn the launcher, put it in the cgroup and under the limits, let it go on.

    Returns its pid, the limits in force on it (but the ``late`` ones, set by :func:`_wait`),
    and this process's peak RSS at that point (which the launcher's own peak includes: see
    :attr:`Outcome.rss_floor`).
    """
    gate_read, gate_write = high_pipe()
    ready_read, ready_write = high_pipe()
    try:
        # The launcher gets them as low descriptors: dash redirects only 0-9.
        gate_fd, ready_fd = free_descriptors()
        launch = launcher.launch(activation, command, gate_fd, ready_fd, stop=True)
        argv = cpu.wrap(launch.argv) if cpu else launch.argv
        argv = memory.wrap(argv) if memory else argv
        pid = _spawn(_dies_with_us(argv), launch.environ,
                     [(gate_read, gate_fd), (ready_write, ready_fd)], os.path.basename(argv[0]))
        os.close(ready_write)
        ready_write = -1
        # Until the launcher runs, its exec may still reset the stack limit set now.
        ready = os.read(ready_read, 1)
        floor = _own_peak_rss()
        try:
            if not ready:
                code = _status(os.waitpid(pid, 0)[1])[0]
                raise RunnerError(f"{os.path.basename(argv[0])} ended before it could "
                                  f"start the command (exit status {code})")
            if memory:
                memory.attach(pid)
            if cpu:
                cpu.attach(pid)
            in_force = _apply(pid, plan, [s.key for s in plan.settings if s.key not in late])
        except BaseException:
            _kill(pid)
            raise
        try:
            os.write(gate_write, b"go\n")
        except OSError:
            pass  # the launcher is gone already; its status says how
        return pid, in_force, floor
    finally:
        for fd in (gate_read, gate_write, ready_read, ready_write):
            if fd >= 0:
                os.close(fd)


def _dies_with_us(argv: list[str]) -> list[str]:
    """``argv`` started so that it gets SIGKILL when this process dies, SIGKILL included (a
    supervisor that is gone leaves no command behind, nor a --mem cgroup in use).

    PR_SET_PDEATHSIG must be set by the child, between fork and exec: posix_spawn cannot, so
    util-linux ``setpriv --pdeathsig KILL`` does it, then execs the launcher. The signal
    stays through the launcher's exec of the command (not through a setuid one). A death of
    this process before setpriv set it is caught by the launcher's gate: the launcher reads
    end-of-file instead of the go-ahead and exits without running the command. Without a
    setpriv that knows --pdeathsig (util-linux before 2.33), the command outlives a killed
    supervisor, as under ``conda run``.
    """
    setpriv = _setpriv()
    return [setpriv, "--pdeathsig", "KILL", "--", *argv] if setpriv else argv


@functools.cache
def _setpriv() -> str | None:
    """util-linux ``setpriv`` if it has ``--pdeathsig``, found once per process."""
    from shutil import which

    found = which("setpriv", path=os.pathsep.join(
        [os.environ.get("PATH", ""), "/usr/bin", "/bin", "/usr/sbin", "/sbin"]))
    try:  # its option table names the option: no need to run it to know
        with open(found or "", "rb") as handle:
            return found if b"pdeathsig" in handle.read(4 << 20) else None
    except OSError:
        return None


def _spawn(argv: list[str], environ: Mapping[str, str],
           descriptors: Sequence[tuple[int, int]], name: str) -> int:
    """Start ``argv`` (without copying this process: posix_spawn) with ``descriptors``
    ``(ours, theirs)`` passed down; raises :class:`RunnerError` saying why ``name`` cannot
    start."""
    try:
        return os.posix_spawn(argv[0], argv, environ,
                              file_actions=[(os.POSIX_SPAWN_DUP2, ours, theirs)
                                            for ours, theirs in descriptors],
                              setsigmask=(), setsigdef=(signal.SIGPIPE, signal.SIGXFSZ))
    except OSError as error:
        raise RunnerError(_spawn_error(name, argv, environ, error)) from None


def _spawn_error(name: str, argv: Sequence[str], environ: Mapping[str, str],
                 error: OSError) -> str:
    """One line saying why ``name`` (started as ``argv``) could not start."""
    import errno

    if error.errno != errno.E2BIG:
        return f"cannot start {name}: {error.strerror or error}"
    texts = [os.fsencode(a) for a in argv]
    texts += [os.fsencode(k) + b"=" + os.fsencode(v) for k, v in environ.items()]
    size = sum(len(t) + 1 for t in texts)
    return (f"the system refused to start {name} (Argument list too long): its arguments and "
            f"environment, with the activation's variables, take {size // 1024} KiB (the "
            f"longest one {max(map(len, texts)) // 1024} KiB); the system takes at most "
            f"{os.sysconf('SC_ARG_MAX') // 1024} KiB in all and 128 KiB for one")


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


class _Ended(NamedTuple):
    wait_status: int
    usage: resource.struct_rusage
    peaks: Peaks
    written: int | None
    late: dict[str, tuple[Value, Value]]  # the late limits in force on the command
    started: bool  # the launcher reached the command's exec


def _wait(pid: int, signals: _Signals, interval: float | None, plan: LimitPlan,
          late: set[str], memory: MemoryCap | MemoryWatch | None = None) -> _Ended:
    """Wait for ``pid`` to end, passing signals on and sampling its process tree meanwhile
    (every ``interval`` seconds, and at each signal), and letting ``memory`` look at the
    command when it asks to (a cgroup's OOM count, or the watched tree's memory).

    The launcher stops itself (SIGSTOP) just before it execs the command: the ``late`` limits
    are set then, and it is continued. Whether it got there tells a command that failed from
    a launcher (or an activation script) that did.
    """
    peaks = Peaks()
    in_force: dict[str, tuple[Value, Value]] = {}
    waiting = True  # for the launcher's stop
    now = time.monotonic()
    next_look = now + interval if interval is not None else None
    next_memory = now if memory is not None else None
    while True:
        due = [t for t in (next_look, next_memory) if t is not None]
        info = signals.wait(max(0.0, min(due) - time.monotonic()) if due else None)
        now = time.monotonic()
        if memory is not None and next_memory is not None and now >= next_memory:
            memory.look()
            next_memory = now + memory.interval()
            if info is None and (next_look is None or now < next_look):
                continue  # woken for the memory alone
        if info is not None and info.si_signo != signal.SIGCHLD:
            if info.si_code != _SI_KERNEL:  # the terminal's signals reach it directly
                signals.forward(info.si_signo, None)
            continue
        state = os.waitid(os.P_PID, pid,
                          os.WEXITED | os.WSTOPPED | os.WNOHANG | os.WNOWAIT)
        if state is not None and state.si_code == os.CLD_STOPPED:
            os.waitid(os.P_PID, pid, os.WSTOPPED | os.WNOHANG)  # taken: not reported again
            if waiting and state.si_status == signal.SIGSTOP:
                waiting = False
                try:
                    in_force = _apply(pid, plan, late)
                except BaseException:
                    _kill(pid)
                    raise
                os.kill(pid, signal.SIGCONT)
        elif state is not None:
            break
        peaks.look(pid)
        if interval is not None:
            next_look = time.monotonic() + interval
    written = _written(pid)  # before reaping: afterwards /proc/<pid> is gone
    _, wait_status, usage = os.wait4(pid, 0)
    return _Ended(wait_status, usage, peaks, written, in_force, not waiting)
