"""The ``.csh`` activation scripts in a real tcsh; limits read by a child (``cat``).

The scenarios (exact values, conda's order, 1000 cycles, ceilings, hard limits, refusals, a
nested tcsh deactivating what bash activated) are in
:class:`tests.shells.harness.ActivationScenarios`.
"""

from __future__ import annotations

import pytest

from .harness import TCSH, ActivationScenarios

pytestmark = pytest.mark.shell


@pytest.fixture
def shell():
    return TCSH.required()


class TestCshScenarios(ActivationScenarios):
    pass

