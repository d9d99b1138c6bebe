"""Parameter, Module and Sequential: the hand-written forward/backward contract.

A Module computes ``y = forward(x)`` and, given ``dout = dL/dy``, returns
``dx = backward(dout)`` while *adding* into each parameter's ``.grad``.
Parameters and buffers are stored under torch's names so that ``state_dict()``
keys (``"0.weight"``, ``"conv1.bias"``, ``"bn.running_mean"``) match torch.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import numpy as np

from .. import backend as B
from ..errors import CheckpointError


class Parameter:
    """A trainable array ``data`` with its gradient ``grad`` (same shape and dtype).

    Keeps the dtype it is given. ``grad`` starts at zero and is accumulated by
    ``Module.backward``; optimizers read ``grad`` and update ``data`` in place.
    """

    def __init__(self, data: Any, name: str | None = None):
        if not hasattr(data, "dtype"):
            data = B.xp().asarray(data, dtype=B.default_dtype())
        self.data = data
        self.grad = B.get_array_module(data).zeros_like(data)
        self.name = name

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def size(self) -> int:
        return int(self.data.size)

    def zero_grad(self) -> None:
        self.grad[...] = 0

    def __repr__(self) -> str:
        label = f"{self.name!r}, " if self.name else ""
        return f"Parameter({label}shape={self.shape}, dtype={self.dtype})"


class Module:
    """Base class of layers and models.

    Subclasses set Parameters, sub-Modules and buffers as attributes (in the
    order they should appear in ``state_dict``) and implement ``forward`` and
    ``backward``. ``self.training`` selects training or evaluation behaviour.
    """

    # set with object.__setattr__ in __init__ (they hold what __setattr__ registers)
    _params: OrderedDict[str, Parameter]
    _modules: OrderedDict[str, Module]
    _buffers: OrderedDict[str, Any]
    _cache: Any
    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_params", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_cache", None)

    def __setattr__(self, key: str, value: Any) -> None:
        if "_params" not in self.__dict__:
            raise RuntimeError(
                f"{type(self).__name__}.__init__ must call super().__init__() "
                "before assigning attributes."
            )
        if key in self._buffers and not isinstance(value, (Parameter, Module)):
            # a buffer stays a buffer, in its place (``self.running_mean *= 0.9``)
            object.__setattr__(self, key, value)
            return
        for registry in (self._params, self._modules, self._buffers):
            registry.pop(key, None)
        if isinstance(value, Parameter):
            if value.name is None:
                value.name = key
            self._params[key] = value
        elif isinstance(value, Module):
            self._modules[key] = value
        object.__setattr__(self, key, value)

    def register_buffer(self, name: str, value: Any) -> None:
        """A non-trainable array saved in ``state_dict`` (e.g. BN running stats)."""
        self._buffers[name] = True
        object.__setattr__(self, name, value)

    # ------------------------------------------------------------ computation
    def forward(self, x: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.forward is not implemented")

    def backward(self, dout: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.backward is not implemented")

    def __call__(self, x: Any) -> Any:
        return self.forward(x)

    def _need_cache(self) -> Any:
        if self._cache is None:
            raise RuntimeError(
                f"{type(self).__name__}.backward() called before forward()"
            )
        return self._cache

    # ------------------------------------------------------------ traversal
    def children(self) -> Iterator[Module]:
        yield from self._modules.values()

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        yield prefix, self
        for name, mod in self._modules.items():
            yield from mod.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        seen: set[int] = set()
        for mod_name, mod in self.named_modules(prefix):
            for pname, p in mod._params.items():
                if id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{mod_name}.{pname}" if mod_name else pname), p

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def named_buffers(self) -> Iterator[tuple[str, Any]]:
        for mod_name, mod in self.named_modules():
            for bname in mod._buffers:
                yield (
                    (f"{mod_name}.{bname}" if mod_name else bname),
                    getattr(mod, bname),
                )

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.zero_grad()

    def astype(self, dtype: Any) -> Module:
        """Cast every parameter (and its grad) and floating buffer to ``dtype`` in
        place."""
        for m in self.modules():
            for p in m._params.values():
                p.data = p.data.astype(dtype)
                p.grad = p.grad.astype(dtype)
            for bname in m._buffers:
                buf = getattr(m, bname)
                if hasattr(buf, "dtype") and buf.dtype.kind == "f":
                    object.__setattr__(m, bname, buf.astype(dtype))
            m._cache = None
        return self

    def num_parameters(self) -> int:
        return sum(p.size for p in self.parameters())

    # ------------------------------------------------------------ modes
    def train(self, mode: bool = True) -> Module:
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> Module:
        return self.train(False)

    # ------------------------------------------------------------ state
    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Parameters then buffers, per module, keyed by torch-style dotted paths."""
        out: OrderedDict[str, np.ndarray] = OrderedDict()
        for mod_name, mod in self.named_modules():
            dot = f"{mod_name}." if mod_name else ""
            for pname, p in mod._params.items():
                out[dot + pname] = B.to_numpy(p.data).copy()
            for bname in mod._buffers:
                out[dot + bname] = B.to_numpy(getattr(mod, bname)).copy()
        return out

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> None:
        """Copy arrays into parameters and buffers in place (dtype kept).

        Raises CheckpointError on missing/unexpected keys (when ``strict``) or
        on a shape mismatch, naming the key and both shapes.
        """
        targets: dict[str, tuple[Module, str, bool]] = {}
        for mod_name, mod in self.named_modules():
            dot = f"{mod_name}." if mod_name else ""
            for pname in mod._params:
                targets[dot + pname] = (mod, pname, True)
            for bname in mod._buffers:
                targets[dot + bname] = (mod, bname, False)
        missing = [k for k in targets if k not in state]
        unexpected = [k for k in state if k not in targets]
        if strict and (missing or unexpected):
            raise CheckpointError(
                f"{type(self).__name__}.load_state_dict: keys do not match the model. "
                f"Missing: {missing or 'none'}; unexpected: {unexpected or 'none'}."
            )
        for key, (mod, attr, is_param) in targets.items():
            if key not in state:
                continue
            src = state[key]
            dst = getattr(mod, attr).data if is_param else getattr(mod, attr)
            if tuple(np.shape(src)) != tuple(dst.shape):
                raise CheckpointError(
                    f"{type(self).__name__}.load_state_dict: {key!r} has shape "
                    f"{tuple(np.shape(src))} in the state but {tuple(dst.shape)} in "
                    "the model."
                )
            dst[...] = B.get_array_module(dst).asarray(src, dtype=dst.dtype)

    # ------------------------------------------------------------ display
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not self._modules:
            return head + ")"
        lines = [head]
        for name, mod in self._modules.items():
            sub = repr(mod).replace("\n", "\n  ")
            lines.append(f"  ({name}): {sub}")
        return "\n".join(lines) + "\n)"


class Sequential(Module):
    """Modules applied in order; backward runs them in reverse.

    ``Sequential(Linear(784, 100), ReLU(), Linear(100, 10))`` names its children
    "0", "1", "2" as torch does.
    """

    def __init__(self, *modules: Module):
        super().__init__()
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(
                    f"Sequential: argument {i} must be a Module. Got "
                    f"{type(m).__name__}."
                )
            setattr(self, str(i), m)

    def __len__(self) -> int:
        return len(self._modules)

    def __getitem__(self, i: int) -> Module:
        return list(self._modules.values())[i]

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def append(self, m: Module) -> Sequential:
        setattr(self, str(len(self)), m)
        return self

    def forward(self, x: Any) -> Any:
        for m in self._modules.values():
            x = m.forward(x)
        return x

    def backward(self, dout: Any) -> Any:
        for m in reversed(self._modules.values()):
            dout = m.backward(dout)
        return dout
