"""Training: `Sequential` (compile, fit, evaluate, predict), callbacks, metrics, checkpoints."""

from gradkit.train import callbacks, metrics
from gradkit.train.history import History
from gradkit.train.model import Sequential

Model = Sequential

__all__ = ["Sequential", "Model", "History", "callbacks", "metrics"]
