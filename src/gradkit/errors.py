"""Exceptions that gradkit raises at its boundaries (data, files, training)."""


class GradkitError(Exception):
    """Base class of gradkit's own errors."""


class DataError(GradkitError, ValueError):
    """Bad input data: the message names the file, column and row where it went wrong."""


class ModelFileError(GradkitError, ValueError):
    """A model or checkpoint file that gradkit refuses to load; the message says why."""


class ConfigError(GradkitError, ValueError):
    """A configuration (JSON file or command-line flags) that cannot be used as given."""


class TrainingDiverged(GradkitError, RuntimeError):
    """Training produced a non-finite loss or gradient; the weights were left as before that step."""


class InvalidParameterError(GradkitError, ValueError, TypeError):
    """An estimator parameter outside what it accepts; the message names it, what it accepts and
    what it got. A ValueError and a TypeError, as scikit-learn's error of the same name is."""
