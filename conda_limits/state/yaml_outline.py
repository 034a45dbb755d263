"""The top level of a YAML document, read fast: its keys, where they are, and a fingerprint.

ruamel.yaml's round-trip loader, which keeps comments and positions, costs about 0.1 ms per
top-level key in pure Python: an environment file of 10,000 keys took seconds to show and
twice that to edit. conda-limits needs the round trip only for the ``limits:`` entry. So the
whole document is only *composed* (nodes with positions, no comments, no Python objects),
with libyaml's C parser where ruamel.yaml has it (conda's own environments do), and
:mod:`conda_limits.state.environment_yml` reads and edits the ``limits:`` entry's lines alone.

:func:`outline` returns None for anything unusual (a directive, a top level that is not a
block mapping of plain keys, repeated keys, a value that cannot be constructed): the caller
then reads the whole document the careful way, which also gives the precise error.

:func:`fingerprint` turns a node or a loaded value into an integer per distinct structure,
in time linear in the distinct nodes, so that two documents can be compared without
expanding aliases (a "billion laughs" document stays cheap).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

STR_TAG = "tag:yaml.org,2002:str"
MAP_TAG = "tag:yaml.org,2002:map"


@dataclass(frozen=True)
class Entry:
    """One top-level entry: its key, the 0-based line and column of the key, its value."""

    key: str
    line: int
    column: int
    end_line: int  # 0-based line after the value's last line
    value: Any  # the composed value node


@dataclass(frozen=True)
class Outline:
    """The top level of a document that is a block mapping of scalar keys (or empty)."""

    entries: tuple[Entry, ...]
    root: Any  # the composed mapping node (None: an empty document)

    def get(self, key: str) -> Entry | None:
        return next((entry for entry in self.entries if entry.key == key), None)

    def text(self, key: str) -> str | None:
        """The value of ``key`` when it is a non-blank string."""
        entry = self.get(key)
        if entry is None or type(entry.value).__name__ != "ScalarNode":
            return None
        value = entry.value
        return value.value if value.tag == STR_TAG and value.value.strip() else None


@cache
def _composer() -> tuple[bool, type[Any]]:
    """Whether to use ruamel.yaml's pure-Python parser (no C one here), and the resolver.

    libyaml's C parser is there where ruamel.yaml ships it (conda's environments). The
    resolver is ruamel.yaml's, told that the version is YAML 1.2 (no directive reaches the
    outline): ruamel.yaml asks for the version twice per scalar, at some 10 us a time.
    """
    from importlib.util import find_spec

    from ruamel.yaml.resolver import VersionedResolver

    class Resolver(VersionedResolver):
        processing_version = (1, 2)

    return find_spec("_ruamel_yaml") is None, Resolver


def outline(text: str) -> Outline | None:
    """The top-level entries of ``text``, or None when the careful way must decide."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    if text.lstrip().startswith("%") or "\n%" in text:
        return None  # directives (%YAML 1.1 ...) change how the entries read
    pure, resolver = _composer()
    yaml = YAML(typ="safe", pure=pure)
    yaml.Resolver = resolver
    try:
        root = yaml.compose(text)
        # Constructing every value (in C where there is C) finds what only construction
        # finds: `!!bool maybe`, a 13th month. The careful way then says what is wrong.
        yaml.constructor.construct_document(root)
    except (YAMLError, ValueError, RecursionError):
        return None
    except Exception:  # noqa: BLE001 ruamel.yaml's constructors raise more than YAMLError
        return None
    if root is None:
        return Outline((), None)
    if type(root).__name__ != "MappingNode" or root.tag != MAP_TAG or root.flow_style:
        return None
    entries = []
    for key, value in root.value:
        if type(key).__name__ != "ScalarNode" or key.value == "<<":
            return None
        end = value.end_mark
        entries.append(Entry(key.value, key.start_mark.line, key.start_mark.column,
                             end.line if end.column == 0 else end.line + 1, value))
    if len({entry.key for entry in entries}) != len(entries):
        return None  # repeated keys: the careful way says which
    return Outline(tuple(entries), root)


def fingerprint(value: Any, table: dict[Any, int], memo: dict[int, int]) -> int:
    """An integer that is equal for equal structures (within one ``table``): composed nodes
    or loaded values. ``memo`` maps object ids already seen (keep the objects alive)."""
    seen = memo.get(id(value))
    if seen is not None:
        return seen
    kind = type(value).__name__
    if kind == "MappingNode":
        shape: Any = ("m", value.tag, tuple((fingerprint(k, table, memo),
                                              fingerprint(v, table, memo))
                                             for k, v in value.value))
    elif kind == "SequenceNode":
        shape = ("l", value.tag, tuple(fingerprint(v, table, memo) for v in value.value))
    elif kind == "ScalarNode":
        shape = ("s", value.tag, value.value)
    elif isinstance(value, Mapping):
        shape = ("m", tuple((fingerprint(k, table, memo), fingerprint(v, table, memo))
                            for k, v in value.items()))
    elif isinstance(value, (list, tuple)):
        shape = ("l", tuple(fingerprint(v, table, memo) for v in value))
    else:
        shape = ("s", type(value).__name__, value)
    number = table.setdefault(shape, len(table))
    memo[id(value)] = number
    return number
