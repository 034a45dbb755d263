"""The CPU settings: their names, strict parsing, formatting and checks on this machine.

Three settings sit beside the rlimits in an environment's ``limits:`` block; none of them stops
anything (unlike ``cpu``, RLIMIT_CPU): they share the CPU out.

* ``threads: N`` -- the size of every common compute thread pool, through the variables the
  libraries read (:mod:`.threads`); set on activation, by ``conda run-limited`` and in kernels.
* ``cpuset: LIST`` -- CPU affinity, a Linux CPU list such as ``0-3,8`` (:mod:`.affinity`).
* ``cores: X`` -- a CPU-time quota of X cores (fractions allowed) through a cgroup
  (:mod:`conda_limits.system.cpu_quota`); only ``conda run-limited`` and kernels.

``threads`` is a whole number of threads, ``cpuset`` a set of CPU numbers, ``cores`` a number
of cores with at most two decimals (0.01 core is 1 ms of CPU time per 100 ms, the smallest
quota the kernel takes), held as a whole number of hundredths (:class:`Cores`: no floats, and
no ``decimal`` import, which would cost every conda command that loads the plugin's parsers).

Parsing (:func:`parse`) accepts what the ``limits:`` schema may hold on any machine, also
what this one cannot honour (CPUs it does not have, more cores than it has: values meant for
a bigger machine): recording them warns, applying them narrows them to what is there, with a
warning, and ``conda doctor`` reports them (:mod:`.cpu_checks`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from . import affinity
from .values import Rejected, WrittenInt

THREADS: Final = "threads"
CPUSET: Final = "cpuset"
CORES: Final = "cores"
KEYS: Final = (THREADS, CPUSET, CORES)

#: Largest ``threads`` accepted: far above any machine's cores, small enough for every pool.
MAX_THREADS: Final = 4096


@dataclass(frozen=True, order=True)
class Cores:
    """A number of cores, in hundredths: ``Cores(250)`` is 2.5 cores."""

    hundredths: int

    def __str__(self) -> str:
        whole, part = divmod(self.hundredths, 100)
        return str(whole) if not part else f"{whole}.{part:02d}".rstrip("0")

    def ceil(self) -> int:
        """Whole cores, rounded up (at least 1)."""
        return max(1, -(-self.hundredths // 100))

    def number(self) -> int | float:
        """For YAML and JSON: an int when whole, else a float that prints back as ``str``."""
        return self.hundredths // 100 if self.hundredths % 100 == 0 else float(str(self))


CpuValue: TypeAlias = int | frozenset[int] | Cores

SUMMARY: Final = {
    THREADS: "size of the compute thread pools (OMP_NUM_THREADS, MKL, OpenBLAS, ...); "
             "not --cpu, which is CPU seconds",
    CPUSET: "CPUs the processes may run on (affinity)",
    CORES: "CPU-time quota in cores through a cgroup (run-limited and kernels only)",
}
ACCEPTED: Final = {
    THREADS: f"a whole number of threads from 1 to {MAX_THREADS}, e.g. 4",
    CPUSET: affinity.ACCEPTED,
    CORES: "a number of cores above 0 with at most two decimals, e.g. 2 or 0.5",
}
METAVAR: Final = {THREADS: "N", CPUSET: "LIST", CORES: "CORES"}


class InvalidCpuSetting(Rejected):
    """A value that cannot be accepted for ``key``; the message says what is accepted."""

    def __init__(self, key: str, raw: object, reason: str = "") -> None:
        self.key = key
        super().__init__(key, raw, reason or f"expected {ACCEPTED[key]}")



def parse(key: str, raw: object) -> CpuValue:
    """Parse ``raw`` (text, or a number from YAML) as a value of ``key``."""
    if isinstance(raw, WrittenInt) and raw >= 0:
        raise InvalidCpuSetting(key, raw.text, "not plain decimal digits: this YAML reader "
                                f"takes it as {int(raw)}, others may not; write {int(raw)}")
    if key == THREADS:
        return parse_threads(raw)
    if key == CPUSET:
        return parse_cpuset(raw)
    if key == CORES:
        return parse_cores(raw)
    raise KeyError(key)


def parse_threads(raw: object) -> int:
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise InvalidCpuSetting(THREADS, raw)
    text = str(raw).strip()
    if not text.isascii() or not text.isdigit() or len(text) > 6:
        raise InvalidCpuSetting(THREADS, raw)
    number = int(text)
    if number < 1:
        raise InvalidCpuSetting(THREADS, raw, f"at least 1 thread; expected {ACCEPTED[THREADS]}")
    if number > MAX_THREADS:
        raise InvalidCpuSetting(THREADS, raw, f"at most {MAX_THREADS} threads")
    return number


def parse_cpuset(raw: object) -> frozenset[int]:
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise InvalidCpuSetting(CPUSET, raw)
    try:
        return affinity.parse_cpu_list(str(raw))
    except affinity.CpuListError as error:
        raise InvalidCpuSetting(CPUSET, raw, f"{error.reason}; expected {ACCEPTED[CPUSET]}") \
            from None


def parse_cores(raw: object) -> Cores:
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise InvalidCpuSetting(CORES, raw)
    text = repr(raw) if isinstance(raw, float) else str(raw).strip()
    if text.startswith("-") and text[1:].replace(".", "", 1).isdigit():
        raise InvalidCpuSetting(CORES, raw, f"above 0; expected {ACCEPTED[CORES]}")
    whole, _, part = text.partition(".")
    if (not text.isascii() or len(text) > 12 or not (whole + part).isdigit()
            or not (whole or part)):
        raise InvalidCpuSetting(CORES, raw)
    if part.rstrip("0")[2:]:
        raise InvalidCpuSetting(CORES, raw, "at most two decimals (0.01 core is the "
                                "smallest quota the kernel takes)")
    value = Cores(int(whole or "0") * 100 + int((part.rstrip("0") + "00")[:2]))
    if value.hundredths == 0:
        raise InvalidCpuSetting(CORES, raw, f"above 0; expected {ACCEPTED[CORES]}")
    return value


def human(key: str, value: CpuValue) -> str:
    """The value as the schema and the flags write it: ``4``, ``0-3,8``, ``2.5``. Parses back."""
    if key == CPUSET:
        assert isinstance(value, frozenset)
        return affinity.format_cpu_list(value)
    return str(value)


def to_yaml(key: str, value: CpuValue) -> int | float | str:
    """The value for YAML: threads as an int, cores as a number, cpuset as text."""
    if key == THREADS:
        return int(value)  # type: ignore[arg-type]
    if key == CORES:
        assert isinstance(value, Cores)
        return value.number()
    return human(key, value)


def to_json(key: str, value: CpuValue) -> int | float | list[int]:
    if key == CPUSET:
        assert isinstance(value, frozenset)
        return sorted(value)
    return to_yaml(key, value)  # type: ignore[return-value]


#: What each setting's JSON value counts: threads per pool, CPU numbers, cores.
UNITS: Final = {THREADS: "threads", CPUSET: "cpus", CORES: "cores"}


@dataclass(frozen=True)
class CpuSettings:
    """The CPU settings of an environment or a run (``None``: not set)."""

    threads: int | None = None
    cpuset: frozenset[int] | None = None
    cores: Cores | None = None

    def __bool__(self) -> bool:
        return any(v is not None for v in (self.threads, self.cpuset, self.cores))

    def items(self) -> list[tuple[str, CpuValue]]:
        """The settings that are set, in table order."""
        return [(k, v) for k, v in ((THREADS, self.threads), (CPUSET, self.cpuset),
                                    (CORES, self.cores)) if v is not None]

    def merged(self, other: CpuSettings) -> CpuSettings:
        """These settings with ``other``'s (those that are set) winning."""
        return CpuSettings(
            self.threads if other.threads is None else other.threads,
            self.cpuset if other.cpuset is None else other.cpuset,
            self.cores if other.cores is None else other.cores)

    def pool_size(self) -> int | None:
        """The thread-pool size to export: ``threads``, else what ``cpuset`` and ``cores``
        allow (the size of the set, the quota rounded up; the smaller of both), else None."""
        if self.threads is not None:
            return self.threads
        sizes = []
        if self.cpuset:
            sizes.append(len(self.cpuset))
        if self.cores is not None:
            sizes.append(self.cores.ceil())
        return min(sizes) if sizes else None

    def pool_source(self) -> str | None:
        """Which setting :meth:`pool_size` comes from, for ``show`` and ``--report``."""
        if self.threads is not None:
            return THREADS
        if self.cpuset and (self.cores is None or len(self.cpuset) <= self.cores.ceil()):
            return CPUSET
        return CORES if self.cores is not None else None

    def without(self, keys: Iterable[str]) -> CpuSettings:
        """These settings less those named in ``keys``."""
        drop = set(keys)
        return CpuSettings(None if THREADS in drop else self.threads,
                           None if CPUSET in drop else self.cpuset,
                           None if CORES in drop else self.cores)

    def to_yaml(self) -> dict[str, Any]:
        return {k: to_yaml(k, v) for k, v in self.items()}

    def to_json(self) -> dict[str, Any]:
        """``{key: {"kind": "cpu", "value": ..., ...}}``: the shape of every setting, as
        :meth:`conda_limits.limits.model.LimitSet.to_json` gives it."""
        return {k: {"kind": "cpu", "value": to_json(k, v), "soft": None, "hard": None,
                    "unit": UNITS[k]} for k, v in self.items()}


def from_mapping(data: Mapping[str, Any]) -> CpuSettings:
    """The CPU settings among ``data``'s keys (other keys are ignored): raises
    :class:`InvalidCpuSetting` for a bad value."""
    return CpuSettings(parse_threads(data[THREADS]) if THREADS in data else None,
                       parse_cpuset(data[CPUSET]) if CPUSET in data else None,
                       parse_cores(data[CORES]) if CORES in data else None)
