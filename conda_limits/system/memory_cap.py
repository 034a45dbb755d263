"""``--mem``: cap a command's resident memory with a cgroup, or refuse.

RLIMIT_AS/RLIMIT_DATA count address space and private mappings; only a memory cgroup caps
what is resident, which leaves CUDA, PyTorch and JAX working. Three backends, tried in order:

* ``systemd``: ``systemd-run [--user] --scope -p MemoryMax=...`` around the command, where
  systemd manages a cgroup v2 tree with the memory controller; the scope's ``memory.max`` is
  checked, because systemd accepts MemoryMax silently where the controller is not delegated.
* ``cgroup v2``: a child of a writable cgroup v2 directory whose ``cgroup.subtree_control``
  enables ``memory`` (a delegated subtree, or the root as root), with ``memory.max``.
* ``cgroup v1``: a child of this process's v1 memory cgroup, with ``memory.limit_in_bytes``.

The command and its children are in the cgroup, and swap does not extend the cap. A cgroup
made here is removed when the command ends; processes the command left running in it are
killed first, since moving them out would lift their cap silently. Where no backend can
enforce the cap, :func:`memory_cap` raises :class:`MemoryCapUnavailable` and nothing runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import LimitsError
from . import cgroups
from .cgroups import PAGE, Hierarchies, Scope

BACKENDS = cgroups.BACKENDS


class MemoryCapUnavailable(LimitsError, RuntimeError):
    """No backend can enforce ``--mem`` here; ``reasons`` says why, per backend."""

    def __init__(self, limit: int, reasons: Sequence[str]) -> None:
        self.limit = limit
        self.reasons = tuple(reasons)
        super().__init__("no cgroup backend can enforce a memory cap here: "
                         + "; ".join(self.reasons))


class MemoryCapError(cgroups.CgroupError):
    """A cgroup could not be set up for the command (it was not started)."""


@dataclass(frozen=True)
class MemoryStats:
    """What the cgroup saw: its limit, peak usage and OOM kills (None: not known)."""

    backend: str
    limit: int
    peak: int | None = None
    oom_kills: int | None = None


class MemoryCap(cgroups.Cgroup):
    """A cgroup capping one command's resident memory (see the module docstring)."""

    error = MemoryCapError

    def __init__(self, backend: str, limit: int, directory: Path | None = None,
                 scope: Scope | None = None) -> None:
        super().__init__(backend, directory, scope)
        self.limit = limit
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

    def stats(self) -> MemoryStats:
        # systemd removes a scope once it is empty, possibly before this is read.
        if self.directory is None or not self.directory.exists():
            return MemoryStats(self.backend, self.limit)
        peak_file, events = (("memory.max_usage_in_bytes", "memory.oom_control")
                             if self.version == 1 else ("memory.peak", "memory.events"))
        peak = oom = None
        try:
            peak = int(cgroups.read(self.directory / peak_file))
        except (OSError, ValueError):
            pass
        try:
            oom = cgroups.field_value(cgroups.read(self.directory / events), "oom_kill")
        except OSError:
            pass
        return MemoryStats(self.backend, self.limit, peak, oom)


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


def memory_cap(limit: int, backends: Sequence[str] = BACKENDS) -> MemoryCap:
    """A memory cap of ``limit`` bytes from the first backend that can enforce it here.

    Raises :class:`MemoryCapUnavailable` (naming each backend's reason) when none can, and
    :class:`MemoryCapError` for a cap of 0, under which nothing can run.
    """
    if limit <= 0:
        raise MemoryCapError("--mem 0 would leave the command no memory at all, so nothing "
                             "could run; give a size such as --mem 4G")
    for backend in backends:
        if backend not in BACKENDS:
            raise ValueError(f"unknown memory cap backend {backend!r}")
    cap, reasons = cgroups.first_usable("memory", backends, _make(limit))
    if cap is None:
        raise MemoryCapUnavailable(limit, reasons)
    return cap
