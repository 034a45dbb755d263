"""Text from files, printed safely: control characters and the like shown as escapes.

A record or an environment file may hold anything (a ``sources:`` path with terminal escape
sequences, a file name with a newline); whoever runs ``conda limits show`` on a shared or
unpacked environment must see that text, not have their terminal obey it.
"""

from __future__ import annotations

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape(text: str) -> str:
    """``text`` with every character that is not printable (C0/C1 controls, DEL, format
    characters such as bidirectional overrides, undecodable bytes) written as an escape."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escape_one(ch) for ch in text)


def _escape_one(ch: str) -> str:
    code = ord(ch)
    if ch in _NAMED:
        return _NAMED[ch]
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def shell_word(value: object) -> str:
    """``str(value)`` escaped, then quoted as one shell word where it needs quotes: a path or
    name in a command a message or a comment gives to copy (``conda activate 'my env'``)."""
    import shlex

    return shlex.quote(escape(str(value)))


def prefix_option(prefix: object) -> str:
    """``-p PATH`` for a command that names an environment by its path (the glue names it
    ``-n NAME`` where the user did)."""
    return f"-p {shell_word(prefix)}"


def shown(value: object) -> str:
    """``str(value)`` escaped: a path or name for a message."""
    return escape(str(value))


def brief(raw: object, width: int = 60) -> str:
    """A raw value (from a file or a command line) for a message: a string quoted, anything
    cut to ``width`` characters."""
    text = repr(raw) if isinstance(raw, str) else str(raw)
    return text if len(text) <= width else text[:width - 3] + "..."

