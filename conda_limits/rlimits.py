"""The calling process's own limits, through Python's ``resource`` module."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .resources import Resource
from .values import Value, exceeds, from_kernel

if TYPE_CHECKING:
    from .model import LimitSet


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
