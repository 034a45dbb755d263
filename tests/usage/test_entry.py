"""Log entries: one JSON line each, read back exactly; anything else is not an entry."""

from __future__ import annotations

import json

import pytest

from conda_limits.usage.entry import START, MemUse, Run, command_name, from_json


def a_run(**changes: object) -> Run:
    fields: dict[str, object] = {
        "at": 1764583200.0, "via": "run-limited", "command": "python", "wall": 12.3456,
        "status": 0, "used": {"cpu": 11.9, "rss": 1 << 30, "vmem": 3 << 30, "nofile": 14},
        "limits": {"data": 4 << 30}}
    fields.update(changes)
    return Run(**fields)  # type: ignore[arg-type]


def test_an_entry_is_one_line_of_json_that_reads_back():
    run = a_run(signal="SIGKILL", status=137, stopped_by="mem",
                mem=MemUse(limit=2 << 30, peak=2 << 30, oom_kills=1))
    line = run.to_line()
    assert line.endswith("\n") and line.count("\n") == 1
    assert line.startswith(START)
    data = json.loads(line)
    assert data["at"] == "2025-12-01T10:00:00Z"
    assert data["wall"] == 12.346
    back = from_json(data)
    assert back == Run(**{**run.__dict__, "wall": 12.346})


def test_unknown_measures_are_left_out_and_read_back_as_absent():
    line = a_run(used={}, limits={}, status=None).to_line()
    data = json.loads(line)
    assert "used" not in data and "limits" not in data and "status" not in data
    back = from_json(data)
    assert back is not None and back.status is None and back.used == {}


@pytest.mark.parametrize("data", [
    None, [], "text", {"v": 2, "at": "2025-12-01T10:00:00Z", "via": "x", "command": "c",
                       "wall": 1},
    {"v": 1, "via": "x", "command": "c", "wall": 1},  # no time
    {"v": 1, "at": "yesterday", "via": "x", "command": "c", "wall": 1},
    {"v": 1, "at": "2025-12-01T10:00:00", "via": "x", "command": "c", "wall": 1},  # naive
    {"v": 1, "at": "2025-12-01T10:00:00Z", "via": "x", "command": "c", "wall": -1},
    {"v": 1, "at": "2025-12-01T10:00:00Z", "via": "x", "command": "c", "wall": True},
    {"v": 1, "at": "2025-12-01T10:00:00Z", "via": "x", "command": 3, "wall": 1},
    {"v": 1, "at": "2025-12-01T10:00:00Z", "via": "x", "command": "c", "wall": 1,
     "used": {"rss": "big"}},
    {"v": 1, "at": "2025-12-01T10:00:00Z", "via": "x", "command": "c", "wall": 1,
     "used": {"rss": float("inf")}},
    {"v": 1, "at": "2025-12-01T10:00:00Z", "via": "x", "command": "c", "wall": 1,
     "mem": {"peak": 3}},
    {"v": 1, "at": "2025-12-01T10:00:00Z", "via": "x", "command": "c", "wall": 1,
     "used": {"rss": 1e308}},  # hand-made: would overflow the suggestion's arithmetic
    {"v": 1, "at": "2025-12-01T10:00:00Z", "via": "x", "command": "c", "wall": 1,
     "status": 10**30},
    {"v": 1, "at": "2025-12-01T10:00:00Z", "via": "x", "command": "c", "wall": 1,
     "status": 1.5},
    # Dates a date of the log cannot be shown as (UTC or local): after 9999-12-31 in UTC.
    {"v": 1, "at": "9999-12-31T23:59:59-14:00", "via": "x", "command": "c", "wall": 1},
    {"v": 1, "at": "0001-01-01T00:00:00+14:00", "via": "x", "command": "c", "wall": 1},
    # Figures below 0: not measurements.
    {"v": 1, "at": "2025-12-01T10:00:00Z", "via": "x", "command": "c", "wall": 1,
     "mem": {"limit": 1 << 30, "peak": -5}},
    {"v": 1, "at": "2025-12-01T10:00:00Z", "via": "x", "command": "c", "wall": 1,
     "mem": {"limit": 1 << 30, "oom_kills": -1}},
    {"v": 1, "at": "2025-12-01T10:00:00Z", "via": "x", "command": "c", "wall": 1,
     "status": -5},
    {"v": 1, "at": "2025-12-01T10:00:00Z", "via": "x", "command": "c", "wall": 1,
     "status": 256},
    # Names that are no limit and no signal.
    {"v": 1, "at": "2025-12-01T10:00:00Z", "via": "x", "command": "c", "wall": 1,
     "stopped_by": "nofile\x1b[2J"},
    {"v": 1, "at": "2025-12-01T10:00:00Z", "via": "x", "command": "c", "wall": 1,
     "signal": "SIGKILL\nforged"},
])
def test_what_is_not_a_valid_entry_is_none(data):
    assert from_json(data) is None


def test_unknown_measure_names_are_dropped():
    data = json.loads(a_run().to_line())
    data["used"]["gpu"] = 3
    run = from_json(data)
    assert run is not None and "gpu" not in run.used


@pytest.mark.parametrize("argv0, name", [
    ("/opt/env/bin/python3.11", "python3.11"), ("python", "python"), ("./train.sh", "train.sh"),
    ("dir/", "dir"), ("x" * 200, "x" * 64),
])
def test_a_command_is_kept_by_its_name_only(argv0, name):
    assert command_name(argv0) == name


def test_a_name_with_quotes_and_controls_stays_one_line_and_cannot_fake_an_entry_start():
    line = a_run(command='a"\n{"v":1,\x1b').to_line()
    assert line.count("\n") == 1
    assert line.count(START) == 1


def test_the_edges_of_valid_figures_and_names_are_entries():
    run = from_json({"v": 1, "at": "9999-12-29T23:59:59+00:00", "via": "kernel",
                     "command": "c", "wall": 0, "status": 255, "signal": "SIGRTMIN+3",
                     "stopped_by": "mem", "limits": {"data": 0, "gpu": 3},
                     "mem": {"limit": 0, "peak": 0, "oom_kills": 0}})
    assert run is not None and run.status == 255 and run.limits == {"data": 0}
    assert run.to_line().startswith('{"v":1,"at":"9999-12-29T23:59:59Z"')
    assert from_json({**json.loads(run.to_line()), "signal": "signal 40"}) is not None
