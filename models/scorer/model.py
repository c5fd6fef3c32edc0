"""The exported fraud scorer: an MLflow pyfunc model around the champion's fitted pipeline.

`FraudScorer` holds what scoring needs and nothing that training needed: the fitted preprocessing
(the sampler step is dropped: imblearn skips it at predict time anyway), the XGBoost booster cut at
its best iteration, the model's input columns and their training dtypes, the id column that is
passed through, the decision threshold chosen on validation data, and the logistic (Platt)
calibration of its probabilities fitted there, if any. When the model uses causal
history features it also records how to rebuild them (`history`), so that `fraudgan score` can
build them from a raw transaction file with the same code as training. It checks its input
(`models.scorer.inputs`) and builds the model matrix with the compiled preprocessing
(`models.scorer.layout`).

The model signature marks every column optional so that MLflow's own check lets a frame with
missing columns through to the scorer's messages. Its column types (every numeric column as
double, so that a null of an integer column is NaN as everywhere else, and so is a categorical
column whose training categories are numbers, a merchant category code; other categoricals as
string) are still checked by MLflow for pyfunc and REST callers: a text value in a numeric column
is answered by MLflow's message, which names the column; Python callers of the loaded pyfunc pass
integer columns as floats (`signature_frame`). MLflow drops input that matches no signature
column (`{"instances": [1, 2, 3]}`), and the frame that reaches the scorer then has none of the
model's columns: that is an error naming them, never an empty result. MLflow builds the
DataFrame of a REST payload before the model sees it, so a `dataframe_split` row of the wrong
length or a repeated column name is refused in the server's parsing (`guard_scoring_server`).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
import xgboost as xgb
from mlflow.models.signature import ModelSignature
from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema
from scipy.special import expit, logit

from models.errors import DataError
from models.scorer.drift import ServedAlerts
from models.scorer.inputs import (
    CleanInput,
    ScoringInputError,
    as_category,
    as_frame,
    as_numeric,
    check_split_payload,
    plain_rows,
)
from models.scorer.layout import CategoricalBlock, Layout, sklearn_owners
from models.scorer.unseen import SERVED_WINDOW, UnseenCategories

log = logging.getLogger(__name__)

SMALL_FRAME = 64  # rows; below this, plain Python per value beats pandas per column (REST calls)
PROBABILITY = "fraud_probability"
ALERT = "alert"
FRAUD_CONTRIBUTION = "mean_contribution_fraud"  # a column of `FraudScorer.importance`
N_REASONS = 3
BIAS = "bias"


def platt_map(p: Any, slope: float, intercept: float) -> np.ndarray:
    """Probabilities `p` through Platt's logistic calibration, `expit(slope * logit(p) +
    intercept)` (0 and 1 stay 0 and 1 for a slope > 0)."""
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return expit(slope * logit(p) + intercept)


def reason_columns(n: int = N_REASONS) -> list[str]:
    """Output columns added by `explain`: reason_1, reason_1_value, reason_2, ..."""
    out: list[str] = []
    for k in range(1, n + 1):
        out += [f"reason_{k}", f"reason_{k}_value"]
    return out


class FraudScorer(mlflow.pyfunc.PythonModel):
    """Scores transactions: id, fraud probability, alert, and optionally the top reason codes.

    Build it with `FraudScorer.from_pipeline`. `predict(context, frame, params)` is the MLflow
    entry point (`params={"explain": True}` adds reason codes); `score(frame, explain=...)` is the
    same without MLflow.
    """

    def __init__(
        self,
        *,
        steps: list[tuple[str, Any]],
        booster: xgb.Booster,
        numeric: list[str],
        categorical: list[str],
        dtypes: Mapping[str, str],
        threshold: float,
        id_column: str | None = None,
        layout: Layout | None = None,
        history: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.steps = list(steps)
        self.booster = booster
        self.numeric = list(numeric)
        self.categorical = list(categorical)
        self.dtypes = dict(dtypes)
        self.threshold = float(threshold)
        self.id_column = id_column
        self.layout = layout
        self.history = history
        self.metadata = dict(metadata or {})
        self._ready: Layout | None = None
        # Platt's logistic calibration of the probabilities ({"method", "slope", "intercept"})
        self.calibration: dict[str, Any] | None = None

    # ---- construction -------------------------------------------------------------------

    @classmethod
    def from_pipeline(
        cls,
        pipe: Any,
        *,
        numeric: list[str],
        categorical: list[str],
        threshold: float,
        dtypes: Mapping[str, Any],
        id_column: str | None = None,
        history: dict[str, Any] | None = None,
        check_frame: pd.DataFrame | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> FraudScorer:
        """A scorer from a fitted `models.classifier.build_pipeline` pipeline (sampler dropped).

        `dtypes` are the training dtypes of the input columns; `check_frame` (training-like rows)
        verifies that the compiled preprocessing equals scikit-learn's transform.
        """
        steps = [(n, s) for n, s in pipe.steps[:-1] if n != "sampler"]
        clf = pipe.steps[-1][1]
        booster = clf.get_booster()
        best = getattr(clf, "best_iteration", None)
        if best is not None and best + 1 < booster.num_boosted_rounds():
            booster = booster[: best + 1]
        layout = Layout.from_steps(steps, list(numeric), list(categorical))
        scorer = cls(
            steps=steps,
            booster=booster,
            numeric=numeric,
            categorical=categorical,
            dtypes={c: str(dtypes[c]) for c in [*categorical, *numeric]},
            threshold=threshold,
            id_column=id_column,
            layout=layout,
            history=history,
            metadata=metadata,
        )
        if layout is None:
            log.warning("scorer: unknown preprocessing shape, scoring through scikit-learn")
        elif check_frame is not None and len(check_frame):
            sample = check_frame.iloc[: min(len(check_frame), 5000)]
            fast = scorer.matrix(sample)
            slow = scorer._sklearn_matrix(scorer.validate(sample)).astype(np.float32)
            if fast.shape != slow.shape or not np.array_equal(fast, slow, equal_nan=True):
                log.warning("scorer: compiled preprocessing differs from scikit-learn's; using it")
                scorer.layout = None
                scorer._ready = None
        if booster.num_features() != scorer.n_features:
            raise DataError(
                f"scorer: the booster expects {booster.num_features()} features and the "
                f"preprocessing gives {scorer.n_features}"
            )
        return scorer

    def set_calibration(self, slope: float, intercept: float) -> None:
        """Report probabilities through Platt's logistic calibration,
        `expit(slope * logit(p) + intercept)`, and move the threshold with them: the alerts stay
        those of the classifier's own probabilities. `slope` must be > 0 (an increasing map)."""
        if not (np.isfinite(slope) and np.isfinite(intercept) and slope > 0):
            raise ValueError(
                f"calibration needs a finite slope > 0 and a finite intercept, got slope {slope!r}"
                f" and intercept {intercept!r}"
            )
        if self.calibrated_by() is not None:
            raise ValueError("the scorer is calibrated already")
        self.calibration = {"method": "platt", "slope": float(slope), "intercept": float(intercept)}
        if self.threshold <= 1.0:  # above 1 (nothing alerted) it stays above every probability
            self.threshold = float(self.calibrated(np.array([self.threshold]))[0])

    def calibrated_by(self) -> dict[str, Any] | None:
        """The calibration the probabilities go through (None: the classifier's own)."""
        return getattr(self, "calibration", None)  # absent in models exported before it

    def calibrated(self, p: np.ndarray) -> np.ndarray:
        """The classifier's probabilities `p` as this scorer reports them."""
        cal = self.calibrated_by()
        if cal is None:
            return np.asarray(p, dtype=np.float64)
        return platt_map(p, cal["slope"], cal["intercept"])

    # ---- properties ---------------------------------------------------------------------

    @property
    def columns(self) -> list[str]:
        """The model's input columns, in the order the preprocessing expects them."""
        return [*self.categorical, *self.numeric]

    @property
    def n_features(self) -> int:
        if self.layout is not None:
            return self.layout.n_features
        return len(self.feature_owners())

    def _compiled(self) -> Layout | None:
        if self.layout is None:
            return None
        if getattr(self, "_ready", None) is None:
            self._ready = self.layout.with_index()
        return self._ready

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_ready"] = None
        state.pop("_aggregate", None)
        state.pop("_single", None)
        state.pop("_position_cache", None)
        return state

    def feature_owners(self) -> list[str]:
        """The input column behind each column of the model matrix."""
        if self.layout is not None:
            return self.layout.owners()
        return list(sklearn_owners(self.steps, self.numeric, self.categorical))

    def feature_names(self) -> list[str]:
        """Readable names of the model matrix columns."""
        if self.layout is not None:
            return self.layout.feature_names()
        return self.feature_owners()

    def _blocks(self) -> dict[str, CategoricalBlock]:
        """The compiled one-hot block of each categorical column (none without a `Layout`)."""
        return {b.column: b for b in self.layout.categorical} if self.layout else {}

    def text_categoricals(self) -> list[str]:
        """The categorical columns to read as text from a file (`"0042"` must not become 42):
        all but those whose training categories are numbers, or booleans (trained as 'False'
        and 'True', from a file's true/false as the reader parsed them)."""
        blocks = self._blocks()
        return [
            c
            for c in self.categorical
            if c not in blocks or not (blocks[c].numeric_categories or blocks[c].boolean_categories)
        ]

    def unseen_categories(self, frame: pd.DataFrame) -> dict[str, tuple[int, int, list[Any]]]:
        """Per categorical column of `frame`: (its non-missing values, how many of them are no
        category of the training data, the first few such values). Empty without a `Layout`."""
        out: dict[str, tuple[int, int, list[Any]]] = {}
        for block in self.layout.categorical if self.layout is not None else ():
            if block.column not in frame:
                continue
            values = as_category(frame[block.column], block.numeric_categories)
            present = values.notna().to_numpy()
            unseen = present & ~values.isin(block.known).to_numpy()
            examples = list(pd.unique(values[unseen].head(1000)))[:3]
            out[block.column] = (int(present.sum()), int(unseen.sum()), examples)
        return out

    # ---- validation ---------------------------------------------------------------------

    def validate(self, model_input: Any, *, where: str = "") -> pd.DataFrame:
        """The model columns of the input, typed for the preprocessing; `ScoringInputError` if bad.

        `where` prefixes messages (e.g. the input file's name). The result has a positional index.
        """
        return self._clean(as_frame(model_input, where), where).frame(
            self.categorical, self.numeric
        )

    def _check_columns(self, frame: pd.DataFrame, where: str) -> None:
        if not any(c in frame.columns for c in self.columns):
            raise ScoringInputError(
                f"{where}the input has none of the model's {len(self.columns)} columns; expected "
                f"a table with the columns {', '.join(map(str, self.columns))} (over REST: "
                '{"dataframe_split": {"columns": [...], "data": [[...]]}} or '
                '{"dataframe_records": [{...}]})'
            )
        if frame.columns.has_duplicates:
            dup = frame.columns[frame.columns.duplicated()]
            needed = {*self.columns, self.id_column}
            dup = [c for c in dict.fromkeys(dup) if c in needed]
            if dup:
                raise ScoringInputError(f"{where}the input has repeated column name(s) {dup}")
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            built = set((self.history or {}).get("engineered", []))
            hint = ""
            if built & set(missing):
                hint = (
                    "; the history features among them are built by `fraudgan score` from a "
                    "raw transaction file"
                )
            raise ScoringInputError(
                f"{where}the input is missing {len(missing)} column(s) the model needs: "
                f"{', '.join(map(str, missing))}{hint}"
            )

    def _clean(self, frame: pd.DataFrame, where: str) -> CleanInput:
        self._check_columns(frame, where)
        n = len(frame)
        if 0 < n <= SMALL_FRAME:
            small = self._clean_small(frame)
            if small is not None:
                return small
        blocks = self._blocks()
        categorical = {
            c: as_category(frame[c], c in blocks and blocks[c].numeric_categories).reset_index(
                drop=True
            )
            for c in self.categorical
        }
        numeric = np.empty((n, len(self.numeric)), dtype=np.float64)
        for j, c in enumerate(self.numeric):
            numeric[:, j] = as_numeric(frame, c, where)
        return CleanInput(n, categorical, numeric)

    def _clean_small(self, frame: pd.DataFrame) -> CleanInput | None:
        """A few rows (a REST call): one object array, Python per value; None to go the long way.

        Gives exactly what the long way gives, or None when a value needs its checks (text that
        is not a number, dates, infinities, categories of numbers).
        """
        if self.layout is None or any(b.numeric_categories for b in self.layout.categorical):
            return None
        values = frame.to_numpy(dtype=object)[:, self._positions(frame.columns)]
        return plain_rows(values, self.categorical)

    def _positions(self, columns: pd.Index) -> np.ndarray:
        """Where the model's columns are among `columns` (remembered: REST calls repeat them)."""
        cache = self.__dict__.setdefault("_position_cache", {})
        key = tuple(columns)
        found = cache.get(key)
        if found is None:
            if len(cache) >= 16:
                cache.clear()
            found = cache[key] = columns.get_indexer(self.columns)
        return found

    # ---- scoring ------------------------------------------------------------------------

    def _sklearn_matrix(self, clean: CleanInput | pd.DataFrame) -> np.ndarray:
        x: Any = clean
        if isinstance(clean, CleanInput):
            x = clean.frame(self.categorical, self.numeric)
        for _, step in self.steps:
            x = step.transform(x)
        return np.asarray(x)

    def matrix(self, model_input: Any, *, where: str = "") -> np.ndarray:
        """The float32 model matrix of raw model input (validated)."""
        return self._matrix(self._clean(as_frame(model_input, where), where))

    def _matrix(self, clean: CleanInput) -> np.ndarray:
        layout = self._compiled()
        if layout is not None:
            return layout.transform(clean, per_value=clean.n <= SMALL_FRAME)
        return self._sklearn_matrix(clean).astype(np.float32)

    def predict_proba(self, model_input: Any) -> np.ndarray:
        """Fraud probability per row."""
        clean = self._clean(as_frame(model_input, ""), "")
        if not clean.n:
            return np.zeros(0)
        return self._probability(self._matrix(clean))

    def _probability(self, m: np.ndarray) -> np.ndarray:
        booster = self.booster if len(m) > SMALL_FRAME else self._one_thread()
        return self.calibrated(booster.inplace_predict(m))

    def _one_thread(self) -> xgb.Booster:
        """The booster on one thread, for a few rows (a REST call): waking XGBoost's threads
        costs more than the prediction, and on a busy machine up to tens of milliseconds."""
        single = getattr(self, "_single", None)
        if single is None:
            single = self.booster.copy()
            single.set_param({"nthread": 1})
            self._single = single
        return single

    def contributions(self, model_input: Any) -> pd.DataFrame:
        """Per row, each input column's contribution to the log-odds, plus `bias`.

        One-hot and missing-indicator contributions are summed into their input column, so the
        row sum equals the model's logit.
        """
        frame = as_frame(model_input, "")
        if not len(frame):  # XGBoost's contributions of no rows lose their shape
            self._check_columns(frame, "")
            empty = {c: pd.Series([], dtype=np.float64) for c in [*self.columns, BIAS]}
            return pd.DataFrame(empty, index=frame.index)
        per_column, bias = self._contributions(self._matrix(self._clean(frame, "")))
        out = pd.DataFrame(per_column, columns=self.columns, index=frame.index)
        out[BIAS] = bias
        return out

    def importance(self, model_input: Any, fraud_rows: Any = None) -> pd.DataFrame:
        """Each input column's mean absolute contribution to the log-odds over the rows of
        `model_input` (TreeSHAP, as `contributions`) and its share of their sum, largest first:
        columns `feature`, `mean_abs_contribution`, `share`; with `fraud_rows` (rows known to be
        fraud), `FRAUD_CONTRIBUTION`, each column's mean signed contribution over them: what
        pushes real fraud's score up (positive) or down."""
        contrib = self.contributions(model_input).drop(columns=[BIAS])
        if contrib.empty:
            raise DataError("importance: the input has no rows to explain")
        mean = contrib.abs().mean().to_numpy(dtype=np.float64)
        total = mean.sum()
        out = pd.DataFrame(
            {
                "feature": contrib.columns,
                "mean_abs_contribution": mean,
                "share": mean / total if total > 0 else np.zeros_like(mean),
            }
        )
        if fraud_rows is not None:
            fraud = self.contributions(fraud_rows).drop(columns=[BIAS])
            out[FRAUD_CONTRIBUTION] = fraud.mean().to_numpy(dtype=np.float64)
        order = np.argsort(-mean, kind="stable")
        return out.iloc[order].reset_index(drop=True)

    def _contributions(self, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(per input column contributions, bias) from XGBoost's per-feature contributions."""
        threads = 1 if len(m) <= 10_000 else -1  # thread start-up dominates small matrices
        dm = xgb.DMatrix(m, missing=np.nan, nthread=threads)
        raw = self.booster.predict(dm, pred_contribs=True)
        agg = getattr(self, "_aggregate", None)
        if agg is None or agg.shape[0] != raw.shape[1] - 1:
            position = {c: k for k, c in enumerate(self.columns)}
            owners = self.feature_owners()
            agg = np.zeros((len(owners), len(position)), dtype=np.float64)
            agg[np.arange(len(owners)), [position[o] for o in owners]] = 1.0
            self._aggregate = agg
        per_column, bias = raw[:, :-1].astype(np.float64) @ agg, raw[:, -1].astype(np.float64)
        cal = self.calibrated_by()
        if cal is not None:  # the calibrated log-odds: slope * the classifier's + intercept
            per_column, bias = cal["slope"] * per_column, cal["slope"] * bias + cal["intercept"]
        return per_column, bias

    def score(self, model_input: Any, *, explain: bool = False, where: str = "") -> pd.DataFrame:
        """The output frame: id (when present), `fraud_probability`, `alert`, reasons if `explain`."""
        frame = as_frame(model_input, where)
        if not len(frame):
            self._check_columns(frame, where)
            return self.empty_output(
                explain=explain, with_id=self.id_column is not None and self.id_column in frame
            )
        clean = self._clean(frame, where)
        m = self._matrix(clean)
        p = self._probability(m)
        out: dict[str, Any] = {}
        if self.id_column is not None and self.id_column in frame.columns:
            out[self.id_column] = frame[self.id_column].array  # Int64's missing ids stay so
        out[PROBABILITY] = p
        out[ALERT] = (p >= self.threshold).astype(np.int8)
        if explain:
            contrib, _ = self._contributions(m)
            k = min(N_REASONS, contrib.shape[1])
            top = np.argsort(-contrib, axis=1, kind="stable")[:, :k]
            names = np.asarray(self.columns, dtype=object)
            for r in range(N_REASONS):
                if r < k:
                    out[f"reason_{r + 1}"] = names[top[:, r]]
                    out[f"reason_{r + 1}_value"] = np.take_along_axis(
                        contrib, top[:, r : r + 1], 1
                    )[:, 0]
                else:
                    out[f"reason_{r + 1}"] = np.full(len(frame), None, dtype=object)
                    out[f"reason_{r + 1}_value"] = np.full(len(frame), np.nan)
        return pd.DataFrame(out, index=frame.index)

    def empty_output(self, *, explain: bool = False, with_id: bool = True) -> pd.DataFrame:
        """A zero-row output frame with the output columns and dtypes."""
        cols: dict[str, Any] = {}
        if with_id and self.id_column is not None:
            dtype = self.metadata.get("id_dtype", "object")
            try:
                cols[self.id_column] = pd.Series([], dtype=dtype)
            except TypeError:
                cols[self.id_column] = pd.Series([], dtype=object)
        cols[PROBABILITY] = pd.Series([], dtype=np.float64)
        cols[ALERT] = pd.Series([], dtype=np.int8)
        if explain:
            for r in range(1, N_REASONS + 1):
                cols[f"reason_{r}"] = pd.Series([], dtype=object)
                cols[f"reason_{r}_value"] = pd.Series([], dtype=np.float64)
        return pd.DataFrame(cols)

    def load_context(self, context: Any) -> None:
        """Inside a Spark task, XGBoost uses the task's CPUs (`spark.task.cpus`), not every core;
        inside MLflow's scoring server, REST payloads are checked before pandas reads them, and
        the categorical values it scores (`UnseenCategories`) and its alerts (`ServedAlerts`)
        are counted."""
        cpus = _spark_task_cpus()
        if cpus is not None:
            self.booster.set_param({"nthread": cpus})
        if guard_scoring_server():
            self._served = UnseenCategories(self, window=SERVED_WINDOW)
            self._served_alerts = ServedAlerts(getattr(self, "metadata", {}).get("validation"))

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """MLflow entry point: `score(model_input, explain=params.get("explain", False))`; in
        the scoring server, a warning in its log, once per column, when a categorical column's
        latest values (`SERVED_WINDOW`) are mostly categories the model never saw, and one for
        each window of requests whose alert rate drifts from the validation slice's
        (`ServedAlerts`)."""
        explain = bool((params or {}).get("explain", False))
        out = self.score(model_input, explain=explain)
        served = getattr(self, "_served", None)
        if served is not None and isinstance(model_input, pd.DataFrame):
            served.count(model_input)
            served.warnings("REST input", sampled=" in the latest requests")
        alerts = getattr(self, "_served_alerts", None)
        if alerts is not None:
            alerts.count(len(out), int(out[ALERT].sum()))
        return out

    # ---- MLflow metadata ------------------------------------------------------------------

    def signature(self) -> ModelSignature:
        """Input columns (all optional, the scorer checks them; numbers as double), outputs and
        the `explain` param."""
        inputs = []
        if self.id_column is not None:
            inputs.append(
                ColSpec(
                    _mlflow_type(self.metadata.get("id_dtype", "str")),
                    self.id_column,
                    required=False,
                )
            )
        doubles = set(self.double_columns())
        for c in self.columns:
            # numbers as double: MLflow cannot put a null into a long column
            inputs.append(ColSpec("double" if c in doubles else "string", c, required=False))
        outputs = [ColSpec("double", PROBABILITY), ColSpec("integer", ALERT)]
        for r in range(1, N_REASONS + 1):
            outputs += [
                ColSpec("string", f"reason_{r}", required=False),
                ColSpec("double", f"reason_{r}_value", required=False),
            ]
        params = ParamSchema([ParamSpec("explain", "boolean", False)])
        return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs), params=params)

    def double_columns(self) -> list[str]:
        """The input columns its signature declares as double: the numeric ones and the
        categorical ones whose training categories are numbers (a merchant category code)."""
        blocks = self._blocks()
        return [
            c
            for c in self.columns
            if c in self.numeric or (c in blocks and blocks[c].numeric_categories)
        ]

    def signature_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """`frame` in the types its signature declares: float64 for `double_columns`, text
        (object) for the other categorical columns (a pandas `category` column included).

        MLflow refuses int64 for a double column (not every int64 is exactly a double) and
        anything but text for a string one: Python callers of the loaded pyfunc pass integer
        columns as floats. REST JSON needs no care.
        """
        doubles = set(self.double_columns())
        out = frame.copy(deep=False)
        for c in frame.columns.intersection(self.columns):
            if c in doubles:
                numbers = as_category(frame[c], True) if c in self.categorical else frame[c]
                if numbers.dtype != np.float64:
                    out[c] = numbers.astype(np.float64)
            elif not (frame[c].dtype == object or isinstance(frame[c].dtype, pd.StringDtype)):
                out[c] = as_category(frame[c], False)
        return out

    def feature_spec(self) -> dict[str, Any]:
        """The feature list and preprocessing, as JSON-ready data, for scoring outside Python."""
        spec: dict[str, Any] = {
            "id_column": self.id_column,
            "categorical": self.categorical,
            "numeric": self.numeric,
            "dtypes": self.dtypes,
            "threshold": self.threshold,
            "decision": f"alert when {PROBABILITY} >= threshold",
            "calibration": self.calibrated_by(),
            "probability": (
                f"{PROBABILITY} = the booster's probability p"
                if self.calibrated_by() is None
                else f"{PROBABILITY} = 1 / (1 + exp(-(slope * ln(p / (1 - p)) + intercept))), "
                "p the booster's probability, slope and intercept those of `calibration`"
            ),
            "booster_features": self.feature_names(),
            "history_features": self.history,
        }
        if self.layout is not None:
            spec["preprocessing"] = self.layout.describe()
        else:
            spec["preprocessing"] = "scikit-learn pipeline (see the pyfunc model)"
        return spec


def _mlflow_type(dtype: str) -> str:
    """The signature type of a training dtype: integers as long and floats as double (upcasts)."""
    d = str(dtype).lower()
    if d in ("bool", "boolean"):
        return "boolean"
    if d.startswith(("int", "uint")):
        return "long"
    if d.startswith("float"):
        return "double"
    if d.startswith("datetime"):
        return "datetime"
    return "string"


def guard_scoring_server() -> bool:
    """In a process running MLflow's scoring server (`mlflow models serve`), check each JSON
    payload with `check_split_payload` before MLflow builds its DataFrame: pandas would pad a
    short `dataframe_split` row (its values shifted into the wrong columns, answered 200) and a
    repeated column name fails later with an unrelated error. Elsewhere nothing is changed.
    Whether this process runs the scoring server."""
    server = sys.modules.get("mlflow.pyfunc.scoring_server")
    parse = getattr(server, "dataframe_from_parsed_json", None)
    if parse is None:
        return False
    if getattr(parse, "fraudgan_checked", False):
        return True

    def checked(decoded_input: Any, pandas_orient: str, schema: Any = None) -> Any:
        check_split_payload(decoded_input, pandas_orient)
        return parse(decoded_input, pandas_orient, schema=schema)

    checked.fraudgan_checked = True  # type: ignore[attr-defined]
    server.dataframe_from_parsed_json = checked  # type: ignore[union-attr]
    return True


def _spark_task_cpus() -> int | None:
    """CPUs of the Spark task this code runs in; None outside Spark tasks."""
    if "pyspark" not in sys.modules:
        return None
    from pyspark import TaskContext

    context = TaskContext.get()
    return None if context is None else max(1, int(context.cpus()))
