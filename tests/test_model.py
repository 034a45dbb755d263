"""The limits: schema and the LimitSet."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conda_limits.limits import floors, resources
from conda_limits.limits.model import Limit, LimitSet, SchemaError, parse_limits
from conda_limits.limits.values import MAX_VALUE, UNLIMITED
from conda_limits.shells import csh, fish, posix

from .strategies import LIMITS_DATA, MARKER, TEXT, valid_limits


def test_parse_plain_and_pairs():
    limits = parse_limits({"vmem": "4G", "nofile": {"soft": 1024, "hard": 4096},
                           "cpu": "unlimited", "core": {"hard": 0}})
    assert limits["vmem"] == Limit(4 * 2**30)
    assert limits["nofile"] == Limit(1024, 4096)
    assert limits["cpu"] == Limit(UNLIMITED)
    assert limits["core"] == Limit(None, 0)
    assert list(limits) == ["vmem", "core", "nofile", "cpu"]  # table order


@pytest.mark.parametrize(("data", "message"), [
    ({"vmemory": "4G"}, "unknown limit 'vmemory'"),
    ({"vmem": "4Q"}, "limits.vmem"),
    ({"nofile": -1}, "negative"),
    ([1, 2], "'limits' must be a mapping"),
    ("4G", "'limits' must be a mapping"),
    ({"nofile": {"soft": 10, "hard": 5}}, "above the hard value"),
    ({"nofile": {"soft": 10, "max": 5}}, "only 'soft' and 'hard'"),
    ({"nofile": {}}, "only 'soft' and 'hard'"),
    ({"vmem": "1G; touch /tmp/x"}, "limits.vmem"),
    ({"vmem": "$(touch /tmp/x)"}, "limits.vmem"),
    ({"vmem": "`id`"}, "limits.vmem"),
    ({"nofile": "12\n34"}, "limits.nofile"),
    ({"nofile": "１０２４"}, "limits.nofile"),
    ({"nofile": "9" * 5000}, "limits.nofile"),
    ({"nofile": True}, "limits.nofile"),
    ({"nofile": 1.5}, "limits.nofile"),
    ({"nofile": None}, "limits.nofile"),
])
def test_schema_errors(data, message):
    with pytest.raises(SchemaError) as info:
        parse_limits(data)
    assert message in str(info.value)


def test_long_values_are_shortened_in_messages():
    with pytest.raises(SchemaError) as info:
        parse_limits({"nofile": "9" * 5000})
    assert len(str(info.value)) < 300


def test_empty():
    assert parse_limits(None) == LimitSet()
    assert parse_limits({}) == LimitSet()


def test_limit_needs_a_value():
    with pytest.raises(ValueError):
        Limit()


def test_merge_without_and_yaml_form():
    base = parse_limits({"vmem": "4G", "nofile": 1024})
    merged = base.merged({"nofile": Limit(2048, 2048), "cpu": Limit(60)})
    assert merged.to_yaml() == {"vmem": "4G", "nofile": {"soft": 2048, "hard": 2048},
                                "cpu": "1m"}
    assert merged.without(["vmem", "stack"]).to_yaml() == {
        "nofile": {"soft": 2048, "hard": 2048}, "cpu": "1m"}
    assert parse_limits(merged.to_yaml()) == merged
    assert merged.to_json()["vmem"] == {"kind": "rlimit", "value": 4 * 2**30,
                                        "soft": 4 * 2**30, "hard": None, "unit": "bytes"}


def test_with_hard():
    assert Limit(5).with_hard() == Limit(5, 5)


# ------------------------------------------------------------------ properties (hypothesis)


def _validated(limits: LimitSet) -> bool:
    """Every soft and hard value is ``unlimited`` or a plain, bounded int."""
    return all(value is None or value == UNLIMITED or
               (type(value) is int and 0 <= value <= MAX_VALUE)
               for _, limit in limits.items_with_resource() for value in (limit.soft, limit.hard))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(LIMITS_DATA)
def test_property_any_data_is_a_validated_limit_set_or_a_schema_error(data):
    try:
        limits = parse_limits(data)
    except SchemaError as error:
        assert error.message and len(str(error)) < 600
        return
    assert _validated(limits)
    assert parse_limits(limits.to_yaml()) == limits


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(resources.KEYS), st.just(MARKER) | TEXT, min_size=1))
def test_property_nothing_typed_reaches_a_script(data):
    try:
        limits = parse_limits(data)
    except SchemaError:
        return
    for render in (posix.render_activate, fish.render_activate, csh.render_activate):
        script = render(limits)
        # the script is a function of the validated values alone, whatever their spelling
        assert render(parse_limits(limits.to_yaml())) == script
        assert MARKER not in script


@given(valid_limits())
def test_property_valid_limits_round_trip_and_floors_are_all_or_nothing(data):
    limits = parse_limits(data)
    assert parse_limits(limits.to_yaml()) == limits
    tiny = any(floors.is_tiny(resource, value) for resource, limit in limits.items_with_resource()
               for value in (limit.soft, limit.hard))
    try:
        assert parse_limits(data, check_floors=True) == limits
        assert not tiny
    except SchemaError as error:
        assert tiny and "is below" in error.message
