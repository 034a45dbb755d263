"""Site defaults in conda's configuration: the ``limits_defaults`` setting (conda >= 24.3).

``plugin.py`` registers the setting (:mod:`conda_limits.hooks.settings`), so conda reads
``plugins: limits_defaults:`` from every ``.condarc`` it reads, merges them as it merges any
mapping (a later file wins per limit; ``#!final`` is honoured) and lists the setting in
``conda config --describe``. :func:`configured` hands the create hooks the merged defaults,
each with the file it came from. Only the commands that apply defaults read them: a bad
default fails those commands, never an unrelated one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..limits.defaults import OPT_OUT, SETTING

if TYPE_CHECKING:
    from ..limits.model import LimitSet
    from ..limits.provenance import Sources


def configured() -> tuple[LimitSet, Sources]:
    """The site defaults that a new environment gets now: ``(LimitSet, Sources)``.

    Leaves out the limits ``CONDA_LIMITS_NO_DEFAULTS`` names; empty on a conda without
    settings plugins. Raises :class:`~.exceptions.LimitsDefaultsError` naming the file and
    the key of a bad default.
    """
    from ..cli.exceptions import conda_errors
    from ..cli.tiny import SETTING_HINT, allowed
    from ..limits import defaults, provenance
    from ..limits.model import KEYS, LimitSet

    with conda_errors():  # a bad default: LimitsDefaultsError
        skip = defaults.skipped(os.environ.get(OPT_OUT))
        config = _plugin_config()
        if config is None or skip >= frozenset(KEYS):  # every default skipped
            return LimitSet(), {}
        layers = [(where, defaults.parse(where, _without(data, skip)))
                  for where, data in _per_file(config)]
        if not layers:
            return LimitSet(), {}
        merged = defaults.parse("the merged configuration", _without(_merged(config), skip))
        sources: Sources = {}
        for key, limit in merged.items():
            wins = [where for where, limits in layers if limits.get(key) == limit] or \
                   [where for where, limits in layers if key in limits]
            if wins:
                sources[key] = provenance.condarc(wins[-1])
        plain = [("mem", merged.mem)] if merged.mem is not None else []
        for key, value in [*plain, *merged.cpu.items()]:  # mem, threads, cpuset, cores
            wins = [where for where, limits in layers if _one_valued(limits).get(key) == value] \
                or [where for where, limits in layers if key in limits.names()]
            if wins:
                sources[key] = provenance.condarc(wins[-1])
        if not allowed():
            defaults.refuse_tiny(merged, sources, SETTING_HINT)
    return merged, sources


def _one_valued(limits: LimitSet) -> dict[str, object]:
    """The settings of ``limits`` that are one plain value: mem and the CPU settings."""
    return {**({"mem": limits.mem} if limits.mem is not None else {}),
            **dict(limits.cpu.items())}


def _plugin_config() -> Any:
    """conda's plugin settings, if this conda has them and ours is registered."""
    from conda.base.context import context

    try:
        config = context.plugins
    except AttributeError:  # conda < 24.3
        return None
    return config if SETTING in getattr(config, "parameter_names", ()) else None


def _per_file(config: Any) -> Iterator[tuple[str, Any]]:
    """(file, plain value) of each configuration source that sets the defaults, in
    conda's order (later ones take precedence)."""
    from conda.common.configuration import EnvRawParameter

    from ..limits.defaults import DefaultsError

    for source, params in config.raw_data.items():
        raw = params.get(SETTING)
        if raw is None:
            continue
        if source == EnvRawParameter.source:
            raise DefaultsError(f"CONDA_PLUGINS_{SETTING.upper()} is set, but conda's "
                                "environment variables cannot hold a mapping of limits: unset "
                                "it, and write the defaults in a .condarc")
        value = plain(raw)
        if value is not None:  # `limits_defaults:` left empty: conda ignores it too
            yield str(source), _as_written(source, value)


def _as_written(source: Any, value: Any) -> Any:
    """``value`` with each integer that the file wrote other than in plain decimal digits
    (``0x10``, ``1_024``, ``+5``, YAML 1.1's ``010`` and ``1:30``) as the file wrote it.

    conda reads the file itself and keeps only the number YAML made of such a scalar; reading
    the file again with conda-limits' loader gets what it says, which ``values.parse`` checks.
    """
    from ..limits.values import WrittenInt

    written = _read_again(source)
    if not isinstance(value, Mapping) or not isinstance(written, Mapping):
        return value
    return {key: written[key] if isinstance(written.get(key), WrittenInt) else child
            for key, child in value.items()}


def _read_again(source: Any) -> Any:
    """The file's ``plugins: limits_defaults:`` as conda-limits reads it (None if unreadable:
    then conda's own reading is all there is)."""
    from ruamel.yaml.error import YAMLError

    from ..state.yaml_loader import round_trip

    try:
        data = round_trip().load(Path(source).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, YAMLError, ValueError, TypeError, RecursionError):
        return None
    plugins = data.get("plugins") if isinstance(data, Mapping) else None
    return plugins.get(SETTING) if isinstance(plugins, Mapping) else None


def plain(raw: Any) -> Any:
    """A raw parameter of conda's configuration (a .condarc's, the command line's) as plain
    Python (mappings, lists and scalars)."""
    value = raw.value(None)
    if isinstance(value, Mapping):
        return {key: plain(child) for key, child in value.items()}
    if isinstance(value, tuple):
        return [plain(child) for child in value]
    return value


def _merged(config: Any) -> Mapping[str, Any]:
    """The defaults as conda merges its configuration files."""
    from conda.common.configuration import ConfigurationError

    from ..limits.defaults import config_error

    try:
        return dict(getattr(config, SETTING))
    except ConfigurationError as error:  # every file was valid: conda's merge objects
        raise config_error("conda's configuration", str(error)) from None


def _without(data: Any, skip: frozenset[str]) -> Any:
    if not isinstance(data, Mapping):
        return data
    return {key: value for key, value in data.items() if key not in skip}
