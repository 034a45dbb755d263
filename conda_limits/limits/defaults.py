"""Site defaults: limits that every new environment gets from conda's configuration.

An administrator writes them in a system ``.condarc``::

    plugins:
      limits_defaults:
        vmem: 4G
        nofile: 1024

A default is one value per limit, the soft limit, with the names and value syntax of the
``limits:`` schema. A new environment gets the defaults merged under the limits of the
environment.yml it is created from (the file wins per limit), except the limits named by
``CONDA_LIMITS_NO_DEFAULTS`` (``1``/``all``: every one). Never imports conda: the conda glue
(``hooks/site_defaults.py``) hands each configuration file's mapping to :func:`parse`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..errors import Kind, LimitsError
from ..printable import brief
from . import floors, provenance
from .model import KEYS, Limit, LimitSet, Spot, parse_mapping
from .provenance import Sources
from .resources import MEM, Resource
from .values import InvalidValue
from .values import parse as parse_value

SETTING = "limits_defaults"
KEY = f"plugins.{SETTING}"  # as `conda config` spells it
OPT_OUT = "CONDA_LIMITS_NO_DEFAULTS"
ALL = ("1", "true", "yes", "all")
NONE = ("", "0", "false", "no")


class DefaultsError(LimitsError, ValueError):
    """Site defaults that cannot be used, or a bad ``CONDA_LIMITS_NO_DEFAULTS``."""

    kind = Kind.DEFAULTS

    def __init__(self, message: str, *, in_config: bool = True) -> None:
        self.in_config = in_config  # the configuration is at fault (not the variable)
        if in_config:
            self.hint = (f"Fix or remove that default ({KEY}), or skip the defaults for this "
                         f"command with {OPT_OUT}=1.")
        super().__init__(message)


def config_error(where: str, problem: str, key: str | None = None) -> DefaultsError:
    """An error naming the file and the key: ``FILE: plugins.limits_defaults.vmem: ...``."""
    return DefaultsError(f"{where}: {KEY}{'.' + key if key else ''}: {problem}")


def parse(where: str, data: Any) -> LimitSet:
    """Validate one configuration file's ``limits_defaults`` mapping (``where``: its path)."""
    if not isinstance(data, Mapping):
        raise config_error(where, "expected a mapping of limit names ("
                            + ", ".join(KEYS) + f") to values; got {_kind(data)}")

    def one_value(resource: Resource, raw: Any) -> Limit:
        if isinstance(raw, (Mapping, list, tuple)):
            raise config_error(where, "a default is one value, the soft limit; "
                                "{soft: ..., hard: ...} and lists are not accepted here "
                                "(set a hard limit per environment)", resource.key)
        try:
            return Limit(parse_value(resource, raw))
        except InvalidValue as error:  # "(got ...)" shows raw (error.raw: maybe its text)
            raise InvalidValue(resource, raw, error.reason) from None

    def fault(key: Any, problem: str, spot: Spot) -> DefaultsError:
        return config_error(where, f"unknown limit; {problem}" if spot.on_key else problem,
                            str(key))

    return parse_mapping(data, one_value, fault)


def refuse_tiny(limits: LimitSet, sources: Sources, hint: str = "") -> None:
    """Raise :class:`DefaultsError` for the first default below its floor (``floors.py``),
    naming the file it came from; ``hint`` says how to allow it."""
    tiny = [(resource, value) for resource, limit in limits.items_with_resource()
            if (value := limit.tiny(resource)) is not None]
    if floors.is_tiny(MEM, limits.mem):
        tiny.append((MEM, limits.mem))  # type: ignore[arg-type]
    for resource, value in tiny[:1]:
        source = sources.get(resource.key)
        where = source.path if source is not None and source.path else "the configuration"
        error = floors.TinyValue(resource, value)
        raise config_error(where, error.reason + (f". {hint}" if hint else ""), resource.key)


def _kind(data: Any) -> str:
    if isinstance(data, (list, tuple)):
        return "a list"
    return f"{brief(data, 40)}"



def skipped(text: str | None) -> frozenset[str]:
    """The limits ``CONDA_LIMITS_NO_DEFAULTS`` keeps from new environments.

    ``1``, ``true``, ``yes`` or ``all``: every limit; unset, empty, ``0``, ``false``, ``no``:
    none; otherwise comma-separated limit names (``vmem,nofile``).
    """
    value = (text or "").strip().lower()
    if value in NONE:
        return frozenset()
    if value in ALL:
        return frozenset(KEYS)
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in KEYS]
    if unknown:
        raise DefaultsError(f"{OPT_OUT}={text!r}: unknown limit {unknown[0]!r}; give 1 to "
                            "skip every default, or limit names (comma-separated) from: "
                            + ", ".join(KEYS), in_config=False)
    return frozenset(names)


def merge(*layers: tuple[LimitSet, Sources]) -> tuple[LimitSet, Sources]:
    """Limits and their sources, each layer replacing the earlier ones per limit.

    A new environment's limits are ``merge(site defaults, file 1, file 2, ...)``.
    """
    limits = LimitSet()
    sources: Sources = {}
    for layer_limits, layer_sources in layers:
        limits = limits.merged(layer_limits)
        for key in layer_limits.names():
            sources.pop(key, None)
            if key in layer_sources:
                sources[key] = layer_sources[key]
    return limits, sources


def from_file(limits: LimitSet, path: str | os.PathLike[str]) -> tuple[LimitSet, Sources]:
    """A file's limits, each sourced to it (by its absolute path)."""
    return limits, provenance.each(limits.names(),
                                   provenance.environment_file(os.path.abspath(path)))


__all__ = ["SETTING", "KEY", "OPT_OUT", "DefaultsError", "parse", "skipped", "merge", "refuse_tiny",
           "from_file"]
