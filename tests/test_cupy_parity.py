"""CuPy backend parity: the same model code on a GPU matches NumPy to float32 tolerance.

Skipped unless CuPy is installed *and* a CUDA device answers (never in CI). On a
GPU machine: ``pip install cupy-cuda12x && python -m pytest -q
tests/test_cupy_parity.py``."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import descentlab.backend as B
from descentlab.data import mnist_sample_splits
from descentlab.models import MLP, ResNetSmall, SimpleConvNet
from descentlab.nn import SoftmaxCrossEntropy
from descentlab.optim import Adam
from descentlab.schedules import CosineAnnealing, Scheduler
from descentlab.train import Trainer


def _gpu_available() -> bool:
    if importlib.util.find_spec("cupy") is None:
        return False
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # no driver, no device
        return False


pytestmark = pytest.mark.skipif(
    not _gpu_available(), reason="needs CuPy and a CUDA GPU"
)

MODELS = {
    "mlp_bn_dropout": (
        lambda: MLP((784, 64, 64, 10), batchnorm=True, dropout=0.2, seed=0),
        True,
    ),
    "simplecnn": (lambda: SimpleConvNet(seed=0), False),
    "resnet_small": (lambda: ResNetSmall(widths=(8, 16), seed=0), False),
}


@pytest.fixture
def backend_restored():
    before = (B._state["name"], B._state["module"])
    yield B
    B._state["name"], B._state["module"] = before


def _train(make, flat, backend: str, reference_state=None):
    B.use(backend)
    model = make()
    if reference_state is not None:
        model.load_state_dict(reference_state)
    data = mnist_sample_splits(n_train=300, n_val=100, n_test=100, seed=0, flatten=flat)
    opt = Adam(model.parameters(), lr=1e-3)
    sched = Scheduler(opt, CosineAnnealing(1e-3, T=6), interval="step")
    trainer = Trainer(model, SoftmaxCrossEntropy(), opt, sched, verbose=0)
    hist = trainer.fit(data.train, data.val, epochs=2, batch_size=100, seed=0)
    state = {k: B.to_numpy(v) for k, v in model.state_dict().items()}
    return state, hist


@pytest.mark.parametrize("name", sorted(MODELS))
def test_training_on_cupy_matches_numpy(backend_restored, name):
    """Check 2 epochs of Adam+cosine give the same weights, buffers and losses on both
    backends."""
    make, flat = MODELS[name]
    B.use("numpy")
    start = {k: np.array(v) for k, v in make().state_dict().items()}
    ref, ref_hist = _train(make, flat, "numpy", start)
    got, got_hist = _train(make, flat, "cupy", start)
    assert got.keys() == ref.keys()
    for k in ref:
        assert got[k].dtype == ref[k].dtype == np.float32 or k.endswith(
            "num_batches_tracked"
        )
        np.testing.assert_allclose(got[k], ref[k], rtol=2e-3, atol=2e-5, err_msg=k)
    np.testing.assert_allclose(got_hist.step["loss"], ref_hist.step["loss"], rtol=1e-4)
    np.testing.assert_allclose(
        got_hist.epoch["val_acc"], ref_hist.epoch["val_acc"], atol=0.011
    )
