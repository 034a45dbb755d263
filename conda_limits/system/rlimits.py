"""Processes' limits through Python's ``resource`` module: this process's limits and
ceilings, and :func:`apply`, the one place that sets a planned set of limits on a process."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple

from ..limits import resources
from ..limits.resources import Resource
from ..limits.values import Value, exceeds, from_kernel, to_kernel

if TYPE_CHECKING:
    from ..limits.model import LimitSet


def current(resource: Resource) -> tuple[Value, Value]:
    """The (soft, hard) limit of ``resource`` for this process."""
    import resource as _resource

    soft, hard = _resource.getrlimit(getattr(_resource, resource.rlimit))
    return from_kernel(soft), from_kernel(hard)


def hard_ceiling(resource: Resource) -> Value:
    """This process's hard limit of ``resource``: the highest soft value it may set."""
    return current(resource)[1]


def above_ceiling(limits: LimitSet) -> list[tuple[Resource, str, Value, Value]]:
    """``(resource, "soft" or "hard", value, ceiling)`` for each value of ``limits`` above
    this process's hard limit: activation applies the ceiling instead."""
    out = []
    for resource, limit in limits.items_with_resource():
        ceiling = hard_ceiling(resource)
        out += [(resource, which, value, ceiling)
                for which, value in (("soft", limit.soft), ("hard", limit.hard))
                if value is not None and exceeds(value, ceiling)]
    return out


class NotSet(NamedTuple):
    """A limit that could not be set: its key, the soft value wanted, and why not."""

    key: str
    soft: Value
    error: OSError | ValueError

    @property
    def reason(self) -> str:
        """The system's words for the failure (``Operation not permitted``...)."""
        return getattr(self.error, "strerror", None) or str(self.error)


def apply(wanted: Iterable[tuple[str, Value, Value]],
          pid: int = 0) -> tuple[dict[str, tuple[Value, Value]], list[NotSet]]:
    """Set ``(key, soft, hard)`` limits on process ``pid`` (0: this process), each only where
    it differs from what is in force; return the limits in force afterwards, read back, and
    the ones that could not be set. Every limit is tried: what a failure means (give up, or
    warn and go on) is the caller's policy."""
    import resource as _resource

    def get(which: int) -> tuple[int, int]:
        return _resource.prlimit(pid, which) if pid else _resource.getrlimit(which)

    def put(which: int, limits: tuple[int, int]) -> None:
        if pid:
            _resource.prlimit(pid, which, limits)
        else:
            _resource.setrlimit(which, limits)

    in_force: dict[str, tuple[Value, Value]] = {}
    failed: list[NotSet] = []
    for key, soft, hard in wanted:
        which = getattr(_resource, resources.get(key).rlimit)
        limits = (to_kernel(soft), to_kernel(hard))
        try:
            if get(which) != limits:
                put(which, limits)
            now = get(which)
        except (OSError, ValueError) as error:
            failed.append(NotSet(key, soft, error))
            continue
        in_force[key] = (from_kernel(now[0]), from_kernel(now[1]))
    return in_force, failed
