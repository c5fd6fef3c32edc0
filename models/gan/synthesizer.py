"""`CGANSynthesizer`: fit a conditional GAN on a table with a class label, sample rows of a class.

The pieces (CTGAN's layout, Keras 3's idioms):

- `FeatureRules` (optional, duck-typed: `holding`, `encode`, `decode`, `derived`): columns that
  other columns determine are not generated but computed, so generated rows obey every rule the
  real rows obey (see `pipeline.features.feature_rules`);
- `TabularTransformer` (models/transformer.py) encodes the free columns; its spans drive the
  generator's output activations;
- `BatchTables` + `ConditionalWGAN` (models/gan/wgan.py): class-balanced batches drawn inside the
  compiled training step; WGAN-GP with a critic of rows (or of packs of rows: PacGAN), a
  condition loss and an optional auxiliary classifier;
- the condition vector: the class (one-hot), optionally followed by the one-hot of one
  categorical column, or of a cluster of the target class's rows (`CGANConfig.clusters`), so
  that every fraud pattern is trained on and generated, not only the commonest;
- model selection (models/gan/callbacks.py): two-sample tests of generated target rows against
  held-out real ones, by `models.two_sample.c2st_auc`, the same test as the quality report.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import pickle
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from keras import ops

from models import progress
from models.errors import DataError, TrainingError
from models.gan.callbacks import LossMonitor, ModelSelection
from models.gan.config import MIN_CLASS_ROWS, CGANConfig
from models.gan.networks import build_classifier, build_critic, build_generator
from models.gan.wgan import BatchTables, ConditionalWGAN
from models.transformer import TabularTransformer
from models.two_sample import FrameEncoding, c2st_auc

log = logging.getLogger(__name__)

MIN_HOLDOUT_ROWS = 20
"""Fewest held-out target rows for model selection (fewer: the final weights are kept)."""

MIN_FAKE_EVAL_ROWS = 500
"""Generated rows in one two-sample test, at least (more give a steadier AUC)."""

_EAGER_MAX_STEPS = 8
_CLUSTER = "__cluster__"
_GENERATOR_FILE = "generator.keras"
_STATE_FILE = "state.pkl"
_CONFIG_FILE = "config.json"


class CGANSynthesizer:
    """Fit a conditional GAN on a table with a class label; sample rows of a requested class.

    Parameters
    ----------
    config : CGANConfig, optional
        Hyper-parameters; keyword overrides (e.g. ``epochs=50``) replace single fields.
    random_state : int or None
        Same seed and data on CPU give the same synthetic rows.

    Fitted attributes: ``transformer_``, ``generator_``, ``classes_``, ``target_label_``,
    ``rules_`` (the rules enforced), ``history_`` (per-epoch losses and two-sample AUCs),
    ``checkpoints_`` (epoch and AUC of each test), ``best_epoch_``, ``c2st_auc_``,
    ``epochs_run_``, ``steps_per_epoch_``, ``steps_run_`` (generator steps),
    ``critic_steps_run_``, ``train_seconds_``, ``rows_per_second_``, ``seed_``.
    """

    def __init__(
        self, config: CGANConfig | None = None, *, random_state: int | None = None, **overrides: Any
    ) -> None:
        base = config or CGANConfig()
        self.config = dataclasses.replace(base, **overrides) if overrides else base
        self.random_state = random_state

    # ------------------------------------------------------------------ fit

    def fit(
        self,
        df: pd.DataFrame,
        label: str,
        categorical_columns: Sequence[str] = (),
        condition_column: str | None = None,
        *,
        target_label: Any = None,
        rules: Any = None,
    ) -> CGANSynthesizer:
        """Train on every row of `df`; `label` is the class column (any dtype, >= 2 classes).

        `condition_column`: one categorical column to condition on as well (not with
        `config.clusters`). `target_label`: the class whose held-out rows drive model selection
        and whose rows are clustered (default: the rarest class). `rules`: relations between
        columns to enforce (`pipeline.features.FeatureRules`); those the rows break are dropped.
        """
        cfg = self.config
        cfg.validate()
        self._check_input(df, label, categorical_columns, condition_column)
        seed = (
            int(self.random_state) % (2**31 - 1)  # Keras seeds are 32-bit
            if self.random_state is not None
            else int(np.random.default_rng().integers(2**31 - 1))
        )
        self.seed_ = seed
        rng = np.random.default_rng(seed)
        y_raw = df[label]
        classes, y = np.unique(y_raw.to_numpy(), return_inverse=True)
        counts = np.bincount(y, minlength=len(classes))
        if len(classes) < 2:
            raise DataError(
                f"label column {label!r} has a single class ({classes[0]!r}): the conditional GAN "
                "needs at least two classes"
            )
        few = [(c, int(n)) for c, n in zip(classes, counts, strict=True) if n < MIN_CLASS_ROWS]
        if few:
            shown = ", ".join(f"class {_py(c)!r}: {n} rows" for c, n in few)
            raise TrainingError(
                f"too few rows to train the GAN ({shown}); every class needs at least "
                f"{MIN_CLASS_ROWS} rows"
            )
        self.label_ = label
        self.label_dtype_ = y_raw.dtype
        self._all_columns = [str(c) for c in df.columns]
        self.classes_ = [_py(c) for c in classes]
        target = int(np.argmin(counts)) if target_label is None else self._class_index(target_label)
        self.target_label_ = self.classes_[target]

        features = df.drop(columns=[label])
        self.feature_columns_ = [str(c) for c in features.columns]
        self.rules_ = rules.holding(features) if rules is not None else None
        if self.rules_ is not None and condition_column in self.rules_.derived:
            raise DataError(
                f"condition_column {condition_column!r} is computed from other columns; "
                "condition on a column the GAN generates"
            )
        free = self.rules_.encode(features) if self.rules_ is not None else features
        self.categorical_columns_ = [c for c in categorical_columns if c in features.columns]
        categorical = [c for c in self.categorical_columns_ if c in free.columns]
        if cfg.clusters:
            if condition_column is not None:
                raise DataError("condition on a column or on clusters (clusters > 0), not both")
            free = free.assign(
                **{_CLUSTER: _cluster_labels(free, categorical, y == target, cfg.clusters, seed)}
            )
            condition_column = _CLUSTER
            categorical = [*categorical, _CLUSTER]
        self.condition_column_ = condition_column

        self.transformer_ = TabularTransformer(
            continuous=cfg.continuous,
            max_modes=cfg.max_modes,
            max_discrete=cfg.max_discrete,
            max_categories=cfg.max_categories,
            subsample=cfg.transformer_subsample,
            random_state=seed,
        ).fit(free, categorical, stratify=y)
        encoded = self.transformer_.transform(free)

        if condition_column is not None:
            cond_start, cond_dim, categories = self.transformer_.categorical_span(condition_column)
            cat = self.transformer_.category_codes(free, condition_column)
            self.condition_categories_ = categories
            self._cond_span: tuple[int, int] | None = (cond_start, cond_dim)
        else:
            cat = np.zeros(len(df), dtype=np.int64)
            self.condition_categories_ = []
            self._cond_span = None
        n_classes, n_cats = len(classes), max(len(self.condition_categories_), 1)
        # Empirical category frequencies within each class: what `sample` draws from.
        joint = np.zeros((n_classes, n_cats))
        np.add.at(joint, (y, cat), 1.0)
        self.category_frequencies_ = joint / joint.sum(axis=1, keepdims=True)

        train_rows, holdout = self._holdout(y, target, rng)
        # which rows of `df` (positions) the weights never saw: real rows of the training period
        self.n_rows_ = len(df)
        self.holdout_rows_: np.ndarray | None = holdout
        tables = BatchTables.build(
            encoded[train_rows],
            y[train_rows],
            cat[train_rows],
            n_classes,
            n_cats,
            cfg.class_balance,
        )
        per_call = min(cfg.steps_per_execution, cfg.steps_per_epoch)
        steps = math.ceil(cfg.steps_per_epoch / per_call) * per_call

        cond_dim = n_classes + (n_cats if condition_column is not None else 0)
        data_dim = self.transformer_.output_dim_
        self.generator_ = build_generator(
            cfg.noise_dim, cond_dim, data_dim, cfg.generator_dim, seed=seed + 1
        )
        critic = build_critic(
            data_dim + cond_dim, cond_dim, cfg.pac, cfg.critic_dim, cfg.dropout, seed + 2
        )
        classifier = (
            build_classifier(data_dim, n_classes, cfg.critic_dim, seed + 7)
            if cfg.aux_weight > 0
            else None
        )
        gan = ConditionalWGAN(
            self.generator_,
            critic,
            self.transformer_.output_info_,
            tables,
            noise_dim=cfg.noise_dim,
            batch_size=cfg.batch_size,
            pac=cfg.pac,
            gp_weight=cfg.gp_weight,
            tau=cfg.tau,
            critic_steps=cfg.critic_steps,
            cond_span=self._cond_span,
            classifier=classifier,
            aux_weight=cfg.aux_weight,
            seed=seed + 3,
        )
        gan.compile(
            g_optimizer=_adam(cfg.learning_rate),
            d_optimizer=_adam(cfg.learning_rate),
            c_optimizer=_adam(cfg.learning_rate),
            steps_per_execution=per_call,
            # Tracing the graph costs about a second: not worth it for a handful of steps.
            run_eagerly=cfg.epochs * steps <= _EAGER_MAX_STEPS,
        )

        self.history_: dict[str, list[float]] = {}
        callbacks: list[keras.callbacks.Callback] = [LossMonitor(self.history_, cfg.max_loss)]
        selection = None
        if holdout is not None:
            real_holdout = features.iloc[holdout]
            eval_rng = np.random.default_rng(seed + 5)
            n_fake = max(len(holdout), MIN_FAKE_EVAL_ROWS)

            def score(epoch: int) -> float:
                fake = self._generate(n_fake, target, None, eval_rng)[self.feature_columns_]
                return c2st_auc(
                    real_holdout,
                    fake,
                    categorical=self.categorical_columns_,
                    random_state=seed + epoch,
                )

            selection = ModelSelection(
                self.generator_,
                score,
                cfg.eval_every,
                cfg.patience,
                self.history_,
                min_epochs=math.ceil(cfg.min_epochs_fraction * cfg.epochs),
            )
            callbacks.append(selection)

        callbacks.append(progress.keras_callback(self.history_))  # the run's progress display
        start = time.perf_counter()
        gan.fit(
            tf.data.Dataset.from_tensors(tf.zeros((1,))).repeat(),
            epochs=cfg.epochs,
            steps_per_epoch=steps,
            callbacks=callbacks,
            shuffle=False,  # batches are drawn inside the step; the dataset is a dummy
            verbose=0,
        )
        self.train_seconds_ = time.perf_counter() - start
        self.epochs_run_ = len(self.history_.get("epoch", []))
        self.steps_per_epoch_ = steps
        self.steps_run_ = int(ops.convert_to_numpy(gan.g_optimizer.iterations))
        self.critic_steps_run_ = int(ops.convert_to_numpy(gan.d_optimizer.iterations))
        eval_seconds = selection.seconds if selection else 0.0
        self.rows_per_second_ = (
            self.epochs_run_
            * steps
            * cfg.batch_size
            / max(self.train_seconds_ - eval_seconds, 1e-9)
        )  # training only, without the two-sample tests
        self.checkpoints_ = (
            [] if selection is None else [(e, a) for e, a, _ in selection.checkpoints]
        )
        self._weights_by_epoch = {
            **({} if selection is None else {e: w for e, _, w in selection.checkpoints}),
            self.epochs_run_: self.generator_.get_weights(),
        }
        if selection is not None and selection.checkpoints and cfg.select == "c2st":
            selection.restore_best()
            self.best_epoch_: int | None = selection.best_epoch
            self.c2st_auc_: float | None = selection.best_auc
        else:
            self.best_epoch_ = self.epochs_run_
            self.c2st_auc_ = (
                selection.checkpoints[-1][1] if selection and selection.checkpoints else None
            )
        self._sample_rng = np.random.default_rng(seed + 6)
        log.info(
            "GAN trained: %d epochs x %d steps in %.1f s (%.0f rows/s), kept epoch %s (C2ST %s)",
            self.epochs_run_,
            steps,
            self.train_seconds_,
            self.rows_per_second_,
            self.best_epoch_,
            "n/a" if self.c2st_auc_ is None else f"{self.c2st_auc_:.3f}",
        )
        return self

    def _check_input(
        self,
        df: pd.DataFrame,
        label: str,
        categorical_columns: Sequence[str],
        condition_column: str | None,
    ) -> None:
        if not isinstance(df, pd.DataFrame):
            raise DataError(f"CGANSynthesizer.fit expects a DataFrame, got {type(df)}")
        if label not in df.columns:
            raise DataError(f"label column {label!r} is not in the data: {list(df.columns)}")
        if df[label].isna().any():
            raise DataError(f"label column {label!r} has {int(df[label].isna().sum())} missing")
        if df.shape[1] < 2:
            raise DataError("CGANSynthesizer.fit needs at least one feature column besides label")
        if _CLUSTER in df.columns:
            raise DataError(f"column name {_CLUSTER!r} is reserved")
        if condition_column is not None:
            if condition_column == label:
                raise DataError("condition_column must be a feature column, not the label")
            if condition_column not in categorical_columns:
                raise DataError(
                    f"condition_column {condition_column!r} must be one of the categorical "
                    f"columns {list(categorical_columns)}"
                )
            if df[condition_column].isna().any():
                raise DataError(
                    f"condition column {condition_column!r} has missing values: fill them with "
                    "an explicit category first"
                )
            if df[condition_column].nunique() < 2:
                raise DataError(f"condition column {condition_column!r} has a single value")

    def _holdout(
        self, y: np.ndarray, target: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Rows to train on, and held-out rows of the target class for model selection."""
        cfg = self.config
        target_rows = np.flatnonzero(y == target)
        n_out = min(int(len(target_rows) * cfg.holdout_fraction), cfg.eval_rows)
        if cfg.eval_every <= 0 or n_out < MIN_HOLDOUT_ROWS:
            if cfg.eval_every > 0:
                log.info(
                    "GAN model selection off: %d rows of the target class give %d held-out rows, "
                    "fewer than %d",
                    len(target_rows),
                    n_out,
                    MIN_HOLDOUT_ROWS,
                )
            return np.arange(len(y)), None
        holdout = np.sort(rng.choice(target_rows, n_out, replace=False))
        keep = np.ones(len(y), dtype=bool)
        keep[holdout] = False
        return np.flatnonzero(keep), holdout

    def _class_index(self, label: Any) -> int:
        for i, c in enumerate(self.classes_):
            if c == label or str(c) == str(label):
                return i
        raise DataError(
            f"label {label!r} was never seen in column {self.label_!r}; classes are {self.classes_}"
        )

    # --------------------------------------------------------------- sample

    @property
    def checkpoint_epochs_(self) -> list[int]:
        """Epochs whose generator weights `sample(epoch=...)` can use (in memory, not saved)."""
        return sorted(getattr(self, "_weights_by_epoch", {}))

    def sample(
        self,
        n: int,
        label: Any = 1,
        condition_value: Any = None,
        *,
        seed: int | None = None,
        epoch: int | None = None,
    ) -> pd.DataFrame:
        """`n` synthetic rows of class `label`, with the fitted columns and dtypes.

        With a condition column, `condition_value` fixes its value in every row; None draws it
        from its frequencies within the class (with clusters, each cluster as often as the
        class's real rows fall in it). Without `seed`, successive calls continue one random
        stream that starts from the fit's seed. `epoch`: the generator of that checkpoint
        (one of `checkpoint_epochs_`) instead of the kept one (`best_epoch_`).
        """
        self._check_fitted()
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        if condition_value is not None and self.condition_column_ == _CLUSTER:
            raise DataError("the GAN is conditioned on clusters, not on a column's value")
        k = self._class_index(label)
        rng = np.random.default_rng(seed) if seed is not None else self._sample_rng
        with self.generator_of(epoch):
            return self._generate(int(n), k, condition_value, rng)

    @contextlib.contextmanager
    def generator_of(self, epoch: int | None) -> Iterator[None]:
        """Within the block, `generator_` holds the weights of checkpoint `epoch` (None or
        `best_epoch_`: the kept generator, unchanged)."""
        self._check_fitted()
        if epoch is None or epoch == self.best_epoch_:
            yield
            return
        if epoch not in self.checkpoint_epochs_:
            raise DataError(
                f"no generator of epoch {epoch} is kept; checkpoints: {self.checkpoint_epochs_}"
            )
        kept = self.generator_.get_weights()
        self.generator_.set_weights(self._weights_by_epoch[epoch])
        try:
            yield
        finally:
            self.generator_.set_weights(kept)

    def _generate(
        self, n: int, k: int, condition_value: Any, rng: np.random.Generator
    ) -> pd.DataFrame:
        n_classes = len(self.classes_)
        cats = self.condition_categories_
        cond = np.zeros((n, n_classes + len(cats)), dtype=np.float32)
        cond[:, k] = 1.0
        chosen: np.ndarray | None = None
        if self.condition_column_ is not None:
            if condition_value is None:
                chosen = rng.choice(len(cats), n, p=self.category_frequencies_[k])
            else:
                index = [i for i, c in enumerate(cats) if c == condition_value]
                if not index:
                    raise DataError(
                        f"condition value {condition_value!r} was never seen in column "
                        f"{self.condition_column_!r}; seen values are {cats}"
                    )
                chosen = np.full(n, index[0])
            cond[np.arange(n), n_classes + chosen] = 1.0
        elif condition_value is not None:
            raise DataError(
                "condition_value given, but the GAN was fitted without condition_column"
            )
        # (the transformer was fitted with the class codes as strata: k is this class's)
        free = self.transformer_.inverse_transform(self._decode_raw(cond, rng), rng=rng, stratum=k)
        if chosen is not None:
            values = np.empty(len(cats), dtype=object)
            values[:] = cats
            free[self.condition_column_] = pd.Series(values[chosen], index=free.index).astype(
                free[self.condition_column_].dtype
            )
        free = free.drop(columns=[_CLUSTER], errors="ignore")
        df = self.rules_.decode(free) if self.rules_ is not None else free
        label = pd.Series([self.classes_[k]] * n, index=df.index)
        df[self.label_] = label.astype(self.label_dtype_) if n else label
        return df[self._all_columns]

    def _decode_raw(self, cond: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Run the generator in inference mode and sample hard one-hots from its logits."""
        n = len(cond)
        dim = self.transformer_.output_dim_
        out = np.zeros((n, dim), dtype=np.float32)
        chunk = 8192
        for lo in range(0, n, chunk):
            c = cond[lo : lo + chunk]
            noise = rng.standard_normal((len(c), self.config.noise_dim)).astype(np.float32)
            raw = ops.convert_to_numpy(self.generator_([noise, c], training=False))
            gumbel = rng.gumbel(size=raw.shape).astype(np.float32)
            block = out[lo : lo + len(c)]
            for span in self.transformer_.output_info_:
                sl = slice(span.start, span.start + span.dim)
                if span.activation == "tanh":
                    block[:, sl] = np.tanh(raw[:, sl])
                elif span.activation == "linear":
                    block[:, sl] = raw[:, sl]
                else:
                    pick = (raw[:, sl] + gumbel[:, sl]).argmax(axis=1)
                    block[np.arange(len(c)), span.start + pick] = 1.0
        return out

    def _check_fitted(self) -> None:
        if not hasattr(self, "generator_"):
            raise RuntimeError("CGANSynthesizer is not fitted: call fit() or load() first")

    # ------------------------------------------------------------ save/load

    def save(self, directory: str | Path) -> Path:
        """Write the generator (.keras), the fitted state (transformer, rules) and the config."""
        self._check_fitted()
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        self.generator_.save(path / _GENERATOR_FILE)
        state = {k: getattr(self, k) for k in _STATE_ATTRS}
        with open(path / _STATE_FILE, "wb") as fh:
            pickle.dump(state, fh)
        summary = {
            "config": dataclasses.asdict(self.config),
            "random_state": self.random_state,
            "label": self.label_,
            "classes": [str(c) for c in self.classes_],
            "condition_column": self.condition_column_,
            "rules": [] if self.rules_ is None else [r.name for r in self.rules_.rules],
            "best_epoch": self.best_epoch_,
            "c2st_auc": self.c2st_auc_,
            "columns": list(self._all_columns),
        }
        (path / _CONFIG_FILE).write_text(json.dumps(summary, indent=2, default=str))
        return path

    @classmethod
    def load(cls, directory: str | Path) -> CGANSynthesizer:
        """Load a synthesizer written by `save` (the pickle is trusted: load only your own)."""
        path = Path(directory)
        for name in (_GENERATOR_FILE, _STATE_FILE, _CONFIG_FILE):
            if not (path / name).exists():
                raise DataError(f"{path}: {name} is missing; not a saved CGANSynthesizer")
        summary = json.loads((path / _CONFIG_FILE).read_text())
        self = cls(CGANConfig(**summary["config"]), random_state=summary["random_state"])
        with open(path / _STATE_FILE, "rb") as fh:
            state = pickle.load(fh)
        for key, value in state.items():
            setattr(self, key, value)
        self.generator_ = keras.models.load_model(path / _GENERATOR_FILE, compile=False)
        self._sample_rng = np.random.default_rng(self.seed_ + 6)
        return self

    def log_to_mlflow(self, name: str = "cgan") -> None:
        """Save into the active MLflow run's artifacts under `name` (no-op without a run)."""
        mlflow = sys.modules.get("mlflow")
        if mlflow is None or mlflow.active_run() is None:
            return
        with tempfile.TemporaryDirectory() as tmp:
            self.save(Path(tmp) / name)
            mlflow.log_artifacts(str(Path(tmp) / name), artifact_path=name)


_STATE_ATTRS = (
    "transformer_",
    "rules_",
    "label_",
    "label_dtype_",
    "classes_",
    "target_label_",
    "feature_columns_",
    "categorical_columns_",
    "condition_column_",
    "condition_categories_",
    "category_frequencies_",
    "_cond_span",
    "_all_columns",
    "history_",
    "checkpoints_",
    "best_epoch_",
    "c2st_auc_",
    "epochs_run_",
    "train_seconds_",
    "rows_per_second_",
    "steps_per_epoch_",
    "steps_run_",
    "critic_steps_run_",
    "seed_",
)


def _cluster_labels(
    free: pd.DataFrame, categorical: list[str], target: np.ndarray, k: int, seed: int
) -> np.ndarray:
    """Cluster names for the target class's rows (k-means on standardised columns and
    one-hots); every other row gets "other"."""
    from sklearn.cluster import KMeans

    rows = free[target]
    continuous = [c for c in free.columns if c not in set(categorical)]
    enc = FrameEncoding.fit(rows, [rows], continuous, categorical)
    k = max(1, min(k, len(rows) // MIN_CLASS_ROWS))
    labels = KMeans(n_clusters=k, n_init=3, random_state=seed).fit_predict(
        enc.distance_matrix(rows)
    )
    out = np.full(len(free), "other", dtype=object)
    out[target] = [f"cluster{c}" for c in labels]
    return out


def _adam(learning_rate: float) -> keras.optimizers.Optimizer:
    return keras.optimizers.Adam(learning_rate=learning_rate, beta_1=0.5, beta_2=0.9)


def _py(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
