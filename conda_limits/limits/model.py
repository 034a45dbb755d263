"""The limit model: a soft/hard pair per resource, and the ``limits:`` schema.

The same schema is used by the record inside an environment's prefix and by the ``limits:``
key of ``environment.yml``::

    limits:
      vmem: 4G                       # soft limit only
      nofile: {soft: 1024, hard: 4096}
      mem: 8G                        # resident memory (conda_limits.limits.mem): a plain size
      threads: 4                     # CPU settings (conda_limits.limits.cpu): plain values
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from ..errors import LimitsError
from ..printable import brief
from . import cpu as cpu_settings
from . import floors, resources
from . import mem as mem_setting
from .cpu import CpuSettings, InvalidCpuSetting
from .resources import Kind, Resource
from .values import UNLIMITED, InvalidValue, Rejected, Value, exceeds, human, parse

#: Every key the ``limits:`` schema takes: the rlimits, then mem, then the CPU settings.
KEYS = (*resources.KEYS, mem_setting.KEY, *cpu_settings.KEYS)
#: The settings that the supervisor of a command applies (``conda run-limited``, the kernel
#: launcher, Slurm), never an activated shell: each needs a cgroup (or a watcher).
SUPERVISED = (mem_setting.KEY, cpu_settings.CORES)
SCHEMA_HELP = (
    "a mapping of limit names ("
    + ", ".join(resources.KEYS)
    + ") to a value or to {soft: VALUE, hard: VALUE}, and of "
    + ", ".join((mem_setting.KEY, *cpu_settings.KEYS)) + " to a value"
)


class SchemaError(LimitsError, ValueError):
    """Content that does not follow the ``limits:`` schema.

    ``line`` and ``column`` are 1-based positions in the source file, when known.
    """

    def __init__(self, message: str, key: str | None = None,
                 line: int | None = None, column: int | None = None) -> None:
        self.message = message
        self.key = key
        self.line = line
        self.column = column
        super().__init__(self.describe())

    def describe(self, source: str | None = None) -> str:
        where = source or ""
        if self.line is not None:
            where += f"{':' if where else 'line '}{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {self.message}" if where else self.message


@dataclass(frozen=True)
class Limit:
    """The configured soft and/or hard value of one resource (``None``: leave as is)."""

    soft: Value | None = None
    hard: Value | None = None

    def __post_init__(self) -> None:
        if self.soft is None and self.hard is None:
            raise ValueError("a limit needs a soft or a hard value")

    @property
    def effective(self) -> Value:
        """The value processes will be held to (the soft one, else the hard one)."""
        return self.soft if self.soft is not None else self.hard  # type: ignore[return-value]

    def with_hard(self) -> Limit:
        """This limit with the hard value set to the soft one (``--hard``)."""
        return replace(self, hard=self.soft) if self.soft is not None else self

    def tiny(self, resource: Resource) -> Value | None:
        """The first of the soft and hard values below the floor of ``resource``
        (:mod:`.floors`); None when neither is."""
        return next((v for v in (self.soft, self.hard) if floors.is_tiny(resource, v)), None)

    def check(self, resource: Resource) -> None:
        if self.soft is not None and self.hard is not None and exceeds(self.soft, self.hard):
            raise InvalidValue(resource, human(resource, self.soft),
                               f"the soft value is above the hard value "
                               f"{human(resource, self.hard)}")

    def to_yaml(self, resource: Resource) -> Any:
        """The schema form: a plain value, or ``{soft: ..., hard: ...}``."""
        if self.hard is None:
            return _yaml_scalar(resource, self.soft)  # type: ignore[arg-type]
        out = {}
        if self.soft is not None:
            out["soft"] = _yaml_scalar(resource, self.soft)
        out["hard"] = _yaml_scalar(resource, self.hard)
        return out

    def to_json(self, resource: Resource) -> dict[str, Value | str | None]:
        """The shape every setting has in JSON (``SCHEMA_VERSION``): see docs/json.md."""
        return {"kind": "rlimit", "value": self.effective, "soft": self.soft,
                "hard": self.hard, "unit": UNITS[resource.kind]}


#: The version of the JSON shapes the commands print (``schema_version``; docs/json.md).
#: Raised when a key changes meaning or goes away; keys may be added within a version.
SCHEMA_VERSION: Final = 1
#: What the numbers of each kind of limit count, in JSON.
UNITS: Final = {Kind.SIZE: "bytes", Kind.COUNT: "count", Kind.DURATION: "seconds"}


def _yaml_scalar(resource: Resource, value: Value) -> int | str:
    text = human(resource, value)
    return int(text) if text.isdigit() else text


class LimitSet(Mapping[str, Limit]):
    """An ordered, immutable set of limits, keyed by resource name (table order).

    The mapping holds the rlimits; :attr:`mem` (the resident-memory cap, a size or
    ``unlimited``; None: not set) and :attr:`cpu` (the CPU settings) sit beside them (a set
    with only those is empty as a mapping, and true).
    """

    def __init__(self, limits: Mapping[str, Limit] | None = None,
                 cpu: CpuSettings | None = None, mem: Value | None = None) -> None:
        limits = dict(limits or {})
        unknown = set(limits) - set(resources.KEYS)
        if unknown:
            raise KeyError(f"unknown limit names: {', '.join(sorted(unknown))}")
        self._limits = {k: limits[k] for k in resources.KEYS if k in limits}
        self.cpu = cpu or CpuSettings()
        self.mem = mem

    def __bool__(self) -> bool:
        return bool(self._limits) or bool(self.cpu) or self.mem is not None

    def names(self) -> list[str]:
        """Every key that is set: the rlimits', mem, then the CPU settings'."""
        return [*self._limits, *([mem_setting.KEY] if self.mem is not None else []),
                *(key for key, _ in self.cpu.items())]

    def in_shell(self) -> LimitSet:
        """What an activated shell applies: these limits less ``mem`` (see :data:`SUPERVISED`;
        ``cores`` stays: the thread variables follow it)."""
        return LimitSet(self._limits, self.cpu)

    def __getitem__(self, key: str) -> Limit:
        return self._limits[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._limits)

    def __len__(self) -> int:
        return len(self._limits)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LimitSet):
            return (self._limits == other._limits and self.cpu == other.cpu
                    and self.mem == other.mem)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((tuple(self._limits.items()), self.cpu, self.mem))

    def __repr__(self) -> str:
        return (f"LimitSet({self._limits!r}{f', {self.cpu!r}' if self.cpu else ''}"
                f"{f', mem={self.mem!r}' if self.mem is not None else ''})")

    def summary(self) -> str:
        """Every setting and its value, in table order: ``nofile 4096, threads 2``."""
        from .values import pretty

        return ", ".join([*(f"{resource.key} {pretty(resource, limit.effective)}"
                            for resource, limit in self.items_with_resource()),
                          *([f"mem {pretty(resources.MEM, self.mem)}"] if self.mem is not None
                            else []),
                          *(f"{key} {cpu_settings.human(key, value)}"
                            for key, value in self.cpu.items())])

    def items_with_resource(self) -> Iterator[tuple[Resource, Limit]]:
        for key, limit in self._limits.items():
            yield resources.get(key), limit

    def merged(self, other: Mapping[str, Limit]) -> LimitSet:
        """A new set with ``other``'s entries (and CPU settings) replacing this one's."""
        if isinstance(other, LimitSet):
            cpu = self.cpu.merged(other.cpu)
            mem = self.mem if other.mem is None else other.mem
        else:
            cpu, mem = self.cpu, self.mem
        return LimitSet({**self._limits, **other}, cpu, mem)

    def without(self, keys: Iterator[str] | list[str] | tuple[str, ...]) -> LimitSet:
        drop = set(keys)
        return LimitSet({k: v for k, v in self._limits.items() if k not in drop},
                        self.cpu.without(drop), None if mem_setting.KEY in drop else self.mem)

    def _mem_item(self, value: object) -> dict[str, Any]:
        return {} if self.mem is None else {mem_setting.KEY: value}

    def to_yaml(self) -> dict[str, Any]:
        mem = None if self.mem is None else mem_setting.to_yaml(self.mem)
        return {**{r.key: limit.to_yaml(r) for r, limit in self.items_with_resource()},
                **self._mem_item(mem), **self.cpu.to_yaml()}

    def to_json(self) -> dict[str, Any]:
        """Every setting in one shape: ``kind``, ``value`` (what is in force), ``soft`` and
        ``hard`` (rlimits; null for the others), ``unit`` (docs/json.md)."""
        return {**{r.key: limit.to_json(r) for r, limit in self.items_with_resource()},
                **self._mem_item({"kind": "mem", "value": self.mem, "soft": None,
                                  "hard": None, "unit": "bytes"}),
                **self.cpu.to_json()}


def _position(node: Any, key: Any, *, value: bool) -> tuple[int | None, int | None]:
    """1-based (line, column) of ``key`` (or its value) in a ruamel.yaml node, if known."""
    lc = getattr(node, "lc", None)
    if lc is None:
        return None, None
    try:
        line, column = lc.value(key) if value else lc.key(key)
    except (KeyError, TypeError, AttributeError):
        try:
            line, column = lc.line, lc.col
        except AttributeError:
            return None, None
    return line + 1, column + 1


def _node_position(node: Any) -> tuple[int | None, int | None]:
    lc = getattr(node, "lc", None)
    if lc is None or getattr(lc, "line", None) is None:
        return None, None
    return lc.line + 1, lc.col + 1


def parse_limits(data: Any, *, where: Any = None, check_floors: bool = False) -> LimitSet:
    """Validate a ``limits:`` mapping (plain or ruamel.yaml) into a :class:`LimitSet`.

    ``where`` is the node that holds ``data`` (to locate ``limits:`` itself on error). With
    ``check_floors``, a value below its floor (:mod:`.floors`) is an error too: limits about
    to be applied are checked so, a record is not.
    Raises :class:`SchemaError` naming the key, the line and column where known, and
    what is accepted.
    """
    if data is None:
        return LimitSet()
    if not isinstance(data, Mapping):
        line, column = (_position(where, "limits", value=True) if where is not None
                        else _node_position(data))
        raise SchemaError(f"'limits' must be {SCHEMA_HELP}; got {_kind(data)}",
                          "limits", line, column)

    def entry(resource: Resource, raw: Any) -> Limit:
        return _parse_entry(resource, raw, check_floors)

    return parse_mapping(data, entry, _schema_error, check_floors=check_floors)


@dataclass(frozen=True)
class Spot:
    """Where a problem in a mapping of limits lies: the value of ``key`` in ``node`` (for a
    bad soft or hard value, in the nested ``{soft: ..., hard: ...}``), or with ``on_key``
    the key itself (a name that is no limit)."""

    node: Any
    key: Any
    on_key: bool = False

    def position(self) -> tuple[int | None, int | None]:
        """1-based (line, column) in the file, where ``node`` knows it (ruamel.yaml)."""
        return _position(self.node, self.key, value=not self.on_key)


#: Makes the error for a bad entry of a mapping of limits from its key, the problem (for a
#: key that is no limit: the known ones) and its :class:`Spot`.
Fault = Callable[[Any, str, Spot], Exception]


def parse_mapping(data: Mapping[Any, Any], entry: Callable[[Resource, Any], Limit],
                  fault: Fault, *, check_floors: bool = False) -> LimitSet:
    """The limits of a mapping of limit names to values, in the ``limits:`` schema's names.

    ``mem`` and the CPU settings take plain values (``mem`` not below its floor with
    ``check_floors``); ``entry`` parses an rlimit's value, raising :class:`InvalidValue`.
    The first bad key or value (in ``data``'s order) raises ``fault(key, problem, spot)``.
    """
    out: dict[str, Limit] = {}
    cpu: dict[str, Any] = {}
    mem: Value | None = None
    for key, raw in data.items():
        if key == mem_setting.KEY:
            try:
                mem = mem_setting.parse_mem(raw, check_floor=check_floors)
            except InvalidValue as error:
                raise fault(key, _problem(error, raw), Spot(data, key)) from None
            continue
        if isinstance(key, str) and key in cpu_settings.KEYS:
            try:
                cpu_settings.parse(key, raw)
            except InvalidCpuSetting as error:
                raise fault(key, _problem(error, raw), Spot(data, key)) from None
            cpu[key] = raw
            continue
        if not isinstance(key, str) or key not in resources.BY_KEY:
            raise fault(key, "known limits: " + ", ".join(KEYS), Spot(data, key, on_key=True))
        resource = resources.get(key)
        try:
            out[key] = entry(resource, raw)
        except InvalidValue as error:
            raise fault(key, _problem(error, error.raw),
                        _entry_spot(data, key, raw, check_floors)) from None
    return LimitSet(out, cpu_settings.from_mapping(cpu), mem)


def _schema_error(key: Any, problem: str, spot: Spot) -> SchemaError:
    line, column = spot.position()
    if spot.on_key:
        return SchemaError(f"unknown limit {key!r} under 'limits'; {problem}", str(key),
                           line, column)
    return SchemaError(f"limits.{key}: {problem}", key, line, column)


def _problem(error: Rejected, shown: object) -> str:
    """The reason, then the value given, unless the reason names it (below its floor)."""
    got = "" if isinstance(error, floors.TinyValue) else f" (got {brief(shown, 40)})"
    return error.reason + got


def _entry_spot(data: Mapping[Any, Any], key: str, raw: Any, check_floors: bool) -> Spot:
    """The rlimit value of ``key``; in ``{soft: ..., hard: ...}``, the first that fails."""
    if isinstance(raw, Mapping):
        resource = resources.get(key)
        inner = next((k for k in ("soft", "hard") if k in raw and
                      _fails(resource, raw[k], check_floors)), None)
        if inner is not None:
            return Spot(raw, inner)
    return Spot(data, key)


def _kind(data: Any) -> str:
    """How a YAML value reads to a person: 'a list', 'a string', ..."""
    if isinstance(data, list):
        return "a list"
    if isinstance(data, str):
        return f"the string {brief(data, 40)}"
    if isinstance(data, bool):
        return "a boolean"
    if isinstance(data, (int, float)):
        return f"the number {data}"
    return type(data).__name__


def _fails(resource: Resource, raw: Any, check_floors: bool) -> bool:
    try:
        value = parse(resource, raw)
    except InvalidValue:
        return True
    return check_floors and floors.is_tiny(resource, value)



def _parse_entry(resource: Resource, raw: Any, check_floors: bool) -> Limit:
    limit = _parse_limit(resource, raw)
    tiny = limit.tiny(resource) if check_floors else None
    if tiny is not None:
        raise floors.TinyValue(resource, tiny)
    return limit


def _parse_limit(resource: Resource, raw: Any) -> Limit:
    if isinstance(raw, Mapping):
        extra = set(raw) - {"soft", "hard"}
        if extra or not raw:
            raise InvalidValue(resource, dict(raw),
                               "a mapping value takes only 'soft' and 'hard' keys")
        soft = parse(resource, raw["soft"]) if "soft" in raw else None
        hard = parse(resource, raw["hard"]) if "hard" in raw else None
        limit = Limit(soft, hard)
        limit.check(resource)
        return limit
    return Limit(parse(resource, raw))


__all__ = ["SCHEMA_HELP", "UNLIMITED", "Fault", "Limit", "LimitSet", "SchemaError", "Spot",
           "parse_limits", "parse_mapping"]
