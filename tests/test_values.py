"""Parsing and formatting of limit values."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conda_limits.limits import resources
from conda_limits.limits.values import (
    MAX_VALUE,
    UNLIMITED,
    InvalidValue,
    WrittenInt,
    approx,
    exceeds,
    human,
    is_bare_size,
    parse,
    pretty,
)

from .strategies import RESOURCES, TEXT, yamlish
from .strategies import values as valid_values

VMEM = resources.get("vmem")
NOFILE = resources.get("nofile")
CPU = resources.get("cpu")


@pytest.mark.parametrize(("text", "expected"), [
    ("4G", 4 * 2**30), ("4g", 4 * 2**30), ("512MiB", 512 * 2**20), ("512mib", 512 * 2**20),
    ("8M", 8 * 2**20), ("1KB", 1024), ("2T", 2 * 2**40), ("1048576", 1048576),
    ("1048576B", 1048576), (" 16G ", 16 * 2**30), ("0", 0), ("unlimited", UNLIMITED),
    ("UNLIMITED", UNLIMITED), (8 * 2**20, 8 * 2**20), ("4.5G", 9 * 2**29),
    ("1.25 GiB", 1280 * 2**20), ("0.5M", 512 * 2**10), ("4 G", 4 * 2**30),
])
def test_sizes(text, expected):
    assert parse(VMEM, text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("90", 90), ("90s", 90), ("15m", 900), ("2h", 7200), ("1d", 86400), ("unlimited", UNLIMITED),
    ("1h30m", 5400), ("1h 30m", 5400), ("90min", 5400), ("1.5h", 5400), ("2 hours", 7200),
    ("1d12h", 129600), ("1:30:00", 5400), ("2-00:00:00", 172800),
    ("1-12", 129600), ("1-12:30", 131400), ("01:05:00", 3900),
])
def test_durations(text, expected):
    assert parse(CPU, text) == expected


@pytest.mark.parametrize("text", [
    "4Q", "-3", "", "   ", "1.5h", "1.1G", "1.5K", "4.", ".5G", "1e9", "0x10", "+5", "4 G B",
    "1000",  # not KiB
    "１２", "٣", "1G; touch /tmp/x", "$(id)", "`id`", "1\n2", "9" * 41, "4GG", "G",
    None, 1.5, True, [1], {"soft": 1},
])
def test_bad_sizes(text):
    with pytest.raises(InvalidValue) as info:
        parse(VMEM, text)
    assert "vmem" in str(info.value)


@pytest.mark.parametrize("text", ["-3", "1K", "1.0", "ten", "", "1 2"])
def test_bad_counts(text):
    with pytest.raises(InvalidValue, match="nofile"):
        parse(NOFILE, text)


@pytest.mark.parametrize("text", [
    "1.5s", "1h1h", "1m1h", "1h30", "1-", "1:75", "1:30:75", "1-24", "1:2:3:4", "-1:00",
    "1.5:00", "2 fortnights", "h", "1hh", "1:30", "30:00",
])
def test_bad_durations(text):
    with pytest.raises(InvalidValue, match="cpu"):
        parse(CPU, text)


def test_bad_value_message_says_what_is_accepted():
    with pytest.raises(InvalidValue) as info:
        parse(CPU, "1.5x")
    assert "1.5x" in str(info.value)
    assert "1.5h, 1h30m, 90min" in str(info.value)
    assert "1:30:00, 2-00:00:00" in str(info.value)
    with pytest.raises(InvalidValue) as info:
        parse(VMEM, "1.1G")
    assert "not a whole number of KiB" in str(info.value)
    assert "4.5G" in str(info.value)


def test_sexagesimal_yaml_durations_are_read_as_slurm_writes_them():
    """YAML 1.1 reads ``1:30:00`` as a base-60 integer: the same seconds as Slurm's H:M:S;
    ``1:30`` (90 to YAML and Slurm, an hour and a half to many people) is refused."""
    assert parse(CPU, WrittenInt(5400, "1:30:00")) == 5400
    with pytest.raises(InvalidValue, match="not plain decimal digits"):
        parse(CPU, WrittenInt(90, "1:30"))
    with pytest.raises(InvalidValue, match="ambiguous"):
        parse(CPU, "1:30")
    text, expected = "1:30:00", 5400
    with pytest.raises(InvalidValue, match="not plain decimal digits"):
        parse(VMEM, WrittenInt(expected * 1024, text))


def test_bare_sizes():
    assert is_bare_size("4194304") and is_bare_size(" 1024 ")
    assert not is_bare_size("0") and not is_bare_size("4G") and not is_bare_size("4096B")


def test_too_large():
    with pytest.raises(InvalidValue, match="too large"):
        parse(NOFILE, str(2**63))


def test_size_must_be_whole_kib():
    with pytest.raises(InvalidValue, match="multiple of 1024"):
        parse(VMEM, 1000)


@pytest.mark.parametrize("resource_key", resources.KEYS)
@pytest.mark.parametrize("value", [0, 1024, 3 * 2**20, 5 * 2**30, 7 * 2**40, 3600, 61, UNLIMITED])
def test_human_round_trips(resource_key, value):
    resource = resources.get(resource_key)
    try:
        parsed = parse(resource, value)
    except InvalidValue:
        return  # e.g. 61 is not a whole number of KiB
    assert parse(resource, human(resource, parsed)) == parsed


def test_human_and_pretty():
    assert human(VMEM, 4 * 2**30) == "4G"
    assert human(VMEM, 1536 * 2**20) == "1536M"
    assert human(CPU, 900) == "15m"
    assert human(CPU, 61) == "61s"
    assert pretty(VMEM, 4 * 2**30) == "4 GiB"
    assert pretty(VMEM, 1536 * 2**20) == "1.5 GiB"
    assert pretty(VMEM, 1280 * 2**20) == "1.25 GiB"
    assert pretty(VMEM, 1025 * 2**20) == "1025 MiB"
    assert pretty(VMEM, 2**30 + 2**10) == "1048577 KiB"
    assert pretty(VMEM, 1000) == "1000 B"
    assert approx(VMEM, 1025 * 2**20) == "1.0 GiB"
    assert approx(CPU, 899.6) == "15 min"
    assert pretty(CPU, 900) == "15 min"
    assert pretty(NOFILE, 1024) == "1024"
    assert pretty(NOFILE, UNLIMITED) == "unlimited"


def test_exceeds():
    assert exceeds(UNLIMITED, 10)
    assert not exceeds(UNLIMITED, UNLIMITED)
    assert not exceeds(10, UNLIMITED)
    assert exceeds(11, 10)
    assert not exceeds(10, 10)


# ------------------------------------------------------------------ properties (hypothesis)


def _is_validated(resource, value) -> bool:
    """What every accepted value is: ``unlimited``, or a plain int in range (whole KiB for
    sizes), never a bool, a float or an int subclass carrying text."""
    if value == UNLIMITED:
        return value is UNLIMITED or type(value) is str
    return (type(value) is int and 0 <= value <= MAX_VALUE
            and (resource.kind.value != "size" or value % 1024 == 0))


@given(st.data())
def test_property_human_parses_back_to_the_value(data):
    resource = data.draw(RESOURCES)
    value = data.draw(valid_values(resource))
    assert parse(resource, human(resource, value)) == value
    assert parse(resource, value) == value
    assert isinstance(pretty(resource, value), str)


@settings(max_examples=500)
@given(RESOURCES, TEXT)
def test_property_text_is_a_validated_value_or_invalid_value(resource, text):
    try:
        value = parse(resource, text)
    except InvalidValue as error:
        assert resource.key in str(error) and error.reason
        return
    assert _is_validated(resource, value)
    stripped = text.strip()
    assert stripped.isascii() and len(stripped) <= 40
    if stripped.isdigit():
        assert value == int(stripped)


@given(RESOURCES, yamlish())
def test_property_any_object_is_a_validated_value_or_invalid_value(resource, raw):
    try:
        value = parse(resource, raw)
    except InvalidValue:
        return
    assert _is_validated(resource, value)
    assert not isinstance(raw, (bool, float, list, dict))


@given(RESOURCES, st.integers(0, 2**70), st.text(min_size=1, max_size=12))
def test_property_an_integer_yaml_wrote_otherwise_is_never_accepted(resource, number, text):
    """... but for a duration written as Slurm (and YAML 1.1's base 60) writes a time, which
    is read from its text."""
    try:
        value = parse(resource, WrittenInt(number, text))
    except InvalidValue:
        return
    assert resource.kind.value == "duration" and text.count(":") == 2
    assert value == parse(resource, text)


@given(st.data())
def test_property_pretty_is_exact(data):
    """Two different values never look the same (``1025M`` is not ``1G``)."""
    resource = data.draw(RESOURCES)
    a, b = data.draw(valid_values(resource)), data.draw(valid_values(resource))
    assert (pretty(resource, a) == pretty(resource, b)) == (a == b)


@given(st.integers(0, 10**7), st.sampled_from(["d", "h", "m", "s"]), st.integers(0, 59),
       st.integers(0, 59), st.integers(0, 23))
def test_property_durations_in_every_form(number, unit, minutes, seconds, hours):
    factor = {"d": 86400, "h": 3600, "m": 60, "s": 1}[unit]
    assert parse(CPU, f"{number}{unit}") == number * factor
    assert parse(CPU, f"{number}:{minutes:02d}:{seconds:02d}") == (
        number * 3600 + minutes * 60 + seconds)
    assert parse(CPU, f"{number}-{hours}:{minutes:02d}") == (
        number * 86400 + hours * 3600 + minutes * 60)
    assert parse(CPU, f"{number}h{minutes}m{seconds}s") == number * 3600 + minutes * 60 + seconds


@given(st.integers(0, 2**20), st.sampled_from(["K", "M", "G"]), st.integers(0, 99))
def test_property_decimal_sizes_are_exact_or_refused(whole, unit, hundredths):
    factor = {"K": 2**10, "M": 2**20, "G": 2**30}[unit]
    text = f"{whole}.{hundredths:02d}{unit}"
    exact = (whole * 100 + hundredths) * factor
    try:
        value = parse(VMEM, text)
    except InvalidValue as error:
        assert exact % 100 or (exact // 100) % 1024, error
        return
    assert value * 100 == exact


@given(st.data())
def test_property_units_and_case_and_spaces(data):
    resource = data.draw(RESOURCES)
    number = data.draw(st.integers(0, 2**20))
    if resource.kind.value == "size":
        unit, factor = data.draw(st.sampled_from([("K", 2**10), ("kib", 2**10), ("M", 2**20),
                                                  ("MiB", 2**20), ("g", 2**30), ("GB", 2**30),
                                                  ("T", 2**40)]))
    elif resource.kind.value == "duration":
        unit, factor = data.draw(st.sampled_from([("s", 1), ("M", 60), ("h", 3600),
                                                  ("D", 86400), ("", 1)]))
    else:
        unit, factor = "", 1
    space = data.draw(st.sampled_from(["", " "]))
    assert parse(resource, f" {number}{space}{unit} ") == number * factor


@given(st.data())
def test_property_exceeds_is_a_total_order_with_unlimited_on_top(data):
    resource = data.draw(RESOURCES)
    a, b = data.draw(valid_values(resource)), data.draw(valid_values(resource))
    assert exceeds(a, b) == (a != b and not exceeds(b, a))
    assert not exceeds(a, UNLIMITED)
