"""Site defaults and provenance without conda: validation, the opt-out, the merge under
environment.yml's limits, and the ``sources:`` the record keeps."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conda_limits.limits import defaults, floors, provenance, resources
from conda_limits.limits.defaults import DefaultsError
from conda_limits.limits.model import KEYS, Limit, parse_limits
from conda_limits.limits.provenance import Source
from conda_limits.state import prefix_files, record

from .strategies import LIMITS_DATA, valid_limits, yamlish

SITE = "/etc/conda/.condarc"


def test_parse_takes_the_schema_names_and_values():
    limits = defaults.parse(SITE, {"vmem": "4G", "nofile": 1024, "cpu": "unlimited",
                                   "stack": "8M"})
    assert limits == parse_limits({"vmem": "4G", "nofile": 1024, "cpu": "unlimited",
                                   "stack": "8M"})
    assert defaults.parse(SITE, {"nofile": "1024"})["nofile"] == Limit(1024)  # conda's str
    assert not defaults.parse(SITE, {})


@pytest.mark.parametrize(("data", "message"), [
    ({"vmem": "4Q"}, f"{SITE}: plugins.limits_defaults.vmem: expected a number of bytes"),
    ({"nofile": -1}, "plugins.limits_defaults.nofile: negative"),
    ({"vmem": 1000}, "plugins.limits_defaults.vmem: sizes are applied in KiB"),
    ({"bogus": 1}, "plugins.limits_defaults.bogus: unknown limit; known limits: vmem"),
    ({"nofile": {"soft": 1, "hard": 2}}, "nofile: a default is one value, the soft limit"),
    ({"nofile": [1, 2]}, "nofile: a default is one value"),
    ({"vmem": "1G; touch /tmp/x"}, "vmem: expected"),
    ({"nofile": "$(id)"}, "nofile: expected"),
    ({"nofile": True}, "nofile: expected"),
    ([1, 2], f"{SITE}: plugins.limits_defaults: expected a mapping of limit names"),
    ("4G", "expected a mapping"),
])
def test_bad_defaults_name_the_file_and_the_key(data, message):
    with pytest.raises(DefaultsError) as error:
        defaults.parse(SITE, data)
    assert message in str(error.value)
    assert error.value.in_config


@pytest.mark.parametrize(("text", "skipped"), [
    (None, set()), ("", set()), ("0", set()), ("no", set()), ("false", set()),
    ("1", set(KEYS)), ("yes", set(KEYS)),
    ("ALL", set(KEYS)),
    ("vmem", {"vmem"}), (" vmem, nofile ,", {"vmem", "nofile"}),
])
def test_opt_out_variable(text, skipped):
    assert defaults.skipped(text) == skipped


def test_opt_out_variable_with_an_unknown_name_is_an_error():
    with pytest.raises(DefaultsError) as error:
        defaults.skipped("vmem,bogus")
    assert "CONDA_LIMITS_NO_DEFAULTS='vmem,bogus': unknown limit 'bogus'" in str(error.value)
    assert not error.value.in_config


def test_file_limits_win_per_key_over_defaults(tmp_path):
    site = (defaults.parse(SITE, {"vmem": "4G", "nofile": 1024}),
            provenance.each(["vmem", "nofile"], provenance.condarc(SITE)))
    path = tmp_path / "environment.yml"
    file = defaults.from_file(parse_limits({"vmem": "unlimited", "stack": "8M"}), path)
    limits, sources = defaults.merge(site, file)
    assert limits == parse_limits({"vmem": "unlimited", "stack": "8M", "nofile": 1024})
    assert sources == {"vmem": provenance.environment_file(str(path)),
                       "stack": provenance.environment_file(str(path)),
                       "nofile": provenance.condarc(SITE)}
    assert defaults.merge(site) == site  # no file: the defaults alone
    assert defaults.merge() == (parse_limits({}), {})


def test_a_later_file_wins_and_relative_paths_become_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = defaults.from_file(parse_limits({"nofile": 10, "cpu": "1h"}), "a.yml")
    second = defaults.from_file(parse_limits({"nofile": 20}), "b.yml")
    limits, sources = defaults.merge(first, second)
    assert limits["nofile"] == Limit(20)
    assert sources["nofile"].path == str(tmp_path / "b.yml")
    assert sources["cpu"].path == str(tmp_path / "a.yml")


def test_a_layer_without_a_source_for_a_key_leaves_it_unknown():
    known = (parse_limits({"nofile": 10}), {"nofile": provenance.COMMAND})
    unknown = (parse_limits({"nofile": 20}), {})
    assert defaults.merge(known, unknown)[1] == {}


def test_source_labels_and_data():
    assert provenance.condarc(SITE).label == f"default ({SITE})"
    assert provenance.environment_file("/p/environment.yml").label == "/p/environment.yml"
    assert provenance.COMMAND.label == "conda limits set"
    for source in (provenance.condarc(SITE), provenance.environment_file("/e.yml"),
                   provenance.COMMAND):
        assert Source.from_data(source.to_data()) == source
    assert provenance.COMMAND.to_data() == {"kind": "conda-limits-set"}


@pytest.mark.parametrize("data", [None, "condarc", {"kind": "elsewhere"},
                                  {"kind": "condarc"}, {"kind": "condarc", "path": 3},
                                  {"kind": "conda-limits-set", "path": "/x"}])
def test_sources_that_cannot_be_understood_are_unknown(data):
    assert Source.from_data(data) is None
    assert provenance.from_record({"vmem": data}) == {}


@pytest.fixture
def env(tmp_path):
    (tmp_path / "conda-meta").mkdir()
    return tmp_path


def test_the_record_keeps_the_sources_beside_the_limits(env):
    limits = parse_limits({"vmem": "4G", "nofile": 1024})
    sources = {"vmem": provenance.condarc(SITE), "nofile": provenance.COMMAND,
               "cpu": provenance.COMMAND}  # cpu is not a limit here: left out
    prefix_files.write(env, limits, sources)
    assert record.read(env) == limits  # the limits: schema is unchanged
    assert record.read_sources(env) == {"vmem": sources["vmem"], "nofile": sources["nofile"]}
    text = record.record_path(env).read_text()
    assert "sources:\n  vmem: {kind: condarc, path: /etc/conda/.condarc}\n" in text
    assert "  nofile: {kind: conda-limits-set}\n" in text


def test_writing_without_sources_keeps_those_of_the_limits_that_stay(env):
    prefix_files.write(env, parse_limits({"vmem": "4G", "nofile": 1024}),
                    {"vmem": provenance.condarc(SITE), "nofile": provenance.COMMAND})
    prefix_files.write(env, parse_limits({"vmem": "4G"}))  # e.g. `conda limits unset --nofile`
    assert record.read_sources(env) == {"vmem": provenance.condarc(SITE)}
    prefix_files.write(env, parse_limits({"vmem": "4G", "cpu": "1h"}))
    assert record.read_sources(env) == {"vmem": provenance.condarc(SITE)}  # cpu: unknown


def test_a_record_without_sources_or_with_broken_ones_still_reads(env):
    path = record.record_path(env)
    path.parent.mkdir(parents=True)
    path.write_text("limits:\n  nofile: 1024\n")
    assert record.read_sources(env) == {}
    path.write_text("limits:\n  nofile: 1024\nsources: [oops]\n")
    assert record.read(env) == parse_limits({"nofile": 1024})
    assert record.read_sources(env) == {}
    path.write_text("limits: [\n")
    assert record.read_sources(env) == {}  # record.read reports this one


# ------------------------------------------------------------------ properties (hypothesis)


@settings(max_examples=300)
@given(LIMITS_DATA)
def test_property_any_defaults_are_a_limit_set_or_a_defaults_error(data):
    try:
        limits = defaults.parse(SITE, data)
    except DefaultsError as error:
        assert str(error).startswith(f"{SITE}: plugins.limits_defaults")
        assert error.in_config
        return
    assert all(limit.hard is None for limit in limits.values())  # one value: the soft limit
    assert limits == parse_limits(data)  # the names and values of the schema


@settings(max_examples=300)
@given(st.text(max_size=40) | st.lists(st.sampled_from([*resources.KEYS, "1", "all", "x", " "]),
                                       max_size=4).map(",".join))
def test_property_the_opt_out_variable(text):
    try:
        skipped = defaults.skipped(text)
    except DefaultsError as error:
        assert not error.in_config and "CONDA_LIMITS_NO_DEFAULTS" in str(error)
        return
    assert skipped <= set(KEYS)  # the rlimits and the CPU settings


@given(valid_limits())
def test_property_refuse_tiny_names_the_file_of_the_first_tiny_default(data):
    limits = parse_limits({key: value["soft"] if isinstance(value, dict) and "soft" in value
                           else value for key, value in data.items()
                           if not isinstance(value, dict) or "soft" in value})
    sources = provenance.each(limits, provenance.condarc(SITE))
    tiny = [key for key, limit in limits.items()
            if floors.is_tiny(resources.get(key), limit.soft)]
    try:
        defaults.refuse_tiny(limits, sources)
        assert not tiny
    except DefaultsError as error:
        assert str(error).startswith(f"{SITE}: plugins.limits_defaults.{tiny[0]}: ")


@given(yamlish())
def test_property_sources_that_cannot_be_understood_are_left_out(data):
    found = provenance.from_record(data)
    assert all(isinstance(key, str) and source.kind in provenance.KINDS
               for key, source in found.items())
