"""Hyperparameter search spaces: parsing the YAML and drawing trials (Optuna TPE or a grid)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import optuna

from models.errors import ConfigError

optuna.logging.set_verbosity(optuna.logging.WARNING)


@dataclass(frozen=True)
class Dimension:
    """One searched parameter: a list of choices, or a numeric range."""

    name: str
    choices: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False

    def suggest(self, trial: optuna.Trial, prefix: str) -> Any:
        key = f"{prefix}{self.name}"
        if self.choices is not None:
            return trial.suggest_categorical(key, list(self.choices))
        if self.integer:
            return trial.suggest_int(key, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(key, float(self.low), float(self.high), log=self.log)


def parse_space(space: Mapping[str, Any], where: str) -> list[Dimension]:
    """`{param: [choices]}` or `{param: {low, high, log?, int?}}` into dimensions."""
    dims = []
    for name, spec in space.items():
        if isinstance(spec, list | tuple):
            if not spec:
                raise ConfigError(f"{where}.{name}: the list of choices is empty")
            dims.append(Dimension(name, choices=tuple(spec)))
        elif isinstance(spec, Mapping):
            unknown = set(spec) - {"low", "high", "log", "int"}
            if unknown or not {"low", "high"} <= set(spec):
                raise ConfigError(
                    f"{where}.{name}: a range needs `low` and `high` (optional `log`, `int`); "
                    f"got keys {sorted(spec)}"
                )
            low, high = spec["low"], spec["high"]
            if not isinstance(low, int | float) or not isinstance(high, int | float) or low > high:
                raise ConfigError(
                    f"{where}.{name}: need numbers with low <= high, got {low}, {high}"
                )
            integer = bool(spec.get("int", isinstance(low, int) and isinstance(high, int)))
            dims.append(
                Dimension(name, low=low, high=high, log=bool(spec.get("log")), integer=integer)
            )
        else:
            dims.append(Dimension(name, choices=(spec,)))
    return dims


@dataclass(frozen=True)
class SearchSpace:
    """The classifier's and one strategy's searched parameters."""

    classifier: tuple[Dimension, ...]
    sampler: tuple[Dimension, ...]

    @property
    def is_grid(self) -> bool:
        return all(d.choices is not None for d in (*self.classifier, *self.sampler))

    def grid(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """Every point of an all-lists space, in a fixed order."""
        dims = (*self.classifier, *self.sampler)
        points = []
        for values in itertools.product(*(d.choices for d in dims)):
            clf = {d.name: v for d, v in zip(self.classifier, values, strict=False)}
            smp = {
                d.name: v for d, v in zip(self.sampler, values[len(self.classifier) :], strict=True)
            }
            points.append((clf, smp))
        return points


TrialFn = Callable[[dict[str, Any], dict[str, Any]], float]


@dataclass
class TrialRecord:
    number: int
    value: float
    best_so_far: float
    classifier_params: dict[str, Any]
    sampler_params: dict[str, Any]


def search(
    space: SearchSpace, objective: TrialFn, *, method: str, n_trials: int, seed: int
) -> list[TrialRecord]:
    """Run up to `n_trials` trials maximizing `objective`; a grid runs its points in order."""
    history: list[TrialRecord] = []
    best = float("-inf")

    def record(clf: dict[str, Any], smp: dict[str, Any]) -> float:
        nonlocal best
        value = objective(clf, smp)
        best = max(best, value)
        history.append(TrialRecord(len(history), value, best, clf, smp))
        return value

    if method == "grid":
        if not space.is_grid:
            raise ConfigError("tuning.method is 'grid' but a searched parameter is a range")
        for clf, smp in space.grid()[:n_trials]:
            record(clf, smp)
        return history
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, n_trials))
    study = optuna.create_study(direction="maximize", sampler=sampler)

    def optuna_objective(trial: optuna.Trial) -> float:
        clf = {d.name: d.suggest(trial, "clf.") for d in space.classifier}
        smp = {d.name: d.suggest(trial, "smp.") for d in space.sampler}
        return record(clf, smp)

    study.optimize(optuna_objective, n_trials=n_trials)
    return history
