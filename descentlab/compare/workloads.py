"""Workloads: a model, a data split, a step budget and a target metric.

A :class:`Workload` is plain data (it round-trips through ``to_dict`` /
``from_dict`` and is stored whole in a comparison's manifest), so a
comparison can be rerun from its manifest even after the registry changes.

The target is a validation accuracy; a run reaches it at the first
evaluation (every ``eval_every`` steps) whose validation accuracy is at least
``target``. Steps to target are therefore measured in multiples of
``eval_every``; a run that never reaches it has steps to target = inf.

:data:`WORKLOADS` holds the built-in ones. Those on the shipped 5,000-digit
MNIST sample always work; ``mnist-mlp`` and ``fashion-mlp`` use the full data
sets and are offered only once their files are in the data cache (they are
never downloaded by a comparison: fetch them once with
``descentlab.data.load_mnist()`` / ``load_fashion_mnist()``).
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from .._validation import check_option, check_scalar
from ..errors import InvalidParameterError

__all__ = [
    "DEFAULT_WORKLOADS",
    "WORKLOADS",
    "Workload",
    "available_workloads",
    "check_workloads",
    "load_splits",
]

MODELS = ("mlp", "simplecnn")
DATA = ("mnist-sample", "mnist", "fashion-mnist")
SCHEDULES = (None, "cosine", "warmup-cosine")
_OWNER = "Workload"


@dataclass
class Workload:
    """What one comparison cell trains and how success is measured.

    Args:
        name: short name used on the command line and in tables.
        model: "mlp" (``MLP(784, *hidden, 10)``, ReLU, He init, optional BN) or
            "simplecnn" (``SimpleConvNet(filters=..., hidden=...)``).
        hidden: MLP hidden sizes, or ``(filters, hidden)`` for simplecnn.
        batchnorm: BatchNorm1d after each hidden Linear (MLP only).
        schedule: None (constant lr), "cosine" or "warmup-cosine" over ``steps``
            (per step, from the trial's lr down to 0).
        data: "mnist-sample" (shipped), "mnist" or "fashion-mnist" (cached).
        n_train, n_val, n_test: split sizes (stratified, seeded by ``split_seed``).
        steps: optimizer steps per run (the budget).
        batch_size: mini-batch size.
        eval_every: steps between validation evaluations.
        target: validation accuracy that counts as "reached".
        description: one line for tables and captions.
    """

    name: str
    model: str
    hidden: tuple[int, ...]
    steps: int
    batch_size: int
    eval_every: int
    target: float
    n_train: int
    n_val: int
    n_test: int
    batchnorm: bool = False
    schedule: str | None = None
    data: str = "mnist-sample"
    split_seed: int = 0
    description: str = ""

    def __post_init__(self) -> None:
        self.hidden = tuple(int(h) for h in self.hidden)
        owner = f"workload {self.name!r}"
        check_option(self.model, "model", MODELS, owner=owner)
        check_option(self.data, "data", DATA, owner=owner)
        check_option(self.schedule, "schedule", SCHEDULES, owner=owner)
        for key in ("steps", "batch_size", "eval_every", "n_train", "n_val", "n_test"):
            check_scalar(
                getattr(self, key), key, numbers.Integral, min_val=1, owner=owner
            )
        check_scalar(
            self.split_seed, "split_seed", numbers.Integral, min_val=0, owner=owner
        )
        check_scalar(
            self.target, "target", numbers.Real, min_val=0.0, max_val=1.0, owner=owner
        )
        if self.eval_every > self.steps:
            raise InvalidParameterError(
                f"{owner}: 'eval_every' must be at most 'steps' ({self.steps}). "
                f"Got {self.eval_every}."
            )
        if self.model == "simplecnn" and (len(self.hidden) != 2 or self.batchnorm):
            raise InvalidParameterError(
                f"{owner}: a simplecnn takes hidden=(filters, hidden units) and no "
                f"batchnorm. Got hidden={self.hidden}, batchnorm={self.batchnorm}."
            )

    @property
    def evaluations(self) -> list[int]:
        """Steps after which the validation set is evaluated (the last is ``steps``)."""
        marks = list(range(self.eval_every, self.steps + 1, self.eval_every))
        return marks if marks[-1] == self.steps else [*marks, self.steps]

    def build_model(self, seed: int) -> Any:
        """A freshly initialised model; ``seed`` fixes its initial weights."""
        from ..models import MLP, SimpleConvNet

        if self.model == "mlp":
            return MLP((784, *self.hidden, 10), batchnorm=self.batchnorm, seed=seed)
        filters, hidden = self.hidden
        return SimpleConvNet(filters=filters, hidden=hidden, seed=seed)

    def splits(self) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
        """``(train, val, test)`` pairs, the same on every call (cached per process)."""
        return load_splits(
            self.data,
            self.n_train,
            self.n_val,
            self.n_test,
            self.split_seed,
            self.model == "mlp",
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Workload:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - known)
        if unknown:
            raise InvalidParameterError(
                f"Workload.from_dict: unknown keys {unknown}; known keys are "
                f"{', '.join(sorted(known))}."
            )
        try:
            return cls(**dict(d))
        except TypeError as exc:
            raise InvalidParameterError(f"Workload.from_dict: {exc}.") from None

    def summary(self) -> str:
        """One line: model, data, budget and target."""
        sched = f", {self.schedule} lr" if self.schedule else ""
        bn = " + BN" if self.batchnorm else ""
        if self.model == "mlp":
            net = "MLP 784-" + "-".join(str(h) for h in self.hidden) + "-10" + bn
        else:
            net = f"SimpleConvNet ({self.hidden[0]} filters, {self.hidden[1]} hidden)"
        return (
            f"{net} on {self.n_train:,} {self.data} images, {self.steps} steps of "
            f"{self.batch_size}{sched}; target val acc {self.target:g}"
        )


@functools.lru_cache(maxsize=8)
def load_splits(
    data: str, n_train: int, n_val: int, n_test: int, split_seed: int, flatten: bool
) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Stratified, seeded train/val/test arrays of a data source (read-only)."""
    from ..data import mnist_sample_splits, train_val_split

    if data == "mnist-sample":
        s = mnist_sample_splits(
            n_train, n_val=n_val, n_test=n_test, seed=split_seed, flatten=flatten
        )
        parts = (s.train, cast(tuple[np.ndarray, np.ndarray], s.val), s.test)
    else:
        (x, y), (xt, yt) = _load_cached(data, flatten)
        (x, y), (xv, yv) = train_val_split(x, y, n_val=n_val, seed=split_seed)
        rng = np.random.default_rng(split_seed)
        tr = rng.permutation(len(x))[:n_train]
        te = rng.permutation(len(xt))[:n_test]
        parts = ((x[tr], y[tr]), (xv, yv), (xt[te], yt[te]))
    for pair in parts:
        for a in pair:
            a.setflags(write=False)
    return parts


def _load_cached(data: str, flatten: bool) -> Any:
    from ..data import DATASETS, data_home, load_idx_dataset

    spec = DATASETS[data]
    if not is_cached(data):
        raise InvalidParameterError(
            f"workload data {data!r} is not in the data cache "
            f"({data_home() / spec.name}); a comparison never downloads. Fetch it "
            f"once with descentlab.data.load_{data.replace('-', '_')}()."
        )
    return load_idx_dataset(spec, flatten=flatten)


def is_cached(data: str) -> bool:
    """True for the shipped sample, or when every file of a full data set is cached."""
    if data == "mnist-sample":
        return True
    from ..data import DATASETS, data_home

    spec = DATASETS[data]
    folder = data_home() / spec.name
    return all((folder / f.name).is_file() for f in spec.files)


def _sample(name: str, **kw: Any) -> Workload:
    base: dict[str, Any] = {
        "n_train": 3000,
        "n_val": 1000,
        "n_test": 1000,
        "batch_size": 64,
        "eval_every": 20,
    }
    base.update(kw)
    return Workload(name=name, **base)


#: The built-in workloads, by name.
WORKLOADS: dict[str, Workload] = {
    "mlp": _sample(
        "mlp",
        model="mlp",
        hidden=(100, 100),
        steps=200,
        target=0.9,
        description="ReLU MLP, constant lr",
    ),
    "simplecnn": _sample(
        "simplecnn",
        model="simplecnn",
        hidden=(30, 100),
        steps=100,
        batch_size=32,
        n_val=500,
        target=0.92,
        description="the book's convnet, constant lr",
    ),
    "mlp-bn-cosine": _sample(
        "mlp-bn-cosine",
        model="mlp",
        hidden=(100, 100),
        batchnorm=True,
        schedule="cosine",
        steps=200,
        target=0.91,
        description="MLP with batch norm, cosine lr decay to 0",
    ),
    "mnist-mlp": Workload(
        name="mnist-mlp",
        model="mlp",
        hidden=(256, 128),
        data="mnist",
        n_train=60000 - 5000,
        n_val=5000,
        n_test=10000,
        steps=2000,
        batch_size=128,
        eval_every=100,
        target=0.97,
        description="full MNIST, ReLU MLP",
    ),
    "fashion-mlp": Workload(
        name="fashion-mlp",
        model="mlp",
        hidden=(256, 128),
        data="fashion-mnist",
        n_train=60000 - 5000,
        n_val=5000,
        n_test=10000,
        steps=2000,
        batch_size=128,
        eval_every=100,
        target=0.85,
        description="full Fashion-MNIST, ReLU MLP",
    ),
}

DEFAULT_WORKLOADS: tuple[str, ...] = ("mlp", "simplecnn", "mlp-bn-cosine")


def available_workloads() -> list[str]:
    """Names of the built-in workloads whose data is at hand (no download)."""
    return [n for n, w in WORKLOADS.items() if is_cached(w.data)]


def workload_from_file(path: str, *, owner: str = "compare") -> Workload:
    """Read a workload from a JSON file holding ``Workload.to_dict()``'s keys."""
    import json

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidParameterError(
            f"{owner}: cannot read workload file {path!r}: {exc}."
        ) from None
    if not isinstance(data, dict):
        raise InvalidParameterError(
            f"{owner}: workload file {path!r} must hold a JSON object of Workload "
            "fields."
        )
    return Workload.from_dict(data)


def check_workloads(
    workloads: Sequence[str | Workload], *, owner: str = "compare"
) -> list[Workload]:
    """Resolve names through :data:`WORKLOADS` (Workload objects pass, names ending
    in ``.json`` are read by :func:`workload_from_file`); check them."""
    out: list[Workload] = []
    for w in workloads:
        if isinstance(w, Workload):
            out.append(w)
            continue
        if isinstance(w, str) and w.endswith(".json"):
            out.append(workload_from_file(w, owner=owner))
            continue
        if w not in WORKLOADS:
            raise InvalidParameterError(
                f"{owner}: unknown workload {w!r}; built-in workloads: "
                f"{', '.join(WORKLOADS)}."
            )
        if not is_cached(WORKLOADS[w].data):
            _load_cached(WORKLOADS[w].data, True)  # raises the "not cached" message
        out.append(WORKLOADS[w])
    if not out:
        raise InvalidParameterError(f"{owner}: give at least one workload.")
    names = [w.name for w in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InvalidParameterError(
            f"{owner}: workload {dup[0]!r} is listed twice; list each once."
        )
    return out
