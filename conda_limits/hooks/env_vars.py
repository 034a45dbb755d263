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
    from ..state import prefix_files, record

    prefix = Path(context.target_prefix)
    if not record.record_path(prefix).exists():
        return
    try:
        state = prefix_files.check(prefix)
        if state.error is not None or state.limits.cpu.pool_size() is None:
            return
        if not state.out_of_date:
            return
        prefix_files.write(prefix, state.limits)
    except (LimitsError, OSError) as error:
        print(f"conda-limits: the activation scripts of {prefix} could not follow the "
              f"environment's variables ({error}); run `conda doctor --fix -p {prefix}`",
              file=sys.stderr)
        return
    print("conda-limits: activation scripts updated: variables set with `conda env config "
          "vars` win over threads", file=sys.stderr)
