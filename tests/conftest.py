"""Shared test configuration.

Tests that need conda use the ``requires_conda`` mark: they run whenever conda is importable
in the interpreter that runs pytest, with conda's own fixtures (``conda_cli``, ``tmp_env``), and
are skipped with the reason otherwise. conda is never faked.
"""

from __future__ import annotations

import collections
import importlib.util
import os

import pytest

HAS_CONDA = importlib.util.find_spec("conda") is not None and importlib.util.find_spec(
    "conda.testing") is not None

requires_conda = pytest.mark.skipif(
    not HAS_CONDA,
    reason="conda is not importable here: run pytest from a conda base environment "
    "(with conda-limits installed) to exercise the conda commands",
)

if HAS_CONDA:
    pytest_plugins = ("conda.testing.fixtures",)


# Set by .ci/run to the conda base its conda passes use: there, a pass without conda leaves
# the conda tests to them (deselected, and said so) instead of skipping them.
IN_CONDA = os.environ.get("CONDA_LIMITS_TESTS_IN_CONDA", "")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The tests that need conda also carry the ``conda`` mark, so that ``-m conda`` picks
    them (CI runs them alone in its older conda)."""
    for item in items:
        if requires_conda.mark in item.iter_markers("skipif"):
            item.add_marker(pytest.mark.conda)
    if IN_CONDA and not HAS_CONDA:
        left = [item for item in items if item.get_closest_marker("conda")]
        if left:
            config.hook.pytest_deselected(items=left)
            items[:] = [item for item in items if not item.get_closest_marker("conda")]
            config.stash[_LEFT_TO_CONDA] = len(left)


_LEFT_TO_CONDA = pytest.StashKey[int]()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Why tests skipped, one line a reason with its count, most frequent first."""
    left = terminalreporter.config.stash.get(_LEFT_TO_CONDA, 0)
    if left:
        terminalreporter.section("tests that need conda")
        terminalreporter.write_line(f"{left} deselected here (conda is not importable): CI runs "
                                    f"them in its conda passes, in {IN_CONDA}")
    reasons: collections.Counter[str] = collections.Counter()
    for report in terminalreporter.stats.get("skipped", []):
        if isinstance(report.longrepr, tuple):
            reasons[report.longrepr[2].removeprefix("Skipped: ")] += 1
    if reasons:
        terminalreporter.section(f"skip reasons ({sum(reasons.values())} skipped)")
        for reason, count in reasons.most_common():
            terminalreporter.write_line(f"{count:5}  {reason}")


@pytest.fixture(scope="session")
def slurm_cluster():
    """A private one-node Slurm cluster (``tests/slurm_cluster.py``), stopped after the
    session; the test is skipped with the reason where none can start (no Slurm, not root)."""
    from tests import slurm_cluster

    try:
        cluster = slurm_cluster.start()
    except slurm_cluster.Unavailable as error:
        pytest.skip(f"no Slurm test cluster: {error}")
    yield cluster
    cluster.stop()
