"""The conda recipe agrees with pyproject.toml, and README/docs state its oldest conda."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
jinja2 = pytest.importorskip("jinja2", reason="jinja2 renders recipe/meta.yaml (it comes "
                             "with Sphinx: pip install -r .ci/requirements.txt)")
tomllib = pytest.importorskip("tomllib", reason="tomllib (Python >= 3.11) reads pyproject.toml")


def render(**variables: str) -> dict:
    from ruamel.yaml import YAML

    text = (ROOT / "recipe" / "meta.yaml").read_text(encoding="utf-8")
    return YAML(typ="safe").load(jinja2.Environment().from_string(text).render(**variables))


@pytest.fixture(scope="module")
def recipe() -> dict:
    return render(PYTHON="$PYTHON", GIT_DESCRIBE_TAG="v1.2.0", GIT_DESCRIBE_NUMBER="3")


@pytest.fixture(scope="module")
def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def requirement(specs: list[str], name: str) -> str:
    found = [spec for spec in specs if spec.split()[0] == name]
    assert len(found) == 1, f"{name} appears {len(found)} times in {specs}"
    return found[0]


def oldest_conda(recipe: dict) -> str:
    spec = requirement(recipe["requirements"]["run"], "conda")
    match = re.fullmatch(r"conda >=(\d+\.\d+)", spec)
    assert match, f"run requirement {spec!r} is not 'conda >=X.Y'"
    return match.group(1)


def test_version_from_the_git_tag(recipe):
    assert recipe["package"] == {"name": "conda-limits", "version": "1.2.0"}
    assert recipe["build"]["number"] == 3
    assert render()["package"]["version"] == "0.0.0"  # outside a git checkout


def test_noarch_python_built_with_hatch_vcs(recipe, pyproject):
    assert recipe["build"]["noarch"] == "python"
    assert "pip install . --no-deps --no-build-isolation" in recipe["build"]["script"]
    host = recipe["requirements"]["host"]
    for backend in pyproject["build-system"]["requires"]:
        name, bound = backend.split(None, 1)
        assert requirement(host, name) == f"{name} {bound}"


def test_run_requirements_match_pyproject(recipe, pyproject):
    run = recipe["requirements"]["run"]
    minimum = pyproject["project"]["requires-python"]
    assert requirement(run, "python") == f"python {minimum}"
    assert requirement(recipe["requirements"]["host"], "python") == \
        f"python {minimum.removeprefix('>=')}"
    for dependency in pyproject["project"]["dependencies"]:
        name, bound = dependency.split(None, 1)
        assert requirement(run, name) == f"{name} {bound}"
    oldest_conda(recipe)


def test_recipe_tests_load_the_plugin(recipe):
    assert "conda_limits.plugin" in recipe["test"]["imports"]
    assert "conda limits --help" in recipe["test"]["commands"]


def test_readme_and_docs_state_the_oldest_conda(recipe):
    oldest = oldest_conda(recipe)
    for page in ("README.md", "docs/compatibility.md"):
        text = (ROOT / page).read_text(encoding="utf-8")
        assert re.search(rf"conda {re.escape(oldest)} (or|and) newer", text), \
            f"{page} does not say that conda-limits needs conda {oldest} or newer"
