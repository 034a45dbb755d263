"""The ``limits_mem_backend`` setting (conda >= 24.3): which backend enforces ``--mem``.

``plugins: limits_mem_backend: watch`` in a ``.condarc`` (or ``conda config --set
plugins.limits_mem_backend cgroup-v1``) makes ``conda run-limited`` and Jupyter kernels use
that backend only (see :mod:`conda_limits.system.memory_cap`); ``auto`` (the default) tries
them all in order. ``--mem-backend`` and ``CONDA_LIMITS_MEM_BACKEND`` win over it. Declared
here so that conda validates and describes it; read through
:func:`conda_limits.run.conda_env.plugin_text`, which does not need conda's plugins loaded.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..system.memory_cap import AUTO, NAMES, SETTING, VARIABLE
from . import conda_setting

if TYPE_CHECKING:
    from conda.plugins.types import CondaSetting

DESCRIPTION = (
    "conda-limits: which backend enforces a resident-memory cap (--mem): "
    f"{', '.join(NAMES)}. Default {AUTO}: a systemd scope, a cgroup v2, a cgroup v1, else "
    f"watching the command's memory. {VARIABLE} or `conda run-limited --mem-backend` win."
)


def settings() -> Iterator[CondaSetting]:
    """The ``CondaSetting``, if this conda has settings plugins."""
    return conda_setting(SETTING, DESCRIPTION, AUTO)
