"""Learning-rate range test (Smith 2017): sweep the lr up exponentially, watch the loss.

Step i = 0 .. steps-1 trains one mini-batch at

    lr_i = lr_min * (lr_max / lr_min) ** (i / (steps - 1))

and records the batch loss l_i computed *before* that step's update. The curve
shown is the bias-corrected exponential moving average

    a_i = smooth * a_(i-1) + (1 - smooth) * l_i,   a_(-1) = 0
    s_i = a_i / (1 - smooth^(i+1))

and the sweep stops at a non-finite loss or at the first i >= i_0 with
s_i > diverge * min_(i_0<=j<=i) s_j, where i_0 = ceil(0.05 * steps) + 5: in its
first steps the bias-corrected EMA is little more than the last batch or two, so
one unlucky batch there would end the sweep before it began.

Afterwards everything is put back exactly (bit for bit): the
parameters and their gradients, the buffers (BatchNorm running statistics), each
module's train/eval mode, the optimizer's per-parameter state and every group's
hyperparameters (the lr included), every ``np.random.Generator`` the model's
modules hold (Dropout masks) and NumPy's global random state. Batches are drawn
without replacement from a private generator seeded with ``seed``.

Two suggestions are read from the curve; both use a *local* smoothing of the raw
losses (running median of 5, then running mean of 5) instead of the EMA, because
the EMA remembers a spike for ~1/(1 - smooth) steps and lags the curve by as
much, while the local curve moves only within 4 steps of a spike. The first
``ceil(0.05 * n) + 5`` recorded steps are never suggested (the curve there is
still flat, and the local smoothing of a spike in the first 5 % reaches no
further).

* steepest descent: the lr where the local curve falls fastest per unit of
  log(lr) (the minimum of its finite-difference slope), between the skipped
  start and the curve's minimum;
* valley: the valley runs from where the local curve has covered 10 % of its fall
  (from its value at the end of the skipped start to its minimum) to the minimum;
  the suggestion is the geometric middle of that valley.

``suggestion`` is the steepest-descent value: it is where one more factor of lr
buys the most loss, and on the local curve it no longer jumps with single
batches. The valley's middle depends on where the curve starts to fall, which
after a long flat start lies far below any useful lr: on the MLP of the
``lr_range_test`` experiment (SGD) it came out 10x below the lr that trained
best, while the steepest point trained better than 10x less and 10x more.

References:
    Smith, "Cyclical learning rates for training neural networks", WACV 2017.
    Howard & Gugger, "Fastai: a layered API for deep learning", Information 2020.
"""

from __future__ import annotations

import copy
import math
import numbers
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import backend as B
from .._validation import check_scalar
from ..data.loader import DataLoader
from ..errors import InvalidParameterError
from . import _params as P

_MEDIAN_RADIUS = 2
_MEAN_RADIUS = 2
_VALLEY_FRACTION = 0.10


@dataclass
class LRRangeResult:
    """The sweep: ``lrs``, smoothed ``losses``, ``raw_losses`` (same length) and more.

    suggestion: the suggested lr (steepest descent), or None when the curve never
        fell. ``suggestion_rule`` names the rule and ``reason`` says it in a line.
    steepest_lr, valley_lr, valley: (lo, hi) the two rules' values.
    min_lr: the lr at the minimum of the local curve.
    local_losses: the local smoothing both rules read.
    diverged: the sweep stopped early; ``stop_reason`` says why, ``divergence_lr``
        is the lr from which the raw loss rose without a break until the stop.
    """

    lrs: np.ndarray
    losses: np.ndarray
    raw_losses: np.ndarray
    local_losses: np.ndarray
    suggestion: float | None
    suggestion_rule: str
    reason: str
    steepest_lr: float | None
    valley_lr: float | None
    valley: tuple[float, float] | None
    min_lr: float | None
    diverged: bool
    stop_reason: str
    divergence_lr: float | None
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        for key in ("lrs", "losses", "raw_losses", "local_losses"):
            out[key] = [float(v) if math.isfinite(v) else None for v in out[key]]
        out["valley"] = list(self.valley) if self.valley else None
        return out


def lr_range_test(
    model: Any,
    loss: Any,
    optimizer: Any,
    x: Any,
    y: Any,
    lr_min: float = 1e-7,
    lr_max: float = 10.0,
    steps: int = 100,
    batch_size: int = 64,
    smooth: float = 0.98,
    diverge: float = 4.0,
    seed: int = 0,
) -> LRRangeResult:
    """Run the lr range test and restore model, optimizer and RNGs exactly.

    Args:
        model: a descentlab Module, trained in training mode during the sweep.
        loss: ``forward(out, y) -> float``, ``backward() -> dout``.
        optimizer: a descentlab Optimizer over (some of) the model's parameters;
            its lr is overwritten step by step, then restored.
        x, y: training data; batches of ``batch_size`` drawn without replacement
            (a new permutation each pass) from ``default_rng(seed)``.
        lr_min, lr_max: the sweep's ends, 0 < lr_min < lr_max.
        steps: grid points (>= 10); the sweep may stop earlier (divergence).
        smooth: EMA factor in [0, 1) (0: no smoothing).
        diverge: stop when the smoothed loss exceeds ``diverge`` x its minimum (> 1).

    Raises:
        InvalidParameterError: bad ranges, a model without parameters, an optimizer
            holding parameters that are not the model's.
        NonFiniteError: the loss of the first batch is not finite.
    """
    owner = "lr_range_test"
    params = P.check_model(model, owner)
    P.check_data(x, y, owner)
    _check_settings(lr_min, lr_max, steps, batch_size, smooth, diverge, seed)
    _check_optimizer(optimizer, params, owner)
    lrs = lr_min * (lr_max / lr_min) ** (np.arange(steps) / (steps - 1))
    snapshot = _snapshot(model, optimizer)
    try:
        raw = _sweep(
            model, loss, optimizer, x, y, lrs, batch_size, smooth, diverge, seed
        )
    finally:
        _restore(model, optimizer, snapshot)
    return _analyse(
        lrs,
        raw,
        smooth,
        diverge,
        steps,
        dict(
            lr_min=lr_min,
            lr_max=lr_max,
            steps=steps,
            batch_size=batch_size,
            smooth=smooth,
            diverge=diverge,
            seed=seed,
        ),
    )


def _check_optimizer(optimizer: Any, params: Any, owner: str) -> None:
    """Refuse an optimizer with no parameters or with some not the model's."""
    held = {id(p) for p in params}
    opt_params = [
        p for g in getattr(optimizer, "param_groups", ()) for p in g["params"]
    ]
    if not opt_params or any(id(p) not in held for p in opt_params):
        raise InvalidParameterError(
            f"{owner}: 'optimizer' must be a descentlab Optimizer over the model's own "
            "parameters; it holds parameters that are not the model's."
        )


def _check_settings(lr_min, lr_max, steps, batch_size, smooth, diverge, seed) -> None:
    owner = "lr_range_test"
    check_scalar(
        lr_min,
        "lr_min",
        numbers.Real,
        min_val=0.0,
        include_boundaries="neither",
        owner=owner,
    )
    check_scalar(
        lr_max,
        "lr_max",
        numbers.Real,
        min_val=float(lr_min),
        include_boundaries="neither",
        owner=owner,
    )
    if not math.isfinite(lr_max):
        raise InvalidParameterError(
            f"{owner}: 'lr_max' must be finite. Got {lr_max!r}."
        )
    check_scalar(steps, "steps", numbers.Integral, min_val=10, owner=owner)
    P.check_batch_size(batch_size, owner)
    check_scalar(
        smooth,
        "smooth",
        numbers.Real,
        min_val=0.0,
        max_val=1.0,
        include_boundaries="left",
        owner=owner,
    )
    check_scalar(
        diverge,
        "diverge",
        numbers.Real,
        min_val=1.0,
        include_boundaries="neither",
        owner=owner,
    )
    check_scalar(seed, "seed", numbers.Integral, min_val=0, owner=owner)


def _sweep(
    model, loss, optimizer, x, y, lrs, batch_size, smooth, diverge, seed
) -> np.ndarray:
    loader = DataLoader(x, y, batch_size=min(batch_size, len(x)), seed=seed)
    params = model.parameters()
    batches: Iterator[tuple[Any, Any]] = iter(())
    raw: list[float] = []
    avg, best, start = 0.0, math.inf, skip_start(len(lrs))
    model.train()
    with np.errstate(over="ignore", invalid="ignore"):
        for i, lr in enumerate(lrs):
            try:
                xb, yb = next(batches)
            except StopIteration:
                batches = iter(loader)
                xb, yb = next(batches)
            for p in params:
                p.zero_grad()
            value = float(loss.forward(model.forward(P._input(model, xb)), yb))
            if i == 0:
                P.check_finite_loss(
                    value, "lr_range_test", "on the first batch, before any step"
                )
            raw.append(value)
            if not math.isfinite(value):
                break
            avg = smooth * avg + (1.0 - smooth) * value
            s = avg / (1.0 - smooth ** (i + 1))
            if i >= start:  # the bias-corrected start is all but one batch; see doc
                if s > diverge * best:
                    break
                best = min(best, s)
            model.backward(loss.backward())
            optimizer.lr = float(lr)
            optimizer.step()
    return np.asarray(raw, dtype=np.float64)


# ---------------------------------------------------------------- exact restore
def _generators(model) -> list[np.random.Generator]:
    gens: list[np.random.Generator] = []
    for m in model.modules():
        for value in vars(m).values():
            if isinstance(value, np.random.Generator) and all(
                value is not g for g in gens
            ):
                gens.append(value)
    return gens


def _snapshot(model, optimizer) -> dict[str, Any]:
    return {
        "state": model.state_dict(),
        "grads": [
            B.to_numpy(p.grad).copy() if p.grad is not None else None
            for p in model.parameters()
        ],
        "modes": [(m, m.training) for m in model.modules()],
        "opt_state": copy.deepcopy(optimizer.state),
        "opt_groups": [
            {k: copy.deepcopy(v) for k, v in g.items() if k != "params"}
            for g in optimizer.param_groups
        ],
        "generators": [
            (g, copy.deepcopy(g.bit_generator.state)) for g in _generators(model)
        ],
        "numpy": np.random.get_state(),
    }


def _restore(model, optimizer, snap: dict[str, Any]) -> None:
    model.load_state_dict(snap["state"])
    for p, g in zip(model.parameters(), snap["grads"], strict=True):
        if g is None:
            p.grad = None
        else:
            p.grad[...] = B.get_array_module(p.grad).asarray(g)
    for m, mode in snap["modes"]:
        object.__setattr__(m, "training", mode)
        m._cache = None
    optimizer.state.clear()
    optimizer.state.update(copy.deepcopy(snap["opt_state"]))
    for group, saved in zip(optimizer.param_groups, snap["opt_groups"], strict=True):
        for key in [k for k in group if k != "params" and k not in saved]:
            del group[key]
        group.update(copy.deepcopy(saved))
    for gen, state in snap["generators"]:
        gen.bit_generator.state = state
    np.random.set_state(snap["numpy"])


# ---------------------------------------------------------------- suggestions
def local_smooth(values: np.ndarray) -> np.ndarray:
    """Running median of 5 then running mean of 5 (windows shrink at the ends)."""
    v = np.asarray(values, dtype=np.float64)
    n = v.size
    med = np.array(
        [
            np.median(v[max(0, i - _MEDIAN_RADIUS) : i + _MEDIAN_RADIUS + 1])
            for i in range(n)
        ]
    )
    return np.array(
        [med[max(0, i - _MEAN_RADIUS) : i + _MEAN_RADIUS + 1].mean() for i in range(n)]
    )


def skip_start(steps: int) -> int:
    """Steps never suggested: the first 5 % plus the local smoothing's reach."""
    return math.ceil(0.05 * steps) + _MEDIAN_RADIUS + _MEAN_RADIUS + 1


def _analyse(lrs, raw, smooth, diverge, steps, settings) -> LRRangeResult:
    n = raw.size
    lrs = lrs[:n]
    finite = np.isfinite(raw)
    losses = _debiased_ema(raw, finite, smooth)
    diverged = n < steps
    stop = _stop_reason(diverged, finite, lrs, diverge)
    divergence_lr = _divergence_lr(raw, finite, lrs) if diverged else None
    usable = raw[finite]
    local = np.full(n, np.nan)
    local[: usable.size] = local_smooth(usable)
    steepest, valley_lr, valley, min_lr = _suggestions(
        lrs, local[: usable.size], skip_start(steps)
    )
    if steepest is not None:
        assert valley is not None  # set together with steepest
        reason = (
            f"where the smoothed loss falls fastest per factor of lr (its minimum is "
            f"at {valley[1]:.2g}; the valley rule gives {valley_lr:.2g})"
        )
    else:
        reason = "the loss never fell over the sweep: widen lr_min..lr_max or check it"
    return LRRangeResult(
        lrs=lrs,
        losses=losses,
        raw_losses=raw,
        local_losses=local,
        suggestion=steepest,
        suggestion_rule="steepest",
        reason=reason,
        steepest_lr=steepest,
        valley_lr=valley_lr,
        valley=valley,
        min_lr=min_lr,
        diverged=diverged,
        stop_reason=stop,
        divergence_lr=divergence_lr,
        settings=settings,
    )


def _debiased_ema(raw: np.ndarray, finite: np.ndarray, smooth: float) -> np.ndarray:
    """Bias-corrected EMA of the losses up to the first non-finite one (NaN after)."""
    n = raw.size
    losses = np.full(n, np.nan)
    avg = 0.0
    for i in range(n):
        if not finite[i]:
            break
        avg = smooth * avg + (1.0 - smooth) * raw[i]
        losses[i] = avg / (1.0 - smooth ** (i + 1))
    return losses


def _stop_reason(
    diverged: bool, finite: np.ndarray, lrs: np.ndarray, diverge: float
) -> str:
    """Why the sweep ended: lr_max reached, a non-finite loss, or divergence."""
    if not diverged:
        return "the sweep reached lr_max without diverging"
    if not finite[-1]:
        return f"the loss became non-finite at lr {lrs[-1]:.3g}"
    return f"the smoothed loss exceeded {diverge:g} x its minimum at lr {lrs[-1]:.3g}"


def _divergence_lr(raw: np.ndarray, finite: np.ndarray, lrs: np.ndarray) -> float:
    """The lr where the final run of rising losses began."""
    j, rising = raw.size - 1, np.where(finite, raw, np.inf)
    while j > 0 and rising[j - 1] < rising[j]:
        j -= 1
    return float(lrs[j])


def _suggestions(
    lrs: np.ndarray, cur: np.ndarray, start: int
) -> tuple[float | None, float | None, tuple[float, float] | None, float | None]:
    """(steepest, valley_lr, valley, min_lr) from the locally smoothed losses
    ``cur`` of the usable steps, none before step ``start``."""
    steepest = valley_lr = valley = min_lr = None
    if cur.size > start + 2:
        i_min = start + int(np.argmin(cur[start:]))
        min_lr = float(lrs[i_min])
        if i_min > start + 1:
            logs = np.log(lrs[: cur.size])
            slope = np.gradient(cur, logs)
            steepest = float(lrs[start + int(np.argmin(slope[start:i_min]))])
            fall = cur[start] - cur[i_min]
            below = np.nonzero(
                cur[start : i_min + 1] <= cur[start] - _VALLEY_FRACTION * fall
            )[0]
            i_lo = start + int(below[0])
            valley = (float(lrs[i_lo]), float(lrs[i_min]))
            valley_lr = float(math.sqrt(valley[0] * valley[1]))
    return steepest, valley_lr, valley, min_lr
