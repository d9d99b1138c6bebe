"""Exception types raised by descentlab.

Every error a user can trigger is one of these (or a plain ValueError/TypeError),
with a message that says who complained, what is allowed and what was received.
"""


class DescentlabError(Exception):
    """Base class of descentlab's own errors."""


class InvalidParameterError(DescentlabError, ValueError, TypeError):
    """A hyperparameter, argument or input array is out of its allowed range.

    Subclasses both ValueError and TypeError (as scikit-learn does), so callers
    can catch either.
    """


class ShapeError(InvalidParameterError):
    """An array has a shape a layer or function cannot accept."""


class CheckpointError(DescentlabError, ValueError):
    """A checkpoint file is truncated, foreign or does not match the model."""


class DataError(DescentlabError, ValueError):
    """A data file is corrupt, truncated or fails its checksum."""


class NonFiniteError(DescentlabError, FloatingPointError):
    """A loss or gradient became NaN or infinite."""


class MissingDependencyError(DescentlabError, ImportError):
    """An optional dependency (cupy, optuna, torch, ...) is not installed."""


class OutputExistsError(DescentlabError, FileExistsError):
    """The output folder exists and is not empty (pass overwrite=True / --overwrite)."""


class OutputLockedError(OutputExistsError):
    """Another process holds the output folder (its lock file names it)."""
