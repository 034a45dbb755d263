"""The health of an environment's limits (``conda doctor``'s findings), without conda."""

from __future__ import annotations

import resource

import pytest

from conda_limits import health
from conda_limits.health import Kind
from conda_limits.limits.model import parse_limits
from conda_limits.state import prefix_files, record


@pytest.fixture
def env(tmp_path):
    (tmp_path / "conda-meta").mkdir()
    return tmp_path


def kinds(report: health.Report) -> list[Kind]:
    return [finding.kind for finding in report.findings]


def test_no_limits_no_findings(env):
    report = health.diagnose(env)
    assert report.findings == () and not report.limits


def test_limits_with_their_scripts_are_healthy(env):
    limits = parse_limits({"data": "4G", "stack": "8M"})
    prefix_files.write(env, limits)
    report = health.diagnose(env)
    assert report.limits == limits
    assert report.findings == ()


def test_missing_and_stale_scripts_are_found_and_fixed(env):
    limits = parse_limits({"data": "4G"})
    prefix_files.write(env, limits)
    activate, deactivate = (p for p in prefix_files.script_paths(env) if p.suffix == ".sh")
    activate.write_text(activate.read_text().replace("4294967296", "1073741824"))
    deactivate.unlink()

    report = health.diagnose(env)
    assert kinds(report) == [Kind.STALE, Kind.STALE]
    missing, stale = report.findings
    assert missing.paths == (deactivate,) and "missing" in missing.message
    assert stale.paths == (activate,) and "out of date" in stale.message
    assert all(f.fixable for f in report.findings)

    changed = health.fix_scripts(env)
    assert set(changed) == {activate, deactivate}
    assert health.diagnose(env).findings == ()
    assert "4294967296" in activate.read_text()


def test_scripts_without_a_record_are_orphans_and_fix_removes_them(env):
    prefix_files.write(env, parse_limits({"nofile": 64}))
    record.record_path(env).unlink()

    report = health.diagnose(env)
    assert kinds(report) == [Kind.ORPHAN]
    assert set(report.findings[0].paths) == set(prefix_files.script_paths(env))
    assert "no limits are recorded" in report.findings[0].message

    health.fix_scripts(env)
    assert not any(p.exists() for p in prefix_files.script_paths(env))
    assert health.diagnose(env).findings == ()


def test_a_broken_record_is_reported_not_fixed(env):
    path = record.record_path(env)
    path.parent.mkdir(parents=True)
    path.write_text("limits: {vmem: 4Q}\n")

    report = health.diagnose(env)
    assert kinds(report) == [Kind.RECORD]
    finding = report.findings[0]
    assert not finding.fixable
    assert "vmem" in finding.message and str(path) in finding.hint
    with pytest.raises(record.RecordError):
        health.fix_scripts(env)
    assert path.read_text() == "limits: {vmem: 4Q}\n"


def test_value_above_the_hard_ceiling():
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY:
        pytest.skip("the open-files hard limit is unlimited here: nothing can be above it")
    findings = health.ceiling_findings(parse_limits({"nofile": hard + 1, "stack": "8M"}),
                                       "-n ai_env")
    assert [f.kind for f in findings] == [Kind.CEILING]
    assert f"{hard + 1}" in findings[0].message and f"({hard})" in findings[0].message
    assert "`conda limits set -n ai_env --nofile VALUE`" in findings[0].hint
    assert health.ceiling_findings(parse_limits({"nofile": hard}), "-n ai_env") == []


def installs(env, *conda: str, pip: tuple[str, ...] = ()) -> None:
    for name in conda:
        (env / "conda-meta" / f"{name}.json").write_text("{}")
    site = env / "lib" / "python3.12" / "site-packages"
    for name in pip:
        (site / f"{name}.dist-info").mkdir(parents=True)


def test_installed_names_from_conda_meta_and_dist_info(env):
    installs(env, "python-dateutil-2.9.0-pyhd8ed1ab_0", "cuda-cudart-12.4.127-h0_2",
             "no_version", pip=("nvidia_cublas_cu12-12.4.5.8", "Torch-2.5.1"))
    assert health.installed_names(env) == {"python-dateutil", "cuda-cudart",
                                           "nvidia-cublas-cu12", "torch"}


def test_gpu_packages(env):
    installs(env, "pytorch-2.5.1-cuda126_py312h0_0", "libcurl-8.11.0-h0_0",
             "numpy-2.1.3-py312h0_0", "jaxlib-0.4.35-cuda126py312h0_0",
             pip=("tensorflow-2.18.0",))
    assert health.gpu_packages(env) == ["jaxlib", "pytorch", "tensorflow"]


def test_vmem_with_gpu_packages_suggests_data_or_mem(env):
    installs(env, "pytorch-2.5.1-cuda126_py312h0_0", "cuda-version-12.6-h7480c83_3")
    prefix_files.write(env, parse_limits({"vmem": "16G"}))

    report = health.diagnose(env)
    assert kinds(report) == [Kind.VMEM_GPU]
    finding = report.findings[0]
    assert "cuda-version, pytorch" in finding.message and "16 GiB" in finding.message
    assert f"`conda limits set -p {env} --data 16G`" in finding.hint
    assert f"`conda run-limited -p {env} --mem 16G`" in finding.hint
    assert not finding.fixable


@pytest.mark.parametrize("limits", [{"data": "16G"}, {"vmem": "unlimited"}, {}])
def test_no_gpu_finding_without_a_finite_vmem(env, limits):
    installs(env, "pytorch-2.5.1-cuda126_py312h0_0")
    assert health.vmem_gpu_findings(parse_limits(limits), health.gpu_packages(env), "-n x") == []


def test_no_gpu_finding_without_gpu_packages(env):
    installs(env, "numpy-2.1.3-py312h0_0", pip=("requests-2.32.3",))
    assert health.vmem_gpu_findings(parse_limits({"vmem": "4G"}),
                                    health.gpu_packages(env), "-n x") == []
