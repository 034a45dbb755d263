"""CPU settings in a Jupyter kernel started by the launcher (real jupyter_client/ipykernel)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from conda_limits.limits.cpu import Cores
from conda_limits.limits.model import parse_limits
from conda_limits.state import prefix_files
from conda_limits.system import cpu_quota as quota

pytest.importorskip("jupyter_client", reason="jupyter_client is not installed")
pytest.importorskip("ipykernel", reason="ipykernel is not installed")

from ..jupyter.test_launch import install, kenv, start  # noqa: F401 (kenv, start: fixtures)
from .probes import probe

PROBE = probe("'omp': os.environ.get('OMP_NUM_THREADS'), 'cpus': sorted(os.sched_getaffinity(0)), "
              "'cgroup': open('/proc/self/cgroup').read()")


def test_a_kernel_gets_the_thread_variables_and_the_cpu_set(kenv, start):  # noqa: F811
    one = max(os.sched_getaffinity(0))
    prefix_files.write(kenv, parse_limits({"threads": 1, "cpuset": str(one)}))
    install(kenv)
    kernel = start("limited")
    out, _ = kernel.run(PROBE)
    seen = json.loads(out)
    assert seen["omp"] == "1" and seen["cpus"] == [one]
    if "openblas" in seen["pools"]:
        assert seen["pools"]["openblas"] == 1


def test_a_kernel_under_a_cpuset_meant_for_a_bigger_machine_gets_what_this_one_has(
        kenv, start):  # noqa: F811
    allowed = sorted(os.sched_getaffinity(0))
    prefix_files.write(kenv, parse_limits({"cpuset": f"0-{allowed[-1] + 62}"}))
    install(kenv)
    seen = json.loads(start("limited").run(PROBE)[0])
    assert seen["cpus"] == allowed and seen["omp"] == str(len(allowed))  # not 64


def test_a_kernel_under_cores_is_in_a_quota_cgroup_removed_when_it_ends(kenv, start):  # noqa: F811
    try:
        quota.cpu_quota(Cores(50), ("cgroup v2", "cgroup v1")).close()
    except quota.CpuQuotaUnavailable as error:
        pytest.skip(f"no CPU quota directory here: {error}")
    prefix_files.write(kenv, parse_limits({"cores": "0.5"}))
    install(kenv)
    kernel = start("limited")
    out, _ = kernel.run(PROBE)
    seen = json.loads(out)
    assert seen["omp"] == "1"  # the quota rounded up
    line = next(row for row in seen["cgroup"].splitlines()
                if ":cpu:" in row or ":cpu," in row or row.startswith("0::"))
    path = line.split(":", 2)[2].lstrip("/")
    base = Path("/sys/fs/cgroup/cpu") if ":cpu" in line else Path("/sys/fs/cgroup")
    cgroup = base / path
    assert cgroup.name.startswith("conda-limits-")
    assert int((cgroup / "cpu.cfs_quota_us").read_text()) == 50_000
    kernel.stop()
    deadline = time.monotonic() + 30
    while cgroup.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not cgroup.exists()
