"""What ``conda activate PREFIX`` would give a command, computed by conda's own activator.

The one module of ``run/`` that touches conda, and only lazily and optionally: conda is
imported inside the functions, never at module level, and :func:`activation_for` falls back
to the conda-free :func:`~conda_limits.run.activation.from_prefix` where conda is not
importable. Every other module of ``run/`` and ``jupyter/`` imports no conda.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .activation import Activation, from_prefix


def conda_activation(prefix: Path) -> Activation:
    """What ``conda activate PREFIX`` would do from this process's environment, computed by
    conda's POSIX activator: the variables, and the scripts it would source."""
    from conda.activate import PosixActivator
    from conda.base.context import context

    activator = PosixActivator()
    stack = bool(context.auto_stack) and context.shlvl <= context.auto_stack
    built = (activator.build_stack if stack else activator.build_activate)(str(prefix))
    previous = dict(os.environ)
    environ = dict(previous)
    environ.update({k: str(v) for k, v in built.get("export_path", {}).items()})
    for name in built.get("unset_vars", ()):
        environ[name] = ""  # as conda's POSIX activation does it: export NAME=''
    environ.update({k: str(v) for k, v in built.get("export_vars", {}).items()})
    return Activation(environ, tuple(built.get("activate_scripts", ())),
                      tuple(built.get("deactivate_scripts", ())), previous)


def activation_for(prefix: Path) -> Activation:
    """What ``conda activate PREFIX`` would give a process that conda did not start (a
    Jupyter kernel): conda's own activator with a fresh context if conda is importable,
    else :func:`~conda_limits.run.activation.from_prefix`."""
    try:
        from conda.base.context import reset_context
    except ImportError:
        return from_prefix(prefix)
    reset_context()
    return conda_activation(prefix)


def plugin_flag(name: str, default: bool) -> bool:
    """The boolean setting ``plugins.<name>`` of conda's configuration (its ``.condarc``
    files, then ``CONDA_PLUGINS_<NAME>``); ``default`` where none sets it or conda is not
    importable.

    Read from conda's raw configuration: loading conda's plugins to resolve it would cost a
    Jupyter kernel's start about half a second.
    """
    value = default
    for found in _plugin_values(name):
        parsed = _flag(found)
        if parsed is not None:
            value = parsed
    return value


def plugin_text(name: str) -> str | None:
    """The text setting ``plugins.<name>`` (as :func:`plugin_flag` reads it), or None."""
    value = None
    for found in _plugin_values(name):
        if isinstance(found, str) and found.strip():
            value = found.strip()
    return value


def _plugin_values(name: str) -> list[Any]:
    """The raw values of ``plugins.<name>``, from the lowest-priority source up (empty when
    conda is not importable)."""
    try:
        from conda.base.context import context
    except ImportError:
        return []
    out = []
    for params in context.raw_data.values():
        found = None
        section = params.get("plugins")
        if section is not None:
            inner = section.value(None)
            if isinstance(inner, Mapping) and name in inner:
                found = _raw(inner[name])
        variable = params.get(f"plugins_{name}")
        if variable is not None:
            found = _raw(variable)
        out.append(found)
    return out


def _raw(parameter: Any) -> Any:
    return parameter.value(None) if hasattr(parameter, "value") else parameter


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "yes", "on", "1"):
            return True
        if text in ("false", "no", "off", "0"):
            return False
    return None
