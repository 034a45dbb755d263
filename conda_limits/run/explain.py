"""Say which limit stopped a command, and summarise its run for ``--report``.

Only what the outcome shows is claimed: a signal the kernel sends for a limit (SIGXCPU,
SIGXFSZ) names that limit; an OOM kill counted by the ``--mem`` cgroup, or a stop by the
``--mem`` watch, names ``--mem``. A
failure without such a signal is tied to a limit only with evidence and is worded as
likely: a failed exit with memory near a vmem/data limit, a SIGSEGV with a stack limit set by
conda-limits, a failed exit after writing at least the file size limit (CPython ignores
SIGXFSZ and fails with EFBIG instead).
"""

from __future__ import annotations

import shlex
import signal
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from ..limits import resources
from ..limits.resources import MEM
from ..limits.values import UNLIMITED, Value, approx, pretty
from ..system.signals import signal_name
from . import launcher

if TYPE_CHECKING:
    from ..system.memory_stats import MemoryStats
    from .process import Outcome

#: The name of the --mem backend that enforces the cap by watching.
WATCH = "watch"

#: How every line conda-limits adds to a command's stderr starts.
LINE_START = "conda-limits: "
#: A peak at or above this share of a limit counts as "close to the limit".
CLOSE = 0.9
#: Below these, not even a small program starts (measured on Debian 12, x86-64: dash needs
#: 3 MiB of address space, bash 4 MiB; 512 KiB of data segment; 16 KiB of stack): it fails
#: to load (exit status 127) or crashes (SIGSEGV) before it does anything.
START_NEEDS = {"vmem": 4 << 20, "data": 512 << 10, "stack": 16 << 10}
#: How a program ends when it could not load: the loader's exit status, or a crash.
_LOAD_FAILURES = (127, 128 + signal.SIGSEGV, 128 + signal.SIGBUS)
#: Deaths the user asked for (Ctrl-C, kill): no limit is blamed for them.
_REQUESTED = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGPIPE,
              signal.SIGUSR1, signal.SIGUSR2}


def _size(value: Value | int | None) -> str:
    """A limit, exactly."""
    return pretty(resources.get("vmem"), value) if value is not None else "?"


def _measured(value: float | None) -> str:
    """A measured figure, rounded."""
    return approx(resources.get("vmem"), value) if value is not None else "?"


def _limit(outcome: Outcome, key: str) -> tuple[Value, Value]:
    return outcome.limits.get(key, (UNLIMITED, UNLIMITED))


def _cpu(outcome: Outcome) -> str:
    return f"{outcome.user + outcome.system:.2f} s"


class Stop(NamedTuple):
    """The line saying how a limit (probably) stopped the command, and that limit's key
    (``mem`` for --mem); ``limit`` is None for a hint that names no culprit."""

    limit: str | None
    line: str


def explain(outcome: Outcome, command: Sequence[str] = (), path: str | None = None) -> list[str]:
    """The line saying which limit stopped the command (an empty list when none did).

    ``command`` (found on ``path``) tells whether a failed exit may be Python's MemoryError.
    """
    stop = diagnose(outcome, command, path)
    return [LINE_START + stop.line] if stop else []


def diagnose(outcome: Outcome, command: Sequence[str] = (),
             path: str | None = None) -> Stop | None:
    """Which limit stopped the command, as :func:`explain` says it (None: none did)."""
    return _explain(outcome, runs_python(command, path))


def runs_python(command: Sequence[str], path: str | None = None) -> bool:
    """Whether ``command`` starts a Python interpreter (directly or by a script's ``#!``)."""
    if not command:
        return False
    import os
    import re
    import shutil

    if re.fullmatch(r"i?python[0-9.]*", os.path.basename(command[0])):
        return True
    found = shutil.which(command[0], path=path)
    try:
        with open(found or "", "rb") as handle:
            first = handle.readline(256)
    except OSError:
        return False
    return first.startswith(b"#!") and b"python" in first


def _how(outcome: Outcome) -> str:
    """How the command ended, for a line: ``killed by SIGABRT`` or ``exit status 1``."""
    if outcome.signal:
        return f"killed by {signal_name(outcome.signal)}"
    return f"exit status {outcome.status}"


def _explain(outcome: Outcome, python: bool = False) -> Stop | None:
    sig = outcome.signal
    cpu_soft, cpu_hard = _limit(outcome, "cpu")
    fsize = _limit(outcome, "fsize")[0]
    memory = outcome.memory
    if sig == signal.SIGXCPU:
        figure = ("" if cpu_soft == UNLIMITED  # the command lowered its own limit
                  else f", the limit is {pretty(resources.get('cpu'), cpu_soft)}")
        return Stop("cpu", f"the cpu limit stopped the command: it used {_cpu(outcome)} of "
                    f"CPU time{figure} (SIGXCPU)")
    if sig == signal.SIGXFSZ:
        figure = "the limit" if fsize == UNLIMITED else f"fsize {_size(fsize)}"
        return Stop("fsize", "the file size limit stopped the command: it tried to write a "
                    f"file past {figure} (SIGXFSZ)")
    if memory is not None and memory.oom_kills:
        return _mem_stop(outcome, memory)
    if sig == signal.SIGKILL:
        if memory is not None and memory.oom_kills is None:
            return Stop("mem", f"the command was killed (SIGKILL) with the --mem limit "
                        f"({pretty(MEM, memory.limit)}) in force: most likely the kernel's OOM "
                        "killer; the cgroup's OOM count could not be read")
        if cpu_hard != UNLIMITED and outcome.user + outcome.system >= int(cpu_hard) - 0.05:
            return Stop("cpu", f"the cpu hard limit stopped the command: it used {_cpu(outcome)} "
                        f"of CPU time, the hard limit is {pretty(resources.get('cpu'), cpu_hard)} "
                        "(SIGKILL)")
    if outcome.status == 0 or sig in _REQUESTED:
        return None
    too_small = _too_small_to_start(outcome)
    if not outcome.started:
        return _not_started(outcome, too_small)
    if too_small and outcome.status in _LOAD_FAILURES:
        return Stop(too_small[0], f"the command (or a program it started) could not load "
                    f"({_how(outcome)}): {too_small[1]}")
    near = _memory_near_limit(outcome) or _descriptors(outcome)
    if near:
        return near
    stack = _limit(outcome, "stack")[0]
    if sig == signal.SIGSEGV and stack != UNLIMITED and outcome.sources.get("stack") != "inherited":
        return Stop("stack", f"the command crashed (SIGSEGV) with the stack limit at "
                    f"{_size(stack)}: probably a stack overflow; a larger --stack may help")
    if fsize != UNLIMITED and outcome.written is not None and outcome.written >= int(fsize):
        return Stop("fsize", f"the command failed after writing {_measured(outcome.written)} with "
                    f"the file size limit at {_size(fsize)}: a write past it fails with 'File "
                    "too large' (EFBIG)")
    if (outcome.written is None and sig is None and outcome.status == 1 and python
            and fsize != UNLIMITED and outcome.sources.get("fsize") != "inherited"):
        # What the command wrote is unknown (only root may read an ended process's
        # /proc/PID/io), and CPython ignores SIGXFSZ: say what to look for.
        return Stop(None, f"the command failed ({_how(outcome)}) with the file size limit at "
                    f"{_size(fsize)}: if it reported 'File too large' (EFBIG), a write went "
                    "past the limit")
    if (sig is None and outcome.status == 1 and python) or sig == signal.SIGABRT:
        return _memory_hint(outcome)
    return None


def _mem_stop(outcome: Outcome, memory: MemoryStats) -> Stop:
    """The line for a command the ``--mem`` cap stopped: by watching, or by an OOM kill (of
    the command, or of one of its processes and then the rest)."""
    mem = pretty(MEM, memory.limit)
    if memory.backend == WATCH:
        every = (f" (the last two looks were {memory.interval * 1000:.0f} ms apart)"
                 if memory.interval else "")
        return Stop("mem", f"the --mem limit stopped the command: the resident memory of its "
                    f"processes reached {_measured(memory.peak)}, past the cap of {mem}, and "
                    f"conda-limits ended them ({_how(outcome)}); the cap is enforced by "
                    "watching, so a very fast allocation can pass it by what it allocates "
                    f"between two looks{every}")
    rest = (f"; conda-limits then stopped the rest of the command ({memory.stopped} "
            "process(es))" if memory.stopped else "")
    if outcome.signal == signal.SIGKILL and not memory.stopped:
        return Stop("mem", f"the --mem limit stopped the command: its memory reached {mem} "
                    "and the kernel's OOM killer ended it (SIGKILL)")
    if outcome.signal == signal.SIGKILL:
        return Stop("mem", f"the --mem limit stopped the command: its memory reached {mem}, "
                    f"the kernel's OOM killer ended {memory.oom_kills} of its processes"
                    f"{rest} (SIGKILL)")
    if outcome.status != 0:
        return Stop("mem", f"the --mem limit ({mem}) made the kernel's OOM killer end "
                    f"{memory.oom_kills} process(es) of the command{rest}")
    return Stop("mem", f"the --mem limit ({mem}) made the kernel's OOM killer end "
                f"{memory.oom_kills} process(es) of the command, which went on and exited 0 "
                "before the rest could be stopped: its results may be incomplete")


def _too_small_to_start(outcome: Outcome) -> tuple[str, str] | None:
    """A limit set by conda-limits below what any program needs to start (START_NEEDS; for
    nofile: one descriptor above those the command inherits): its key, and why."""
    nofile = _limit(outcome, "nofile")[0]
    if (nofile != UNLIMITED and outcome.sources.get("nofile") != "inherited"
            and int(nofile) <= outcome.free_fd):
        opened = f"0 to {outcome.free_fd - 1}" if outcome.free_fd > 1 else "0"
        return "nofile", (f"the nofile limit ({nofile}) leaves no descriptor free (descriptors "
                          f"{opened} are open from the start, and a program needs one more to "
                          f"load its libraries); --nofile {outcome.free_fd + 1} is the least "
                          "that can work")
    for key, needs in START_NEEDS.items():
        limit = _limit(outcome, key)[0]
        if limit != UNLIMITED and outcome.sources.get(key) != "inherited" and int(limit) < needs:
            return key, (f"the {key} limit ({_size(limit)}) is too small for a program to "
                         f"load (a shell needs about {_measured(needs)})")
    return None


def _not_started(outcome: Outcome, too_small: tuple[str, str] | None) -> Stop | None:
    """The launcher (the shell that sources the activation scripts) ended before it could
    exec the command. Statuses 126 and 127 come with the shell's own message (the launcher's
    "command not found", or a script's): nothing to add."""
    if outcome.status in (126, 127):
        return None
    line = (f"the command did not start: the shell that sources the environment's activation "
            f"scripts and then starts it ended first ({_how(outcome)})")
    if too_small is not None and outcome.signal in (signal.SIGSEGV, signal.SIGBUS):
        return Stop(too_small[0], f"{line}: {too_small[1]}")
    return Stop(None, f"{line}: an activation script may have failed (see above)")


def _descriptors(outcome: Outcome) -> Stop | None:
    """A failure with the open files seen near the nofile limit, or under a nofile limit
    too small for a shell (which copies descriptors to 10 and up when it redirects)."""
    nofile = _limit(outcome, "nofile")[0]
    if nofile == UNLIMITED or outcome.sources.get("nofile") == "inherited":
        return None
    seen = outcome.peaks.get("nofile")
    if seen is not None and seen >= CLOSE * int(nofile):
        return Stop("nofile", f"the nofile limit most likely stopped the command: it failed "
                    f"({_how(outcome)}) with {seen} files open of the nofile limit {nofile} "
                    "('Too many open files')")
    if int(nofile) < launcher.SHELL_FDS:
        return Stop(None, f"the command failed ({_how(outcome)}) with nofile at {nofile}: if "
                    "it reported 'Too many open files' or 'Invalid argument' (a shell that "
                    f"redirects needs descriptors up to {launcher.SHELL_FDS - 1}), it needs a "
                    "larger --nofile")
    return None


def _memory_hint(outcome: Outcome) -> Stop | None:
    """A failure (Python's exit 1, SIGABRT) under a vmem/data limit never approached.

    One large allocation that does not fit fails at once (Python: MemoryError; C++:
    std::bad_alloc, then SIGABRT) without the process growing first, so the measures cannot
    tell: the line says what to look for in the command's own output. The limit it names is
    the one the run counts as stopped by (a usage log must not take the run's small peaks
    for what the command needs).
    """
    for key in ("vmem", "data"):
        limit = _limit(outcome, key)[0]
        if limit == UNLIMITED or outcome.sources.get(key) == "inherited":
            continue
        return Stop(key, f"the command failed ({_how(outcome)}) with {key} limited to "
                    f"{_size(limit)}: if it reported MemoryError or 'Cannot allocate memory', "
                    f"an allocation did not fit under the {key} limit")
    return None


def _memory_near_limit(outcome: Outcome) -> Stop | None:
    """A failed exit with a memory measure at >= CLOSE of the vmem or data limit."""
    checks = (("vmem", "its address space", "VmPeak"), ("data", "its data segment", "VmData"))
    for key, what, sampled_name in checks:
        limit = _limit(outcome, key)[0]
        if limit == UNLIMITED or not limit:
            continue
        measures = [(outcome.sampled.get(sampled_name), what),
                    (outcome.peak_rss, "its resident memory")]
        for value, described in measures:
            if value is not None and value >= CLOSE * int(limit):
                return Stop(key, f"the {key} limit most likely stopped the command: it failed "
                            f"({_how(outcome)}) with {described} at {_measured(value)} of the "
                            f"{key} limit {_size(limit)} (MemoryError or a failed allocation)")
    return None


def report(outcome: Outcome, command: Sequence[str] = ()) -> str:
    """The ``--report`` summary: status, times, peak memory, and the limits in force."""
    rows = [("exit status", _exit(outcome)),
            ("wall time", f"{outcome.wall:.2f} s"),
            ("CPU time", f"{_cpu(outcome)} (user {outcome.user:.2f} s, "
                         f"system {outcome.system:.2f} s)"),
            ("peak memory", _peak(outcome))]
    if outcome.memory is not None:
        rows += _mem_rows(outcome.memory, outcome.sources.get("mem"))
    if outcome.cpu is not None:
        from .cpu import report_rows

        rows += report_rows(outcome.cpu)
    shown_command = shlex.join(command)
    if len(shown_command) > 100:
        shown_command = shown_command[:97] + "..."
    title = "conda-limits report" + (f" for: {shown_command}" if command else "")
    width = max(len(name) for name, _ in rows) + 1
    lines = [title] + [f"  {(name + ':').ljust(width)} {value}" for name, value in rows]
    lines.append("  limits in force (soft / hard):")
    shown = [(r, *_limit(outcome, r.key)) for r in resources.RESOURCES]
    shown = [(r, s, h) for r, s, h in shown if s != UNLIMITED or h != UNLIMITED]
    if not shown:
        lines.append("    none")
    for resource, soft, hard in shown:
        source = outcome.sources.get(resource.key, "inherited")
        origin = f"--{resource.key}" if source == "flag" else source
        note = "" if source == "inherited" else f"  ({origin})"
        lines.append(f"    {resource.key:<8} {pretty(resource, soft)} / "
                     f"{pretty(resource, hard)}{note}")
    return "\n".join(lines)


def _mem_rows(stats: MemoryStats, source: str | None = None) -> list[tuple[str, str]]:
    """``--report``'s rows for the ``--mem`` cap: the backend, its figures, the order;
    ``source`` "environment" when the cap is the environment's recorded ``mem``."""
    origin = "the environment's mem; " if source == "environment" else ""
    text = f"{pretty(MEM, stats.limit)} ({origin}{stats.backend})"
    if stats.backend == WATCH:
        every = (f", the last two {stats.interval * 1000:.0f} ms apart" if stats.interval
                 else "")
        text += (" enforced by watching: resident memory of all its processes (RSS, PSS "
                 f"where pages are shared), looked at more often near the cap{every}")
        if stats.peak is not None:
            text += f", peak {_measured(stats.peak)}"
        if stats.oom_kills:
            text += ", stopped by the cap"
    else:
        if stats.peak is not None:
            text += f", peak {_measured(stats.peak)} (all processes, with page cache)"
        if stats.oom_kills is not None:
            text += f", OOM kills {stats.oom_kills}"
        if stats.stopped:
            text += f", then {stats.stopped} process(es) stopped by conda-limits"
    return [("--mem", text),
            ("--mem order", "; ".join([*stats.skipped, f"{stats.backend}: used"]))]


def _exit(outcome: Outcome) -> str:
    if outcome.signal:
        return f"{outcome.status} (killed by {signal_name(outcome.signal)})"
    return str(outcome.status)


def _peak(outcome: Outcome) -> str:
    if outcome.peak_rss is not None:
        return f"{_measured(outcome.peak_rss)} resident (largest single process)"
    sampled = outcome.sampled.get("VmHWM")
    ceiling = f"at most {_measured(outcome.rss_floor)}"
    if sampled:
        return f"at least {_measured(sampled)}, {ceiling} resident (too small to measure exactly)"
    return f"{ceiling} resident (too small to measure exactly)"
