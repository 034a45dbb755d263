"""The shell families conda-limits writes scripts for: a file suffix and a pair of renderers.

Each renderer module knows one family and the :mod:`~conda_limits.shells.protocol` they
share; this registry is the only module that knows all three.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..model import LimitSet
from . import csh, fish, posix
from .protocol import CSH_SUFFIX, FISH_SUFFIX, POSIX_SUFFIX


@dataclass(frozen=True)
class ScriptFamily:
    """One shell family's pair of renderers."""

    suffix: str
    activate: Callable[[LimitSet], str]
    deactivate: Callable[[], str]


FAMILIES: tuple[ScriptFamily, ...] = (
    ScriptFamily(POSIX_SUFFIX, posix.render_activate, posix.render_deactivate),
    ScriptFamily(FISH_SUFFIX, fish.render_activate, fish.render_deactivate),
    ScriptFamily(CSH_SUFFIX, csh.render_activate, csh.render_deactivate),
)
