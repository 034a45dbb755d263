"""Signal names as conda-limits writes them: ``SIGKILL`` for 9, ``signal 99`` for a number
the system has no name for (lines on stderr, ``--report``, the usage log)."""

from __future__ import annotations

import signal


def signal_name(number: int) -> str:
    """``SIGKILL`` for 9."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
