"""The ``limits_allow_tiny`` setting (conda >= 24.3): accept values below the floors.

``plugins: limits_allow_tiny: true`` in a ``.condarc``, or ``CONDA_PLUGINS_LIMITS_ALLOW_TINY=1``
for one command, lets every command take limit values below what shells and small programs
need (``floors.py``): ``conda env create -f`` and the site defaults, which take no flags of
ours, included. Declared here so that conda validates and describes it; read by
:func:`conda_limits.cli.tiny.allowed`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..limits.floors import FLAG, SETTING, VARIABLE
from . import conda_setting

if TYPE_CHECKING:
    from conda.plugins.types import CondaSetting

DESCRIPTION = (
    "conda-limits: accept limit values below what shells and small programs need (e.g. "
    f"nofile 3, vmem 16M), for experiments. Default false; {VARIABLE}=1 turns it on for "
    f"one command, {FLAG} for one `conda limits set`, `apply` or `conda run-limited`."
)


def settings() -> Iterator[CondaSetting]:
    """The ``CondaSetting`` of the switch, if this conda has settings plugins."""
    return conda_setting(SETTING, DESCRIPTION, False)
