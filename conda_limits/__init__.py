"""conda-limits: per-environment resource limits for conda environments.

conda imports this package (for :mod:`conda_limits.plugin`) on nearly every command, so it
imports nothing itself: ``__version__`` is read on first use.
"""

from __future__ import annotations


def __getattr__(name: str) -> str:
    if name == "__version__":
        try:
            from ._version import __version__
        except ImportError:  # a source tree that was never built
            return "0.0.0"
        return str(__version__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
