"""The calling process's own limits, through Python's ``resource`` module."""

from __future__ import annotations

from .resources import Resource
from .values import Value, from_kernel


def current(resource: Resource) -> tuple[Value, Value]:
    """The (soft, hard) limit of ``resource`` for this process."""
    import resource as _resource

    soft, hard = _resource.getrlimit(getattr(_resource, resource.rlimit))
    return from_kernel(soft), from_kernel(hard)


def hard_ceiling(resource: Resource) -> Value:
    """This process's hard limit of ``resource``: the highest soft value it may set."""
    return current(resource)[1]
