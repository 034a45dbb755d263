"""After ``conda env config vars set/unset``: the activation scripts follow the variables.

A thread variable the environment sets itself wins over ``threads`` (see
:mod:`conda_limits.shells.cpu`); the scripts are written knowing which ones those are, so
they are written again when ``conda env config vars`` changes them. A failure never fails
conda's command: it is one line, and ``conda doctor --fix`` repairs it later.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..limits.model import LimitSet
    from ..state.prefix_files import State


def _follow(state: State) -> tuple[LimitSet, None] | None:
    """The recorded limits again, when the scripts no longer follow the thread variables."""
    if state.error is not None or state.limits.cpu.pool_size() is None:
        return None
    return (state.limits, None) if state.out_of_date else None


def after_env_vars(command: str) -> None:
    from conda.base.context import context

    from ..errors import LimitsError
    from ..printable import shown
    from ..state import prefix_files, record

    prefix = Path(context.target_prefix)
    if not record.record_path(prefix).exists():
        return
    try:
        done = prefix_files.change(prefix, _follow, broken_ok=True)
    except (LimitsError, OSError) as error:
        print(f"conda-limits: the activation scripts of {shown(prefix)} could not follow the "
              f"environment's variables ({error}); run `conda doctor --fix -p "
              f"{shown(prefix)}`", file=sys.stderr)
        return
    size = done.limits.cpu.pool_size()
    if not done.written or size is None:
        return
    own = prefix_files.own_pool_variables(prefix, done.limits)
    print(f"conda-limits: activation scripts updated: {followed(own, size)}", file=sys.stderr)


def followed(own: tuple[str, ...], size: int) -> str:
    """What the scripts now do with the thread variables, ``own`` being those the
    environment sets itself."""
    if not own:
        return (f"no thread variable is set with `conda env config vars` now: activation "
                f"sets them all to {size} again")
    return (f"{', '.join(own)} set with `conda env config vars` win over threads; activation "
            f"sets the other thread variables to {size}")
