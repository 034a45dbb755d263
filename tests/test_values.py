"""Parsing and formatting of limit values."""

from __future__ import annotations

import pytest

from conda_limits import resources
from conda_limits.values import UNLIMITED, InvalidValue, exceeds, human, parse, pretty

VMEM = resources.get("vmem")
NOFILE = resources.get("nofile")
CPU = resources.get("cpu")


@pytest.mark.parametrize(("text", "expected"), [
    ("4G", 4 * 2**30), ("4g", 4 * 2**30), ("512MiB", 512 * 2**20), ("512mib", 512 * 2**20),
    ("8M", 8 * 2**20), ("1KB", 1024), ("2T", 2 * 2**40), ("1048576", 1048576),
    ("1048576B", 1048576), (" 16G ", 16 * 2**30), ("0", 0), ("unlimited", UNLIMITED),
    ("UNLIMITED", UNLIMITED), (8 * 2**20, 8 * 2**20),
])
def test_sizes(text, expected):
    assert parse(VMEM, text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("90", 90), ("90s", 90), ("15m", 900), ("2h", 7200), ("1d", 86400), ("unlimited", UNLIMITED),
])
def test_durations(text, expected):
    assert parse(CPU, text) == expected


@pytest.mark.parametrize("text", [
    "4Q", "-3", "", "   ", "1.5h", "1.5G", "1e9", "0x10", "+5", "4 G B", "1000",  # not KiB
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


def test_bad_value_message_says_what_is_accepted():
    with pytest.raises(InvalidValue) as info:
        parse(CPU, "1.5h")
    assert "1.5h" in str(info.value)
    assert "90s, 15m, 2h" in str(info.value)


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
    assert pretty(CPU, 900) == "15 min"
    assert pretty(NOFILE, 1024) == "1024"
    assert pretty(NOFILE, UNLIMITED) == "unlimited"


def test_exceeds():
    assert exceeds(UNLIMITED, 10)
    assert not exceeds(UNLIMITED, UNLIMITED)
    assert not exceeds(10, UNLIMITED)
    assert exceeds(11, 10)
    assert not exceeds(10, 10)
