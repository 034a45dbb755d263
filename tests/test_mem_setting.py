"""``mem`` as a recorded setting, through the core (no conda): the schema, the record, the
site defaults, the scripts (which leave it alone), ``run-limited``'s core, Slurm's request,
the exports and ``conda doctor``'s findings."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from conda_limits import exports, health
from conda_limits.limits import defaults, floors
from conda_limits.limits.mem import cap, parse_mem, physical_memory
from conda_limits.limits.model import Limit, LimitSet, SchemaError, parse_limits
from conda_limits.limits.resources import MEM
from conda_limits.limits.values import InvalidValue
from conda_limits.run import command
from conda_limits.slurm.options import Request
from conda_limits.state import prefix_files, record
from conda_limits.system import memory_cap

MiB = 2**20
# Grows to SIZE MiB and holds it a moment (a watching backend looks at intervals).
GROW = ("import time\nb = bytearray({size} * 2**20)\nfor i in range(0, len(b), 4096): b[i] = 1\n"
        "time.sleep(1)\n")


@pytest.fixture
def env(tmp_path) -> Path:
    prefix = tmp_path / "env"
    (prefix / "conda-meta").mkdir(parents=True)
    return prefix


def test_the_schema_takes_mem_beside_the_other_limits():
    limits = parse_limits({"nofile": 1024, "mem": "4G", "threads": 2})
    assert limits.mem == 4 * 2**30 and limits.names() == ["nofile", "mem", "threads"]
    assert limits.to_yaml() == {"nofile": 1024, "mem": "4G", "threads": 2}
    # one shape for every setting (docs/json.md): mem as threads, with its kind and unit
    assert limits.to_json()["mem"] == {"kind": "mem", "value": 4 * 2**30, "soft": None,
                                       "hard": None, "unit": "bytes"}
    assert limits.to_json()["threads"] == {"kind": "cpu", "value": 2, "soft": None,
                                           "hard": None, "unit": "threads"}
    assert parse_limits(limits.to_yaml()) == limits
    assert limits.without(["mem"]) == parse_limits({"nofile": 1024, "threads": 2})
    assert limits.merged(LimitSet(mem="unlimited")).mem == "unlimited"
    assert limits.merged(LimitSet({"vmem": Limit(2**30)})).mem == 4 * 2**30
    assert LimitSet(mem=64 * MiB) and not LimitSet(mem=64 * MiB).in_shell()
    assert cap("unlimited") is None and cap(None) is None and cap(64 * MiB) == 64 * MiB


@pytest.mark.parametrize("raw", [0, "0", -1, "-1", 12, "12", "1.5Q", "4 GB x", True, [1],
                                 {"soft": "4G"}, "1M"])
def test_bad_values_are_refused_naming_mem(raw):
    with pytest.raises(SchemaError) as error:
        parse_limits({"mem": raw}, check_floors=True)
    assert error.value.key == "mem" and error.value.message.startswith("limits.mem: ")


def test_the_floor_is_measured_and_allowed_on_request():
    least = floors.floor(MEM)
    assert least == 32 * MiB
    with pytest.raises(floors.TinyValue, match="the least a small program needs"):
        parse_mem("16M", check_floor=True)
    assert parse_mem("16M") == 16 * MiB  # a record is not checked: allowed when it was set
    assert parse_mem("32M", check_floor=True) == least
    with pytest.raises(InvalidValue, match="0 would leave the command no memory at all"):
        parse_mem("0")  # not even allowed tiny


def test_a_program_of_the_floors_size_runs_under_a_cap_of_the_floor(env):
    """The floor is not too low: ``python -c pass`` runs under it, where a cap applies."""
    try:
        memory_cap.choose(floors.floor(MEM)).close()  # type: ignore[arg-type]
    except memory_cap.MemoryCapUnavailable as error:
        pytest.skip(f"no memory cap for this user here: {error}")
    prefix_files.write(env, LimitSet(mem=floors.floor(MEM)))
    assert command.run(env, [sys.executable, "-c", "pass"]) == 0


def test_the_record_keeps_mem_and_no_script_applies_it(env):
    prefix_files.write(env, parse_limits({"mem": "8G"}))
    assert record.read(env) == LimitSet(mem=8 * 2**30)
    assert "mem: 8G" in record.record_path(env).read_text()
    assert not any(path.exists() for path in prefix_files.script_paths(env))
    prefix_files.write(env, parse_limits({"mem": "8G", "nofile": 1024}))
    with_mem = {p: p.read_text() for p in prefix_files.script_paths(env)}
    prefix_files.write(env, parse_limits({"nofile": 1024}))
    assert with_mem == {p: p.read_text() for p in prefix_files.script_paths(env)}
    assert prefix_files.check(env).out_of_date == []
    prefix_files.write(env, parse_limits({"mem": "8G"}))  # the last shell limit goes
    assert not any(path.exists() for path in prefix_files.script_paths(env))
    state = prefix_files.check(env)
    assert (state.out_of_date, state.orphans, state.limits.mem) == ([], [], 8 * 2**30)


def test_site_defaults_take_mem_and_refuse_a_tiny_one():
    limits = defaults.parse("/etc/conda/.condarc", {"mem": "8G", "nofile": 1024})
    assert limits.mem == 8 * 2**30 and "mem" in defaults.skipped("mem")
    with pytest.raises(defaults.DefaultsError,
                       match=r"limits_defaults\.mem: 0 would leave the command no memory"):
        defaults.parse("/etc/conda/.condarc", {"mem": 0})
    tiny = defaults.parse("/etc/conda/.condarc", {"mem": "1M"})
    sources = defaults.from_file(tiny, "/etc/conda/.condarc")[1]
    with pytest.raises(defaults.DefaultsError, match=r"\.condarc: plugins\.limits_defaults\.mem: "
                       r"1M is below 32M"):
        defaults.refuse_tiny(tiny, sources)


def test_slurm_and_the_exports_get_the_recorded_mem():
    limits = parse_limits({"mem": "6G", "cores": 2})
    assert Request.of(limits).options() == ["--mem=6G", "--cpus-per-task=2"]
    assert Request.of(limits, 2 * 2**30).options()[0] == "--mem=2G"  # a flag wins
    assert Request.of(parse_limits({"mem": "unlimited"})).options() == []
    settings = exports.Settings(limits, name="ai")
    assert "--memory=6g" in exports.render("docker", settings).text
    assert "-p MemoryMax=6G" in exports.render("systemd-run", settings).text
    assert "#SBATCH --mem=6G\n" in exports.render("sbatch", settings).text


def _cap_here(limit: int) -> str | None:
    """Why no memory cap can be had here for this user (None: one can)."""
    try:
        memory_cap.choose(limit).close()
    except memory_cap.MemoryCapUnavailable as error:
        return str(error)
    return None


def test_run_uses_the_recorded_mem_and_a_flag_wins(env):
    prefix_files.write(env, parse_limits({"mem": "64M"}))
    grow = [sys.executable, "-c", GROW.format(size=160)]
    if _cap_here(64 * MiB) is not None:
        # No backend for this user: the recorded mem is refused as --mem is, nothing runs.
        with pytest.raises(memory_cap.MemoryCapUnavailable):
            command.run(env, grow, stderr=io.StringIO())
        assert command.run(env, grow, LimitSet(mem="unlimited")) == 0
        return
    # stopped by mem: SIGKILL in a cgroup, SIGTERM from the watch
    assert command.run(env, grow, stderr=io.StringIO()) in (137, 143)
    assert command.run(env, [sys.executable, "-c", GROW.format(size=8)]) == 0
    assert command.run(env, grow, LimitSet(mem="unlimited")) == 0
    assert command.run(env, grow, LimitSet(mem=512 * MiB)) == 0
    said = io.StringIO()
    assert command.run(env, [sys.executable, "-c", "pass"], report=True, stderr=said) == 0
    row = next(line for line in said.getvalue().splitlines() if line.startswith("  --mem: "))
    assert " 64 MiB (the environment's mem; " in row
    said = io.StringIO()
    command.run(env, [sys.executable, "-c", "pass"], LimitSet(mem=128 * MiB), report=True,
                stderr=said)
    assert "the environment's mem" not in said.getvalue() and " 128 MiB (" in said.getvalue()


def test_doctor_reports_a_mem_it_cannot_enforce_or_bigger_than_the_machine(env):
    memory = physical_memory()
    assert memory
    prefix_files.write(env, LimitSet(mem=64 * MiB))
    findings = [f for f in health.diagnose(env).findings if f.kind is health.Kind.MEM]
    if _cap_here(64 * MiB) is None:
        assert findings == []
    else:
        assert len(findings) == 1 and "cannot be enforced here for this user" in \
            findings[0].message and "refuse to start" in findings[0].message
    big = (memory // 2**30 + 1) * 2**30 * 2
    prefix_files.write(env, LimitSet(mem=big))
    messages = [f.message for f in health.diagnose(env).findings if f.kind is health.Kind.MEM]
    assert any("is more than this machine's memory" in m for m in messages)
