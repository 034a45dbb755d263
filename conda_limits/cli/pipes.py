"""A closed standard output (``conda limits show | head -1``) ends a command quietly.

``git`` and ``ls`` die of SIGPIPE there, which the shell reports as 141 and nobody sees;
Python raises ``BrokenPipeError`` instead, which conda would report as an unexpected error
with a traceback. :func:`quiet_when_closed` turns it into the same silent exit status.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager

#: The exit status of a command that SIGPIPE ended, as a shell reports it.
CLOSED = 128 + signal.SIGPIPE


class OutputClosed(Exception):
    """Standard output was closed by its reader; :attr:`status` is the exit status."""

    status = CLOSED


@contextmanager
def quiet_when_closed() -> Iterator[None]:
    """Flush standard output at the end of the block; a reader that went away raises
    :class:`OutputClosed`, with nothing more written to standard output (or by Python at
    exit, which would complain about the unflushed rest)."""
    try:
        yield
        if sys.stdout is not None:  # None: started with no standard output at all
            sys.stdout.flush()
    except BrokenPipeError:
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        except (AttributeError, OSError, ValueError):  # no descriptor: nothing flushes to it
            pass
        raise OutputClosed from None
