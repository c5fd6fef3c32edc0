"""Column roles of a transaction table: which column is the label, the time, the id, and so on.

A `Schema` names columns; it holds no data. `SIMULATOR_SCHEMA` describes the frames made by
`pipeline.data.simulate.simulate`; `CREDITCARD_SCHEMA`, `HANDBOOK_SCHEMA`, `PAYSIM_SCHEMA`,
`BAF_SCHEMA` and `SPARKOV_SCHEMA` the public credit-card benchmark (`Time, V1..V28, Amount, Class`), the
Fraud Detection Handbook's simulated transactions, PaySim's, the Bank Account Fraud suite's
applications and the public Sparkov-simulated card transactions.
`schema_from_mapping` turns a YAML mapping into a `Schema`, optionally on top of a preset.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from models.errors import ConfigError, did_you_mean

TimeUnit = Literal[
    "datetime", "seconds", "milliseconds", "minutes", "hours", "days", "weeks", "months"
]
TIME_UNITS: tuple[str, ...] = get_args(TimeUnit)
# A numeric time column's unit in seconds: such a column is read as seconds (sources.coerce_time).
SECONDS_PER_UNIT: dict[str, float] = {
    "seconds": 1.0,
    "milliseconds": 0.001,
    "minutes": 60.0,
    "hours": 3_600.0,
    "days": 86_400.0,
    "weeks": 604_800.0,
    "months": 2_629_746.0,  # the Gregorian calendar's mean month, 30.436875 days: month indexes
}


def numeric_units() -> str:
    """The numeric time units as text: 'seconds, milliseconds, ... or months'."""
    units = list(SECONDS_PER_UNIT)
    return f"{', '.join(units[:-1])} or {units[-1]}"


@dataclass(frozen=True)
class Schema:
    """The role of each column the pipeline needs to know about.

    `label` is the binary 0/1 target. `time` is a datetime column (`time_unit="datetime"`) or a
    number of `time_unit`s (`SECONDS_PER_UNIT`: seconds to months; epoch or since the start),
    which loading turns into seconds. `id` is passed through scoring; `entity` is the
    card/customer, `merchant` the merchant/terminal. `categorical` columns are encoded by the model pipeline;
    `drop` columns are never used as features. `dates` are other dates of each row (a signup, an
    account's opening, a birth date), read as the time column is (datetimes, or numbers of
    `time_unit`), missing values allowed: each becomes the feature `days_since_<column>`, the days
    from it to the row's time, and is no feature itself. `velocity` are other ids a transaction
    shares with others (a device, an IP address, an e-mail): each gives, as the entity does, the
    count of earlier transactions with the same value in each window and the seconds since the
    previous one, as the merchant does, their known fraud rate, and with an entity the distinct
    entities among them (the cards a device served); it is no feature itself.

    An entity named by several columns (a user and the index of their card: ``entity: [User,
    Card]`` in YAML) has them as `entity_columns` and, as `entity`, the name of the column that
    loading and scoring make of them (`pipeline.data.sources.entity_keys`), ``User+Card``; none of
    them is a feature.
    """

    label: str
    time: str | None = None
    time_unit: TimeUnit = "datetime"
    id: str | None = None
    amount: str | None = None
    entity: str | None = None
    merchant: str | None = None
    categorical: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    dates: tuple[str, ...] = ()
    velocity: tuple[str, ...] = ()
    entity_columns: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any]) -> Schema:
        """The schema `to_dict` wrote (as stored with an exported model)."""
        values = dict(mapping)
        for key in _LIST_KEYS:
            values[key] = tuple(values.get(key) or ())
        if isinstance(values.get("entity"), list | tuple):
            values["entity_columns"] = tuple(values["entity"])
            values["entity"] = entity_name(values["entity_columns"])
        return cls(**values)

    @property
    def numeric_time(self) -> bool:
        """Whether the time column is a number (read as seconds) rather than a datetime."""
        return self.time_unit != "datetime"

    @property
    def clock(self) -> bool:
        """Whether the time tells the hour of the day: not for months, the one unit that is no
        whole number of days (month 1 would fall at 10:29, month 2 at 20:58: the month again)."""
        return self.time_unit != "months"

    def declared_columns(self) -> list[str]:
        """Every column the schema names, in a stable order, without repeats."""
        cols: list[str] = []
        entity = self.entity_columns or (self.entity,)
        for name in (self.label, self.time, self.id, self.amount, *entity, self.merchant):
            if name is not None and name not in cols:
                cols.append(name)
        for name in (*self.categorical, *self.drop, *self.dates, *self.velocity):
            if name not in cols:
                cols.append(name)
        return cols

    def history_inputs(self) -> list[str]:
        """The columns `pipeline.features.build_features` reads besides the label: the time,
        entity, merchant, amount, date and velocity columns, without repeats."""
        entity = self.entity_columns or (self.entity,)
        named = (self.time, *entity, self.merchant, self.amount, *self.dates, *self.velocity)
        return [c for c in dict.fromkeys(named) if c is not None]

    def key_columns(self) -> list[str]:
        """The columns whose values name something (the id, the entity or its parts, the
        merchant, the velocity columns): compared digit for digit, never as quantities."""
        entity = self.entity_columns or (self.entity,)
        named = (self.id, *entity, self.merchant, *self.velocity)
        return [c for c in dict.fromkeys(named) if c is not None]

    def roles(self) -> set[str]:
        """The columns that are never model inputs themselves (the label, time, id, entity,
        merchant, drop, date and velocity columns)."""
        named = (self.label, self.time, self.id, self.entity, self.merchant)
        others = (*self.drop, *self.dates, *self.velocity, *self.entity_columns)
        return {c for c in named if c is not None} | set(others)

    def to_dict(self) -> dict[str, Any]:
        """A plain mapping (lists for the tuple fields), e.g. for logging or YAML."""
        out = dataclasses.asdict(self)
        for key in _LIST_KEYS:
            out[key] = list(out[key])
        columns = out.pop("entity_columns")
        if columns:
            out["entity"] = list(columns)
        return out


SIMULATOR_SCHEMA = Schema(
    label="is_fraud",
    time="timestamp",
    time_unit="datetime",
    id="transaction_id",
    amount="amount",
    entity="customer_id",
    merchant="merchant_id",
    categorical=("merchant_category", "channel", "country", "customer_country"),
    drop=("fraud_pattern",),
)

CREDITCARD_SCHEMA = Schema(label="Class", time="Time", time_unit="seconds", amount="Amount")

# The Fraud Detection Handbook's simulated transactions (Le Borgne et al.), its daily files joined
# into one. TX_FRAUD_SCENARIO is the label in another form; TX_TIME_SECONDS and TX_TIME_DAYS
# repeat TX_DATETIME as a count from the first day, which would let a model learn the calendar.
HANDBOOK_SCHEMA = Schema(
    label="TX_FRAUD",
    time="TX_DATETIME",
    time_unit="datetime",
    id="TRANSACTION_ID",
    amount="TX_AMOUNT",
    entity="CUSTOMER_ID",
    merchant="TERMINAL_ID",
    drop=("TX_FRAUD_SCENARIO", "TX_TIME_SECONDS", "TX_TIME_DAYS"),
)

# PaySim's synthetic mobile-money transactions (Lopez-Rojas et al.): `step` counts hours from the
# start. isFlaggedFraud is the simulated bank's own rule, set only on fraud rows (the label again).
PAYSIM_SCHEMA = Schema(
    label="isFraud",
    time="step",
    time_unit="hours",
    amount="amount",
    entity="nameOrig",
    merchant="nameDest",
    categorical=("type",),
    drop=("isFlaggedFraud",),
)

# The Bank Account Fraud suite (Jesus et al., NeurIPS 2022): account applications, no card or
# amount; `month` is the month index (0-7) the paper splits on.
BAF_SCHEMA = Schema(
    label="fraud_bool",
    time="month",
    time_unit="months",
    categorical=("payment_type", "employment_status", "housing_status", "source", "device_os"),
)

# The public simulated card transactions made with Sparkov (`fraudTrain.csv`, `fraudTest.csv`), as
# published: pandas' row index as a nameless first column, `unix_time` the date again from another
# origin, the holder's name, street and birth date. Cities and jobs (hundreds of values each) go with
# them: one-hot over a million rows they would take gigabytes, and they describe the holder.
SPARKOV_SCHEMA = Schema(
    label="is_fraud",
    time="trans_date_trans_time",
    id="trans_num",
    amount="amt",
    entity="cc_num",
    merchant="merchant",
    categorical=("category", "gender", "state"),
    drop=("Unnamed: 0", "unix_time", "first", "last", "street", "city", "zip", "job", "dob"),
)

# The public e-commerce fraud file (`Fraud_Data.csv`: one purchase per user, 2015): the signup
# before each purchase, a device and an IP address (a number) shared by fraud rings. `user_id` is a
# random id, each user buys once, so it is no card with a history: the purchase's id.
ECOMMERCE_SCHEMA = Schema(
    label="class",
    time="purchase_time",
    id="user_id",
    amount="purchase_value",
    categorical=("source", "browser", "sex"),
    dates=("signup_time",),
    velocity=("device_id", "ip_address"),
)

# The IEEE-CIS fraud detection data (Vesta's e-commerce transactions, Kaggle 2019):
# train_transaction.csv left-joined with train_identity.csv on TransactionID, as published (the
# identity columns are missing for the transactions that have none). TransactionDT counts seconds
# from an undisclosed reference (its first value is 86,400). card1..card6 and addr1/addr2 describe
# the card and the billing address (no card number: no history is built), C, D, M and V columns
# are Vesta's engineered counts, deltas, matches and features (many missing). DeviceInfo (a
# device model, about 1,800 values of free text) is dropped: one-hot over half a million rows it
# would take gigabytes.
IEEE_SCHEMA = Schema(
    label="isFraud",
    time="TransactionDT",
    time_unit="seconds",
    id="TransactionID",
    amount="TransactionAmt",
    categorical=(
        "ProductCD",
        "card4",
        "card6",
        "P_emaildomain",
        "R_emaildomain",
        *(f"M{i}" for i in range(1, 10)),
        *(f"id_{i}" for i in (12, 15, 16, 23, 27, 28, 29, 30, 31, 33, 34, 35, 36, 37, 38)),
        "DeviceType",
    ),
    drop=("DeviceInfo",),
)

PRESET_NOTES: dict[str, str] = {
    "ieee": (
        "The ieee preset reads train_transaction.csv joined with train_identity.csv on "
        "TransactionID; experiments/ieee.yaml's header shows how to join them, and the "
        "data.schema override that runs the transactions alone."
    ),
}
"""What a preset's user is told when the file lacks columns the preset declares."""

FilePreset = Literal["creditcard", "handbook", "paysim", "baf", "sparkov", "ecommerce", "ieee"]
"""The presets a file source can name (`data.preset`)."""
FILE_PRESETS: tuple[str, ...] = get_args(FilePreset)

PRESETS: dict[str, Schema] = {
    "simulator": SIMULATOR_SCHEMA,
    "creditcard": CREDITCARD_SCHEMA,
    "handbook": HANDBOOK_SCHEMA,
    "paysim": PAYSIM_SCHEMA,
    "baf": BAF_SCHEMA,
    "sparkov": SPARKOV_SCHEMA,
    "ecommerce": ECOMMERCE_SCHEMA,
    "ieee": IEEE_SCHEMA,
}

SCHEMA_KEYS: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(Schema) if f.name != "entity_columns"
)
_OPTIONAL_NAME_KEYS = ("time", "id", "amount", "entity", "merchant")
_LIST_KEYS = ("categorical", "drop", "dates", "velocity")


_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_ .-]*")


def yaml_list(names: Sequence[str]) -> str:
    """Column names as a YAML flow list to paste (`[amount, Use Chip, "x: y"]`): a name YAML would
    read otherwise (a colon, a comma, a bracket, a leading digit, `yes`) is double-quoted."""

    def shown(name: str) -> str:
        plain = _PLAIN_NAME.fullmatch(name) and name.strip() == name
        if plain and name.casefold() not in _YAML_WORDS:
            return name
        return json.dumps(name, ensure_ascii=False)

    return f"[{', '.join(shown(str(n)) for n in names)}]"


_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"}


def _column_list(value: Any, key: str, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list | tuple):
        raise ConfigError(
            f"{where}: schema key {key!r} must be a list of column names, "
            f"got {type(value).__name__} {value!r}"
        )
    bad = [v for v in value if not isinstance(v, str) or not v]
    if bad:
        raise ConfigError(f"{where}: schema key {key!r} must hold column names, found {bad!r}")
    return tuple(value)


def schema_from_mapping(
    mapping: Mapping[str, Any], where: str, *, base: Schema | None = None
) -> Schema:
    """Build a `Schema` from a mapping such as a YAML `schema:` block.

    Keys are the fields of `Schema`; with `base` (a preset) the mapping overrides only the keys it
    names, and a key set to None keeps the base's value. Unknown keys, a missing label and values of
    the wrong type raise `ConfigError` naming `where`.
    """
    if not isinstance(mapping, Mapping):
        raise ConfigError(f"{where}: a schema must be a mapping, got {type(mapping).__name__}")
    unknown = [k for k in mapping if k not in SCHEMA_KEYS]
    if unknown:
        key = str(unknown[0])
        hint = did_you_mean(key, SCHEMA_KEYS)
        raise ConfigError(
            f"{where}: unknown schema key {key!r}.{hint} Valid keys: {', '.join(SCHEMA_KEYS)}"
        )
    values: dict[str, Any] = {} if base is None else dataclasses.asdict(base)
    for key, value in mapping.items():
        if value is None:
            continue
        if key in _LIST_KEYS:
            values[key] = _column_list(value, key, where)
        elif key == "entity" and isinstance(value, list | tuple):
            values.update(_entity_columns(value, where))
        elif key == "time_unit":
            if value not in TIME_UNITS:
                raise ConfigError(
                    f"{where}: schema key 'time_unit' must be one of {', '.join(TIME_UNITS)}, "
                    f"got {value!r}"
                )
            values[key] = value
        else:
            if not isinstance(value, str) or not value:
                raise ConfigError(
                    f"{where}: schema key {key!r} must be a column name (text), got {value!r}"
                )
            values[key] = value
            if key == "entity":
                values["entity_columns"] = ()  # a preset's entity of several columns replaced
    if not values.get("label"):
        raise ConfigError(
            f"{where}: the schema needs a 'label' column (the binary 0/1 target), "
            "or a preset such as 'creditcard'"
        )
    for key in _OPTIONAL_NAME_KEYS:
        values.setdefault(key, None)
    _check_roles(values, where)
    for key in ("dates", "velocity"):
        _check_history_columns(values, key, where)
    return Schema(**values)


def _check_roles(values: Mapping[str, Any], where: str) -> None:
    """One column, one role: the label, time, id, amount, entity (or its parts) and merchant name
    different columns (an amount that is the label would build features from the label), none
    of the first four is also categorical, and the label is not dropped."""
    roles: dict[str, str] = {}
    named = [(key, values.get(key)) for key in ("label", *_OPTIONAL_NAME_KEYS)]
    named += [("entity", c) for c in values.get("entity_columns") or ()]
    for role, column in named:
        if not column:
            continue
        if column in roles and roles[column] != role:
            raise ConfigError(
                f"{where}: column {column!r} is both the schema's {roles[column]} and its "
                f"{role}; each role needs a column of its own"
            )
        roles[column] = role
    for role in ("label", "time", "id", "amount"):
        column = values.get(role)
        if column and column in (values.get("categorical") or ()):
            raise ConfigError(
                f"{where}: column {column!r} is the schema's {role} and is listed under "
                f"'categorical'; remove it from categorical"
            )
    label = values.get("label")
    if label in (values.get("drop") or ()):
        raise ConfigError(
            f"{where}: the label column {label!r} is listed under 'drop'; the label is the "
            "target, never a feature: remove it from drop"
        )


def entity_name(columns: Sequence[str]) -> str:
    """The name of the column made of an entity's several columns: ``User+Card``."""
    return "+".join(columns)


def _entity_columns(value: Sequence[Any], where: str) -> dict[str, Any]:
    """`entity` and `entity_columns` of an entity named by a list of columns."""
    columns = _column_list(value, "entity", where)
    if len(set(columns)) != len(columns):
        raise ConfigError(f"{where}: schema key 'entity' names a column twice: {list(columns)}")
    if not columns:
        return {"entity": None, "entity_columns": ()}
    if len(columns) == 1:
        return {"entity": columns[0], "entity_columns": ()}
    return {"entity": entity_name(columns), "entity_columns": tuple(columns)}


_HISTORY_KEYS = {
    "dates": "a date column becomes the days from it to the row's time",
    "velocity": "a velocity column gives counts and fraud rates of the earlier transactions with "
    "its value",
}


def _check_history_columns(values: Mapping[str, Any], key: str, where: str) -> None:
    """The columns under `key` (dates, velocity) need the time column, and have no other role."""
    columns = values.get(key) or ()
    if not columns:
        return
    what = _HISTORY_KEYS[key]
    twice = [c for c in dict.fromkeys(columns) if columns.count(c) > 1]
    if twice:
        raise ConfigError(f"{where}: column {twice[0]!r} is listed twice under {key!r}")
    if not values.get("time"):
        raise ConfigError(
            f"{where}: schema key {key!r} ({', '.join(columns)}) needs a 'time' column: {what}"
        )
    others = ("label", "time", "id", "amount", "entity", "entity_columns", "merchant")
    others = (*others, "categorical", "drop")
    for other in (*others, *(k for k in _HISTORY_KEYS if k != key)):
        named = values.get(other)
        named = (named,) if isinstance(named, str) else named or ()
        both = [c for c in columns if c in named]
        if both:
            raise ConfigError(
                f"{where}: column {both[0]!r} is under both {key!r} and "
                f"{'entity' if other == 'entity_columns' else other!r}; {what} and "
                "has no other role"
            )
    if key == "velocity":
        taken = [c for c in columns if c in ("entity", "merchant")]
        if taken:
            raise ConfigError(
                f"{where}: velocity column {taken[0]!r} would give features named like the "
                f"{taken[0]}'s ({taken[0]}_n_1d); rename the column"
            )
