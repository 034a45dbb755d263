"""Fixtures of the Slurm tests: a second cluster that enforces memory by polling."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def polling_cluster():
    """A cluster that enforces --mem with OverMemoryKill polling instead of cgroups."""
    from tests import slurm_cluster

    try:
        cluster = slurm_cluster.start(memory="OverMemoryKill")
    except slurm_cluster.Unavailable as error:
        pytest.skip(f"no Slurm test cluster: {error}")
    yield cluster
    cluster.stop()
