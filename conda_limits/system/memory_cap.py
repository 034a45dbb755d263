"""``--mem``: cap a command's resident memory with a cgroup, or by watching it.

RLIMIT_AS/RLIMIT_DATA count address space and private mappings; a cap on what is resident
leaves CUDA, PyTorch and JAX working. Four backends, tried in this order (:data:`ORDER`):

* ``systemd``: ``systemd-run [--user] --scope -p MemoryMax=...`` around the command, where
  systemd manages a cgroup v2 tree with the memory controller; the scope's ``memory.max`` is
  checked, because systemd accepts MemoryMax silently where the controller is not delegated.
* ``cgroup v2``: a child of a writable cgroup v2 directory whose ``cgroup.subtree_control``
  enables ``memory`` (a delegated subtree, or the root as root), with ``memory.max`` and
  ``memory.oom.group`` (an OOM kill ends every process of the cgroup).
* ``cgroup v1``: a child of this process's v1 memory cgroup, with ``memory.limit_in_bytes``.
* ``watch``: no cgroup; the supervisor adds up the resident memory of the command's
  processes and stops them past the cap (:mod:`.memory_watch`). Needs no privilege, so it is
  always there; a very fast allocation can pass the cap by what it allocates between looks.

With a cgroup, the command and its children are in it, and swap does not extend the cap.
The cap is for the whole command: when the kernel's OOM killer ends one process of it (v1
and systemd kill one), the supervisor, which looks at the cgroup's OOM count every
:data:`OOM_CHECK` seconds (:meth:`MemoryCap.look`), kills the rest, as ``memory.oom.group``
does on v2. A cgroup made here is removed when the command ends; processes the command left
running in it are killed first, since moving them out would lift their cap silently.

The backends can be forced (:func:`wanted`): ``conda run-limited --mem-backend NAME``, the
variable ``CONDA_LIMITS_MEM_BACKEND``, or conda's setting ``plugins.limits_mem_backend``;
names are ``systemd``, ``cgroup-v2``, ``cgroup-v1``, ``watch``, or ``auto`` (all, in order).
Where none of those allowed can enforce the cap, :func:`choose` raises
:class:`MemoryCapUnavailable` and nothing runs.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ..limits.resources import MEM
from ..limits.values import human
from . import cgroups
from .cgroups import PAGE, Hierarchies, Scope
from .memory_stats import MemoryStats as MemoryStats  # where other modules have found it
from .memory_watch import MemoryWatch

WATCH = "watch"
#: Every backend, in the order they are tried.
ORDER = (*cgroups.BACKENDS, WATCH)
BACKENDS = ORDER
#: What forces the backends, besides ``--mem-backend``: a variable and a conda setting.
VARIABLE = "CONDA_LIMITS_MEM_BACKEND"
SETTING = "limits_mem_backend"
AUTO = "auto"
#: Seconds between two looks at a cgroup's OOM count while the command runs.
OOM_CHECK = 0.1
#: Seconds the OOM killer's victim gets to leave the cgroup before the rest is stopped.
VICTIM_EXIT = 0.5


class MemoryCapUnavailable(cgroups.Unavailable, RuntimeError):
    """No backend can enforce ``--mem`` here; ``reasons`` says why, per backend."""

    hint = ("Run as a user who may write a cgroup, let --mem-backend watch enforce it, limit "
            "memory with --data instead, or run without the cap with --mem unlimited.")

    def __init__(self, limit: int, reasons: Sequence[str]) -> None:
        self.limit = limit
        super().__init__("no backend can enforce a memory cap",
                         f"cap resident memory at {human(MEM, limit)} (mem)", reasons)


class MemoryCapError(cgroups.CgroupError):
    """A cgroup could not be set up for the command (it was not started)."""


class MemoryCap(cgroups.Cgroup):
    """A cgroup capping one command's resident memory (see the module docstring)."""

    error = MemoryCapError

    def __init__(self, backend: str, limit: int, directory: Path | None = None,
                 scope: Scope | None = None) -> None:
        super().__init__(backend, directory, scope)
        self.limit = limit
        self.skipped: tuple[str, ...] = ()  # the backends tried first, and why not them
        self.stopped = 0  # processes killed here after an OOM kill
        self.oom_seen = False  # an OOM kill was seen and the rest of the command stopped
        if scope is not None:
            scope.properties += ["-p", f"MemoryMax={limit}", "-p", "MemorySwapMax=0"]

    def configure(self) -> None:
        assert self.directory is not None
        limit_file = "memory.limit_in_bytes" if self.version == 1 else "memory.max"
        try:
            cgroups.write(self.directory / limit_file, str(self.limit))
            # no swapping past the cap either (v1: where swap accounting is on)
            swap, value = (("memory.memsw.limit_in_bytes", str(self.limit)) if self.version == 1
                           else ("memory.swap.max", "0"))
            if (self.directory / swap).exists():
                cgroups.write(self.directory / swap, value)
            if self.version == 2:
                _oom_group(self.directory)
        except OSError as error:
            raise MemoryCapError(f"cannot set {limit_file} in {self.directory}: "
                                 f"{error.strerror or error}") from None
        self.check()

    def check(self) -> None:
        assert self.directory is not None
        limit_file = "memory.limit_in_bytes" if self.version == 1 else "memory.max"
        try:
            applied = cgroups.read(self.directory / limit_file)
        except OSError as error:
            raise MemoryCapError(f"{self.directory} has no memory controller "
                                 f"({error.strerror or error})") from None
        if not applied.isdigit() or int(applied) > cgroups.page_rounded(self.limit) + PAGE:
            raise MemoryCapError(f"the memory limit is not in force in {self.directory} "
                                 f"({limit_file} reads {applied!r})")

    def attach(self, pid: int) -> None:
        super().attach(pid)
        if self.scope is not None and self.directory is not None:
            _oom_group(self.directory)  # where systemd lets this user write it

    def interval(self) -> float:
        """Seconds until the next :meth:`look`."""
        return OOM_CHECK

    def look(self) -> None:
        """After an OOM kill in the cgroup, kill the rest of the command (once). The OOM
        killer's victim may still be leaving the cgroup: it is given :data:`VICTIM_EXIT`
        seconds to go, so that it is not counted among the processes stopped here."""
        if self.oom_seen or self.directory is None:
            return
        if self.oom_kills():
            self.oom_seen = True
            there = set(cgroups.procs(self.directory))
            deadline = time.monotonic() + VICTIM_EXIT
            while there and set(cgroups.procs(self.directory)) >= there:
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.005)
            self.stopped = cgroups.signal_all(self.directory)

    def close(self) -> None:
        """As :meth:`Cgroup.close`; after a stop for an OOM kill, what is still leaving the
        cgroup was part of that stop, not left running."""
        oom_seen = self.oom_seen
        super().close()
        if oom_seen:
            self.removed_leftovers = 0

    def oom_kills(self) -> int | None:
        """The cgroup's OOM kills so far (None: not known)."""
        if self.directory is None:
            return None
        events = "memory.oom_control" if self.version == 1 else "memory.events"
        try:
            return cgroups.field_value(cgroups.read(self.directory / events), "oom_kill")
        except OSError:
            return None

    def stats(self) -> MemoryStats:
        # systemd removes a scope once it is empty, possibly before this is read.
        if self.directory is None or not self.directory.exists():
            return MemoryStats(self.backend, self.limit, stopped=self.stopped,
                               skipped=self.skipped)
        peak_file = "memory.max_usage_in_bytes" if self.version == 1 else "memory.peak"
        peak = None
        try:
            peak = int(cgroups.read(self.directory / peak_file))
        except (OSError, ValueError):
            pass
        return MemoryStats(self.backend, self.limit, peak, self.oom_kills(),
                           stopped=self.stopped, skipped=self.skipped)


def cgroup_of(memory: MemoryCap | MemoryWatch | None) -> MemoryCap | None:
    """The cgroup of a ``--mem`` cap, which a CPU quota may share (the watch has none)."""
    return memory if isinstance(memory, MemoryCap) else None


def _oom_group(directory: Path) -> None:
    """``memory.oom.group`` = 1: an OOM kill ends every process of the cgroup (Linux 4.19+;
    without it, :meth:`MemoryCap.look` does)."""
    try:
        cgroups.write(directory / "memory.oom.group", "1")
    except OSError:
        pass


def adopt(backend: str, limit: int, directory: Path) -> MemoryCap:
    """The cap of a cgroup directory another process made (the kernel launcher, which execs
    the kernel): to read its figures and remove it once the kernel has ended."""
    if backend not in ("cgroup v1", "cgroup v2"):
        raise ValueError(f"cannot adopt a {backend!r} memory cap")
    return MemoryCap(backend, limit, directory)


def _make(limit: int) -> Callable[[str, Hierarchies, Path | Scope], MemoryCap]:
    def make(backend: str, hierarchies: Hierarchies, place: Path | Scope) -> MemoryCap:
        if isinstance(place, Scope):
            return MemoryCap("systemd scope", limit, scope=place)
        return cgroups.made(MemoryCap(backend, limit, cgroups.make_child(place)))

    return make


def choose(limit: int, backends: Sequence[str] = ORDER) -> MemoryCap | MemoryWatch:
    """A memory cap of ``limit`` bytes from the first of ``backends`` that can enforce it
    here (its ``skipped`` says why the ones before it could not).

    Raises :class:`MemoryCapUnavailable` (naming each backend's reason) when none can, and
    :class:`MemoryCapError` for a cap of 0, under which nothing can run.
    """
    if limit <= 0:
        raise MemoryCapError("--mem 0 would leave the command no memory at all, so nothing "
                             "could run; give a size such as --mem 4G")
    for backend in backends:
        if backend not in ORDER:
            raise ValueError(f"unknown memory cap backend {backend!r}")
    cap, reasons = cgroups.first_usable("memory", [b for b in backends if b != WATCH],
                                        _make(limit))
    if cap is None and WATCH in backends:
        reason = _watch_unusable()
        if reason is None:
            watch = MemoryWatch(limit)
            watch.skipped = tuple(reasons)
            return watch
        reasons.append(f"{WATCH}: {reason}")
    if cap is None:
        raise MemoryCapUnavailable(limit, reasons)
    cap.skipped = tuple(reasons)
    return cap


def _watch_unusable() -> str | None:
    """Why the watch cannot work here (no /proc), or None."""
    if not os.path.exists(f"/proc/{os.getpid()}/statm"):
        return "no /proc/PID/statm to read processes' memory from (Linux only)"
    return None


def spelled(name: str) -> tuple[str, ...]:
    """The backends a ``--mem-backend`` name stands for: ``auto`` for all of :data:`ORDER`,
    else the one named (``cgroup-v1`` or ``cgroup v1``). ValueError names the choices."""
    text = name.strip().lower().replace("-", " ").replace("_", " ")
    if text == AUTO:
        return ORDER
    if text in ORDER:
        return (text,)
    raise ValueError(f"unknown --mem backend {name!r}: choose one of {', '.join(NAMES)}")


#: The names :func:`spelled` takes, as the command line spells them.
NAMES = (AUTO, *(backend.replace(" ", "-") for backend in ORDER))


def wanted(given: str | None = None, configured: str | None = None,
           environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The backends to try: ``given`` (``--mem-backend``), else :data:`VARIABLE` in
    ``environ`` (default: this process's), else ``configured`` (conda's setting), else all
    in :data:`ORDER`. ValueError for an unknown name, saying where it came from."""
    environ = os.environ if environ is None else environ
    for name, origin in ((given, "--mem-backend"), (environ.get(VARIABLE), VARIABLE),
                         (configured, f"plugins.{SETTING}")):
        if name:
            try:
                return spelled(name)
            except ValueError as error:
                raise ValueError(f"{origin}: {error}") from None
    return ORDER


def survey(backends: Sequence[str] = ORDER) -> list[tuple[str, str | None]]:
    """Each of ``backends`` with why it cannot cap memory here, or None where it looks
    usable (without making a cgroup: :func:`choose` may still find that it cannot). The
    first with None is the one a command would get."""
    found = dict(cgroups.survey("memory", [b for b in backends if b != WATCH]))
    return [(backend, _watch_unusable() if backend == WATCH else found[backend])
            for backend in backends]


def order_here(backends: Sequence[str] = ORDER) -> str:
    """One line for ``conda limits show``: the backend a command would get here, and why
    the ones before it would not do (from :func:`survey`)."""
    found = survey(backends)
    chosen = next((backend for backend, reason in found if reason is None), None)
    skipped = [f"{backend}: {reason}" for backend, reason in found
               if reason is not None and (chosen is None
                                          or backends.index(backend) < backends.index(chosen))]
    if chosen is None:
        return "no backend can enforce it here (" + "; ".join(skipped) + ")"
    how = " (by watching the command's memory)" if chosen == WATCH else ""
    return (f"{chosen.replace(' ', '-')}{how}"
            + (f", as {'; '.join(skipped)}" if skipped else ""))
