"""The full MNIST and Fashion-MNIST data sets: download tables and loaders.

``load_mnist()`` and ``load_fashion_mnist()`` return ``((x_train, y_train),
(x_test, y_test))``; the files are fetched once by :mod:`.download` (cached,
digest-checked) and parsed with :func:`~descentlab.data.idx.read_idx`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import DataError
from .download import DatasetSpec, RemoteFile, fetch_files
from .idx import read_idx
from .transforms import _prepare

MNIST = DatasetSpec(
    name="mnist",
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    train_images=RemoteFile(
        "train-images-idx3-ubyte.gz",
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    ),
    train_labels=RemoteFile(
        "train-labels-idx1-ubyte.gz",
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    ),
    test_images=RemoteFile(
        "t10k-images-idx3-ubyte.gz",
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    ),
    test_labels=RemoteFile(
        "t10k-labels-idx1-ubyte.gz",
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    ),
)

# SHA-256 of the four files (Zalando's README publishes MD5 digests:
# 8d4fb7e6c68d591d4c3dfef9ec88bf0d, 25c81989df183df01b3e8a0aad5dffbe,
# bef4ecab320f06d8554ea6380940ec79, bb300cfdad3c16e7a12a480ee83cd310; the SHA-256
# values below are those of the same files as other projects pin them).
FASHION_MNIST = DatasetSpec(
    name="fashion-mnist",
    mirrors=(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/"
        "master/data/fashion/",
    ),
    train_images=RemoteFile(
        "train-images-idx3-ubyte.gz",
        "08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc",
    ),
    train_labels=RemoteFile(
        "train-labels-idx1-ubyte.gz",
        "b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc",
    ),
    test_images=RemoteFile(
        "t10k-images-idx3-ubyte.gz",
        "78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229",
    ),
    test_labels=RemoteFile(
        "t10k-labels-idx1-ubyte.gz",
        "42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf",
    ),
    classes=(
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
)

DATASETS: dict[str, DatasetSpec] = {"mnist": MNIST, "fashion-mnist": FASHION_MNIST}

Split = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def load_mnist(**options: Any) -> Split:
    """The 70,000 MNIST digits: ``((x_train, y_train), (x_test, y_test))``.

    ``x_train: (60000, 1, 28, 28)`` float32 in [0, 1] (``(60000, 784)`` when
    ``flatten``), ``y_train: (60000,)`` int64; the test set has 10,000. The
    keyword options (``root``, ``mirror``, ``normalize``, ``flatten``,
    ``one_hot``, ``dtype``, ``timeout``) are those of :func:`load_idx_dataset`,
    which documents them and the errors; the first call downloads about 11 MB.

    Reference: LeCun, Cortes & Burges, the MNIST database (1998).
    """
    return load_idx_dataset(MNIST, **options)


def load_fashion_mnist(**options: Any) -> Split:
    """Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017), shaped as :func:`load_mnist`.

    Class names are ``FASHION_MNIST.classes``; the first call downloads ~30 MB.
    The options are those of :func:`load_idx_dataset`.
    """
    return load_idx_dataset(FASHION_MNIST, **options)


def load_idx_dataset(
    spec: DatasetSpec,
    *,
    root: str | os.PathLike | None = None,
    mirror: str | Sequence[str] | None = None,
    normalize: bool = True,
    flatten: bool = False,
    one_hot: bool = False,
    dtype: Any = np.float32,
    timeout: float = 60.0,
) -> Split:
    """Fetch (when not cached) and parse a four-file IDX data set.

    Args:
        spec: the data set (:data:`MNIST`, :data:`FASHION_MNIST` or your own).
        root: cache folder; files go in ``root/<spec.name>/``. Default:
            ``$DESCENTLAB_DATA``, else the platform cache (see :func:`data_home`).
        mirror: base URL or list of base URLs tried in order instead of
            ``spec.mirrors`` (``file://`` URLs work for offline copies).
        normalize, flatten, one_hot, dtype: as in ``load_mnist_sample``.
        timeout: seconds to wait on each network operation.

    Returns:
        ``((x_train, y_train), (x_test, y_test))``.

    Raises:
        DataError: every mirror failed for a file (each URL and reason is
            listed; a checksum mismatch names expected and actual digests), a
            file is not valid IDX, or image and label counts differ.
    """
    paths = fetch_files(spec, root=root, mirror=mirror, timeout=timeout)
    out = []
    for img_file, lab_file in (
        (spec.train_images, spec.train_labels),
        (spec.test_images, spec.test_labels),
    ):
        images, labels = read_idx(paths[img_file.name]), read_idx(paths[lab_file.name])
        if images.ndim != 3 or images.dtype != np.uint8 or labels.ndim != 1:
            raise DataError(
                f"{spec.name}: {img_file.name} must hold uint8 images (N, H, W) and "
                f"{lab_file.name} labels (N,). Got {images.dtype} {images.shape} "
                f"and {labels.dtype} {labels.shape}."
            )
        if len(images) != len(labels):
            raise DataError(
                f"{spec.name}: {img_file.name} holds {len(images)} images but "
                f"{lab_file.name} holds {len(labels)} labels; the counts must agree."
            )
        if labels.size and int(labels.max()) >= len(spec.classes):
            raise DataError(
                f"{spec.name}: {lab_file.name} has label {int(labels.max())}; "
                f"labels must be in [0, {len(spec.classes)})."
            )
        out.append(
            _prepare(
                images,
                labels,
                normalize_=normalize,
                flatten=flatten,
                one_hot=one_hot,
                dtype=dtype,
                num_classes=len(spec.classes),
                owner=f"load {spec.name}",
            )
        )
    return out[0], out[1]
