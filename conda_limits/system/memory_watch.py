"""``--mem`` without a cgroup: watch the resident memory of a command's processes and stop
them all when it passes the cap.

The last ``--mem`` backend (``watch``), for users who may write no cgroup: the supervisor
(``conda run-limited``'s runner, or a Jupyter kernel's detached watcher) looks at the
command's process tree, adds up its memory, and past the cap sends SIGTERM to every process
of it, then SIGKILL to those still there :data:`GRACE` seconds later. Nothing is capped
between two looks: an allocation faster than the looks can pass the cap by what it allocates
in one interval (a cgroup refuses the page instead).

What counts: the resident memory (RSS, from ``/proc/PID/statm``, about 15 us a process) of
every process of the tree, added up. Pages shared by several processes of the tree (a
parent's memory after ``fork``, a shared mapping) count once per process in that sum, so
where it passes the cap and the tree has more than one process, the proportional set size
(PSS, from ``/proc/PID/smaps_rollup``: a shared page counts 1/N in each of its N processes,
so the sum counts it once) decides; reading it walks the page tables (milliseconds for a
large process), so it is read only then, and the difference (the shared part) is reused
for :data:`PSS_AGE` seconds. A single process is judged by its RSS.

How often: every :data:`MAX_INTERVAL` seconds far from the cap (below two thirds of it),
more often as usage nears it (in proportion to the room left, and at most half the time the
current growth rate needs to reach the cap), never more often than every
:data:`MIN_INTERVAL` seconds. A look costs some tens of microseconds per process.

Which processes: the command and its descendants, found again at every look through
``/proc/PID/task/TID/children``; processes seen once stay watched after their parent exits.
A process that daemonizes (forks, and the parent exits at once) is reparented, away from the
command: the runner makes itself a *child subreaper* (PR_SET_CHILD_SUBREAPER) so that such
processes become its children and stay in the tree; the kernel's watcher, which is not the
kernel's parent, also takes every process of the kernel's session (Jupyter starts a kernel
as a session leader). When the command has ended, :meth:`MemoryWatch.close` kills what it
left running, as a cgroup backend does.

Imported by the kernel's watcher while it watches: plain classes, no ``dataclasses``.
"""

from __future__ import annotations

import os
import signal
import time

from . import sample

TYPE_CHECKING = False  # typing itself is not imported: the kernel's watcher stays small
if TYPE_CHECKING:
    from .memory_stats import MemoryStats

#: Seconds between looks far from the cap, and the shortest interval near it.
MAX_INTERVAL = 0.2
MIN_INTERVAL = 0.01
#: Seconds between SIGTERM and SIGKILL.
GRACE = 1.0
#: Seconds the shared part measured by PSS is reused before PSS is read again.
PSS_AGE = 2.0
#: Seconds between two scans of /proc for the processes of the command's session.
SESSION_AGE = 1.0
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_PR_SET_CHILD_SUBREAPER = 36


class MemoryWatch:
    """The ``watch`` backend of ``--mem`` (see the module docstring).

    The runner calls :meth:`attach` with the gated launcher's pid (this process becomes a
    subreaper), then :meth:`look` whenever :meth:`interval` has passed, :meth:`stats` and
    :meth:`close` once the command has ended. The kernel's watcher calls :meth:`follow`
    instead of :meth:`attach` (``session``: take the processes of the kernel's session).
    """

    backend = "watch"
    directory = None  # no cgroup
    scope = None

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.skipped: tuple[str, ...] = ()  # the backends tried first, and why each was not used
        self.root: int | None = None
        self.known: dict[int, int] = {}  # pid -> starttime of every process seen in the tree
        self.peak = 0  # the highest total seen, bytes
        self.stopped_at: float | None = None  # when the cap stopped the command
        self.killed = False  # SIGKILL was needed
        self.removed_leftovers = 0
        self.gap = 0.0  # seconds between the last two looks (before the stop, if any)
        self._session: int | None = None
        self._session_seen: list[int] = []
        self._session_at = -SESSION_AGE
        self._subreaper = False
        self._own_children: set[int] = set()
        self._interval = MIN_INTERVAL
        self._last: tuple[float, int] | None = None  # (when, total) of the last look
        self._shared: tuple[float, int] | None = None  # (when, RSS sum - PSS sum)

    # -- as a backend of the runner --------------------------------------------------------

    def wrap(self, argv: list[str]) -> list[str]:
        return argv

    def attach(self, pid: int) -> None:
        """Watch ``pid`` (this process's child, not yet running the command); processes
        that leave the command's tree by daemonizing become this process's children."""
        self._own_children = set(sample.children(os.getpid()))
        self._subreaper = _set_subreaper(True)
        self.follow(pid)

    def follow(self, pid: int, session: bool = False) -> None:
        """Watch ``pid`` and what it starts (``session``: and its session's processes, where
        it leads one)."""
        self.root = pid
        seen = sample.proc_stat(pid)
        if seen is not None:
            self.known[pid] = seen.starttime
            if session and seen.session == pid:
                self._session = pid

    def interval(self) -> float:
        """Seconds until the next look should be."""
        return self._interval

    def look(self) -> None:
        """Add up the tree's memory now; past the cap, stop the tree (SIGTERM, then SIGKILL
        once :data:`GRACE` has passed)."""
        now = time.monotonic()
        members = self.members()
        total = self._total(members, now)
        self.peak = max(self.peak, total)
        if self.stopped_at is not None:
            if now - self.stopped_at >= GRACE and members:
                self.killed = self._signal(members, signal.SIGKILL) > 0 or self.killed
            self._interval = max(MIN_INTERVAL, min(0.1, self.stopped_at + GRACE - now))
            return
        if self._last is not None:
            self.gap = now - self._last[0]
        if total > self.limit:
            self.stopped_at = now
            self._signal(members, signal.SIGTERM)
            self._interval = 0.05
            return
        self._interval = self._next_interval(total, now)
        self._last = (now, total)

    def stats(self) -> MemoryStats:
        """The figures as a cgroup backend gives them (:class:`.memory_stats.MemoryStats`): a
        stop counts as one OOM kill."""
        from .memory_stats import MemoryStats

        return MemoryStats(self.backend, self.limit, self.peak or None,
                           1 if self.stopped_at is not None else 0,
                           interval=self.gap or None, skipped=self.skipped)

    def close(self) -> None:
        """Kill what the command left running (its root has ended and been reaped), reap
        the processes this process adopted, stop being a subreaper."""
        self.root = None  # reaped: its pid may be reused
        if self.stopped_at is not None:  # let the stopped processes end within the grace
            while self.members() and time.monotonic() < self.stopped_at + GRACE:
                self._reap(block=False)
                time.sleep(0.01)
        for _ in range(20):
            members = self.members()
            if not members:
                break
            killed = self._signal(members, signal.SIGKILL)
            if self.stopped_at is None:  # else they were part of the stop, not left over
                self.removed_leftovers += killed
            else:
                self.killed = True
            self._reap(block=True)
            time.sleep(0.01)
        self._reap(block=False)
        if self._subreaper:
            _set_subreaper(False)
            self._subreaper = False

    # -- the tree --------------------------------------------------------------------------

    def members(self) -> list[int]:
        """The processes of the command now: the root, the processes seen before that still
        run, this process's adopted children, the session's, and all their descendants."""
        roots = [] if self.root is None else [self.root]
        for pid in list(self.known):
            if pid != self.root and not os.path.isdir(f"/proc/{pid}"):
                del self.known[pid]  # gone: forgotten (a new process may get its pid later)
        roots += [pid for pid in self.known if pid != self.root]
        if self._subreaper:
            roots += [pid for pid in sample.children(os.getpid())
                      if pid not in self._own_children]
        if self._session is not None:
            roots += self._session_members()
        # A root is checked before its descendants are taken: a reused pid's are not ours.
        good = {pid for pid in roots if self._ours(pid)}
        return [pid for pid in sample.tree(good) if pid in good or self._ours(pid)]

    def _ours(self, pid: int, verify: bool = False) -> bool:
        """Whether ``pid`` is a process of the command: one seen before (its start time
        checked again when ``verify``: before a signal), or a new one, remembered."""
        if pid in self.known and not verify:
            return True
        seen = sample.proc_stat(pid)
        if seen is None or seen.state in ("Z", "X"):
            return False
        known = self.known.setdefault(pid, seen.starttime)
        return known == seen.starttime

    def _session_members(self) -> list[int]:
        now = time.monotonic()
        if now - self._session_at >= SESSION_AGE:
            self._session_at = now
            self._session_seen = []
            for name in os.listdir("/proc"):
                if name.isdigit():
                    seen = sample.proc_stat(int(name))
                    if seen is not None and seen.session == self._session:
                        self._session_seen.append(int(name))
        return self._session_seen

    def _signal(self, members: list[int], signum: int) -> int:
        """Send ``signum`` to ``members``; how many were sent it."""
        sent = 0
        for pid in members:
            if not self._ours(pid, verify=True):
                continue  # ended since the look, and its pid taken by another process
            try:
                os.kill(pid, signum)
                sent += 1
            except (ProcessLookupError, PermissionError):
                pass
        return sent

    def _reap(self, block: bool) -> None:
        """Reap the children this process adopted (never the command's root: the runner
        reaps it, nor children it had before)."""
        if not self._subreaper:
            return
        for pid in sample.children(os.getpid()):
            if pid in self._own_children:
                continue
            try:
                os.waitpid(pid, 0 if block else os.WNOHANG)
            except ChildProcessError:
                pass

    # -- the figures -----------------------------------------------------------------------

    def _total(self, members: list[int], now: float) -> int:
        """The memory of ``members`` (bytes): the RSS sum, or the PSS sum where that decides
        (see the module docstring)."""
        total = sum(_rss(pid) for pid in members)
        if total <= self.limit or len(members) < 2:
            return total
        if self._shared is not None and now - self._shared[0] < PSS_AGE \
                and total - self._shared[1] <= self.limit:
            return total - self._shared[1]
        pss = [_pss(pid) for pid in members]
        if None in pss:
            return total  # smaps_rollup unreadable (Linux before 4.14): RSS alone
        proportional = sum(p for p in pss if p is not None)
        self._shared = (now, max(0, total - proportional))
        return proportional

    def _next_interval(self, total: int, now: float) -> float:
        room = self.limit - total
        interval = MAX_INTERVAL * min(1.0, 3 * room / self.limit)
        if self._last is not None and now > self._last[0]:
            rate = (total - self._last[1]) / (now - self._last[0])
            if rate > 0:
                interval = min(interval, room / rate / 2)
        return max(MIN_INTERVAL, interval)


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as handle:
            return int(handle.read().split()[1]) * PAGE
    except (OSError, ValueError, IndexError):
        return 0


def _pss(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as handle:
            for line in handle:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except FileNotFoundError:
        return 0 if not os.path.isdir(f"/proc/{pid}") else None  # gone, or no such file
    except (OSError, ValueError, IndexError):
        return None
    return None


def _set_subreaper(on: bool) -> bool:
    """Make this process a child subreaper (or stop); whether that worked (Linux 3.4+)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False
