"""conda hooks that are not subcommands: conda doctor's check, the site-defaults setting, and
what conda's own environment commands do with ``limits:``.

conda collects every hook on every command; ``plugin.py`` registers them without importing
this package, which holds how a setting is declared. The work is in the modules.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conda.plugins.types import CondaSetting

#: The commands that apply site defaults: the create commands among ``plugin.APPLY_COMMANDS``.
CREATE_COMMANDS = frozenset({"create", "env_create"})


def conda_setting(name: str, description: str, default: bool | str = "", *,
                  mapping: bool = False) -> Iterator[CondaSetting]:
    """The ``CondaSetting`` ``plugins.<name>`` if this conda has settings plugins (24.3+):
    a plain value of ``default``'s type, or (``mapping``) a mapping of names to text."""
    from conda.common.configuration import MapParameter, PrimitiveParameter
    from conda.plugins import types

    setting_type = getattr(types, "CondaSetting", None)
    if setting_type is None:
        return
    parameter = (MapParameter(PrimitiveParameter("", element_type=str)) if mapping
                 else PrimitiveParameter(default, element_type=type(default)))
    yield setting_type(name=name, description=description, parameter=parameter)
