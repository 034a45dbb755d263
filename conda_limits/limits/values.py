"""Parse and format limit values: sizes, counts, durations and ``unlimited``.

A value is an ``int`` (bytes, a count or seconds) or the string ``"unlimited"``. Parsing is
strict: ASCII digits only, no signs, no fractions, a bounded length, so that nothing a user
typed can reach generated shell code except as a validated integer. A YAML integer counts as
written: ``0x10``, ``0o17``, ``1_024``, ``+5``, ``010`` or ``1:30`` reaches :func:`parse` as a
:class:`WrittenInt` (see ``yaml_loader.py``) and is refused, whatever number YAML made of it.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Final, Literal

from ..errors import LimitsError
from ..printable import brief
from .resources import Kind, Resource

UNLIMITED: Final = "unlimited"
Value = int | Literal["unlimited"]

#: Largest accepted figure: far above any real limit, far below 64-bit overflow in shells.
MAX_VALUE: Final = 2**62
MAX_TEXT: Final = 40

_SIZE_UNITS: Final = {"": 1, "B": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
_NUMBER: Final = r"[0-9]+(?:\.[0-9]+)?"
_SIZE_RE: Final = re.compile(rf"({_NUMBER})\s*(?:([KMGT])(?:I?B)?|(B))?", re.ASCII | re.IGNORECASE)
_DURATION_UNITS: Final = {"s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
                          "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
                          "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
                          "d": 86400, "day": 86400, "days": 86400}
_DURATION_PART: Final = re.compile(rf"({_NUMBER})\s*([a-z]+)\s*", re.ASCII | re.IGNORECASE)
#: Slurm's time formats with a colon or a dash: H:M:S, D-H, D-H:M, D-H:M:S (and M:S, which
#: is refused: people read 1:30 as an hour and a half).
_SLURM_RE: Final = re.compile(r"(?:([0-9]+)-)?([0-9]+)(?::([0-9]{1,2}))?(?::([0-9]{1,2}))?",
                              re.ASCII)
_COUNT_RE: Final = re.compile(r"[0-9]+", re.ASCII)

ACCEPTED: Final = {
    Kind.SIZE: "a number of bytes or of K/M/G/T (KiB, MiB, ...: 1024-based), e.g. 4G, 4.5G, "
    "512MiB, or 'unlimited'",
    Kind.COUNT: "a whole number, e.g. 1024, or 'unlimited'",
    Kind.DURATION: "seconds, or with s/m/h/d, e.g. 90s, 15m, 1.5h, 1h30m, 90min, or as Slurm "
    "writes it, e.g. 1:30:00, 2-00:00:00, or 'unlimited'",
}

class WrittenInt(int):
    """An integer that a YAML file wrote other than in plain decimal digits: YAML's number,
    and ``text``, the scalar as written (``0x10``, ``1_024``, ``010``, ``+5``, ``1:30``)."""

    text: str

    def __new__(cls, value: int, text: str) -> WrittenInt:
        number = super().__new__(cls, value)
        number.text = text
        return number

    def __repr__(self) -> str:
        return self.text


class Rejected(LimitsError, ValueError):
    """A value that cannot be accepted for the setting ``name``: ``raw`` as given,
    ``reason`` what is wrong or accepted."""

    def __init__(self, name: str, raw: object, reason: str) -> None:
        self.raw = raw
        self.reason = reason
        super().__init__(f"invalid value {brief(raw)} for {name}: {reason}")


class InvalidValue(Rejected):
    """A limit value that cannot be accepted; the message says what is accepted."""

    def __init__(self, resource: Resource, raw: object, reason: str = "") -> None:
        self.resource = resource
        super().__init__(resource.key, raw, reason or f"expected {ACCEPTED[resource.kind]}")



def parse(resource: Resource, raw: object) -> Value:
    """Parse ``raw`` (a str, or an int from YAML) as a value of ``resource``."""
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise InvalidValue(resource, raw)
    if isinstance(raw, WrittenInt) and raw >= 0:
        slurm = _SLURM_RE.fullmatch(raw.text)
        if resource.kind is Kind.DURATION and slurm and slurm.group(4):
            # YAML 1.1 reads 1:30:00 as sexagesimal, which is what Slurm's H:M:S means.
            return parse(resource, raw.text)
        raise InvalidValue(resource, raw.text, "not plain decimal digits: this YAML reader "
                           f"takes it as {int(raw)}, others may not; write "
                           f"{human(resource, int(raw))} instead")
    if isinstance(raw, int):
        number = int(raw)
    else:
        text = raw.strip()
        if len(text) > MAX_TEXT or not text:
            raise InvalidValue(resource, raw)
        if text.lower() == UNLIMITED:
            return UNLIMITED
        number = _parse_text(resource, text)
    if number < 0:
        raise InvalidValue(resource, raw, "negative values are not limits; "
                           f"expected {ACCEPTED[resource.kind]}")
    if number > MAX_VALUE:
        raise InvalidValue(resource, raw, f"too large (at most {MAX_VALUE}); "
                           "use 'unlimited' for no limit")
    if resource.kind is Kind.SIZE and number % 1024:
        how = " by ulimit" if resource.ulimit else ""
        raise InvalidValue(resource, raw, f"sizes are applied in KiB{how}; give a "
                           "whole number of KiB (a multiple of 1024 bytes), e.g. 4G or 512K")
    return number


def _parse_text(resource: Resource, text: str) -> int:
    if resource.kind is Kind.SIZE:
        match = _SIZE_RE.fullmatch(text)
        if match:
            unit = (match.group(2) or match.group(3) or "").upper()
            return _whole(resource, text, Fraction(match.group(1)) * _SIZE_UNITS[unit], "KiB",
                          1024)
    elif resource.kind is Kind.DURATION:
        return _parse_duration(resource, text)
    elif _COUNT_RE.fullmatch(text):
        return int(text)
    raise InvalidValue(resource, text)


def _parse_duration(resource: Resource, text: str) -> int:
    """Seconds from ``90``, ``1h30m``, ``1.5 hours``, ``1:30:00`` or ``2-00:00:00``; a bare
    number is seconds (as for ``ulimit -t``, unlike Slurm's minutes)."""
    if _COUNT_RE.fullmatch(text):
        return int(text)
    slurm = _SLURM_RE.fullmatch(text)
    if slurm and (slurm.group(1) or slurm.group(3)):
        days, first, second, third = (int(part) if part else 0 for part in slurm.groups())
        if second >= 60 or third >= 60 or (slurm.group(1) and first >= 24):
            raise InvalidValue(resource, text, "as Slurm writes a time, hours are below 24 "
                               "after a day count and minutes and seconds below 60; "
                               f"expected {ACCEPTED[resource.kind]}")
        if slurm.group(1):  # D-H, D-H:M, D-H:M:S
            return days * 86400 + first * 3600 + second * 60 + third
        if slurm.group(4):  # H:M:S
            return first * 3600 + second * 60 + third
        raise InvalidValue(resource, text, "ambiguous: Slurm reads M:S (1:30 is 90 seconds), "
                           "people often H:M; write 1m30s, 1h30m or 1:30:00")
    total, position, units = Fraction(0), 0, set[int]()
    for part in _DURATION_PART.finditer(text):
        factor = _DURATION_UNITS.get(part.group(2).lower())
        if part.start() != position or factor is None or any(factor >= u for u in units):
            break
        units.add(factor)
        total += Fraction(part.group(1)) * factor
        position = part.end()
    else:
        if position == len(text) and units:
            return _whole(resource, text, total, "seconds")
    raise InvalidValue(resource, text)


def _whole(resource: Resource, text: str, figure: Fraction, unit: str, step: int = 1) -> int:
    if (figure / step).denominator != 1:
        raise InvalidValue(resource, text, f"not a whole number of {unit}; "
                           f"expected {ACCEPTED[resource.kind]}")
    return int(figure)


def is_bare_size(text: str) -> bool:
    """Whether ``text`` is a size without a unit other than 0 (bytes, where ``ulimit``
    counts KiB)."""
    text = text.strip()
    return _COUNT_RE.fullmatch(text) is not None and int(text) != 0


def human(resource: Resource, value: Value) -> str:
    """Format ``value`` in the largest exact unit: ``4G``, ``512M``, ``15m``, ``1024``.

    The result parses back to the same value.
    """
    if value == UNLIMITED:
        return UNLIMITED
    assert isinstance(value, int)
    if resource.kind is Kind.SIZE:
        for suffix, factor in (("T", 2**40), ("G", 2**30), ("M", 2**20), ("K", 2**10)):
            if value and value % factor == 0:
                return f"{value // factor}{suffix}"
        return str(value)
    if resource.kind is Kind.DURATION:
        for suffix, factor in (("d", 86400), ("h", 3600), ("m", 60)):
            if value and value % factor == 0:
                return f"{value // factor}{suffix}"
        return f"{value}s" if value else "0"
    return str(value)


_BINARY: Final = (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10))


def pretty(resource: Resource, value: Value) -> str:
    """Format a limit for people, exactly: ``4 GiB``, ``1.25 GiB``, ``1025 MiB``, ``90 min``,
    ``1024``: the largest unit in which the value has at most two decimals, so that two
    different values never look the same."""
    if value == UNLIMITED:
        return UNLIMITED
    assert isinstance(value, int)
    if resource.kind is Kind.SIZE:
        for suffix, factor in _BINARY:
            if value >= factor and (value * 100) % factor == 0:
                hundredths = value * 100 // factor
                figure = f"{hundredths // 100}.{hundredths % 100:02d}".rstrip("0").rstrip(".")
                return f"{figure} {suffix}"
        return f"{value} B"
    if resource.kind is Kind.DURATION:
        text = human(resource, value)
        unit = {"d": " d", "h": " h", "m": " min", "s": " s"}.get(text[-1], " s")
        return text.rstrip("dhms") + unit
    return str(value)


def approx(resource: Resource, value: float) -> str:
    """Format a measurement for people, rounded: ``1.2 GiB``, ``15 min``, ``1024``."""
    if resource.kind is Kind.SIZE:
        for suffix, factor in _BINARY:
            if value >= factor:
                figure = value / factor
                text = f"{figure:.0f}" if value % factor == 0 else f"{figure:.1f}"
                return f"{text} {suffix}"
        return f"{value:.0f} B"
    return pretty(resource, max(0, round(value)))


def exceeds(value: Value, ceiling: Value) -> bool:
    """Whether ``value`` is above ``ceiling`` (``unlimited`` is above every number)."""
    if ceiling == UNLIMITED:
        return False
    if value == UNLIMITED:
        return True
    return int(value) > int(ceiling)


def from_kernel(raw: int) -> Value:
    """Convert a number from ``resource.getrlimit`` to a value."""
    import resource as _resource

    return UNLIMITED if raw == _resource.RLIM_INFINITY or raw < 0 else raw


def to_kernel(value: Value) -> int:
    """Convert a value to what ``resource.setrlimit`` takes."""
    import resource as _resource

    return _resource.RLIM_INFINITY if value == UNLIMITED else int(value)
