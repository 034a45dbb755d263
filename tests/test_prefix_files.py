"""The record and scripts inside a prefix, kept in step and written all or nothing."""

from __future__ import annotations

import pytest

from conda_limits.limits.model import parse_limits
from conda_limits.state import prefix_files, record

from .readonly import read_only


@pytest.fixture
def env(tmp_path):
    (tmp_path / "conda-meta").mkdir()
    return tmp_path


def test_write_read_and_remove(env):
    limits = parse_limits({"vmem": "4G", "nofile": {"soft": 1024, "hard": 4096}})
    written = prefix_files.write(env, limits)
    assert record.record_path(env) in written
    assert prefix_files.read(env) == limits
    for path in prefix_files.script_paths(env):
        assert path.is_file(), path
    text = record.record_path(env).read_text()
    assert "vmem: 4G" in text and "nofile: {soft: 1024, hard: 4096}" in text
    assert prefix_files.stale_files(env) == ([], [])

    assert prefix_files.write(env, limits) == []  # nothing to change
    prefix_files.write(env, parse_limits({}))
    assert not record.record_path(env).exists()
    assert not any(p.exists() for p in prefix_files.script_paths(env))
    assert prefix_files.read(env) == parse_limits({})


def test_record_survives_as_the_schema(env):
    prefix_files.write(env, parse_limits({"cpu": "2h", "stack": "8M"}))
    assert record.read(env) == parse_limits({"cpu": 7200, "stack": 8 * 2**20})


def test_stale_scripts_are_found(env):
    prefix_files.write(env, parse_limits({"nofile": 1024}))
    script = prefix_files.script_paths(env)[0]
    script.write_text("# edited\n")
    out_of_date, orphans = prefix_files.stale_files(env)
    assert out_of_date == [script] and orphans == []
    record.record_path(env).unlink()
    assert prefix_files.stale_files(env)[1]  # scripts without a record


def test_broken_record_is_an_error(env):
    path = record.record_path(env)
    path.parent.mkdir(parents=True)
    path.write_text("limits:\n  vmem: 4Q\n")
    with pytest.raises(record.RecordError, match="line 2"):
        record.read(env)
    path.write_text("limits: [\n")
    with pytest.raises(record.RecordError, match="not valid YAML"):
        record.read(env)


@pytest.mark.parametrize("folder", ["etc/conda/activate.d", "etc/conda"])
def test_read_only_prefix_changes_nothing(env, folder):
    """The record is written first: a read-only etc/conda fails at once, a read-only
    activate.d after the record was written (and then put back)."""
    prefix_files.write(env, parse_limits({"nofile": 1024}))
    before = {p: p.read_text() for p in env.rglob("*") if p.is_file()}
    with read_only(env / folder), pytest.raises(prefix_files.PrefixNotWritable,
                                                match="cannot write the limits"):
        prefix_files.write(env, parse_limits({"nofile": 2048}))
    assert {p: p.read_text() for p in env.rglob("*") if p.is_file()} == before
    assert not list(env.rglob("*.tmp"))


def test_unwritable_prefix_rolls_back(env):
    """A failure part-way (here: deactivate.d is a file) puts back what was written."""
    prefix_files.write(env, parse_limits({"nofile": 1024}))
    before = {p: p.read_text() for p in env.rglob("*") if p.is_file()}
    blocker = env / "etc" / "conda" / "deactivate.d"
    for child in blocker.iterdir():
        child.unlink()
    blocker.rmdir()
    blocker.write_text("not a directory")
    before = {p: p.read_text() for p in env.rglob("*") if p.is_file()}
    with pytest.raises(prefix_files.PrefixNotWritable) as info:
        prefix_files.write(env, parse_limits({"nofile": 2048, "vmem": "1G"}))
    assert str(env) in str(info.value)
    assert {p: p.read_text() for p in env.rglob("*") if p.is_file()} == before
    assert not list(env.rglob("*.tmp"))


@pytest.mark.parametrize("error", [KeyboardInterrupt, MemoryError])
def test_an_interrupted_write_puts_every_file_back(env, error):
    """Interrupted at any step (here: Ctrl-C or another exception from inside), a change of
    the record and the scripts leaves them as they were, with no temporary file."""
    from conda_limits.state import atomicfile

    prefix_files.write(env, parse_limits({"nofile": 1024}))
    before = {p: p.read_bytes() for p in env.rglob("*") if p.is_file()}
    stopped = 0
    for number in range(1, 40):
        calls: list[str] = []

        def interrupt(what, number=number, calls=calls):
            calls.append(what)
            if len(calls) == number and not what.endswith("backup removed"):
                raise error(what)

        atomicfile.on_step = interrupt
        try:
            prefix_files.write(env, parse_limits({"nofile": 2048, "vmem": "8G"}))
        except error:
            stopped += 1
            assert {p: p.read_bytes() for p in env.rglob("*") if p.is_file()} == before
            continue
        finally:
            atomicfile.on_step = None
        break  # the write got through: every step was tried
    assert stopped > 5
