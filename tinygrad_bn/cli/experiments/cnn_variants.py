"""The CNN of ``models.cnn`` with its normalization or its dropout swapped, trained side by side.

Variants (conv blocks of ``channels``, each Conv 3x3 -> norm -> ReLU -> MaxPool 2 -> noise, then the head
Flatten -> Linear(., 128) -> BatchNorm1d -> ReLU -> Dropout(0.3) -> Linear(128, 10)):

- ``bn2d``: ``models.cnn()`` itself: BatchNorm2d (statistics per channel, over N, H and W), Dropout2d(p);
- ``pixel-bn``: BatchNorm over the flattened C*H*W conv outputs (:class:`PixelBatchNorm`): statistics per
  channel *and pixel*, over N only, as if each position were a feature of its own;
- ``dropout``: BatchNorm2d, but element-wise Dropout(p) in the conv blocks instead of Dropout2d;
- ``no-bn``: no normalization in the blocks nor in the head (convolutions and Linear with bias), Dropout2d(p).

Each variant starts from the same seed and sees the same batches; per epoch the training loss and
accuracy and the test loss and accuracy are recorded (``tinygrad_bn.train.fit``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ... import nn
from ...models import cnn
from .common import Splits

VARIANTS = ("bn2d", "pixel-bn", "dropout", "no-bn")


class PixelBatchNorm(nn.Module):
    """BatchNorm1d(C*H*W) on x (N, C, H, W) seen as (N, C*H*W): one mean, variance, weight and bias per
    channel and position. Output (N, C, H, W). For comparison with BatchNorm2d(C) only."""

    def __init__(self, channels: int, height: int, width: int):
        super().__init__()
        self.shape = (channels, height, width)
        self.bn = nn.BatchNorm1d(channels * height * width)

    def forward(self, x: Any) -> Any:
        return self.bn(x.reshape(x.shape[0], -1)).reshape(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


def build(variant: str, *, channels: Sequence[int] = (32, 64), p: float = 0.1, image_size: int = 28,
          num_classes: int = 10) -> nn.Sequential:
    """The CNN for ``variant`` (see the module docstring): (N, 1, S, S) float32 -> (N, num_classes) logits."""
    if variant not in VARIANTS:
        raise ValueError(f"cnn_variants.build: variant must be one of {VARIANTS}, got {variant!r}")
    model = cnn(1, channels, num_classes, image_size=image_size, batch_norm=variant != "no-bn", dropout=p,
                spatial_dropout=variant != "dropout")
    if variant != "pixel-bn":
        return model
    layers, side, prev = [], image_size, 1
    for m in model:
        if isinstance(m, nn.Conv2d):
            prev = m.out_channels
        if isinstance(m, nn.BatchNorm2d):
            m = PixelBatchNorm(prev, side, side)
        if isinstance(m, nn.MaxPool2d):
            side //= 2
        layers.append(m)
    return nn.Sequential(*layers)


def run_one(variant: str, data: Splits, *, epochs: int = 3, batch_size: int = 128, lr: float = 2e-3,
            p: float = 0.1, channels: Sequence[int] = (32, 64), seed: int = 0, progress: bool = False,
            log: Callable[[str], None] = lambda m: None) -> list[dict[str, Any]]:
    """Train ``variant`` with Adam (``lr``, cosine to 0 over ``epochs``) on ``data``; returns fit's rows
    (epoch, lr, train/test loss and accuracy, seconds, ...), each with ``variant`` added."""
    from ... import optim
    from ...data import DataLoader
    from ...random import manual_seed
    from ...train import fit

    manual_seed(seed)
    model = build(variant, channels=channels, p=p)
    optimizer = optim.Adam(model.parameters(), lr=lr)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    images = data.x_train.reshape(-1, 1, 28, 28)
    loader = DataLoader(images, data.y_train, batch_size=batch_size, shuffle=True, seed=seed, drop_last=True)

    def on_epoch(row: dict[str, Any]) -> None:
        log(f"  {variant}: epoch {row['epoch']}/{epochs} train loss {row['train_loss']:.4f} "
            f"test acc {row['test_acc']:.4f} ({row['seconds']:.0f} s)")

    history = fit(model, optimizer, loader, data.x_test.reshape(-1, 1, 28, 28), data.y_test, epochs=epochs,
                  scheduler=scheduler, progress=progress, on_epoch=on_epoch)
    return [{"variant": variant, **row} for row in history]
