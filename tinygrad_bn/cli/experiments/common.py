"""What the experiments share: loading a data set into train/test arrays, the output folder, progress lines.

Data: ``load_splits("fashion-mnist" | "mnist", data_dir, holdout=0)`` returns prepared float32 (N, 784)
images and int64 labels. With ``holdout=0`` it uses the official train and test splits. With
``holdout=K > 0`` it uses only the *test* split (10,000 images): the last K images are the test set,
the first 10,000 - K the training set (as ``tinygrad-bn mnist --holdout``). This is for machines
that hold only MNIST's test split; the accuracies are then not comparable with published ones.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

DATASETS = ("fashion-mnist", "mnist")


@dataclass
class Splits:
    """Prepared arrays: ``x_*`` float32 (N, 784) standardized, ``y_*`` int64 (N,); ``description`` for reports."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    description: str


def load_splits(dataset: str, data_dir: str | os.PathLike | None = None, holdout: int = 0,
                limit: int | None = None, download: bool = True) -> Splits:
    """Load and prepare ``dataset`` (see the module docstring). ``limit`` keeps the first ``limit`` training
    images (after the holdout split), e.g. for a quick run."""
    from ...data import FASHION_MNIST_MEAN, FASHION_MNIST_STD, MNIST_MEAN, MNIST_STD, load_dataset, prepare

    if dataset not in DATASETS:
        raise ValueError(f"load_splits: dataset must be one of {DATASETS}, got {dataset!r}")
    if isinstance(holdout, bool) or not isinstance(holdout, (int, np.integer)) or holdout < 0:
        raise ValueError(f"load_splits: holdout must be a non-negative int, got {holdout!r}")
    mean, std = (MNIST_MEAN, MNIST_STD) if dataset == "mnist" else (FASHION_MNIST_MEAN, FASHION_MNIST_STD)
    if holdout:
        images, labels = load_dataset(dataset, "test", data_dir, download)
        if holdout >= len(labels):
            raise ValueError(f"load_splits: holdout ({holdout}) must be smaller than the test split ({len(labels)})")
        k = len(labels) - holdout
        xtr, ytr, xte, yte = images[:k], labels[:k], images[k:], labels[k:]
        desc = f"{dataset} test split only: first {k} images for training, last {holdout} held out for testing"
    else:
        xtr, ytr = load_dataset(dataset, "train", data_dir, download)
        xte, yte = load_dataset(dataset, "test", data_dir, download)
        desc = f"{dataset}: train split ({len(ytr)} images), test split ({len(yte)} images)"
    if limit is not None:
        xtr, ytr = xtr[:limit], ytr[:limit]
        desc += f", training limited to the first {len(ytr)}"
    return Splits(prepare(xtr, mean, std), ytr.astype(np.int64), prepare(xte, mean, std), yte.astype(np.int64), desc)


def check_bn_batches(batch_size: int, n: int, owner: str) -> None:
    """ValueError unless batches of ``batch_size`` from ``n`` images can hold 2 images (BatchNorm's minimum)."""
    if batch_size < 2 or n < 2:
        raise ValueError(f"{owner}: BatchNorm needs at least 2 images per batch; got batch size {batch_size} and "
                         f"{n} training image(s)")


def bn_loader(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int, owner: str, *, drop_last: bool = True) -> Any:
    """A shuffled, seeded DataLoader for a network with BatchNorm, which needs at least 2 images per batch.

    ``drop_last`` drops the last partial batch (a different shuffle each epoch still uses every image);
    without it the last partial batch is kept unless it would hold a single image, which is then dropped
    (BatchNorm cannot normalize one value per channel). A ``batch_size`` or a training set below 2
    raises ValueError naming ``owner``.
    """
    from ...data import DataLoader

    check_bn_batches(batch_size, len(y), owner)
    batch_size = min(batch_size, len(y))
    return DataLoader(x, y, batch_size=batch_size, shuffle=True, seed=seed,
                      drop_last=drop_last or len(y) % batch_size == 1)


def out_dir(path: str | os.PathLike) -> Path:
    """Create (if needed) and return the output folder."""
    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    return p


def printer(enabled: bool) -> Callable[[str], None]:
    """A progress-line printer to stderr (flushed), or a no-op."""
    if not enabled:
        return lambda msg: None
    return lambda msg: print(msg, file=sys.stderr, flush=True)
