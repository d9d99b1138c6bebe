"""The Optimizer base class: declared hyperparameters, groups, state, checkpoints.

A subclass states its hyperparameters once, as a ``hyperparameters`` mapping of
name -> :class:`Hyper` (the default and the allowed range), in the order of the
constructor's arguments. The base builds the constructor's signature from it,
fills and validates every parameter group against it, and implements

* ``_init_state(p) -> dict``: the state arrays of one parameter, created once on
  its first step (``self._group_of(p)`` gives its group; the base adds the step
  counter ``state["step"]``, which is already t = 1, 2, ... when ``_update``
  runs); nothing else creates state;
* ``_update(p, g, state, group)``: one step in place. Its last line subtracts
  ``lr * direction`` from ``p.data``; nothing else flips a sign.

``_validate(hp)`` may be extended for rules that tie hyperparameters together
(SGD's ``nesterov`` needs ``momentum > 0``). The API follows ``torch.optim``::

    opt = Adam(model.parameters(), lr=1e-3)
    opt = SGD([{"params": weights, "weight_decay": 1e-4},
               {"params": biases, "weight_decay": 0.0}], lr=0.1, momentum=0.9)
    opt.zero_grad(); model.backward(dout); opt.step()
    state = opt.state_dict()      # nested dicts/lists of numpy arrays and scalars
    opt.load_state_dict(state)    # exact resume

State is keyed by the parameter's global index (its position when all groups'
``params`` lists are concatenated), as in torch, so a state dict can be loaded
into a fresh optimizer built over a copy of the model.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import numpy as np

from .. import backend as B
from ..errors import CheckpointError, InvalidParameterError
from ..nn.module import Parameter
from .hyper import Hyper, nonnegative, signature

ParamsT = Iterable[Parameter] | Iterable[dict[str, Any]]


def ema_(avg: Any, x: Any, beta: float, out: Any) -> None:
    """``avg <- beta * avg + (1 - beta) * x`` in place (out: scratch, may be x)."""
    avg *= beta
    B.get_array_module(avg).multiply(x, 1.0 - beta, out=out)
    avg += out


class Optimizer:
    """Base class of descentlab's optimizers (see the module docstring).

    Args:
        params: a list of Parameters, or a list of dicts ``{"params": [...],
            <hyperparameter>: value}`` (parameter groups with their own settings).
        *args, **kwargs: the hyperparameters, as the class's ``hyperparameters``
            declare them (``inspect.signature(Adam)`` shows names and defaults);
            they are the defaults of groups that do not set their own.

    Raises:
        InvalidParameterError: for a set, an empty list, a non-Parameter entry,
            a parameter listed twice or an out-of-range hyperparameter.
    """

    hyperparameters: ClassVar[Mapping[str, Hyper]] = {"lr": nonnegative(1e-3)}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "hyperparameters" in cls.__dict__:
            cls.__signature__ = signature(cls.hyperparameters)  # type: ignore[attr-defined]

    def __init__(self, params: ParamsT, *args: Any, **kwargs: Any) -> None:
        owner = type(self).__name__
        try:
            bound = signature(self.hyperparameters).bind(params, *args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{owner}: {exc}") from None
        self.defaults = {n: h.default for n, h in self.hyperparameters.items()}
        self.defaults.update(
            (k, v) for k, v in bound.arguments.items() if k != "params"
        )
        self._validate(self.defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[int, dict[str, Any]] = {}
        self._scratch: dict[tuple, Any] = {}
        self._group_index: dict[int, int] = {}
        if isinstance(params, Parameter) or hasattr(params, "shape"):
            raise InvalidParameterError(
                f"{owner}: 'params' must be a list of Parameters or of dicts; got a "
                f"single {type(params).__name__}. Wrap it in a list: [p]."
            )
        if isinstance(params, dict):
            params = [params]
        if isinstance(params, (set, frozenset)):
            raise InvalidParameterError(
                f"{owner}: 'params' must be an ordered sequence, not a set: a set's "
                "order changes between runs, so state could not be matched on resume. "
                "Use a list."
            )
        entries: list[Any] = list(params)
        if not entries:
            raise InvalidParameterError(
                f"{owner}: got an empty parameter list; pass model.parameters() or a "
                "non-empty list of Parameters."
            )
        groups = entries if isinstance(entries[0], dict) else [{"params": entries}]
        for group in groups:
            self.add_param_group(group)

    # ------------------------------------------------------------ hooks
    def _validate(self, hp: dict[str, Any]) -> None:
        """Check (and normalise in place) the declared hyperparameters in ``hp``."""
        owner = type(self).__name__
        for name, spec in self.hyperparameters.items():
            if name in hp:
                hp[name] = spec.check(hp[name], name, owner)

    def _init_state(self, p: Parameter) -> dict[str, Any]:
        return {}

    def _update(
        self, p: Parameter, g: Any, state: dict[str, Any], group: dict[str, Any]
    ) -> None:
        raise NotImplementedError(f"{type(self).__name__}._update is not implemented")

    # ------------------------------------------------------------ groups
    def add_param_group(self, group: dict[str, Any]) -> None:
        """Add a group ``{"params": [...], **hyperparameters}`` (defaults fill gaps)."""
        owner = type(self).__name__
        if not isinstance(group, dict) or "params" not in group:
            raise InvalidParameterError(
                f"{owner}: a parameter group must be a dict with a 'params' key. "
                f"Got {type(group).__name__}."
            )
        params = group["params"]
        if isinstance(params, (set, frozenset)):
            raise InvalidParameterError(
                f"{owner}: a group's 'params' must be a list, not a set (a set's "
                "order changes between runs)."
            )
        params = [params] if isinstance(params, Parameter) else list(params)
        if not params:
            raise InvalidParameterError(
                f"{owner}: a parameter group has no parameters."
            )
        for i, p in enumerate(params):
            if not isinstance(p, Parameter):
                raise InvalidParameterError(
                    f"{owner}: parameter {i} of group {len(self.param_groups)} must be "
                    f"a descentlab Parameter. Got {type(p).__name__}."
                )
        seen = {id(p) for p in self._all_params()}
        if len({id(p) for p in params}) != len(params) or any(
            id(p) in seen for p in params
        ):
            raise InvalidParameterError(
                f"{owner}: some parameters appear more than once (in one group or in "
                "several groups); each parameter may be listed only once."
            )
        unknown = sorted(set(group) - set(self.defaults) - {"params"})
        if unknown:
            raise InvalidParameterError(
                f"{owner}: unknown hyperparameter(s) {unknown} in a parameter group; "
                f"allowed: {sorted(self.defaults)}."
            )
        new = {**self.defaults, **{k: v for k, v in group.items() if k != "params"}}
        self._validate(new)
        new["params"] = params
        for p in params:
            self._group_index[id(p)] = len(self.param_groups)
        self.param_groups.append(new)

    def _group_of(self, p: Parameter) -> dict[str, Any]:
        """The parameter group that holds ``p``."""
        return self.param_groups[self._group_index[id(p)]]

    def _all_params(self) -> list[Parameter]:
        return [p for g in self.param_groups for p in g["params"]]

    @property
    def lr(self) -> float:
        """The first group's learning rate; setting it sets every group's."""
        return self.param_groups[0]["lr"]

    @lr.setter
    def lr(self, value: float) -> None:
        value = self.hyperparameters["lr"].check(value, "lr", type(self).__name__)
        for group in self.param_groups:
            group["lr"] = value

    # ------------------------------------------------------------ stepping
    def zero_grad(self, set_to_none: bool = False) -> None:
        """Zero every gradient in place (or set it to None; then it is skipped)."""
        for p in self._all_params():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad[...] = 0

    def step(self) -> None:
        """Update every parameter that has a gradient (``p.grad is None``: skipped)."""
        index = 0
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    state = self.state.get(index)
                    if state is None:
                        state = self.state[index] = {"step": 0, **self._init_state(p)}
                    state["step"] += 1
                    self._update(p, p.grad, state, group)
                index += 1

    def _tmp(self, p: Parameter, slot: int = 0) -> Any:
        """A scratch array shaped like ``p`` (not state; its values do not persist).

        One flat buffer per (dtype, backend, slot), as large as the largest
        parameter, is reused by every parameter, so a step allocates nothing
        after the first and scratch memory stays at a few largest-parameter sizes.
        """
        data = p.data
        key = (data.dtype.str, type(data).__module__, slot)
        buf = self._scratch.get(key)
        if buf is None or buf.size < data.size:
            xp = B.get_array_module(data)
            buf = self._scratch[key] = xp.empty(data.size, dtype=data.dtype)
        return buf[: data.size].reshape(data.shape)

    @staticmethod
    def _l2(p: Parameter, g: Any, weight_decay: float) -> Any:
        """L2 weight decay folded into the gradient: g + wd*theta (p.grad untouched)."""
        return g + weight_decay * p.data if weight_decay != 0 else g

    # ------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """A deep copy: ``{"state": {i: {...}}, "param_groups": [{"params": [i]}]}``.

        Arrays are host NumPy copies; everything else is a JSON scalar or tuple,
        so :func:`descentlab.io.save_state_npz` can store it.
        """
        groups, start = [], 0
        for group in self.param_groups:
            n = len(group["params"])
            g = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            g["params"] = list(range(start, start + n))
            groups.append(g)
            start += n
        state = {
            int(i): {
                k: (B.to_numpy(v).copy() if hasattr(v, "shape") else copy.deepcopy(v))
                for k, v in s.items()
            }
            for i, s in sorted(self.state.items())
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a copy of ``state_dict`` (hyperparameters and per-parameter state).

        Raises:
            CheckpointError: the number of groups, of parameters per group or a
                state array's shape differs from this optimizer's.
        """
        owner = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= set(
            state_dict
        ):
            raise CheckpointError(
                f"{owner}: expected a dict with 'state' and 'param_groups'."
            )
        saved_groups = list(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise CheckpointError(
                f"{owner}: the state has {len(saved_groups)} parameter group(s), this "
                f"optimizer has {len(self.param_groups)}."
            )
        for i, (sg, g) in enumerate(zip(saved_groups, self.param_groups, strict=True)):
            if len(sg["params"]) != len(g["params"]):
                raise CheckpointError(
                    f"{owner}: group {i} has {len(sg['params'])} parameter(s) in the "
                    f"state but {len(g['params'])} in this optimizer."
                )
        params = self._all_params()
        new_state: dict[int, dict[str, Any]] = {}
        for key, saved in dict(state_dict["state"]).items():
            idx = int(key)
            if not 0 <= idx < len(params):
                raise CheckpointError(
                    f"{owner}: state for parameter index {idx}, but this optimizer has "
                    f"only {len(params)} parameters."
                )
            p = params[idx]
            xp = B.get_array_module(p.data)
            entry: dict[str, Any] = {}
            for name, value in saved.items():
                if hasattr(value, "shape") and not isinstance(value, np.generic):
                    if tuple(value.shape) != tuple(p.data.shape):
                        raise CheckpointError(
                            f"{owner}: state {name!r} of parameter {idx} has shape "
                            f"{tuple(value.shape)} but the parameter has shape "
                            f"{p.shape}."
                        )
                    entry[name] = xp.array(
                        B.to_numpy(value), dtype=p.data.dtype, copy=True
                    )
                elif isinstance(value, np.generic):
                    entry[name] = value.item()
                else:
                    entry[name] = copy.deepcopy(value)
            new_state[idx] = entry
        for sg, g in zip(saved_groups, self.param_groups, strict=True):
            for k, v in sg.items():
                if k == "params":
                    continue
                v = v.item() if isinstance(v, np.generic) else copy.deepcopy(v)
                if isinstance(g.get(k), tuple) and isinstance(v, list):
                    v = tuple(v)
                g[k] = v
            self._validate(g)
        self.state = new_state

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            hp = ", ".join(f"{k}={v}" for k, v in g.items() if k != "params")
            lines.append(f"  group {i}: {len(g['params'])} params, {hp}")
        return "\n".join(lines) + "\n)"
