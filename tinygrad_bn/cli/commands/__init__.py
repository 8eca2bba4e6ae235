"""Subcommands of ``tinygrad-bn``: one module each, with ``add_arguments(parser)`` and ``run(args)``.

Register a new one in ``tinygrad_bn/cli.py`` with ``register_command(name, module, help)``.
"""
