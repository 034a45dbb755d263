"""The newcomer's two commands in README.md are the ones CI runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _readme_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Development", 1)[1]
    block = re.search(r"```console\n(.*?)```", section, re.DOTALL)
    assert block, "README's Development section has no console block"
    return [line[2:].split("#")[0].strip() for line in block.group(1).splitlines()
            if line.startswith("$ ")]


def test_ci_runs_the_setup_and_test_commands_readme_gives() -> None:
    setup, test = _readme_commands()
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.lstrip().startswith("#")]
    assert setup in ci
    assert test in ci  # the test command, unchanged
    # then the same command again as the unprivileged user (the last, continued line)
    last = ci[ci.index(test) + 1:]
    assert last[0].startswith("runuser -u cl-tester -- ")
    assert test + " -p no:cacheprovider" in " ".join(part.rstrip("\\").strip() for part in last)

