"""descentlab: a from-scratch deep-learning optimization laboratory on NumPy."""

__version__ = "0.1.0"


def load_run(path, checkpoint=None):  # noqa: ANN001, ANN201 (see descentlab.runs)
    """Load a ``descentlab train`` run folder: model (weights loaded, eval mode),
    config, history and result. See :func:`descentlab.runs.load_run`."""
    from .runs import load_run as _load_run

    return _load_run(path, checkpoint)
