"""One outer fold: fit, tune, score and log each strategy on the fold's rows.

`FoldRunner` owns a fold's validation rows, its per-fold caches (fits shared between strategies,
the GAN cache) and the child run's result; `pipeline.runner` orchestrates a launch around it.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from sklearn.base import clone

from models.classifier import (
    build_pipeline,
    category_cardinalities,
    for_refit,
    n_trees,
    rounds_policy,
    sampler_stats,
)
from models.errors import ConfigError, DataError
from models.gan import GANCache
from models.samplers import StrategyContext, build_strategy, strategy_kind
from pipeline import augment, evaluate, tracking
from pipeline.config import ExperimentConfig
from pipeline.data.schema import Schema
from pipeline.data.sources import Dataset
from pipeline.engines import engine_for
from pipeline.features import FeatureRules
from pipeline.selection import (
    Gain,
    WindowDraws,
    Windows,
    combine_trees,
    inner_windows,
    paired_gain,
)
from pipeline.split import Fold, FoldPlan, known_labels
from pipeline.tuning import SearchSpace, TrialRecord, parse_space, search

log = logging.getLogger(__name__)

UNTUNED_PREFIX = "untuned_"
IMPORTANCE_FILE = "feature_importance.csv"
"""A child's (and an export's) feature importance artifact (`FraudScorer.importance`)."""
IMPORTANCE_ROWS = 2_000
"""Most rows whose contributions make a feature importance: a random sample of the test fold."""


@dataclass
class Prepared:
    """The data of one experiment, ready for the folds: features, roles, and the folds."""

    dataset: Dataset
    frame: pd.DataFrame
    numeric: list[str]
    categorical: list[str]
    y: np.ndarray
    days: np.ndarray | None
    entity: np.ndarray | None
    amount: np.ndarray | None
    folds: FoldPlan
    rules: FeatureRules | None = None  # between the model's engineered input columns

    @property
    def schema(self) -> Schema:
        return self.dataset.schema

    @property
    def X(self) -> pd.DataFrame:
        return self.frame[self.categorical + self.numeric]


@dataclass
class ChildResult:
    """What one (strategy, fold, seed) child produced."""

    strategy: str
    kind: str
    fold: int
    seed: int
    metrics: dict[str, float]
    pr_curve: np.ndarray | None = None
    params: dict[str, Any] = field(default_factory=dict)
    history: list[TrialRecord] = field(default_factory=list)
    run_id: str | None = None
    status: str = tracking.FINISHED
    quality: Any = None  # pipeline.quality.QualityReport of a GAN child
    gan_history: dict[str, list[float]] = field(default_factory=dict)
    importance: pd.DataFrame | None = None  # FraudScorer.importance on the test fold's rows

    def row(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "kind": self.kind,
            "fold": self.fold,
            "seed": self.seed,
            **self.metrics,
        }


def space_for(cfg: ExperimentConfig, name: str, kind: str) -> SearchSpace:
    t = cfg.tuning
    sampler_space = t.sampler_space.get(name, t.sampler_space.get(kind, {}))
    return SearchSpace(
        classifier=tuple(parse_space(t.classifier_space, "tuning.classifier_space")),
        sampler=tuple(parse_space(sampler_space, f"tuning.sampler_space.{name}")),
    )


@dataclass
class _Fitted:
    """A fitted strategy: the model scored on the test fold and what the validation windows saw.

    One model per inner window (`pipeline.selection`) fits on the window's fit rows and is scored
    on its validation rows: `val_aps` holds each window's AUPRC (`val_ap` their mean), `p_val`
    the pooled predictions (in `FoldRunner.val_idx` order) that choose the threshold, and
    `window_trees` the number of trees each window's validation curve chose. `selection_pipe` is the
    first window's model; `pipe` is the model that is scored: the same one, or (with
    `validation.refit`) the refit on every row of the training fold with `trees` trees.
    """

    pipe: Any
    strategy: Any
    fit_seconds: float
    val_ap: float
    p_val: np.ndarray
    selection_pipe: Any = None
    resample_seconds: float = 0.0
    refit_seconds: float = 0.0
    val_aps: tuple[float, ...] = ()
    window_trees: tuple[int, ...] = ()

    @property
    def trees(self) -> int:
        """The number of trees of the refit: the windows' median choice."""
        return combine_trees(self.window_trees)

    def __post_init__(self) -> None:
        if self.selection_pipe is None:
            self.selection_pipe = self.pipe

    @property
    def refitted(self) -> bool:
        return self.pipe is not self.selection_pipe


@dataclass
class Tuned:
    """What the tuner kept in a fold (`FoldRunner.tune`), and the untuned setting it was held to."""

    fitted: _Fitted  # the kept fit: the best trial's, or the untuned setting's
    history: list[TrialRecord]
    params: dict[str, Any]  # the best trial's parameters; empty when the untuned setting is kept
    untuned: _Fitted  # the untuned setting's fit (a strategy that chooses: its choice's)
    choice: augment.Choice | None  # the untuned setting's choice (None: it does not choose)

    @property
    def kept_untuned(self) -> bool:
        return self.fitted is self.untuned


def fold_windows(
    cfg: ExperimentConfig,
    prepared: Prepared,
    fold: Fold,
    *,
    by_time: bool | None = None,
    name: str | None = None,
) -> Windows:
    """The inner validation windows of one outer fold, cut as the outer folds are (`by_time`
    overrides it); an error names the fold (or `name`)."""
    v = cfg.validation
    try:
        return inner_windows(
            prepared.frame,
            fold.train,
            prepared.schema,
            k=v.windows,
            fraction=v.fraction,
            gap_days=v.gap_days,
            seed=fold.seed,
            by_time=cfg.split.kind == "temporal" if by_time is None else by_time,
            labels=known_labels(prepared.y, fold),
        )
    except (ConfigError, DataError) as exc:
        where = name or f"outer fold {fold.fold} (seed {fold.seed})"
        later = ""
        if len(fold.unreported):
            later = (
                f"; {len(fold.unreported):,} of the fold's training frauds were reported after "
                "its test period starts (data.labels.reported_at) and train as legitimate: a "
                "longer split.gap_days leaves the weeks whose frauds are not yet reported out "
                "of training"
            )
        raise type(exc)(f"{where}: {exc}{later}") from None


RETRAINING = "the retraining on every row"


def retraining_windows(
    cfg: ExperimentConfig, prepared: Prepared, warnings: list[str]
) -> tuple[Fold, Windows]:
    """The fold of every row (no test fold) a champion retrains on, and its windows: the most
    recent periods when the data has time, whatever the experiment's folds, as the model goes on
    to score the transactions after them. When one of those periods holds no fraud and the
    experiment's folds were stratified, the windows are cut as the folds were, and the reason is
    added to `warnings`; after temporal folds that is a `DataError`."""
    everything = np.arange(len(prepared.frame), dtype=np.int64)
    fold = Fold(fold=0, seed=cfg.seed, train=everything, test=np.zeros(0, dtype=np.int64))
    try:
        return fold, fold_windows(cfg, prepared, fold, by_time=True, name=RETRAINING)
    except DataError as exc:
        if cfg.split.kind == "temporal":
            raise
        text = (
            f"{exc}. The retraining validates on stratified windows instead, as the "
            "experiment's folds were cut, so its threshold and number of trees are not chosen "
            "on the latest transactions"
        )
        warnings.append(text)
        return fold, fold_windows(cfg, prepared, fold, by_time=False, name=RETRAINING)


class FoldRunner:
    """Fits and scores strategies on one outer fold; the inner windows are cut once per fold.

    `fit_idx` are the rows every window fits on (the fold's GAN learns from them), `val_idx`
    every window's validation rows, window after window. The windows are cut as the outer folds
    are (`fold_windows`), unless given already cut (`runner.preflight`; the export's retraining,
    `retraining_windows`).
    """

    def __init__(
        self,
        cfg: ExperimentConfig,
        prepared: Prepared,
        fold: Fold,
        *,
        windows: Windows | None = None,
    ) -> None:
        self.cfg = cfg
        self.p = prepared
        self.fold = fold
        if windows is None:
            windows = fold_windows(cfg, prepared, fold)
        self.windows = windows
        self.fit_idx, self.val_idx = self.windows.shared, self.windows.val
        # the training rows' labels as reported by the test period's start; the test rows' final
        self.known = known = known_labels(prepared.y, fold)
        self.draws = WindowDraws([known[w.val] for w in self.windows], seed=fold.seed)
        X = prepared.X
        self.X_fit, self.y_fit = X.iloc[self.fit_idx], known[self.fit_idx]
        self.X_val, self.y_val = X.iloc[self.val_idx], known[self.val_idx]
        self.X_test, self.y_test = X.iloc[fold.test], prepared.y[fold.test]
        self.X_train, self.y_train = X.iloc[fold.train], known[fold.train]
        self.cardinalities = category_cardinalities(
            self.X_train, prepared.categorical, cfg.classifier.max_categories
        )
        self._fits: dict[Any, _Fitted] = {}
        self._refits: dict[str, tuple[Any, float, dict[str, float]]] = {}  # pipe, seconds, stats
        self.gains: dict[str, Gain] = {}  # per strategy: the tuned setting's gain over the untuned
        n_pos = int(self.y_fit.sum())
        self.ctx = StrategyContext(
            random_state=fold.seed,
            n_positive=n_pos,
            n_negative=len(self.y_fit) - n_pos,
            categorical_indices=tuple(range(len(prepared.categorical))),
            categorical=tuple(prepared.categorical),
            rules=prepared.rules,
            # one GAN per GAN setting and fold, trained on `fit_idx`, serves every fit of the fold
            gan_cache=GANCache(across_rows=True),
        )

    def xgb_params(self, strategy: Any, clf_overrides: dict[str, Any]) -> dict[str, Any]:
        """XGBoost parameters of one fit: the YAML's, the trial's, the strategy's, and the
        validation slice's choice of the number of trees (`ValidationConfig`)."""
        xgb = {**self.cfg.classifier.xgb_params(), **clf_overrides, **strategy.classifier_params}
        v = self.cfg.validation
        rounds = rounds_policy(
            xgb["n_estimators"],
            xgb.pop("early_stopping_rounds", None),
            min_trees_fraction=v.min_trees_fraction,
            patience_fraction=v.patience_fraction,
            smoothing_fraction=v.smoothing_fraction,
        )
        return {
            **xgb,
            "early_stopping_rounds": None,
            "callbacks": None if rounds is None else [rounds],
        }

    def _fit_engine(self, pipe: Any, X: Any, y: Any, X_val: Any = None, y_val: Any = None) -> None:
        engine_for(self.cfg).fit(pipe, X, y, X_val, y_val)

    def fit(self, name: str, params: dict[str, Any], clf_overrides: dict[str, Any]) -> _Fitted:
        """Fit one strategy in every inner window; each window's validation curve chooses its
        number of trees, and the refit's is their median (`selection.combine_trees`)."""
        strategy = build_strategy(name, params, self.ctx)
        pipe = build_pipeline(
            self.p.numeric,
            self.p.categorical,
            sampler=strategy.sampler,
            encoding=strategy.encoding,
            xgb_params=self.xgb_params(strategy, clf_overrides),
            cardinalities=self.cardinalities,
            random_state=self.fold.seed,
            keep_synthetic=strategy.family == "gan" and self.cfg.report.quality,
            sampler_first=strategy.sampler_first,
            synthetic_weight=strategy.synthetic_weight,
            max_categories=self.cfg.classifier.max_categories,
        )
        # Strategies that differ only after fitting (`threshold` vs `none`) share one fit, and
        # a tuner's untuned setting is fitted once.
        key = repr(pipe.get_params(deep=True))
        if key in self._fits:
            cached = self._fits[key]
            return dataclasses.replace(cached, strategy=strategy)
        start = time.perf_counter()
        if strategy.family == "gan" and strategy.sampler is not None and self.cfg.engine == "local":
            # (the Spark engine trains it on the driver, on a sample of the first fit's rows)
            self._train_gan(strategy.sampler)
        X, y = self.p.X, self.known
        # the fold's GAN training counts as this fit's resampling (nothing once cached)
        first, p_val, aps, trees, resample = None, [], [], [], time.perf_counter() - start
        for window in self.windows:
            model = pipe if first is None else clone(pipe)
            X_val, y_val = X.iloc[window.val], y[window.val]
            self._fit_engine(model, X.iloc[window.fit], y[window.fit], X_val, y_val)
            p_val.append(model.predict_proba(X_val)[:, 1])
            aps.append(evaluate.average_precision(y_val, p_val[-1]))
            trees.append(n_trees(model.named_steps["classifier"]))
            resample += sampler_stats(model)["resample_seconds"]
            first = model if first is None else first
        fitted = _Fitted(
            first,
            strategy,
            time.perf_counter() - start,
            float(np.mean(aps)),
            np.concatenate(p_val),
            resample_seconds=resample,
            val_aps=tuple(aps),
            window_trees=tuple(trees),
        )
        self._fits[key] = fitted
        return fitted

    def gain(self, candidate: _Fitted, default: _Fitted, compared: int = 1) -> Gain:
        """The noise rule's paired gain of one fit over another across the windows, with the
        validation rows' sampling bar (`selection.WindowDraws`)."""
        return paired_gain(
            candidate.val_aps,
            default.val_aps,
            compared=compared,
            sampling_error=self.draws.standard_error(candidate.p_val, default.p_val),
        )

    def _train_gan(self, sampler: Any) -> None:
        """Train the fold's GAN of this sampler's GAN setting on the rows every window fits on,
        unless the fold's cache holds it: every later fit of the fold (windows, trials, refit)
        draws from it, and no window scores a GAN that saw its validation rows."""
        clone(sampler).fit_synthesizer(self.X_fit, self.y_fit, {1: 1})

    def final(self, fitted: _Fitted) -> _Fitted:
        """The model to score: with `validation.refit`, `fitted` trained again on every row of the
        training fold with the windows' number of trees (resampled inside the pipeline, the GAN
        strategy drawing from the fold's GAN)."""
        if not self.cfg.validation.refit or fitted.refitted:
            return fitted
        key = repr(fitted.pipe.get_params(deep=True))
        if key not in self._refits:
            pipe = for_refit(fitted.pipe, trees=fitted.trees)
            start = time.perf_counter()
            self._fit_engine(pipe, self.X_train, self.y_train)
            self._refits[key] = (pipe, time.perf_counter() - start, sampler_stats(pipe))
        pipe, seconds, stats = self._refits[key]
        # a refit shared with another strategy (`threshold` and `none`; a choice that kept share
        # 0) is fitted once; each keeps the seconds of its own selection fits
        return dataclasses.replace(
            fitted,
            pipe=pipe,
            selection_pipe=fitted.pipe,
            fit_seconds=fitted.fit_seconds + seconds,
            resample_seconds=fitted.resample_seconds + stats["resample_seconds"],
            refit_seconds=seconds,
        )

    def threshold(self, fitted: _Fitted) -> float:
        """The decision threshold chosen by the YAML's policy on the windows' pooled predictions."""
        v = self.cfg.validation
        return evaluate.choose_threshold(
            self.y_val,
            fitted.p_val,
            policy=v.threshold_policy,
            target_fpr=v.target_fpr,
            alerts_per_day=v.alerts_per_day,
            days=None if self.p.days is None else self.p.days[self.val_idx],
        )

    def score(self, fitted: _Fitted) -> tuple[dict[str, float], np.ndarray]:
        """Test-fold metrics of a fitted strategy, its threshold chosen on validation data."""
        threshold = self.threshold(fitted)
        start = time.perf_counter()
        p_test = fitted.pipe.predict_proba(self.X_test)[:, 1]
        predict_seconds = time.perf_counter() - start
        test = self.fold.test
        metrics = evaluate.evaluate_predictions(
            self.y_test,
            p_test,
            threshold=threshold,
            decision_threshold=threshold if fitted.strategy.tune_decision_threshold else 0.5,
            amount=None if self.p.amount is None else self.p.amount[test],
            days=None if self.p.days is None else self.p.days[test],
            entity=None if self.p.entity is None else self.p.entity[test],
            k=self.cfg.report.k,
        )
        metrics.update(
            threshold=float(threshold),
            val_average_precision=fitted.val_ap,
            fit_seconds=fitted.fit_seconds - fitted.resample_seconds,
            refit_seconds=fitted.refit_seconds,
            predict_seconds=predict_seconds,
            n_trees=float(n_trees(fitted.pipe.named_steps["classifier"])),
            resample_seconds=fitted.resample_seconds,
            n_synthetic=sampler_stats(fitted.pipe)["n_synthetic"],
        )
        return metrics, evaluate.pr_curve_points(self.y_test, p_test)

    def importance(self, fitted: _Fitted) -> pd.DataFrame | None:
        """The scored model's feature importance on a random sample of at most `IMPORTANCE_ROWS`
        test rows, with the mean contributions over the test fold's fraud rows
        (`FraudScorer.importance`); None, with a warning, when it cannot be measured (a report:
        the child's results stand without it)."""
        from models.scorer import FraudScorer  # the pyfunc model: mlflow.pyfunc, when needed

        try:
            scorer = FraudScorer.from_pipeline(
                fitted.pipe,
                numeric=self.p.numeric,
                categorical=self.p.categorical,
                threshold=0.5,
                dtypes=self.p.X.dtypes.to_dict(),
            )
            return measured_importance(scorer, self.X_test, self.y_test, self.fold.seed)
        except (DataError, ValueError) as exc:
            log.warning(
                "fold %d seed %d: no feature importance (%s)", self.fold.fold, self.fold.seed, exc
            )
            return None

    def tune(self, name: str, params: dict[str, Any]) -> Tuned:
        """Search the strategy's space over the inner windows (`Tuned`: what was kept and why).

        Each trial is scored by its mean validation AUPRC over the windows (never the test fold).
        The best trial is kept only when its paired gain over the untuned setting exceeds the
        windows' noise for the best of the trials (`selection.paired_gain`); else a warning, and
        the untuned setting is kept. The untuned setting of a strategy that chooses its share
        (`pipeline.augment`) is its choice, so a tuned `cgan` falls back on share 0 as an
        untuned one does, not on a fixed share.
        """
        space = space_for(self.cfg, name, strategy_kind(name, params))
        fits: list[_Fitted] = []

        def objective(clf: dict[str, Any], smp: dict[str, Any]) -> float:
            fits.append(self.fit(name, {**params, **smp}, clf))
            return fits[-1].val_ap

        t = self.cfg.tuning
        history = search(
            space, objective, method=t.method, n_trials=t.n_trials, seed=self.fold.seed
        )
        best = max(history, key=lambda r: r.value)
        untuned, choice = augment.fit_choosing(self, name, params)
        # the best of len(history) trials: the noise rule's family (selection module docstring)
        gain = self.gain(fits[best.number], untuned, compared=len(history))
        self.gains[name] = gain
        if not gain.clear:
            log.warning(
                "%s fold %d seed %d: the best trial's validation gain over the untuned setting, "
                "%s, does not exceed the windows' noise; keeping the untuned setting",
                name,
                self.fold.fold,
                self.fold.seed,
                gain,
            )
            return Tuned(untuned, history, {}, untuned, choice)
        kept = {**best.classifier_params, **best.sampler_params}
        return Tuned(fits[best.number], history, kept, untuned, choice)

    def run(self, name: str, params: dict[str, Any]) -> ChildResult:
        """Fit (tuning inside the training fold when enabled) and score one strategy."""
        kind = strategy_kind(name, params)
        tuning = self.cfg.tuning
        untuned = None
        history: list[TrialRecord] = []
        chosen: dict[str, Any] = {}
        choice = None
        if tuning.enabled:  # the untuned setting (a choice, if the strategy chooses) to beat
            tuned = self.tune(name, params)
            fitted, history, chosen = tuned.fitted, tuned.history, tuned.params
            if tuned.kept_untuned:
                choice = tuned.choice
        else:
            fitted, choice = augment.fit_choosing(self, name, params)
        fitted = self.final(fitted)
        metrics, curve = self.score(fitted)
        importance = self.importance(fitted)
        if tuning.enabled and self.cfg.report.include_untuned:
            untuned = (
                dict(metrics) if tuned.kept_untuned else self.score(self.final(tuned.untuned))[0]
            )
        if choice is not None:
            metrics.update(choice.metrics())
            chosen = choice.log_params()
        quality = None
        gan_history: dict[str, list[float]] = {}
        synthesizer = _synthesizer(fitted.pipe)
        # share 0 kept: the fold's GAN trained all the same, for the choice; its rows' realism
        # is reported from the candidate that drew them (the scored model drew none)
        unused = None
        if synthesizer is None and choice is not None:
            unused = next((f for f in choice.fits if _synthesizer(f.pipe) is not None), None)
        shown = fitted if _appended(fitted) is not None else unused
        drawn = None if shown is None else _appended(shown)
        from pipeline.quality.assessment import MIN_ROWS as QUALITY_MIN_ROWS

        if drawn is not None and len(drawn) < QUALITY_MIN_ROWS:
            log.warning(
                "%s fold %d seed %d: the GAN appended %d row(s), fewer than the %d its quality "
                "report needs (the share asked for was near the fold's own minority/majority "
                "ratio): no report",
                name,
                self.fold.fold,
                self.fold.seed,
                len(drawn),
                QUALITY_MIN_ROWS,
            )
        elif drawn is not None:
            quality = gan_quality(self, shown, drawn)
            metrics.update(quality.metrics)
        if synthesizer is not None:
            synthesizer.log_to_mlflow("cgan")  # the generator (.keras), transformer and rules
            gan_history = dict(synthesizer.history_)
            # the refit trains the chosen epochs without tests: its tests are the selection GAN's
            chosen_by = _synthesizer(fitted.selection_pipe)
            if chosen_by is not None and "c2st_auc" not in gan_history:
                tests = ("c2st_epoch", "c2st_auc")
                gan_history |= {k: chosen_by.history_[k] for k in tests if k in chosen_by.history_}
            metrics.update(gan_metrics(synthesizer, fitted.pipe.named_steps["sampler"].sampler))
        elif unused is not None:
            spare = _synthesizer(unused.pipe)
            gan_history = dict(spare.history_)
            metrics.update(gan_metrics(spare))
        if untuned is not None:
            metrics.update({f"{UNTUNED_PREFIX}{k}": v for k, v in untuned.items()})
        if name in self.gains:
            gain = self.gains[name]
            metrics.update(tuning_gain=gain.mean, tuning_kept_untuned=float(not gain.clear))
            if np.isfinite(gain.standard_error):
                metrics["tuning_gain_se"] = gain.standard_error
            if np.isfinite(gain.sampling_error):
                metrics["tuning_gain_sampling_se"] = gain.sampling_error
        return ChildResult(
            strategy=name,
            kind=kind,
            fold=self.fold.fold,
            seed=self.fold.seed,
            metrics=metrics,
            pr_curve=curve,
            params={**{k: v for k, v in params.items() if k != "kind"}, **chosen},
            history=history,
            quality=quality,
            gan_history=gan_history,
            importance=importance,
        )


def measured_importance(scorer: Any, X: pd.DataFrame, y: np.ndarray, seed: int) -> pd.DataFrame:
    """`scorer`'s feature importance (`FraudScorer.importance`) on the rows `X` (all of them, or
    a random `IMPORTANCE_ROWS`), with the mean contributions over those labelled fraud in `y`."""
    rows = X
    if len(X) > IMPORTANCE_ROWS:
        pick = np.random.default_rng(seed).choice(len(X), IMPORTANCE_ROWS, replace=False)
        rows = X.iloc[np.sort(pick)]
    return scorer.importance(rows, fraud_rows=X[np.asarray(y) == 1])


def _appended(fitted: _Fitted) -> pd.DataFrame | None:
    """The rows a fit's sampler step appended (None: no sampler, or it appended none)."""
    return getattr(fitted.pipe.named_steps.get("sampler"), "appended_", None)


def _synthesizer(pipe: Any) -> Any:
    """The fitted GAN of a pipeline's sampler step, or None."""
    step = pipe.named_steps.get("sampler") if pipe is not None else None
    return getattr(getattr(step, "sampler", None), "synthesizer_", None)


def gan_series(history: dict[str, list[float]]) -> dict[str, tuple[list[int], list[float]]]:
    """A GAN's per-epoch losses and per-test two-sample AUCs as MLflow metric histories."""
    steps = {"c2st_auc": history.get("c2st_epoch", [])}
    return {
        f"{tracking.GAN_PREFIX}{key}": (steps.get(key, history.get("epoch", [])), values)
        for key, values in history.items()
        if key not in ("epoch", "c2st_epoch")
    }


def log_child(result: ChildResult, run_id: str) -> None:
    result.metrics = {tracking.metric_name(k): v for k, v in result.metrics.items()}
    tracking.log_metrics(run_id, result.metrics)
    if result.gan_history:
        tracking.log_series(run_id, gan_series(result.gan_history))
    tracking.log_params(run_id, result.params)
    if "choice" in result.params:  # what a strategy that chooses its share chose (pipeline.augment)
        tracking.set_tags(run_id, {"choice": result.params["choice"]})
    tracking.inherit_inputs(run_id)
    if result.pr_curve is not None:
        mlflow.log_dict(
            {
                "recall": np.linspace(0, 1, len(result.pr_curve)).tolist(),
                "precision": result.pr_curve.tolist(),
            },
            "pr_curve.json",
        )
    if result.importance is not None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / IMPORTANCE_FILE
            result.importance.to_csv(path, index=False)
            mlflow.log_artifact(str(path))
    if result.quality is not None:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            result.quality.to_html(out / "quality_report.html")
            result.quality.per_column.to_csv(out / "quality_per_column.csv", index=False)
            result.quality.save_pngs(out)
            mlflow.log_artifacts(str(out), artifact_path="quality")
        if result.quality.memorization_flag:
            log.warning(
                "%s fold %d: the GAN's rows look memorized: %s",
                result.strategy,
                result.fold,
                "; ".join(result.quality.memorization_reasons),
            )
    if result.history:
        mlflow.log_dict(
            [
                {
                    "trial": r.number,
                    "value": r.value,
                    "best_so_far": r.best_so_far,
                    "classifier": r.classifier_params,
                    "sampler": r.sampler_params,
                }
                for r in result.history
            ],
            "tuning_history.json",
        )
        client = mlflow.MlflowClient()
        now = int(time.time() * 1000)
        metrics = [
            mlflow.entities.Metric("tuning_best_so_far", r.best_so_far, now, r.number)
            for r in result.history
        ]
        tracking.retry(lambda: client.log_batch(run_id, metrics=metrics), what="logging history")


def gan_metrics(synthesizer: Any, sampler: Any = None) -> dict[str, float]:
    """What a GAN child logs about its generator: training and selection, and with the `sampler`
    that drew the rows the scored model used, the epoch drawn from and the rows kept by filters."""
    out = {
        "gan_best_epoch": float(synthesizer.best_epoch_),
        "gan_epochs_run": float(synthesizer.epochs_run_),
        "gan_train_seconds": float(synthesizer.train_seconds_),
        "gan_rows_per_second": float(synthesizer.rows_per_second_),
    }
    if sampler is not None:
        out |= {
            "gan_epoch_used": float(sampler.epoch_),
            "gan_generated": float(sampler.n_generated_),
            "gan_kept": float(sampler.n_kept_),
        }
    if synthesizer.c2st_auc_ is not None:
        out["gan_selected_c2st_auc"] = float(synthesizer.c2st_auc_)
    return out


MIN_PRIVACY_HOLDOUT_ROWS = 5  # fewer held-out rows give no 5th percentile worth the name


def privacy_rows(
    fr: FoldRunner, X: pd.DataFrame, y: np.ndarray, synthesizer: Any
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The real fraud rows of a GAN child's quality report, and the held-out ones its privacy
    measures compare with (None: the real rows themselves, each against the others).

    The reference must be exchangeable with the training rows: the memorization rule calls
    synthetic rows too close when more of them sit near a training row than unseen real rows do.
    In stratified folds the test fold's fraud rows are. In temporal folds they come from a later
    period and sit farther off (`benchmarks/results/privacy_reference.md`), so there the fraud
    rows the fold's GAN held out of its own training for model selection are the holdout (and
    leave the real rows). Where those are missing (a stratified test fold of fewer than
    `MIN_PRIVACY_HOLDOUT_ROWS` fraud rows; a GAN that held none out), the real rows leave one out.
    """
    real = X[y == 1]
    if fr.cfg.split.kind != "temporal":
        test = fr.X_test[fr.y_test == 1]
        return real, test if len(test) >= MIN_PRIVACY_HOLDOUT_ROWS else None
    held = getattr(synthesizer, "holdout_rows_", None)
    if (
        held is None
        or len(held) < MIN_PRIVACY_HOLDOUT_ROWS
        or getattr(synthesizer, "n_rows_", None) != len(fr.X_fit)  # it trained on other rows
    ):
        return real, None
    holdout = fr.X_fit.iloc[held]
    return real.drop(index=holdout.index, errors="ignore"), holdout


def gan_quality(fr: FoldRunner, fitted: _Fitted, synthetic: pd.DataFrame) -> Any:
    """The quality report of a GAN child: its synthetic fraud rows against the real fraud rows
    the scored model trained on, with real fraud rows no GAN saw as the holdout, or the real
    rows themselves (`privacy_rows`)."""
    from pipeline.quality import quality_report

    X, y = (fr.X_train, fr.y_train) if fitted.refitted else (fr.X_fit, fr.y_fit)
    real, holdout = privacy_rows(fr, X, y, _synthesizer(fitted.pipe))
    rules = fr.p.rules
    if rules is not None:
        log.debug("generated rows breaking a feature rule: %s", rules.violations(synthetic))
    report = quality_report(
        real,
        synthetic,
        categorical=fr.p.categorical,
        holdout=holdout,
        train_legit=X[y == 0],
        test=fr.X_test,
        test_label=fr.y_test,
        random_state=fr.fold.seed,
    )
    report.metrics["quality_holdout_training_period"] = float(
        holdout is None or fr.cfg.split.kind == "temporal"
    )
    if rules is not None:
        broken = rules.broken_rows(synthetic)
        report.metrics["quality_rule_violations"] = float(broken.sum())
        report.metrics["quality_rule_violation_share"] = (
            float(broken.mean()) if len(broken) else 0.0
        )
    return report
