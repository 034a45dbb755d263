"""What ``conda activate PREFIX`` would give a command, computed by conda's own activator.

The one module of ``run/`` that touches conda, and only lazily and optionally: conda is
imported inside the functions, never at module level, and :func:`activation_for` falls back
to the conda-free :func:`~conda_limits.run.activation.from_prefix` where conda is not
importable. Every other module of ``run/`` and ``jupyter/`` imports no conda.
"""

from __future__ import annotations

import os
from pathlib import Path

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
