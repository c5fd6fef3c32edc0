"""The experiment runner: every strategy on the same folds and seeds, tracked in MLflow."""

from __future__ import annotations

import dataclasses
import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import yaml

from models.classifier import (
    build_pipeline,
    category_cardinalities,
    for_refit,
    n_trees,
    rounds_policy,
    sampler_stats,
)
from models.errors import ConfigError, FraudganError
from models.gan import GANCache
from models.samplers import REGISTRY, StrategyContext, build_strategy, strategy_kind
from pipeline import descriptions, evaluate, report, tracking
from pipeline.config import ExperimentConfig
from pipeline.data.schema import Schema
from pipeline.data.sources import Dataset, build_source
from pipeline.engines import engine_for
from pipeline.features import FeatureRules, build_features, feature_columns, feature_rules
from pipeline.split import Fold, stratified_folds, temporal_folds, validation_slice
from pipeline.tuning import SearchSpace, TrialRecord, parse_space, search

log = logging.getLogger(__name__)

UNTUNED_PREFIX = "untuned_"


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
    folds: list[Fold]
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

    def row(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "kind": self.kind,
            "fold": self.fold,
            "seed": self.seed,
            **self.metrics,
        }


@dataclass
class ExperimentResult:
    """A finished launch: the parent run, the per-child results and the comparison."""

    parent_run_id: str
    experiment_name: str
    results: pd.DataFrame
    comparison: report.Comparison
    failed: list[str]


def _days(frame: pd.DataFrame, schema: Schema) -> np.ndarray | None:
    if schema.time is None or schema.time not in frame:
        return None
    t = frame[schema.time]
    if schema.time_unit == "seconds":
        return (pd.to_numeric(t).to_numpy() // 86_400).astype(np.int64)
    return t.dt.floor("D").astype("int64").to_numpy() // 86_400_000_000_000


def prepare(cfg: ExperimentConfig) -> Prepared:
    """Load and validate the data, build features and the outer folds."""
    d = cfg.data
    if d.kind == "simulator":
        source = build_source(
            "simulator", rows=d.rows, days=d.days, seed=d.seed, fraud_rate=d.fraud_rate
        )
    else:
        schema = None
        if d.schema_ is not None:
            schema = {k: v for k, v in d.schema_.model_dump().items() if v is not None}
        source = build_source(d.kind, path=str(d.resolved_path()), preset=d.preset, schema=schema)
    dataset = source.load()
    schema = dataset.schema
    frame = dataset.frame
    if cfg.features.enabled:
        frame = build_features(
            frame,
            schema,
            label_delay_days=cfg.features.label_delay_days,
            windows_days=tuple(cfg.features.windows_days),
        )
    numeric, categorical = feature_columns(frame, schema)
    y = frame[schema.label].to_numpy().astype(np.int8)
    s = cfg.split
    if s.kind == "stratified":
        folds = stratified_folds(y, n_splits=s.n_splits, seeds=tuple(s.seeds))
    else:
        if schema.time is None:
            raise ConfigError("split.kind is 'temporal' but the data has no time column")
        folds = temporal_folds(
            frame[schema.time].to_numpy(),
            train_days=s.train_days,
            gap_days=s.gap_days,
            test_days=s.test_days,
            n_folds=s.n_folds,
            step_days=s.step_days,
            entity=None if schema.entity is None else frame[schema.entity].to_numpy(),
            y=y,
            exclude_known_compromised=s.exclude_known_compromised,
            label_delay_days=cfg.features.label_delay_days,
        )
    return Prepared(
        dataset=dataset,
        frame=frame,
        numeric=numeric,
        categorical=categorical,
        y=y,
        days=_days(frame, schema),
        entity=None if schema.entity is None else frame[schema.entity].to_numpy(),
        amount=None if schema.amount is None else frame[schema.amount].to_numpy(dtype=float),
        folds=folds,
        rules=feature_rules(
            categorical + numeric, amount=schema.amount, windows_days=cfg.features.windows_days
        ),
    )


def check_strategies(cfg: ExperimentConfig, prepared: Prepared) -> None:
    """Fail before any work when a strategy cannot run on this data (e.g. SMOTENC, no categoricals)
    or on the experiment's engine (e.g. the SMOTE family on Spark)."""
    engine_for(cfg).check(cfg)
    for name, params in cfg.strategies.items():
        if REGISTRY[strategy_kind(name, params)].needs_categorical and not prepared.categorical:
            raise ConfigError(
                f"strategy {name!r} needs categorical columns and the data has none; "
                "remove it or declare categorical columns in data.schema"
            )


def space_for(cfg: ExperimentConfig, name: str, kind: str) -> SearchSpace:
    t = cfg.tuning
    sampler_space = t.sampler_space.get(name, t.sampler_space.get(kind, {}))
    return SearchSpace(
        classifier=tuple(parse_space(t.classifier_space, "tuning.classifier_space")),
        sampler=tuple(parse_space(sampler_space, f"tuning.sampler_space.{name}")),
    )


@dataclass
class _Fitted:
    """A fitted strategy: the model scored on the test fold and what the validation slice saw.

    `selection_pipe` is the model fitted on the fit rows, whose validation probabilities `p_val`
    chose the number of trees and the threshold; `pipe` is the model that is scored: the same
    one, or (with `validation.refit`) its refit on every row of the training fold.
    """

    pipe: Any
    strategy: Any
    fit_seconds: float
    val_ap: float
    p_val: np.ndarray
    selection_pipe: Any = None
    resample_seconds: float = 0.0
    refit_seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.selection_pipe is None:
            self.selection_pipe = self.pipe

    @property
    def refitted(self) -> bool:
        return self.pipe is not self.selection_pipe


class FoldRunner:
    """Fits and scores strategies on one outer fold; the validation slice is cut once per fold."""

    def __init__(self, cfg: ExperimentConfig, prepared: Prepared, fold: Fold) -> None:
        self.cfg = cfg
        self.p = prepared
        self.fold = fold
        v = cfg.validation
        self.fit_idx, self.val_idx = validation_slice(
            prepared.frame,
            fold.train,
            prepared.schema,
            fraction=v.fraction,
            gap_days=v.gap_days,
            seed=fold.seed,
        )
        X = prepared.X
        self.X_fit, self.y_fit = X.iloc[self.fit_idx], prepared.y[self.fit_idx]
        self.X_val, self.y_val = X.iloc[self.val_idx], prepared.y[self.val_idx]
        self.X_test, self.y_test = X.iloc[fold.test], prepared.y[fold.test]
        self.X_train, self.y_train = X.iloc[fold.train], prepared.y[fold.train]
        self.cardinalities = category_cardinalities(self.X_fit, prepared.categorical)
        self._fits: dict[Any, _Fitted] = {}
        n_pos = int(self.y_fit.sum())
        self.ctx = StrategyContext(
            random_state=fold.seed,
            n_positive=n_pos,
            n_negative=len(self.y_fit) - n_pos,
            categorical_indices=tuple(range(len(prepared.categorical))),
            categorical=tuple(prepared.categorical),
            rules=prepared.rules,
            gan_cache=GANCache(),
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
        """Fit one strategy on the fit rows; the validation slice chooses its number of trees."""
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
        )
        # Strategies that differ only after fitting (`threshold` vs `none`) share one fit.
        key = repr(pipe.get_params(deep=True))
        if key in self._fits:
            cached = self._fits[key]
            return dataclasses.replace(cached, strategy=strategy)
        start = time.perf_counter()
        self._fit_engine(pipe, self.X_fit, self.y_fit, self.X_val, self.y_val)
        seconds = time.perf_counter() - start
        p_val = pipe.predict_proba(self.X_val)[:, 1]
        fitted = _Fitted(
            pipe,
            strategy,
            seconds,
            evaluate.average_precision(self.y_val, p_val),
            p_val,
            resample_seconds=sampler_stats(pipe)["resample_seconds"],
        )
        if strategy.sampler is None:
            self._fits[key] = fitted
        return fitted

    def final(self, fitted: _Fitted) -> _Fitted:
        """The model to score: with `validation.refit`, `fitted` trained again on every row of the
        training fold with the trees it kept (resampled inside the pipeline, as before)."""
        if not self.cfg.validation.refit or fitted.refitted:
            return fitted
        key = ("refit", repr(fitted.pipe.get_params(deep=True)))
        if key in self._fits:
            return dataclasses.replace(self._fits[key], strategy=fitted.strategy)
        pipe = for_refit(fitted.pipe)
        start = time.perf_counter()
        self._fit_engine(pipe, self.X_train, self.y_train)
        seconds = time.perf_counter() - start
        refit = dataclasses.replace(
            fitted,
            pipe=pipe,
            selection_pipe=fitted.pipe,
            fit_seconds=fitted.fit_seconds + seconds,
            resample_seconds=fitted.resample_seconds + sampler_stats(pipe)["resample_seconds"],
            refit_seconds=seconds,
        )
        if fitted.strategy.sampler is None:
            self._fits[key] = refit
        return refit

    def threshold(self, fitted: _Fitted) -> float:
        """The decision threshold chosen on the validation slice by the YAML's policy."""
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

    def tune(
        self, name: str, params: dict[str, Any]
    ) -> tuple[_Fitted, list[TrialRecord], dict[str, Any]]:
        """Search the strategy's space on the validation slice; the best fit, history, choice.

        The best trial's model is the tuned model: trained on the fit rows with the same validation
        rows for early stopping as every other strategy, never on the test fold.
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
        return fits[best.number], history, {**best.classifier_params, **best.sampler_params}

    def run(self, name: str, params: dict[str, Any]) -> ChildResult:
        """Fit (tuning inside the training fold when enabled) and score one strategy."""
        kind = strategy_kind(name, params)
        tuning = self.cfg.tuning
        untuned = None
        history: list[TrialRecord] = []
        chosen: dict[str, Any] = {}
        if tuning.enabled:
            fitted, history, chosen = self.tune(name, params)
            if self.cfg.report.include_untuned:
                untuned, _ = self.score(self.final(self.fit(name, params, {})))
        else:
            fitted = self.fit(name, params, {})
        fitted = self.final(fitted)
        metrics, curve = self.score(fitted)
        quality = None
        gan_history: dict[str, list[float]] = {}
        sampler_step = fitted.pipe.named_steps.get("sampler")
        if sampler_step is not None and getattr(sampler_step, "appended_", None) is not None:
            quality = gan_quality(self, fitted, sampler_step.appended_)
            metrics.update(quality.metrics)
        synthesizer = _synthesizer(fitted.pipe)
        if synthesizer is not None:
            synthesizer.log_to_mlflow("cgan")  # the generator (.keras), transformer and rules
            gan_history = dict(synthesizer.history_)
            # the refit trains the chosen epochs without tests: its tests are the selection GAN's
            chosen_by = _synthesizer(fitted.selection_pipe)
            if chosen_by is not None and "c2st_auc" not in gan_history:
                tests = ("c2st_epoch", "c2st_auc")
                gan_history |= {k: chosen_by.history_[k] for k in tests if k in chosen_by.history_}
            metrics.update(gan_metrics(synthesizer, sampler_step.sampler))
        if untuned is not None:
            metrics.update({f"{UNTUNED_PREFIX}{k}": v for k, v in untuned.items()})
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
        )


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


def _log_child(result: ChildResult, run_id: str) -> None:
    result.metrics = {tracking.metric_name(k): v for k, v in result.metrics.items()}
    tracking.log_metrics(run_id, result.metrics)
    if result.gan_history:
        tracking.log_series(run_id, gan_series(result.gan_history))
    tracking.log_params(run_id, result.params)
    tracking.inherit_inputs(run_id)
    if result.pr_curve is not None:
        mlflow.log_dict(
            {
                "recall": np.linspace(0, 1, len(result.pr_curve)).tolist(),
                "precision": result.pr_curve.tolist(),
            },
            "pr_curve.json",
        )
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


def _resumed_results(parent_run_id: str) -> dict[tuple[str, int, int], ChildResult]:
    """Finished children of an earlier launch, keyed by (strategy, fold, seed)."""
    done: dict[tuple[str, int, int], ChildResult] = {}
    client = mlflow.MlflowClient()
    for run in tracking.child_runs(parent_run_id):
        tags = run.data.tags
        if run.info.status != tracking.FINISHED or tracking.TAG_STRATEGY not in tags:
            continue
        key = (
            tags[tracking.TAG_STRATEGY],
            int(tags[tracking.TAG_FOLD]),
            int(tags[tracking.TAG_SEED]),
        )
        curve = None
        try:
            path = client.download_artifacts(run.info.run_id, "pr_curve.json")
            curve = np.asarray(yaml.safe_load(Path(path).read_text())["precision"])
        except Exception:  # a missing curve only drops it from the plot
            log.warning("run %s has no PR curve artifact", run.info.run_id)
        done[key] = ChildResult(
            strategy=key[0],
            kind=tags.get(tracking.TAG_STRATEGY_KIND, key[0]),
            fold=key[1],
            seed=key[2],
            metrics=dict(run.data.metrics),
            pr_curve=curve,
            run_id=run.info.run_id,
        )
    return done


def results_frame(results: list[ChildResult]) -> pd.DataFrame:
    """One row per finished child: strategy, kind, fold, seed and its metrics."""
    return pd.DataFrame([r.row() for r in results])


def build_comparison(frame: pd.DataFrame, cfg: ExperimentConfig) -> report.Comparison:
    """The comparison table of finished children."""
    s = cfg.split
    # Folds share training rows; the corrected resampled t-test (Nadeau & Bengio) accounts for it.
    ratio = 1 / (s.n_splits - 1) if s.kind == "stratified" else s.test_days / s.train_days
    return report.compare(
        frame,
        baseline="none",
        reference=cfg.report.reference,
        metric=cfg.report.metric,
        test_train_ratio=ratio,
    )


def mean_pr_curves(results: list[ChildResult]) -> dict[str, np.ndarray]:
    """Per strategy, the mean of its children's interpolated PR curves."""
    curves: dict[str, list[np.ndarray]] = {}
    for r in results:
        if r.pr_curve is not None:
            curves.setdefault(r.strategy, []).append(np.asarray(r.pr_curve))
    return {k: np.mean(np.vstack(v), axis=0) for k, v in curves.items()}


def _tuning_table(frame: pd.DataFrame, metric: str) -> tuple[list[str], list[list[str]]] | None:
    """(header, rows): each strategy's metric untuned and tuned, or None without tuning."""
    col = f"{UNTUNED_PREFIX}{metric}"
    if col not in frame:
        return None
    g = frame.groupby("strategy")[[metric, col]].agg(["mean", "std"])
    rows = []
    for strategy, r in g.iterrows():
        tuned_m, tuned_s = r[(metric, "mean")], r[(metric, "std")]
        base_m, base_s = r[(col, "mean")], r[(col, "std")]
        rows.append(
            [
                str(strategy),
                f"{base_m:.4f} ± {base_s:.4f}",
                f"{tuned_m:.4f} ± {tuned_s:.4f}",
                f"{tuned_m - base_m:+.4f}",
            ]
        )
    return ["strategy", f"untuned {metric}", f"tuned {metric}", "change"], rows


def gan_loss_figure(results: list[ChildResult]) -> Any:
    """Every GAN child's per-epoch critic and generator losses (a matplotlib Figure), or None."""
    runs = [r for r in results if r.gan_history.get("epoch")]
    if not runs:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(10, 3.5))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    for r in runs:
        label = f"{r.strategy} f{r.fold} s{r.seed}"
        h = r.gan_history
        for ax, key in zip(axes, ("d_loss", "g_loss"), strict=True):
            if key in h:
                ax.plot(h["epoch"], h[key], label=label, linewidth=1)
    for ax, title in zip(axes, ("critic loss", "generator loss"), strict=True):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def _log_parent_report(
    run_id: str, cfg: ExperimentConfig, results: list[ChildResult]
) -> report.Comparison:
    frame = results_frame(results)
    comparison = build_comparison(frame, cfg)
    curves = mean_pr_curves(results)
    tables, figures = {}, {}
    tuning = _tuning_table(frame, cfg.report.metric)
    if tuning is not None:
        tables["Effect of tuning (mean ± std over folds × seeds)"] = tuning
    losses = gan_loss_figure(results)
    if losses is not None:
        figures["GAN training: critic and generator losses per epoch"] = losses
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        frame.to_csv(out / "results.csv", index=False)
        comparison.to_csv(out / "comparison.csv")
        (out / "comparison.md").write_text(comparison.to_markdown() + "\n")
        report.write_html_report(
            comparison,
            out / "report.html",
            pr_curves=curves,
            extra_tables=tables,
            extra_figures=figures,
        )
        mlflow.log_artifacts(str(out), artifact_path="comparison")
        figures = out / "figures"
        figures.mkdir()
        report.save_figures(comparison, figures, pr_curves=curves)
        mlflow.log_artifacts(str(figures), artifact_path="comparison/figures")
    experiment = mlflow.get_run(run_id).info.experiment_id
    _log_summary_runs(experiment, run_id, comparison)
    view = _share_summary_view(experiment, run_id, comparison)
    description = descriptions.parent_description(comparison, experiment, run_id, view)
    tracking.set_tags(run_id, {tracking.TAG_DESCRIPTION: description})
    return comparison


SUMMARY_RUN_SUFFIX = "-summary"


def summary_metrics(comparison: report.Comparison, strategy: str) -> dict[str, float]:
    """A strategy's summary-run metrics: its means under the fold runs' names, the interval
    bounds of the shown metrics (clipped to the metric's range), the paired differences with
    their Holm-adjusted p-values."""
    c, row = comparison, comparison.row(strategy)
    out: dict[str, float] = {"n": float(row["n"])}
    for m in c.display_metrics():
        lo, hi = report.metric_range(m)
        out[m] = row[f"{m}_mean"]
        out[tracking.CI_LOW_PREFIX + m] = max(row[f"{m}_ci_low"], lo)
        out[tracking.CI_HIGH_PREFIX + m] = min(row[f"{m}_ci_high"], hi)
    extra = [report.TREES, report.SELECTION_METRIC, *c.timing_metrics(), *c.quality_metrics()]
    extra += [m for m in c.metrics() if m.startswith(tracking.GAN_PREFIX)]
    for m in extra:
        if f"{m}_mean" in row:
            out[m] = row[f"{m}_mean"]
    for vs in (report.VS_BASELINE, report.VS_REFERENCE):
        out[tracking.DELTA_PREFIX + vs] = row[f"{vs}_diff"]
        out[tracking.P_HOLM_PREFIX + vs] = row[f"{vs}_p"]
    return {k: float(f"{float(v):.4g}") for k, v in out.items()}


def _log_summary_runs(experiment: str, parent_id: str, comparison: report.Comparison) -> None:
    """One child run per strategy carrying its summary, replacing those of an earlier attempt."""
    client = mlflow.MlflowClient()
    for old in tracking.child_runs(parent_id, tracking.RUN_SUMMARY):
        tracking.retry(lambda r=old: client.delete_run(r.info.run_id), what="deleting a run")
    for _, row in comparison.table.iterrows():
        strategy = str(row["strategy"])
        child = tracking.start_child(
            experiment,
            parent_id,
            strategy + SUMMARY_RUN_SUFFIX,
            {
                tracking.TAG_STRATEGY: strategy,
                tracking.TAG_STRATEGY_KIND: row["kind"],
                tracking.TAG_LAUNCH: parent_id,
                tracking.TAG_VS_BASELINE: comparison.pair_cell(row, report.VS_BASELINE),
                tracking.TAG_VS_REFERENCE: comparison.pair_cell(row, report.VS_REFERENCE),
                tracking.TAG_DESCRIPTION: descriptions.summary_description(
                    comparison, strategy, experiment, parent_id
                ),
            },
            run_type=tracking.RUN_SUMMARY,
        )
        try:
            metrics = summary_metrics(comparison, strategy)
            tracking.log_metrics(
                child.info.run_id, descriptions.headline_metrics(comparison, metrics)
            )
            tracking.inherit_inputs(child.info.run_id)
        finally:
            tracking.end_active(tracking.FINISHED)


def _share_summary_view(experiment: str, parent_id: str, comparison: report.Comparison) -> str:
    """Store the UI view of one launch (its parent and summary runs, best first) and name it."""
    c = comparison
    metric = c.metric
    headline = [
        metric,
        tracking.DELTA_PREFIX + report.VS_BASELINE,
        tracking.DELTA_PREFIX + report.VS_REFERENCE,
        *c.display_metrics()[1:],
        report.TREES,
        "resample_seconds",
    ]
    columns = [f"metrics.`{m}`" for m in (metric, tracking.CI_LOW_PREFIX + metric)]
    columns += [f"metrics.`{tracking.CI_HIGH_PREFIX}{metric}`"]
    columns += [f"tags.`{t}`" for t in (tracking.TAG_VS_BASELINE, tracking.TAG_VS_REFERENCE)]
    columns += [f"metrics.`{m}`" for m in (*c.display_metrics()[1:2], report.TREES)]
    columns += ["metrics.`resample_seconds`", "metrics.`n`"]
    section = "fraudgan-strategies"
    key = tracking.summary_view_key(parent_id)
    tracking.share_view(
        experiment,
        key,
        {
            "searchFilter": f"tags.`{tracking.TAG_LAUNCH}` = '{parent_id}'",
            "orderByKey": f"metrics.`{metric}`",
            "orderByAsc": report.lower_is_better(metric),
            "selectedColumns": columns,
            "columnOrder": columns,
            "columnWidths": {c: 190 if c.startswith("tags.") else 110 for c in columns},
            "runsHiddenMode": "SHOW_ALL",
            "compareRunSections": [
                {
                    "uuid": section,
                    "name": "Strategies: mean over folds × seeds",
                    "display": True,
                    "isReordered": False,
                }
            ],
            "compareRunCharts": [
                {
                    "uuid": f"fraudgan-{m}",
                    "type": "BAR",
                    "metricSectionId": section,
                    "isGenerated": False,
                    "deleted": False,
                    "metricKey": m,
                    "runsCountToCompare": 100,
                }
                for m in headline
            ],
            "isAccordionReordered": True,
        },
    )
    return key


@contextmanager
def _parent_run(
    cfg: ExperimentConfig, prepared: Prepared, resume: str | None
) -> Iterator[tuple[str, str]]:
    exp_id = tracking.experiment_id(cfg.name)
    if resume:
        parent = tracking.get_parent_run(resume)
        if parent.data.tags.get(tracking.TAG_CONFIG_HASH) != cfg.config_hash():
            raise ConfigError(
                f"--resume {resume}: that run used a different configuration "
                f"(hash {parent.data.tags.get(tracking.TAG_CONFIG_HASH)} vs {cfg.config_hash()}); "
                "resume with the same YAML and --set options"
            )
        # a caller's active experiment (set_experiment, MLFLOW_EXPERIMENT_*) must not refuse it
        mlflow.set_experiment(experiment_id=parent.info.experiment_id)
        run = mlflow.start_run(run_id=resume)
    else:
        run = tracking.retry(
            lambda: mlflow.start_run(
                experiment_id=exp_id,
                run_name=f"{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}",
                tags={tracking.TAG_RUN_TYPE: tracking.RUN_EXPERIMENT},
            ),
            what="starting the parent run",
        )
    run_id = run.info.run_id
    try:
        if not resume:
            _log_parent_setup(run_id, cfg, prepared)
        yield run_id, exp_id
    except KeyboardInterrupt:
        tracking.end_active(tracking.KILLED)
        raise
    except BaseException:
        tracking.end_active(tracking.FAILED)
        raise
    else:
        tracking.end_active(tracking.FINISHED)


def _log_parent_setup(run_id: str, cfg: ExperimentConfig, prepared: Prepared) -> None:
    ds = prepared.dataset
    tracking.set_tags(
        run_id,
        {
            tracking.TAG_CONFIG_HASH: cfg.config_hash(),
            tracking.TAG_GIT_COMMIT: tracking.git_commit(),
            tracking.TAG_DATA_DIGEST: ds.digest,
            tracking.TAG_DATA_NAME: ds.name,
            tracking.TAG_LAUNCH: run_id,
        },
    )
    tracking.log_params(
        run_id,
        {
            "data.rows": len(prepared.frame),
            "data.positives": int(prepared.y.sum()),
            "data.duplicates_dropped": ds.n_duplicates_dropped,
            "features.numeric": len(prepared.numeric),
            "features.categorical": len(prepared.categorical),
            "split.kind": cfg.split.kind,
            "split.folds": len(prepared.folds),
            "strategies": ",".join(cfg.strategies),
            "tuning.enabled": cfg.tuning.enabled,
            "tuning.n_trials": cfg.tuning.n_trials if cfg.tuning.enabled else 0,
        },
    )
    mlflow.log_dict(cfg.model_dump(mode="json", by_alias=True), "config.yaml")
    mlflow.log_input(tracking.dataset_input(ds), context="training")


ProgressFn = Callable[[str], None]


def run_experiment(
    cfg: ExperimentConfig,
    *,
    resume: str | None = None,
    on_child_done: ProgressFn | None = None,
    on_start: Callable[[int], None] | None = None,
) -> ExperimentResult:
    """Run every strategy on every fold, log everything, and return the comparison.

    `resume`: the parent run id of an earlier launch; its finished children are reused. One
    resume of a parent at a time (`tracking.resume_lock`).
    """
    tracking.setup()
    if resume is None:
        return _run_experiment(cfg, None, on_child_done, on_start)
    tracking.get_parent_run(resume)  # an unknown id is a clear error, before any work
    with tracking.resume_lock(resume):
        return _run_experiment(cfg, resume, on_child_done, on_start)


def _run_experiment(
    cfg: ExperimentConfig,
    resume: str | None,
    on_child_done: ProgressFn | None,
    on_start: Callable[[int], None] | None,
) -> ExperimentResult:
    prepared = prepare(cfg)
    check_strategies(cfg, prepared)
    noise = report.few_positives_warning(prepared.y, [f.test for f in prepared.folds])
    if noise:
        log.warning(noise)
    done = _resumed_results(resume) if resume else {}
    if resume:
        tracking.close_orphaned_children(resume)
    jobs = [(fold, name) for fold in prepared.folds for name in cfg.strategies]
    if on_start is not None:
        on_start(len(jobs))
    results: list[ChildResult] = []
    failed: list[str] = []
    with _parent_run(cfg, prepared, resume) as (parent_id, exp_id):
        log.info("parent run %s (%d children)", parent_id, len(jobs))
        fold_runner: FoldRunner | None = None
        for fold, name in jobs:
            label = f"{name} fold={fold.fold} seed={fold.seed}"
            key = (name, fold.fold, fold.seed)
            if key in done:
                results.append(done[key])
                log.info("%s: reused from the resumed run", label)
                if on_child_done:
                    on_child_done(label)
                continue
            if fold_runner is None or fold_runner.fold is not fold:
                fold_runner = FoldRunner(cfg, prepared, fold)
            params = cfg.strategies[name]
            kind = strategy_kind(name, params)
            child = tracking.start_child(
                exp_id,
                parent_id,
                f"{name}-f{fold.fold}-s{fold.seed}",
                {
                    tracking.TAG_STRATEGY: name,
                    tracking.TAG_STRATEGY_KIND: kind,
                    tracking.TAG_FOLD: fold.fold,
                    tracking.TAG_SEED: fold.seed,
                },
            )
            try:
                start = time.perf_counter()
                result = fold_runner.run(name, params)
                if cfg.tuning.enabled:
                    result.metrics["tuning_seconds"] = time.perf_counter() - start
                result.run_id = child.info.run_id
                _log_child(result, child.info.run_id)
                tracking.end_active(tracking.FINISHED)
                results.append(result)
            except KeyboardInterrupt:
                tracking.set_tags(child.info.run_id, {tracking.TAG_ERROR: "interrupted (Ctrl-C)"})
                tracking.end_active(tracking.KILLED)
                raise
            except (FraudganError, ValueError, RuntimeError, ArithmeticError, MemoryError) as exc:
                log.error("%s failed: %s", label, exc)
                log.debug("traceback", exc_info=True)
                tracking.set_tags(
                    child.info.run_id, {tracking.TAG_ERROR: f"{type(exc).__name__}: {exc}"}
                )
                tracking.end_active(tracking.FAILED)
                failed.append(f"{label}: {exc}")
            if on_child_done:
                on_child_done(label)
        if not results:
            raise FraudganError("every child run failed:\n  " + "\n  ".join(failed))
        comparison = _log_parent_report(parent_id, cfg, results)
    return ExperimentResult(
        parent_run_id=parent_id,
        experiment_name=cfg.name,
        results=results_frame(results),
        comparison=comparison,
        failed=failed,
    )


def load_comparison(parent_run_id: str) -> tuple[report.Comparison, pd.DataFrame, dict[str, Any]]:
    """Recompute a launch's comparison from its finished child runs in MLflow."""
    parent = tracking.get_parent_run(parent_run_id)
    client = mlflow.MlflowClient()
    path = client.download_artifacts(parent_run_id, "config.yaml")
    from pipeline.config import config_from_mapping

    cfg = config_from_mapping(yaml.safe_load(Path(path).read_text()), where="logged config")
    results = list(_resumed_results(parent_run_id).values())
    if not results:
        raise FraudganError(f"run {parent_run_id} has no finished child runs to compare")
    frame = results_frame(results).sort_values(["strategy", "fold", "seed"])
    return build_comparison(frame, cfg), frame, dict(parent.data.tags)


def gan_metrics(synthesizer: Any, sampler: Any) -> dict[str, float]:
    """What a GAN child logs about its generator: training, selection, filtering."""
    out = {
        "gan_best_epoch": float(synthesizer.best_epoch_),
        "gan_epoch_used": float(sampler.epoch_),
        "gan_epochs_run": float(synthesizer.epochs_run_),
        "gan_train_seconds": float(synthesizer.train_seconds_),
        "gan_rows_per_second": float(synthesizer.rows_per_second_),
        "gan_generated": float(sampler.n_generated_),
        "gan_kept": float(sampler.n_kept_),
    }
    if synthesizer.c2st_auc_ is not None:
        out["gan_selected_c2st_auc"] = float(synthesizer.c2st_auc_)
    return out


def gan_quality(fr: FoldRunner, fitted: _Fitted, synthetic: pd.DataFrame) -> Any:
    """The quality report of a GAN child: its synthetic fraud rows against the real fraud rows
    the scored model trained on; the test fold's fraud rows, which no GAN saw, are the holdout."""
    from pipeline.quality import quality_report

    X, y = (fr.X_train, fr.y_train) if fitted.refitted else (fr.X_fit, fr.y_fit)
    holdout = fr.X_test[fr.y_test == 1]
    rules = fr.p.rules
    if rules is not None:
        log.info("generated rows breaking a feature rule: %s", rules.violations(synthetic))
    report = quality_report(
        X[y == 1],
        synthetic,
        categorical=fr.p.categorical,
        holdout=holdout if len(holdout) >= 5 else None,
        train_legit=X[y == 0],
        test=fr.X_test,
        test_label=fr.y_test,
        random_state=fr.fold.seed,
    )
    if rules is not None:
        broken = rules.broken_rows(synthetic)
        report.metrics["quality_rule_violations"] = float(broken.sum())
        report.metrics["quality_rule_violation_share"] = (
            float(broken.mean()) if len(broken) else 0.0
        )
    return report
