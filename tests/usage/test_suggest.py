"""Limits proposed from recorded runs: peak plus margin, rounded, with the evidence."""

from __future__ import annotations

import pytest

from conda_limits.limits import resources
from conda_limits.limits.resources import MEM
from conda_limits.limits.values import UNLIMITED, human, parse, pretty
from conda_limits.usage.entry import MemUse, Run
from conda_limits.usage.suggest import (
    FLOORS,
    MIN_RUNS,
    checks,
    parse_margin,
    readable,
    suggest,
)

MiB, GiB = 1 << 20, 1 << 30


def run(at: float = 0, **used: float) -> Run:
    return Run(at=1764583200.0 + at, via="run-limited", command="python", wall=1.0, status=0,
               used=used)


def by_key(suggestions):
    return {s.key: s for s in suggestions}


@pytest.mark.parametrize("key, needed, expected", [
    ("vmem", 262 * MiB, "320M"), ("vmem", 256 * MiB, "256M"), ("vmem", 1.3 * GiB, "1536M"),
    ("vmem", 5 * GiB, "5G"), ("vmem", 5 * GiB + 1, "6G"), ("vmem", 3000, "3K"),
    ("nofile", 300, "320"), ("nofile", 3, "3"), ("nofile", 1025, "1280"),
    ("cpu", 0.2, "1s"), ("cpu", 7, "8s"), ("cpu", 61, "2m"), ("cpu", 437, "8m"),
    ("cpu", 3000, "1h"), ("cpu", 4000, "90m"), ("cpu", 5 * 3600 + 1, "6h"),
    ("cpu", 21 * 3600, "1d"), ("cpu", 86401, "2d"),
])
def test_readable_values(key, needed, expected):
    resource = resources.get(key)
    value = readable(resource, needed)
    assert human(resource, value) == expected
    assert value >= needed
    assert parse(resource, human(resource, value)) == value  # what --apply writes parses back


@pytest.mark.parametrize("needed", [1025 * MiB, 5 * GiB + 1, 300 * MiB, 8193 * 1024])
def test_rounding_adds_at_most_a_quarter(needed):
    assert needed <= readable(resources.get("data"), needed) <= needed * 1.25


def test_a_program_of_known_size_gets_a_value_above_it_and_within_the_margin():
    size = 400 * MiB
    runs = [run(i, data=size + i * MiB, vmem=size + 30 * MiB, rss=size, cpu=2.0, nofile=12)
            for i in range(3)]
    found = by_key(suggest(runs, {}))
    data = found["data"]
    assert size < data.value <= readable(resources.get("data"), (size + 2 * MiB) * 1.25)
    assert data.runs == 3 and data.peak == size + 2 * MiB and data.peak_at == runs[2].at
    assert data.current is None and data.applicable
    assert found["nofile"].value == FLOORS["nofile"]
    assert "lowest value" in found["nofile"].note
    assert found["cpu"].value == FLOORS["cpu"]
    assert found["mem"].value is not None and found["mem"].applicable  # recorded too


def test_too_few_runs_suggests_nothing_and_says_so():
    found = by_key(suggest([run(0, data=GiB), run(1, data=GiB)], {"data": 4 * GiB}))
    assert found["data"].value is None
    assert found["data"].note == f"too few runs: 2 recorded, {MIN_RUNS - 2} more needed"
    assert found["data"].current == 4 * GiB
    assert found["vmem"].runs == 0 and found["vmem"].value is None


def test_the_margin_is_used():
    runs = [run(i, data=1000 * MiB) for i in range(3)]
    assert by_key(suggest(runs, {}, margin=0))["data"].value == 1024 * MiB
    assert by_key(suggest(runs, {}, margin=1.0))["data"].value == 2 * GiB


def test_runs_a_limit_stopped_count_as_needing_more_than_it():
    stopped = [Run(at=1764583200.0 + i, via="run-limited", command="python", wall=1.0,
                   status=1, stopped_by="data", used={"data": 900 * MiB},
                   limits={"data": GiB}) for i in range(2)]
    found = by_key(suggest([run(5, data=200 * MiB), *stopped], {"data": GiB}))
    data = found["data"]
    assert data.stopped == 2 and data.stopped_limit == GiB
    assert data.peak == 200 * MiB  # the stopped runs' 900 MiB is not a peak
    assert data.value == readable(resources.get("data"), GiB * 1.25) > GiB
    assert "needed more" in data.note


def test_a_stopped_run_without_its_limit_is_no_evidence():
    weird = Run(at=1.0, via="run-limited", command="x", wall=1.0, stopped_by="vmem")
    assert by_key(suggest([weird] * 3, {}))["vmem"].runs == 0


def test_mem_uses_the_cgroup_peak_where_runs_had_one():
    runs = [Run(at=float(i), via="kernel", command="ipykernel", wall=9.0,
                used={"rss": 100 * MiB}, mem=MemUse(GiB, 700 * MiB, 0)) for i in range(3)]
    mem = by_key(suggest(runs, {}))["mem"]
    assert mem.peak == 700 * MiB and mem.value == readable(MEM, 700 * MiB * 1.25)


def test_vmem_is_not_proposed_where_cuda_packages_are_and_mem_is():
    runs = [run(i, vmem=8 * GiB, rss=2 * GiB) for i in range(3)]
    found = by_key(suggest(runs, {"vmem": 16 * GiB}, gpu_packages=["pytorch", "cudnn"]))
    assert found["vmem"].value is None and "pytorch, cudnn" in found["vmem"].warning
    assert "--mem" in found["vmem"].warning
    assert found["mem"].value == readable(MEM, 2 * GiB * 1.25)


@pytest.mark.parametrize("text, margin", [("25%", 0.25), ("25", 0.25), ("0%", 0.0),
                                          ("12.5%", 0.125), (" 100 % ", 1.0)])
def test_margins(text, margin):
    assert parse_margin(text) == margin


@pytest.mark.parametrize("text", ["-5%", "abc", "", "1e3", "2000%", "25%%", "0x10"])
def test_bad_margins(text):
    with pytest.raises(ValueError, match="invalid margin"):
        parse_margin(text)


def test_suggestions_as_json():
    data = suggest([run(i, nofile=10) for i in range(3)], {"nofile": 1024})[2].to_json()
    assert data["key"] == "nofile" and data["suggested"] == 256 and data["current"] == 1024


def test_doctor_checks_a_limit_that_keeps_stopping_runs():
    hits = [Run(at=float(i), via="run-limited", command="python", wall=1.0, status=152,
                signal="SIGXCPU", stopped_by="cpu", limits={"cpu": 60}) for i in range(2)]
    found = checks(hits, {"cpu": 60}, "-n ai_env")
    assert [(c.key, c.kind) for c in found] == [("cpu", "hit")]
    assert "stopped 2 recorded runs" in found[0].message
    assert "`conda limits suggest -n ai_env --apply`" in found[0].hint
    assert checks(hits, {"cpu": 120}, "-n x") == []  # they were stopped by another value
    assert checks(hits[:1], {"cpu": 60}, "-n x") == []


def test_doctor_checks_a_limit_far_above_anything_used():
    runs = [run(i, nofile=20, data=100 * MiB) for i in range(3)]
    found = checks(runs, {"nofile": 65536, "data": 512 * MiB, "vmem": UNLIMITED},
                   "-p '/opt/my envs/x'")
    assert [(c.key, c.kind) for c in found] == [("nofile", "loose")]
    assert "65536 is far above what 3 recorded runs used (at most 20)" in found[0].message
    assert "`conda limits set -p '/opt/my envs/x' --nofile 256`" in found[0].hint
    assert checks(runs[:2], {"nofile": 65536}, "-n x") == []  # too few runs to say


@pytest.mark.parametrize("key", ["data", "vmem", "nofile"])
def test_never_below_a_limit_that_runs_failed_under(key):
    """Three runs that failed at once under data 256M (MemoryError) with tiny peaks: the
    proposal was data 128M, and --apply wrote it."""
    resource = resources.get(key)
    limit = {"data": 256 * MiB, "vmem": 512 * MiB, "nofile": 1024}[key]  # above the floors
    failed = [Run(at=1764583200.0 + i, via="run-limited", command="python", wall=0.1,
                  status=1, used={"data": 10 * MiB, "vmem": 20 * MiB, "nofile": 10},
                  limits={key: limit}) for i in range(3)]
    found = by_key(suggest(failed, {key: limit}))[key]
    assert found.value is not None and found.value >= limit
    assert f"not below {key} {pretty(resource, limit)}, which 3 failed run(s) ran under" in (
        found.note)
    ok = [Run(**{**r.__dict__, "status": 0}) for r in failed]
    assert by_key(suggest(ok, {key: limit}))[key].value < limit  # succeeded: peaks count
    other = "cpu" if key != "cpu" else "nofile"  # failed, but another limit stopped them
    known = [Run(**{**r.__dict__, "status": 152, "signal": "SIGXCPU", "stopped_by": other})
             for r in failed]
    assert by_key(suggest(known, {key: limit}))[key].value < limit
