"""The ``limits:`` section of an environment.yml: read and validate it, edit it in place.

An edit rewrites only the lines of the top-level ``limits:`` block. Every other byte of the
file stays as it was: comments, key order, quoting, flow/block style, blank lines, line
endings and keys conda-limits does not know. Inside the block, ruamel.yaml's round-trip mode
keeps the comments and styles of the entries left alone. Every edit is checked by parsing the
result again before anything is written.

Files are read under the file's lock (shared) and changed under it (exclusive), through
:mod:`conda_limits.state.userfile`: through symbolic links, keeping hard links, owner, group and
mode, never torn. Files above :data:`MAX_BYTES` are refused.

Never imports conda: ``conda limits`` and the conda hooks call it.
"""

from __future__ import annotations

import io
import json
import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import Kind, LimitsError
from ..limits.model import Limit, LimitSet, SchemaError, parse_limits
from ..printable import escape
from . import atomicfile, locking, userfile
from .atomicfile import MiB

if TYPE_CHECKING:
    from ruamel.yaml import YAML

    from .yaml_outline import Outline

KEY = "limits"
MAX_BYTES = 4 * MiB  # environment files are a few KiB; this is far above any real one
DEFAULT_INDENT = 2
_ROOT_CONTENT = re.compile(r"[^\s#]")  # a line starting (at column 0) with content


class EnvFileError(LimitsError):
    """An environment file that cannot be read, understood or edited (1-based position)."""

    kind = Kind.FILE

    def __init__(self, path: str | os.PathLike[str], problem: str,
                 line: int | None = None, column: int | None = None) -> None:
        self.path = str(path)
        self.problem = escape(problem)
        self.line = line
        self.column = column
        where = escape(self.path)
        if line is not None:
            where += f":{line}" + (f":{column}" if column is not None else "")
        super().__init__(f"{where}: {self.problem}")


#: :attr:`EnvFile.loaded` of a file whose whole document was not loaded (None is a document).
NOT_LOADED: Any = object()


@dataclass(frozen=True)
class EnvFile:
    """A loaded environment file: its text, its validated limits and where its top-level
    entries are."""

    path: Path
    text: str  # as read, "\n" line ends (see ``newline``), without a byte order mark
    limits: LimitSet
    has_limits: bool  # whether there is a top-level ``limits:`` key at all
    newline: str = "\n"
    bom: str = ""
    outline: Outline | None = field(default=None, repr=False, compare=False)
    # ``outline`` None: the file was read the careful way (``data``) from the start.
    loaded: Any = field(default=NOT_LOADED, repr=False, compare=False)  # ``data``, if read

    @cached_property
    def data(self) -> Any:
        """The whole document, round-trip loaded (ruamel.yaml types; None when empty).
        Loaded when first asked for: a large file's reads and edits never need it."""
        return _parse(self.text, self.path) if self.loaded is NOT_LOADED else self.loaded

    @property
    def name(self) -> str | None:
        return (self.outline.text("name") if self.outline is not None else
                _text_value(self.data, "name"))

    @property
    def prefix(self) -> str | None:
        return (self.outline.text("prefix") if self.outline is not None else
                _text_value(self.data, "prefix"))


def _text_value(data: Any, key: str) -> str | None:
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, str) and value.strip() else None


def _yaml() -> YAML:
    from .yaml_loader import round_trip

    yaml = round_trip()
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold a long line
    return yaml


def load(path: str | os.PathLike[str]) -> EnvFile:
    """Read and validate ``path`` (under its lock); raises :class:`EnvFileError` naming the
    problem. The torn file an interrupted in-place write left is put back first."""
    path = Path(path)
    with _locked(path, write=False, doing="read") as file:
        if userfile.pending_recovery(file) is None:
            return _read(file, path)
    try:
        with locking.file(path) as file:
            userfile.recover(file, MAX_BYTES)
    except (OSError, locking.LockError) as error:
        raise EnvFileError(path, "an interrupted change of this file left a recovery copy "
                           "that only someone who may write the file can apply: "
                           f"{getattr(error, 'strerror', None) or error}") from None
    with _locked(path, write=False, doing="read") as file:
        return _read(file, path)


@contextmanager
def locked(path: str | os.PathLike[str], *, write: bool = True) -> Iterator[None]:
    """Hold the file's lock around a read-modify-write (``write`` False: a read); raises
    :class:`EnvFileError` for a file that cannot be read (or written)."""
    with _locked(Path(path), write=write, doing="write" if write else "read"):
        yield


@contextmanager
def _locked(path: Path, *, write: bool, doing: str) -> Iterator[locking.LockedFile]:
    consequence = "; the file was not changed" if doing == "write" else ""
    try:
        with locking.file(path, shared=not write) as file:
            yield file
    except FileNotFoundError:
        raise EnvFileError(path, "no such file") from None
    except IsADirectoryError:
        raise EnvFileError(path, "is a directory, not an environment file") from None
    except locking.LockError as error:
        raise EnvFileError(path, f"{error}{consequence}") from None
    except OSError as error:
        raise EnvFileError(path, f"cannot {doing}: {error.strerror or error}{consequence}") \
            from None


def _read(file: locking.LockedFile, path: Path) -> EnvFile:
    mode = os.fstat(file.fd).st_mode
    if stat.S_ISDIR(mode):
        raise EnvFileError(path, "is a directory, not an environment file")
    if not stat.S_ISREG(mode):
        raise EnvFileError(path, "is not a regular file")
    try:
        raw = atomicfile.read_fd(file.fd, path, MAX_BYTES)
    except atomicfile.FileTooLarge as error:
        raise EnvFileError(path, error.problem) from None
    except OSError as error:
        raise EnvFileError(path, f"cannot read: {error.strerror or error}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise EnvFileError(path, f"not UTF-8 text (byte {error.start})") from None
    return loads(text, path)


def loads(text: str, path: str | os.PathLike[str] = "<string>") -> EnvFile:
    """Parse and validate the content of an environment file."""
    path = Path(path)
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    text = text[len(bom):]
    newline = "\r\n" if "\r\n" in text else "\n"
    text = text.replace("\r\n", "\n")
    fast = _loads_by_outline(text, path, newline, bom)
    if fast is not None:
        return fast
    data = _parse(text, path)
    if data is not None and not isinstance(data, dict):
        raise EnvFileError(path, "the top level must be a mapping (name:, dependencies:, "
                           f"limits:, ...); got {_kind(data)}", 1, 1)
    has_limits = data is not None and KEY in data
    try:
        limits = parse_limits(data[KEY], where=data) if data and has_limits else LimitSet()
    except SchemaError as error:
        raise EnvFileError(path, error.message, error.line, error.column) from None
    return EnvFile(path, text, limits, has_limits, newline, bom, loaded=data)


def _loads_by_outline(text: str, path: Path, newline: str, bom: str) -> EnvFile | None:
    """The file read through its outline and its ``limits:`` entry alone; None when the
    careful way must read it (see :mod:`conda_limits.state.yaml_outline`)."""
    from ruamel.yaml.error import YAMLError

    from .yaml_outline import outline

    shape = outline(text)
    if shape is None:
        return None
    entry = shape.get(KEY)
    if entry is None:
        return EnvFile(path, text, LimitSet(), False, newline, bom, shape)
    if entry.column != 0:
        return None
    lines = text.splitlines(keepends=True)
    try:
        block = _yaml().load("".join(lines[entry.line:entry.end_line]))
    except (YAMLError, ValueError, RecursionError):
        return None  # e.g. an alias of an anchor outside the entry
    if not isinstance(block, dict) or list(block) != [KEY]:
        return None
    try:
        limits = parse_limits(block[KEY], where=block)
    except SchemaError as error:
        line = None if error.line is None else error.line + entry.line
        raise EnvFileError(path, error.message, line, error.column) from None
    return EnvFile(path, text, limits, True, newline, bom, shape)


def _kind(data: Any) -> str:
    return "a list" if isinstance(data, list) else f"the value {str(data)[:40]!r}"


def _parse(text: str, path: Path) -> Any:
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        return _yaml().load(text)
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        what = "; ".join(str(part) for part in (error.context, error.problem) if part)
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
        raise EnvFileError(path, f"not valid YAML: {what or 'syntax error'}",
                           line, column) from None
    except (YAMLError, ValueError, RecursionError) as error:  # ValueError: a huge integer
        raise EnvFileError(path, f"not valid YAML: {error}") from None


# ----------------------------------------------------------------------------- editing


def edit(env: EnvFile, limits: LimitSet) -> str:
    """The file's new text, with a ``limits:`` block holding exactly ``limits``.

    An empty ``limits`` removes the block. Only the block's lines change; the result is
    parsed again and compared before it is returned, so a layout this cannot edit safely
    raises :class:`EnvFileError` instead of producing a different file.
    """
    if limits == env.limits:
        return _full_text(env, env.text)
    lines = env.text.splitlines(keepends=True)
    if env.has_limits:
        start, end = _block_span(env, lines)
        if not limits:
            start, end = _with_one_blank_line_less(lines, start, end)
        block = "" if not limits else _edit_block("".join(lines[start:end]), env, limits)
        new = "".join(lines[:start]) + block + "".join(lines[end:])
    else:
        _require_block_root(env)
        at = _append_at(lines)
        before = "".join(lines[:at])
        if before and not before.endswith("\n"):
            before += "\n"
        new = before + block_text(limits, _guess_indent(lines)) + "".join(lines[at:])
    _verify(env, new, limits)
    return _full_text(env, new)


def _full_text(env: EnvFile, text: str) -> str:
    return env.bom + (text.replace("\n", env.newline) if env.newline != "\n" else text)


def _require_block_root(env: EnvFile) -> None:
    if env.outline is not None:
        return  # an outline is only made of a block mapping at column 0 (or of nothing)
    data = env.data
    if data is None:
        return
    if data.fa.flow_style() or (len(data) and data.lc.key(next(iter(data)))[1] != 0):
        raise EnvFileError(env.path, "cannot edit the limits of a file whose top level is a "
                           "flow mapping ({...}) or indented; add a block-style "
                           "`limits:` section by hand")


def _block_span(env: EnvFile, lines: list[str]) -> tuple[int, int]:
    """Line range [start, end) of the top-level ``limits:`` entry, trailing lines excluded."""
    _require_block_root(env)
    entry = env.outline.get(KEY) if env.outline is not None else None
    start = entry.line if entry is not None else env.data.lc.key(KEY)[0]
    end = start + 1
    while end < len(lines) and not _ROOT_CONTENT.match(lines[end]):
        end += 1
    # Blank lines and unindented comments before the next entry belong to what follows.
    while end - 1 > start and (not lines[end - 1].strip() or lines[end - 1].startswith("#")):
        end -= 1
    return start, end


def _with_one_blank_line_less(lines: list[str], start: int, end: int) -> tuple[int, int]:
    """Widen a block being removed so that the blank lines around it do not double up."""
    blank_before = start > 0 and not lines[start - 1].strip()
    if blank_before and end < len(lines) and not lines[end].strip():
        return start, end + 1
    if blank_before and end == len(lines):
        return start - 1, end
    return start, end


def _append_at(lines: list[str]) -> int:
    """Where a new top-level entry goes: before a document end marker, else at the end."""
    for index, line in enumerate(lines):
        if line.rstrip() == "...":
            return index
    return len(lines)


def _guess_indent(lines: list[str]) -> int:
    """The indentation the file uses under its top-level keys (2 if it shows none)."""
    for index, line in enumerate(lines[:-1]):
        if _ROOT_CONTENT.match(line) and line.rstrip().endswith(":"):
            for child in lines[index + 1:]:
                if child.strip() and not child.lstrip().startswith("#"):
                    width = len(child) - len(child.lstrip(" "))
                    if 0 < width <= 8:
                        return width
                    break
    return DEFAULT_INDENT


def _edit_block(text: str, env: EnvFile, limits: LimitSet) -> str:
    """Rewrite the text of the ``limits:`` entry, keeping what it can of its form."""
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.error import YAMLError

    yaml = _yaml()
    yaml.indent(mapping=_guess_indent(text.splitlines(keepends=True)))
    try:
        doc = yaml.load(text)
    except YAMLError:
        raise EnvFileError(env.path, "cannot edit the layout of this `limits:` block; "
                           "edit it by hand") from None
    node = doc[KEY]
    if not isinstance(node, CommentedMap):
        node = CommentedMap()
        doc[KEY] = node
    for key in [k for k in node if k not in limits.names()]:
        del node[key]
    old = env.limits.to_yaml()
    for key, value in limits.to_yaml().items():
        if key in node and old.get(key) == value:
            continue  # unchanged: keep its spelling, quotes and comments
        node[key] = _entry(node.get(key), value)
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()


def _entry(old: Any, new: Any) -> Any:
    """The node for a changed entry, in the style of the one it replaces."""
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.scalarstring import ScalarString

    if isinstance(new, dict):
        pair = CommentedMap(new)
        if isinstance(old, CommentedMap):
            if not old.fa.flow_style():
                pair.fa.set_block_style()
            else:
                pair.fa.set_flow_style()
        else:
            pair.fa.set_flow_style()
        return pair
    if isinstance(old, ScalarString):  # it was quoted: quote the new value the same way
        return type(old)(str(new))
    return new


def block_text(limits: LimitSet, indent: int = DEFAULT_INDENT) -> str:
    """``limits:`` and one line per limit, ready to append to an environment file."""
    if not limits:
        return ""
    rows = [f"{KEY}:\n"]
    for key, value in limits.to_yaml().items():
        if isinstance(value, dict):
            value = "{" + ", ".join(f"{k}: {v}" for k, v in value.items()) + "}"
        rows.append(f"{' ' * indent}{key}: {value}\n")
    return "".join(rows)


def _verify(env: EnvFile, new: str, limits: LimitSet) -> None:
    """Check that ``new`` differs from the file only in its limits."""
    try:
        after = loads(new, env.path)
    except EnvFileError as error:
        raise EnvFileError(env.path, f"editing the limits block would break the file "
                           f"({error.problem}); edit it by hand") from None
    if after.limits != limits or after.has_limits != bool(limits) or \
            not _same_but_limits(env, after):
        raise EnvFileError(env.path, "cannot edit the limits block of this file without "
                           "changing other content; edit it by hand")


def _same_but_limits(before: EnvFile, after: EnvFile) -> bool:
    """Whether the two files hold the same content apart from their ``limits:`` entries."""
    if before.outline is not None and after.outline is not None:
        same = _same_entries(before.text, before.outline, after.text, after.outline)
        if same is not None:
            return same
    return _same_loaded(before, after)


def _same_entries(before: str, old: Outline, after: str, new: Outline) -> bool | None:
    """Compare the entries' text: entries written alike at the top of a block mapping read
    alike, unless an alias elsewhere points into a ``limits:`` entry (None: compare the
    content, which :func:`_same_loaded` does)."""
    def entries(text: str, outline: Outline) -> list[tuple[str, str]] | None:
        lines = text.splitlines(keepends=True)
        limits = outline.get(KEY)
        if limits is not None and "&" in "".join(lines[limits.line:limits.end_line]):
            return None  # an anchor: something outside may refer to it
        starts = [0]
        for line in lines:
            starts.append(starts[-1] + len(line))
        out = []
        for entry in outline.entries:
            if entry.key == KEY:
                continue
            end = entry.end_line  # the value ends where the next token starts:
            while end > entry.line + 1 and (not lines[end - 1].strip() or
                                            lines[end - 1].lstrip().startswith("#")):
                end -= 1  # blank lines and comments after it are not its content
            out.append((entry.key, text[starts[entry.line]:starts[end]].rstrip("\n")))
        return out

    old_entries, new_entries = entries(before, old), entries(after, new)
    if old_entries is None or new_entries is None:
        return None
    return old_entries == new_entries


def _same_loaded(before: EnvFile, after: EnvFile) -> bool:
    """Compare the content as composed nodes when both files have an outline, else as
    loaded data, without expanding aliases (see :func:`~.yaml_outline.fingerprint`)."""
    from .yaml_outline import fingerprint

    table: dict[Any, int] = {}
    memo: dict[int, int] = {}
    keep: list[Any] = []  # the objects whose ids ``memo`` holds

    def content(env: EnvFile) -> list[tuple[int, int]]:
        if before.outline is not None and after.outline is not None:
            assert env.outline is not None
            pairs = [(entry.key, entry.value) for entry in env.outline.entries]
        elif env.data is None:
            return []
        else:
            pairs = list(env.data.items())
        keep.append(pairs)
        return [(fingerprint(key, table, memo), fingerprint(value, table, memo))
                for key, value in pairs if key != KEY]

    try:
        return content(before) == content(after)
    except RecursionError:
        return False


# ------------------------------------------------------------------------ file updates


def save(env: EnvFile, text: str) -> bool:
    """Write ``text`` over the file, if it differs; return whether it did.

    Holds the file's lock; a caller that loaded the file holds it around both
    (:func:`locked`). Removes the temporary files of interrupted writes beside it.
    """
    if text == _full_text(env, env.text):
        return False
    _write(env.path, text.encode("utf-8"))
    return True


def _write(path: Path, data: bytes) -> None:
    with _locked(path, write=True, doing="write") as file:
        try:
            userfile.remove_leftovers(file)
            userfile.rewrite(file, data)
        except OSError as error:
            raise EnvFileError(path, f"cannot write: {error.strerror or error}; the file "
                               "was not changed") from None


def replace_limits(path: str | os.PathLike[str], limits: LimitSet, *,
                   dry_run: bool = False) -> tuple[EnvFile, str]:
    """Make the file's ``limits:`` block hold exactly ``limits`` (none: remove the block).

    Returns the file as it was and its new text; writes unless ``dry_run``.
    """
    with locked(path, write=not dry_run):
        env = load(path)
        text = edit(env, limits)
        if not dry_run:
            save(env, text)
    return env, text


def set_limits(path: str | os.PathLike[str], given: dict[str, Limit] | LimitSet, *,
               dry_run: bool = False) -> tuple[EnvFile, LimitSet]:
    """Add or replace the ``given`` limits in the file; returns it as it was and the result."""
    with locked(path, write=not dry_run):
        env = load(path)
        limits = env.limits.merged(given)
        text = edit(env, limits)
        if not dry_run:
            save(env, text)
    return env, limits


def unset_limits(path: str | os.PathLike[str], keys: list[str] | None, *,
                 dry_run: bool = False) -> tuple[EnvFile, LimitSet]:
    """Remove ``keys`` (``None``: all, and the ``limits:`` key itself) from the file."""
    with locked(path, write=not dry_run):
        env = load(path)
        limits = LimitSet() if keys is None else env.limits.without(keys)
        text = edit(env, limits)
        if not dry_run:
            save(env, text)
    return env, limits


def merge_json(path: str | os.PathLike[str], limits: LimitSet) -> None:
    """Add (or replace) the ``limits`` key of an environment JSON file."""
    path = Path(path)
    with _locked(path, write=True, doing="write") as file:
        try:
            data = json.loads(atomicfile.read_fd(file.fd, path, MAX_BYTES).decode("utf-8"))
        except (OSError, ValueError) as error:
            raise EnvFileError(path, f"cannot read as JSON: {error}") from None
        if not isinstance(data, dict):
            raise EnvFileError(path, "the top level must be a JSON object")
        if limits:
            data[KEY] = limits.to_yaml()
        else:
            data.pop(KEY, None)
        _write(path, (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))


__all__ = ["EnvFile", "EnvFileError", "load", "loads", "locked", "edit", "save", "block_text",
           "replace_limits", "set_limits", "unset_limits", "merge_json", "MAX_BYTES"]
