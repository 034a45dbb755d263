"""Limit-aware kernelspecs: written with paths only, listed and removed (no conda needed)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from conda_limits.jupyter import kernelspec
from conda_limits.jupyter.kernelspec import KernelSpecError

THIS_PREFIX = Path(sys.prefix)
HAS_IPYKERNEL = kernelspec.find_ipykernel(THIS_PREFIX) is not None
needs_ipykernel = pytest.mark.skipif(not HAS_IPYKERNEL, reason="ipykernel is not installed in "
                                     "the test interpreter's prefix (pip install ipykernel)")


@pytest.fixture
def fake_env(tmp_path):
    """A prefix with a python and an ipykernel package folder (files only, never run)."""
    prefix = tmp_path / "env"
    (prefix / "conda-meta").mkdir(parents=True)
    (prefix / "bin").mkdir()
    (prefix / "bin" / "python").write_text("")
    package = prefix / "lib" / "python3.12" / "site-packages" / "ipykernel"
    (package / "resources").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "resources" / "logo-64x64.png").write_bytes(b"png")
    return prefix


def test_install_writes_paths_only(fake_env, tmp_path):
    kernels = tmp_path / "data" / "kernels"
    target = kernelspec.install(fake_env, name="ai_env-limited", display_name="AI env",
                                kernels=kernels, launcher_python="/base/bin/python",
                                overrides_yaml="mem: 8G\n")
    assert target == kernels / "ai_env-limited"
    spec = json.loads((target / "kernel.json").read_text())
    assert spec["argv"] == ["/base/bin/python", "-m", "conda_limits.jupyter.launch", "--prefix",
                            str(fake_env), "--spec-dir", str(target), "--", "{connection_file}"]
    assert spec["display_name"] == "AI env" and spec["language"] == "python"
    assert spec["metadata"]["conda_limits"] == {"prefix": str(fake_env)}
    assert (target / "logo-64x64.png").read_bytes() == b"png"
    assert (target / kernelspec.OVERRIDES).read_text() == "mem: 8G\n"
    assert not [p for p in kernels.iterdir() if p.name.startswith(".")]


def test_existing_name_needs_force(fake_env, tmp_path):
    kernels = tmp_path / "kernels"
    kernelspec.install(fake_env, name="k", display_name="one", kernels=kernels)
    with pytest.raises(KernelSpecError, match="--force"):
        kernelspec.install(fake_env, name="k", display_name="two", kernels=kernels)
    assert json.loads((kernels / "k" / "kernel.json").read_text())["display_name"] == "one"
    kernelspec.install(fake_env, name="k", display_name="two", kernels=kernels, force=True)
    assert json.loads((kernels / "k" / "kernel.json").read_text())["display_name"] == "two"
    assert sorted(p.name for p in kernels.iterdir()) == ["k"]


def test_missing_python_or_ipykernel(fake_env, tmp_path):
    (fake_env / "bin" / "python").unlink()
    with pytest.raises(KernelSpecError, match="no Python.*conda install -p"):
        kernelspec.install(fake_env, name="k", display_name="k", kernels=tmp_path / "k")
    (fake_env / "bin" / "python").write_text("")
    for path in sorted((fake_env / "lib").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    with pytest.raises(KernelSpecError, match="no ipykernel.*conda install -p .* ipykernel"):
        kernelspec.install(fake_env, name="k", display_name="k", kernels=tmp_path / "k")
    assert not (tmp_path / "k" / "k").exists()


@pytest.mark.parametrize("name", ["bad name", "a/b", "", "ü", "x" * 200])
def test_bad_names(name):
    with pytest.raises(KernelSpecError, match="invalid kernel name"):
        kernelspec.check_name(name)


def test_list_shows_only_ours_and_remove_deletes_only_ours(fake_env, tmp_path):
    data = tmp_path / "data"
    kernelspec.install(fake_env, name="ours", display_name="Ours", kernels=data / "kernels")
    foreign = data / "kernels" / "python3"
    foreign.mkdir()
    (foreign / "kernel.json").write_text(json.dumps({"argv": ["python"], "display_name": "P",
                                                     "language": "python"}))
    kernels = kernelspec.installed([data])
    assert [(k.name, k.prefix, k.display_name) for k in kernels] == [("ours", fake_env, "Ours")]
    with pytest.raises(KernelSpecError, match="no kernelspec named 'python3'"):
        kernelspec.remove("python3", [data])
    assert foreign.exists()
    assert kernelspec.remove("ours", [data]).name == "ours"
    assert not (data / "kernels" / "ours").exists()
    assert kernelspec.installed([data]) == []


def test_data_dirs_follow_jupyter(monkeypatch, tmp_path):
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jd"))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jp"))
    assert kernelspec.user_data_dir() == tmp_path / "jd"
    assert kernelspec.kernels_dir() == tmp_path / "jd" / "kernels"
    assert kernelspec.data_dirs()[:2] == [tmp_path / "jd", tmp_path / "jp"]
    assert kernelspec.kernels_dir(jupyter_prefix=tmp_path) == tmp_path / "share/jupyter/kernels"
    assert kernelspec.kernels_dir(sys_prefix=True) == Path(sys.prefix, "share/jupyter/kernels")


@needs_ipykernel
def test_real_ipykernel_is_found_in_this_prefix():
    assert (kernelspec.find_ipykernel(THIS_PREFIX) / "resources").is_dir()


def test_force_never_replaces_a_foreign_kernelspec(fake_env, tmp_path):
    kernels = tmp_path / "kernels"
    foreign = kernels / "python3"
    foreign.mkdir(parents=True)
    (foreign / "kernel.json").write_text('{"argv": ["python"], "display_name": "P"}')
    with pytest.raises(KernelSpecError, match="did not install"):
        kernelspec.install(fake_env, name="python3", display_name="x", kernels=kernels,
                           force=True)
    assert json.loads((foreign / "kernel.json").read_text())["display_name"] == "P"


def test_a_prefix_with_a_newline_is_data_in_kernel_json_and_escaped_in_names(tmp_path):
    """The prefix is an argv word (JSON, never a shell); the display name shows in menus and
    `jupyter kernelspec list`; a message's `conda install -p` is one shell word."""
    prefix = tmp_path / "x\ny\x1b[2J"
    (prefix / "conda-meta").mkdir(parents=True)
    kernels = tmp_path / "kernels"
    with pytest.raises(KernelSpecError) as caught:
        kernelspec.install(prefix, name="k", display_name="k", kernels=kernels)
    assert str(caught.value).isprintable()
    assert f"conda install -p '{tmp_path}/x\\ny\\x1b[2J' python ipykernel" in str(caught.value)
    (prefix / "bin").mkdir()
    (prefix / "bin" / "python").write_text("")
    package = prefix / "lib" / "python3.12" / "site-packages" / "ipykernel"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    target = kernelspec.install(prefix, name="k", display_name=f"Python ({prefix}, limited)",
                                kernels=kernels)
    spec = json.loads((target / "kernel.json").read_text())
    assert spec["argv"][4] == str(prefix)
    assert spec["display_name"] == f"Python ({tmp_path}/x\\ny\\x1b[2J, limited)"
