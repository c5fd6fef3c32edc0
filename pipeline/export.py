"""Export the champion of a finished experiment as one registered MLflow model.

`export_champion` reads a parent run's logged configuration and comparison, picks the champion
(the best mean of `report.metric`, or the strategy asked for), retrains it (the GAN too) on all the
experiment's labelled data minus a validation slice (the most recent period when the data has
time, else a stratified slice), which chooses the number of trees and the decision threshold (by
the YAML's policy); with `validation.refit` it then retrains on every labelled row with those trees,
and logs a `models.scorer.FraudScorer` in a new run tagged `fraudgan.run_type=export`. The model is
registered under `export.model_name` (the version's description says what it is and where it came
from) and the alias `export.alias` moves to the new version; the previous version keeps its
number. Its probabilities are calibrated on the validation slice (`platt_parameters`): a model
trained on resampled or synthetic fraud, or with class weights, learned another fraud rate.
`mlflow.models.evaluate` reports on the validation slice, and the bare XGBoost booster (XGBoost's
JSON) plus the feature list are logged for scoring outside Python.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
import warnings as py_warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import yaml
from mlflow.exceptions import MlflowException
from mlflow.models.model import ModelInfo

from models.classifier import FraudPipeline
from models.errors import ConfigError, FraudganError, TrainingError
from models.samplers import strategy_kind
from models.scorer import FraudScorer, platt_map, reason_columns
from pipeline import augment, descriptions, evaluate, report, tracking
from pipeline.config import ExperimentConfig, config_from_mapping
from pipeline.console import RETURNED, library_log, stderr_to
from pipeline.data.sources import Dataset
from pipeline.fold import IMPORTANCE_FILE, measured_importance, retraining_windows
from pipeline.runner import FoldRunner, Prepared, check_strategies, load_comparison, prepare

log = logging.getLogger(__name__)

MODEL_NAME = "model"  # the logged model's name inside the export run
BOOSTER_FILE = "xgb_model.json"
FEATURES_FILE = "features.json"

ProgressFn = Callable[[str], None]


@dataclass
class ExportResult:
    """What an export produced: the run, the registered version, the alias and the threshold."""

    run_id: str
    source_run_id: str
    strategy: str
    model_name: str
    version: str
    alias: str
    previous_version: str | None
    model_id: str
    logged_model_uri: str
    threshold: float
    threshold_policy: str
    n_fit: int
    n_validation: int
    metrics: dict[str, float] = field(default_factory=dict)
    evaluation: str = ""
    warnings: list[str] = field(default_factory=list)
    pipeline: FraudPipeline | None = field(default=None, repr=False)  # fitted, in memory
    validation_index: np.ndarray | None = field(default=None, repr=False)  # rows of `prepare`
    # out-of-sample probabilities of the validation rows, which chose the trees and threshold
    validation_scores: np.ndarray | None = field(default=None, repr=False)

    @property
    def model_uri(self) -> str:
        """`models:/<name>/<version>`."""
        return f"models:/{self.model_name}/{self.version}"

    @property
    def alias_uri(self) -> str:
        """`models:/<name>@<alias>`."""
        return f"models:/{self.model_name}@{self.alias}"


def logged_config(parent_run_id: str) -> ExperimentConfig:
    """The resolved configuration a parent run logged as `config.yaml`."""
    client = mlflow.MlflowClient()
    try:
        path = client.download_artifacts(parent_run_id, "config.yaml")
    except (MlflowException, OSError) as exc:
        raise FraudganError(
            f"run {parent_run_id} has no readable config.yaml artifact ({exc}); "
            "was it made by `fraudgan run`?"
        ) from None
    raw = yaml.safe_load(Path(path).read_text())
    return config_from_mapping(raw, where=f"config.yaml of run {parent_run_id}")


def pick_champion(
    comparison: report.Comparison, cfg: ExperimentConfig, strategy: str | None = None
) -> str:
    """The strategy to export: `strategy` when given (it must be in the YAML), else the best mean."""
    if strategy is not None:
        if strategy not in cfg.strategies:
            raise ConfigError(
                f"--strategy {strategy!r} is not a strategy of this experiment; "
                f"choose one of: {', '.join(cfg.strategies)}"
            )
        if strategy not in comparison.strategies:
            log.warning("strategy %r has no finished child run in the experiment", strategy)
        return strategy
    metric = cfg.report.metric
    column = f"{metric}_mean"
    table = comparison.table
    if column not in table.columns:
        raise FraudganError(f"the comparison has no {metric!r} column to pick the champion by")
    ranked = table[["strategy", column]].dropna()
    ranked = ranked[ranked["strategy"].isin(list(cfg.strategies))]
    if ranked.empty:
        raise FraudganError(f"no strategy of the experiment has a finite mean {metric!r}")
    ascending = report.lower_is_better(metric)
    ranked = ranked.sort_values(column, ascending=ascending, kind="stable")
    return str(ranked.iloc[0]["strategy"])


def _progress(progress: ProgressFn | None, text: str) -> None:
    """Report a step once: to the caller's progress display, else to the log."""
    if progress is not None:
        progress(text)
    else:
        log.info(text)


CALIBRATIONS = ("platt", "none")
MIN_CALIBRATION_POSITIVES = 10
"""Fewest fraud rows of the validation slice that a calibration is fitted on."""


def platt_parameters(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """(slope, intercept) of Platt's calibration `expit(slope * logit(p) + intercept)` fitted to
    the labels `y` by maximum likelihood with Platt's targets, (n+ + 1) / (n+ + 2) for fraud and
    1 / (n- + 2) for the rest, which keep the fit finite when the scores separate the classes
    (Newton's method with step halving, as Platt's)."""
    from scipy.special import expit, logit

    y = np.asarray(y).astype(bool)
    z = logit(np.clip(np.asarray(p, dtype=np.float64), 1e-15, 1 - 1e-15))
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    t = np.where(y, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
    design = np.column_stack([z, np.ones_like(z)])

    def loss(w: np.ndarray) -> float:
        f = design @ w  # -sum(t log s(f) + (1 - t) log(1 - s(f))), written stably
        return float(np.sum(np.logaddexp(0.0, f) - t * f))

    w = np.array([1.0, 0.0])  # the identity: the classifier's own probabilities
    current = loss(w)
    for _ in range(100):
        q = expit(design @ w)
        grad = design.T @ (q - t)
        hess = (design * (q * (1 - q))[:, None]).T @ design + 1e-12 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        size = 1.0
        while size > 1e-10 and loss(w - size * step) > current:
            size /= 2
        w, previous = w - size * step, current
        current = loss(w)
        if previous - current <= 1e-12 * max(1.0, abs(current)):
            break
    return float(w[0]), float(w[1])


def crossfit_brier(y: np.ndarray, p: np.ndarray, seed: int) -> float:
    """The Brier score of Platt-calibrated `p`, each half of the rows (stratified) calibrated by
    a fit on the other half: the calibration's score on rows it did not see."""
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(y).astype(int)
    p = np.asarray(p, dtype=np.float64)
    out = np.empty_like(p)
    halves = StratifiedKFold(2, shuffle=True, random_state=seed).split(p, y)
    for fit, held in halves:
        out[held] = platt_map(p[held], *platt_parameters(y[fit], p[fit]))
    return evaluate.brier(y, out)


def _calibrate(
    scorer: FraudScorer, y: np.ndarray, p: np.ndarray, seed: int, metrics: dict[str, float]
) -> str:
    """Calibrate `scorer` on the validation labels and probabilities (adding what was measured to
    `metrics`); what was done, in a line, or why it was not (then a warning)."""
    n_pos = int(np.asarray(y).sum())
    if n_pos < MIN_CALIBRATION_POSITIVES:
        return (
            f"fraud_probability is not calibrated: the validation slice holds {n_pos} fraud "
            f"row(s), fewer than the {MIN_CALIBRATION_POSITIVES} a calibration is fitted on; it "
            "is the classifier's own probability, which resampling and class weights distort"
        )
    slope, intercept = platt_parameters(y, p)
    if not slope > 0:
        return (
            "fraud_probability is not calibrated: on the validation slice its fit gave a slope "
            f"of {slope:.3g} (scores that do not rise with fraud there)"
        )
    metrics["calibration_slope"], metrics["calibration_intercept"] = slope, intercept
    metrics["brier_calibrated"] = crossfit_brier(y, p, seed)
    scorer.set_calibration(slope, intercept)
    raw_mean, mean = float(np.mean(p)), float(np.mean(scorer.calibrated(p)))
    return (
        f"fraud_probability calibrated on the validation slice (Platt: slope {slope:.3g}, "
        f"intercept {intercept:+.3g}): mean {raw_mean:.4g} -> {mean:.4g} against a fraud rate of "
        f"{n_pos / len(p):.4g}; Brier {metrics[evaluate.BRIER]:.4g} -> "
        f"{metrics['brier_calibrated']:.4g} (each half calibrated on the other)"
    )


def export_champion(
    parent_run_id: str | None = None,
    *,
    strategy: str | None = None,
    progress: ProgressFn | None = None,
    allow_incomplete: bool = False,
    calibration: str = "platt",
) -> ExportResult:
    """Retrain the champion of a launch, register it and move the alias.

    None: the newest complete launch (`tracking.incomplete_reason`). A named incomplete launch
    (interrupted, failed, or with failed children) is refused unless `allow_incomplete`: its
    comparison would choose the champion from part of the folds. `calibration`: "platt"
    (calibrate the probabilities on the validation slice; the alerts do not change) or "none".
    """
    if calibration not in CALIBRATIONS:
        raise ConfigError(
            f"calibration must be one of {', '.join(CALIBRATIONS)}, got {calibration!r}"
        )
    tracking.setup()
    warnings: list[str] = []
    if parent_run_id is None:
        parent_run_id, skipped = tracking.latest_complete_parent_run()
        for line in skipped:
            _progress(progress, f"skipped {line}")
        _progress(progress, f"newest complete experiment: run {parent_run_id}")
    parent = tracking.get_parent_run(parent_run_id)
    incomplete = tracking.incomplete_reason(parent)
    if incomplete is not None:
        if not allow_incomplete:
            raise FraudganError(
                f"run {parent_run_id} is not a complete experiment ({incomplete}): its champion "
                "would be chosen on part of the folds. Resume it with `fraudgan run CONFIG "
                f"--resume {parent_run_id}`, or export it anyway with --allow-incomplete"
            )
        text = f"run {parent_run_id} is not a complete experiment ({incomplete})"
        log.warning(text, extra=RETURNED)
        warnings.append(text)
    cfg = logged_config(parent_run_id)
    comparison, _, tags = load_comparison(parent_run_id)
    name = pick_champion(comparison, cfg, strategy)
    params = cfg.strategies[name]
    kind = strategy_kind(name, params)
    _progress(progress, f"champion: {name} ({cfg.report.metric}) from run {parent_run_id}")

    digest = tags.get(tracking.TAG_DATA_DIGEST)
    if cfg.data.draws > 1:
        # The launch measured the strategies over several draws; a model is fit on one data set.
        _progress(
            progress,
            f"run {parent_run_id} compared the strategies over {cfg.data.draws} simulator draws: "
            f"the champion is refit on the first (data.seed={cfg.data.seed})",
        )
        cfg = cfg.model_copy(update={"data": cfg.data.model_copy(update={"draws": 1})})
        digest = None
    prepared = prepare(cfg)
    check_strategies(cfg, prepared)
    if digest and digest != prepared.dataset.digest:
        text = (
            f"the data ({prepared.dataset.name}) changed since the experiment "
            f"(digest {prepared.dataset.digest[:12]} vs {digest[:12]})"
        )
        log.warning(text, extra=RETURNED)
        warnings.append(text)

    runner = retraining_runner(cfg, prepared, warnings)
    _progress(
        progress,
        f"retraining {name} on {len(runner.fit_idx):,} rows, "
        f"validation slice {len(runner.val_idx):,} rows"
        + (f", then on all {len(runner.fold.train):,} rows" if cfg.validation.refit else ""),
    )
    started = time.perf_counter()
    fitted = _fit(runner, cfg, name, params, kind)
    fit_seconds = time.perf_counter() - started

    days = None if prepared.days is None else prepared.days[runner.val_idx]
    threshold = runner.threshold(fitted)
    metrics = evaluate.evaluate_predictions(
        runner.y_val,
        fitted.p_val,
        threshold=threshold,
        decision_threshold=threshold,
        amount=None if prepared.amount is None else prepared.amount[runner.val_idx],
        days=days,
        entity=None if prepared.entity is None else prepared.entity[runner.val_idx],
        k=cfg.report.k,
    )
    metrics["fit_seconds"] = fit_seconds
    scorer = build_scorer(
        cfg,
        runner,
        fitted.pipe,
        threshold,
        metadata={"strategy": name, "kind": kind, "source_run": parent_run_id},
    )
    # The exported scorer must reproduce the pipeline's own probabilities.
    p_check = scorer.predict_proba(runner.X_val)
    p_pipe = fitted.pipe.predict_proba(runner.X_val)[:, 1]
    if not np.allclose(p_check, p_pipe, rtol=0, atol=1e-6):
        raise TrainingError(
            "export: the scorer's probabilities differ from the trained pipeline's "
            f"(max difference {np.abs(p_check - p_pipe).max():.3g})"
        )

    p_val = fitted.p_val
    if calibration == "platt":
        said = _calibrate(scorer, runner.y_val, p_val, runner.fold.seed, metrics)
        if scorer.calibrated_by() is None:
            log.warning(said, extra=RETURNED)
            warnings.append(said)
        else:
            _progress(progress, said)
            p_val = scorer.calibrated(p_val)
    scorer.metadata["validation"] = {  # what `score` holds a batch's alerts against
        "rows": int(len(p_val)),
        "alert_rate": float(np.mean(p_val >= scorer.threshold)),
        "fraud_rate": float(np.mean(runner.y_val)),
        "calibrated": scorer.calibrated_by() is not None,
    }
    importance = measured_importance(scorer, runner.X_val, runner.y_val, runner.fold.seed)
    leading = report.leaning_text(importance.set_index("feature")["share"])
    _progress(progress, f"the model leans most on: {leading} (share of its contributions)")
    val_frame = prepared.frame.iloc[runner.val_idx]
    result = _log_export(
        cfg,
        parent,
        scorer,
        name=name,
        kind=kind,
        params=params,
        val_frame=val_frame,
        y_val=runner.y_val,
        p_val=p_val,
        metrics=metrics,
        importance=importance,
        n_fit=len(runner.fold.train) if fitted.refitted else len(runner.fit_idx),
        refitted=fitted.refitted,
        warnings=warnings,
        progress=progress,
    )
    result.pipeline = fitted.pipe
    result.validation_index = runner.val_idx
    result.validation_scores = p_val
    return result


def retraining_runner(
    cfg: ExperimentConfig, prepared: Prepared, warnings: list[str] | None = None
) -> FoldRunner:
    """A `FoldRunner` whose training fold is every row (no test fold): how a champion retrains,
    on `retraining_windows` (a fallback's reason added to `warnings`)."""
    notes: list[str] = []
    fold, windows = retraining_windows(cfg, prepared, notes)
    for text in notes:
        log.warning(text, extra=RETURNED if warnings is not None else None)
    if warnings is not None:
        warnings.extend(notes)
    return FoldRunner(cfg, prepared, fold, windows=windows)


def build_scorer(
    cfg: ExperimentConfig,
    runner: FoldRunner,
    pipe: FraudPipeline,
    threshold: float,
    metadata: dict[str, Any] | None = None,
) -> FraudScorer:
    """The exported scorer of `pipe`, fitted by `runner`: the data's columns, id and history spec.

    `metadata` is added to the id's dtype and the label name.
    """
    prepared = runner.p
    schema = prepared.schema
    id_column = schema.id if schema.id is not None and schema.id in prepared.frame else None
    return FraudScorer.from_pipeline(
        pipe,
        numeric=prepared.numeric,
        categorical=prepared.categorical,
        threshold=threshold,
        dtypes=prepared.X.dtypes.to_dict(),
        id_column=id_column,
        history=history_spec(cfg, prepared),
        check_frame=runner.X_fit,
        metadata={
            **(metadata or {}),
            "id_dtype": None if id_column is None else str(prepared.frame[id_column].dtype),
            "label": schema.label,
            "time": time_spec(prepared.dataset),
        },
    )


def time_spec(dataset: Dataset) -> dict[str, Any] | None:
    """The time column the model trained on: name, unit, range (ISO datetimes, or seconds for a
    numeric unit), and whether its values carried UTC offsets (converted to UTC) or not;
    `fraudgan score` checks a file's times against it."""
    schema = dataset.schema
    if schema.time is None or schema.time not in dataset.frame:
        return None
    t = dataset.frame[schema.time]
    low, high = t.min(), t.max()
    if schema.time_unit == "datetime":
        low, high = pd.Timestamp(low).isoformat(), pd.Timestamp(high).isoformat()
    else:
        low, high = float(low), float(high)
    return {
        "column": schema.time,
        "unit": schema.time_unit,
        "min": low,
        "max": high,
        "offsets": bool(dataset.time_offsets),
    }


def _fit(
    runner: FoldRunner, cfg: ExperimentConfig, name: str, params: dict[str, Any], kind: str
) -> Any:
    """Fit the strategy as the experiment did: the same tuning budget when enabled, and the
    refit on every row (validation slice included) when `validation.refit`."""
    if not cfg.tuning.enabled:
        return runner.final(augment.fit_choosing(runner, name, params)[0])
    tuned = runner.tune(name, params)
    best = max(tuned.history, key=lambda r: r.value)
    log.info("tuning: best trial %d (validation AUPRC %.4f)", best.number, best.value)
    return runner.final(tuned.fitted)


def history_spec(cfg: ExperimentConfig, prepared: Prepared) -> dict[str, Any] | None:
    """How `fraudgan score` rebuilds the history features of a raw file; None without any."""
    raw = list(prepared.dataset.frame.columns)
    engineered = [c for c in prepared.frame.columns if c not in set(raw)]
    if not cfg.features.enabled or not engineered:
        return None
    schema = prepared.schema
    model_columns = set(prepared.categorical + prepared.numeric)
    windows = [float(w) for w in cfg.features.windows_days]
    needed = [c for c in raw if c in model_columns]
    for role in schema.history_inputs():
        if role in raw and role not in needed:
            needed.append(role)
    return {
        "schema": schema.to_dict(),
        "label_delay_days": float(cfg.features.label_delay_days),
        "windows_days": windows,
        "horizon_days": float(cfg.features.label_delay_days) + max(windows),
        "merchant_entities": bool(cfg.features.merchant_entities),
        "raw_columns": needed,
        "engineered": engineered,
        "day_first": prepared.dataset.time_day_first,  # dates written dd/mm (True) or mm/dd
        "dates_day_first": prepared.dataset.dates_day_first,
    }


def scoring_requirements() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for package in (
        "mlflow",
        "xgboost",
        "scikit-learn",
        "scipy",  # the scorer's calibration (scipy.special)
        "pandas",
        "numpy",
        "pyarrow",
        "cloudpickle",
    ):
        try:
            out.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            continue
    return out


def scorer_code_paths(tmp: Path) -> list[str]:
    """A minimal copy of the code the pickled scorer imports: the `models/scorer/` package and
    `models/errors.py`, in a `models` package of their own."""
    source = Path(__file__).resolve().parent.parent / "models"
    target = tmp / "code" / "models"
    (target / "scorer").mkdir(parents=True)
    (target / "__init__.py").write_text('"""fraudgan models (scoring subset)."""\n')
    (target / "errors.py").write_text((source / "errors.py").read_text())
    for module in sorted((source / "scorer").glob("*.py")):
        (target / "scorer" / module.name).write_text(module.read_text())
    return [str(target)]


def _log_export(
    cfg: ExperimentConfig,
    parent: mlflow.entities.Run,
    scorer: FraudScorer,
    *,
    name: str,
    kind: str,
    params: dict[str, Any],
    val_frame: pd.DataFrame,
    y_val: np.ndarray,
    p_val: np.ndarray,
    metrics: dict[str, float],
    importance: pd.DataFrame,
    n_fit: int,
    refitted: bool,
    warnings: list[str],
    progress: ProgressFn | None,
) -> ExportResult:
    parent_id = parent.info.run_id
    model_name, alias = cfg.export.model_name, cfg.export.alias
    client = mlflow.MlflowClient()
    previous = _alias_version(client, model_name, alias)
    run = tracking.retry(
        lambda: mlflow.start_run(
            experiment_id=parent.info.experiment_id,
            run_name=f"export-{name}-{time.strftime('%Y%m%d-%H%M%S')}",
            tags={
                tracking.TAG_RUN_TYPE: tracking.RUN_EXPORT,
                tracking.TAG_SOURCE_RUN: parent_id,
                tracking.TAG_STRATEGY: name,
                tracking.TAG_CONFIG_HASH: cfg.config_hash(),
                tracking.TAG_GIT_COMMIT: tracking.git_commit(),
                tracking.TAG_DATA_DIGEST: parent.data.tags.get(tracking.TAG_DATA_DIGEST, ""),
            },
        ),
        what="starting the export run",
    )
    run_id = run.info.run_id
    try:
        tracking.log_params(
            run_id,
            {
                "strategy": name,
                "kind": kind,
                **{f"strategy.{k}": v for k, v in params.items() if k != "kind"},
                "threshold": scorer.threshold,
                "calibration": (scorer.calibrated_by() or {}).get("method", "none"),
                "threshold_policy": cfg.validation.threshold_policy,
                "target_fpr": cfg.validation.target_fpr,
                "alerts_per_day": cfg.validation.alerts_per_day,
                "n_fit": n_fit,
                "refit": refitted,
                "n_validation": len(val_frame),
                "n_validation_positive": int(y_val.sum()),
                "features.numeric": len(scorer.numeric),
                "features.categorical": len(scorer.categorical),
                "n_trees": scorer.booster.num_boosted_rounds(),
            },
        )
        tracking.log_metrics(run_id, {f"val_{k}": v for k, v in metrics.items()})
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            files = _write_side_files(scorer, tmp)
            mlflow.log_artifacts(str(files), artifact_path="scoring")
            importance.to_csv(tmp / IMPORTANCE_FILE, index=False)
            mlflow.log_artifact(str(tmp / IMPORTANCE_FILE))
            example = _input_example(scorer, val_frame)
            _progress(progress, f"logging and registering the model as {model_name!r}")
            # MLflow's lines here (its note on pickled models, "Created version N") go to the
            # library log: the summary says which version was made and where the alias is
            with stderr_to(library_log()):
                info = mlflow.pyfunc.log_model(
                    name=MODEL_NAME,
                    python_model=scorer,
                    signature=scorer.signature(),
                    input_example=example,
                    registered_model_name=model_name,
                    artifacts={
                        "xgb_model": str(files / BOOSTER_FILE),
                        "features": str(files / FEATURES_FILE),
                    },
                    code_paths=scorer_code_paths(tmp),
                    pip_requirements=scoring_requirements(),
                    metadata={"fraudgan": {"strategy": name, "source_run": parent_id}},
                    tags={tracking.TAG_STRATEGY: name, tracking.TAG_SOURCE_RUN: parent_id},
                )
        version = str(info.registered_model_version)
        tracking.retry(
            lambda: client.set_registered_model_alias(model_name, alias, version),
            what="moving the alias",
        )
        for key, value in {
            tracking.TAG_STRATEGY: name,
            tracking.TAG_SOURCE_RUN: parent_id,
            tracking.TAG_EXPORT_RUN: run_id,
            tracking.TAG_THRESHOLD: f"{scorer.threshold:.6g}",
            tracking.TAG_THRESHOLD_POLICY: cfg.validation.threshold_policy,
        }.items():
            tracking.retry(
                lambda k=key, val=value: client.set_model_version_tag(model_name, version, k, val),
                what="tagging the model version",
            )
        tracking.retry(
            lambda: client.update_registered_model(
                model_name, description=descriptions.model_description(model_name, alias)
            ),
            what="describing the registered model",
        )
        description = version_description(
            cfg,
            parent,
            name=name,
            kind=kind,
            params=params,
            export_run_id=run_id,
            threshold=scorer.threshold,
            metrics=metrics,
            n_fit=n_fit,
            n_validation=len(val_frame),
            n_validation_positive=int(y_val.sum()),
        )
        tracking.retry(
            lambda: client.update_model_version(model_name, version, description=description),
            what="describing the model version",
        )
        _progress(progress, "evaluating on the validation slice")
        evaluation = _evaluate(info, scorer, val_frame, y_val, p_val, refitted)
        tracking.end_active(tracking.FINISHED)
    except BaseException:
        tracking.end_active(tracking.FAILED)
        raise
    return ExportResult(
        run_id=run_id,
        source_run_id=parent_id,
        strategy=name,
        model_name=model_name,
        version=version,
        alias=alias,
        previous_version=previous,
        model_id=info.model_id,
        logged_model_uri=info.model_uri,
        threshold=scorer.threshold,
        threshold_policy=cfg.validation.threshold_policy,
        n_fit=n_fit,
        n_validation=len(val_frame),
        metrics=metrics,
        evaluation=evaluation,
        warnings=warnings,
    )


VERSION_METRICS = (
    evaluate.AVERAGE_PRECISION,
    evaluate.ROC_AUC,
    evaluate.RECALL_AT_FPR_1PCT,
    evaluate.PRECISION_TUNED,
    evaluate.RECALL_TUNED,
    evaluate.F1_TUNED,
)
"""The validation metrics a model version's description lists."""


def version_description(
    cfg: ExperimentConfig,
    parent: mlflow.entities.Run,
    *,
    name: str,
    kind: str,
    params: dict[str, Any],
    export_run_id: str,
    threshold: float,
    metrics: dict[str, float],
    n_fit: int,
    n_validation: int,
    n_validation_positive: int,
) -> str:
    """A registered version's description: a first line in plain text (the versions list shows
    it as written), then in Markdown the strategy, the data, the validation metrics, the
    threshold policy, and links to the export run and the experiment it came from."""
    v = cfg.validation
    experiment = parent.info.experiment_id
    tags = parent.data.tags
    settings = ", ".join(f"{k}={val}" for k, val in params.items() if k != "kind") or "defaults"
    policy = {
        "f1": "the best F1",
        "fpr": f"a false-positive rate of at most {v.target_fpr:g}",
        "budget": f"at most {v.alerts_per_day} alerts per day",
    }[v.threshold_policy]
    shown = [f"{report.metric_label(m)} {metrics[m]:.4f}" for m in VERSION_METRICS if m in metrics]
    slope = metrics.get("calibration_slope")
    calibration = (
        "`fraud_probability` is the classifier's own probability (not calibrated)."
        if slope is None
        else f"`fraud_probability` is calibrated on that slice (Platt: slope {slope:.4g}, "
        f"intercept {metrics['calibration_intercept']:+.4g}); the threshold is on its scale."
    )
    headline = cfg.report.metric
    value = metrics.get(headline)
    first = (
        f"{name}: {report.metric_label(headline)} {value:.4f} on the validation slice, "
        if value is not None
        else f"{name}: "
    )
    return "\n".join(
        [
            first + f"threshold {threshold:.4g} ({v.threshold_policy} policy), from launch "
            f"{parent.info.run_name}.",
            "",
            f"**Strategy `{name}`** (kind `{kind}`: {settings}), exported from the launch "
            f"[{parent.info.run_name}]({tracking.run_url('', experiment, parent.info.run_id)}).",
            "",
            f"**Data**: {tags.get(tracking.TAG_DATA_NAME, '?')} (digest "
            f"{tags.get(tracking.TAG_DATA_DIGEST, '?')[:12]}); retrained on {n_fit:,} rows, "
            f"validation slice {n_validation:,} rows ({n_validation_positive:,} fraud).",
            "",
            f"**Validation metrics**: {', '.join(shown)}.",
            "",
            f"**Threshold** {threshold:.6g}: chosen on the validation slice for {policy} "
            f"(validation.threshold_policy `{v.threshold_policy}`). " + calibration,
            "",
            f"**Source**: export run [{export_run_id}]"
            f"({tracking.run_url('', experiment, export_run_id)}); "
            f"the comparison of the launch: [strategies side by side]"
            f"({tracking.launch_url('', parent.info.run_id)}).",
        ]
    )


def _alias_version(client: mlflow.MlflowClient, model_name: str, alias: str) -> str | None:
    """The version an alias points at now, or None (no such model or alias)."""
    try:
        return str(client.get_model_version_by_alias(model_name, alias).version)
    except MlflowException:
        return None


def _write_side_files(scorer: FraudScorer, tmp: Path) -> Path:
    out = tmp / "scoring"
    out.mkdir()
    booster = scorer.booster.copy()
    try:
        booster.feature_names = [_xgb_name(n) for n in scorer.feature_names()]
    except ValueError:
        log.debug("feature names not set on the booster JSON", exc_info=True)
    booster.save_model(str(out / BOOSTER_FILE))
    spec = scorer.feature_spec()
    spec["booster_file"] = BOOSTER_FILE
    spec["outputs"] = ["fraud_probability", "alert", *reason_columns()]
    (out / FEATURES_FILE).write_text(json.dumps(spec, indent=2, default=_json_default) + "\n")
    return out


def _xgb_name(name: str) -> str:
    # XGBoost refuses feature names with [, ] or <
    return name.replace("[", "(").replace("]", ")").replace("<", "(lt)")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple | set):
        return list(value)
    return str(value)


def _input_example(scorer: FraudScorer, val_frame: pd.DataFrame) -> pd.DataFrame:
    columns = ([scorer.id_column] if scorer.id_column else []) + scorer.columns
    return scorer.signature_frame(val_frame[columns].head(5).reset_index(drop=True))


def _evaluate(
    info: ModelInfo,
    scorer: FraudScorer,
    val_frame: pd.DataFrame,
    y_val: np.ndarray,
    p_val: np.ndarray,
    refitted: bool,
) -> str:
    """`mlflow.models.evaluate` on the validation slice, plus our PR/ROC curves.

    MLflow draws PR/ROC curves only for models with `predict_proba` (scikit-learn, XGBoost
    flavors); a pyfunc gives labels, so the curves are drawn here from the probabilities and
    logged as the evaluation's custom artifacts. Falls back to logging them on the run.
    `p_val` are out-of-sample probabilities (the model fitted before the validation slice). A
    refitted model has trained on the slice, so its own alerts there would flatter it: the
    evaluation then reads the alerts of `p_val` at the threshold.
    """
    label = "label"
    data = scorer.signature_frame(val_frame[scorer.columns].reset_index(drop=True))
    if scorer.id_column:
        data.insert(0, scorer.id_column, val_frame[scorer.id_column].to_numpy())
    # Boolean labels: MLflow's classifier evaluator takes 0/1 integers for a regression target
    # and warns about the model type.
    data[label] = y_val.astype(bool)

    def curves(eval_df: Any, builtin_metrics: Any, artifacts_dir: str) -> dict[str, str]:
        return _curve_files(y_val, p_val, scorer.threshold, Path(artifacts_dir))

    try:
        # The registered artifact itself scores the slice; the classifier evaluator takes one
        # column of labels, so the model's `alert` column is handed to it.
        loaded = mlflow.pyfunc.load_model(info.model_uri)
        selection_alerts = pd.Series(p_val >= scorer.threshold)

        def alerts(frame: pd.DataFrame) -> pd.Series:
            registered = loaded.predict(frame)["alert"].astype(bool)
            return selection_alerts if refitted else registered

        with py_warnings.catch_warnings():
            # MLflow hints at integer input columns while inferring the data's schema: the
            # model's own signature already fixes the input types.
            py_warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
            mlflow.models.evaluate(
                model=alerts,
                data=data,
                targets=label,
                model_type="classifier",
                model_id=info.model_id,
                evaluator_config={
                    "pos_label": True,
                    "label_list": [False, True],
                    "log_model_explainability": False,
                    "log_explainer": False,
                },
                custom_artifacts=[curves],
            )
        how = "mlflow.models.evaluate on the validation slice (+ PR/ROC curves as custom artifacts)"
        if refitted:
            how += "; scores of the model fitted before the refit, which never saw the slice"
    except Exception as exc:  # evaluate is a report; never lose the export over it
        log.warning("mlflow.models.evaluate failed (%s); logging our own PR/ROC curves", exc)
        log.debug("evaluate traceback", exc_info=True)
        with tempfile.TemporaryDirectory() as tmp:
            _curve_files(y_val, p_val, scorer.threshold, Path(tmp))
            mlflow.log_artifacts(tmp, artifact_path="validation_curves")
        how = f"own PR/ROC curves only (mlflow.models.evaluate failed: {type(exc).__name__}: {exc})"
    return how


def _curve_files(y: np.ndarray, p: np.ndarray, threshold: float, out: Path) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve, roc_curve

    files: dict[str, str] = {}
    precision, recall, _ = precision_recall_curve(y, p)
    fpr, tpr, _ = roc_curve(y, p)
    ap = evaluate.average_precision(y, p)
    auc = evaluate.roc_auc(y, p)
    prec_thr, rec_thr = evaluate.precision_recall_at(y, p, threshold)
    fig, ax = plt.subplots(figsize=(5, 4), dpi=110)
    ax.plot(recall, precision, lw=1.5, label=f"AUPRC {ap:.3f}")
    ax.scatter([rec_thr], [prec_thr], color="C3", zorder=3, label=f"threshold {threshold:.3g}")
    ax.axhline(float(np.mean(y)), color="grey", lw=0.8, ls="--", label="fraud rate")
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall (validation)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    files["pr_curve"] = str(out / "pr_curve.png")
    fig.savefig(files["pr_curve"])
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(5, 4), dpi=110)
    ax.plot(fpr, tpr, lw=1.5, label=f"ROC-AUC {auc:.3f}")
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    ax.set(xlabel="false-positive rate", ylabel="true-positive rate", title="ROC (validation)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    files["roc_curve"] = str(out / "roc_curve.png")
    fig.savefig(files["roc_curve"])
    plt.close(fig)
    return files
