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

from ..errors import LimitsError
from ..printable import shown

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


class SwitchRefused(LimitsError):
    """The environment's recording switch cannot be changed by this user; nothing changed."""

    def __init__(self, prefix: str | os.PathLike[str], on: bool, error: OSError) -> None:
        self.error = error
        super().__init__(
            f"Cannot turn recording {'on' if on else 'off'} for the environment at "
            f"{shown(prefix)}: {error.strerror or error}"
            + (" (only a user who may write the environment can)"
               if isinstance(error, PermissionError) else "")
            + f". Nothing was changed. To record none of your own runs: {VARIABLE}=1, or "
            f"`conda config --set plugins.{SETTING} false`.")


def disable(prefix: str | os.PathLike[str]) -> bool:
    """Turn recording off for the environment; return whether it was on. Raises
    :class:`SwitchRefused` when the marker cannot be written."""
    from ..state.atomicfile import write_text

    path = marker(prefix)
    if os.path.lexists(path):
        return False
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(path, MARKER_TEXT)
    except OSError as error:
        raise SwitchRefused(prefix, False, error) from None
    return True


def enable(prefix: str | os.PathLike[str]) -> bool:
    """Turn recording on again for the environment; return whether it was off. Raises
    :class:`SwitchRefused` when the marker cannot be removed."""
    from ..state.atomicfile import remove

    try:
        return remove(marker(prefix))
    except OSError as error:
        raise SwitchRefused(prefix, True, error) from None
