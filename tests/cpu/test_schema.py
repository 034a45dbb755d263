"""The CPU settings in the ``limits:`` schema: the record and environment.yml (no conda)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conda_limits.limits import provenance
from conda_limits.limits.cpu import Cores, CpuSettings
from conda_limits.limits.model import LimitSet, SchemaError, parse_limits
from conda_limits.state import environment_yml, record


def test_cpu_settings_sit_beside_the_rlimits_and_round_trip_through_the_record(tmp_path):
    limits = parse_limits({"vmem": "4G", "threads": 4, "cpuset": "0-1", "cores": 1.5})
    assert limits.cpu == CpuSettings(4, frozenset({0, 1}), Cores(150))
    assert list(limits) == ["vmem"] and limits.names() == ["vmem", "threads", "cpuset", "cores"]
    text = record.dumps(limits, provenance.each(limits.names(), provenance.COMMAND))
    assert "  threads: 4\n  cpuset: 0-1\n  cores: 1.5\n" in text
    assert "  cores: {kind: conda-limits-set}\n" in text
    assert record.loads(text, Path("limits.yml")) == limits


def test_a_set_with_only_cpu_settings_is_not_empty():
    only = parse_limits({"threads": 2})
    assert only and len(only) == 0
    assert not LimitSet()
    assert only != LimitSet() and only == parse_limits({"threads": "2"})


def test_merged_and_without_handle_cpu_settings():
    base = parse_limits({"nofile": 100, "threads": 2, "cores": 1})
    merged = base.merged(parse_limits({"cores": "0.5", "cpuset": 1}))
    assert merged.cpu == CpuSettings(2, frozenset({1}), Cores(50))
    assert merged.without(["threads", "nofile"]).names() == ["cpuset", "cores"]


@pytest.mark.parametrize(("text", "message"), [
    ("limits:\n  threads: 0\n", "environment.yml:2:12: limits.threads: at least 1 thread"),
    ("limits:\n  cpuset: 9-3\n", "environment.yml:2:11: limits.cpuset: the range 9-3 goes down"),
    ("limits:\n  cores: -1\n", "environment.yml:2:10: limits.cores: above 0"),
    ("limits:\n  threads: 0x10\n",
     "environment.yml:2:12: limits.threads: not plain decimal digits"),
    ("limits:\n  threads: 1.5\n", "environment.yml:2:12: limits.threads: expected a whole number"),
    ("limits:\n  cpus: 2\n", "unknown limit 'cpus' under 'limits'; known limits: vmem,"),
])
def test_bad_cpu_values_in_a_file_name_the_key_and_the_line(text, message):
    with pytest.raises(environment_yml.EnvFileError) as caught:
        environment_yml.loads(text, "environment.yml")
    assert message in str(caught.value)
    if "unknown limit" in message:
        assert str(caught.value).endswith("cpu, mem, threads, cpuset, cores")


def test_environment_yml_edits_keep_comments_and_spelling(tmp_path):
    path = tmp_path / "environment.yml"
    path.write_text("name: x\nlimits:\n  vmem: 4G   # memory\n  threads: 2  # BLAS\n"
                    "dependencies: [python]\n")
    environment_yml.set_limits(path, parse_limits({"cores": "0.5", "cpuset": "0"}))
    assert path.read_text() == ("name: x\nlimits:\n  vmem: 4G   # memory\n  threads: 2  # BLAS\n"
                                "  cpuset: '0'\n  cores: 0.5\n"
                                "dependencies: [python]\n")
    assert environment_yml.load(path).limits.cpu == CpuSettings(2, frozenset({0}), Cores(50))
    environment_yml.unset_limits(path, ["threads", "cores", "cpuset"])
    assert path.read_text() == "name: x\nlimits:\n  vmem: 4G   # memory\ndependencies: [python]\n"


def test_a_new_block_lists_cpu_settings_too():
    limits = parse_limits({"nofile": 64, "threads": 1, "cpuset": "0,1"})
    assert environment_yml.block_text(limits) == (
        "limits:\n  nofile: 64\n  threads: 1\n  cpuset: 0-1\n")


def test_schema_error_type():
    with pytest.raises(SchemaError):
        parse_limits({"cores": "2 cores"})


def test_site_defaults_take_cpu_settings_and_name_their_source():
    from conda_limits.limits import defaults

    limits = defaults.parse("/etc/conda/.condarc", {"threads": 2, "nofile": 1024})
    assert limits.cpu == CpuSettings(threads=2) and list(limits) == ["nofile"]
    merged, sources = defaults.merge((limits, provenance.each(limits.names(),
                                                              provenance.condarc("/x"))))
    assert merged == limits and sources["threads"] == provenance.condarc("/x")
    with pytest.raises(defaults.DefaultsError, match="limits_defaults.cores: above 0"):
        defaults.parse("/etc/conda/.condarc", {"cores": 0})
    assert defaults.skipped("threads,vmem") == {"threads", "vmem"}


def test_doctor_names_cpu_settings_this_machine_cannot_honour(tmp_path):
    import os

    from conda_limits import health
    from conda_limits.limits.affinity import allowed_cpus, format_cpu_list
    from conda_limits.state import prefix_files

    prefix = tmp_path / "env"
    (prefix / "conda-meta").mkdir(parents=True)
    allowed = allowed_cpus()
    far = max(allowed) + 100
    count = os.cpu_count() or 1
    # As a record from a bigger machine would have them.
    prefix_files.write(prefix, parse_limits({"cpuset": f"{min(allowed)},{far}",
                                             "cores": count + 1, "threads": len(allowed) + 1}))
    found = [f for f in health.diagnose(prefix).findings if f.kind is health.Kind.CPU]
    assert [f.message for f in found] == [
        (f"cpuset {min(allowed)},{far}: CPU(s) {far} not available here (allowed: "
        f"{format_cpu_list(allowed)}); {min(allowed)} are used"),
        (f"cores {count + 1} is more than this machine's {count} CPU(s): a quota of {count} "
        "is used here"),
        (f"threads {len(allowed) + 1} is more than the {len(allowed)} CPU(s) this process may "
        f"use ({format_cpu_list(allowed)}): the pools' threads will wait for each other")]
    assert not any(f.fixable for f in found)
    prefix_files.write(prefix, parse_limits({"threads": 1, "cpuset": str(min(allowed))}))
    assert not [f for f in health.diagnose(prefix).findings if f.kind is health.Kind.CPU]
