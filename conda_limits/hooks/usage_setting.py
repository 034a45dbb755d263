"""The ``limits_record_usage`` setting (conda >= 24.3): a user's switch for the usage log.

``plugins: limits_record_usage: false`` in a ``.condarc`` (or ``conda config --set
plugins.limits_record_usage false``) stops ``conda run-limited`` and the Jupyter kernel launcher
from recording runs (see :mod:`conda_limits.usage.optout`). Declared here so that conda
validates and describes it; read through :func:`conda_limits.run.conda_env.plugin_flag`, which
does not need conda's plugins loaded (a kernel starts without them).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..usage.optout import SETTING, VARIABLE
from . import conda_setting

if TYPE_CHECKING:
    from conda.plugins.types import CondaSetting

DESCRIPTION = (
    "conda-limits: record what `conda run-limited` commands and Jupyter kernels of limited "
    "environments use (one line per run in the environment's usage log, for `conda limits "
    f"usage` and `conda limits suggest`). Default true; {VARIABLE}=1 skips one run."
)


def settings() -> Iterator[CondaSetting]:
    """The ``CondaSetting`` of the switch, if this conda has settings plugins."""
    return conda_setting(SETTING, DESCRIPTION, True)


def configured() -> bool:
    """Whether this user's conda configuration lets runs be recorded."""
    from ..run.conda_env import plugin_flag

    return plugin_flag(SETTING, True)
