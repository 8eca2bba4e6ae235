"""Data: the IDX file format, MNIST/Fashion-MNIST (local or downloaded), ``DataLoader``, ``prepare``, augmentation."""

from .augment import RandomShift
from .datasets import (
    DATASETS,
    ENV_VAR,
    FASHION_CLASSES,
    DatasetNotFoundError,
    cache_dir,
    load_dataset,
    load_fashion_mnist,
    load_mnist,
)
from .idx import read_idx, write_idx
from .loader import FASHION_MNIST_MEAN, FASHION_MNIST_STD, MNIST_MEAN, MNIST_STD, DataLoader, prepare

__all__ = ["read_idx", "write_idx", "load_mnist", "load_fashion_mnist", "load_dataset", "DATASETS", "ENV_VAR",
           "FASHION_CLASSES", "DatasetNotFoundError", "cache_dir", "DataLoader", "prepare", "RandomShift",
           "MNIST_MEAN", "MNIST_STD", "FASHION_MNIST_MEAN", "FASHION_MNIST_STD"]
