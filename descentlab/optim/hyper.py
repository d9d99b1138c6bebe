"""Declared hyperparameters: one table per optimizer, validated by the base.

::

    hyperparameters = {
        "lr": nonnegative(1e-3),          # float in [0, inf)
        "betas": betas((0.9, 0.999)),     # tuple, each in [0, 1)
        "eps": positive(1e-8),            # float in (0, inf)
        "amsgrad": flag(False),           # bool
    }

The table gives the constructor's signature (:func:`signature`), the defaults of
the parameter groups and the checks of every value a group takes.
"""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._validation import check_scalar
from ..errors import InvalidParameterError


@dataclass(frozen=True)
class Hyper:
    """One hyperparameter: its default and the values it may take.

    ``kind`` is ``"real"`` (a float in ``[min_val, max_val]``, ends included as
    ``include_boundaries`` says, as in :func:`check_scalar`), ``"flag"`` (a
    bool) or ``"betas"`` (a tuple of floats, each in ``[0, 1)``). A
    ``keyword_only`` one comes after ``*`` in the signature; a ``fixed`` one is
    no argument at all: the class always uses its default (Nesterov's
    ``nesterov=True``).
    """

    default: Any
    kind: str = "real"
    min_val: float | None = 0.0
    max_val: float | None = None
    include_boundaries: str = "both"
    keyword_only: bool = False
    fixed: bool = False

    def check(self, value: Any, name: str, owner: str) -> Any:
        """Return ``value`` normalised (float / bool / tuple), or raise."""
        if self.kind == "flag":
            if not isinstance(value, bool):
                raise InvalidParameterError(
                    f"{owner}: {name!r} must be a bool. Got {value!r}."
                )
            return value
        if self.kind == "betas":
            return check_betas(owner, value, len(self.default))
        return check_scalar(
            value,
            name,
            numbers.Real,
            min_val=self.min_val,
            max_val=self.max_val,
            include_boundaries=self.include_boundaries,
            owner=owner,
        )


def nonnegative(default: float, **kw: Any) -> Hyper:
    """A float in ``[0, inf)``: lr, weight decay, momentum."""
    return Hyper(default, **kw)


def positive(default: float, **kw: Any) -> Hyper:
    """A float in ``(0, inf)``: eps."""
    return Hyper(default, include_boundaries="neither", **kw)


def flag(default: bool, **kw: Any) -> Hyper:
    """A bool: amsgrad, centered, nesterov."""
    return Hyper(default, kind="flag", **kw)


def betas(default: tuple[float, ...]) -> Hyper:
    """A tuple of decay rates, each in ``[0, 1)``."""
    return Hyper(tuple(default), kind="betas")


def check_betas(owner: str, value: Any, n: int = 2) -> tuple[float, ...]:
    """Check a tuple of ``n`` betas, each in ``[0, 1)``; the message names the index."""
    if (
        isinstance(value, (str, bytes))
        or not isinstance(value, Sequence)
        or len(value) != n
    ):
        raise InvalidParameterError(
            f"{owner}: 'betas' must be a tuple of {n} floats in [0.0, 1.0). "
            f"Got {value!r}."
        )
    return tuple(
        check_scalar(
            b,
            f"betas[{i}]",
            numbers.Real,
            min_val=0.0,
            max_val=1.0,
            include_boundaries="left",
            owner=owner,
        )
        for i, b in enumerate(value)
    )


def signature(hyperparameters: Mapping[str, Hyper]) -> inspect.Signature:
    """The constructor signature ``(params, <hyperparameters>)`` the table implies."""
    kinds = inspect.Parameter
    params = [kinds("params", kinds.POSITIONAL_OR_KEYWORD)]
    for name, h in hyperparameters.items():
        if not h.fixed:
            kind = kinds.KEYWORD_ONLY if h.keyword_only else kinds.POSITIONAL_OR_KEYWORD
            params.append(kinds(name, kind, default=h.default))
    return inspect.Signature(params)
