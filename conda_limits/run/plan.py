"""The limits a command runs under: the environment's record, the flags, this process's limits.

:func:`plan_limits` merges them into a :class:`LimitPlan` (every resource, with where its
value comes from); :func:`plan_activation` also leaves conda-limits' own activation scripts
out, since the plan is applied once, by whoever starts the command (``conda run-limited``'s
runner, the Jupyter kernel launcher).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from ..limits import resources
from ..limits.model import LimitSet
from ..limits.values import UNLIMITED, Value, exceeds, human, pretty
from ..system import rlimits
from . import activation
from .activation import Activation


class Setting(NamedTuple):
    """One resource's limits for the command, and where its value comes from."""

    key: str
    soft: Value
    hard: Value
    before: Value  # the soft value the command would have had without conda-limits
    source: str  # "flag", "environment", or "inherited"
    hard_before: Value = UNLIMITED  # the hard limit it would have had


@dataclass(frozen=True)
class LimitPlan:
    """The limits to put on the command (every resource), and warnings about ceilings."""

    settings: tuple[Setting, ...]
    warnings: tuple[str, ...] = ()

    def __getitem__(self, key: str) -> Setting:
        for setting in self.settings:
            if setting.key == key:
                return setting
        raise KeyError(key)

    def saved(self) -> dict[str, Value]:
        """The previous soft values of the limits conda-limits sets (for deactivation)."""
        return {s.key: s.before for s in self.settings if s.source != "inherited"}

    def wanted(self, *, inherited: bool = True) -> list[tuple[str, Value, Value]]:
        """``(key, soft, hard)`` of every limit, for :func:`conda_limits.system.rlimits.apply`;
        without the inherited ones when ``inherited`` is false."""
        return [(s.key, s.soft, s.hard) for s in self.settings
                if inherited or s.source != "inherited"]

    def lowered_hard(self) -> list[str]:
        """The limits whose hard value the plan lowers."""
        return [s.key for s in self.settings if exceeds(s.hard_before, s.hard)]


def plan_limits(recorded: LimitSet, overrides: LimitSet | None = None, *,
                restored: Mapping[str, Value] | None = None) -> LimitPlan:
    """The limits for a command: ``recorded`` with ``overrides`` winning, on top of this
    process's limits (or the ``restored`` soft values of an environment being left).

    Values above the hard limit in force are lowered to it, with a warning, as activation does.
    """
    overrides = overrides or LimitSet()
    restored = restored or {}
    merged = recorded.merged(overrides)
    settings, warnings = [], []
    for resource in resources.RESOURCES:
        key = resource.key
        soft_now, hard_now = rlimits.current(resource)
        before = restored.get(key, soft_now)
        if exceeds(before, hard_now):
            before = hard_now
        source = "flag" if key in overrides else "environment" if key in recorded else "inherited"
        limit = merged.get(key)
        hard = hard_now
        if limit is not None and limit.hard is not None:
            if exceeds(limit.hard, hard_now):
                warnings.append(f"{key} hard limit {human(resource, limit.hard)} is above the "
                                f"hard limit in force ({pretty(resource, hard_now)}); keeping it")
            else:
                hard = limit.hard
        if limit is not None and limit.soft is not None:
            soft = limit.soft
            if exceeds(soft, hard):
                warnings.append(f"{key} {human(resource, soft)} is above the hard limit "
                                f"({pretty(resource, hard)}); using the hard limit")
                soft = hard
        else:
            soft = hard if exceeds(before, hard) else before
        settings.append(Setting(key, soft, hard, before, source, hard_now))
    return LimitPlan(tuple(settings), tuple(warnings))


def plan_activation(recorded: LimitSet, given: Activation,
                    overrides: LimitSet | None = None) -> tuple[LimitPlan, Activation]:
    """The limits for a command and the activation to start it with.

    conda-limits' own scripts are left out of ``given`` (the caller applies the plan, once),
    and the variables they would have left are set, so that a shell started as the command
    can still ``conda deactivate`` back to the limits it started with.
    """
    stripped = activation.without_own_scripts(given)
    plan = plan_limits(recorded, overrides, restored=stripped.restored)
    return plan, activation.with_saved_limits(stripped.activation, plan.saved(),
                                              plan.lowered_hard())
