"""The errors fraudgan raises for bad input: each message says what, where, and what was expected."""


class FraudganError(Exception):
    """Base class: the CLI prints the message of these without a traceback."""


class ConfigError(FraudganError, ValueError):
    """An experiment YAML or a --set override is invalid."""


class DataError(FraudganError, ValueError):
    """Input data is missing, unreadable or does not match its schema."""


class TrainingError(FraudganError, RuntimeError):
    """A model failed to train (diverging losses, too few rows of a class)."""
