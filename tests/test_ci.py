"""The newcomer's two commands in README.md are the ones CI runs, and the GitHub workflow runs
the same script as CI."""

from __future__ import annotations

import re
from pathlib import Path

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent


def _readme_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Development", 1)[1]
    block = re.search(r"```console\n(.*?)```", section, re.DOTALL)
    assert block, "README's Development section has no console block"
    return [line[2:].split("#")[0].strip() for line in block.group(1).splitlines()
            if line.startswith("$ ")]


def _ci_lines() -> list[str]:
    return [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_ci_runs_the_setup_and_test_commands_readme_gives() -> None:
    setup, test = _readme_commands()
    ci = _ci_lines()
    assert setup in ci
    # the first tests CI runs: the test command, unchanged
    assert next(line for line in ci if "-m pytest" in line) == test
    # then the same command again as the unprivileged user, runuser in plain sight
    text = " ".join(line.rstrip("\\").strip() for line in ci)
    assert re.search(r"runuser -u cl-tester -- env .*?" + re.escape(test + " -p no:cacheprovider"),
                     text)


def test_the_workflow_runs_the_parts_of_ci_run() -> None:
    workflow = YAML(typ="safe").load((ROOT / ".github" / "workflows" / "tests.yml").read_text())
    runs = " ".join(step.get("run", "") for job in workflow["jobs"].values()
                    for step in job["steps"])
    assert "bash .ci/run checks" in runs and "bash .ci/run conda" in runs
