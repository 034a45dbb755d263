"""conda-limits' settings in conda's configuration (conda >= 24.3), under ``plugins:``:

- ``limits_defaults``: the limits of every environment created from now on (read by
  :func:`conda_limits.hooks.site_defaults.configured`);
- ``limits_record_usage``: a user's switch for the usage log (see
  :mod:`conda_limits.usage.optout`; read through :func:`conda_limits.run.conda_env.plugin_flag`,
  which does not need conda's plugins loaded: a kernel starts without them);
- ``limits_allow_tiny``: accept limit values below what shells and small programs need
  (``floors.py``), also where no flag of ours can say so: ``conda env create -f`` and the site
  defaults (read by :func:`conda_limits.cli.tiny.allowed`);
- ``limits_mem_backend``: which backend enforces ``--mem`` (see
  :mod:`conda_limits.system.memory_cap`; ``--mem-backend`` and ``CONDA_LIMITS_MEM_BACKEND`` win
  over it; read through :func:`conda_limits.run.conda_env.plugin_text`).

Declared here (with the builder of :mod:`conda_limits.hooks`) so that conda validates them
and ``conda config --describe`` lists them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..limits.defaults import OPT_OUT
from ..limits.defaults import SETTING as DEFAULTS
from ..limits.floors import FLAG
from ..limits.floors import SETTING as ALLOW_TINY
from ..limits.floors import VARIABLE as ALLOW_TINY_VARIABLE
from ..system.memory_cap import AUTO, NAMES
from ..system.memory_cap import SETTING as MEM_BACKEND
from ..system.memory_cap import VARIABLE as MEM_BACKEND_VARIABLE
from ..usage.optout import SETTING as RECORD_USAGE
from ..usage.optout import VARIABLE as NO_RECORD_VARIABLE
from . import conda_setting

if TYPE_CHECKING:
    from conda.plugins.types import CondaSetting

DEFAULTS_DESCRIPTION = (
    "conda-limits: default resource limits of every environment created from now on, e.g. "
    "{vmem: 4G, nofile: 1024}. Names and values as in environment.yml's `limits:` "
    "(soft limits only); an environment.yml's own limits win. "
    f"{OPT_OUT}=1 (or =vmem,nofile) skips them for one command."
)
RECORD_USAGE_DESCRIPTION = (
    "conda-limits: record what `conda run-limited` commands and Jupyter kernels of limited "
    "environments use (one line per run in the environment's usage log, for `conda limits "
    f"usage` and `conda limits suggest`). Default true; {NO_RECORD_VARIABLE}=1 skips one run."
)
ALLOW_TINY_DESCRIPTION = (
    "conda-limits: accept limit values below what shells and small programs need (e.g. "
    f"nofile 3, vmem 16M), for experiments. Default false; {ALLOW_TINY_VARIABLE}=1 turns it "
    f"on for one command, {FLAG} for one `conda limits set`, `apply` or `conda run-limited`."
)

MEM_BACKEND_DESCRIPTION = (
    "conda-limits: which backend enforces a resident-memory cap (--mem): "
    f"{', '.join(NAMES)}. Default {AUTO}: a systemd scope, a cgroup v2, a cgroup v1, else "
    f"watching the command's memory. {MEM_BACKEND_VARIABLE} or `conda run-limited "
    "--mem-backend` win."
)


def settings() -> Iterator[CondaSetting]:
    """The ``CondaSetting`` of each, if this conda has settings plugins."""
    # A plain value per limit: conda's configuration types cannot hold a value that is
    # either a scalar or a {soft, hard} mapping.
    yield from conda_setting(DEFAULTS, DEFAULTS_DESCRIPTION, mapping=True)
    yield from conda_setting(RECORD_USAGE, RECORD_USAGE_DESCRIPTION, True)
    yield from conda_setting(ALLOW_TINY, ALLOW_TINY_DESCRIPTION, False)
    yield from conda_setting(MEM_BACKEND, MEM_BACKEND_DESCRIPTION, AUTO)
