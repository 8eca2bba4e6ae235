"""Import time of ``tinygrad_bn`` (with the CLI), measured in fresh interpreters, next to ``import numpy``.

    python -m benchmarks.import_time [--rounds 15] [--breakdown]

Each round starts one fresh ``python -c`` per statement, in rotating order, and times it from the outside
(so the interpreter's own start-up is included; the ``python -c pass`` row is that start-up alone and is
subtracted in the "import only" column). ``--breakdown`` adds ``python -X importtime``'s self time of the
slowest modules outside numpy, i.e. what our own package costs.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from .timing import Summary, describe_machine, markdown_table

ROOT = Path(__file__).resolve().parents[1]
STATEMENTS = {
    "python start-up": "pass",
    "import numpy": "import numpy",
    "import tinygrad_bn": "import tinygrad_bn",
    "import tinygrad_bn + CLI parser": "import tinygrad_bn.cli; tinygrad_bn.cli.build_parser()",
}


def _run(code: str, *flags: str) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run([sys.executable, *flags, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return time.perf_counter() - start, out.stderr


def measure(rounds: int = 15) -> dict[str, list[float]]:
    """Seconds per fresh-interpreter run of each statement, one value per round (rotating order)."""
    names = list(STATEMENTS)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(-1, rounds):  # one warm-up round (file system caches)
        for name in names[r % len(names):] + names[:r % len(names)]:
            t, _ = _run(STATEMENTS[name])
            if r >= 0:
                times[name].append(t)
    return times


def rows(times: dict[str, list[float]]) -> list[list[str]]:
    base = times["python start-up"]
    numpy = [t - b for t, b in zip(times["import numpy"], base)]
    out = []
    for name, ts in times.items():
        only = [t - b for t, b in zip(ts, base)]
        ratio = "" if name == "python start-up" else \
            Summary.of([a / b for a, b in zip(only, numpy)]).format(unit="x")
        out.append([name, Summary.of([t * 1e3 for t in ts]).format(".0f"),
                    "" if name == "python start-up" else Summary.of([t * 1e3 for t in only]).format(".0f"), ratio])
    return out


def breakdown(top: int = 12) -> list[list[str]]:
    """Self time (ms) of the slowest modules that ``import numpy`` alone does not load."""
    def table(code: str) -> dict[str, int]:
        _, err = _run(code, "-X", "importtime")
        out = {}
        for line in err.splitlines():
            parts = line.split("|")
            if len(parts) == 3 and parts[0].split(":")[-1].strip().isdigit():
                out[parts[2].strip()] = int(parts[0].split(":")[-1])
        return out

    numpy = table("import numpy")
    ours = {k: v for k, v in table(STATEMENTS["import tinygrad_bn + CLI parser"]).items() if k not in numpy}
    total = sum(ours.values())
    worst = sorted(ours.items(), key=lambda kv: -kv[1])[:top]
    return [["(all modules outside numpy)", f"{total / 1e3:.1f}"]] + [[k, f"{v / 1e3:.1f}"] for k, v in worst]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds (default 15)")
    parser.add_argument("--breakdown", action="store_true", help="also list the slowest modules (-X importtime)")
    args = parser.parse_args(argv)
    print(describe_machine() + "\n")
    print(f"Fresh interpreter per run; median (min, max) over {args.rounds} interleaved rounds\n")
    print(markdown_table(["statement", "wall ms", "import only ms (minus start-up)", "import only / numpy's"],
                         rows(measure(args.rounds))))
    if args.breakdown:
        print("\n" + markdown_table(["module (not loaded by numpy)", "self ms"], breakdown()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
