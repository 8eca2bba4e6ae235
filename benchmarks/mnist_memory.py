"""Does memory stay flat over the epochs of ``tinygrad-bn mnist``? Live and peak traced memory per epoch.

Run: ``OMP_NUM_THREADS=1 python -m benchmarks.mnist_memory [--epochs 20] [any tinygrad-bn mnist options]``,
e.g. ``--holdout 2000 --data-dir DATA`` (DATA holding ``mnist/``). After each epoch (and a ``gc.collect()``)
it prints the
memory ``tracemalloc`` sees as live (Python objects and numpy arrays), its peak so far, and the process's
resident size. A graph kept alive between steps would make the live figure grow every epoch; the
resident size may grow a little in the first epochs (the C allocator keeps freed blocks) and then stops.
Results: docs/mnist.md, "Memory stays flat".
"""

from __future__ import annotations

import gc
import os
import sys
import tracemalloc
from typing import Any

from tinygrad_bn.cli import build_parser
from tinygrad_bn.cli.commands import mnist as cmd


def resident_mib() -> float:
    """Current resident set size in MiB (Linux: /proc/self/statm; elsewhere the peak from getrusage)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        from tinygrad_bn.train import peak_rss_mb
        return peak_rss_mb()


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--epochs" not in argv:
        argv += ["--epochs", "20"]
    args = build_parser().parse_args(["mnist", "--no-progress", "--out", "runs/mnist-memory", *argv])

    def after_epoch(row: dict[str, Any]) -> None:
        gc.collect()
        live, peak = tracemalloc.get_traced_memory()
        print(f"epoch {row['epoch']:3d}  live {live / 2**20:7.2f} MiB  peak {peak / 2**20:6.1f} MiB  "
              f"resident {resident_mib():6.1f} MiB  test acc {100 * row['test_acc']:.2f}%", flush=True)

    tracemalloc.start()
    cmd.train(args, log=lambda line: None, after_epoch=after_epoch)


if __name__ == "__main__":
    main()
