"""Files and folders made unwritable for a test, also for root (``chattr +i``)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def read_only(*paths: Path) -> Iterator[None]:
    """Make ``paths`` unwritable for the duration of the block (root: immutable; others:
    without write permission), then give them back their modes."""
    root = os.geteuid() == 0
    modes = {path: path.stat().st_mode & 0o7777 for path in paths}
    for path in paths:
        if root:
            if subprocess.run(["chattr", "+i", str(path)], capture_output=True,
                              check=False).returncode:
                pytest.skip("running as root and chattr +i is not permitted here")
        else:
            path.chmod(modes[path] & ~0o222)
    try:
        yield
    finally:
        for path in paths:
            if root:
                subprocess.run(["chattr", "-i", str(path)], check=True)
            else:
                path.chmod(modes[path])
