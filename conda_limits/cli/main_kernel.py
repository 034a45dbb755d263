"""``conda limits kernel install/list/remove``: Jupyter kernels under an environment's limits."""

from __future__ import annotations

from argparse import ArgumentParser, Namespace

from ..printable import shown

HELP = "Install, list and remove Jupyter kernels that run under an environment's limits."
DESCRIPTION = HELP + (
    " Jupyter starts kernels without `conda activate`, so activation scripts never run for "
    "them: these kernelspecs start the environment's ipykernel through a launcher that "
    "applies the limits recorded for the environment (read at every kernel start) and what "
    "`conda activate` would set."
)
EPILOG = """Examples:

    conda limits kernel install -n ai_env
    conda limits kernel install -n ai_env --kernel-name ai-4g \\
        --display-name "AI env (4 GiB)"
    conda limits kernel install -n ai_env --mem 8G --sys-prefix
    conda limits kernel list
    conda limits kernel remove ai_env-limited
"""

INSTALL_EXAMPLES = """Examples:

    conda limits kernel install -n ai_env
    conda limits kernel install -n ai_env --kernel-name ai-4g \\
        --display-name "AI env (4 GiB)"
    conda limits kernel install -n ai_env --mem 8G --sys-prefix
"""
LIST_EXAMPLES = """Examples:

    conda limits kernel list
    conda limits kernel list --json
"""
REMOVE_EXAMPLES = """Examples:

    conda limits kernel remove ai_env-limited
"""


def configure_parser(parser: ArgumentParser) -> None:
    from ..limits.resources import Kind
    from .help_format import HelpFormatter
    from .options import METAVARS, add_environment, add_json, add_yes, mem_type

    sub = parser.add_subparsers(dest="kernel_verb", metavar="COMMAND", required=True)

    install = sub.add_parser("install", help="Install a limit-aware kernelspec for an "
                             "environment.", formatter_class=HelpFormatter,
                             description="Install a Jupyter kernelspec that runs the "
                             "environment's ipykernel under the environment's limits.",
                             epilog=INSTALL_EXAMPLES)
    add_environment(install)
    install.add_argument("--kernel-name", metavar="NAME", type=_kernel_name,
                         help="Name of the kernelspec (default: ENV-limited).")
    install.add_argument("--display-name", metavar="TEXT",
                         help="Name shown in Jupyter (default: 'Python (ENV, limited)').")
    where = install.add_argument_group("Where to install").add_mutually_exclusive_group()
    where.add_argument("--user", action="store_true",
                       help="Jupyter's user data dir (the default; honours JUPYTER_DATA_DIR).")
    where.add_argument("--sys-prefix", action="store_true",
                       help="The share/jupyter of the Python running conda.")
    where.add_argument("--jupyter-prefix", metavar="DIR",
                       help="DIR/share/jupyter, e.g. the environment JupyterLab runs from.")
    install.add_argument("--mem", metavar=METAVARS[Kind.SIZE], type=mem_type(),
                         help="Cap this kernel's resident memory with a cgroup (as "
                         "`conda run-limited --mem`); wins over the environment's recorded "
                         "mem, which kernels otherwise get ('unlimited': no cap). SIZE as "
                         "for --vmem: e.g. 8G, 4.5G, 512MiB.")
    install.add_argument("--force", action="store_true",
                         help="Replace a kernelspec of the same name.")
    add_yes(install)
    add_json(install)
    install.set_defaults(kernel_execute=execute_install)

    listing = sub.add_parser("list", help="List the kernelspecs conda-limits installed.",
                             description="List the Jupyter kernelspecs conda-limits "
                             "installed, wherever Jupyter looks for kernels.",
                             formatter_class=HelpFormatter,
                             epilog=LIST_EXAMPLES)
    add_json(listing)
    listing.set_defaults(kernel_execute=execute_list)

    remove = sub.add_parser("remove", help="Remove a kernelspec conda-limits installed.",
                            description="Remove a Jupyter kernelspec conda-limits installed "
                            "(others are refused).",
                            formatter_class=HelpFormatter,
                            epilog=REMOVE_EXAMPLES)
    remove.add_argument("kernel_name", metavar="NAME", type=_kernel_name,
                        help="Name of the kernelspec.")
    add_yes(remove)
    add_json(remove)
    remove.set_defaults(kernel_execute=execute_remove)


def _kernel_name(text: str) -> str:
    """A kernel name, checked while parsing: a bad one is a usage error (exit status 2)."""
    from argparse import ArgumentTypeError

    from ..jupyter import kernelspec

    try:
        return kernelspec.check_name(text)
    except kernelspec.KernelSpecError as error:
        raise ArgumentTypeError(str(error)) from None


def execute(args: Namespace) -> int:
    return int(args.kernel_execute(args))


def execute_install(args: Namespace) -> int:
    import sys
    from pathlib import Path

    from conda.base.context import context

    from ..jupyter import kernelspec
    from ..limits.values import human
    from .common import env_label, print_json, target_prefix

    prefix = target_prefix(args)
    label = env_label(prefix)
    overrides = None
    if args.mem is not None:
        from ..limits.resources import MEM
        from .tiny import refuse_given

        refuse_given({"mem": args.mem}, args)

        overrides = f"mem: {human(MEM, args.mem)}\n"
    kernels = kernelspec.kernels_dir(sys_prefix=args.sys_prefix,
                                     jupyter_prefix=args.jupyter_prefix)
    name = kernelspec.check_name(args.kernel_name or kernelspec.default_name(
        Path(label) if label != str(prefix) else prefix))
    target = kernelspec.install(
        prefix, name=name, kernels=kernels, force=args.force,
        display_name=args.display_name or f"Python ({label}, limited)",
        launcher_python=sys.executable, overrides_yaml=overrides)
    if context.json:
        print_json({"name": name, "path": str(target), "prefix": str(prefix)})
    else:
        print(f"Installed kernelspec {name} in {shown(target)}")
        print(f"Its kernels run in {shown(prefix)} under the limits recorded there "
              "(read at every kernel start).")
    return 0


def execute_list(args: Namespace) -> int:
    from conda.base.context import context

    from ..jupyter import kernelspec
    from .common import print_json

    kernels = kernelspec.installed()
    if context.json:
        print_json({"kernels": [{"name": k.name, "path": str(k.directory),
                                 "prefix": str(k.prefix), "display_name": k.display_name}
                                for k in kernels]})
        return 0
    if not kernels:
        print("No kernelspecs installed by conda-limits (see `conda limits kernel install`).")
        return 0
    rows = [("# Name", "Environment", "Location")]
    rows += [(shown(k.name), shown(k.prefix), shown(k.directory)) for k in kernels]
    widths = [max(len(r[i]) for r in rows) for i in range(2)]
    for row in rows:
        print(f"{row[0].ljust(widths[0])}  {row[1].ljust(widths[1])}  {row[2]}")
    return 0


def execute_remove(args: Namespace) -> int:
    from conda.base.context import context

    from ..jupyter import kernelspec
    from .common import print_json

    kernel = kernelspec.remove(args.kernel_name)
    if context.json:
        print_json({"removed": kernel.name, "path": str(kernel.directory)})
    else:
        print(f"Removed kernelspec {shown(kernel.name)} from {shown(kernel.directory)}")
    return 0
