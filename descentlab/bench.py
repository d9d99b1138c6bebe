"""Throughput benchmark: descentlab against PyTorch on the same shapes, dtype and threads.

Run it as ``descentlab bench [--repeats 5] [--only CASE ...] [--json out.json]`` or
``python benchmarks/bench.py --threads 2``; on a GPU machine
``DESCENTLAB_BACKEND=cupy descentlab bench`` times the CuPy backend against
PyTorch on CUDA. Every case is float32 (NCHW for images):

============== ===================================================================
mlp_sgd        MLP 784-100x4-10, SGD, batch 128: one training step (zero_grad,
               forward, loss, backward, step); images/s
mlp_trainer    the same through ``Trainer.fit`` (10 batches per call: loader,
               NaN guard, running accuracy) vs the usual PyTorch loop; images/s
simplecnn_adam SimpleConvNet (conv 30@5x5 - ReLU - pool 2 - 100 - 10), Adam,
               batch 100: one training step; images/s
conv_forward   Conv2d(1, 30, 5) on (100, 1, 28, 28), forward (graph kept)
conv_backward  its backward (dW, db and dx); images/s
maxpool_fwd    MaxPool2d(2) on (100, 30, 24, 24), forward
maxpool_bwd    its backward
im2col         patch matrix of (100, 1, 28, 28), 5x5 (torch: F.unfold)
col2im         its adjoint (torch: F.fold)
adam_1m        Adam.step over 1,000,000 parameters; params/s
sgd_1m         SGD.step over 1,000,000 parameters; params/s
gemm           reference: float32 (384x384)@(384x384) with np.matmul / torch.matmul
memory         peak memory of one SimpleConvNet training step at batch 100,
               each framework in its own subprocess (see ``_memory_child``)
============== ===================================================================

Method: each case builds a descentlab callable and a PyTorch callable for the
same work; a training step feeds both models the same initial weights, and
descentlab's data layer skips its dx there as PyTorch does for an input that
needs no gradient (and as ``Trainer.fit`` does). Each framework runs in its own
worker process (``isolate=True``; in one process the idle thread pool of one
framework spins while the other works, which on a 2-core machine ruins every
multi-threaded number). Both are warmed up, then timed alternately (descentlab
first on even repeats, PyTorch first on odd ones) so that a burst of load from
other processes hits both; each timed block repeats the call until it lasts
``min_time`` seconds, and the median block time per call is reported.
``ratio`` = PyTorch time / descentlab time, i.e. the throughput ratio
(> 1: descentlab is faster). Thread counts are set equal: ``torch.set_num_threads``
and threadpoolctl's limit on NumPy's BLAS (if threadpoolctl is missing, the
OMP/OPENBLAS/MKL variables are set, which only work before NumPy is loaded;
``benchmarks/bench.py`` sets them first). GFLOP/s counts 2 flops per
multiply-add of the GEMM work (training step = 3x forward) and is compared with
the ``gemm`` reference measured in the same run.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import backend as B
from ._threads import THREAD_VARS, blas_threads_env, usable_cpus
from .errors import InvalidParameterError

CASES = (
    "mlp_sgd",
    "mlp_trainer",
    "simplecnn_adam",
    "conv_forward",
    "conv_backward",
    "maxpool_fwd",
    "maxpool_bwd",
    "im2col",
    "col2im",
    "adam_1m",
    "sgd_1m",
    "gemm",
    "memory",
)

# batch sizes, optimizer sizes and the shortest timed block, per size preset
SIZES = {
    "full": dict(
        mlp=128,
        cnn=100,
        params=(1000, 1000),
        gemm=384,
        trainer_batches=10,
        min_time=0.05,
    ),
    "tiny": dict(
        mlp=8, cnn=4, params=(100, 100), gemm=32, trainer_batches=2, min_time=0.001
    ),
}
MLP_SIZES = (784, 100, 100, 100, 100, 10)


@dataclass
class _Case:
    description: str
    unit: str  # what ``items`` counts: images or params
    items: int  # units of work per call
    dl: Callable[[], Any]
    torch: Callable[[], Any] | None = None
    flops: float | None = None  # floating-point operations per call


_CASE_INFO = ("description", "unit", "items", "flops")


class _Ctx:
    """What the case builders share: array module, torch, device, sizes, rng."""

    def __init__(self, size: str, torch_mod: Any, device: str | None):
        self.size = SIZES[size]
        self.xp = B.xp()
        self.torch = torch_mod if device is not None else None
        self.device = device
        self.rng = np.random.default_rng(0)

    def randn(self, *shape) -> tuple[Any, Any]:
        """A float32 N(0, 1) array on the backend and the same values as a torch tensor."""
        a = self.rng.standard_normal(shape, dtype=np.float32)
        return self.xp.asarray(a), self.tensor(a)

    def labels(self, n: int) -> tuple[Any, Any]:
        y = self.rng.integers(0, 10, n)
        return self.xp.asarray(y), self.tensor(y)

    def tensor(self, a: np.ndarray) -> Any:
        if self.torch is None:
            return None
        return self.torch.from_numpy(np.ascontiguousarray(a)).to(self.device)

    def copy_weights(self, dl_model, torch_model) -> None:
        """Give the torch model descentlab's initial weights (state_dict keys match)."""
        state = {k: self.torch.from_numpy(v) for k, v in dl_model.state_dict().items()}
        torch_model.load_state_dict(state)
        torch_model.to(self.device)


# ------------------------------------------------------------------ cases
def _train_step(model, loss, opt, x, y):
    """One step as Trainer.fit runs it: the data layer skips dx, as torch's does."""
    from .train.trainer import _data_layer

    _data_layer(model).input_grad = False

    def step():
        opt.zero_grad()
        loss.forward(model.forward(x), y)
        model.backward(loss.backward())
        opt.step()

    return step


def _torch_train_step(torch, model, opt, x, y):
    def step():
        opt.zero_grad()
        out = torch.nn.functional.cross_entropy(model(x), y)
        out.backward()
        opt.step()
        out.item()

    return step


def _torch_mlp(torch):
    nn, layers = torch.nn, []
    for i, (a, b) in enumerate(zip(MLP_SIZES[:-1], MLP_SIZES[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(MLP_SIZES) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _mlp_flops(n: int) -> float:
    macs = sum(a * b for a, b in zip(MLP_SIZES[:-1], MLP_SIZES[1:]))
    return 3 * 2 * n * macs


def case_mlp_sgd(ctx: _Ctx) -> _Case:
    from .models import MLP
    from .nn import SoftmaxCrossEntropy
    from .optim import SGD

    n = ctx.size["mlp"]
    (x, xt), (y, yt) = ctx.randn(n, 784), ctx.labels(n)
    model = MLP(MLP_SIZES, seed=0)
    case = _Case(
        f"MLP 784-100x4-10, SGD, batch {n}: training step",
        "images",
        n,
        _train_step(
            model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.01), x, y
        ),
        flops=_mlp_flops(n),
    )
    if ctx.torch is not None:
        tm = _torch_mlp(ctx.torch)
        ctx.copy_weights(model, tm)
        case.torch = _torch_train_step(
            ctx.torch, tm, ctx.torch.optim.SGD(tm.parameters(), lr=0.01), xt, yt
        )
    return case


def case_mlp_trainer(ctx: _Ctx) -> _Case:
    from .models import MLP
    from .nn import SoftmaxCrossEntropy
    from .optim import SGD
    from .train import Trainer

    bs, nb = ctx.size["mlp"], ctx.size["trainer_batches"]
    n = bs * nb
    x = ctx.rng.random((n, 784), dtype=np.float32)
    y = ctx.rng.integers(0, 10, n)
    model = MLP(MLP_SIZES, seed=0)
    trainer = Trainer(
        model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.01), verbose=0
    )
    case = _Case(
        f"MLP 784-100x4-10, SGD, batch {bs}: Trainer.fit, {nb} batches "
        "(shuffle, NaN guard, accuracy)",
        "images",
        n,
        lambda: trainer.fit((x, y), epochs=1, batch_size=bs),
        flops=_mlp_flops(n),
    )
    if ctx.torch is not None:
        torch = ctx.torch
        tm = _torch_mlp(torch)
        ctx.copy_weights(model, tm)
        opt = torch.optim.SGD(tm.parameters(), lr=0.01)
        xt, yt = ctx.tensor(x), ctx.tensor(y)
        gen = torch.Generator().manual_seed(0)

        def torch_epoch():
            correct, total = 0, 0.0
            for idx in torch.randperm(n, generator=gen).to(ctx.device).split(bs):
                xb, yb = xt[idx], yt[idx]
                opt.zero_grad()
                logits = tm(xb)
                out = torch.nn.functional.cross_entropy(logits, yb)
                out.backward()
                opt.step()
                total += out.item() * len(idx)
                correct += int((logits.argmax(1) == yb).sum())
            return correct, total

        case.torch = torch_epoch
    return case


def case_simplecnn_adam(ctx: _Ctx) -> _Case:
    from .models import SimpleConvNet
    from .nn import SoftmaxCrossEntropy
    from .optim import Adam

    n = ctx.size["cnn"]
    (x, xt), (y, yt) = ctx.randn(n, 1, 28, 28), ctx.labels(n)
    model = SimpleConvNet(seed=0)
    macs = 30 * 24 * 24 * 25 + 30 * 12 * 12 * 100 + 100 * 10
    case = _Case(
        f"SimpleConvNet, Adam, batch {n}: training step",
        "images",
        n,
        _train_step(model, SoftmaxCrossEntropy(), Adam(model.parameters()), x, y),
        flops=3 * 2 * n * macs,
    )
    if ctx.torch is not None:
        nn = ctx.torch.nn
        tm = nn.Sequential(
            nn.Conv2d(1, 30, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(30 * 12 * 12, 100),
            nn.ReLU(),
            nn.Linear(100, 10),
        )
        ctx.copy_weights(model, tm)
        case.torch = _torch_train_step(
            ctx.torch, tm, ctx.torch.optim.Adam(tm.parameters()), xt, yt
        )
    return case


def _conv_pair(ctx: _Ctx):
    from .nn import Conv2d

    n = ctx.size["cnn"]
    conv = Conv2d(1, 30, 5, rng=0)
    (x, xt), (dy, dyt) = ctx.randn(n, 1, 28, 28), ctx.randn(n, 30, 24, 24)
    tconv = None
    if ctx.torch is not None:
        tconv = ctx.torch.nn.Conv2d(1, 30, 5).to(ctx.device)
        xt.requires_grad_()
    return n, conv, x, dy, tconv, xt, dyt, 2.0 * n * 30 * 24 * 24 * 25


def case_conv_forward(ctx: _Ctx) -> _Case:
    n, conv, x, _, tconv, xt, _, flops = _conv_pair(ctx)
    case = _Case(
        f"Conv2d(1, 30, 5) forward on ({n}, 1, 28, 28)",
        "images",
        n,
        lambda: conv.forward(x),
        flops=flops,
    )
    if tconv is not None:
        case.torch = lambda: tconv(xt)
    return case


def case_conv_backward(ctx: _Ctx) -> _Case:
    n, conv, x, dy, tconv, xt, dyt, flops = _conv_pair(ctx)
    conv.forward(x)
    case = _Case(
        f"Conv2d(1, 30, 5) backward (dW, db, dx) on ({n}, 1, 28, 28)",
        "images",
        n,
        lambda: conv.backward(dy),
        flops=2 * flops,
    )
    if tconv is not None:
        yt = tconv(xt)
        case.torch = lambda: yt.backward(dyt, retain_graph=True)
    return case


def _pool_pair(ctx: _Ctx):
    from .nn import MaxPool2d

    n = ctx.size["cnn"]
    (x, xt), (dy, dyt) = ctx.randn(n, 30, 24, 24), ctx.randn(n, 30, 12, 12)
    if xt is not None:
        xt.requires_grad_()
    return n, MaxPool2d(2), x, dy, xt, dyt


def case_maxpool_fwd(ctx: _Ctx) -> _Case:
    n, pool, x, _, xt, _ = _pool_pair(ctx)
    case = _Case(
        f"MaxPool2d(2) forward on ({n}, 30, 24, 24)",
        "images",
        n,
        lambda: pool.forward(x),
    )
    if xt is not None:
        case.torch = lambda: ctx.torch.nn.functional.max_pool2d(xt, 2)
    return case


def case_maxpool_bwd(ctx: _Ctx) -> _Case:
    n, pool, x, dy, xt, dyt = _pool_pair(ctx)
    pool.forward(x)
    case = _Case(
        f"MaxPool2d(2) backward on ({n}, 30, 24, 24)",
        "images",
        n,
        lambda: pool.backward(dy),
    )
    if xt is not None:
        yt = ctx.torch.nn.functional.max_pool2d(xt, 2)
        case.torch = lambda: yt.backward(dyt, retain_graph=True)
    return case


def case_im2col(ctx: _Ctx) -> _Case:
    from .nn.im2col import im2col

    n = ctx.size["cnn"]
    x, xt = ctx.randn(n, 1, 28, 28)
    case = _Case(
        f"im2col of ({n}, 1, 28, 28), 5x5 windows, stride 1",
        "images",
        n,
        lambda: im2col(x, 5, 5, (1, 1)),
    )
    if xt is not None:
        case.torch = lambda: ctx.torch.nn.functional.unfold(xt, 5)
    return case


def case_col2im(ctx: _Ctx) -> _Case:
    from .nn.im2col import col2im, im2col

    n = ctx.size["cnn"]
    x, _ = ctx.randn(n, 1, 28, 28)
    col = ctx.xp.ascontiguousarray(im2col(x, 5, 5, (1, 1)))
    case = _Case(
        f"col2im onto ({n}, 1, 28, 28), 5x5 windows, stride 1",
        "images",
        n,
        lambda: col2im(col, (n, 1, 28, 28), 5, 5, (1, 1)),
    )
    if ctx.torch is not None:
        colt = ctx.torch.nn.functional.unfold(ctx.tensor(B.to_numpy(x)), 5).contiguous()
        case.torch = lambda: ctx.torch.nn.functional.fold(colt, (28, 28), 5)
    return case


def _optimizer_case(ctx: _Ctx, name: str) -> _Case:
    from .nn import Parameter
    from .optim import SGD, Adam

    shape = ctx.size["params"]
    (w, wt), (g, gt) = ctx.randn(*shape), ctx.randn(*shape)
    p = Parameter(w)
    p.grad[...] = g
    dl_opt = Adam([p]) if name == "adam" else SGD([p], lr=0.01)
    size = shape[0] * shape[1]
    case = _Case(
        f"{'Adam' if name == 'adam' else 'SGD'}.step over {size:,} float32 parameters",
        "params",
        size,
        dl_opt.step,
    )
    if wt is not None:
        wt.requires_grad_()
        wt.grad = gt
        torch = ctx.torch
        t_opt = (
            torch.optim.Adam([wt]) if name == "adam" else torch.optim.SGD([wt], lr=0.01)
        )
        case.torch = t_opt.step
    return case


def case_adam_1m(ctx: _Ctx) -> _Case:
    return _optimizer_case(ctx, "adam")


def case_sgd_1m(ctx: _Ctx) -> _Case:
    return _optimizer_case(ctx, "sgd")


def case_gemm(ctx: _Ctx) -> _Case:
    m = ctx.size["gemm"]
    (a, at), (b, bt) = ctx.randn(m, m), ctx.randn(m, m)
    out = ctx.xp.empty((m, m), dtype=np.float32)
    case = _Case(
        f"reference GEMM float32 ({m}x{m})@({m}x{m}), np.matmul / torch.matmul",
        "gemms",
        1,
        lambda: ctx.xp.matmul(a, b, out=out),
        flops=2.0 * m**3,
    )
    if at is not None:
        out_t = ctx.torch.empty((m, m), device=ctx.device)
        case.torch = lambda: ctx.torch.matmul(at, bt, out=out_t)
    return case


# ------------------------------------------------------------------ timing
def _sync_fn(torch_mod: Any, device: str | None) -> Callable[[str], None]:
    """Wait for queued GPU work before a timer is read (no-op on the CPU)."""
    dl_gpu = B.name() == "cupy"
    torch_gpu = device is not None and device != "cpu"

    def sync(side: str) -> None:
        if side == "descentlab" and dl_gpu:
            B.xp().cuda.Device().synchronize()
        elif side == "pytorch" and torch_gpu:
            torch_mod.cuda.synchronize()

    return sync


class _LocalSide:
    """Times one framework's callable in this process."""

    def __init__(self, fn: Callable[[], Any], sync: Callable[[], None]):
        self.fn, self.sync, self.inner = fn, sync, 1

    def calibrate(self, min_time: float) -> None:
        """Warm up, then choose the calls per timed block (a block lasts >= min_time)."""
        self.fn()  # warm-up: lazy state, allocator, caches
        self.sync()
        self.inner = 1
        self.inner = max(1, min(10_000, math.ceil(min_time / max(self.block(), 1e-9))))

    def block(self) -> float:
        """Seconds per call over one block of ``inner`` calls."""
        fn = self.fn
        self.sync()
        t0 = time.perf_counter()
        for _ in range(self.inner):
            fn()
        self.sync()
        return (time.perf_counter() - t0) / self.inner


class _WorkerSide:
    """Times one framework in its own process (its thread pool cannot spin against
    the other framework's); driven line by line with JSON over stdin/stdout."""

    def __init__(self, side: str, threads: int, size: str):
        env = _child_env(threads)
        code = "from descentlab.bench import _worker; _worker()"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, side, str(threads), size],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )

    def ask(self, **cmd: Any) -> dict[str, Any]:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"bench worker exited with code {self.proc.wait()}")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"bench worker: {reply['error']}")
        return reply

    def calibrate(self, min_time: float) -> None:
        self.ask(op="calibrate", min_time=min_time)

    def block(self) -> float:
        return self.ask(op="block")["seconds"]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)


def _worker() -> None:
    """Subprocess side of isolated timing: ``setup`` a case, ``calibrate``, time ``block``s."""
    side, threads, size = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    notes: list[str] = []
    torch_mod, device = _import_torch(notes) if side == "pytorch" else (None, None)
    _set_threads(threads, torch_mod)
    ctx, sync = _Ctx(size, torch_mod, device), _sync_fn(torch_mod, device)
    timer = None
    for line in sys.stdin:
        cmd = json.loads(line)
        try:
            if cmd["op"] == "setup":
                case = globals()[f"case_{cmd['case']}"](ctx)
                fn = case.dl if side == "descentlab" else case.torch
                timer = None if fn is None else _LocalSide(fn, lambda: sync(side))
                reply: dict[str, Any] = {
                    "available": fn is not None,
                    **{k: getattr(case, k) for k in _CASE_INFO},
                }
            elif cmd["op"] == "calibrate":
                timer.calibrate(cmd["min_time"])
                reply = {"inner": timer.inner}
            else:
                reply = {"seconds": timer.block()}
        except Exception as exc:  # reported to the parent, which raises it
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(reply), flush=True)


def _measure(
    sides: dict[str, Any], repeats: int, min_time: float, pause: float = 0.0
) -> dict[str, dict[str, float]]:
    """Median seconds per call of each side, timed alternately.

    Side A then B on even repeats, B then A on odd ones; ``pause`` seconds between
    blocks let the previous side's idle BLAS/OpenMP threads stop spinning.
    """
    for timer in sides.values():
        timer.calibrate(min_time)
    times: dict[str, list[float]] = {side: [] for side in sides}
    order = list(sides)
    for r in range(repeats):
        for side in order if r % 2 == 0 else order[::-1]:
            if pause:
                time.sleep(pause)
            times[side].append(sides[side].block())
    return {
        side: {"seconds": statistics.median(ts), "min_seconds": min(ts)}
        for side, ts in times.items()
    }


# ------------------------------------------------------------------ memory
def _status_kib(field_name: str) -> float | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field_name + ":"):
                    return float(line.split()[1])
    except OSError:
        return None
    return None


def _memory_child(framework: str, batch: int, threads: int, mode: str = "rss") -> None:
    """Subprocess entry: build SimpleConvNet + Adam, run one training step, print JSON.

    mode "rss": the peak resident memory during the step minus the resident memory
    just before it (Linux: VmHWM reset through /proc/self/clear_refs, then
    VmHWM - VmRSS; elsewhere ru_maxrss delta, a lower bound). mode "tracemalloc":
    the peak of Python-tracked allocations during the step (NumPy reports its
    buffers to tracemalloc; PyTorch does not, so only for descentlab).
    """
    import gc
    import resource

    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, batch)
    if framework == "descentlab":
        from .models import SimpleConvNet
        from .nn import SoftmaxCrossEntropy
        from .optim import Adam

        _set_threads(threads, None)
        model = SimpleConvNet(seed=0)
        step = _train_step(model, SoftmaxCrossEntropy(), Adam(model.parameters()), x, y)
    else:
        import torch

        _set_threads(threads, torch)
        nn = torch.nn
        tm = nn.Sequential(
            nn.Conv2d(1, 30, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(30 * 12 * 12, 100),
            nn.ReLU(),
            nn.Linear(100, 10),
        )
        step = _torch_train_step(
            torch,
            tm,
            torch.optim.Adam(tm.parameters()),
            torch.from_numpy(x),
            torch.from_numpy(y),
        )
    gc.collect()
    out: dict[str, Any] = {}
    if mode == "tracemalloc":
        import tracemalloc

        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        step()
        out["tracemalloc_peak_mib"] = (
            tracemalloc.get_traced_memory()[1] - base
        ) / 2**20
        tracemalloc.stop()
    else:
        scale = (
            1 / 1024 if sys.platform != "darwin" else 1 / 2**20
        )  # ru_maxrss KiB or bytes
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
            before = _status_kib("VmRSS")
            step()
            out["rss_delta_mib"] = (_status_kib("VmHWM") - before) / 1024
            out["rss_method"] = "VmHWM - VmRSS (peak reset before the step)"
        except (OSError, TypeError):
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            step()
            after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            out["rss_delta_mib"] = (after - before) * scale
            out["rss_method"] = "ru_maxrss delta (lower bound)"
    print(json.dumps(out))


def _child_env(threads: int) -> dict[str, str]:
    """Environment of a subprocess: this copy of descentlab first on PYTHONPATH, and
    the thread variables set before its NumPy and PyTorch load."""
    pkg_parent = str(Path(__file__).resolve().parent.parent)
    path = os.pathsep.join([pkg_parent, *filter(None, [os.environ.get("PYTHONPATH")])])
    return {**os.environ, "PYTHONPATH": path, **{v: str(threads) for v in THREAD_VARS}}


def _run_memory_child(framework: str, batch: int, threads: int, mode: str) -> dict:
    env = _child_env(threads)
    code = (
        f"from descentlab.bench import _memory_child; "
        f"_memory_child({framework!r}, {batch}, {threads}, {mode!r})"
    )
    res = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    if res.returncode != 0:
        raise RuntimeError(
            res.stderr.strip().splitlines()[-1] if res.stderr else "failed"
        )
    return json.loads(res.stdout.strip().splitlines()[-1])


def _memory(batch: int, threads: int, have_torch: bool) -> dict[str, Any]:
    dl = _run_memory_child("descentlab", batch, threads, "rss")
    dl.update(_run_memory_child("descentlab", batch, threads, "tracemalloc"))
    result: dict[str, Any] = {
        "description": f"peak memory of one SimpleConvNet + Adam training step, batch {batch}",
        "method": "fresh subprocess per framework; model, data and optimizer built, then "
        "the peak resident set size (VmHWM, reset just before) minus the resident "
        "size before one training step (the first, so Adam's state is included); "
        "for descentlab also the tracemalloc peak of the step",
        "descentlab": dl,
        "pytorch": None,
        "ratio": None,
    }
    if have_torch:
        result["pytorch"] = _run_memory_child("pytorch", batch, threads, "rss")
        if dl["rss_delta_mib"] > 0:
            result["ratio"] = result["pytorch"]["rss_delta_mib"] / dl["rss_delta_mib"]
    return result


# ------------------------------------------------------------------ driver
def _set_threads(n: int, torch_mod: Any) -> tuple[str, Callable[[], None]]:
    """Limit NumPy's BLAS and PyTorch to ``n`` threads; returns (how, restore)."""
    restore: list[Callable[[], None]] = []
    try:
        from threadpoolctl import threadpool_limits

        limits = threadpool_limits(n)
        restore.append(limits.restore_original_limits)
        how = "threadpoolctl"
    except ImportError:
        env = contextlib.ExitStack()
        env.enter_context(blas_threads_env(n))
        restore.append(env.close)
        how = (
            "environment (OMP/OPENBLAS/MKL_NUM_THREADS, effective only if set before "
            "NumPy loads; pip install threadpoolctl)"
        )
    if torch_mod is not None:
        old = torch_mod.get_num_threads()
        torch_mod.set_num_threads(n)
        restore.append(lambda: torch_mod.set_num_threads(old))

    def undo() -> None:
        for fn in reversed(restore):
            fn()

    return how, undo


def _import_torch(notes: list[str]) -> tuple[Any, str | None]:
    try:
        import torch
    except ImportError:
        notes.append(
            "PyTorch is not installed: PyTorch columns and ratios are None "
            "(pip install 'descentlab[torch]')."
        )
        return None, None
    if B.name() == "cupy":
        if not torch.cuda.is_available():
            notes.append("backend is cupy but PyTorch has no CUDA: ratios are None.")
            return torch, None
        return torch, "cuda"
    return torch, "cpu"


def _fmt_rate(v: float | None, unit: str) -> str:
    if v is None:
        return "-"
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if v >= scale:
            return f"{v / scale:.2f} {prefix}{unit}/s"
    return f"{v:.1f} {unit}/s"


def format_table(results: dict[str, Any]) -> str:
    """The results as a text table (one line per case)."""
    rows = [("case", "descentlab", "pytorch", "ratio", "GFLOP/s dl | pt", "dl % gemm")]
    for name, c in results["cases"].items():
        dl, pt = c["descentlab"], c["pytorch"]
        gf = c.get("gflops")
        rows.append(
            (
                name,
                _fmt_rate(dl["throughput"], c["unit"]),
                _fmt_rate(pt["throughput"] if pt else None, c["unit"]),
                f"{c['ratio']:.2f}x" if c["ratio"] is not None else "-",
                (
                    f"{gf['descentlab']:.1f} | {gf['pytorch']:.1f}"
                    if gf and gf["pytorch"]
                    else f"{gf['descentlab']:.1f} | -"
                    if gf
                    else ""
                ),
                f"{100 * c['gemm_fraction']:.0f}%" if c.get("gemm_fraction") else "",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            s.ljust(w) if i == 0 else s.rjust(w)
            for i, (s, w) in enumerate(zip(r, widths))
        )
        for r in rows
    ]
    mem = results.get("memory")
    if mem:
        dl_m, pt_m = mem["descentlab"], mem["pytorch"]
        pt_text = f"{pt_m['rss_delta_mib']:.1f} MiB" if pt_m else "-"
        lines.append(
            f"memory (one SimpleConvNet step): descentlab "
            f"{dl_m['rss_delta_mib']:.1f} MiB RSS peak "
            f"({dl_m.get('tracemalloc_peak_mib', float('nan')):.1f} MiB tracemalloc), "
            f"pytorch {pt_text} RSS peak"
        )
    m = results["meta"]
    lines.append(
        f"threads {m['threads']} ({m['thread_control']}), backend {m['backend']}, "
        f"repeats {m['repeats']}, load {m['loadavg_before']} -> {m['loadavg_after']}"
    )
    lines += [f"note: {n}" for n in results["notes"]]
    return "\n".join(lines)


def main(
    repeats: int = 5,
    only: Sequence[str] | None = None,
    *,
    threads: int | None = None,
    size: str = "full",
    memory: bool = True,
    isolate: bool = True,
    verbose: bool = True,
) -> dict[str, Any]:
    """Run the benchmark; print a table (``verbose``) and return a JSON-able dict.

    Args:
        repeats: timed blocks per side and case (the median is reported).
        only: case names to run (default: all of ``CASES``).
        threads: threads for both NumPy's BLAS and PyTorch (default: the CPUs this
            process may use, or env DESCENTLAB_BENCH_THREADS).
        size: "full" (the documented shapes) or "tiny" (small batches; for tests).
        memory: include the ``memory`` case when ``only`` does not name it.
        isolate: time each framework in its own worker process (default). In one
            process, the idle threads of one framework's pool spin while the other
            runs, which on a 2-core machine ruins every multi-threaded number.
        verbose: print the table.

    Returns:
        {"meta": {...}, "cases": {name: {"description", "unit", "items",
        "descentlab": {"seconds", "min_seconds", "throughput"}, "pytorch": same or
        None, "ratio", "gflops", "gemm_fraction"}}, "memory": {...} or None,
        "notes": [...]}.
    """
    names = list(CASES if only is None else only)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        raise InvalidParameterError(
            f"bench: unknown case(s) {unknown}; valid names are {', '.join(CASES)}."
        )
    if size not in SIZES:
        raise InvalidParameterError(
            f"bench: 'size' must be 'full' or 'tiny'. Got {size!r}."
        )
    if not isinstance(repeats, int) or repeats < 1:
        raise InvalidParameterError(
            f"bench: 'repeats' must be an int >= 1. Got {repeats!r}."
        )
    if threads is None:
        threads = int(os.environ.get("DESCENTLAB_BENCH_THREADS", 0)) or usable_cpus()
    notes: list[str] = []
    torch_mod, device = _import_torch(notes)
    if "memory" in names and only is None and not memory:
        names.remove("memory")
    if B.xp() is not np and "memory" in names:
        notes.append("memory case skipped on the cupy backend (it measures host RSS).")
        names.remove("memory")
    flop_cases = {
        "mlp_sgd",
        "mlp_trainer",
        "simplecnn_adam",
        "conv_forward",
        "conv_backward",
    }
    if flop_cases & set(names) and "gemm" not in names:
        names.insert(names.index("memory") if "memory" in names else len(names), "gemm")
    how, undo_threads = _set_threads(threads, torch_mod)
    meta = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "backend": B.name(),
        "device": device or "cpu",
        "threads": threads,
        "thread_control": how,
        "isolated_processes": isolate,
        "repeats": repeats,
        "size": size,
        "numpy": np.__version__,
        "torch": getattr(torch_mod, "__version__", None),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "loadavg_before": _loadavg(),
    }
    results: dict[str, Any] = {
        "meta": meta,
        "cases": {},
        "memory": None,
        "notes": notes,
    }
    try:
        timed_names = [n for n in names if n != "memory"]
        results["cases"] = _run_cases(
            timed_names, repeats, size, threads, torch_mod, device, isolate
        )
        gemm = results["cases"].get("gemm")
        for c in results["cases"].values():
            if gemm and c.get("gflops"):
                c["gemm_fraction"] = (
                    c["gflops"]["descentlab"] / gemm["gflops"]["descentlab"]
                )
        if "memory" in names:
            results["memory"] = _memory(
                SIZES[size]["cnn"], threads, torch_mod is not None
            )
    finally:
        undo_threads()
    meta["loadavg_after"] = _loadavg()
    load = (meta["loadavg_before"] or [0.0])[0]
    if threads > 1 and load + threads > usable_cpus() + 0.5:
        notes.append(
            f"load average {load} with {threads} threads on {usable_cpus()} CPUs: "
            "multi-threaded timings wait for busy cores and are unreliable; "
            "compare with --threads 1."
        )
    if verbose:
        print(format_table(results))
    return results


def _run_cases(
    names: list[str],
    repeats: int,
    size: str,
    threads: int,
    torch_mod: Any,
    device: str | None,
    isolate: bool,
) -> dict[str, Any]:
    """Time each case, in worker processes (``isolate``) or in this process."""
    min_time, pause = SIZES[size]["min_time"], 0.0
    out: dict[str, Any] = {}
    if not isolate:
        ctx, sync = _Ctx(size, torch_mod, device), _sync_fn(torch_mod, device)
        for name in names:
            case = globals()[f"case_{name}"](ctx)
            sides = {"descentlab": _LocalSide(case.dl, lambda: sync("descentlab"))}
            if case.torch is not None:
                sides["pytorch"] = _LocalSide(case.torch, lambda: sync("pytorch"))
            out[name] = _summarise(case, _measure(sides, repeats, min_time))
        return out
    if threads > 1:
        pause = 0.1  # idle pool threads spin ~0.1 s before sleeping (OpenBLAS, OpenMP)
    workers = {"descentlab": _WorkerSide("descentlab", threads, size)}
    if device is not None:
        workers["pytorch"] = _WorkerSide("pytorch", threads, size)
    try:
        for name in names:
            info = {side: w.ask(op="setup", case=name) for side, w in workers.items()}
            sides = {side: workers[side] for side, i in info.items() if i["available"]}
            case = _Case(**{k: info["descentlab"][k] for k in _CASE_INFO}, dl=None)
            out[name] = _summarise(case, _measure(sides, repeats, min_time, pause))
    finally:
        for w in workers.values():
            w.close()
    return out


def _summarise(case: _Case, timed: dict[str, dict[str, float]]) -> dict[str, Any]:
    def side(name: str) -> dict[str, float] | None:
        t = timed.get(name)
        if t is None:
            return None
        return {**t, "throughput": case.items / t["seconds"]}

    dl, pt = side("descentlab"), side("pytorch")
    out = {
        "description": case.description,
        "unit": case.unit,
        "items": case.items,
        "descentlab": dl,
        "pytorch": pt,
        "ratio": pt["seconds"] / dl["seconds"] if pt else None,
        "gflops": None,
        "gemm_fraction": None,
    }
    if case.flops:
        out["gflops"] = {
            "descentlab": case.flops / dl["seconds"] / 1e9,
            "pytorch": case.flops / pt["seconds"] / 1e9 if pt else None,
        }
    return out


def _loadavg() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (OSError, AttributeError):
        return None
