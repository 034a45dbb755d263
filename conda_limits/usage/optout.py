"""Whether a run is recorded: on by default, off per run, per environment or per user.

* per run: ``conda run-limited --no-record``, or ``CONDA_LIMITS_NO_RECORD=1`` in the
  environment of the command (or of the Jupyter server, for kernels);
* per environment: the marker file ``$PREFIX/etc/conda/limits-usage.off`` (``conda limits
  usage --disable`` writes it, ``--enable`` removes it); it is copied with the environment;
* per user: ``plugins: limits_record_usage: false`` in a ``.condarc`` (read by the conda glue
  and handed in as ``configured``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

VARIABLE = "CONDA_LIMITS_NO_RECORD"
MARKER = Path("etc", "conda", "limits-usage.off")
SETTING = "limits_record_usage"
MARKER_TEXT = ("# conda-limits records no usage of this environment while this file exists.\n"
               "# `conda limits usage --enable` removes it.\n")
_ON = ("", "0", "false", "no")


def marker(prefix: str | os.PathLike[str]) -> Path:
    return Path(prefix) / MARKER


def off_reason(prefix: str | os.PathLike[str], environ: Mapping[str, str] | None = None, *,
               configured: bool = True, flag: bool = False) -> str | None:
    """Why runs of ``prefix`` are not recorded now, or None when they are.

    ``flag``: ``--no-record`` was given; ``configured``: the user's .condarc setting.
    """
    environ = os.environ if environ is None else environ
    if flag:
        return "--no-record was given"
    if environ.get(VARIABLE, "").strip().lower() not in _ON:
        return f"{VARIABLE} is set"
    if not configured:
        return f"plugins.{SETTING} is false in conda's configuration"
    if os.path.lexists(marker(prefix)):
        return f"recording is off for this environment ({marker(prefix)})"
    return None


def disable(prefix: str | os.PathLike[str]) -> bool:
    """Turn recording off for the environment; return whether it was on."""
    from ..state.atomicfile import write_text

    path = marker(prefix)
    if os.path.lexists(path):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, MARKER_TEXT)
    return True


def enable(prefix: str | os.PathLike[str]) -> bool:
    """Turn recording on again for the environment; return whether it was off."""
    from ..state.atomicfile import remove

    return remove(marker(prefix))
