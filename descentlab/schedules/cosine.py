"""Cosine annealing, SGDR warm restarts and the one-cycle policy."""

from __future__ import annotations

import itertools
import math
import numbers

from .._validation import check_option, check_scalar
from ..errors import InvalidParameterError
from .base import Schedule, positive_real


def _cos_anneal(start: float, end: float, frac: float) -> float:
    """end + (start - end) * (1 + cos(pi * frac)) / 2: start at frac 0, end at 1."""
    return end + (start - end) * (1.0 + math.cos(math.pi * frac)) / 2.0


class CosineAnnealing(Schedule):
    """lr(t) = min_lr + (base_lr - min_lr) * (1 + cos(pi*t/T)) / 2; min_lr if t >= T.

    The closed form of torch's CosineAnnealingLR(T_max=T, eta_min=min_lr) for t <= T
    (torch's recursive form drifts slightly and, after T, rises again).

    References:
        Loshchilov, Hutter, "SGDR: stochastic gradient descent with warm
        restarts", ICLR 2017.
    """

    def __init__(self, base_lr: float, T: int, min_lr: float = 0.0):
        owner = "CosineAnnealing"
        self.base_lr = positive_real(base_lr, "base_lr", owner)
        self.T = check_scalar(T, "T", numbers.Integral, min_val=1, owner=owner)
        self.min_lr = check_scalar(
            min_lr,
            "min_lr",
            numbers.Real,
            min_val=0.0,
            max_val=self.base_lr,
            owner=owner,
        )

    def _lr(self, t: int) -> float:
        return _cos_anneal(self.base_lr, self.min_lr, min(t, self.T) / self.T)


class CosineWarmRestarts(Schedule):
    """Cosine annealing restarted every cycle; cycle i lasts T_0 * T_mult^i steps.

    With t_cur the steps since the last restart and T_i the current cycle length::

        lr(t) = min_lr + (base_lr - min_lr) * (1 + cos(pi * t_cur / T_i)) / 2

    Same values as torch's CosineAnnealingWarmRestarts(T_0, T_mult, eta_min).

    References:
        Loshchilov, Hutter, "SGDR: stochastic gradient descent with warm
        restarts", ICLR 2017.
    """

    def __init__(self, base_lr: float, T_0: int, T_mult: int = 1, min_lr: float = 0.0):
        owner = "CosineWarmRestarts"
        self.base_lr = positive_real(base_lr, "base_lr", owner)
        self.T_0 = check_scalar(T_0, "T_0", numbers.Integral, min_val=1, owner=owner)
        self.T_mult = check_scalar(
            T_mult, "T_mult", numbers.Integral, min_val=1, owner=owner
        )
        self.min_lr = check_scalar(
            min_lr,
            "min_lr",
            numbers.Real,
            min_val=0.0,
            max_val=self.base_lr,
            owner=owner,
        )

    def _lr(self, t: int) -> float:
        T_i = self.T_0
        if self.T_mult == 1:
            t %= T_i
        else:
            while t >= T_i:  # O(log t) cycles; exact integer arithmetic
                t -= T_i
                T_i *= self.T_mult
        return _cos_anneal(self.base_lr, self.min_lr, t / T_i)


class OneCycle(Schedule):
    """The 1cycle policy, with the phases of torch's OneCycleLR (learning rate only).

    With initial = max_lr/div_factor and final = initial/final_div_factor, and
    T = total_steps, p = pct_start (anneal = cos or linear interpolation)::

        two phases:   initial -> max_lr  over t in [0, p*T - 1]
                      max_lr  -> final   over t in [p*T - 1, T - 1]
        three_phase:  initial -> max_lr -> initial (ends 2*p*T - 2) -> final

    Steps after T - 1 stay at ``final``. (torch also cycles momentum; this
    schedule only sets the learning rate.)

    References:
        Smith, Topin, "Super-convergence: very fast training of neural networks
        using large learning rates", 2019.
    """

    def __init__(
        self,
        max_lr: float,
        total_steps: int,
        *,
        pct_start: float = 0.3,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        anneal: str = "cos",
        three_phase: bool = False,
    ):
        owner = "OneCycle"
        self.base_lr = positive_real(max_lr, "max_lr", owner)
        self.total_steps = check_scalar(
            total_steps, "total_steps", numbers.Integral, min_val=1, owner=owner
        )
        self.pct_start = check_scalar(
            pct_start,
            "pct_start",
            numbers.Real,
            min_val=0.0,
            max_val=1.0,
            include_boundaries="neither",
            owner=owner,
        )
        self.div_factor = positive_real(div_factor, "div_factor", owner)
        self.final_div_factor = positive_real(
            final_div_factor, "final_div_factor", owner
        )
        self.anneal = check_option(anneal, "anneal", ("cos", "linear"), owner=owner)
        self.three_phase = bool(three_phase)
        initial = self.base_lr / self.div_factor
        final = initial / self.final_div_factor
        T, p = self.total_steps, self.pct_start
        self._phases = [(p * T - 1, initial, self.base_lr)]
        if self.three_phase:
            self._phases.append((2 * p * T - 2, self.base_lr, initial))
            self._phases.append((T - 1.0, initial, final))
        else:
            self._phases.append((T - 1.0, self.base_lr, final))
        ends = [0.0] + [e for e, _, _ in self._phases]
        if any(b <= a for a, b in itertools.pairwise(ends)):
            raise InvalidParameterError(
                f"{owner}: total_steps={T} is too small for pct_start={p}"
                f"{' with three_phase' if self.three_phase else ''}: every phase must "
                f"last at least one step (phase ends {ends[1:]}). Use more steps."
            )

    def _lr(self, t: int) -> float:
        t = min(t, self.total_steps - 1)
        start, last = 0.0, len(self._phases) - 1
        for i, (end, lr0, lr1) in enumerate(self._phases):
            if t <= end or i == last:
                frac = (t - start) / (end - start)
                if self.anneal == "cos":
                    return _cos_anneal(lr0, lr1, frac)
                return lr0 + (lr1 - lr0) * frac
            start = end
        raise AssertionError("unreachable")  # pragma: no cover

    def __repr__(self) -> str:
        return (
            f"OneCycle(max_lr={self.base_lr!r}, total_steps={self.total_steps}, "
            f"pct_start={self.pct_start}, div_factor={self.div_factor}, "
            f"final_div_factor={self.final_div_factor}, anneal={self.anneal!r}, "
            f"three_phase={self.three_phase})"
        )
