"""What a newcomer trips over (exact values, one table style, values people type, exit codes,
hints naming the environment, JSON, help text, broken pipes), through the real conda CLI."""

from __future__ import annotations

import json

import pytest

from conda_limits.state import record

from ..conftest import requires_conda

pytestmark = requires_conda

GiB, MiB = 2**30, 2**20


def _block(out: str) -> list[str]:
    """The table block (title to last row) of a command's output."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("# limits"))
    end = next((i for i in range(start + 2, len(lines)) if not lines[i]), len(lines))
    return lines[start:end]


def test_set_and_show_print_exact_values_in_one_table_style(conda_cli, tmp_env):
    with tmp_env() as prefix:
        out, err, code = conda_cli("limits", "set", "-p", prefix, "--data", "1280M",
                                   "--vmem", "1025M", "--threads", "2")
        assert code == 0, err
        shown, _, _ = conda_cli("limits", "show", "-p", prefix)
        assert _block(out) == _block(shown)
        rows = {line.split()[0]: line.split()[1:3] for line in _block(shown)[3:]}
        assert rows["data"] == ["1.25", "GiB"] and rows["vmem"] == ["1025", "MiB"]
        assert rows["threads"][0] == "2"
        dry, _, _ = conda_cli("limits", "set", "-p", prefix, "--nofile", "512", "--dry-run")
        assert _block(dry)[0].startswith("# limits the environment at") and "(dry run)" in dry


def test_values_people_type(conda_cli, tmp_env):
    with tmp_env() as prefix:
        _, err, code = conda_cli("limits", "set", "-p", prefix, "--data", "4.5G",
                                 "--cpu", "1h30m", "--stack", "8M")
        assert code == 0, err
        assert record.read(prefix)["data"].soft == 9 * GiB // 2
        assert record.read(prefix)["cpu"].soft == 5400
        for text, seconds in (("90min", 5400), ("1.5h", 5400), ("1:30:00", 5400),
                              ("2-00:00:00", 172800)):
            conda_cli("limits", "set", "-p", prefix, "--cpu", text)
            assert record.read(prefix)["cpu"].soft == seconds, text


def test_a_unit_split_from_its_number_is_refused_saying_so(conda_cli, tmp_env):
    with tmp_env() as prefix:
        _, err, info = conda_cli("limits", "set", "-p", prefix, "--vmem", "4", "G",
                                 raises=SystemExit)
        assert info.value.code == 2
        assert "a space between the number and its unit; write --vmem 4G" in err
        _, err, info = conda_cli("run-limited", "-p", prefix, "--cpu", "90", "min", "--",
                                 "true", raises=SystemExit)
        assert info.value.code == 2 and "write --cpu 90min" in err
        assert not record.record_path(prefix).exists()


def test_a_bare_size_is_bytes_and_says_so(conda_cli, tmp_env):
    with tmp_env() as prefix:
        _, err, code = conda_cli("limits", "set", "-p", prefix, "--vmem", str(4 * GiB))
        assert code == 0
        assert "without a unit is bytes, where `ulimit` counts KiB" in err
        assert record.read(prefix)["vmem"].soft == 4 * GiB
        from conda.exceptions import ArgumentError

        _, err, info = conda_cli("limits", "set", "-p", prefix, "--vmem", "4194304",
                                 raises=ArgumentError)
        assert info.value.return_code == 2  # 4 MiB: below what conda deactivate needs
        assert "--vmem 4194304 is 4M" in err and "4194304K would be 4G" in err
        assert record.read(prefix)["vmem"].soft == 4 * GiB
