"""Data: the shipped MNIST sample, full MNIST/Fashion-MNIST downloads, splits, loader.

- :func:`load_mnist_sample` -- 5,000 real MNIST digits shipped with the package
  (500 per class, sorted by class), ``x: (5000, 1, 28, 28)`` float32 in [0, 1].
- :func:`mnist_sample_splits`, :func:`train_val_split`,
  :func:`train_val_test_split` -- seeded, stratified, shuffled, disjoint splits.
- :func:`load_mnist`, :func:`load_fashion_mnist` -- the full data sets, downloaded
  once to ``$DESCENTLAB_DATA`` (or the platform cache) and checksum-verified.
- :func:`read_idx`, :func:`write_idx` -- the IDX file format.
- :class:`DataLoader` -- mini-batches without replacement, exact resume.
"""

from .datasets import (
    DATASETS,
    FASHION_MNIST,
    MNIST,
    load_fashion_mnist,
    load_idx_dataset,
    load_mnist,
)
from .download import DatasetSpec, RemoteFile, data_home, fetch_files, file_digest
from .idx import encode_idx, read_idx, write_idx
from .loader import DataLoader
from .sample import load_mnist_sample
from .split import Splits, mnist_sample_splits, train_val_split, train_val_test_split
from .transforms import normalize, to_one_hot

__all__ = [
    "DATASETS",
    "FASHION_MNIST",
    "MNIST",
    "DataLoader",
    "DatasetSpec",
    "RemoteFile",
    "Splits",
    "data_home",
    "encode_idx",
    "fetch_files",
    "file_digest",
    "load_fashion_mnist",
    "load_idx_dataset",
    "load_mnist",
    "load_mnist_sample",
    "mnist_sample_splits",
    "normalize",
    "read_idx",
    "to_one_hot",
    "train_val_split",
    "train_val_test_split",
    "write_idx",
]
