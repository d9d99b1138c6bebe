"""Curvature of the training loss: Hessian-vector products, top eigenvalues, trace.

Everything here works on a private float64 copy of the model in **evaluation
mode** (BatchNorm uses its running statistics, Dropout is the identity), so the
loss is a deterministic function of the weights and the caller's model, its
mode, gradients and random generators are left untouched.

Hessian-vector product by central differences of the backprop gradient::

    H v ~ (g(theta + t v) - g(theta - t v)) / (2 t)
    t = sqrt(eps) (1 + ||theta||) / ||v||

with eps the float64 machine epsilon, so the step is a fixed *relative*
perturbation of theta of about 1.5e-8. The error is O(t^2) from the third
derivative plus O(eps/t) from rounding, both tiny in float64; the cube root of
eps would balance the two for a smooth loss, but ReLU and max-pooling make the
gradient jump where a unit's input crosses zero, and a step a few hundred times
smaller crosses a few hundred times fewer such kinks (each one crossed adds a
spurious jump / (2 t) to H v). Two forward/backward passes over the data per
product.

References:
    Pearlmutter, "Fast exact multiplication by the Hessian", Neural Comput. 1994.
    Lanczos, "An iteration method for the solution of the eigenvalue problem", 1950;
    Golub & Van Loan, Matrix Computations, 4th ed., sec. 10.1 (reorthogonalization).
    Hutchinson, "A stochastic estimator of the trace of the influence matrix", 1989.
    Yao et al., "PyHessian: neural networks through the lens of the Hessian", 2020.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import check_scalar
from ..errors import InvalidParameterError
from . import _params as P

_DELTA = float(np.sqrt(np.finfo(np.float64).eps))


class HessianOperator:
    """v -> H v at the current weights of ``model`` (a float64, eval-mode copy).

    Attributes:
        size: number of parameters P.
        theta: the weights, float64 (P,).
        loss_value, grad: L(theta) and its gradient (P,).
        calls: number of Hessian-vector products computed so far.
    """

    def __init__(
        self, model: Any, loss: Any, x: Any, y: Any, *, batch_size: int, owner: str
    ):
        P.check_model(model, owner)
        P.check_data(x, y, owner)
        self.batch_size = P.check_batch_size(batch_size, owner)
        self.model = P.float64_copy(model)
        P.skip_data_grad(self.model)
        self.params = self.model.parameters()
        self.loss, self.x, self.y = loss, x, y
        self.theta = P.get_vector(self.params)
        self.size = self.theta.size
        self.loss_value, self.grad = self._grad_at(self.theta)
        P.check_finite_loss(self.loss_value, owner, "at the given weights")
        self.calls = 0

    def _grad_at(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        P.set_vector(self.params, theta)
        return P.loss_and_grad(
            self.model, self.params, self.loss, self.x, self.y, self.batch_size
        )

    def matvec(self, v: np.ndarray) -> np.ndarray:
        """H v, float64 (P,). The weights are restored to theta afterwards."""
        norm = float(np.linalg.norm(v))
        if norm == 0.0:
            return np.zeros_like(self.theta)
        t = _DELTA * (1.0 + float(np.linalg.norm(self.theta))) / norm
        _, g_plus = self._grad_at(self.theta + t * v)
        _, g_minus = self._grad_at(self.theta - t * v)
        P.set_vector(self.params, self.theta)
        self.calls += 1
        return (g_plus - g_minus) / (2.0 * t)

    def dense(self) -> np.ndarray:
        """The full Hessian, column j = H e_j (P products; for small models only)."""
        eye = np.eye(self.size)
        return np.stack([self.matvec(eye[j]) for j in range(self.size)], axis=1)


def hvp(
    model: Any, loss: Any, x: Any, y: Any, v: Any, *, batch_size: int = 1000
) -> np.ndarray:
    """Hessian-vector product H v of the mean loss over (x, y), float64.

    Args:
        model: a descentlab Module (copied to float64 and evaluated in eval mode).
        loss: a loss with ``forward(out, y) -> float`` and ``backward() -> dout``.
        x, y: the data; the loss is the mean over all of it.
        v: flat vector (P,) in the order of ``model.parameters()``.
        batch_size: samples per forward pass (memory only; the value is the same).

    Returns:
        H v as a float64 array of shape (P,).
    """
    op = HessianOperator(model, loss, x, y, batch_size=batch_size, owner="hvp")
    return op.matvec(P.check_vector(v, op.size, "v", "hvp"))


@dataclass
class HessianEigen:
    """Result of :func:`top_hessian_eigenvalues`.

    values: (k,) the k algebraically largest eigenvalues, descending.
    vectors: (k, P) unit eigenvectors (Ritz vectors), one per row.
    residuals: (k,) ||H u - lambda u|| bounds (|beta_m s_mi|).
    iterations: Lanczos steps taken (= Hessian-vector products).
    converged: every residual <= tol * max(|lambda|, 1e-12), or the Krylov
        space was exhausted (then the values are exact up to rounding).
    """

    values: np.ndarray
    vectors: np.ndarray
    residuals: np.ndarray
    iterations: int
    converged: bool


def top_hessian_eigenvalues(
    model: Any,
    loss: Any,
    x: Any,
    y: Any,
    k: int = 1,
    *,
    iters: int = 100,
    tol: float = 1e-4,
    seed: int = 0,
    batch_size: int = 1000,
    operator: HessianOperator | None = None,
) -> HessianEigen:
    """The k algebraically largest eigenvalues of the loss Hessian, by Lanczos.

    Lanczos with full reorthogonalization: from a random unit q_1, build an
    orthonormal basis Q_m of the Krylov space span{q_1, H q_1, ..., H^(m-1) q_1}
    with H Q_m = Q_m T_m + beta_m q_(m+1) e_m^T, T_m tridiagonal (alpha_j on the
    diagonal, beta_j beside it); every new vector is orthogonalized twice against
    all earlier ones (Gram-Schmidt), so no spurious copies of converged values
    appear. The eigenvalues theta_i of T_m (Ritz values) approximate the extreme
    eigenvalues of H; the residual of the Ritz pair (theta_i, Q_m s_i) is
    ||H u_i - theta_i u_i|| = |beta_m s_(m,i)|, used as the stopping test.

    The model is evaluated in eval mode on a float64 copy (see the module doc).

    Args:
        k: how many eigenvalues (1 <= k <= P).
        iters: at most this many Lanczos steps (Hessian-vector products); memory is
            iters * P float64 numbers for the basis.
        tol: stop when each of the top k residuals <= tol * |theta_i|.
        seed: seed of the random start vector.
        operator: reuse a :class:`HessianOperator` (then model/loss/x/y are ignored).

    Raises:
        InvalidParameterError: k < 1 or k > P (names both), iters < k, tol <= 0.
    """
    owner = "top_hessian_eigenvalues"
    op = operator or HessianOperator(
        model, loss, x, y, batch_size=batch_size, owner=owner
    )
    _check_eigen_arguments(k, iters, tol, op.size, owner)
    Q, m, theta, s, res, converged = _lanczos(
        op, k, min(int(iters), op.size), tol, seed
    )
    order = np.argsort(theta)[::-1][:k]
    if len(order) < k:  # the space was exhausted before k values (H of low rank)
        raise InvalidParameterError(
            f"{owner}: the Krylov space closed after {m} steps, fewer than k={k}; "
            "try another seed."
        )
    vectors = s[:, order].T @ Q[:m]
    return HessianEigen(
        values=theta[order].copy(),
        vectors=vectors,
        residuals=res[: len(order)].copy() if res.size >= len(order) else res,
        iterations=m,
        converged=converged,
    )


def _check_eigen_arguments(k: Any, iters: Any, tol: Any, size: int, owner: str) -> None:
    """1 <= k <= P (the parameter count), iters >= k, tol > 0."""
    check_scalar(k, "k", numbers.Integral, min_val=1, owner=owner)
    if k > size:
        raise InvalidParameterError(
            f"{owner}: 'k' must be at most the number of parameters ({size}). Got {k}."
        )
    check_scalar(iters, "iters", numbers.Integral, min_val=int(k), owner=owner)
    check_scalar(
        tol, "tol", numbers.Real, min_val=0.0, include_boundaries="neither", owner=owner
    )


def _lanczos(
    op: HessianOperator, k: int, m_max: int, tol: float, seed: int
) -> tuple[np.ndarray, int, Any, Any, np.ndarray, bool]:
    """Lanczos with full reorthogonalization, stopped by the top-k residual test.

    Returns (Q, m, theta, s, res, converged): the basis (its first m rows used),
    the steps taken, the eigenvalues and eigenvectors of T_m, the top-k residuals
    and whether the test passed (or the Krylov space was exhausted).
    """
    rng = np.random.default_rng(seed)
    q = rng.standard_normal(op.size)
    Q = np.empty((m_max, op.size))
    Q[0] = q / np.linalg.norm(q)
    alphas: list[float] = []
    betas: list[float] = []
    theta: Any = None
    s: Any = None
    res = np.zeros(0)
    converged = False
    for j in range(m_max):
        w = op.matvec(Q[j])
        alphas.append(float(Q[j] @ w))
        for _ in range(2):  # full reorthogonalization, twice ("twice is enough")
            w -= Q[: j + 1].T @ (Q[: j + 1] @ w)
        beta = float(np.linalg.norm(w))
        theta, s, res, scale = _ritz(alphas, betas, beta, min(k, j + 1))
        exhausted = j + 1 == op.size or beta <= 1e-12 * max(
            1.0, float(np.max(np.abs(theta)))
        )
        if exhausted or (j + 1 >= k and np.all(res <= tol * scale)):
            converged = True
            break
        if j + 1 < m_max:
            betas.append(beta)
            Q[j + 1] = w / beta
    return Q, len(alphas), theta, s, res, converged


def _ritz(
    alphas: list[float], betas: list[float], beta: float, n_top: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(theta, s, res, scale): eigenpairs of the tridiagonal T, and the residuals
    |beta s_(m,i)| and scales max(|theta_i|, 1e-12) of the n_top largest."""
    T = np.diag(alphas) + np.diag(betas, 1) + np.diag(betas, -1)
    theta, s = np.linalg.eigh(T)
    top = np.argsort(theta)[::-1][:n_top]
    res = np.abs(beta * s[-1, top])
    scale = np.maximum(np.abs(theta[top]), 1e-12)
    return theta, s, res, scale


@dataclass
class TraceEstimate:
    """Hutchinson's estimate of tr(H): ``estimate`` +- ``stderr`` from ``samples``."""

    estimate: float
    stderr: float
    samples: int
    values: np.ndarray  # the per-probe values z^T H z


def hessian_trace(
    model: Any,
    loss: Any,
    x: Any,
    y: Any,
    *,
    samples: int = 100,
    seed: int = 0,
    batch_size: int = 1000,
    operator: HessianOperator | None = None,
) -> TraceEstimate:
    """tr(H) by Hutchinson's estimator with Rademacher probes.

    For z with i.i.d. entries +-1 (probability 1/2 each), E[z^T H z] = tr(H) and
    Var[z^T H z] = 2 (||H||_F^2 - sum_i H_ii^2). The estimate is the mean of
    ``samples`` independent values z^T H z and its standard error their sample
    standard deviation / sqrt(samples). Eval mode, float64 copy (module doc).

    Raises:
        InvalidParameterError: samples < 2 (no standard error from one probe).
    """
    owner = "hessian_trace"
    op = operator or HessianOperator(
        model, loss, x, y, batch_size=batch_size, owner=owner
    )
    check_scalar(samples, "samples", numbers.Integral, min_val=2, owner=owner)
    rng = np.random.default_rng(seed)
    values = np.empty(int(samples))
    for i in range(int(samples)):
        z = rng.integers(0, 2, size=op.size) * 2.0 - 1.0
        values[i] = float(z @ op.matvec(z))
    return TraceEstimate(
        estimate=float(values.mean()),
        stderr=float(values.std(ddof=1) / np.sqrt(values.size)),
        samples=int(samples),
        values=values,
    )


def hessian_operator(
    model: Any, loss: Any, x: Any, y: Any, *, batch_size: int = 1000
) -> HessianOperator:
    """A reusable :class:`HessianOperator` (one float64 copy for many products)."""
    return HessianOperator(
        model, loss, x, y, batch_size=batch_size, owner="hessian_operator"
    )
