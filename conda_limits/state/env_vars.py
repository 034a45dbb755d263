"""The variables an environment sets on activation, read from its files (conda-free).

conda exports them before the activate scripts run: its packages' ``etc/conda/env_vars.d/*``
files, then those set with ``conda env config vars set`` (``conda-meta/state``), which win.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

#: The marker conda stores for a variable that ``conda env config vars unset`` removed.
UNSET_MARKER = "***unset***"


def environment_variables(prefix: str | os.PathLike[str]) -> dict[str, str]:
    """The variables an environment sets on activation: its packages' ``env_vars.d`` files,
    then ``conda env config vars`` (stored in ``conda-meta/state``), which win."""
    prefix = Path(prefix)
    found: dict[str, str] = {}
    try:
        package_files = sorted(p for p in (prefix / "etc" / "conda" / "env_vars.d").iterdir())
    except OSError:
        package_files = []
    for path in [*package_files, prefix / "conda-meta" / "state"]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if path.name == "state":
            data = data.get("env_vars", {}) if isinstance(data, dict) else {}
        if isinstance(data, dict):
            found.update({str(k): str(v) for k, v in data.items()})
    return {k: v for k, v in found.items() if v != UNSET_MARKER}
