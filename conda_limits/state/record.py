"""The limits record inside an environment: ``$PREFIX/etc/conda/limits.yml``.

The record lives in the prefix (not in ``conda-meta``) so that ``conda create --clone``,
``conda rename`` and conda-pack copy it with the environment. It uses the ``limits:`` schema
of ``environment.yml``, and a ``sources:`` mapping beside it says where each value came from
(see :mod:`conda_limits.limits.provenance`). It is the truth about an environment's limits: the
activation scripts are rendered from it (see :mod:`conda_limits.state.prefix_files`).
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from ..errors import Kind, LimitsError
from ..limits import provenance
from ..limits.model import LimitSet, SchemaError, parse_limits
from ..limits.provenance import Sources
from ..printable import escape, prefix_option
from .atomicfile import FileTooLarge, MiB, read_bytes

RECORD = Path("etc", "conda", "limits.yml")
MAX_BYTES = 1 * MiB  # a record conda-limits wrote is well under 2 KiB
HEADER = (
    "# Resource limits of this conda environment, written by conda-limits.\n"
    "# Change them with `conda limits set/unset`; the activation scripts follow this file.\n"
)


class RecordError(LimitsError):
    """The record exists but cannot be read or understood; ``problem`` is printable."""

    kind = Kind.RECORD

    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        self.problem = escape(problem)
        super().__init__(f"{escape(str(path))}: {self.problem}")

    @property
    def prefix(self) -> Path | None:
        """The environment whose record this is (None for a record read from elsewhere)."""
        parts = RECORD.parts
        if self.path.parts[-len(parts):] != parts:
            return None
        return Path(*self.path.parts[:-len(parts)])

    @property
    def hint(self) -> str:  # type: ignore[override]
        return self.hint_naming(prefix_option(self.prefix) if self.prefix else "")

    def hint_naming(self, target: str) -> str:
        """What to do, naming the environment with ``target`` (``-n NAME``, ``-p PATH``)."""
        command = " ".join(word for word in ("conda limits unset", target, "--all") if word)
        return (f"Fix or remove the file, or run `{command}` (it removes the record and the "
                "activation scripts, whatever they hold).")


def record_path(prefix: str | os.PathLike[str]) -> Path:
    return Path(prefix) / RECORD


def read(prefix: str | os.PathLike[str]) -> LimitSet:
    """The environment's recorded limits (empty when there is no record)."""
    return read_with_sources(prefix)[0]


def read_with_sources(prefix: str | os.PathLike[str]) -> tuple[LimitSet, Sources]:
    """The recorded limits and where each came from, from one reading of the record
    (both empty when there is none)."""
    path = record_path(prefix)
    text = read_text(path)
    if text is None:
        return LimitSet(), {}
    data = _load(text, path)
    return _limits(data, path), _sources(data)


def read_text(path: Path) -> str | None:
    """The record's text (None when there is none); :class:`RecordError` when it cannot be
    read, is too large or is not UTF-8."""
    try:
        raw = read_bytes(path, MAX_BYTES)
    except FileTooLarge as error:
        raise RecordError(path, error.problem) from None
    except IsADirectoryError:
        raise RecordError(path, "is a directory, not a file") from None
    except OSError as error:
        raise RecordError(path, f"cannot read: {error.strerror or error}") from None
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise RecordError(path, f"not UTF-8 text (byte {error.start}: "
                          f"{raw[error.start:error.start + 1]!r})") from None


def read_sources(prefix: str | os.PathLike[str]) -> Sources:
    """Where each recorded limit came from, as far as the record says (else empty)."""
    path = record_path(prefix)
    try:
        text = read_text(path)
        data = None if text is None else _load(text, path)
    except RecordError:
        return {}
    return _sources(data)


def _sources(data: Any) -> Sources:
    return provenance.from_record(data.get("sources")) if isinstance(data, dict) else {}


def _load(text: str, path: Path) -> Any:
    from ruamel.yaml.error import YAMLError

    from .yaml_loader import round_trip

    try:
        return round_trip().load(text)
    except YAMLError as error:
        raise RecordError(path, f"not valid YAML: {error}") from None
    except (ValueError, RecursionError) as error:  # ValueError: e.g. a huge integer
        raise RecordError(path, f"not valid YAML: {error}") from None


def loads(text: str, path: Path) -> LimitSet:
    return _limits(_load(text, path), path)


def _limits(data: Any, path: Path) -> LimitSet:
    if data is None:
        return LimitSet()
    if not isinstance(data, dict):
        raise RecordError(path, "expected a mapping with a 'limits' key")
    try:
        return parse_limits(data.get("limits"), where=data)
    except SchemaError as error:
        raise RecordError(path, error.describe()) from None


def dumps(limits: LimitSet, sources: Sources | None = None) -> str:
    """The record's text; ``sources`` entries of limits not in ``limits`` are left out."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.default_flow_style = False
    out = io.StringIO()
    out.write(HEADER)
    data = {"limits": _flow_pairs(limits.to_yaml())}
    known = provenance.to_record(sources or {}, limits.names())
    if known:
        data["sources"] = _flow_pairs({key: _exact(entry) for key, entry in known.items()})
    yaml.dump(data, out)
    return out.getvalue()


def _exact(entry: dict[str, str]) -> dict[str, str]:
    """A source entry whose path reads back exactly: double-quoted (YAML escapes) when it
    holds characters a plain or single-quoted scalar would not keep (NEL, LS, controls)."""
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    return {name: DoubleQuotedScalarString(text) if not text.isprintable() else text
            for name, text in entry.items()}


def _flow_pairs(data: dict[str, Any]) -> dict[str, Any]:
    """Write nested mappings ({soft, hard} pairs, sources) in flow style, as the docs do."""
    from ruamel.yaml.comments import CommentedMap

    out = CommentedMap()
    for key, value in data.items():
        if isinstance(value, dict):
            pair = CommentedMap(value)
            pair.fa.set_flow_style()
            value = pair
        out[key] = value
    return out
