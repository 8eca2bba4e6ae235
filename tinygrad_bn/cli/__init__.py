"""The ``tinygrad-bn`` command (also ``python -m tinygrad_bn``).

Each subcommand lives in its own module under ``tinygrad_bn/cli/commands/`` with two functions,
``add_arguments(parser)`` and ``run(args) -> int``, and is imported only when it runs, so
``tinygrad-bn --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections.abc import Sequence

#: subcommand name -> (module under tinygrad_bn.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {}


def register_command(name: str, module: str, help: str) -> None:
    """Make ``tinygrad-bn NAME`` run ``tinygrad_bn.cli.commands.MODULE``."""
    COMMANDS[name] = (module, help)


# Each subcommand registers here, one line each (keep the list sorted by name).
# register_command("NAME", "MODULE", "one-line help")
register_command("bn-vs-plain", "bn_vs_plain", "test accuracy vs SGD steps, with and without BN (Ioffe & Szegedy 1a)")
register_command("graph", "graph", "draw the computation graph of one training step of the default MLP")
register_command("mnist", "mnist", "train the BatchNorm+Dropout MLP on MNIST or Fashion-MNIST and evaluate it")
register_command("variance-shift", "variance_shift", "variance shift of BN under dropout: closed forms, MLP placements")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tinygrad-bn",
        description="tinygrad_bn: train, check and draw with a small autograd framework.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        importlib.import_module(f"tinygrad_bn.cli.commands.{module}").add_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    def one_line(message: Warning | str, category: type[Warning], *rest: object, **kw: object) -> None:
        print(f"tinygrad-bn {args.command}: warning: {message}", file=sys.stderr)

    try:
        with warnings.catch_warnings():  # a warning is one line for the user, not a source-code excerpt
            warnings.showwarning = one_line
            return int(importlib.import_module(f"tinygrad_bn.cli.commands.{args._module}").run(args) or 0)
    except KeyboardInterrupt:  # Ctrl-C outside a training run (which handles it itself): no traceback
        print(f"tinygrad-bn {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
