"""The limits: schema and the LimitSet."""

from __future__ import annotations

import pytest

from conda_limits.model import Limit, LimitSet, SchemaError, parse_limits
from conda_limits.values import UNLIMITED


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
    assert merged.to_json()["vmem"] == {"soft": 4 * 2**30, "hard": None}


def test_with_hard():
    assert Limit(5).with_hard() == Limit(5, 5)
