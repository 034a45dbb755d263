"""The base error of conda-limits' conda-free core.

Every exception the core raises on purpose (a bad value, a broken record or file, a command
that cannot run) derives from :class:`LimitsError`, and carries from where it is raised what a
user reads about it: the problem (``str(error)``), what to do about it (:attr:`~LimitsError.hint`)
and, through :meth:`~LimitsError.report`, the whole text. Its :attr:`~LimitsError.kind` says which
of conda's error types reports it; the conda glue does only that translation
(``cli/exceptions.py``). This module imports nothing.
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


class Kind(Enum):
    """What kind of failure an error is: conda reports each kind with its own error type."""

    GENERAL = "general"
    RECORD = "record"  # an environment's limits record cannot be read
    WRITE = "write"  # an environment's files cannot be written
    FILE = "file"  # an environment.yml
    DEFAULTS = "defaults"  # the site defaults in conda's configuration
    KERNEL = "kernel"  # a Jupyter kernelspec
    RUN = "run"  # a command that could not be started


class LimitsError(Exception):
    """A problem the core reports to the user: the message says what is wrong, in one line or
    a few, without a traceback."""

    kind = Kind.GENERAL
    #: What failed, said before the problem ("": the problem says it).
    heading = ""
    #: What the user can do about it ("": the message says all).
    hint = ""
    #: The exit status of a command that it stops.
    status = 1

    def report(self, prefix: Path | None = None) -> str:
        """The whole text a user reads: the heading and the problem, then the hint on a line
        of its own (``prefix``: the environment the command was about, when known)."""
        text = f"{self.heading}: {self}." if self.heading else str(self)
        return f"{text}\n{self.hint}" if self.hint else text


class NotWritable(LimitsError):
    """An environment's files that cannot be written; nothing was changed. conda reports
    the environment and the reason as facts of its own."""

    kind = Kind.WRITE

    def __init__(self, prefix: Path, reason: str, message: str) -> None:
        self.prefix = prefix
        self.reason = reason
        super().__init__(message)
