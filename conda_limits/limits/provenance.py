"""Where each limit of an environment came from: a site default, a file, ``conda limits set``.

The record keeps one source per limit in a ``sources:`` mapping beside ``limits:``::

    limits:
      vmem: 4G
      nofile: 1024
    sources:
      vmem: {kind: condarc, path: /etc/conda/.condarc}
      nofile: {kind: environment-file, path: /home/ana/project/environment.yml}

Sources are information, not configuration: an entry that cannot be understood is reported
as unknown rather than as an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CONDARC = "condarc"  # a default from conda's configuration (plugins: limits_defaults:)
ENVIRONMENT_FILE = "environment-file"  # the limits: key of an environment.yml
SET = "conda-limits-set"  # `conda limits set`
KINDS = (CONDARC, ENVIRONMENT_FILE, SET)

Sources = dict[str, "Source"]  # limit name -> where its value came from


@dataclass(frozen=True)
class Source:
    """Where one limit's value came from; ``path`` names the file, if any."""

    kind: str
    path: str | None = None

    @property
    def label(self) -> str:
        """How ``conda limits show`` names it."""
        if self.kind == CONDARC:
            return f"default ({self.path})"
        if self.kind == ENVIRONMENT_FILE:
            return str(self.path)
        return "conda limits set"

    def to_data(self) -> dict[str, str]:
        """The record and JSON form: ``{kind: ..., path: ...}``."""
        return {"kind": self.kind, **({"path": self.path} if self.path is not None else {})}

    @classmethod
    def from_data(cls, data: Any) -> Source | None:
        """The source a record entry describes, or None when it cannot be understood."""
        if not isinstance(data, Mapping):
            return None
        kind, path = data.get("kind"), data.get("path")
        if kind not in KINDS or (path is not None and not isinstance(path, str)):
            return None
        if (kind == SET) != (path is None):
            return None
        return cls(kind, path)


def condarc(path: str) -> Source:
    return Source(CONDARC, str(path))


def environment_file(path: str) -> Source:
    return Source(ENVIRONMENT_FILE, str(path))


COMMAND = Source(SET)


def each(keys: Any, source: Source) -> Sources:
    """The same source for every key."""
    return {key: source for key in keys}


def from_record(data: Any) -> Sources:
    """The understood entries of a record's ``sources:`` mapping."""
    if not isinstance(data, Mapping):
        return {}
    out: Sources = {}
    for key, entry in data.items():
        source = Source.from_data(entry)
        if isinstance(key, str) and source is not None:
            out[key] = source
    return out


def to_record(sources: Mapping[str, Source], keys: Any) -> dict[str, dict[str, str]]:
    """The ``sources:`` mapping for the limits ``keys`` (in their order; unknown ones left out)."""
    return {key: sources[key].to_data() for key in keys if key in sources}
