"""`descentlab lr-find`: lr range test on the model, optimizer and data of `train`."""

from __future__ import annotations

import argparse

from .common import add_common
from .train import add_config_arguments, config_keys

#: train's config keys that lr-find takes (the lr is swept; no epochs or schedule)
LR_FIND_KEYS = config_keys(training=False)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "lr-find",
        help="lr range test: sweep the lr, plot the loss, suggest an lr",
    )
    add_config_arguments(p, training=False)
    p.add_argument("--lr-min", type=float, default=1e-7, help="default: 1e-7")
    p.add_argument("--lr-max", type=float, default=10.0, help="default: 10")
    p.add_argument("--steps", type=int, default=100, help="sweep steps (default: 100)")
    p.add_argument(
        "--smooth", type=float, default=0.98, help="EMA factor (default: 0.98)"
    )
    p.add_argument(
        "--diverge",
        type=float,
        default=4.0,
        help="stop when the smoothed loss exceeds this x its minimum (default: 4)",
    )
    add_common(p, "runs/lr-find")


def run(a: argparse.Namespace) -> int:
    from ..diagnostics import lr_range_test
    from ..diagnostics.plots import figure_png, plot_lr_range
    from ..io import atomic_write_bytes, atomic_write_json, check_output_dir
    from ..nn import SoftmaxCrossEntropy
    from ..train.run import _flat, build, load_data, validate_config

    cfg = validate_config({**{k: getattr(a, k) for k in LR_FIND_KEYS}, "seed": a.seed})
    out = check_output_dir(a.out, a.overwrite, owner="lr-find")
    train, _, _ = load_data(cfg)
    x, y = _flat(train, cfg["model"] == "mlp")
    model, optimizer, _ = build(cfg, 1)
    res = lr_range_test(
        model,
        SoftmaxCrossEntropy(),
        optimizer,
        x,
        y,
        lr_min=a.lr_min,
        lr_max=a.lr_max,
        steps=a.steps,
        batch_size=cfg["batch_size"],
        smooth=a.smooth,
        diverge=a.diverge,
        seed=a.seed,
    )
    title = f"lr range test: {cfg['model']} + {cfg['optimizer']}"
    atomic_write_bytes(out / "lr_find.png", figure_png(plot_lr_range(res, title)))
    atomic_write_json(out / "lr_find.json", {"config": cfg, **res.to_dict()})
    if res.suggestion is None:
        print(f"no suggestion: {res.reason}; curve in {out / 'lr_find.png'}")
        return 1
    print(
        f"suggested lr {res.suggestion:.3g} for {cfg['optimizer']}: {res.reason}. "
        f"Sweep: {len(res.lrs)} steps, {res.stop_reason}; curve in "
        f"{out / 'lr_find.png'}"
    )
    return 0
