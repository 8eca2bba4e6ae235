"""Draw docs/figures/bn2d_axes.png: which values one BatchNorm statistic averages, for BatchNorm2d and for a
per-pixel BatchNorm, on a batch x of shape (N, C, H, W). ``python docs/make_bn2d_figure.py`` (needs matplotlib).

Each sample is drawn as its C planes of H x W values, side by side. Coloured cells are the values
whose mean and variance give
ONE statistic: BatchNorm2d, channel c: all N samples x all H x W positions of that channel (N*H*W values);
per-pixel BatchNorm (BatchNorm1d on the flattened C*H*W features), feature (c, h, w): that one cell in
each sample (N values).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

OUT = Path(__file__).resolve().parent / "figures" / "bn2d_axes.png"
N, C, H, W = 3, 3, 4, 4
GAP_C, GAP_N = 0.6, 1.8  # space between the channel planes of a sample, and between samples


def panel(ax, title: str, chosen) -> None:
    """Draw the batch, each sample as its C planes of H x W cells side by side; ``chosen(n, c, h, w)`` says
    whether a cell belongs to the highlighted statistic."""
    sample_width = C * W + (C - 1) * GAP_C
    for n in range(N):
        x_n = n * (sample_width + GAP_N)
        for c in range(C):
            x_c = x_n + c * (W + GAP_C)
            for h in range(H):
                for w in range(W):
                    color = "tab:orange" if chosen(n, c, h, w) else "white"
                    ax.add_patch(Rectangle((x_c + w, H - 1 - h), 1, 1, facecolor=color, edgecolor="0.35",
                                           linewidth=0.6))
            ax.text(x_c + W / 2, H + 0.25, f"channel {c + 1}", ha="center", fontsize=8)
        ax.text(x_n + sample_width / 2, -0.75, f"sample {n + 1}", ha="center", fontsize=9)
    ax.set_title(title, fontsize=9.5)
    ax.set_xlim(-0.3, N * (sample_width + GAP_N) - GAP_N + 0.3)
    ax.set_ylim(-1.2, H + 0.9)
    ax.set_aspect("equal")
    ax.axis("off")


def main() -> None:
    fig, axes = plt.subplots(2, 1, figsize=(9, 4.6), dpi=110)
    panel(axes[0], "BatchNorm2d(C): one mean and variance per channel, over all N x H x W values of that channel\n"
          f"(channel 2: {N} x {H} x {W} = {N * H * W} values)", lambda n, c, h, w: c == 1)
    panel(axes[1], "per-pixel BatchNorm (BatchNorm1d on the C*H*W flattened features): one per channel AND "
          f"position, over N values\n(channel 2, row 2, column 3: {N} values)",
          lambda n, c, h, w: (c, h, w) == (1, 1, 2))
    fig.suptitle(f"Which values one statistic averages; x of shape (N, C, H, W) = ({N}, {C}, {H}, {W})", fontsize=10)
    fig.tight_layout()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
