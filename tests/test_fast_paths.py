"""The chunked thread-pool fast paths equal the plain NumPy reference paths.

Conv2d, BatchNorm2d and MaxPool2d: forward, dx and every parameter gradient
against ``reference_paths()``; whole DeepConvNet / ResNetSmall training runs give
the same bits with 1 and 2 threads (chunking never depends on the thread count).
"""

from __future__ import annotations

import contextlib
import copy

import numpy as np
import pytest

from descentlab.models import DeepConvNet, ResNetSmall
from descentlab.nn import (
    BatchNorm2d,
    Conv2d,
    MaxPool2d,
    SoftmaxCrossEntropy,
    conv_shifted,
    parallel,
)
from descentlab.nn.conv import _ShiftedCache
from descentlab.nn.parallel import (
    batch_chunks,
    fast_paths_enabled,
    reference_paths,
    run_chunks,
    set_num_threads,
    single_blas_thread,
)
from descentlab.optim import Adam


@pytest.fixture(autouse=True)
def _two_threads():
    """Run every test with a 2-thread pool (so chunks really run concurrently)."""
    old = set_num_threads(2)
    yield
    set_num_threads(old)


def _run(layer, x, dy):
    y = layer.forward(x)
    dx = layer.backward(dy)
    grads = {name: p.grad.copy() for name, p in layer.named_parameters()}
    return y, dx, grads


def _both(layer, x, dy_shape_of=None, seed=1):
    """(fast, reference) results of forward + backward on two copies of ``layer``."""
    ref_layer = copy.deepcopy(layer)
    y = layer.forward(x)
    dy = np.random.default_rng(seed).standard_normal(y.shape).astype(y.dtype)
    fast = (
        y,
        layer.backward(dy),
        {n: p.grad.copy() for n, p in layer.named_parameters()},
    )
    with reference_paths():
        assert not fast_paths_enabled()
        ref = _run(ref_layer, x, dy)
    assert fast_paths_enabled()
    return fast, ref, layer, ref_layer


def _assert_close(fast, ref, rtol, atol):
    (y, dx, g), (y_r, dx_r, g_r) = fast, ref
    assert y.dtype == y_r.dtype and y.shape == y_r.shape
    np.testing.assert_allclose(y, y_r, rtol=rtol, atol=atol)
    if dx_r is None:
        assert dx is None
    else:
        assert dx.dtype == dx_r.dtype and dx.shape == dx_r.shape
        np.testing.assert_allclose(dx, dx_r, rtol=rtol, atol=atol)
    assert set(g) == set(g_r) and g
    for name in g:
        np.testing.assert_allclose(
            g[name], g_r[name], rtol=rtol, atol=atol, err_msg=name
        )


@pytest.mark.parametrize(
    "cin, cout, k, s, p, hw, bias, n",
    [
        (3, 4, 3, 1, 1, (9, 7), True, 13),  # dx as a correlation of padded dy
        (2, 5, 3, 2, 1, (10, 11), False, 9),  # stride 2: dx by col2im per chunk
        (3, 2, 5, 1, 2, (8, 8), True, 17),
        (4, 4, 1, 2, 0, (8, 8), False, 5),  # 1x1 projection with stride
        (3, 3, 3, 1, 0, (6, 6), True, 1),  # batch of one
        (2, 3, 3, 1, 2, (5, 5), True, 10),  # padding == kernel - 1
        (2, 2, 2, 1, 3, (5, 5), True, 3),  # padding > kernel - 1: col2im fallback
        (1, 6, (3, 2), (1, 2), (1, 0), (7, 9), True, 8),  # rectangular
    ],
)
def test_conv2d_fast_path_equals_reference(cin, cout, k, s, p, hw, bias, n):
    """Check Conv2d's chunked path against the reference: y, dx, dW, db (float64)."""
    conv = Conv2d(cin, cout, k, s, p, bias=bias, rng=3, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((n, cin, *hw))
    fast, ref, *_ = _both(conv, x)
    _assert_close(fast, ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "cin, cout, k, p, hw, bias, n",
    [
        (16, 16, 3, 1, (28, 28), True, 13),  # DeepConvNet's second conv
        (8, 5, (3, 2), (1, 0), (21, 30), False, 7),  # rectangular kernel and padding
        (12, 4, 5, 2, (20, 22), True, 5),
        (9, 3, 3, 0, (22, 22), True, 3),  # no padding
        (16, 8, 1, 0, (20, 20), True, 1),  # 1x1, batch of one
    ],
)
def test_conv2d_shifted_gemm_path_equals_reference(cin, cout, k, p, hw, bias, n):
    """Check the stride-1 shifted-GEMM path (few channels, large images) against
    the reference: y, dx, dW, db (float64); the path really ran."""
    conv = Conv2d(cin, cout, k, 1, p, bias=bias, rng=3, dtype=np.float64)
    assert conv_shifted.applies(cin, (1, 1), conv.output_shape(*hw))
    x = np.random.default_rng(0).standard_normal((n, cin, *hw))
    fast, ref, fast_layer, _ = _both(conv, x)
    assert isinstance(fast_layer._cache, _ShiftedCache)
    _assert_close(fast, ref, rtol=1e-10, atol=1e-12)


def test_conv2d_shifted_gemm_path_is_chosen_by_shape():
    """Check which convolutions take the shifted-GEMM path: stride 1, 8-32 input
    channels, at least 400 output pixels."""
    assert conv_shifted.applies(16, (1, 1), (28, 28))
    assert not conv_shifted.applies(16, (2, 2), (28, 28))  # stride 2
    assert not conv_shifted.applies(1, (1, 1), (28, 28))  # a data layer
    assert not conv_shifted.applies(64, (1, 1), (28, 28))  # wide: im2col's GEMM
    assert not conv_shifted.applies(16, (1, 1), (14, 14))  # small image


def test_conv2d_fast_path_float32_and_no_input_grad():
    """Check float32 agreement and that input_grad=False skips dx on both paths."""
    conv = Conv2d(16, 16, 3, padding=1, rng=0)
    conv.input_grad = False
    x = np.random.default_rng(0).standard_normal((20, 16, 12, 12)).astype(np.float32)
    fast, ref, *_ = _both(conv, x)
    assert fast[1] is None
    assert fast[0].dtype == np.float32
    _assert_close(fast, ref, rtol=2e-4, atol=2e-4)


def test_maxpool_fast_path_is_bitwise_equal():
    """Check MaxPool2d's chunked path equals the reference bit for bit (ties, NaN)."""
    rng = np.random.default_rng(0)
    for k, s, p, shape in [(2, 2, 0, (13, 3, 8, 8)), (3, 2, 1, (11, 2, 10, 10))]:
        x = rng.standard_normal(shape)
        x[0, 0, 0, :2] = np.nan
        x[1, 1, 2:4, 2:4] = 1.0  # a tie inside a window
        pool = MaxPool2d(k, s, p)
        y = pool.forward(x)
        dy = rng.standard_normal(y.shape)
        dx = pool.backward(dy)
        with reference_paths():
            y_r = pool.forward(x)
            dx_r = pool.backward(dy)
        np.testing.assert_array_equal(y, y_r)
        np.testing.assert_array_equal(dx, dx_r)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-11), (np.float32, 2e-5)])
def test_batchnorm2d_fast_path_equals_reference(training, dtype, tol):
    """Check BatchNorm2d's chunked path: y, dx, dgamma, dbeta and running statistics."""
    rng = np.random.default_rng(0)
    bn = BatchNorm2d(5, dtype=dtype)
    bn.weight.data[:] = rng.standard_normal(5)
    bn.bias.data[:] = rng.standard_normal(5)
    bn.running_mean[:] = rng.standard_normal(5)
    bn.running_var[:] = rng.random(5) + 0.5
    bn.train(training)
    x = (rng.standard_normal((17, 5, 6, 7)) * 3 + 2).astype(dtype)
    fast, ref, bn_fast, bn_ref = _both(bn, x)
    _assert_close(fast, ref, rtol=tol, atol=tol)
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        np.testing.assert_allclose(
            getattr(bn_fast, name), getattr(bn_ref, name), rtol=tol, err_msg=name
        )


def _train(model_cls, threads: int, steps: int = 2):
    """Parameters and the input gradient after ``steps`` Adam steps (float32)."""
    set_num_threads(threads)
    model = model_cls(seed=0)
    loss, opt = SoftmaxCrossEntropy(), Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((12, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, 12)
    for _ in range(steps):
        opt.zero_grad()
        loss.forward(model.forward(x), y)
        dx = model.backward(loss.backward())
        opt.step()
    return model.state_dict(), dx


def _gradients(model_cls, reference: bool):
    """Every parameter gradient and dx of one float64 step, fast or reference path."""
    model = model_cls(seed=0, dtype=np.float64)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 1, 28, 28))
    y = rng.integers(0, 10, 6)
    loss = SoftmaxCrossEntropy()
    path = reference_paths() if reference else contextlib.nullcontext()
    with path, single_blas_thread():  # a busy 2-core CI: no spinning BLAS threads
        loss.forward(model.forward(x), y)
        dx = model.backward(loss.backward())
    return {n: p.grad.copy() for n, p in model.named_parameters()}, dx


@pytest.mark.parametrize("model_cls", [DeepConvNet, ResNetSmall])
def test_training_is_bit_identical_across_threads(model_cls):
    """Check that 1 and 2 threads give the same bits after two Adam steps."""
    one, dx1 = _train(model_cls, 1)
    two, dx2 = _train(model_cls, 2)
    assert list(one) == list(two)
    for key in one:
        np.testing.assert_array_equal(one[key], two[key], err_msg=key)
    np.testing.assert_array_equal(dx1, dx2)


@pytest.mark.parametrize("model_cls", [DeepConvNet, ResNetSmall])
def test_model_gradients_equal_reference(model_cls):
    """Check every parameter gradient and dx of a whole model against the reference."""
    fast, dx = _gradients(model_cls, reference=False)
    ref, dx_r = _gradients(model_cls, reference=True)
    assert list(fast) == list(ref)
    for key in fast:
        np.testing.assert_allclose(
            fast[key], ref[key], rtol=1e-9, atol=1e-12, err_msg=key
        )
    np.testing.assert_allclose(dx, dx_r, rtol=1e-9, atol=1e-12)


def test_batch_chunks_cover_the_batch_and_ignore_threads():
    """Check chunks tile range(n) in order and depend on n and the sample size only."""
    for n in (1, 2, 7, 8, 9, 100, 1000):
        for sample_bytes in (1, 10_000, 5_000_000):
            set_num_threads(1)
            chunks = batch_chunks(n, sample_bytes)
            set_num_threads(7)
            assert batch_chunks(n, sample_bytes) == chunks
            idx = np.concatenate([np.arange(n)[c] for c in chunks])
            np.testing.assert_array_equal(idx, np.arange(n))
            sizes = [c.stop - c.start for c in chunks]
            assert min(sizes) >= 1 and max(sizes) - min(sizes) <= 1
            work = n * sample_bytes
            want = max(
                -(-work // parallel.CHUNK_BYTES),
                min(parallel.MIN_CHUNKS, -(-work // parallel.MIN_CHUNK_BYTES)),
            )
            assert len(chunks) == max(1, min(n, want))
    # large samples: one chunk each; mid-size: MIN_CHUNKS chunks; tiny: one chunk
    assert len(batch_chunks(100, 5_000_000)) == 100
    assert len(batch_chunks(100, 100_000)) == parallel.MIN_CHUNKS
    assert len(batch_chunks(100, 1)) == 1
    assert batch_chunks(0, 10) == []


def test_run_chunks_keeps_order_and_propagates_errors():
    """Check results come back in chunk order and a worker's exception is raised."""
    chunks = batch_chunks(50, 100_000)
    assert len(chunks) > 2
    assert run_chunks(lambda c: c.start, chunks) == [c.start for c in chunks]

    def boom(c):
        if c.start > 0:
            raise KeyError(f"chunk {c.start}")
        return c.start

    with pytest.raises(KeyError, match="chunk"):
        run_chunks(boom, chunks)


def _blas_threads(ctl) -> list[int]:
    """Thread counts of NumPy's BLAS (the one the layers call). Another BLAS loaded
    later (SciPy's own OpenBLAS, say) is not NumPy's and is left alone."""
    blas = [i for i in ctl.info() if i["user_api"] == "blas"]
    own = [i for i in blas if "numpy" in i["filepath"]] or blas
    return [i["num_threads"] for i in own]


@pytest.fixture
def two_blas_threads():
    """(controller, NumPy's BLAS thread counts) with BLAS set to 2 threads for the
    test; skips without threadpoolctl or a BLAS it can set to 2 threads."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    ctl = threadpoolctl.ThreadpoolController()
    with ctl.limit(limits=2, user_api="blas"):
        before = _blas_threads(ctl)
        if not before or before == [1] * len(before):
            pytest.skip("no multi-threaded BLAS that threadpoolctl can control")
        yield ctl, before


def test_single_blas_thread_limits_and_restores(two_blas_threads):
    """Check BLAS runs with one thread inside the block and gets its count back."""
    ctl, before = two_blas_threads
    with single_blas_thread():
        inside = _blas_threads(ctl)
    assert inside == [1] * len(before)
    assert _blas_threads(ctl) == before


def test_training_threads_pin_blas_only_with_a_pool(two_blas_threads):
    """Check the training-loop policy: one BLAS thread inside the block while the
    pool has 2 threads; BLAS untouched with a 1-thread pool or the reference path."""
    ctl, before = two_blas_threads
    with parallel.training_threads():
        pooled = _blas_threads(ctl)
    set_num_threads(1)
    with parallel.training_threads():
        one_thread = _blas_threads(ctl)
    set_num_threads(2)
    with reference_paths(), parallel.training_threads():
        reference = _blas_threads(ctl)
    after = _blas_threads(ctl)
    assert pooled == [1] * len(before)
    assert one_thread == before and reference == before and after == before


def test_trainer_fit_runs_with_one_blas_thread_under_the_pool(two_blas_threads):
    """Check Trainer.fit applies the policy: a callback sees one BLAS thread."""
    from descentlab.train import Callback, Trainer

    ctl, before = two_blas_threads
    seen: list[list[int]] = []

    class Probe(Callback):
        def on_train_batch_end(self, step, logs=None):
            seen.append(_blas_threads(ctl))

    model = DeepConvNet(seed=0, dropout=0.0)
    x = np.random.default_rng(0).standard_normal((8, 1, 28, 28)).astype(np.float32)
    y = np.arange(8) % 10
    trainer = Trainer(
        model,
        SoftmaxCrossEntropy(),
        Adam(model.parameters()),
        callbacks=[Probe()],
        verbose=0,
    )
    trainer.fit((x, y), epochs=1, batch_size=4)
    assert seen == [[1] * len(before)] * 2
    assert _blas_threads(ctl) == before


def test_thread_settings_are_validated(monkeypatch):
    """Check bad thread counts are refused with messages naming the value."""
    with pytest.raises(ValueError, match="'n' must be an int >= 1"):
        set_num_threads(0)
    with pytest.raises(ValueError, match="'n' must be an int >= 1"):
        set_num_threads(2.0)
    set_num_threads(None)
    monkeypatch.setenv("DESCENTLAB_NUM_THREADS", "3")
    assert parallel.num_threads() == 3
    monkeypatch.setenv("DESCENTLAB_NUM_THREADS", "many")
    with pytest.raises(ValueError, match="DESCENTLAB_NUM_THREADS must be an integer"):
        parallel.num_threads()
    monkeypatch.setenv("DESCENTLAB_NUM_THREADS", "1")
    monkeypatch.setenv("DESCENTLAB_FAST_PATHS", "0")
    assert not fast_paths_enabled()
