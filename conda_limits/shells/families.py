"""The shell families conda-limits writes scripts for: a file suffix and a pair of renderers.

Each renderer module knows one family and the :mod:`~conda_limits.shells.protocol` they
share; this registry is the only module that knows all three.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..limits.cpu import CpuSettings
from ..limits.model import LimitSet
from . import cpu, csh, fish, posix
from .protocol import CSH_SUFFIX, FISH_SUFFIX, POSIX_SUFFIX


@dataclass(frozen=True)
class ScriptFamily:
    """One shell family's pair of renderers (the rlimits'), and its CPU sections."""

    suffix: str
    render_activate: Callable[[LimitSet], str]
    render_deactivate: Callable[[LimitSet], str]
    cpu_activate: Callable[[CpuSettings, tuple[str, ...]], str]
    cpu_deactivate: Callable[[CpuSettings], str]

    def activate(self, limits: LimitSet, keep: tuple[str, ...] = ()) -> str:
        """The activate script; ``keep``: thread variables the environment sets itself."""
        return cpu.with_section(self.render_activate(limits),
                                self.cpu_activate(limits.cpu, keep))

    def deactivate(self, limits: LimitSet) -> str:
        """The deactivate script; its CPU section only where ``limits`` have CPU settings
        (every other environment's deactivation stays as short as it was), and the CPU set's
        part of it only where they have a cpuset."""
        section = self.cpu_deactivate(limits.cpu) if limits.cpu else ""
        return cpu.with_section(self.render_deactivate(limits), section)


FAMILIES: tuple[ScriptFamily, ...] = (
    ScriptFamily(POSIX_SUFFIX, posix.render_activate, posix.render_deactivate,
                 cpu.posix_activate, cpu.posix_deactivate),
    ScriptFamily(FISH_SUFFIX, fish.render_activate, fish.render_deactivate,
                 cpu.fish_activate, cpu.fish_deactivate),
    ScriptFamily(CSH_SUFFIX, csh.render_activate, csh.render_deactivate,
                 cpu.csh_activate, cpu.csh_deactivate),
)
