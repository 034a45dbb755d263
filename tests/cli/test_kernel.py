"""``conda limits kernel install/list/remove`` through the real conda CLI."""

from __future__ import annotations

import json
import sys

import pytest

from conda_limits.limits.model import parse_limits
from conda_limits.state import prefix_files

from ..conftest import requires_conda
from ..jupyter.test_launch import Kernel, make_env

pytestmark = requires_conda


@pytest.fixture
def jupyter_data(tmp_path, monkeypatch):
    data = tmp_path / "jupyter-data"
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(data))
    monkeypatch.setenv("JUPYTER_PATH", str(data))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    return data


def test_install_list_start_remove(conda_cli, tmp_path, jupyter_data):
    pytest.importorskip("jupyter_client", reason="jupyter_client is not installed")
    prefix = make_env(tmp_path)
    prefix_files.write(prefix, parse_limits({"nofile": 333}))
    out, err, code = conda_cli("limits", "kernel", "install", "-p", prefix,
                               "--kernel-name", "ai-limited", "--display-name", "AI (limited)")
    assert code == 0, err
    spec_dir = jupyter_data / "kernels" / "ai-limited"
    assert f"Installed kernelspec ai-limited in {spec_dir}" in out
    spec = json.loads((spec_dir / "kernel.json").read_text())
    assert spec["argv"][0] == sys.executable and spec["display_name"] == "AI (limited)"

    out, _, _ = conda_cli("limits", "kernel", "list", "--json")
    assert json.loads(out)["kernels"] == [{"name": "ai-limited", "path": str(spec_dir),
                                           "prefix": str(prefix),
                                           "display_name": "AI (limited)"}]
    out, _, _ = conda_cli("limits", "kernel", "list")
    assert "ai-limited" in out and str(prefix) in out

    kernel = Kernel("ai-limited")
    try:
        out, _ = kernel.run("import resource; print(resource.getrlimit(resource.RLIMIT_NOFILE)[0])")
        assert out.strip() == "333"
    finally:
        kernel.stop()

    out, _, code = conda_cli("limits", "kernel", "remove", "ai-limited")
    assert code == 0 and "Removed kernelspec ai-limited" in out
    assert not spec_dir.exists()


def test_install_errors_change_nothing(conda_cli, tmp_path, jupyter_data):
    from conda.exceptions import EnvironmentLocationNotFound

    from conda_limits.cli.exceptions import KernelInstallError

    conda_cli("limits", "kernel", "install", "-p", tmp_path / "nope",
              raises=EnvironmentLocationNotFound)
    bare = tmp_path / "bare"
    (bare / "conda-meta").mkdir(parents=True)
    _, _, info = conda_cli("limits", "kernel", "install", "-p", bare, raises=KernelInstallError)
    assert "no Python" in str(info.value) and "conda install" in str(info.value)
    prefix = make_env(tmp_path)
    conda_cli("limits", "kernel", "install", "-p", prefix, "--kernel-name", "k")
    _, _, info = conda_cli("limits", "kernel", "install", "-p", prefix, "--kernel-name", "k",
                           raises=KernelInstallError)
    assert "--force" in str(info.value)
    out, _, code = conda_cli("limits", "kernel", "install", "-p", prefix, "--kernel-name", "k",
                             "--force", "--mem", "2G")
    assert code == 0
    assert (jupyter_data / "kernels" / "k" / "conda-limits.yml").read_text() == "mem: 2G\n"
    _, _, info = conda_cli("limits", "kernel", "remove", "python3", raises=KernelInstallError)
    assert "no kernelspec named 'python3'" in str(info.value)
    assert sorted(p.name for p in (jupyter_data / "kernels").iterdir()) == ["k"]


def test_jupyter_prefix(conda_cli, tmp_path, jupyter_data):
    prefix = make_env(tmp_path)
    conda_cli("limits", "kernel", "install", "-p", prefix, "--jupyter-prefix", tmp_path / "lab")
    assert (tmp_path / "lab" / "share" / "jupyter" / "kernels" / "kenv-limited"
            / "kernel.json").is_file()
