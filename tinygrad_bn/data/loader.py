"""``DataLoader``: mini-batches over numpy arrays, and ``prepare``: uint8 images -> standardized float32.

    loader = DataLoader(images, labels, batch_size=128, shuffle=True, seed=0)
    for xb, yb in loader:          # numpy arrays: xb (B, ...) images (after ``transform``), yb (B,) labels
        ...

With ``shuffle=True`` each pass over the loader (each epoch) uses a new permutation. With a ``seed``
the permutation of epoch ``e`` is drawn from ``np.random.default_rng((seed, e))``: a new loader with
the same seed replays the same epochs in the same order. Without a seed the package's default
generator is used, which ``tg.manual_seed`` resets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from ..checks import check_int
from ..random import default_generator

__all__ = ["DataLoader", "prepare", "MNIST_MEAN", "MNIST_STD", "FASHION_MNIST_MEAN", "FASHION_MNIST_STD"]

#: mean and standard deviation of MNIST's training pixels scaled to [0, 1] (the usual constants)
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
#: the same for Fashion-MNIST's training pixels
FASHION_MNIST_MEAN, FASHION_MNIST_STD = 0.2860, 0.3530


def prepare(images: np.ndarray, mean: float = MNIST_MEAN, std: float = MNIST_STD) -> np.ndarray:
    """uint8 images (N, 28, 28) or (N, H*W) -> float32 (N, H*W): ``(pixel / 255 - mean) / std``."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim < 2:
        raise TypeError(f"prepare: expected uint8 images of shape (N, H, W) or (N, H*W), got {images.dtype} "
                        f"{images.shape} (already prepared? prepare takes the raw 0..255 pixels)")
    if not std > 0:
        raise ValueError(f"prepare: std must be positive, got {std}")
    x = images.reshape(len(images), -1).astype(np.float32)
    return (x * np.float32(1.0 / (255.0 * std)) - np.float32(mean / std)).astype(np.float32, copy=False)


class DataLoader:
    """Iterate over ``(images[i], labels[i])`` in mini-batches of ``batch_size``.

    images: numpy array (N, ...); labels: numpy array (N,). Each batch is ``(transform(xb), yb)``
    (``transform`` defaults to the identity). ``drop_last=True`` skips a last batch smaller than
    ``batch_size``. ``len(loader)`` is the number of batches per epoch.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, batch_size: int = 128, shuffle: bool = False,
                 seed: int | None = None, drop_last: bool = False,
                 transform: Callable[[np.ndarray], np.ndarray] | None = None):
        images, labels = np.asarray(images), np.asarray(labels)
        if images.ndim < 1 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(f"DataLoader: expected images (N, ...) and labels (N,) with the same N, got "
                             f"{images.shape} and {labels.shape}")
        check_int(batch_size, "DataLoader", "batch_size")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(f"DataLoader: seed must be a non-negative integer or None, got {seed!r}")
        if transform is not None and not callable(transform):
            raise TypeError(f"DataLoader: transform must be callable, got {type(transform).__name__}")
        self.images, self.labels = images, labels
        self.batch_size, self.shuffle, self.seed, self.drop_last = int(batch_size), shuffle, seed, drop_last
        self.transform = transform
        self.epoch = 0  # passes started so far; picks the permutation when seeded

    def __len__(self) -> int:
        n = len(self.labels)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _order(self) -> np.ndarray | None:
        if not self.shuffle:
            return None
        n = len(self.labels)
        rng = default_generator() if self.seed is None else np.random.default_rng((self.seed, self.epoch))
        return rng.permutation(n)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        order = self._order()
        self.epoch += 1
        for b in range(len(self)):
            sl = slice(b * self.batch_size, (b + 1) * self.batch_size)
            idx = sl if order is None else order[sl]
            xb, yb = self.images[idx], self.labels[idx]
            yield (xb if self.transform is None else self.transform(xb)), yb

    def __repr__(self) -> str:
        return (f"DataLoader(n={len(self.labels)}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"seed={self.seed}, drop_last={self.drop_last}, batches={len(self)})")
