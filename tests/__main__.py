"""The test command: ``python -m tests [PYTEST ARGS]``, from the project root.

Runs pytest with the arguments given. Run as root, it then runs pytest again, with the same
arguments (less the pure parsing and model tests), as an unprivileged user
(``CONDA_LIMITS_TEST_USER``, default ``cl-tester``, which ``.ci/setup`` creates): root ignores
file modes and may raise hard limits, so only an ordinary user shows what the people on
shared servers get. The exit status is that of the first pass that failed (0 when both pass).
Without that user, root's pass alone runs and a line says so; under CI (``CI=true``) that is a
failure.
"""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# A name that no test output holds by chance (tests check that "conda-limits" or "limits" is
# absent from conda's output, which names paths under /tmp/pytest-of-USER).
USER = os.environ.get("CONDA_LIMITS_TEST_USER", "cl-tester")
# Tests of pure parsing and models: who runs them changes nothing, so the second pass skips
# them (a new module not listed here simply runs twice).
SAME_FOR_EVERY_USER = ("test_values.py", "test_model.py", "test_defaults.py", "test_floors.py",
                       "test_yaml_loader.py", "test_recipe.py", "test_ci.py")
NO_TESTS_COLLECTED = 5  # pytest's exit status when the arguments named only skipped modules
# Per-user locations of the caller that must not leak into the other user's run.
PER_USER = ("XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME",
            "XDG_STATE_HOME", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR",
            "IPYTHONDIR", "PYTHONUSERBASE", "MPLCONFIGDIR", "TMPDIR")


def unprivileged_problem(user: str) -> str | None:
    """Why the unprivileged pass cannot run (None: it can)."""
    try:
        pwd.getpwnam(user)
    except KeyError:
        return f"there is no user {user!r} (.ci/setup creates it)"
    readable = subprocess.run(
        ["runuser", "-u", user, "--", sys.executable, "-c",
         f"import os, sys; sys.exit(not os.access({str(ROOT / 'tests')!r}, os.R_OK | os.X_OK))"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    if readable.returncode:
        return (f"user {user!r} cannot run {sys.executable} or read {ROOT} "
                "(every directory above it must be searchable by others)")
    return None


def run_unprivileged(user: str, args: list[str]) -> int:
    environ = {k: v for k, v in os.environ.items() if k not in PER_USER}
    print(f"\n===== the same tests again as the unprivileged user {user!r} =====\n", flush=True)
    # The checkout is root's: no bytecode or pytest cache can be written there by this user.
    skipped = [f"--ignore=tests/{name}" for name in SAME_FOR_EVERY_USER]
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *skipped, *args]
    status = subprocess.run(["runuser", "-u", user, "--", *command], cwd=ROOT, env=environ,
                            check=False).returncode
    return 0 if status == NO_TESTS_COLLECTED else status


def main(args: list[str]) -> int:
    status = int(pytest.main(args))
    if os.geteuid() != 0:
        return status
    problem = unprivileged_problem(USER)
    if problem:
        print(f"\nThe unprivileged pass did not run: {problem}.", file=sys.stderr)
        return status or (1 if os.environ.get("CI") == "true" else 0)
    unprivileged = run_unprivileged(USER, args)
    return status or unprivileged


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
