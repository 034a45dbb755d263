"""conda hooks that are not subcommands: conda doctor's check, the site-defaults setting, and
what conda's own environment commands do with ``limits:``.

conda collects every hook on every command, so this package holds only what registering them
in ``plugin.py`` needs: the commands each runs for. The work is in the modules.
"""

APPLY_COMMANDS = frozenset({"create", "env_create", "env_update"})
CREATE_COMMANDS = frozenset({"create", "env_create"})  # the ones that apply site defaults
EXPORT_COMMANDS = frozenset({"export"})
ENV_VARS_COMMANDS = frozenset({"env_vars"})  # conda env config vars list/set/unset
