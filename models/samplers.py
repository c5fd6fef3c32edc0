"""The strategy registry: one entry per way of handling class imbalance.

A strategy is a name in the experiment YAML mapped to a `kind` here (the name itself by default, so
`smote_0.5: {kind: smote, sampling_strategy: 0.5}` is a second SMOTE). Each kind builds an
imblearn-compatible sampler (or none) plus classifier options. Adding a strategy is one `StrategySpec`
line in `REGISTRY` and one block in a YAML file.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from models.errors import ConfigError, did_you_mean

# imblearn's default `sampling_strategy="auto"` balances the classes 1:1, which at a 0.3 % fraud rate
# means ~330 synthetic rows per real fraud: slow, and rarely what anybody wants. Ours: 10 % of the
# majority, overridable per strategy.
DEFAULT_SAMPLING_STRATEGY = 0.1

Encoding = Literal["onehot", "ordinal"]
Family = Literal["baseline", "resampler", "gan"]  # resampler: ros and the SMOTE family

# Set by the pipeline, never by the user.
_MANAGED_PARAMS = {"random_state", "categorical_features", "n_jobs", "rules", "cache"}

CHOOSE = "choose"
"""A strategy parameter of the over-samplers: whether (and over which grid) the strategy chooses
its synthetic share, weight and checkpoint inside each training fold (`pipeline.augment`)."""
SYNTHETIC_WEIGHT = "synthetic_weight"
"""The classifier's sample weight of each appended row (real rows weigh 1)."""
_OVER_ONLY = ("ros", "smote", "borderline", "adasyn", "smotenc")  # rows appended after the input


@dataclass(frozen=True)
class StrategyContext:
    """What a builder may know about the training data it will see (the fit part of a fold)."""

    random_state: int
    n_positive: int
    n_negative: int
    categorical_indices: tuple[int, ...] = ()
    categorical: tuple[str, ...] = ()  # their names, in the model's input columns
    rules: Any = None  # pipeline.features.FeatureRules of the input columns
    gan_cache: Any = None  # models.gan.GANCache shared by the fits of one fold


@dataclass
class Strategy:
    """A built strategy: the sampler for the pipeline and the options for the classifier."""

    name: str
    kind: str
    family: Family
    sampler: Any | None
    encoding: Encoding = "onehot"
    classifier_params: dict[str, Any] = field(default_factory=dict)
    tune_decision_threshold: bool = False
    sampler_first: bool = False
    synthetic_weight: float = 1.0  # of appended rows, for samplers without their own weights


@dataclass(frozen=True)
class StrategySpec:
    """How to build one kind of strategy."""

    kind: str
    family: Family
    sampler_class: str | None = None  # "module:Class", imported lazily
    encoding: Encoding = "onehot"
    extra_params: tuple[str, ...] = ()  # parameters handled here, not by the sampler class
    tune_decision_threshold: bool = False
    needs_categorical: bool = False
    sampler_first: bool = False  # resamples the input columns, before preprocessing
    description: str = ""

    def load_class(self) -> type | None:
        if self.sampler_class is None:
            return None
        module, _, name = self.sampler_class.partition(":")
        return getattr(importlib.import_module(module), name)

    def accepted_params(self) -> set[str]:
        """Parameter names a YAML block may set for this kind."""
        params = set(self.extra_params)
        cls = self.load_class()
        if cls is not None:
            params |= set(inspect.signature(cls).parameters) - _MANAGED_PARAMS
        return params


REGISTRY: dict[str, StrategySpec] = {
    spec.kind: spec
    for spec in (
        StrategySpec("none", "baseline", description="no resampling, decision at 0.5"),
        StrategySpec(
            "class_weight",
            "baseline",
            extra_params=("scale_pos_weight",),
            description="XGBoost scale_pos_weight (default: negatives / positives)",
        ),
        StrategySpec(
            "threshold",
            "baseline",
            tune_decision_threshold=True,
            description="no resampling, decision threshold tuned on validation data",
        ),
        StrategySpec(
            "ros",
            "resampler",
            "imblearn.over_sampling:RandomOverSampler",
            extra_params=(CHOOSE, SYNTHETIC_WEIGHT),
        ),
        StrategySpec(
            "smote",
            "resampler",
            "imblearn.over_sampling:SMOTE",
            extra_params=(CHOOSE, SYNTHETIC_WEIGHT),
        ),
        StrategySpec(
            "borderline",
            "resampler",
            "imblearn.over_sampling:BorderlineSMOTE",
            extra_params=(CHOOSE, SYNTHETIC_WEIGHT),
        ),
        StrategySpec(
            "adasyn",
            "resampler",
            "imblearn.over_sampling:ADASYN",
            extra_params=(CHOOSE, SYNTHETIC_WEIGHT),
        ),
        StrategySpec(
            "smotenc",
            "resampler",
            "imblearn.over_sampling:SMOTENC",
            encoding="ordinal",
            needs_categorical=True,
            extra_params=(CHOOSE, SYNTHETIC_WEIGHT),
        ),
        StrategySpec(
            "smote_tomek",
            "resampler",
            "imblearn.combine:SMOTETomek",
            extra_params=("k_neighbors", CHOOSE),
        ),
        StrategySpec(
            "cgan",
            "gan",
            "models.gan:CGANOverSampler",
            sampler_first=True,
            extra_params=(CHOOSE,),
        ),
    )
}


def strategy_kind(name: str, params: Mapping[str, Any]) -> str:
    """The registry kind of a YAML strategy entry (its `kind` key, else its name)."""
    return str(params.get("kind", name))


def validate_strategies(strategies: Mapping[str, Mapping[str, Any]], *, where: str) -> None:
    """Check every strategy's kind and parameter names before any work starts."""
    if not strategies:
        raise ConfigError(f"{where}: 'strategies' is empty; valid kinds: {', '.join(REGISTRY)}")
    for name, params in strategies.items():
        if not isinstance(params, Mapping):
            raise ConfigError(
                f"{where}: strategies.{name} must be a mapping of parameters, got {params!r}"
            )
        kind = strategy_kind(name, params)
        if kind not in REGISTRY:
            hint = did_you_mean(kind, REGISTRY)
            raise ConfigError(
                f"{where}: strategies.{name}: unknown strategy kind {kind!r}.{hint} "
                f"Valid kinds: {', '.join(REGISTRY)} (set `kind:` to reuse one under another name)"
            )
        accepted = REGISTRY[kind].accepted_params()
        for key in params:
            if key != "kind" and key not in accepted:
                raise ConfigError(
                    f"{where}: strategies.{name}: unknown parameter {key!r} for kind {kind!r}. "
                    f"Accepted: {', '.join(sorted(accepted)) or '(none)'}"
                )
        check_strategy_params(name, params, where=where)


# A stand-in for the training data when parameters are checked before any data is loaded.
_CHECK_CONTEXT = StrategyContext(
    random_state=0, n_positive=10, n_negative=1000, categorical_indices=(0,)
)
_PARAM_NAME = re.compile(r"The '(\w+)' parameter")


def check_strategy_params(name: str, params: Mapping[str, Any], *, where: str) -> None:
    """Check the values of one strategy's parameters before any work (`ConfigError` if invalid).

    The sampler is built with a stand-in context and checked by scikit-learn's parameter
    validation (its nested samplers too), then by its own `check_params()` when it has one.
    """
    kind = strategy_kind(name, params)
    options = {k: v for k, v in params.items() if k != "kind"}
    at = f"{where}: strategies.{name}"
    if kind == "class_weight" and "scale_pos_weight" in options:
        weight = options["scale_pos_weight"]
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not weight > 0:
            raise ConfigError(
                f"{at}.scale_pos_weight must be a number > 0 (the weight of a fraud row), "
                f"got {weight!r}"
            )
    options.pop(CHOOSE, None)  # pipeline.augment checks the grid
    if kind in _OVER_ONLY and SYNTHETIC_WEIGHT in options:
        weight = options.pop(SYNTHETIC_WEIGHT)
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not weight > 0:
            raise ConfigError(
                f"{at}.{SYNTHETIC_WEIGHT} must be a number > 0 (the classifier's weight of an "
                f"appended row; real rows weigh 1), got {weight!r}"
            )
    cls = REGISTRY[kind].load_class()
    if cls is None or no_rows(options.get("sampling_strategy")):
        return
    options.setdefault("sampling_strategy", DEFAULT_SAMPLING_STRATEGY)
    try:
        sampler = _BUILDERS.get(kind, _plain)(cls, options, _CHECK_CONTEXT)
        for estimator in (sampler, *sampler.get_params(deep=False).values()):
            if hasattr(estimator, "_validate_params"):
                estimator._validate_params()
        if hasattr(sampler, "check_params"):
            sampler.check_params()
    except (TypeError, ValueError) as exc:
        text = str(exc)
        match = _PARAM_NAME.search(text)
        key = f".{match.group(1)}" if match and match.group(1) in params else ""
        raise ConfigError(f"{at}{key}: {text}") from None


def build_strategy(name: str, params: Mapping[str, Any], ctx: StrategyContext) -> Strategy:
    """Build the sampler and classifier options of one YAML strategy entry for one fit part."""
    kind = strategy_kind(name, params)
    spec = REGISTRY[kind]
    options = {k: v for k, v in params.items() if k not in ("kind", CHOOSE)}
    classifier_params: dict[str, Any] = {}
    if kind == "class_weight":
        default = ctx.n_negative / max(ctx.n_positive, 1)
        classifier_params["scale_pos_weight"] = float(options.pop("scale_pos_weight", default))
    weight = float(options.pop(SYNTHETIC_WEIGHT, 1.0)) if kind in _OVER_ONLY else 1.0
    sampler = None
    cls = spec.load_class()
    if cls is not None and no_rows(options.get("sampling_strategy")):
        cls = None  # a share of 0 appends nothing: the strategy fits as `none` does
    if cls is not None:
        if spec.needs_categorical and not ctx.categorical_indices:
            raise ConfigError(
                f"strategy {name!r} ({kind}) needs categorical columns, and the data has none: "
                "use `smote` instead, or declare categorical columns in data.schema"
            )
        options.setdefault("sampling_strategy", DEFAULT_SAMPLING_STRATEGY)
        check_ratio(name, options["sampling_strategy"], ctx.n_positive, ctx.n_negative)
        sampler = _BUILDERS.get(kind, _plain)(cls, options, ctx)
    return Strategy(
        name=name,
        kind=kind,
        family=spec.family,
        sampler=sampler,
        encoding=spec.encoding,
        classifier_params=classifier_params,
        tune_decision_threshold=spec.tune_decision_threshold,
        sampler_first=spec.sampler_first,
        synthetic_weight=weight,
    )


def no_rows(ratio: Any) -> bool:
    """True for `sampling_strategy: 0`: an over-sampler asked to append no row."""
    return not isinstance(ratio, bool) and isinstance(ratio, int | float) and ratio == 0


def check_ratio(
    name: str, ratio: Any, n_positive: int, n_negative: int, *, part: str = "the training fold"
) -> None:
    """An over-sampler needs the positives to be the minority of `part`, and cannot reach a
    minority/majority ratio below the one `part` has (`ConfigError` naming both); a `ratio` that
    is no number (None: the strategy chooses its share above the part's ratio) is checked for
    the first only."""
    current = n_positive / max(n_negative, 1)
    if current >= 1:
        raise ConfigError(
            f"strategy {name!r}: there are as many positive (1) rows as negative ones or more in "
            f"{part} ({n_positive:,} and {n_negative:,}): no minority to over-sample. Remove "
            "the over-samplers (none, class_weight and threshold run), or check data.schema.label: "
            "1 must mean fraud"
        )
    if isinstance(ratio, bool) or not isinstance(ratio, int | float):
        return
    if not 0 < ratio <= 1:
        raise ConfigError(
            f"strategy {name!r}: sampling_strategy must be in (0, 1] (minority/majority after "
            f"resampling), got {ratio}"
        )
    if ratio < current:
        raise ConfigError(
            f"strategy {name!r}: sampling_strategy {ratio} asks for fewer minority rows than "
            f"there are already in {part} (minority/majority {current:.4f}); set a value from "
            f"{current:.4f} to 1"
        )


def _neighbors_default(kind: str) -> tuple[str, Any] | None:
    """The minority-neighbour parameter of an over-sampler kind and its class's default."""
    cls = REGISTRY[kind].load_class()
    if kind == "smote_tomek":  # its SMOTE is built here (`_smote_tomek`)
        from imblearn.over_sampling import SMOTE

        cls = SMOTE
    if cls is None:
        return None
    defaults = inspect.signature(cls).parameters
    option = next((p for p in ("k_neighbors", "n_neighbors") if p in defaults), None)
    return None if option is None else (option, defaults[option].default)


def neighbors_option(kind: str) -> str | None:
    """`k_neighbors` (ADASYN: `n_neighbors`) for the SMOTE family, None for other kinds."""
    found = _neighbors_default(kind)
    return None if found is None else found[0]


def check_neighbors(
    name: str, params: Mapping[str, Any], n_positive: int, part: str, setting: str | None = None
) -> None:
    """SMOTE and its variants make each row between a minority row and one of its k nearest
    minority neighbours (`k_neighbors`, ADASYN's `n_neighbors`; the class's default when the
    YAML leaves it out), so they need more than k minority rows in every part they fit on:
    `ConfigError` naming the part with `n_positive`, the fewest, when it has too few, and the
    `setting` to change (default: the strategy's own parameter)."""
    found = _neighbors_default(strategy_kind(name, params))
    if found is None:
        return
    option, default = found
    k = params.get(option, default)
    if isinstance(k, bool) or not isinstance(k, int) or n_positive > k:
        return
    setting = setting or f"strategies.{name}.{option}"
    fix = (
        f"set {setting} to at most {n_positive - 1}"
        if n_positive > 1
        else "give it more fraud rows"
    )
    raise ConfigError(
        f"strategy {name!r}: {option} {k} needs more than {k} fraud rows in every part it fits "
        f"on, and {part} has {n_positive}: {fix}, or remove the strategy"
    )


def _plain(cls: type, options: dict[str, Any], ctx: StrategyContext) -> Any:
    return cls(random_state=ctx.random_state, **options)


def _with_categorical(cls: type, options: dict[str, Any], ctx: StrategyContext) -> Any:
    return cls(
        categorical_features=list(ctx.categorical_indices),
        random_state=ctx.random_state,
        **options,
    )


def _gan(cls: type, options: dict[str, Any], ctx: StrategyContext) -> Any:
    return cls(
        categorical_features=list(ctx.categorical),
        rules=ctx.rules,
        cache=ctx.gan_cache,
        random_state=ctx.random_state,
        **options,
    )


def _smote_tomek(cls: type, options: dict[str, Any], ctx: StrategyContext) -> Any:
    from imblearn.over_sampling import SMOTE

    k = options.pop("k_neighbors", 5)
    smote = SMOTE(
        sampling_strategy=options.get("sampling_strategy"),
        k_neighbors=k,
        random_state=ctx.random_state,
    )
    return cls(random_state=ctx.random_state, smote=smote, **options)


_BUILDERS: dict[str, Callable[[type, dict[str, Any], StrategyContext], Any]] = {
    "smotenc": _with_categorical,
    "cgan": _gan,
    "smote_tomek": _smote_tomek,
}
