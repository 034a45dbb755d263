"""A writer of an environment's limits killed (SIGKILL) at every step of its write.

After a kill anywhere, every file is whole (old or new), the record holds the old or the
new limits, whatever disagrees with it is reported (``check``, ``conda doctor``), and the
next write, or ``conda doctor --fix``, leaves scripts that follow the record and no
temporary files.
"""

from __future__ import annotations

import pytest

from conda_limits import health
from conda_limits.limits.model import LimitSet
from conda_limits.state import prefix_files, record

from .writers import (
    expected,
    limits_of,
    record_is_one_of,
    run_writer,
    scripts_follow,
    settled,
)

OLD = {"nofile": 1024, "vmem": "8G"}
NEW = {"nofile": 2048, "data": "4G"}
SCENARIOS = {
    "change": (OLD, NEW),  # existing limits changed
    "create": (None, NEW),  # the first limits of an environment
    "remove": (OLD, None),  # `conda limits unset --all`
}


@pytest.fixture
def prefix(tmp_path):
    (tmp_path / "conda-meta").mkdir()
    return tmp_path


def start_from(prefix, old) -> LimitSet:
    if old is not None:
        prefix_files.write(prefix, limits_of(old))
    return record.read(prefix)


def after(before: LimitSet, new) -> LimitSet:
    return LimitSet() if new is None else before.merged(limits_of(new))


def every_kill(prefix_factory, old, new):
    """(step, prefix) for a fresh environment killed at each step of the write in turn,
    up to the first step count the write finishes within."""
    step = 1
    while True:
        prefix = prefix_factory(step)
        start_from(prefix, old)
        code = run_writer(prefix, new, kill_at=step)
        yield step, prefix, code
        if code == 0:
            return
        step += 1


def whole(prefix, old: LimitSet, new: LimitSet) -> None:
    """Every script on disk is the old or the new one: nothing is torn."""
    for path in prefix_files.script_paths(prefix):
        if path.exists():
            rel = str(path.relative_to(prefix))
            choices = {expected(old).get(rel), expected(new).get(rel)}
            assert path.read_bytes() in choices, rel


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_a_kill_at_any_step_is_noticed_and_repaired(tmp_path, scenario):
    """Repaired by the next write after odd steps, by `conda doctor --fix` after even ones."""
    old_values, new_values = SCENARIOS[scenario]
    old = limits_of(old_values or {})
    new = after(old, new_values)
    seen_out_of_step = 0
    for step, prefix, code in every_kill(lambda n: tmp_path / f"kill{n}", old_values,
                                         new_values):
        current = record_is_one_of(prefix, old, new)
        whole(prefix, old, new)
        state = prefix_files.check(prefix)
        if code == 0:
            assert state.in_step and current == new
            assert step > 5  # the write had steps to be killed at
            break
        in_step = scripts_follow(prefix, current) and not prefix_files.leftovers(prefix)
        assert state.in_step == in_step, (step, state)
        seen_out_of_step += not in_step
        report = health.diagnose(prefix)
        assert bool(report.fixable) == (not in_step), (step, report.findings)
        if step % 2:
            assert run_writer(prefix, new_values) == 0  # the same change again
            assert settled(prefix) == new
        else:
            health.fix_scripts(prefix)
            assert settled(prefix) == current
            assert health.diagnose(prefix).findings == ()
    assert seen_out_of_step >= 2


def test_the_record_changes_first_and_activate_scripts_never_outlive_deactivate_ones(prefix):
    from conda_limits.state import atomicfile

    seen: list[str] = []
    atomicfile.on_step = seen.append
    try:
        prefix_files.write(prefix, limits_of(NEW))
        written = [s.split(":")[0] for s in seen if s.endswith("renamed into place")]
        seen.clear()
        prefix_files.write(prefix, LimitSet())
        removed = [s.split(":")[0] for s in seen if s.endswith("moved aside")]
    finally:
        atomicfile.on_step = None
    families = [f"zz-conda-limits{suffix}" for suffix in (".sh", ".fish", ".csh")]
    assert written == ["conda/limits.yml", *(f"deactivate.d/{n}" for n in families),
                       *(f"activate.d/{n}" for n in families)]
    assert removed == ["conda/limits.yml", *(f"activate.d/{n}" for n in families),
                       *(f"deactivate.d/{n}" for n in families)]
