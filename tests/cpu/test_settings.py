"""The CPU settings: strict parsing, exact formatting, checks against this machine."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conda_limits.errors import LimitsError
from conda_limits.limits import affinity
from conda_limits.limits import cpu as settings
from conda_limits.limits.cpu import CORES, CPUSET, THREADS, Cores, CpuSettings, InvalidCpuSetting


@pytest.mark.parametrize(("raw", "value"), [(1, 1), ("4", 4), (" 16 ", 16), ("0004", 4),
                                            (4096, 4096)])
def test_threads_takes_positive_whole_numbers(raw, value):
    assert settings.parse(THREADS, raw) == value


@pytest.mark.parametrize("raw", [0, "0", -1, "-1", "1.5", 1.5, "", "four", "4 threads", True,
                                 None, "٤", "1e3", 4097, "99999999", [4]])
def test_threads_refuses_everything_else_and_says_what_is_accepted(raw):
    with pytest.raises(InvalidCpuSetting) as caught:
        settings.parse(THREADS, raw)
    assert caught.value.key == THREADS
    assert str(caught.value).startswith(f"invalid value {raw!r}" if isinstance(raw, str)
                                        else f"invalid value {raw}")
    assert "for threads" in str(caught.value)
    assert isinstance(caught.value, LimitsError)


@pytest.mark.parametrize(("raw", "cpus", "text"), [
    ("0-3,8", {0, 1, 2, 3, 8}, "0-3,8"),
    ("8,0-3", {0, 1, 2, 3, 8}, "0-3,8"),
    (" 0 , 2-2 ", {0, 2}, "0,2"),
    (1, {1}, "1"),
    ("0-1,1-2", {0, 1, 2}, "0-2"),
])
def test_cpuset_is_a_linux_cpu_list_written_back_in_its_shortest_form(raw, cpus, text):
    value = settings.parse(CPUSET, raw)
    assert value == frozenset(cpus)
    assert settings.human(CPUSET, value) == text


@pytest.mark.parametrize(("raw", "reason"), [
    ("9-3", "the range 9-3 goes down; write 3-9"),
    ("a-b", "'a-b' is neither a CPU number nor a range N-M"),
    ("", "the list is empty"),
    ("0,,1", "'' is neither a CPU number nor a range N-M"),
    ("-1", "'-1' is neither"),
    ("0-3:2", "'0-3:2' is neither"),
    ("8192", "CPU 8192 is above the largest CPU number Linux has, 8191"),
    ("0-" + "9" * 300, "longer than 200 characters"),
])
def test_cpuset_refuses_what_is_not_a_cpu_list(raw, reason):
    with pytest.raises(InvalidCpuSetting, match="for cpuset: ") as caught:
        settings.parse(CPUSET, raw)
    assert caught.value.reason.startswith(reason)
    assert caught.value.reason.endswith("expected a Linux CPU list: CPU numbers and ranges "
                                        "separated by commas, e.g. 0-3,8")


@pytest.mark.parametrize(("raw", "text"), [("2.5", "2.5"), (2.5, "2.5"), (2, "2"), ("0.01", "0.01"),
                                           ("0.50", "0.5"), ("10", "10"), ("1.", "1"),
                                           (".25", "0.25"), (" 3 ", "3")])
def test_cores_takes_positive_numbers_with_two_decimals(raw, text):
    value = settings.parse(CORES, raw)
    assert settings.human(CORES, value) == text
    assert settings.parse(CORES, text) == value


@pytest.mark.parametrize(("raw", "reason"), [
    (0, "above 0"), ("0", "above 0"), ("0.00", "above 0"), (-1, "above 0"), ("-0.5", "above 0"),
    ("0.005", "at most two decimals"), (0.1 + 0.2, "at most two decimals"),
    ("1e3", "expected a number of cores"), ("nan", "expected"), ("inf", "expected"),
    ("2 cores", "expected"), (True, "expected"), ("", "expected"), ("1.2.3", "expected"),
])
def test_cores_refuses_zero_negatives_and_too_fine_values(raw, reason):
    with pytest.raises(InvalidCpuSetting, match="for cores: ") as caught:
        settings.parse(CORES, raw)
    assert reason in caught.value.reason


def test_to_yaml_and_to_json_give_plain_scalars():
    parsed = settings.from_mapping({"threads": "4", "cpuset": "3,0-1", "cores": "2.5",
                                    "vmem": "4G"})
    assert parsed == CpuSettings(4, frozenset({0, 1, 3}), Cores(250))
    assert parsed.to_yaml() == {"threads": 4, "cpuset": "0-1,3", "cores": 2.5}
    assert {key: value["value"] for key, value in parsed.to_json().items()} == {
        "threads": 4, "cpuset": [0, 1, 3], "cores": 2.5}
    assert {value["unit"] for value in parsed.to_json().values()} == {"threads", "cpus", "cores"}
    assert CpuSettings(cores=Cores(200)).to_yaml() == {"cores": 2}
    assert settings.from_mapping(parsed.to_yaml()) == parsed


@given(st.sets(st.integers(0, affinity.MAX_CPU), min_size=1, max_size=40))
def test_any_set_of_cpus_round_trips_through_its_text(cpus):
    text = affinity.format_cpu_list(cpus)
    assert affinity.parse_cpu_list(text) == frozenset(cpus)


@given(st.integers(1, 999_999))
def test_any_cores_value_round_trips_through_its_text_and_yaml(hundredths):
    text = f"{hundredths // 100}.{hundredths % 100:02d}"
    value = settings.parse(CORES, text)
    assert value == Cores(hundredths)
    assert settings.parse(CORES, settings.human(CORES, value)) == value
    assert settings.parse(CORES, settings.to_yaml(CORES, value)) == value


def test_settings_for_a_bigger_machine_are_narrowed_where_applied_with_one_line_each():
    from conda_limits.limits.cpu_checks import beyond_machine, on_this_machine

    allowed = affinity.allowed_cpus()
    count = os.cpu_count()
    big = CpuSettings(cpuset=frozenset(range(max(allowed) + 64)), cores=Cores(3200))
    here, warnings = on_this_machine(big)
    assert here.cpuset == allowed and here.cores == Cores(min(3200, count * 100))
    assert here.pool_size() == min(len(allowed), here.cores.ceil())  # not 64 threads
    assert len(warnings) == (2 if count < 32 else 1)
    assert warnings[0].startswith(f"cpuset {affinity.format_cpu_list(big.cpuset)}: CPU(s) ")
    assert warnings[0].endswith(f"using {affinity.format_cpu_list(allowed)}")
    if count < 32:
        assert warnings[1] == (f"cores 32 is more than this machine's {count} CPU(s): a "
                               f"quota of {count} is used here")
    assert len(beyond_machine(big)) == len(warnings)
    assert all(w.endswith("(recorded as given, for a machine that has them)")
               for w in beyond_machine(big))
    elsewhere = CpuSettings(cpuset=frozenset({max(allowed) + 1}))
    here, warnings = on_this_machine(elsewhere)
    assert here.cpuset is None and "none of these CPUs is available here" in warnings[0]
    fits = CpuSettings(threads=4096, cpuset=allowed, cores=Cores(count * 100))
    assert on_this_machine(fits) == (fits, []) and beyond_machine(fits) == []


def test_the_pool_size_follows_threads_else_the_cpuset_and_the_quota():
    assert CpuSettings().pool_size() is None
    assert CpuSettings(threads=3, cpuset=frozenset({0}), cores=Cores(800)).pool_size() == 3
    assert CpuSettings(cpuset=frozenset({0, 1, 5})).pool_size() == 3
    assert CpuSettings(cores=Cores(250)).pool_size() == 3
    assert CpuSettings(cores=Cores(25)).pool_size() == 1
    both = CpuSettings(cpuset=frozenset(range(8)), cores=Cores(150))
    assert (both.pool_size(), both.pool_source()) == (2, CORES)
    both = CpuSettings(cpuset=frozenset({4}), cores=Cores(150))
    assert (both.pool_size(), both.pool_source()) == (1, CPUSET)
    assert CpuSettings(threads=2).pool_source() == THREADS


def test_merged_settings_take_the_other_sides_values_that_are_set():
    base = CpuSettings(threads=2, cores=Cores(100))
    assert base.merged(CpuSettings(cores=Cores(50))) == CpuSettings(2, None, Cores(50))
    assert not CpuSettings() and base
