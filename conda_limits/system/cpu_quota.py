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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import LimitsError
from ..limits.cpu import Cores
from . import cgroups, memory_cap
from .cgroups import Mount

#: The CFS period used here, in microseconds (the kernel's and systemd's default).
PERIOD_US = 100_000
BACKENDS = ("systemd", "cgroup v2", "cgroup v1")


class CpuQuotaUnavailable(LimitsError):
    """No backend can enforce ``cores`` here; ``reasons`` says why, per backend."""

    def __init__(self, cores: Cores, reasons: Sequence[str]) -> None:
        self.cores = cores
        self.reasons = tuple(reasons)
        super().__init__("no cgroup backend can enforce a CPU quota here: "
                         + "; ".join(self.reasons))


class CpuQuotaError(LimitsError):
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


def _stats(backend: str, cores: Cores, directory: Path | None) -> CpuStats:
    if directory is None:
        return CpuStats(backend, cores)
    try:
        stat = parse_stat(cgroups.read(directory / "cpu.stat"))
    except OSError:
        return CpuStats(backend, cores)
    throttled = stat.get("throttled_usec")
    if throttled is None and "throttled_time" in stat:  # v1: nanoseconds
        throttled = stat["throttled_time"] // 1000
    usage = stat.get("usage_usec")
    if usage is None:
        try:
            usage = int(cgroups.read(directory / "cpuacct.usage")) // 1000
        except (OSError, ValueError):
            pass
    return CpuStats(backend, cores, stat.get("nr_periods"), stat.get("nr_throttled"),
                    throttled, usage)


class CpuQuota:
    """A cgroup holding one command to ``cores`` of CPU time (see the module docstring)."""

    backend = ""

    def __init__(self, cores: Cores) -> None:
        self.cores = cores
        self.directory: Path | None = None
        self.removed_leftovers = 0

    def wrap(self, argv: list[str]) -> list[str]:
        """The command line that starts ``argv`` under this quota (unchanged for directories)."""
        return argv

    def attach(self, pid: int) -> None:
        """Put ``pid`` (not yet running the command) into the cgroup."""
        assert self.directory is not None
        try:
            cgroups.write(self.directory / "cgroup.procs", str(pid))
        except OSError as error:
            raise CpuQuotaError(f"cannot move the command into {self.directory}: "
                                f"{error.strerror or error}") from None

    def stats(self) -> CpuStats:
        return _stats(self.backend, self.cores, self.directory)

    def close(self) -> None:
        """Kill what the command left running in the cgroup, then remove the cgroup."""
        if self.directory is None:
            return
        self.removed_leftovers = cgroups.kill_all(self.directory)
        cgroups.remove(self.directory)


class CgroupV1(CpuQuota):
    """A child of this process's cgroup in the v1 cpu hierarchy, with the CFS quota.

    Where ``cpuacct`` is mounted apart from ``cpu`` (``accounting``: this process's cgroup
    there), a child is made there too, so that the CPU time used is known.
    """

    backend = "cgroup v1"

    def __init__(self, cores: Cores, parent: Path, accounting: Path | None = None) -> None:
        super().__init__(cores)
        self.directory = directory = cgroups.make_child(parent)
        try:
            cgroups.write(directory / "cpu.cfs_period_us", str(PERIOD_US))
            cgroups.write(directory / "cpu.cfs_quota_us", str(quota_us(cores)))
            applied = int(cgroups.read(directory / "cpu.cfs_quota_us"))
        except (OSError, ValueError) as error:
            cgroups.remove(directory)
            raise CpuQuotaError(f"cannot set the CPU quota in {directory}: "
                                f"{getattr(error, 'strerror', None) or error}") from None
        if applied != quota_us(cores):
            cgroups.remove(directory)
            raise CpuQuotaError(f"{directory} did not take the CPU quota "
                                f"(cpu.cfs_quota_us reads {applied})")
        self.accounting: Path | None = None
        if accounting is not None and os.access(accounting, os.W_OK):
            try:
                self.accounting = cgroups.make_child(accounting)
            except OSError:
                pass  # usage unknown: the quota holds all the same

    def attach(self, pid: int) -> None:
        super().attach(pid)
        if self.accounting is not None:
            try:
                cgroups.write(self.accounting / "cgroup.procs", str(pid))
            except OSError:
                cgroups.remove(self.accounting)
                self.accounting = None

    def stats(self) -> CpuStats:
        found = super().stats()
        if self.accounting is None or found.usage_us is not None:
            return found
        try:
            usage = int(cgroups.read(self.accounting / "cpuacct.usage")) // 1000
        except (OSError, ValueError):
            return found
        return CpuStats(found.backend, found.cores, found.periods, found.throttled_periods,
                        found.throttled_us, usage)

    def close(self) -> None:
        super().close()
        if self.accounting is not None:
            cgroups.kill_all(self.accounting)
            cgroups.remove(self.accounting)


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


class CgroupV2(CpuQuota):
    """A child of a cgroup v2 directory that enables the cpu controller, with ``cpu.max``."""

    backend = "cgroup v2"

    def __init__(self, cores: Cores, parent: Path) -> None:
        super().__init__(cores)
        self.directory = cgroups.make_child(parent)
        try:
            configure_v2(self.directory, cores)
        except CpuQuotaError:
            cgroups.remove(self.directory)
            raise


def systemd_properties(cores: Cores) -> list[str]:
    """``systemd-run`` options for the quota: ``-p CPUQuota=250%`` (1% is 0.01 core)."""
    return ["-p", f"CPUQuota={cores.hundredths}%"]


class SystemdScope(CpuQuota):
    """``systemd-run --scope -p CPUQuota=...``: systemd makes and removes the cgroup."""

    backend = "systemd scope"

    def __init__(self, cores: Cores, executable: str, mount: Mount, user: bool) -> None:
        super().__init__(cores)
        self.executable = executable
        self.mount = mount
        self.user = user
        self.unit = f"{cgroups.NAME_PREFIX}{os.getpid()}-{os.urandom(4).hex()}.scope"

    def wrap(self, argv: list[str]) -> list[str]:
        return [self.executable, *(["--user"] if self.user else []), "--scope", "--quiet",
                "--collect", f"--unit={self.unit}", *systemd_properties(self.cores),
                "--", *argv]

    def attach(self, pid: int, timeout: float = 10.0) -> None:
        """Wait until systemd-run has moved ``pid`` into the scope, then check cpu.max."""
        try:
            directory = cgroups.scope_directory(pid, self.unit, self.mount, timeout)
        except OSError as error:
            raise CpuQuotaError(str(error)) from None
        check_v2(directory, self.cores)
        self.directory = directory

    def stats(self) -> CpuStats:
        # systemd removes the scope once it is empty, possibly before this is read.
        if self.directory is None or not self.directory.exists():
            return CpuStats(self.backend, self.cores)
        return super().stats()

    def close(self) -> None:
        """Nothing to do: ``--collect`` has systemd remove the scope when it is empty."""


def _systemd(cores: Cores, mount: Mount | None) -> tuple[SystemdScope | None, str]:
    executable, reason = cgroups.systemd_run(mount, "cpu")
    if executable is None or mount is None:
        return None, reason
    return SystemdScope(cores, executable, mount, os.geteuid() != 0), ""


class Shared(CpuQuota):
    """A quota in the cgroup v2 of a ``--mem`` cap (a process is in one v2 cgroup only): the
    cap's systemd scope gets ``CPUQuota=``, or its directory gets ``cpu.max``. The cap makes,
    attaches and removes the cgroup; read :meth:`stats` before it is closed."""

    def __init__(self, cores: Cores, cap: memory_cap.MemoryCap) -> None:
        super().__init__(cores)
        self.cap = cap
        self.backend = f"{cap.backend}, with --mem"
        if isinstance(cap, memory_cap.SystemdScope):
            cap.properties += systemd_properties(cores)
        elif cap.directory is not None:
            configure_v2(cap.directory, cores)

    def attach(self, pid: int) -> None:
        """The cap has put ``pid`` in its cgroup already: check the quota there."""
        if self.cap.directory is None:
            raise CpuQuotaError("the --mem cgroup has no directory")
        check_v2(self.cap.directory, self.cores)
        self.directory = self.cap.directory

    def close(self) -> None:
        """Nothing to do: the cap removes the cgroup."""


def cpu_quota(cores: Cores, backends: Sequence[str] = BACKENDS,
              beside: object = None) -> CpuQuota:
    """A quota of ``cores`` from the first backend that can enforce it here.

    ``beside`` is the command's ``--mem`` cap, if any: a cgroup v2 one (systemd scope or
    directory) holds the quota too. Raises :class:`CpuQuotaUnavailable` (naming each
    backend's reason) when none can.
    """
    if isinstance(beside, memory_cap.MemoryCap) and beside.backend != "cgroup v1":
        try:
            return Shared(cores, beside)
        except CpuQuotaError as error:
            reason = f"{beside.backend} (the --mem cgroup): {error}"
            raise CpuQuotaUnavailable(cores, [reason]) from None
    try:
        mountinfo = Path("/proc/self/mountinfo").read_text()
        own = Path("/proc/self/cgroup").read_text()
    except OSError:
        raise CpuQuotaUnavailable(cores, ["no /proc/self/cgroup: cgroups are Linux-only"]) \
            from None
    v2_mount, v1_mount = cgroups.mounts(mountinfo, "cpu")
    v2_own, v1_own = cgroups.own_cgroups(own, "cpu")
    acct_mount = cgroups.mounts(mountinfo, "cpuacct")[1]
    acct_own = cgroups.own_cgroups(own, "cpuacct")[1]
    accounting = (acct_mount.directory(acct_own) if acct_mount and acct_own
                  and acct_mount != v1_mount else None)
    reasons = []
    for backend in backends:
        if backend == "systemd":
            quota, reason = _systemd(cores, v2_mount)
            if quota is not None:
                return quota
        elif backend == "cgroup v2":
            if v2_mount is None:
                reason = "no cgroup v2 is mounted"
            else:
                parent, reason = cgroups.v2_parent(v2_mount, v2_own, "cpu")
                if parent is not None:
                    try:
                        return CgroupV2(cores, parent)
                    except (OSError, CpuQuotaError) as error:
                        reason = str(getattr(error, "strerror", None) or error)
        elif backend == "cgroup v1":
            parent = v1_mount.directory(v1_own) if v1_mount and v1_own else None
            if parent is None:
                reason = "no cgroup v1 cpu controller is mounted"
            elif not os.access(parent, os.W_OK):
                reason = f"{parent} is not writable by this user"
            else:
                try:
                    return CgroupV1(cores, parent, accounting)
                except (OSError, CpuQuotaError) as error:
                    reason = str(getattr(error, "strerror", None) or error)
        else:
            raise ValueError(f"unknown CPU quota backend {backend!r}")
        reasons.append(f"{backend}: {reason}")
    raise CpuQuotaUnavailable(cores, reasons)
