"""Where the runner's pipelines are fitted: the engine interface, the engines, and the choice.

An engine fits an unfitted `models.classifier.build_pipeline` pipeline on the fit rows (the
validation rows, when given, choose the number of trees) and refuses, before any work, the
strategies it cannot run. `engine_for` builds the engine an experiment's `engine:` names, and
imports its module only then: the runner never imports Spark.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pandas as pd

from models.classifier import FraudPipeline, fit_pipeline

if TYPE_CHECKING:
    from pipeline.config import ExperimentConfig

ENGINES = {
    "local": "pipeline.engines:LocalEngine",
    "spark": "pipeline.spark:SparkEngine",
}
"""Engine name (`engine:` in the YAML) -> the `module:class` that implements it."""


class Engine(Protocol):
    """How the runner fits every pipeline of an experiment."""

    def check(self, cfg: ExperimentConfig) -> None:
        """Raise `ConfigError` for a strategy of `cfg` that this engine cannot run."""
        ...

    def fit(
        self,
        pipe: FraudPipeline,
        X_fit: pd.DataFrame,
        y_fit: np.ndarray,
        X_val: pd.DataFrame | None = None,
        y_val: np.ndarray | None = None,
    ) -> FraudPipeline:
        """Fit `pipe` on the fit rows (the validation rows choose the trees); returns `pipe`."""
        ...


class LocalEngine:
    """Fits in this process: `fit` is `models.classifier.fit_pipeline`. Runs every strategy."""

    fit = staticmethod(fit_pipeline)

    def __init__(self, cfg: ExperimentConfig) -> None:
        del cfg  # nothing to set up

    def check(self, cfg: ExperimentConfig) -> None:
        """Every strategy runs locally."""


def engine_for(cfg: ExperimentConfig) -> Engine:
    """The engine `cfg.engine` names, set up from `cfg`."""
    module, _, name = ENGINES[cfg.engine].partition(":")
    engine: Engine = getattr(importlib.import_module(module), name)(cfg)
    return engine
