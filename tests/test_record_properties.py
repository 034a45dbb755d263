"""Properties of the record parser: whatever the file holds, a RecordError or limits; what
conda-limits writes reads back; what it reports prints safely."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conda_limits.limits.model import LimitSet, parse_limits
from conda_limits.printable import escape
from conda_limits.state import record

from .strategies import sources, spelled_limits

PATH = Path("/env/etc/conda/limits.yml")
FAST = settings(max_examples=int(os.environ.get("PROPERTY_EXAMPLES", "120")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

YAMLISH = st.text(st.sampled_from(list("limits: {}[],-#&*!|>'\"\n\t 0123456789abcGKMx\\%@`"
                                       "\x1b\x00\u202e\ud800")), max_size=120)


@FAST
@given(st.one_of(YAMLISH, st.text(max_size=200)))
def test_any_text_is_limits_or_a_record_error(text):
    try:
        limits = record.loads(text, PATH)
    except record.RecordError as error:
        assert str(error).isprintable()
        assert error.problem
    else:
        assert isinstance(limits, LimitSet)


@FAST
@given(st.binary(max_size=200))
def test_any_bytes_on_disk_are_limits_or_a_record_error(tmp_path_factory, data):
    prefix = tmp_path_factory.mktemp("env")
    path = record.record_path(prefix)
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    try:
        record.read(prefix)
    except record.RecordError as error:
        assert str(error).isprintable()
    assert isinstance(record.read_sources(prefix), dict)


@FAST
@given(st.data())
def test_what_is_written_reads_back(data):
    limits = parse_limits(data.draw(spelled_limits()))
    known = data.draw(sources(limits.names()))
    text = record.dumps(limits, known)
    assert record.loads(text, PATH) == limits
    from conda_limits.limits import provenance
    from conda_limits.state.yaml_loader import round_trip

    assert provenance.from_record(round_trip().load(text).get("sources")) == {
        key: source for key, source in known.items() if key in limits.names()}


@FAST
@given(st.text(max_size=80))
def test_escaped_text_is_printable_and_keeps_printable_text(text):
    shown = escape(text)
    assert shown.isprintable()
    if text.isprintable():
        assert shown == text


def test_a_source_path_with_line_breaking_characters_reads_back():
    """Found by the property above: U+0085 (NEL) in a path came back as a space."""
    from conda_limits.limits import provenance

    limits = parse_limits({"nofile": 64, "vmem": "8G"})
    known = {"nofile": provenance.condarc("/etc/\x85conda\u2028rc"),
             "vmem": provenance.environment_file("/tmp/\x1b[31m.yml")}
    prefix_text = record.dumps(limits, known)
    from conda_limits.state.yaml_loader import round_trip

    assert provenance.from_record(round_trip().load(prefix_text)["sources"]) == known
