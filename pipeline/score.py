"""Batch scoring of CSV and Parquet files with an exported fraud model, in chunks.

`score_file` loads a `models.scorer.FraudScorer` from MLflow (default
`models:/fraud-detector@champion`), streams the input file in chunks, and writes one output row per
input row: the id column, `fraud_probability`, `alert`, and the reason codes with `explain`.

When the model uses causal history features, they are built from the input file itself (which
carries the history) with `pipeline.features.build_features`, the code that built them for
training. Every feature of a row looks back at most `label_delay_days + max(windows_days)` (the
fraud rates) except `entity_secs_since_prev` (and a velocity column's), which looks back to the
card's (device's...) previous transaction however old; so between chunks the rows inside that
horizon are carried over, plus each card's (device's...) latest older row. Features of a chunk's
rows are therefore the same as when the whole file is built at once, and only each chunk's own rows
are scored. The file must be in ascending
time order across chunks (a file written by `fraudgan simulate` is); `chunk_rows=0` reads it whole.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.errors import DataError, FraudganError
from models.scorer import ALERT, PROBABILITY
from models.scorer.drift import alert_drift
from models.scorer.unseen import UnseenCategories
from pipeline.config import DEFAULT_MODEL_URI
from pipeline.console import RETURNED
from pipeline.data.schema import SECONDS_PER_UNIT
from pipeline.data.sources import (
    OUTPUT_COMPRESSIONS,
    UNREADABLE,
    UTF8_ADVICE,
    arrow_frame,
    check_unique_names,
    coerce_label,
    coerce_numeric,
    coerce_time,
    csv_compression,
    csv_folder,
    csv_header,
    data_files,
    datetime_offsets,
    entity_keys,
    folder_keys,
    is_parquet,
    open_csv_bytes,
    open_csv_text,
    output_compression,
    parquet_folder,
    repeated_ids_warning,
    rows_in_files,
    whole_numbers_as_integers,
    with_keys,
)

log = logging.getLogger(__name__)

DEFAULT_CHUNK_ROWS = 200_000
SUFFIXES = (".csv", ".parquet")


@dataclass
class ScoreSummary:
    """What `score_file` did."""

    model_uri: str
    input_path: str
    output_path: str
    rows: int
    alerts: int
    chunks: int
    seconds: float
    history_features: bool
    feature_seconds: float = 0.0  # building history features
    model_seconds: float = 0.0  # validating, transforming, predicting (and explaining)
    warnings: list[str] = field(default_factory=list)
    reported_rows: int | None = None  # rows labelled fraud by the reports of `labels`
    note: str = ""  # the batch against the validation slice (`batch_note`)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("nan")


MODEL_TRUST = (
    "An MLflow pyfunc model is pickled Python: loading it runs its code. Only models of the "
    "configured MLflow store (models:/NAME@ALIAS, models:/NAME/VERSION, models:/MODEL_ID) and "
    "local model folders named explicitly are accepted; name only folders you trust."
)


def check_model_uri(model_uri: str) -> str:
    """`model_uri` when it names a model of the configured store or an existing local model folder.

    Anything else (`runs:/`, `s3://`, `https://`, ...) raises `FraudganError`: see `MODEL_TRUST`.
    """
    from urllib.parse import unquote, urlparse

    if model_uri.startswith("models:/"):
        return model_uri
    parsed = urlparse(model_uri)
    if parsed.scheme == "file":
        folder = Path(unquote(parsed.path))
    elif len(parsed.scheme) <= 1:  # a plain path (a Windows drive letter parses as a scheme)
        folder = Path(os.path.expanduser(model_uri))
    else:
        raise FraudganError(f"--model {model_uri}: not accepted. {MODEL_TRUST}")
    if not folder.is_dir():
        raise FraudganError(
            f"--model {model_uri}: no such folder. Give models:/NAME@ALIAS for a registered model, "
            f"or the folder of a saved model. {MODEL_TRUST}"
        )
    if not (folder / "MLmodel").is_file():
        raise FraudganError(
            f"--model {model_uri}: the folder has no MLmodel file; it is not a saved MLflow model"
        )
    return model_uri


def load_scorer(model_uri: str = DEFAULT_MODEL_URI) -> Any:
    """The `FraudScorer` inside an MLflow pyfunc model; clear errors for bad URIs or models."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from pipeline import tracking

    check_model_uri(model_uri)
    tracking.setup()
    try:
        model = mlflow.pyfunc.load_model(model_uri)
    except MlflowException as exc:
        raise FraudganError(
            f"cannot load model {model_uri!r} from the store {mlflow.get_tracking_uri()}: "
            f"{exc.message}. Export one with `fraudgan export --latest`"
        ) from None
    except (OSError, ModuleNotFoundError) as exc:
        raise FraudganError(f"cannot load model {model_uri!r}: {exc}") from None
    try:
        scorer = model.unwrap_python_model()
    except (AttributeError, MlflowException):
        scorer = None
    if scorer is None or not all(hasattr(scorer, a) for a in ("score", "columns", "validate")):
        raise FraudganError(f"model {model_uri!r} is not a fraudgan scorer (see `fraudgan export`)")
    return scorer


COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz", ".zip")
"""A compressed CSV to score ends in one of these (`sources.csv_compression`)."""


def _readable_input(path: Path) -> bool:
    """A folder of Parquet files, or a compressed CSV (`tx.csv.gz`, `creditcard.zip`)."""
    return path.is_dir() or path.suffix.lower() in COMPRESSED_SUFFIXES


def _check_paths(input_path: Path, output_path: Path, overwrite: bool) -> None:
    if output_path.is_dir():
        raise DataError(
            f"--output {output_path} is a folder: name the file to write in it, ending in .csv "
            "or .parquet (a folder of Parquet files is what score --engine spark writes)"
        )
    for role, p in (("--input", input_path), ("--output", output_path)):
        readable = _readable_input(p) if role == "--input" else output_compression(p) is not None
        if p.suffix.lower() not in SUFFIXES and not readable:
            also = (
                " (or a CSV compressed as .gz, .bz2, .xz or .zip, or a folder of Parquet files)"
                if role == "--input"
                else f" (or {', '.join(OUTPUT_COMPRESSIONS)}, a compressed CSV)"
            )
            raise DataError(
                f"{role} {p}: the file must end in .csv or .parquet{also}, not {p.suffix!r}"
            )
    if not input_path.is_file() and not input_path.is_dir():
        raise DataError(f"--input {input_path}: no such file or folder")
    if not output_path.parent.is_dir():
        raise DataError(f"--output {output_path}: the folder {output_path.parent} does not exist")
    if output_path.exists() and output_path.resolve() == input_path.resolve():
        raise DataError(f"--output {output_path} is the input file; choose another name")
    if output_path.exists() and not overwrite:
        raise DataError(
            f"--output {output_path} exists; choose another name, or pass --overwrite to replace it"
        )


# --------------------------------------------------------------------------------------------
# reading


def _count_csv_rows(path: Path, compression: str | None = None) -> int:
    """Data rows of a CSV (newlines minus the header); for the progress bar only."""
    lines = 0
    last = b"\n"
    with open_csv_bytes(path, compression) as f:
        while chunk := f.read(1 << 22):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    if last != b"\n":
        lines += 1
    return max(lines - 1, 0)


def history_keys(scorer: Any) -> list[str]:
    """The key columns (`Schema.key_columns`) whose history the scorer's features count, but the
    id and the model's categorical columns: read as text from a CSV, exact from Parquet
    (`arrow_frame`), so that a 19-digit card number in a column with a missing one keeps its last
    digits, in every chunk alike."""
    from pipeline.data.schema import Schema

    if scorer.history is None:
        return []
    schema = Schema.from_dict(scorer.history["schema"])
    taken = {schema.id, *scorer.categorical}
    return [c for c in schema.key_columns() if c not in taken]


def _arrow_chunks(
    total: int,
    schema: Any,
    batches: Callable[[int], Iterator[Any]],
    chunk_rows: int,
    where: str,
    keys: list[str],
) -> Iterator[pd.DataFrame]:
    """Arrow record batches of `chunk_rows` (0: all) as frames indexed by their position in the
    input (integer `keys` exact: `arrow_frame`); an empty input is one empty frame of its
    columns."""
    import pyarrow as pa

    start = 0
    try:
        if total == 0:
            yield schema.empty_table().to_pandas()
            return
        pieces: Iterator[Any] = batches(chunk_rows if chunk_rows > 0 else total)
        if chunk_rows == 0:  # a folder's dataset gives a batch per file at least: join them
            pieces = iter(pa.Table.from_batches(list(pieces)).combine_chunks().to_batches())
        for batch in pieces:
            if batch.num_rows == 0:
                continue
            frame = arrow_frame(batch, keys)
            frame.index = pd.RangeIndex(start, start + len(frame))
            start += len(frame)
            yield frame
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"{where}: cannot read row {start} onwards ({exc})") from None


def iter_chunks(path: Path, chunk_rows: int, scorer: Any) -> tuple[int, Iterator[pd.DataFrame]]:
    """(total rows, chunks) of a CSV or Parquet file, or of a folder of Parquet files
    (`sources.parquet_folder`) or of CSV files (`sources.csv_folder`); chunk index = position in
    the input (the folder's files in name order)."""
    where = f"--input {path}"
    # the integer keys a Parquet input's chunks keep exact (`arrow_frame`), the id among them
    exact = [c for c in (scorer.id_column, *history_keys(scorer)) if c is not None]
    if path.is_dir():
        if not all(is_parquet(p) for p in data_files(path, where)):
            return _csv_folder_chunks(path, chunk_rows, scorer, where)
        dataset = parquet_folder(path, where, scorer.text_categoricals())
        total = dataset.count_rows()
        chunks = _arrow_chunks(
            total,
            dataset.schema,
            lambda n: dataset.to_batches(batch_size=n),
            chunk_rows,
            where,
            exact,
        )
        return total, chunks
    if path.suffix.lower() == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(path)
        except (OSError, pa.ArrowException) as exc:
            raise DataError(f"{where}: not a readable Parquet file ({exc})") from None
        total = pf.metadata.num_rows
        check_unique_names(pf.schema_arrow.names, where)
        chunks = _arrow_chunks(
            total,
            pf.schema_arrow,
            lambda n: pf.iter_batches(batch_size=n),
            chunk_rows,
            where,
            exact,
        )
        return total, chunks

    # a repeated name would be renamed by pandas, a ';' file one column
    compression = csv_compression(path, where)
    csv_header(path, where, "name it .parquet", compression=compression)
    total = _csv_rows(path, compression, where)
    return total, _csv_chunks(path, compression, chunk_rows, scorer, where, 0, total == 0)


FOLDER_FILE = "fraudgan_folder_file"
"""The `DataFrame.attrs` key of a chunk from a folder's files: [(a file's first row in the input,
its name)], one file, or every file of the folder read whole."""


def _csv_folder_chunks(
    path: Path, chunk_rows: int, scorer: Any, where: str
) -> tuple[int, Iterator[pd.DataFrame]]:
    """(total rows, chunks) of a folder of CSV files, one file after the other; `chunk_rows` 0:
    the folder whole, as one chunk (its files need not be in time order then)."""
    files = csv_folder(path, where)
    names = [str(file.relative_to(path)) for file, _ in files]
    keys = folder_keys([file for file, _ in files], path, scorer.text_categoricals())
    totals = [
        _csv_rows(file, compression, f"{where}: {name}")
        for (file, compression), name in zip(files, names, strict=True)
    ]

    def by_file() -> Iterator[pd.DataFrame]:
        start = 0
        for i, ((file, compression), name, total, key) in enumerate(
            zip(files, names, totals, keys, strict=True)
        ):
            empty = i == 0 and sum(totals) == 0  # the first file's header: the columns
            if total or empty:
                named = f"{where}: {name}"
                for chunk in _csv_chunks(
                    file, compression, chunk_rows, scorer, named, start, empty
                ):
                    chunk = with_keys(chunk, key)
                    chunk.attrs[FOLDER_FILE] = [(start, name)]
                    yield chunk
            start += total

    def whole() -> Iterator[pd.DataFrame]:
        frames = list(by_file())
        if len(frames) == 1:
            yield from frames
            return
        parts = [part for frame in frames for part in frame.attrs[FOLDER_FILE]]
        frame = pd.concat(frames)
        frame.attrs[FOLDER_FILE] = parts
        yield frame

    return sum(totals), whole() if chunk_rows == 0 else by_file()


def _in_file(text: str, where: str, parts: list[tuple[int, str]]) -> str:
    """A message about a chunk of a folder's files (`FOLDER_FILE`): rows are numbered across the
    folder's files, so its row numbers become their file's, or a chunk of one file has the file
    named after `where` (unless the message names it)."""
    if any(name in text for _, name in parts):
        return text
    named = rows_in_files(text, parts)
    if named != text or len(parts) > 1:
        return named
    return text.replace(f"{where}: ", f"{where}: {parts[0][1]}: ", 1)


def _csv_rows(path: Path, compression: str | None, where: str) -> int:
    try:
        return _count_csv_rows(path, compression)
    except UNREADABLE as exc:
        raise DataError(f"{where}: cannot read the file ({exc})") from None


PLAIN_INTEGER = r"-?(?:0|[1-9][0-9]{0,17})"
"""An integer written plainly (no leading zero, sign or decimal point), within int64."""


def ids_as_read(ids: pd.Series) -> pd.Series:
    """A CSV's ids, read as text, as the scores' ids: integers where every id is one written
    plainly (no leading zero, sign or decimal point: nothing lost), missing ones kept; else the
    file's text, so that "0042" and "C000123" join back to the rows they came from."""
    present = ids.dropna()
    if not len(present) or not present.astype(str).str.fullmatch(PLAIN_INTEGER).all():
        return ids
    if len(present) == len(ids):
        return ids.astype(np.int64)
    return pd.Series(
        pd.array(ids.astype(object).where(ids.notna(), None), dtype="Int64"), index=ids.index
    )


def _csv_chunks(
    path: Path,
    compression: str | None,
    chunk_rows: int,
    scorer: Any,
    where: str,
    start: int,
    empty: bool,
) -> Iterator[pd.DataFrame]:
    """A CSV file's chunks indexed by their position in the input, from `start`; an empty file
    (`empty`) is one empty frame of its columns."""
    dtypes = {c: "str" for c in scorer.text_categoricals()}  # "0042" must not become 42
    if scorer.id_column is not None:  # the ids written out as read, to join the scores back
        dtypes[scorer.id_column] = "str"
    keys = history_keys(scorer)
    dtypes.update(dict.fromkeys(keys, "str"))
    try:
        with open_csv_bytes(path, compression) as raw:
            header = pd.read_csv(raw, nrows=0)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{where}: not a readable CSV file ({exc})") from None
    known = {c: d for c, d in dtypes.items() if c in header.columns}
    if empty:
        yield header.astype(known) if known else header
        return
    first = start
    try:
        with open_csv_bytes(path, compression) as raw:
            reader = pd.read_csv(raw, chunksize=chunk_rows if chunk_rows > 0 else None, dtype=known)
            chunks = reader if chunk_rows > 0 else [reader]
            for frame in chunks:
                if scorer.id_column in frame:
                    frame[scorer.id_column] = ids_as_read(frame[scorer.id_column])
                for key in keys:
                    if key in frame:
                        frame[key] = whole_numbers_as_integers(frame[key])
                frame.index = pd.RangeIndex(start, start + len(frame))
                start += len(frame)
                yield frame
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{where}: cannot read row {start - first} onwards (not UTF-8 text: {exc.reason}); "
            f"{UTF8_ADVICE}"
        ) from None
    except (OSError, ValueError) as exc:
        raise DataError(f"{where}: cannot read row {start - first} onwards ({exc})") from None


# --------------------------------------------------------------------------------------------
# history features across chunks


def check_history_input(
    columns: list[str],
    raw_columns: list[str],
    engineered: list[str],
    where: str,
    history_inputs: Sequence[str],
) -> tuple[list[str], str | None]:
    """(engineered columns already in the input, the warning that they are rebuilt, or None).

    Raises `DataError` naming the raw columns the model needs that the input lacks, those its
    history features are built from (`history_inputs`) apart from its plain features.
    """
    present = set(columns)
    missing = [c for c in raw_columns if c not in present]
    if missing:
        built = [c for c in missing if c in history_inputs]
        plain = [c for c in missing if c not in history_inputs]
        parts = []
        if built:
            them = "it" if len(built) == 1 else "them"
            parts.append(f"{', '.join(built)} (its history features are built from {them})")
        if plain:
            parts.append(f"{', '.join(plain)} (model feature{'s' * (len(plain) > 1)})")
        raise DataError(
            f"{where}: missing {len(missing)} column(s) the model needs: {'; '.join(parts)}"
        )
    already = [c for c in engineered if c in present]
    if not already:
        return already, None
    return already, (
        f"{where}: column(s) {already[:5]}{'...' if len(already) > 5 else ''} are "
        "rebuilt from the raw columns (the file's own values are ignored)"
    )


def no_label_warning(where: str, label: str) -> str:
    """The warning given when the input has no label column (no label is known yet)."""
    return (
        f"{where}: no label column {label!r}; merchant fraud rates are built as if no label "
        "were known yet (labels kept in a file of fraud reports: --labels)"
    )


def check_report_input(columns: list[str], schema: Any, reports: Any, where: str) -> None:
    """`DataError` for an input that `--labels` (the `ReportBook` `reports`) cannot label: one
    with a label column of its own, or without the model's id column."""
    if schema.label in columns:
        raise DataError(
            f"{where}: has a label column {schema.label!r} and --labels names reports "
            f"({reports.source}) to make it from: give the labels one way"
        )
    if schema.id is None or schema.id not in columns:
        raise DataError(
            f"{where}: --labels joins the reports by the model's id column {schema.id!r}, which "
            "the input lacks"
        )


def unmatched_reports_warning(reports: Any, rows: int) -> str:
    """The warning given when none of the input's `rows` is among the reports' ids."""
    return (
        f"--labels {reports.source}: none of the input's {rows:,} rows has an id among the "
        f"reports' {reports.column!r}, so its fraud rates are those of a history without "
        "known fraud: are the ids written the same way, and do the reports cover this input?"
    )


REPORT_DELAYS = "__fraudgan_report_delay_days__"
"""The carried column of each row's days to its fraud report (`--labels` with `--reported-at`)."""

TIME_SPANS = 100  # a file's times this many training spans beyond the training range are suspect


def _thousandth(per: float) -> str:
    """The unit of `per` seconds (milliseconds a thousandth of seconds), else "another unit"."""
    named = [u for u, f in SECONDS_PER_UNIT.items() if np.isclose(f, per)]
    return named[0] if named else "another unit"


class TimeCheck:
    """A file's time column against the time the model trained on (`metadata["time"]`, see
    `pipeline.export.time_spec`), chunk by chunk.

    Numbers whose median is 1000 times the training range (epoch milliseconds for a model of
    epoch seconds, or the other way round) are refused; numbers far outside the training range
    otherwise are a warning. Dates with UTC offsets for a model trained on dates without one (or
    the other way round) are a warning that says which convention applies.
    """

    def __init__(self, spec: dict[str, Any], where: str) -> None:
        self.spec = spec
        self.column = str(spec["column"])
        self.where = where
        self.warnings: list[str] = []
        self._warned: set[str] = set()

    def _warn(self, key: str, text: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(text, extra=RETURNED)
            self.warnings.append(text)

    def check(self, chunk: pd.DataFrame) -> None:
        """Raise `DataError` or record a warning (once) about this chunk's times."""
        if self.column not in chunk.columns or not len(chunk):
            return
        if self.spec["unit"] == "datetime":
            self._check_offsets(chunk[self.column])
        else:
            self._check_numbers(chunk[self.column])

    def _check_numbers(self, s: pd.Series) -> None:
        unit = str(self.spec["unit"])
        per = SECONDS_PER_UNIT[unit]
        # before the unit's own bounds, so that a unit 1000 times off is named as such
        seconds = coerce_time(s, self.column, unit, self.where, model=True, span=False)
        median = float(np.median(seconds.to_numpy(dtype=np.float64)))
        low, high = float(self.spec["min"]), float(self.spec["max"])
        margin = TIME_SPANS * max(high - low, 86_400.0)
        plausible = low - margin, high + margin
        if plausible[0] <= median <= plausible[1]:
            return
        trained = f"the model was trained on {low / per:.6g} .. {high / per:.6g} {unit}"
        name = f"{self.where}: time column {self.column!r}"
        shown = f"{median / per:.6g}"
        if median > plausible[1] and plausible[0] <= median / 1000 <= plausible[1]:
            raise DataError(
                f"{name} looks like {_thousandth(per / 1000)} where the model has {unit}: "
                f"its median {shown} is about 1000 times the times {trained} on; give {unit}"
            )
        if median < plausible[0] and plausible[0] <= median * 1000 <= plausible[1]:
            raise DataError(
                f"{name} looks like {_thousandth(per * 1000)} where the model has {unit}: "
                f"its median {shown} is about 1000 times smaller than the times {trained} on; "
                f"give {unit}"
            )
        self._warn(
            "range",
            f"{name}: the times (median {shown}) are far outside the range {trained}; "
            "check the unit and the origin of the times",
        )

    def _check_offsets(self, s: pd.Series) -> None:
        offsets = datetime_offsets(s)
        has = bool(offsets.any())
        trained = bool(self.spec.get("offsets", False))
        if has == trained:
            return
        name = f"{self.where}: time column {self.column!r}"
        if has:
            example = s[offsets].iloc[0]
            self._warn(
                "offsets",
                f"{name} has times with a UTC offset (e.g. {example!r}); they are converted to "
                "UTC, but the model was trained on times without an offset, which were read as "
                "they are: if those were local times, the features of this file are shifted by "
                "the offset. Give the times as in training (without an offset)",
            )
        else:
            example = s[s.notna()].iloc[0] if s.notna().any() else None
            self._warn(
                "offsets",
                f"{name} has times without a UTC offset (e.g. {example!r}), read as UTC; the "
                "model was trained on times with offsets, converted to UTC. If this file's "
                "times are local times, give them with their offset",
            )


class HistoryFeatures:
    """Builds a model's history features chunk by chunk, as they are built on the whole file."""

    def __init__(self, history: dict[str, Any], where: str, reports: Any = None) -> None:
        from pipeline.data.schema import Schema

        self.schema = Schema.from_dict(history["schema"])
        # the labels from a file of fraud reports (`pipeline.data.labels.ReportBook`)
        self.reports = reports
        self.reported_rows = 0
        self.delay = float(history["label_delay_days"])
        self.windows = tuple(float(w) for w in history["windows_days"])
        self.horizon = float(history.get("horizon_days", self.delay + max(self.windows)))
        self.merchant_entities = bool(history.get("merchant_entities", False))
        self.raw_columns = list(history["raw_columns"])
        self.engineered = list(history["engineered"])
        self.day_first = history.get("day_first")  # absent in models exported before it
        self.dates_day_first = dict(history.get("dates_day_first") or {})
        self.where = where
        self.carry: pd.DataFrame | None = None
        self.latest: float | None = None
        self.warnings: list[str] = []
        self._warned_label = False
        self._warned_engineered = False
        self._all_raw = False  # carry every raw column (when the role columns are not enough)

    def _roles(self) -> list[str]:
        """The only columns `build_features` reads; the rest of a chunk is never carried."""
        if self._all_raw:
            return list(self.raw_columns)
        return [c for c in self.schema.history_inputs() if c in self.raw_columns]

    def _prepare(self, chunk: pd.DataFrame) -> pd.DataFrame:
        s = self.schema
        _, text = check_history_input(
            list(chunk.columns),
            self.raw_columns,
            self.engineered,
            self.where,
            self.schema.history_inputs(),
        )
        if text is not None and not self._warned_engineered:
            log.warning(text, extra=RETURNED)
            self.warnings.append(text)
            self._warned_engineered = True
        frame = chunk[self._roles()].copy()
        if self.reports is not None:
            check_report_input(list(chunk.columns), s, self.reports, self.where)
        elif s.label in chunk.columns:
            frame[s.label] = coerce_label(chunk[s.label], s.label, self.where, allow_missing=True)
        else:
            frame[s.label] = np.nan
            if not self._warned_label:
                text = no_label_warning(self.where, s.label)
                log.warning(text, extra=RETURNED)
                self.warnings.append(text)
                self._warned_label = True
        if s.amount is not None and s.amount in frame:
            frame[s.amount] = coerce_numeric(
                frame[s.amount], s.amount, "amount", self.where, allow_missing=True
            )
        if s.time is not None and s.time in frame:
            frame[s.time] = coerce_time(
                frame[s.time], s.time, s.time_unit, self.where, model=True, day_first=self.day_first
            )
        if s.entity_columns:
            frame[s.entity] = entity_keys(frame, s.entity_columns)
        if self.reports is not None:
            assert s.id is not None
            labels, delays = self.reports.label(chunk[s.id], frame.get(s.time))
            frame[s.label] = labels
            frame[REPORT_DELAYS] = np.nan if delays is None else delays
        for date in s.dates:
            if date in frame:
                frame[date] = coerce_time(
                    frame[date],
                    date,
                    s.time_unit,
                    self.where,
                    model=True,
                    span=False,
                    day_first=self.dates_day_first.get(date),
                    role="date",
                )
        return frame

    def features(self, chunk: pd.DataFrame) -> pd.DataFrame:
        """The chunk with its engineered columns (raw model columns from the chunk itself)."""
        from pipeline.features import build_features
        from pipeline.split import time_axis

        s = self.schema
        raw = self._prepare(chunk)
        t, per_day = time_axis(raw[s.time], where=f"{self.where}: time column {s.time!r}")
        if len(t):
            first = float(t.min())
            if self.latest is not None and first < self.latest:
                if FOLDER_FILE in chunk.attrs:
                    name = chunk.attrs[FOLDER_FILE][0][1]
                    raise DataError(
                        f"{self.where}: rows of {name} are earlier than rows of the folder's "
                        "files before it in name order (or of its own earlier rows); history "
                        "features need the files named in time order (2026-01-09 before "
                        f"2026-01-10) and each in ascending time order ({s.time!r}), or the "
                        "folder scored in one piece with --chunk-rows 0"
                    )
                raise DataError(
                    f"{self.where}: rows around row {chunk.index[int(np.argmin(t))]} are earlier "
                    "than rows of a previous chunk; history features need the file in ascending "
                    f"time order ({s.time!r}). Sort it, or score it in one piece with "
                    "--chunk-rows 0"
                )
            self.latest = max(float(t.max()), self.latest if self.latest is not None else -np.inf)
        n_carry = 0 if self.carry is None else len(self.carry)
        combined = raw if self.carry is None else pd.concat([self.carry, raw], ignore_index=True)
        delays = combined[REPORT_DELAYS].to_numpy() if REPORT_DELAYS in combined else None
        built = build_features(
            combined.drop(columns=[REPORT_DELAYS], errors="ignore"),
            s,
            label_delay_days=self.delay,
            windows_days=self.windows,
            label_delays=delays,
            merchant_entities=self.merchant_entities,
        )
        lacking = any(c not in built.columns for c in self.engineered)
        if lacking and not self._all_raw and self.carry is None:
            # some engineered column needs more than the role columns: carry every raw column
            # (decided on the first chunk, before anything was carried)
            self._all_raw = True
            self.latest = None
            return self.features(chunk)
        if self.reports is not None:
            self.reported_rows += int(raw[s.label].sum())
        mine = built.iloc[n_carry:]
        out = chunk.drop(columns=[c for c in self.engineered if c in chunk.columns])
        extra = mine[[c for c in self.engineered if c in mine.columns]].set_axis(chunk.index)
        out = pd.concat([out, extra], axis=1)
        self.carry = self._next_carry(combined, per_day)
        return out

    def _next_carry(self, combined: pd.DataFrame, per_day: float) -> pd.DataFrame:
        from pipeline.split import time_axis

        s = self.schema
        if not len(combined):
            return combined
        t, _ = time_axis(combined[s.time], where=self.where)
        cut = float(t.max()) - self.horizon * per_day
        keep = t >= cut
        old = np.flatnonzero(~keep)
        for key in (s.entity, *s.velocity):
            if key is None or key not in combined.columns or not len(old):
                continue
            # the latest older row of each card (device...): `*_secs_since_prev` looks back that
            # far. Grouped by codes: an object array of 19-digit ints and NAs would be grouped as
            # floats, and a missing key has no history to carry.
            codes = pd.factorize(combined[key].iloc[old])[0]
            known = codes >= 0
            latest = (
                pd.Series(t[old][known], index=old[known]).groupby(codes[known]).idxmax().to_numpy()
            )
            keep[latest.astype(np.int64)] = True
        return combined.iloc[np.flatnonzero(keep)].reset_index(drop=True)


def _id_hashes(ids: pd.Series) -> np.ndarray:
    """A 64-bit hash of each (present) id; an integer written plainly as text hashes as the
    integer, as a CSV's chunks read 42 as an integer in one and as text in another
    (`ids_as_read`)."""
    if pd.api.types.is_integer_dtype(ids.dtype):
        return pd.util.hash_array(ids.to_numpy(dtype=np.int64))
    if pd.api.types.is_float_dtype(ids.dtype):
        return pd.util.hash_array(ids.to_numpy(dtype=np.float64))
    text = ids.astype(str)
    plain = text.str.fullmatch(PLAIN_INTEGER).to_numpy(dtype=bool)
    out = np.empty(len(text), dtype=np.uint64)
    out[plain] = pd.util.hash_array(text[plain].to_numpy(dtype=np.int64))
    out[~plain] = pd.util.hash_array(text[~plain].to_numpy(dtype=object))
    return out


REPEATED_SCORES = (
    "each is scored as a transaction of its own (one listed twice counts twice in its card's "
    "history features), and their scores cannot be joined back by the id alone"
)
"""What follows from ids that repeat in a scored input (`repeated_ids_warning`), on either
engine."""


class RepeatedIds:
    """Finds ids that repeat across the chunks of an input: 16 bytes per row with an id (a hash
    of the id and the row's position), looked at once the input is scored. The rows it names are
    rows of their file in a folder of CSV files, else positions in the input."""

    def __init__(self, column: str | None) -> None:
        self.column = column
        self._hashes: list[np.ndarray] = []
        self._rows: list[np.ndarray] = []
        self._files: dict[int, str] = {}  # a folder's files by their first row (`FOLDER_FILE`)

    def add(self, chunk: pd.DataFrame) -> None:
        if self.column is None or self.column not in chunk.columns:
            return
        self._files.update(chunk.attrs.get(FOLDER_FILE, []))
        ids = chunk[self.column]
        present = ids.notna().to_numpy()
        self._hashes.append(_id_hashes(ids[present]))
        self._rows.append(chunk.index.to_numpy()[present])

    def warning(self, where: str) -> str | None:
        """The warning naming how many rows repeat an earlier row's id, or None."""
        if not self._hashes:
            return None
        hashes = np.concatenate(self._hashes)
        rows = np.concatenate(self._rows)
        order = np.argsort(hashes, kind="stable")  # input order within one id
        ordered = hashes[order]
        repeat = np.flatnonzero(ordered[1:] == ordered[:-1]) + 1
        if not len(repeat):
            return None
        second = repeat[np.argmin(rows[order[repeat]])]
        first = np.searchsorted(ordered, ordered[second])
        assert self.column is not None
        text = repeated_ids_warning(
            where,
            self.column,
            len(repeat),
            f"row {int(rows[order[first]])} and row {int(rows[order[second]])}",
            REPEATED_SCORES,
        )
        return rows_in_files(text, sorted(self._files.items())) if self._files else text


# --------------------------------------------------------------------------------------------
# writing


class _Writer:
    """Writes output chunks to a temporary file next to the target, renamed when complete."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
        self.parquet = path.suffix.lower() == ".parquet"
        self.compression = output_compression(path)
        self._writer: Any = None
        self._schema: Any = None
        self._first = True

    def write(self, frame: pd.DataFrame) -> None:
        if self.parquet:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self._writer is None:
                self._schema = table.schema
                self._writer = pq.ParquetWriter(self.tmp, self._schema)
            elif not table.schema.equals(self._schema):
                try:
                    table = table.cast(self._schema)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise DataError(
                        f"--output {self.path}: a chunk's columns have other types than the "
                        f"first chunk's ({exc}); use a larger --chunk-rows"
                    ) from None
            self._writer.write_table(table)
        else:
            if self._writer is None:
                self._writer = open_csv_text(self.tmp, self.compression, self.path.name)
            frame.to_csv(self._writer, header=self._first, index=False)
        self._first = False

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
        with contextlib.suppress(OSError):
            self.tmp.unlink()


@contextlib.contextmanager
def _progress_bar(enabled: bool, total: int, description: str) -> Iterator[Any]:
    if not enabled:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    with progress:
        task = progress.add_task(description, total=total or None)
        yield lambda n: progress.update(task, advance=n)


def score_frame(
    scorer: Any, frame: pd.DataFrame, *, explain: bool = False, where: str = ""
) -> pd.DataFrame:
    """Score one in-memory frame of raw transactions (history features built from the frame)."""
    time_spec = getattr(scorer, "metadata", {}).get("time")
    if time_spec:
        TimeCheck(time_spec, where or "input").check(frame)
    if scorer.history is not None:
        frame = HistoryFeatures(scorer.history, where or "input").features(frame)
    return scorer.score(frame, explain=explain, where=f"{where}: " if where else "")


def report_book(scorer: Any, labels: Any) -> Any:
    """The reports `--labels` names, read once, for a model whose fraud rates read labels;
    `DataError` otherwise, before any scoring."""
    from pipeline.data.labels import ReportBook
    from pipeline.data.schema import Schema
    from pipeline.features import fraud_rate_column

    history = scorer.history
    schema = Schema.from_dict(history["schema"]) if history is not None else None
    rates = [fraud_rate_column("", key) for key in (*schema.velocity, "merchant")] if schema else []
    engineered = history["engineered"] if history is not None else []
    if not any(c.startswith(prefix) for c in engineered for prefix in rates):
        raise DataError(
            f"--labels {labels.path}: the model has no fraud-rate features (a merchant's or a "
            "velocity column's), the only ones that read labels; score without --labels"
        )
    assert schema is not None
    if schema.id is None:
        raise DataError(
            f"--labels {labels.path}: the reports are joined by the transactions' id, and the "
            "model was trained without an id column (data.schema.id)"
        )
    return ReportBook.read(labels, schema, {"id": "--labels-id", "reported_at": "--reported-at"})


def batch_note(
    scorer: Any, rows: int, alerts: int, probability_sum: float
) -> tuple[str, str | None]:
    """The batch's alert rate and expected fraud against the model's validation slice, as a
    clause of the summary line, and a warning when the alert rate drifts from the slice's beyond
    chance (`models.scorer.drift.alert_drift`): the input then differs from what the model was
    validated on. ("", None) for models exported before their validation figures were kept, or
    no rows."""
    validation = getattr(scorer, "metadata", {}).get("validation")
    if not validation or rows == 0:
        return "", None
    rate, expected_rate = alerts / rows, float(validation["alert_rate"])
    note = f"; {rate:.3%} alerted (the validation slice: {expected_rate:.3%})"
    if validation.get("calibrated"):
        note += f", {probability_sum:,.1f} fraud rows expected (the sum of fraud_probability)"
    return note, alert_drift(expected_rate, rows, alerts)


def score_file(
    model_uri: str,
    input_path: str | Path,
    output_path: str | Path,
    *,
    explain: bool = False,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: bool = True,
    scorer: Any = None,
    overwrite: bool = False,
    labels: Any = None,
) -> ScoreSummary:
    """Score a CSV/Parquet file into a CSV/Parquet file, `chunk_rows` rows at a time (0: whole).

    `scorer` skips loading `model_uri` (an already loaded `FraudScorer`). An existing output
    file is refused unless `overwrite`; it is replaced only once scoring has succeeded. `labels`
    (a `pipeline.data.labels.LabelFile`): the fraud reports that give the input's labels to the
    model's fraud rates, each known from its report on when the reports are dated.
    """
    input_path, output_path = Path(input_path), Path(output_path)
    if chunk_rows < 0:
        raise DataError(f"--chunk-rows must be >= 0 (0 reads the file whole), found {chunk_rows}")
    _check_paths(input_path, output_path, overwrite)
    if scorer is None:
        scorer = load_scorer(model_uri)
    where = f"--input {input_path}"
    reports = None if labels is None else report_book(scorer, labels)
    history = (
        HistoryFeatures(scorer.history, where, reports) if scorer.history is not None else None
    )
    time_spec = getattr(scorer, "metadata", {}).get("time")
    times = TimeCheck(time_spec, where) if time_spec else None
    total, chunks = iter_chunks(input_path, chunk_rows, scorer)
    writer = _Writer(output_path)
    rows = alerts = n_chunks = 0
    feature_seconds = model_seconds = probability_sum = 0.0
    unseen = UnseenCategories(scorer, log_extra=RETURNED)
    repeated = RepeatedIds(scorer.id_column)
    started = time.perf_counter()

    def scored(chunk: pd.DataFrame) -> pd.DataFrame:
        nonlocal n_chunks, feature_seconds, model_seconds
        n_chunks += 1
        unseen.count(chunk)
        repeated.add(chunk)
        if len(chunk) == 0:
            return scorer.empty_output(
                explain=explain,
                with_id=scorer.id_column is not None and scorer.id_column in chunk,
            )
        t0 = time.perf_counter()
        try:
            if times is not None:
                times.check(chunk)
            frame = history.features(chunk) if history is not None else chunk
            t1 = time.perf_counter()
            out = scorer.score(frame, explain=explain, where=f"{where}: ")
        except DataError as exc:
            if FOLDER_FILE not in chunk.attrs:
                raise
            raise DataError(_in_file(str(exc), where, chunk.attrs[FOLDER_FILE])) from None
        feature_seconds += t1 - t0
        model_seconds += time.perf_counter() - t1
        return out

    try:
        # the first chunk before the progress bar: most refusals of an input come from it
        first = next(chunks, None)
        outputs = itertools.chain(
            () if first is None else (scored(first),), (scored(chunk) for chunk in chunks)
        )
        with _progress_bar(progress, total, f"scoring {input_path.name}") as advance:
            for out in outputs:
                writer.write(out)
                rows += len(out)
                alerts += int(out[ALERT].sum())
                probability_sum += float(out[PROBABILITY].sum())
                advance(len(out))
        if n_chunks == 0:
            writer.write(scorer.empty_output(explain=explain))
        writer.close()
    except BaseException:
        writer.abort()
        raise
    seconds = time.perf_counter() - started
    log.info(
        "scored %d rows (%d alerts) in %.1f s -> %s",
        rows,
        alerts,
        seconds,
        output_path,
        extra=RETURNED,
    )
    unmatched = []
    if reports is not None and history is not None and rows and not history.reported_rows:
        unmatched.append(unmatched_reports_warning(reports, rows))
        log.warning(unmatched[0], extra=RETURNED)
    repeats = [] if (text := repeated.warning(where)) is None else [text]
    if repeats:
        log.warning(repeats[0], extra=RETURNED)
    new_categories = unseen.warnings(where)
    note, drift = batch_note(scorer, rows, alerts, probability_sum)
    if drift is not None:
        log.warning(drift, extra=RETURNED)
    return ScoreSummary(
        model_uri=model_uri,
        input_path=str(input_path),
        output_path=str(output_path),
        rows=rows,
        alerts=alerts,
        chunks=n_chunks,
        seconds=seconds,
        history_features=history is not None,
        feature_seconds=feature_seconds,
        model_seconds=model_seconds,
        warnings=[
            *([] if times is None else times.warnings),
            *([] if history is None else history.warnings),
            *unmatched,
            *repeats,
            *new_categories,
            *([] if drift is None else [drift]),
        ],
        reported_rows=None if reports is None or history is None else history.reported_rows,
        note=note,
    )
