"""Objectives given by name (``"package.module:function"``) and the pickling check
for objectives sent to spawned worker processes."""

from __future__ import annotations

import importlib
import pickle
from collections.abc import Callable
from typing import Any

from ..errors import InvalidParameterError

_OWNER = "optuna_search"


def resolve_objective(objective: Any) -> Callable:
    """Return the callable for ``objective`` (a callable or ``"module:function"``)."""
    if isinstance(objective, str):
        module, sep, attr = objective.partition(":")
        if not sep or not module or not attr:
            raise InvalidParameterError(
                f"{_OWNER}: an objective string must look like "
                f"'package.module:function'. Got {objective!r}."
            )
        try:
            target: Any = importlib.import_module(module)
            for part in attr.split("."):
                target = getattr(target, part)
        except (ImportError, AttributeError) as exc:
            raise InvalidParameterError(
                f"{_OWNER}: cannot load objective {objective!r}: {exc}."
            ) from None
        objective = target
    if not callable(objective):
        raise InvalidParameterError(
            f"{_OWNER}: 'objective' must be a callable objective(params, report) -> "
            f"float or a 'module:function' string. Got {objective!r}."
        )
    return objective


def check_picklable(objective: Any, what: str = "objective") -> None:
    """Refuse an object that cannot be sent to a spawned process."""
    try:
        pickle.dumps(objective)
    except Exception as exc:  # any pickling failure means the same thing
        raise InvalidParameterError(
            f"{_OWNER}: with n_workers > 1 the {what} is sent to spawned processes "
            "and must be picklable (a top-level function, a 'module:function' "
            "string, an MLPObjective, or functools.partial of a top-level function). "
            f"Got {objective!r} ({type(exc).__name__}: {exc})."
        ) from None
