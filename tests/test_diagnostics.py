"""Diagnostics checked against exact answers: eigh of the full Hessian, the exact
trace, rescaling invariance, bit-identical restores, the quadratic's 2/lambda."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from descentlab import diagnostics as D
from descentlab.errors import InvalidParameterError, NonFiniteError
from descentlab.models import MLP
from descentlab.nn import (
    Linear,
    Module,
    MSELoss,
    Parameter,
    ReLU,
    Sequential,
    SoftmaxCrossEntropy,
)
from descentlab.optim import SGD, Adam


def _tiny(seed=0, activation="tanh", dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((40, 6))
    y = rng.integers(0, 3, 40)
    model = MLP([6, 12, 10, 3], activation=activation, seed=seed, dtype=dtype)
    return model, x, y


def test_hvp_matches_the_exact_hessian_of_least_squares():
    """Check that hvp reproduces H = (2/N) [X 1]^T [X 1] of a linear MSE model."""
    rng = np.random.default_rng(1)
    x, t = rng.standard_normal((30, 4)), rng.standard_normal((30, 1))
    model = Linear(4, 1, rng=rng, dtype=np.float64)
    A = np.hstack([x, np.ones((30, 1))])
    H = 2.0 / 30 * A.T @ A
    v = rng.standard_normal(5)
    np.testing.assert_allclose(D.hvp(model, MSELoss(), x, t, v), H @ v, rtol=1e-7)


def test_top_eigenvalues_match_eigh_of_the_assembled_hessian():
    """Check Lanczos' top 3 against eigh of the Hessian built from hvp columns."""
    model, x, y = _tiny()
    assert 200 <= model.num_parameters() <= 400
    op = D.hessian_operator(model, SoftmaxCrossEntropy(), x, y)
    H = op.dense()
    assert np.abs(H - H.T).max() <= 1e-7 * np.abs(H).max()
    exact = np.linalg.eigh((H + H.T) / 2)[0][::-1][:3]
    got = D.top_hessian_eigenvalues(model, SoftmaxCrossEntropy(), x, y, k=3)
    assert got.converged
    np.testing.assert_allclose(got.values, exact, rtol=1e-4)
    assert got.iterations < model.num_parameters()  # it did not need the whole space
    for lam, u in zip(
        got.values, got.vectors, strict=True
    ):  # and the vectors are eigenvectors
        np.testing.assert_allclose(H @ u, lam * u, atol=1e-3 * abs(lam))


def test_hessian_leaves_the_model_untouched():
    """Check that weights, mode and dtype are as they were after the Hessian."""
    model, x, y = _tiny(dtype=np.float32)
    before = model.state_dict()
    model.train()
    D.top_hessian_eigenvalues(model, SoftmaxCrossEntropy(), x, y, k=1, iters=5)
    assert model.training and model.parameters()[0].dtype == np.float32
    for k, v in model.state_dict().items():
        assert np.array_equal(v, before[k])


def test_hutchinson_is_within_three_standard_errors_of_the_exact_trace():
    """Check Hutchinson's estimate against tr(H) of the assembled Hessian."""
    model, x, y = _tiny(seed=2)
    op = D.hessian_operator(model, SoftmaxCrossEntropy(), x, y)
    exact = float(np.trace(op.dense()))
    est = D.hessian_trace(model, SoftmaxCrossEntropy(), x, y, samples=300, seed=3)
    assert est.stderr > 0
    assert abs(est.estimate - exact) <= 3 * est.stderr


def _rescaled(model, c):
    """Layer 0 (Linear before a ReLU) times c, layer 2 (the next Linear) times 1/c."""
    other = copy.deepcopy(model)
    other[0].weight.data *= c
    other[0].bias.data *= c
    other[2].weight.data /= c
    return other


def test_filter_normalized_line_ignores_relu_rescaling_and_plain_line_does_not():
    """Check the filter-normalized curve ignores c, 1/c rescaling; the raw one not."""
    model, x, y = _tiny(activation="relu")
    other = _rescaled(model, 3.7)
    alphas = np.linspace(-1, 1, 9)
    lossf = SoftmaxCrossEntropy()

    def curve(m, norm):
        d = D.random_direction(m, np.random.default_rng(5), norm=norm)
        return D.loss_line(m, lossf, x, y, d, alphas)

    np.testing.assert_allclose(
        curve(model, "filter"), curve(other, "filter"), rtol=0, atol=1e-10
    )
    assert np.max(np.abs(curve(model, "none") - curve(other, "none"))) > 1e-3


def test_random_direction_zeroes_biases_unless_asked():
    """Check 1-D parameters get a zero direction unless biases=True."""
    model, _, _ = _tiny()
    for p in model.parameters():  # biases start at zero; give them a norm
        if p.data.ndim == 1:
            p.data[...] = np.random.default_rng(9).uniform(0.5, 1.0, p.shape)
    d = D.random_direction(model, np.random.default_rng(0))
    parts = D._params.split_vector(model.parameters(), d)
    for p, part in zip(model.parameters(), parts, strict=True):
        if p.data.ndim == 1:
            assert not part.any()
        else:  # every row has the norm of the weight's row
            np.testing.assert_allclose(
                np.linalg.norm(part, axis=1), np.linalg.norm(p.data, axis=1), rtol=1e-12
            )
    with_b = D.random_direction(model, np.random.default_rng(0), biases=True)
    assert np.count_nonzero(with_b) == with_b.size
    np.testing.assert_array_equal(with_b[d != 0], d[d != 0])  # same draws


def _bn_model(seed):
    return MLP([6, 10, 3], batchnorm=True, dropout=0.2, seed=seed)


def _train_a_bit(model, x, y, steps=5, lr=1e-2):
    opt = Adam(model.parameters(), lr=lr)
    lossf = SoftmaxCrossEntropy()
    for _ in range(steps):
        opt.zero_grad()
        lossf.forward(model.forward(x.astype(np.float32)), y)
        model.backward(lossf.backward())
        opt.step()
    return opt


def test_loss_line_at_zero_is_exactly_the_model_loss():
    """Check loss_line(alpha=0) is loss.forward(model(x), y) in eval mode, exactly."""
    model, x, y = _bn_model(0), *_tiny()[1:]
    _train_a_bit(model, x, y)
    model.train()
    d = D.random_direction(model, np.random.default_rng(1))
    line = D.loss_line(model, SoftmaxCrossEntropy(), x, y, d, [-0.5, 0.0, 0.5])
    assert model.training  # its mode is back
    model.eval()
    exact = SoftmaxCrossEntropy().forward(model.forward(x.astype(np.float32)), y)
    assert line[1] == exact
    assert line[0] != exact and line[2] != exact


def test_interpolate_with_batchnorm_ends_exactly_at_each_model():
    """Check interpolate mixes BN running stats: alpha=1 gives B's loss exactly."""
    _, x, y = _tiny()
    a, b = _bn_model(0), _bn_model(1)
    _train_a_bit(a, x, y)
    _train_a_bit(b, x, y, steps=9)
    before = b.state_dict()
    losses = D.interpolate(a, b, [0.0, 0.5, 1.0], SoftmaxCrossEntropy(), x, y)
    lossf = SoftmaxCrossEntropy()
    a.eval(), b.eval()
    assert losses[2] == lossf.forward(b.forward(x.astype(np.float32)), y)
    assert losses[0] == lossf.forward(a.forward(x.astype(np.float32)), y)
    for k, v in b.state_dict().items():
        assert np.array_equal(v, before[k])


def test_trajectory_pca_recovers_a_plane():
    """Check points in a known 2-D plane give that plane and all the variance."""
    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.standard_normal((50, 2)))[0].T
    coef = rng.standard_normal((6, 2))
    base = rng.standard_normal(50)
    pts = [base + c @ basis for c in coef]
    res = D.trajectory_pca(pts)
    np.testing.assert_allclose(res.explained_variance_ratio.sum(), 1.0, rtol=1e-12)
    # the directions span the plane: projecting the basis on them loses nothing
    proj = basis @ res.directions.T
    np.testing.assert_allclose(np.linalg.norm(proj, axis=1), 1.0, rtol=1e-10)
    np.testing.assert_allclose(res.coords[-1], 0.0, atol=1e-12)
    recon = res.coords @ res.directions + pts[-1]
    np.testing.assert_allclose(recon, np.stack(pts), atol=1e-10)


# ------------------------------------------------------------------ lr range test
def _everything(model, opt):
    return {
        "state": model.state_dict(),
        "grads": [p.grad.copy() for p in model.parameters()],
        "modes": [m.training for m in model.modules()],
        "opt": copy.deepcopy(opt.state),
        "groups": [
            {k: v for k, v in g.items() if k != "params"} for g in opt.param_groups
        ],
        "rngs": [
            m.rng.bit_generator.state for m in model.modules() if hasattr(m, "rng")
        ],
        "numpy": np.random.get_state(),
    }


def _same(a, b):
    assert a.keys() == b.keys()
    for k in a["state"]:
        assert np.array_equal(a["state"][k], b["state"][k]), k
        assert a["state"][k].dtype == b["state"][k].dtype
    for g1, g2 in zip(a["grads"], b["grads"], strict=True):
        assert np.array_equal(g1, g2)
    assert (
        a["modes"] == b["modes"]
        and a["groups"] == b["groups"]
        and a["rngs"] == b["rngs"]
    )
    assert a["opt"].keys() == b["opt"].keys()
    for i in a["opt"]:
        for k, v in a["opt"][i].items():
            assert np.array_equal(v, b["opt"][i][k]), (i, k)
    n1, n2 = a["numpy"], b["numpy"]
    assert n1[0] == n2[0] and np.array_equal(n1[1], n2[1]) and n1[2:] == n2[2:]


def test_lr_range_test_restores_everything_bit_for_bit():
    """Check params, BN buffers, grads, modes, Adam state, lr, Dropout RNG and NumPy's
    global RNG are identical after the sweep, and training continues identically."""
    _, x, y = _tiny()
    model = _bn_model(0)
    opt = _train_a_bit(model, x, y)
    np.random.seed(123)
    np.random.random(3)
    twin, twin_opt = copy.deepcopy(model), None
    twin_opt = Adam(twin.parameters(), lr=1e-2)
    twin_opt.load_state_dict(opt.state_dict())
    before = _everything(model, opt)
    res = D.lr_range_test(
        model, SoftmaxCrossEntropy(), opt, x, y, steps=40, batch_size=8
    )
    assert len(res.lrs) >= 10 and res.lrs[0] == 1e-7
    _same(before, _everything(model, opt))
    # a further training step gives the same weights as on an untouched twin
    for m, o in ((model, opt), (twin, twin_opt)):
        o.zero_grad()
        lossf = SoftmaxCrossEntropy()
        lossf.forward(m.forward(x.astype(np.float32)), y)
        m.backward(lossf.backward())
        o.step()
    for k, v in model.state_dict().items():
        assert np.array_equal(v, twin.state_dict()[k]), k


class _Quadratic(Module):
    """out = w for every sample (the loss below makes f(w) = lambda w^2 / 2)."""

    def __init__(self, w0=1.0):
        super().__init__()
        self.w = Parameter(np.array([w0]))

    def forward(self, x):
        return np.ones((len(x), 1)) * self.w.data

    def backward(self, dout):
        self.w.grad += dout.sum(axis=0)
        return None


class _HalfLambdaSquare:
    def __init__(self, lam):
        self.lam = lam

    def forward(self, out, y):
        self._out = out
        return float(self.lam * 0.5 * np.mean(out[:, 0] ** 2))

    def backward(self):
        return self.lam * self._out / len(self._out)


@pytest.mark.parametrize("lam", [0.7, 3.0, 25.0])
def test_lr_range_test_finds_two_over_lambda_on_a_quadratic(lam):
    """Check SGD on lambda w^2/2 diverges within one grid step above 2/lambda."""
    model = _Quadratic()
    opt = SGD(model.parameters(), lr=0.1)
    x, y = np.zeros((8, 1)), np.zeros(8)
    res = D.lr_range_test(
        model, _HalfLambdaSquare(lam), opt, x, y, lr_min=1e-4, lr_max=100.0, steps=200
    )
    ratio = res.lrs[1] / res.lrs[0]
    assert res.diverged
    assert 2 / lam < res.divergence_lr <= 2 / lam * ratio * (1 + 1e-12)
    assert model.w.data[0] == 1.0


class _Spiky:
    """Cross-entropy whose reported value is multiplied at the given forward calls."""

    def __init__(self, spikes, factor=30.0):
        self.inner, self.spikes, self.factor, self.calls = (
            SoftmaxCrossEntropy(),
            set(spikes),
            factor,
            0,
        )

    def forward(self, out, y):
        value = self.inner.forward(out, y)
        self.calls += 1
        return value * self.factor if self.calls - 1 in self.spikes else value

    def backward(self):
        return self.inner.backward()


def test_a_spike_in_the_first_five_percent_does_not_move_the_suggestion():
    """Check a 30x loss spike at steps 1..4 of 100 leaves both rules' lrs unchanged."""
    _, x, y = _tiny()
    results = []
    for spikes in ((), (1,), (4,), (2, 3)):
        model = MLP([6, 16, 3], seed=0)
        opt = SGD(model.parameters(), lr=0.1)
        res = D.lr_range_test(
            model,
            _Spiky(spikes),
            opt,
            x,
            y,
            lr_min=1e-4,
            lr_max=100.0,
            steps=100,
            batch_size=16,
        )
        results.append(res)
    base = results[0]
    assert base.suggestion is not None and base.steepest_lr is not None
    assert base.valley[0] < base.valley_lr < base.valley[1]
    start = D.lr_finder.skip_start(100)
    assert base.lrs[start] <= base.suggestion < base.min_lr
    for res in results[1:]:
        assert (
            res.raw_losses[1:5].max() > base.raw_losses[1:5].max() * 5
        )  # the spike is there
        assert res.suggestion == base.suggestion
        assert res.valley_lr == base.valley_lr


# ------------------------------------------------------------------ bad input
def test_model_without_parameters_is_refused_in_one_line():
    empty = Sequential(ReLU())
    x, y = np.zeros((4, 3)), np.zeros(4, dtype=int)
    for call in (
        lambda: D.hvp(empty, SoftmaxCrossEntropy(), x, y, np.zeros(0)),
        lambda: D.random_direction(empty, np.random.default_rng(0)),
        lambda: D.top_hessian_eigenvalues(empty, SoftmaxCrossEntropy(), x, y),
    ):
        with pytest.raises(InvalidParameterError, match="has no parameters") as info:
            call()
        assert "\n" not in str(info.value)


def test_non_finite_starting_loss_is_refused():
    model, x, y = _tiny(dtype=np.float32)
    model[0].weight.data[0, 0] = np.nan
    before = model.state_dict()
    opt = SGD(model.parameters(), lr=0.1)
    with pytest.raises(NonFiniteError, match="not finite .*first batch"):
        D.lr_range_test(model, SoftmaxCrossEntropy(), opt, x, y)
    for k, v in model.state_dict().items():
        assert np.array_equal(v, before[k], equal_nan=True)
    with pytest.raises(NonFiniteError, match="not finite"):
        D.hessian_trace(model, SoftmaxCrossEntropy(), x, y)


def test_k_larger_than_parameter_count_is_refused():
    model = Linear(2, 1, rng=np.random.default_rng(0), dtype=np.float64)
    x, t = np.ones((3, 2)), np.ones((3, 1))
    with pytest.raises(
        InvalidParameterError,
        match=r"'k' must be at most the number of parameters \(3\)\. Got 4",
    ):
        D.top_hessian_eigenvalues(model, MSELoss(), x, t, k=4)


def test_trajectory_with_fewer_than_three_points_is_refused():
    with pytest.raises(InvalidParameterError, match="at least 3 points.*Got 2"):
        D.trajectory_pca([np.zeros(4), np.ones(4)])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"lr_min": 0.0}, "'lr_min' must be"),
        ({"lr_min": 1.0, "lr_max": 0.5}, "'lr_max' must be"),
        ({"steps": 3}, "'steps' must be"),
        ({"smooth": 1.0}, "'smooth' must be"),
        ({"diverge": 1.0}, "'diverge' must be"),
    ],
)
def test_lr_range_test_settings_are_checked(kwargs, match):
    model, x, y = _tiny(dtype=np.float32)
    with pytest.raises(InvalidParameterError, match=match):
        D.lr_range_test(
            model,
            SoftmaxCrossEntropy(),
            SGD(model.parameters(), lr=0.1),
            x,
            y,
            **kwargs,
        )


def test_optimizer_over_other_parameters_is_refused():
    model, x, y = _tiny(dtype=np.float32)
    other = MLP([6, 3], seed=1)
    with pytest.raises(InvalidParameterError, match="not the model's"):
        D.lr_range_test(
            model, SoftmaxCrossEntropy(), SGD(other.parameters(), lr=0.1), x, y
        )
