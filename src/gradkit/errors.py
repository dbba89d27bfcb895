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


class ConfigTypeError(ConfigError, TypeError):
    """A setting of the wrong type (epochs=1.5, callbacks=5): a ConfigError, and a TypeError as
    Python's own error for it would be, so that code catching either still catches it."""


class NotCompiledError(ConfigError, RuntimeError):
    """fit or evaluate on a model that was never compiled; a RuntimeError as it was before
    gradkit gave it its own class, so that code catching that still catches it."""


class ModelPathError(ModelFileError, TypeError):
    """A model path that is not a path (None, a number); a TypeError as `open(None)`'s is."""
