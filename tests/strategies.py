"""hypothesis strategies for the property tests of the parsers of user text: valid values,
text that is nearly a value, YAML-ish data, and YAML spellings of integers."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from conda_limits import resources
from conda_limits.cpu import settings as cpu_settings
from conda_limits.resources import Kind, Resource
from conda_limits.values import MAX_VALUE, UNLIMITED

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
