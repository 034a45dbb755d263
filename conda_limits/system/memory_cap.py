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

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import LimitsError
from . import cgroups
from .cgroups import PAGE, Mount


class MemoryCapUnavailable(LimitsError, RuntimeError):
    """No backend can enforce ``--mem`` here; ``reasons`` says why, per backend."""

    def __init__(self, limit: int, reasons: Sequence[str]) -> None:
        self.limit = limit
        self.reasons = tuple(reasons)
        super().__init__("no cgroup backend can enforce a memory cap here: "
                         + "; ".join(self.reasons))


class MemoryCapError(LimitsError, RuntimeError):
    """A cgroup could not be set up for the command (it was not started)."""


@dataclass(frozen=True)
class MemoryStats:
    """What the cgroup saw: its limit, peak usage and OOM kills (None: not known)."""

    backend: str
    limit: int
    peak: int | None = None
    oom_kills: int | None = None


@dataclass
class MemoryCap:
    """A cgroup capping one command's resident memory (see the module docstring)."""

    backend: str
    limit: int
    directory: Path | None = None  # the cgroup's directory, once known
    removed_leftovers: int = field(default=0, init=False)

    def wrap(self, argv: list[str]) -> list[str]:
        """The command line that starts ``argv`` under this cap (unchanged for directories)."""
        return argv

    def attach(self, pid: int) -> None:
        """Put ``pid`` (not yet running the command) into the cgroup."""
        assert self.directory is not None
        try:
            cgroups.write(self.directory / "cgroup.procs", str(pid))
        except OSError as error:
            raise MemoryCapError(f"cannot move the command into {self.directory}: "
                                 f"{error.strerror or error}") from None

    def stats(self) -> MemoryStats:
        raise NotImplementedError

    def close(self) -> None:
        """Kill what the command left running in the cgroup, then remove the cgroup."""
        if self.directory is None:
            return
        self.removed_leftovers = cgroups.kill_all(self.directory)
        cgroups.remove(self.directory)


class CgroupV1(MemoryCap):
    """A child of this process's v1 memory cgroup with ``memory.limit_in_bytes``."""

    def __init__(self, limit: int, parent: Path) -> None:
        super().__init__("cgroup v1", limit)
        self.directory = cgroups.make_child(parent)
        try:
            cgroups.write(self.directory / "memory.limit_in_bytes", str(limit))
            memsw = self.directory / "memory.memsw.limit_in_bytes"
            if memsw.exists():  # swap accounting on: no swapping past the cap either
                cgroups.write(memsw, str(limit))
            applied = int(cgroups.read(self.directory / "memory.limit_in_bytes"))
            if applied > cgroups.page_rounded(limit) + PAGE:
                raise MemoryCapError(f"{self.directory} did not take the limit "
                                     f"(memory.limit_in_bytes reads {applied})")
        except (OSError, ValueError) as error:
            cgroups.remove(self.directory)
            raise MemoryCapError(f"cannot set the memory limit in {self.directory}: "
                                 f"{getattr(error, 'strerror', None) or error}") from None

    def stats(self) -> MemoryStats:
        assert self.directory is not None
        peak = oom = None
        try:
            peak = int(cgroups.read(self.directory / "memory.max_usage_in_bytes"))
        except (OSError, ValueError):
            pass
        try:
            oom = cgroups.field_value(cgroups.read(self.directory / "memory.oom_control"), "oom_kill")
        except OSError:
            pass
        return MemoryStats(self.backend, self.limit, peak, oom)


class CgroupV2(MemoryCap):
    """A child of a delegated cgroup v2 directory with ``memory.max``."""

    def __init__(self, limit: int, parent: Path) -> None:
        super().__init__("cgroup v2", limit)
        self.directory = cgroups.make_child(parent)
        try:
            _configure_v2(self.directory, limit)
        except MemoryCapError:
            cgroups.remove(self.directory)
            raise

    def stats(self) -> MemoryStats:
        assert self.directory is not None
        return _stats_v2(self.backend, self.limit, self.directory)



def adopt(backend: str, limit: int, directory: Path) -> MemoryCap:
    """The cap of a cgroup directory another process made (the kernel launcher, which execs
    the kernel): to read its figures and remove it once the kernel has ended."""
    kinds: dict[str, type[MemoryCap]] = {"cgroup v1": CgroupV1, "cgroup v2": CgroupV2}
    if backend not in kinds:
        raise ValueError(f"cannot adopt a {backend!r} memory cap")
    cap = object.__new__(kinds[backend])
    MemoryCap.__init__(cap, backend, limit, directory)
    return cap

def _configure_v2(directory: Path, limit: int) -> None:
    try:
        cgroups.write(directory / "memory.max", str(limit))
        swap = directory / "memory.swap.max"
        if swap.exists():
            cgroups.write(swap, "0")
    except OSError as error:
        raise MemoryCapError(f"cannot set memory.max in {directory}: "
                             f"{error.strerror or error}") from None
    _check_v2(directory, limit)


def _check_v2(directory: Path, limit: int) -> None:
    try:
        applied = cgroups.read(directory / "memory.max")
    except OSError as error:
        raise MemoryCapError(f"{directory} has no memory controller "
                             f"({error.strerror or error})") from None
    if applied == "max" or not applied.isdigit() or int(applied) > cgroups.page_rounded(limit) + PAGE:
        raise MemoryCapError(f"the memory limit is not in force in {directory} "
                             f"(memory.max reads {applied!r})")


def _stats_v2(backend: str, limit: int, directory: Path) -> MemoryStats:
    peak = oom = None
    try:
        peak = int(cgroups.read(directory / "memory.peak"))
    except (OSError, ValueError):
        pass
    try:
        oom = cgroups.field_value(cgroups.read(directory / "memory.events"), "oom_kill")
    except OSError:
        pass
    return MemoryStats(backend, limit, peak, oom)


class SystemdScope(MemoryCap):
    """``systemd-run --scope -p MemoryMax=...``: systemd makes and removes the cgroup."""

    def __init__(self, limit: int, executable: str, mount: Mount, user: bool) -> None:
        super().__init__("systemd scope", limit)
        self.executable = executable
        self.mount = mount
        self.user = user
        self.unit = f"{cgroups.NAME_PREFIX}{os.getpid()}-{os.urandom(4).hex()}.scope"
        self._last: MemoryStats | None = None
        self.properties: list[str] = []  # more `-p NAME=VALUE` (a CPU quota sharing the scope)

    def wrap(self, argv: list[str]) -> list[str]:
        return [self.executable, *(["--user"] if self.user else []), "--scope", "--quiet",
                "--collect", f"--unit={self.unit}", "-p", f"MemoryMax={self.limit}",
                "-p", "MemorySwapMax=0", *self.properties, "--", *argv]

    def attach(self, pid: int, timeout: float = 10.0) -> None:
        """Wait until systemd-run has moved ``pid`` into the scope, then check memory.max."""
        try:
            directory = cgroups.scope_directory(pid, self.unit, self.mount, timeout)
        except OSError as error:
            raise MemoryCapError(str(error)) from None
        _check_v2(directory, self.limit)
        self.directory = directory

    def stats(self) -> MemoryStats:
        # systemd removes the scope once it is empty, possibly before this is read.
        if self.directory is None or not self.directory.exists():
            return MemoryStats(self.backend, self.limit)
        return _stats_v2(self.backend, self.limit, self.directory)

    def close(self) -> None:
        """Nothing to do: ``--collect`` has systemd remove the scope when it is empty."""


def _systemd(limit: int, mount: Mount | None) -> tuple[SystemdScope | None, str]:
    executable, reason = cgroups.systemd_run(mount, "memory")
    if executable is None or mount is None:
        return None, reason
    return SystemdScope(limit, executable, mount, os.geteuid() != 0), ""


BACKENDS = ("systemd", "cgroup v2", "cgroup v1")


def memory_cap(limit: int, backends: Sequence[str] = BACKENDS) -> MemoryCap:
    """A memory cap of ``limit`` bytes from the first backend that can enforce it here.

    Raises :class:`MemoryCapUnavailable` (naming each backend's reason) when none can, and
    :class:`MemoryCapError` for a cap of 0, under which nothing can run.
    """
    if limit <= 0:
        raise MemoryCapError("--mem 0 would leave the command no memory at all, so nothing "
                             "could run; give a size such as --mem 4G")
    try:
        mountinfo = Path("/proc/self/mountinfo").read_text()
        own = Path("/proc/self/cgroup").read_text()
    except OSError:
        raise MemoryCapUnavailable(limit, ["no /proc/self/cgroup: cgroups are Linux-only"]) \
            from None
    v2_mount, v1_mount = cgroups.mounts(mountinfo)
    v2_own, v1_own = cgroups.own_cgroups(own)
    reasons = []
    for backend in backends:
        if backend == "systemd":
            cap, reason = _systemd(limit, v2_mount)
            if cap is not None:
                return cap
        elif backend == "cgroup v2":
            if v2_mount is None:
                reason = "no cgroup v2 is mounted"
            else:
                parent, reason = cgroups.v2_parent(v2_mount, v2_own)
                if parent is not None:
                    try:
                        return CgroupV2(limit, parent)
                    except (OSError, MemoryCapError) as error:
                        reason = str(getattr(error, "strerror", None) or error)
        elif backend == "cgroup v1":
            parent = v1_mount.directory(v1_own) if v1_mount and v1_own else None
            if parent is None:
                reason = "no cgroup v1 memory controller is mounted"
            elif not os.access(parent, os.W_OK):
                reason = f"{parent} is not writable by this user"
            else:
                try:
                    return CgroupV1(limit, parent)
                except (OSError, MemoryCapError) as error:
                    reason = str(error)
        else:
            raise ValueError(f"unknown memory cap backend {backend!r}")
        reasons.append(f"{backend}: {reason}")
    raise MemoryCapUnavailable(limit, reasons)
