"""conda-limits: per-environment resource limits for conda environments."""

try:
    from ._version import __version__
except ImportError:  # running from a source tree that was never built
    __version__ = "0.0.0"
