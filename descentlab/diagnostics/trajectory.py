"""A training run's path in weight space, projected on its top-2 PCA directions.

Given saved weights theta_0, ..., theta_T (e.g. one per epoch) the displacements
from the final weights, M = [theta_t - theta_T]_t (rows), are centred
(M_c = M - mean(M)) and decomposed, M_c = U S V^T. The two leading right singular
vectors v_1, v_2 (unit vectors in parameter space) are the directions along which
the path varies most; the explained variance ratio of v_k is
S_k^2 / sum_i S_i^2. Each point's coordinates are its displacement projected on
them, (theta_t - theta_T) . v_k, so the final weights sit at (0, 0) and a loss
surface drawn on (v_1, v_2) around theta_T holds the projected path.

Reference:
    Li, Xu, Taylor, Studer, Goldstein, "Visualizing the loss landscape of neural
    nets", NeurIPS 2018 (sec. 7).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import backend as B
from ..errors import InvalidParameterError
from ..nn.module import Module
from . import _params as P


@dataclass
class TrajectoryPCA:
    """directions (2, P) unit and orthogonal; coords (n, 2) with the last point at
    (0, 0); explained_variance_ratio (2,); origin: the final weights (P,)."""

    directions: np.ndarray
    coords: np.ndarray
    explained_variance_ratio: np.ndarray
    origin: np.ndarray


def parameter_vector(model: Module) -> np.ndarray:
    """The model's parameters as one float64 vector (order of ``parameters()``)."""
    return P.get_vector(P.check_model(model, "parameter_vector"))


def trajectory_pca(checkpoints: Sequence[Any]) -> TrajectoryPCA:
    """Top-2 PCA directions of a path of weights (see the module doc).

    Args:
        checkpoints: at least 3 points in order, the last being the final weights;
            each a flat parameter vector or a Module (its parameters are read).

    Raises:
        InvalidParameterError: fewer than 3 points, points of different sizes, or
            a path that does not move (all points equal).
    """
    owner = "trajectory_pca"
    points = list(checkpoints)
    if len(points) < 3:
        raise InvalidParameterError(
            f"{owner}: a trajectory needs at least 3 points (saved weights) for two "
            f"PCA directions. Got {len(points)}."
        )
    rows: list[np.ndarray] = []
    for i, pt in enumerate(points):
        vec = (
            parameter_vector(pt)
            if isinstance(pt, Module)
            else np.asarray(
                B.to_numpy(pt) if hasattr(pt, "shape") else pt, dtype=np.float64
            ).ravel()
        )
        if rows and vec.size != rows[0].size:
            raise InvalidParameterError(
                f"{owner}: point {i} has {vec.size} parameters but point 0 has "
                f"{rows[0].size}; all points must come from one model."
            )
        rows.append(vec)
    X = np.stack(rows)
    origin = X[-1].copy()
    M = X - origin
    Mc = M - M.mean(axis=0)
    _, S, Vt = np.linalg.svd(Mc, full_matrices=False)
    total = float(np.sum(S**2))
    if total == 0.0 or S.size < 2 or S[1] == 0.0:
        raise InvalidParameterError(
            f"{owner}: the points span fewer than 2 directions (the weights did not "
            "move, or moved along one line); there is no plane to project on."
        )
    directions = Vt[:2].copy()
    return TrajectoryPCA(
        directions=directions,
        coords=M @ directions.T,
        explained_variance_ratio=S[:2] ** 2 / total,
        origin=origin,
    )
