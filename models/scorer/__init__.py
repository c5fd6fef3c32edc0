"""The exported fraud scorer: the MLflow pyfunc model that `fraudgan export` logs.

- `model.py`: `FraudScorer`, the pyfunc model (scores, reason codes, importance, signature);
- `inputs.py`: the input checks, whose messages name the column and row;
- `layout.py`: the fitted preprocessing compiled into arrays, for fast scoring.

The exported model ships this package and `models/errors.py` as its code
(`pipeline.export.scorer_code_paths`): nothing here imports anything else of fraudgan. Models
exported before this package was split pickled `models.scorer.FraudScorer`, `.Layout` and
`.CategoricalBlock`: those names stay here so that they still load.
"""

from models.scorer.inputs import ScoringInputError, float32_problem
from models.scorer.layout import CategoricalBlock, Layout
from models.scorer.model import (
    ALERT,
    BIAS,
    FRAUD_CONTRIBUTION,
    N_REASONS,
    PROBABILITY,
    FraudScorer,
    platt_map,
    reason_columns,
)

__all__ = [
    "ALERT",
    "BIAS",
    "CategoricalBlock",
    "FRAUD_CONTRIBUTION",
    "N_REASONS",
    "PROBABILITY",
    "FraudScorer",
    "Layout",
    "ScoringInputError",
    "float32_problem",
    "platt_map",
    "reason_columns",
]
