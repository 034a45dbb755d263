"""The ruamel.yaml round-trip loader that conda-limits reads its YAML files with.

It differs from ruamel.yaml's own in one way: an integer that is not written in plain decimal
digits (``0x10``, ``0o17``, ``0b101``, ``1_024``, ``+5``, ``-0``, ``16_``, ``!!int '0x10'``,
a leading zero such as ``010``, which YAML 1.1 reads as octal, or YAML 1.1's sexagesimal
``1:30``) is loaded as a :class:`~conda_limits.limits.values.WrittenInt` that keeps the scalar as
written, so that :func:`conda_limits.limits.values.parse` checks what the file says rather than the
number one YAML version makes of it. Plain decimal integers load as ruamel.yaml loads them.

It also turns every error ruamel.yaml's constructors raise on hostile input (``!!set x``,
``!!bool x``, ``0x_``, ``!!float _``: ``AttributeError``, ``KeyError``, ``IndexError``,
``ValueError``) into a ``ConstructorError`` at the value's position, so that loading raises
nothing but ``YAMLError``.

The constructor and representer are subclasses: ruamel.yaml's own classes, which conda uses
in the same process, are left untouched.
"""

from __future__ import annotations

import re
from functools import cache
from typing import TYPE_CHECKING, Any

from ..limits.values import WrittenInt

if TYPE_CHECKING:
    from ruamel.yaml import YAML

INT_TAG = "tag:yaml.org,2002:int"
PLAIN_DECIMAL = re.compile(r"0|[1-9][0-9]*", re.ASCII)
#: What ruamel.yaml's constructors raise, besides YAMLError, on a value they cannot make.
_CANNOT_CONSTRUCT = (AttributeError, IndexError, KeyError, TypeError, ValueError)


@cache
def _classes() -> tuple[type[Any], type[Any]]:
    from ruamel.yaml.constructor import ConstructorError, RoundTripConstructor
    from ruamel.yaml.representer import RoundTripRepresenter

    def unreadable(node: Any) -> ConstructorError:
        tag = str(getattr(node.tag, "value", node.tag)).replace("tag:yaml.org,2002:", "!!")
        what = repr(node.value) if isinstance(node.value, str) else "this"
        return ConstructorError(None, None, f"cannot read {what} as {tag}", node.start_mark)

    class Constructor(RoundTripConstructor):
        def construct_object(self, node: Any, deep: bool = False) -> Any:
            try:
                return super().construct_object(node, deep=deep)
            except _CANNOT_CONSTRUCT:
                raise unreadable(node) from None

        def construct_document(self, node: Any) -> Any:
            try:
                return super().construct_document(node)
            except _CANNOT_CONSTRUCT:
                raise unreadable(node) from None

        def construct_written_int(self, node: Any) -> Any:
            number = self.construct_yaml_int(node)
            text = node.value
            if isinstance(text, str) and PLAIN_DECIMAL.fullmatch(text):
                return number
            return WrittenInt(number, str(text))

    class Representer(RoundTripRepresenter):
        def represent_written_int(self, data: WrittenInt) -> Any:
            return self.represent_scalar(INT_TAG, data.text)

    Constructor.add_constructor(INT_TAG, Constructor.construct_written_int)
    Representer.add_representer(WrittenInt, Representer.represent_written_int)
    return Constructor, Representer


def round_trip() -> YAML:
    """A new ``YAML(typ="rt")`` whose integers keep their spelling when it is not decimal."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.Constructor, yaml.Representer = _classes()
    return yaml


__all__ = ["PLAIN_DECIMAL", "round_trip"]
