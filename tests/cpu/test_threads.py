"""The thread-pool variables, checked against what real libraries do with them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conda_limits.limits import threads


def test_every_variable_gets_the_size_and_the_table_names_each_once():
    env = threads.environment(3)
    assert set(env) == set(threads.NAMES) and set(env.values()) == {"3"}
    assert len(threads.NAMES) == len(set(threads.NAMES))
    assert not set(threads.NAMES) & {v.name for v in threads.NOT_SET}
    for required in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                     "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS",
                     "NUMBA_NUM_THREADS", "RAYON_NUM_THREADS", "POLARS_MAX_THREADS",
                     "LOKY_MAX_CPU_COUNT", "PYTHON_CPU_COUNT"):
        assert required in env
    with pytest.raises(ValueError):
        threads.environment(0)


def test_variables_set_for_the_environment_win_and_are_named():
    assert threads.overridden({"OMP_NUM_THREADS": "8", "OTHER": "1"}) == ["OMP_NUM_THREADS"]


POOLS = """\
import json, threadpoolctl, numpy
print(json.dumps({i["internal_api"]: i["num_threads"] for i in threadpoolctl.threadpool_info()}))
"""


def pools(env: dict[str, str]) -> dict[str, int]:
    pytest.importorskip("threadpoolctl")
    pytest.importorskip("numpy")
    clean = {k: v for k, v in os.environ.items() if k not in threads.NAMES}
    out = subprocess.run([sys.executable, "-c", POOLS], env={**clean, **env},
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def test_numpys_openblas_takes_the_size_from_the_variables():
    found = pools(threads.environment(1))
    assert found.get("openblas") == 1, found
    if os.cpu_count() > 1:  # without them, a thread per CPU
        assert pools({})["openblas"] > 1


def python_313() -> str:
    """A Python 3.13 or newer: this one, or one on PATH; else skip."""
    if sys.version_info >= (3, 13):
        return sys.executable
    for name in ("python3.14", "python3.13"):
        found = shutil.which(name)
        if found and subprocess.run([found, "-c", ""], capture_output=True,
                                    check=False).returncode == 0:
            return found
    pytest.skip("PYTHON_CPU_COUNT is read by Python 3.13+, and none is on PATH")


def test_python_reports_the_size_as_its_cpu_count():
    code = "import os; print(os.cpu_count(), os.process_cpu_count())"
    out = subprocess.run([python_313(), "-c", code],
                         env={**os.environ, **threads.environment(1)}, capture_output=True,
                         text=True, check=True).stdout
    assert out == "1 1\n"


def test_the_docs_cpu_page_lists_every_variable_and_every_one_left_alone():
    page = (Path(__file__).parents[2] / "docs" / "cpu.md").read_text()
    listed = [line.split("`")[1] for line in page.splitlines() if line.startswith("| `")
              and line.split("`")[1].isupper()]
    assert listed == list(threads.NAMES)
    for variable in threads.NOT_SET:
        for name in variable.name.split(", "):
            assert f"`{name}`" in page
