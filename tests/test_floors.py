"""Floors: values below what shells and small programs need are refused where limits are
applied, and the floors are enough, as measured in real shells."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conda_limits.limits import defaults, floors, provenance, resources
from conda_limits.limits.floors import FLOORS, TinyValue
from conda_limits.limits.model import Limit, SchemaError, parse_limits
from conda_limits.limits.values import UNLIMITED, human
from conda_limits.state.environment_yml import loads

from .strategies import RESOURCES
from .strategies import values as valid_values

UNPRIVILEGED = "limtest"


def test_every_limit_but_core_and_memlock_has_a_floor():
    assert set(FLOORS) == set(resources.KEYS) - {"core", "memlock"}
    assert floors.floor(resources.get("core")) is None
    for key in ("core", "memlock"):  # 0 is common and harmless for both
        assert parse_limits({key: 0}, check_floors=True)[key] == Limit(0)


@pytest.mark.parametrize("key", sorted(FLOORS))
def test_below_the_floor_is_tiny_the_floor_and_unlimited_are_not(key):
    resource = resources.get(key)
    least = FLOORS[key].value
    step = 1024 if resource.kind.value == "size" else 1
    assert floors.is_tiny(resource, 0)
    assert floors.is_tiny(resource, least - step)
    assert not floors.is_tiny(resource, least)
    assert not floors.is_tiny(resource, UNLIMITED)
    assert not floors.is_tiny(resource, None)


@pytest.mark.parametrize(("data", "key"), [
    ({"vmem": "16M"}, "vmem"), ({"nofile": 3}, "nofile"), ({"stack": 0}, "stack"),
    ({"nofile": {"soft": 3, "hard": 4096}}, "nofile"), ({"cpu": {"hard": 1}}, "cpu"),
    ({"data": 0}, "data"), ({"nproc": 8}, "nproc"), ({"fsize": "64K"}, "fsize"),
])
def test_applied_limits_refuse_tiny_values_and_say_why(data, key):
    with pytest.raises(SchemaError) as error:
        parse_limits(data, check_floors=True)
    message = str(error.value)
    assert f"limits.{key}: " in message
    assert f"is below {human(resources.get(key), FLOORS[key].value)}" in message
    assert FLOORS[key].why in message and "`conda deactivate` included" in message
    assert parse_limits(data) == parse_limits(data)  # a record holding them still reads


def test_a_tiny_value_in_a_file_is_located():
    env = loads("name: x\nlimits:\n  vmem: 4G\n  nofile: {soft: 3, hard: 4096}\n")
    with pytest.raises(SchemaError) as error:
        parse_limits(env.data["limits"], where=env.data, check_floors=True)
    assert (error.value.line, error.value.column) == (4, 18)  # the 3


def test_a_tiny_site_default_names_its_file():
    limits = defaults.parse("/etc/conda/.condarc", {"nofile": 3, "vmem": "4G"})
    sources = provenance.each(limits, provenance.condarc("/etc/conda/.condarc"))
    with pytest.raises(defaults.DefaultsError) as error:
        defaults.refuse_tiny(limits, sources, "HINT")
    assert str(error.value).startswith("/etc/conda/.condarc: plugins.limits_defaults.nofile: "
                                       "3 is below 32")
    assert str(error.value).endswith(". HINT")
    defaults.refuse_tiny(defaults.parse("x", {"nofile": 32, "core": 0}), {})  # fine


def test_tiny_value_is_an_invalid_value():
    error = TinyValue(resources.get("nofile"), 3, "add --allow-tiny")
    assert isinstance(error, ValueError)
    assert error.reason.endswith("included. add --allow-tiny")


# --- the floors in real shells: enough at the floor, and the issue's tiny values break ---------

def _users() -> list[str | None]:
    """Run as this user, and as an unprivileged one too when this is root and it exists."""
    users: list[str | None] = [None]
    if os.geteuid() == 0 and shutil.which("runuser"):
        try:
            pwd.getpwnam(UNPRIVILEGED)
            users.append(UNPRIVILEGED)
        except KeyError:
            pass
    return users


USERS = _users()
# The probes: shells running a pipeline, Python starting (the interpreter running the tests).
PROBES = ["bash -c 'ls -d / | cat'", "dash -c 'ls -d / | cat'"] + [
    f"{shell} -c 'ls -d / | cat'" for shell in ("zsh -f", "fish --no-config", "tcsh -f")
    if shutil.which(shell.split()[0])] + [f"{sys.executable} -c pass"]


def _under(limit: str, probe: str, user: str | None) -> subprocess.CompletedProcess[str]:
    script = f"{limit} || exit 99; {probe}"
    argv = ["bash", "--norc", "--noprofile", "-c", script]
    if user:
        argv = ["runuser", "-u", user, "--", *argv]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, cwd="/")


def _ulimit(key: str, value: int) -> str:
    resource = resources.get(key)
    unit = resource.block  # bash (not POSIX mode): KiB for sizes, -f included
    return f"ulimit -S -{resource.ulimit} {value // unit}"


@pytest.mark.parametrize("user", USERS, ids=lambda u: u or "this user")
@pytest.mark.parametrize("key", sorted(FLOORS))
def test_shells_and_python_work_at_the_floor(key, user):
    for probe in PROBES:
        done = _under(_ulimit(key, FLOORS[key].value), probe, user)
        assert done.returncode == 0 and not done.stderr, (probe, done.stderr)


@pytest.mark.parametrize("user", USERS, ids=lambda u: u or "this user")
@pytest.mark.parametrize(("key", "value", "probe"), [
    ("vmem", 16 * 2**20, f"{sys.executable} -c 'import asyncio'"),  # the issue's --vmem 16M
    ("nofile", 3, "bash -c 'ls -d / | cat'"),  # the issue's --nofile 3
    ("stack", 0, "bash -c 'ls -d / | cat'"),
    ("cpu", 0, f"{sys.executable} -c pass"),
    ("nofile", 8, "dash -c 'echo . >/dev/null'"),  # dash saves descriptors at fd 10 and up
])
def test_the_tiny_values_of_the_issue_do_break_programs(key, value, probe, user):
    assert floors.is_tiny(resources.get(key), value)
    done = _under(_ulimit(key, value), probe, user)
    assert done.returncode != 0 or done.stderr


@given(st.data())
def test_property_tiny_is_exactly_below_the_floor(data):
    resource = data.draw(RESOURCES)
    value = data.draw(valid_values(resource))
    least = floors.floor(resource)
    expected = least is not None and value != UNLIMITED and value < least
    assert floors.is_tiny(resource, value) == expected
    if expected:
        with pytest.raises(TinyValue) as error:
            floors.check(resource, value, "HOW")
        assert error.value.reason.endswith(". HOW") and error.value.value == value
    else:
        floors.check(resource, value)
