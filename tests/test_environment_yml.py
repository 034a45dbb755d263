"""environment.yml's ``limits:``: validation, in-place editing, atomic writes (no conda)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conda_limits.limits.model import LimitSet, parse_limits
from conda_limits.state import atomicfile, environment_yml

DATA = Path(__file__).parent / "data" / "envfiles"
NEW = parse_limits({"vmem": "8G", "nofile": {"soft": 1024, "hard": 4096}, "cpu": "2h"})
CHANGES = {
    "set": lambda limits: limits.merged(NEW),
    "unset-vmem": lambda limits: limits.without(["vmem"]),
    "unset-all": lambda limits: LimitSet(),
}


def copy(name: str, tmp_path: Path) -> Path:
    target = tmp_path / "environment.yml"
    target.write_bytes((DATA / name).read_bytes())
    return target


# ------------------------------------------------------------------------ golden files


@pytest.mark.parametrize("name,change", [
    ("team", "set"), ("team", "unset-vmem"), ("team", "unset-all"), ("plain", "set"),
    ("flow", "set"), ("flow", "unset-vmem"), ("flow", "unset-all"), ("markers", "set"),
])
def test_edit_matches_the_golden_file(tmp_path, name, change):
    path = copy(f"{name}.yml", tmp_path)
    env = environment_yml.load(path)
    wanted = CHANGES[change](env.limits)
    environment_yml.save(env, environment_yml.edit(env, wanted))
    assert path.read_text() == (DATA / f"{name}.{change}.yml").read_text()
    assert environment_yml.load(path).limits == wanted


def test_only_the_limits_lines_change(tmp_path):
    before = (DATA / "team.yml").read_text().splitlines()
    after = (DATA / "team.set.yml").read_text().splitlines()
    start, end = before.index("limits:"), before.index("variables: {OMP_NUM_THREADS: \"4\"}")
    assert after[:start] == before[:start]
    assert after[-(len(before) - end):] == before[end:]
    assert "    vmem: 8G        # ulimit -v" in after  # the entry's comment stays
    assert "    stack: '8M'     # quoted on purpose" in after  # untouched entry, byte for byte
    assert "    # cpu: 2h       (not yet)" in after


@pytest.mark.parametrize("name", ["plain", "markers"])
def test_removing_absent_limits_leaves_the_file_alone(tmp_path, name):
    path = copy(f"{name}.yml", tmp_path)
    before = path.read_bytes()
    env = environment_yml.load(path)
    assert environment_yml.edit(env, LimitSet()) == before.decode()
    assert environment_yml.save(env, environment_yml.edit(env, LimitSet())) is False
    assert path.read_bytes() == before


def test_setting_the_same_limits_changes_nothing(tmp_path):
    path = copy("team.yml", tmp_path)
    before = path.read_bytes()
    env, limits = environment_yml.set_limits(path, parse_limits({"vmem": "4096M"}))
    assert limits == env.limits
    assert path.read_bytes() == before  # same value, other spelling: kept as written


def test_a_quoted_value_stays_quoted(tmp_path):
    path = copy("team.yml", tmp_path)
    environment_yml.set_limits(path, parse_limits({"stack": "16M"}))
    assert "    stack: '16M'    # quoted on purpose\n" in path.read_text()  # comment column kept


def test_block_style_soft_hard_pair_keeps_its_style(tmp_path):
    path = tmp_path / "environment.yml"
    path.write_text("name: x\nlimits:\n  nofile:\n    soft: 10\n    hard: 20\n")
    environment_yml.set_limits(path, parse_limits({"nofile": {"soft": 30, "hard": 40}}))
    assert path.read_text() == "name: x\nlimits:\n  nofile:\n    soft: 30\n    hard: 40\n"


def test_crlf_line_ends_and_byte_order_mark_are_kept(tmp_path):
    path = tmp_path / "environment.yml"
    path.write_bytes(b"\xef\xbb\xbfname: x\r\nlimits:\r\n  vmem: 4G\r\ndependencies: []\r\n")
    environment_yml.set_limits(path, parse_limits({"nofile": 64}))
    assert path.read_bytes() == (b"\xef\xbb\xbfname: x\r\nlimits:\r\n  vmem: 4G\r\n"
                                 b"  nofile: 64\r\ndependencies: []\r\n")


def test_a_new_block_uses_the_files_indentation(tmp_path):
    path = tmp_path / "environment.yml"
    path.write_text("name: x\ndependencies:\n    - python\n")
    environment_yml.set_limits(path, parse_limits({"vmem": "1G"}))
    assert path.read_text() == "name: x\ndependencies:\n    - python\nlimits:\n    vmem: 1G\n"


def test_a_file_without_final_newline_and_an_empty_file(tmp_path):
    path = tmp_path / "environment.yml"
    path.write_text("name: x")
    environment_yml.set_limits(path, parse_limits({"vmem": "1G"}))
    assert path.read_text() == "name: x\nlimits:\n  vmem: 1G\n"
    path.write_text("")
    environment_yml.set_limits(path, parse_limits({"vmem": "1G"}))
    assert path.read_text() == "limits:\n  vmem: 1G\n"


def test_an_empty_limits_key_gets_entries_and_keeps_its_comment(tmp_path):
    path = tmp_path / "environment.yml"
    path.write_text("name: x\nlimits:   # none yet\ndependencies: []\n")
    assert environment_yml.load(path).has_limits and not environment_yml.load(path).limits
    environment_yml.set_limits(path, parse_limits({"cpu": "15m"}))
    assert path.read_text() == "name: x\nlimits:   # none yet\n  cpu: 15m\ndependencies: []\n"


def test_unset_all_removes_the_key(tmp_path):
    path = copy("team.yml", tmp_path)
    env, limits = environment_yml.unset_limits(path, None)
    assert env.has_limits and not limits
    assert not environment_yml.load(path).has_limits


def test_a_flow_style_top_level_is_refused_not_rewritten(tmp_path):
    path = tmp_path / "environment.yml"
    path.write_text("{name: x, dependencies: []}\n")
    with pytest.raises(environment_yml.EnvFileError, match="flow mapping"):
        environment_yml.set_limits(path, parse_limits({"vmem": "1G"}))
    assert path.read_text() == "{name: x, dependencies: []}\n"


def test_dry_run_writes_nothing(tmp_path):
    path = copy("team.yml", tmp_path)
    before = path.read_bytes()
    environment_yml.set_limits(path, NEW, dry_run=True)
    environment_yml.unset_limits(path, None, dry_run=True)
    environment_yml.replace_limits(path, LimitSet(), dry_run=True)
    assert path.read_bytes() == before


def test_replace_limits_makes_the_block_exactly_the_given_limits(tmp_path):
    path = copy("team.yml", tmp_path)
    environment_yml.replace_limits(path, parse_limits({"data": "2G"}))
    assert environment_yml.load(path).limits == parse_limits({"data": "2G"})


# ---------------------------------------------------------------------------- reading


def test_load_reads_name_prefix_and_limits():
    env = environment_yml.load(DATA / "team.yml")
    assert env.name == "ai_env" and env.prefix is None and env.has_limits
    assert env.limits == parse_limits({"vmem": "4G", "nofile": 1024, "stack": "8M"})
    assert not environment_yml.load(DATA / "plain.yml").has_limits


@pytest.mark.parametrize("text,line,column,words", [
    ("limits: [1, 2]\n", 1, 9, "'limits' must be a mapping"),
    ("limits: 5\n", 1, 9, "'limits' must be a mapping"),
    ("name: x\nlimits:\n  vmem: 4Q\n", 3, 9, "limits.vmem: expected a number of bytes"),
    ("name: x\nlimits:\n  nofile: -1\n", 3, 11, "negative values are not limits"),
    ("name: x\nlimits:\n  ulimit: 1\n", 3, 3, "unknown limit 'ulimit' under 'limits'"),
    ("name: x\nlimits:\n  cpu: 1.5s\n", 3, 8, "limits.cpu: not a whole number of seconds"),
    ("limits:\n  nofile: {soft: 10, hard: 4Q}\n", 2, 28, "limits.nofile"),
    ("limits:\n  nofile: {soft: 10, max: 5}\n", 2, 11, "only 'soft' and 'hard'"),
    ("name: x\n  bad: indent\n", 2, 6, "not valid YAML"),
    ("name: [unclosed\n", 2, 1, "not valid YAML"),
    ("name: x\nname: y\n", 2, 1, "duplicate key"),
    ("- a\n- b\n", 1, 1, "the top level must be a mapping"),
])
def test_bad_content_is_located(text, line, column, words):
    with pytest.raises(environment_yml.EnvFileError) as caught:
        environment_yml.loads(text, "environment.yml")
    error = caught.value
    assert (error.line, error.column) == (line, column)
    assert words in error.problem
    assert str(error).startswith(f"environment.yml:{line}:{column}: ")


def test_the_error_says_what_is_accepted():
    with pytest.raises(environment_yml.EnvFileError) as caught:
        environment_yml.loads("limits:\n  vmem: 4Q\n", "environment.yml")
    assert "4G, 4.5G, 512MiB, or 'unlimited'" in str(caught.value)
    assert "'4Q'" in str(caught.value)


INJECTIONS = [
    '"1G; touch /tmp/x"', '"$(touch /tmp/x)"', '"`touch /tmp/x`"', '"1G\\ntouch /tmp/x"',
    '"1G && reboot"', '"4G\\u0000"', '"' + "9" * 5000 + '"', "'٤G'", "'４G'", '"1G #"',
    "[1G]", "{soft: '$(id)'}", "!!binary aGVsbG8=",
]


@pytest.mark.parametrize("value", INJECTIONS)
def test_values_crafted_as_shell_code_are_rejected_before_writing(tmp_path, value):
    path = tmp_path / "environment.yml"
    text = f"name: x\nlimits:\n  vmem: {value}\n"
    path.write_text(text)
    with pytest.raises(environment_yml.EnvFileError, match="limits.vmem"):
        environment_yml.load(path)
    with pytest.raises(environment_yml.EnvFileError):
        environment_yml.set_limits(path, parse_limits({"nofile": 10}))
    assert path.read_text() == text


def test_a_huge_integer_is_an_error_not_a_crash():
    with pytest.raises(environment_yml.EnvFileError, match="not valid YAML"):
        environment_yml.loads("limits:\n  nofile: " + "9" * 5000 + "\n")


def test_missing_file_directory_and_binary_file(tmp_path):
    with pytest.raises(environment_yml.EnvFileError, match="no such file") as caught:
        environment_yml.load(tmp_path / "missing.yml")
    assert str(tmp_path / "missing.yml") in str(caught.value)
    with pytest.raises(environment_yml.EnvFileError, match="is a directory"):
        environment_yml.load(tmp_path)
    (tmp_path / "bin.yml").write_bytes(b"limits:\n  vmem: \xff\n")
    with pytest.raises(environment_yml.EnvFileError, match="not UTF-8"):
        environment_yml.load(tmp_path / "bin.yml")


@pytest.mark.parametrize("limits", [
    parse_limits({"vmem": "4G"}),
    NEW,
    parse_limits({"vmem": "unlimited", "fsize": 1024, "core": 0, "nproc": 100, "cpu": 90}),
])
def test_block_text_parses_back(limits):
    text = environment_yml.block_text(limits)
    assert text.startswith("limits:\n")
    assert environment_yml.loads(text).limits == limits
    text = "name: x\n" + environment_yml.block_text(limits, 4)
    assert environment_yml.loads(text).limits == limits


def test_merge_json(tmp_path):
    path = tmp_path / "environment.json"
    path.write_text('{"name": "x", "dependencies": []}\n')
    environment_yml.merge_json(path, NEW)
    import json

    data = json.loads(path.read_text())
    assert data["name"] == "x"
    assert parse_limits(data["limits"]) == NEW
    environment_yml.merge_json(path, LimitSet())
    assert "limits" not in json.loads(path.read_text())


# --------------------------------------------------------------------------- atomicity


def test_a_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = copy("team.yml", tmp_path)
    before = path.read_bytes()

    def no_space(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomicfile.os, "fsync", no_space)
    with pytest.raises(environment_yml.EnvFileError, match="No space left on device"):
        environment_yml.set_limits(path, NEW)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["environment.yml"]


def test_a_kill_mid_write_leaves_the_old_file(tmp_path):
    """The writer is killed (SIGKILL) after writing the new text, before it is renamed."""
    path = copy("team.yml", tmp_path)
    before = path.read_bytes()
    script = (
        "import os, signal, sys\n"
        "from conda_limits.state import atomicfile, environment_yml\n"
        "from conda_limits.limits.model import parse_limits\n"
        "atomicfile.os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)\n"
        "environment_yml.set_limits(sys.argv[1], parse_limits({'vmem': '1G'}))\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(path)], check=False)
    assert result.returncode == -9
    assert path.read_bytes() == before
    assert environment_yml.load(path).limits["vmem"].soft == 4 * 2**30


def test_the_files_mode_is_kept(tmp_path):
    path = copy("team.yml", tmp_path)
    os.chmod(path, 0o640)
    environment_yml.set_limits(path, NEW)
    assert path.stat().st_mode & 0o777 == 0o640


def test_values_people_type_are_read_as_on_the_command_line(tmp_path):
    """Decimal sizes, compound durations and Slurm's times, quoted or not (YAML 1.1 reads an
    unquoted ``1:30:00`` as a base-60 number: the same seconds)."""
    path = tmp_path / "environment.yml"
    path.write_text("name: x\nlimits:\n  data: 4.5G\n  cpu: 1:30:00\n  nofile: 1024\n")
    assert environment_yml.load(path).limits.to_json()["cpu"]["soft"] == 5400
    assert environment_yml.load(path).limits.to_json()["data"]["soft"] == 9 * 2**29
    for text, seconds in (("'2-00:00:00'", 172800), ("1h30m", 5400), ("90min", 5400),
                          ("'1:30:00'", 5400), ("1.5h", 5400)):
        path.write_text(f"name: x\nlimits:\n  cpu: {text}\n")
        assert environment_yml.load(path).limits.to_json()["cpu"]["soft"] == seconds, text
