"""hypothesis strategies for the property tests of the parsers of user text: valid values,
text that is nearly a value, YAML-ish data, and YAML spellings of integers."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from conda_limits.limits import cpu as cpu_settings
from conda_limits.limits import provenance, resources
from conda_limits.limits.resources import Kind, Resource
from conda_limits.limits.values import MAX_VALUE, UNLIMITED

RESOURCES = st.sampled_from(resources.RESOURCES)
#: Something a shell would run if it reached a script: never in a rendered script.
MARKER = "zq$(touch /tmp/pwned)`id`;"


def values(resource: Resource) -> st.SearchStrategy[Any]:
    """Every value ``resource`` accepts: whole KiB for sizes, up to ``MAX_VALUE``."""
    if resource.kind is Kind.SIZE:
        numbers = st.integers(0, MAX_VALUE // 1024).map(lambda kib: kib * 1024)
    else:
        numbers = st.integers(0, MAX_VALUE)
    return numbers | st.just(UNLIMITED)


#: Text near the value syntax: digits, units, signs, separators, bases, spaces, non-ASCII.
NEAR_TEXT = st.from_regex(
    r"\A\s?[+\-]?(0[xob])?[0-9_.:٣１e]{0,8}\s?([KMGTkmgtsmhdBb]|[KMG]i?B|KB|ms)?\s?\Z")
TEXT = st.text(max_size=50) | NEAR_TEXT | st.sampled_from(
    ["unlimited", "UNLIMITED", " unlimited ", "unlimite", "", "  ", "0", "9" * 41,
     "4G; touch /tmp/x", "$(id)", "`id`", "1\n2", MARKER])

SCALARS = (st.none() | st.booleans() | st.floats(allow_nan=True) | TEXT
           | st.integers(-(2**70), 2**70))


def yamlish(depth: int = 2) -> st.SearchStrategy[Any]:
    """Plain data as YAML can produce it: scalars, lists and mappings of them."""
    return st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.text(max_size=8) | st.sampled_from(
                            ["soft", "hard"]), inner, max_size=3), max_leaves=6)


LIMIT_KEYS = st.sampled_from([*resources.KEYS, *cpu_settings.KEYS]) | st.text(max_size=10)
ENTRIES = (SCALARS | st.fixed_dictionaries({}, optional={"soft": SCALARS, "hard": SCALARS})
           | yamlish())
LIMITS_DATA = st.dictionaries(LIMIT_KEYS, ENTRIES, max_size=5) | yamlish()


def valid_limits() -> st.SearchStrategy[dict[str, Any]]:
    """``limits:`` mappings that validate: plain values and ``{soft, hard}`` pairs."""

    def entry(resource: Resource) -> st.SearchStrategy[Any]:
        pair = st.tuples(values(resource), values(resource)).map(
            lambda pair: {"soft": min(pair, key=_order), "hard": max(pair, key=_order)})
        return values(resource) | pair | values(resource).map(lambda v: {"hard": v})

    return st.fixed_dictionaries({}, optional={r.key: entry(r) for r in resources.RESOURCES})


def _order(value: Any) -> float:
    return float("inf") if value == UNLIMITED else value


# YAML spellings of a number n >= 0 that are not plain decimal digits, as (text, version 1.1)
def non_decimal_spellings(n: int) -> list[tuple[str, bool]]:
    out = [(hex(n), False), (f"0o{n:o}", False), (bin(n), False), (f"+{n}", False),
           (f"0{n}", False), (f"!!int '{hex(n)}'", False), (f"{n:_}" + ("_" if n < 1000 else ""),
                                                              False)]
    if n >= 8:
        out.append((f"0{n:o}", True))  # YAML 1.1 octal
    if n >= 60:
        out.append((f"{n // 60}:{n % 60:02d}", True))  # YAML 1.1 sexagesimal
    return out


# Limits and sources as the record and environment files spell them

_UNITS = {Kind.SIZE: ["K", "M", "G", "KiB", "MiB", "GB"], Kind.DURATION: ["s", "m", "h", "d"],
          Kind.COUNT: [""]}


@st.composite
def spelled_value(draw: st.DrawFn, key: str) -> Any:
    """A value of limit ``key`` as a file may spell it: an integer, a text, unlimited."""
    kind = resources.get(key).kind
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from(["unlimited", "Unlimited"]))
    number = draw(st.integers(0, 5000))
    if kind is Kind.SIZE:
        if draw(st.booleans()):
            return number * 1024  # bytes, a whole number of KiB
        return f"{number}{draw(st.sampled_from(_UNITS[kind]))}"
    if kind is Kind.DURATION and draw(st.booleans()):
        return f"{number}{draw(st.sampled_from(_UNITS[kind]))}"
    return number


@st.composite
def spelled_limits(draw: st.DrawFn) -> dict[str, Any]:
    """A valid ``limits:`` mapping as people write one: a few limits, values with units
    (4G, 2h), some {soft, hard} pairs, sometimes threads."""
    keys = draw(st.lists(st.sampled_from(resources.KEYS), unique=True, max_size=5))
    out: dict[str, Any] = {}
    for key in keys:
        soft = draw(spelled_value(key))
        if draw(st.integers(0, 3)) == 0:
            out[key] = {"soft": soft, "hard": "unlimited"}
        else:
            out[key] = soft
    if draw(st.integers(0, 4)) == 0:
        out["threads"] = draw(st.integers(1, 64))
    return out


PATHS = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1,
                max_size=30).map(lambda text: "/" + text)


@st.composite
def sources(draw: st.DrawFn, keys: list[str]) -> provenance.Sources:
    """Where each of ``keys`` came from (some unknown), paths holding any character."""
    out: provenance.Sources = {}
    for key in keys:
        choice = draw(st.integers(0, 3))
        if choice == 1:
            out[key] = provenance.COMMAND
        elif choice == 2:
            out[key] = provenance.condarc(draw(PATHS))
        elif choice == 3:
            out[key] = provenance.environment_file(draw(PATHS))
    return out
