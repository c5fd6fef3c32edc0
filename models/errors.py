"""The errors fraudgan raises for bad input: each message says what, where, and what was expected.

They live in `models`, the lower layer, so that both `models` and `pipeline` raise them.
"""

import difflib
from collections.abc import Iterable


class FraudganError(Exception):
    """Base class: the CLI prints the message of these without a traceback."""


class ConfigError(FraudganError, ValueError):
    """An experiment YAML or a --set override is invalid."""


class DataError(FraudganError, ValueError):
    """Input data is missing, unreadable or does not match its schema."""


class TrainingError(FraudganError, RuntimeError):
    """A model failed to train (diverging losses, too few rows of a class)."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' Did you mean 'x'?' for the closest of `choices` to a misspelt `word`, else ''."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""
