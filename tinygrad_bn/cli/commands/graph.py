"""``tinygrad-bn graph``: draw one training step of the default MLP (forward, cross-entropy, backward).

The model is ``tinygrad_bn.models.mlp()`` (784-512-BN-ReLU-Dropout-512-BN-ReLU-Dropout-10) in training
mode, on a random batch (float32 inputs (N, 784), integer targets (N,)) fixed by ``--seed``. Ops are
grouped per layer (traced with :func:`tinygrad_bn.viz.trace_modules`). Without Graphviz's ``dot``
program the DOT text is written instead (next to ``--out``, suffix ``.dot``) and the command says so.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import graphviz

FORMATS = ("svg", "png", "pdf", "jpg", "dot")
ALIASES = {"jpeg": "jpg", "gv": "dot"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("mlp.svg"), help="output file (default: mlp.svg)")
    parser.add_argument("--format", choices=FORMATS, default=None,
                        help="svg, png, pdf, jpg or dot (default: the suffix of --out, else svg; all but dot need "
                             "Graphviz's dot program)")
    parser.add_argument("--show-grad", action="store_true", help="gradient norm and min/mean/max on every tensor")
    parser.add_argument("--show-saved", action="store_true", help="shapes and dtypes each op saved for backward")
    parser.add_argument("--max-depth", type=int, default=None, help="draw only the last N ops before the loss")
    parser.add_argument("--batch-size", type=int, default=32, help="rows of the random batch (default: 32)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights, data and dropout masks")
    parser.add_argument("--compact", action="store_true", help="fold intermediate tensors into their op nodes")
    parser.add_argument("--no-legend", action="store_true", help="leave the colour legend out")


def draw_mlp_step(batch_size: int = 32, seed: int = 0, **draw_options: Any) -> graphviz.Digraph:
    """``viz.draw`` of one training step of ``models.mlp()``: forward on a random batch (``batch_size``
    rows of 784 float32 values, integer targets in [0, 10)), cross-entropy, backward. ``seed`` fixes the
    weights, the batch and the dropout masks. ``draw_options`` go to :func:`tinygrad_bn.viz.draw`; with
    ``show_grad=True`` the intermediate gradients are retained (:func:`tinygrad_bn.viz.retain_grads`).
    """
    import numpy as np

    import tinygrad_bn as tg
    from tinygrad_bn import models, viz

    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 2:
        raise ValueError(f"graph: the batch size must be an int >= 2 (BatchNorm needs 2 rows), got {batch_size!r}")
    tg.manual_seed(seed)
    model = models.mlp()
    model.train()
    rng = np.random.default_rng(seed)
    x = tg.Tensor(rng.standard_normal((batch_size, 784)).astype(np.float32))
    y = rng.integers(0, 10, batch_size)
    with viz.trace_modules(model) as trace:
        loss = tg.F.cross_entropy(model(x), y)
    if draw_options.get("show_grad"):
        viz.retain_grads(loss)
    loss.backward()
    return viz.draw(loss, model=model, modules=trace, **draw_options)


def output(out: Path, fmt: str | None) -> tuple[Path, str]:
    """(path, format) for ``--out`` and ``--format``: the suffix gives the format, or gets the format's
    suffix; a suffix that names no picture format Graphviz draws here is refused (RunError)."""
    from ..runs import RunError

    suffix = out.suffix.lstrip(".").lower()
    suffix = ALIASES.get(suffix, suffix)
    if fmt is None:
        if suffix and suffix not in FORMATS:
            raise RunError(f"--out {out}: {out.suffix!r} is not a format this command draws; use "
                           f"{', '.join('.' + f for f in FORMATS)} (or --format)")
        fmt = suffix or "svg"
    return (out if suffix == fmt else out.with_name(out.name + f".{fmt}") if suffix not in FORMATS
            else out.with_suffix(f".{fmt}")), fmt


def run(args: argparse.Namespace) -> int:
    from tinygrad_bn import viz

    from ..runs import RunError, check_writable_file
    from .arguments import check_memory

    try:
        out, fmt = output(args.out, args.format)
        check_writable_file(out)
        check_memory(args.batch_size * 784 * 4 * 12, f"--batch-size {args.batch_size}",
                     "the batch, its activations and gradients")
        dot = draw_mlp_step(args.batch_size, args.seed, show_grad=args.show_grad, show_saved=args.show_saved,
                            max_depth=args.max_depth, compact=args.compact, legend=not args.no_legend)
        try:
            viz.render(dot, out, format=fmt)
        except viz.GraphvizNotFoundError:
            fallback = out.with_suffix(".dot")
            viz.render(dot, fallback, format="dot")
            print(f"Graphviz's 'dot' program is not installed, so no {fmt.upper()} was drawn; wrote the DOT source "
                  f"to {fallback} instead. Install Graphviz (apt install graphviz / brew install graphviz / conda "
                  f"install -c conda-forge graphviz) and run: dot -T{fmt} {fallback} -o {out}")
            return 0
    except (RunError, ValueError, OSError) as err:
        text = f"{err}" if isinstance(err, (RunError, ValueError)) else f"--out {out}: {err.strerror or err}"
        print(f"tinygrad-bn graph: error: {text}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0
