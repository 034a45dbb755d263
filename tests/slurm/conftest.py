"""Fixtures of the Slurm tests: clusters that enforce memory by polling, or keep accounting."""

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


@pytest.fixture(scope="session")
def accounting_cluster():
    """A cluster with accounting: slurmdbd on its own MariaDB server, so that sacct answers."""
    from tests import slurm_cluster

    try:
        cluster = slurm_cluster.start(accounting=True)
    except slurm_cluster.Unavailable as error:
        pytest.skip(f"no Slurm test cluster with accounting: {error}")
    yield cluster
    cluster.stop()
