"""After ``conda env config vars set/unset``: the activation scripts follow the variables.

A thread variable the environment sets itself wins over ``threads`` (see
:mod:`conda_limits.shells.cpu`); the scripts are written knowing which ones those are, so
they are written again when ``conda env config vars`` changes them. A failure never fails
conda's command: it is one line, and ``conda doctor --fix`` repairs it later.
"""

from __future__ import annotations

import sys
from pathlib import Path


def after_env_vars(command: str) -> None:
    from conda.base.context import context

    from ..errors import LimitsError
    from ..printable import shown
    from ..state import locking, prefix_files, record

    prefix = Path(context.target_prefix)
    if not record.record_path(prefix).exists():
        return
    try:
        with locking.environment(prefix):
            state = prefix_files.check(prefix)
            size = state.limits.cpu.pool_size()
            if state.error is not None or size is None or not state.out_of_date:
                return
            prefix_files.write(prefix, state.limits)
            own = prefix_files.own_pool_variables(prefix, state.limits)
    except (LimitsError, OSError) as error:
        print(f"conda-limits: the activation scripts of {shown(prefix)} could not follow the "
              f"environment's variables ({error}); run `conda doctor --fix -p "
              f"{shown(prefix)}`", file=sys.stderr)
        return
    print(f"conda-limits: activation scripts updated: {followed(own, size)}", file=sys.stderr)


def followed(own: tuple[str, ...], size: int) -> str:
    """What the scripts now do with the thread variables, ``own`` being those the
    environment sets itself."""
    if not own:
        return (f"no thread variable is set with `conda env config vars` now: activation "
                f"sets them all to {size} again")
    return (f"{', '.join(own)} set with `conda env config vars` win over threads; activation "
            f"sets the other thread variables to {size}")
