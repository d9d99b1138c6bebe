"""Training: Trainer, History, callbacks, progress line and checkpoints."""

from .callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    LearningRateLogger,
    ModelCheckpoint,
    TerminateOnNaN,
)
from .checkpoint import load_checkpoint
from .history import History
from .progress import ProgressBar
from .trainer import Trainer

__all__ = [
    "CSVLogger",
    "Callback",
    "EarlyStopping",
    "History",
    "LearningRateLogger",
    "ModelCheckpoint",
    "ProgressBar",
    "TerminateOnNaN",
    "Trainer",
    "load_checkpoint",
]
