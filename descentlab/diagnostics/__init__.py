"""Instruments that look inside training: lr range test, loss landscape, sharpness.

Library code only (no CLI, no report). Parameters are seen as one flat float64
vector in the order of ``model.parameters()``; directions and Hessian-vector
products use that layout.

* :func:`lr_range_test` - exponential lr sweep, smoothed loss, suggested lr;
  restores model, optimizer and every RNG bit for bit.
* :func:`hvp`, :func:`top_hessian_eigenvalues` (Lanczos), :func:`hessian_trace`
  (Hutchinson) - curvature, on a float64 copy of the model in eval mode.
* :func:`random_direction` (filter-normalized), :func:`loss_line`,
  :func:`loss_surface`, :func:`interpolate` (with BN running statistics).
* :func:`trajectory_pca` - a run's saved weights on their top-2 PCA directions.
"""

from .hessian import (
    HessianEigen,
    HessianOperator,
    TraceEstimate,
    hessian_operator,
    hessian_trace,
    hvp,
    top_hessian_eigenvalues,
)
from .landscape import interpolate, loss_line, loss_surface, random_direction
from .lr_finder import LRRangeResult, lr_range_test
from .trajectory import TrajectoryPCA, parameter_vector, trajectory_pca

__all__ = [
    "HessianEigen",
    "HessianOperator",
    "LRRangeResult",
    "TraceEstimate",
    "TrajectoryPCA",
    "hessian_operator",
    "hessian_trace",
    "hvp",
    "interpolate",
    "loss_line",
    "loss_surface",
    "lr_range_test",
    "parameter_vector",
    "random_direction",
    "top_hessian_eigenvalues",
    "trajectory_pca",
]
