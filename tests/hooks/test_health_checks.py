"""``conda doctor``'s ``limits`` check and ``conda doctor --fix``, through the real conda CLI."""

from __future__ import annotations

import pytest

from conda_limits.state import prefix_files, record

from ..conftest import requires_conda

pytestmark = requires_conda


@pytest.fixture
def doctor(conda_cli):
    """Run ``conda doctor`` on a prefix: only the ``limits`` check where conda can choose."""
    from conda_limits.hooks.health_checks import has_fixer

    def run(prefix, *extra):
        names = ("limits",) if has_fixer() else ()  # check names and --fix: conda >= 26.1
        return conda_cli("doctor", "-p", prefix, *names, *extra)

    return run


@pytest.fixture
def needs_fixer():
    from conda_limits.hooks.health_checks import has_fixer

    if not has_fixer():
        pytest.skip("this conda's health checks take no fixer (conda doctor --fix: 26.1+)")


def scripts(prefix):
    return [p for p in prefix_files.script_paths(prefix) if p.suffix == ".sh"]


def test_healthy_environments(conda_cli, tmp_env, doctor):
    with tmp_env() as prefix:
        out, err, code = doctor(prefix)
        assert not code, err  # conda < 26.1 returns None
        assert "No resource limits are set for this environment." in out

        conda_cli("limits", "set", "-p", prefix, "--data", "2G", "--stack", "8M")
        out, _, _ = doctor(prefix)
        assert "The resource limits (data 2 GiB, stack 8 MiB) are recorded" in out
        # (conda < 26.1 runs its own checks too: the REQUESTS_CA_BUNDLE one fails offline)
        assert "\N{CROSS MARK} Resource limits" not in out


def break_scripts(conda_cli, prefix):
    """Limits with one script edited and the other deleted; returns them and the fresh text."""
    conda_cli("limits", "set", "-p", prefix, "--data", "2G")
    activate, deactivate = scripts(prefix)
    fresh = activate.read_text()
    activate.write_text(fresh + "ulimit -S -n 3\n")
    deactivate.unlink()
    return activate, deactivate, fresh


def test_stale_and_missing_scripts_reported(conda_cli, tmp_env, doctor):
    from conda_limits.hooks.health_checks import has_fixer

    with tmp_env() as prefix:
        activate, deactivate, _ = break_scripts(conda_cli, prefix)
        out, _, code = doctor(prefix, "--verbose")
        assert not code
        assert "1 activation script is missing" in out and str(deactivate) in out
        assert "1 activation script is out of date" in out and str(activate) in out
        if has_fixer():
            assert f"run `conda doctor -p {prefix} --fix`" in out
        else:
            assert f"set any limit again with `conda limits set -p {prefix}`" in out


def test_stale_and_missing_scripts_fixed(conda_cli, tmp_env, doctor, needs_fixer):
    with tmp_env() as prefix:
        activate, deactivate, fresh = break_scripts(conda_cli, prefix)
        out, _, code = doctor(prefix, "--fix", "--dry-run")
        assert "ulimit -S -n 3" in activate.read_text() and not deactivate.exists()

        out, _, code = doctor(prefix, "--fix", "--yes")
        assert code == 0
        assert f"Rewrote {activate}" in out and f"Rewrote {deactivate}" in out
        assert activate.read_text() == fresh and deactivate.exists()
        out, _, _ = doctor(prefix)
        assert "are recorded and their activation scripts are up to date" in out


def test_orphan_scripts_removed_by_fix(conda_cli, tmp_env, doctor, needs_fixer):
    with tmp_env() as prefix:
        conda_cli("limits", "set", "-p", prefix, "--nofile", "256")
        record.record_path(prefix).unlink()
        out, _, _ = doctor(prefix)
        assert "present, but no limits are recorded" in out

        out, _, code = doctor(prefix, "--fix", "--yes")
        assert code == 0 and "Removed" in out
        assert not any(p.exists() for p in scripts(prefix))


def test_vmem_in_a_cuda_environment(conda_cli, tmp_env, doctor):
    with tmp_env() as prefix:
        # The package names as conda records them; the check reads names, not contents.
        (prefix / "conda-meta" / "pytorch-2.5.1-cuda126_py312h0_0.json").write_text("{}")
        conda_cli("limits", "set", "-p", prefix, "--vmem", "8G")
        out, _, code = doctor(prefix)
        assert not code
        assert "vmem (8 GiB) limits address space" in out and "(pytorch)" in out
        assert f"conda limits set -p {prefix} --data 8G" in out
        assert f"conda run-limited -p {prefix} --mem 8G" in out


def test_value_above_the_hard_ceiling(conda_cli, tmp_env, doctor):
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY:
        pytest.skip("the open-files hard limit is unlimited here: nothing can be above it")
    with tmp_env() as prefix:
        conda_cli("limits", "set", "-p", prefix, "--nofile", str(hard * 2))
        out, _, _ = doctor(prefix)
        assert f"nofile soft value {hard * 2} is above the current hard limit ({hard})" in out


def test_listed_with_its_fix(conda_cli, needs_fixer):
    out, _, code = conda_cli("doctor", "--list")
    assert code == 0
    assert "  limits: Detect stale conda-limits scripts" in out
    assert "(fix: Rewrite conda-limits' activation scripts" in out
