"""``cores: X``: hold a command to X cores of CPU time with a cgroup, or refuse.

The kernel's CFS bandwidth control gives a cgroup ``quota`` microseconds of CPU time per
``period`` (100 ms here): 2.5 cores is 250 ms per 100 ms, shared by all the command's threads
and children; past it they wait (are *throttled*) until the next period. Three backends, tried
in the order of ``--mem``'s (:mod:`conda_limits.system.memory_cap`), with the same cgroup toolkit:

* ``systemd``: ``systemd-run [--user] --scope -p CPUQuota=250%`` around the command, where
  systemd manages a cgroup v2 tree with the cpu controller (the scope's ``cpu.max`` is checked).
* ``cgroup v2``: a child of a writable cgroup v2 directory whose ``cgroup.subtree_control``
  enables ``cpu``, with ``cpu.max`` = ``QUOTA PERIOD``.
* ``cgroup v1``: a child of this process's cgroup in the v1 ``cpu`` hierarchy, with
  ``cpu.cfs_period_us`` and ``cpu.cfs_quota_us``.

What the cgroup saw comes from its ``cpu.stat``: periods, throttled periods and throttled time
(and, on v2, the CPU time used). A cgroup made here is removed when the command ends, after
killing what the command left in it, as for ``--mem``. Where no backend can enforce the quota,
:func:`cpu_quota` raises :class:`CpuQuotaUnavailable` and nothing runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..limits.cpu import Cores
from . import cgroups
from .cgroups import Hierarchies, Scope

if TYPE_CHECKING:
    from .memory_cap import MemoryCap

#: The CFS period used here, in microseconds (the kernel's and systemd's default).
PERIOD_US = 100_000
BACKENDS = cgroups.BACKENDS


class CpuQuotaUnavailable(cgroups.Unavailable):
    """No backend can enforce ``cores`` here; ``reasons`` says why, per backend."""

    hint = ("Run as a user who may write a cgroup, or share the CPU with --threads and "
            "--cpuset instead.")

    def __init__(self, cores: Cores, reasons: Sequence[str]) -> None:
        self.cores = cores
        super().__init__("no cgroup backend can enforce a CPU quota",
                         f"hold the command to {cores} cores (cores)", reasons)


class CpuQuotaError(cgroups.CgroupError):
    """A cgroup could not be set up for the command (it was not started)."""


def quota_us(cores: Cores) -> int:
    """Microseconds of CPU time per :data:`PERIOD_US` for ``cores`` (at least the kernel's 1 ms)."""
    return max(1000, cores.hundredths * PERIOD_US // 100)


@dataclass(frozen=True)
class CpuStats:
    """What the cgroup's ``cpu.stat`` said (None: not known)."""

    backend: str
    cores: Cores
    periods: int | None = None  # periods in which the cgroup ran
    throttled_periods: int | None = None  # periods in which it hit the quota
    throttled_us: int | None = None  # time its threads waited for the next period
    usage_us: int | None = None  # CPU time used (cgroup v2, or v1 with cpuacct beside cpu)

    def share(self) -> float | None:
        """The part of the periods in which the quota held the command back (0 to 1)."""
        if not self.periods or self.throttled_periods is None:
            return None
        return self.throttled_periods / self.periods


def parse_stat(text: str) -> dict[str, int]:
    """The ``key value`` lines of a ``cpu.stat`` file."""
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            out[key] = int(value)
    return out


def configure_v2(directory: Path, cores: Cores) -> None:
    """Write ``cpu.max`` in a cgroup v2 directory and check that the kernel took it."""
    wanted = f"{quota_us(cores)} {PERIOD_US}"
    try:
        cgroups.write(directory / "cpu.max", wanted)
    except OSError as error:
        raise CpuQuotaError(f"cannot set cpu.max in {directory}: "
                            f"{error.strerror or error}") from None
    check_v2(directory, cores)


def check_v2(directory: Path, cores: Cores) -> None:
    try:
        applied = cgroups.read(directory / "cpu.max").split()
    except OSError as error:
        raise CpuQuotaError(f"{directory} has no cpu controller "
                            f"({error.strerror or error})") from None
    if (len(applied) != 2 or not all(a.isdigit() for a in applied)
            or int(applied[0]) * PERIOD_US > quota_us(cores) * int(applied[1])):
        raise CpuQuotaError(f"the CPU quota is not in force in {directory} "
                            f"(cpu.max reads {' '.join(applied)!r})")


def configure_v1(directory: Path, cores: Cores) -> None:
    """Write the CFS period and quota in a cgroup v1 ``cpu`` directory and check them."""
    try:
        cgroups.write(directory / "cpu.cfs_period_us", str(PERIOD_US))
        cgroups.write(directory / "cpu.cfs_quota_us", str(quota_us(cores)))
        applied = int(cgroups.read(directory / "cpu.cfs_quota_us"))
    except (OSError, ValueError) as error:
        raise CpuQuotaError(f"cannot set the CPU quota in {directory}: "
                            f"{getattr(error, 'strerror', None) or error}") from None
    if applied != quota_us(cores):
        raise CpuQuotaError(f"{directory} did not take the CPU quota "
                            f"(cpu.cfs_quota_us reads {applied})")


def systemd_properties(cores: Cores) -> list[str]:
    """``systemd-run`` options for the quota: ``-p CPUQuota=250%`` (1% is 0.01 core)."""
    return ["-p", f"CPUQuota={cores.hundredths}%"]


class CpuQuota(cgroups.Cgroup):
    """A cgroup holding one command to ``cores`` of CPU time (see the module docstring).

    On cgroup v1, where ``cpuacct`` is mounted apart from ``cpu``, ``accounting`` is a child
    made there too, so that the CPU time used is known. ``shares`` is the ``--mem`` cap whose
    cgroup v2 holds the quota as well (a process is in one v2 cgroup only): the cap makes,
    attaches and removes that cgroup; read :meth:`stats` before it is closed.
    """

    error = CpuQuotaError

    def __init__(self, backend: str, cores: Cores, directory: Path | None = None,
                 scope: Scope | None = None, *, accounting: Path | None = None,
                 shares: MemoryCap | None = None) -> None:
        super().__init__(backend, directory, scope)
        self.cores = cores
        self.accounting = accounting
        self.shares = shares
        if scope is not None:
            scope.properties += systemd_properties(cores)

    def configure(self) -> None:
        assert self.directory is not None
        if self.version == 1:
            configure_v1(self.directory, self.cores)
        else:
            configure_v2(self.directory, self.cores)

    def check(self) -> None:
        assert self.directory is not None
        check_v2(self.directory, self.cores)

    def attach(self, pid: int) -> None:
        if self.shares is not None:  # the cap has put ``pid`` in its cgroup already
            self.directory = self.shares.directory
            if self.directory is None:
                raise CpuQuotaError("the --mem cgroup has no directory")
            self.check()
            return
        super().attach(pid)
        if self.accounting is not None:
            try:
                cgroups.write(self.accounting / "cgroup.procs", str(pid))
            except OSError:
                cgroups.remove(self.accounting)
                self.accounting = None

    def stats(self) -> CpuStats:
        # systemd removes a scope once it is empty, possibly before this is read.
        if self.directory is None or not self.directory.exists():
            return CpuStats(self.backend, self.cores)
        try:
            stat = parse_stat(cgroups.read(self.directory / "cpu.stat"))
        except OSError:
            return CpuStats(self.backend, self.cores)
        throttled = stat.get("throttled_usec")
        if throttled is None and "throttled_time" in stat:  # v1: nanoseconds
            throttled = stat["throttled_time"] // 1000
        usage = stat.get("usage_usec")
        for folder in (self.directory, self.accounting):
            if usage is None and folder is not None:
                try:
                    usage = int(cgroups.read(folder / "cpuacct.usage")) // 1000
                except (OSError, ValueError):
                    pass
        return CpuStats(self.backend, self.cores, stat.get("nr_periods"),
                        stat.get("nr_throttled"), throttled, usage)

    def close(self) -> None:
        if self.shares is not None:
            return
        super().close()
        if self.accounting is not None:
            cgroups.kill_all(self.accounting)
            cgroups.remove(self.accounting)

    def made_here(self) -> list[Path]:
        """The cgroup directories made for this quota (to remove when the command ends), not
        those of a systemd scope or of a ``--mem`` cgroup it shares."""
        if self.scope is not None or self.shares is not None or self.directory is None:
            return []
        return [self.directory, *([self.accounting] if self.accounting is not None else [])]


def _accounting(hierarchies: Hierarchies) -> Path | None:
    """A new child of this process's v1 ``cpuacct`` cgroup, where that is mounted apart from
    ``cpu`` and writable (else None: the usage is unknown, the quota holds all the same)."""
    try:
        acct = cgroups.locate("cpuacct")
    except OSError:
        return None
    if acct.v1 is None or acct.v1 == hierarchies.v1 or acct.v1_own is None:
        return None
    parent = acct.v1.directory(acct.v1_own)
    if parent is None or not os.access(parent, os.W_OK):
        return None
    try:
        return cgroups.make_child(parent)
    except OSError:
        return None


def _make(cores: Cores) -> Callable[[str, Hierarchies, Path | Scope], CpuQuota]:
    def make(backend: str, hierarchies: Hierarchies, place: Path | Scope) -> CpuQuota:
        if isinstance(place, Scope):
            return CpuQuota("systemd scope", cores, scope=place)
        made = cgroups.made(CpuQuota(backend, cores, cgroups.make_child(place)))
        if backend == "cgroup v1":
            made.accounting = _accounting(hierarchies)
        return made

    return make


def unusable(backends: Sequence[str] = BACKENDS) -> list[str]:
    """Why no backend can hold a CPU quota here (``"backend: why not"`` each), or [] when one
    looks usable (without making a cgroup)."""
    found = cgroups.survey("cpu", backends)
    if any(reason is None for _, reason in found):
        return []
    return [f"{backend}: {reason}" for backend, reason in found]


def cpu_quota(cores: Cores, backends: Sequence[str] = BACKENDS,
              beside: MemoryCap | None = None) -> CpuQuota:
    """A quota of ``cores`` from the first backend that can enforce it here.

    ``beside`` is the command's ``--mem`` cap, if any: a cgroup v2 one (systemd scope or
    directory) holds the quota too. Raises :class:`CpuQuotaUnavailable` (naming each
    backend's reason) when none can.
    """
    if beside is not None and beside.version == 2:
        try:
            shared = CpuQuota(f"{beside.backend}, with --mem", cores, shares=beside)
            if beside.scope is not None:
                beside.scope.properties += systemd_properties(cores)
            elif beside.directory is not None:
                configure_v2(beside.directory, cores)
            return shared
        except CpuQuotaError as error:
            reason = f"{beside.backend} (the --mem cgroup): {error}"
            raise CpuQuotaUnavailable(cores, [reason]) from None
    for backend in backends:
        if backend not in BACKENDS:
            raise ValueError(f"unknown CPU quota backend {backend!r}")
    quota, reasons = cgroups.first_usable("cpu", backends, _make(cores))
    if quota is None:
        raise CpuQuotaUnavailable(cores, reasons)
    return quota
