"""Kill points for the tests' writer processes (never installed with conda-limits).

``tests/writers.py`` puts this folder on the ``PYTHONPATH`` of a process it starts with
``CONDA_LIMITS_TEST_KILL_AT_STEP=N``: Python imports this module at start-up, and the process
kills itself with ``SIGKILL`` at its N-th write step
(:func:`conda_limits.state.atomicfile.step`), as a power cut or ``kill -9`` would.
"""

from __future__ import annotations

import os
import signal

VARIABLE = "CONDA_LIMITS_TEST_KILL_AT_STEP"


def _install(at: int) -> None:
    from conda_limits.state import atomicfile

    steps = 0

    def count(what: str) -> None:
        nonlocal steps
        steps += 1
        if steps == at:
            os.kill(os.getpid(), signal.SIGKILL)

    atomicfile.on_step = count


if os.environ.get(VARIABLE):
    _install(int(os.environ[VARIABLE]))
