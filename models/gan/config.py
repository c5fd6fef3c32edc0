"""`CGANConfig`: the conditional GAN's hyper-parameters, validated in one place."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal

MIN_CLASS_ROWS = 10
"""Fewest rows of any class the GAN trains on."""
SELECT_CHOICES = ("c2st", "last")
CONTINUOUS_CHOICES = ("quantile", "modes")


@dataclass(frozen=True)
class CGANConfig:
    """Hyper-parameters of the conditional GAN (all JSON-serialisable).

    The training budget is counted in generator steps: an epoch is `steps_per_epoch` steps
    (rounded up to a multiple of `steps_per_execution`), not a pass over the data, so training
    takes at most `epochs * steps_per_epoch` steps (3,000 by default) whatever the table's size: a
    pass over a few hundred minority rows is one or two steps, and a budget counted in such passes
    left the GAN untrained on small minorities. Each generator step follows `critic_steps` critic
    steps; the critic scores single rows (`pac` 1) without dropout: on a few hundred minority rows,
    CTGAN's weaker critic (pac 10, dropout 0.5, one step) leaves the generator without guidance
    (benchmarks/results/gan_ablation.md). Continuous columns are normal scores through their
    empirical CDF (`continuous="quantile"`; "modes": CTGAN's mode-specific normalization).

    Every `eval_every` epochs a classifier two-sample test (C2ST)
    scores generated target rows against held-out real ones (`holdout_fraction` of the target
    class, at most `eval_rows`); `select="c2st"` keeps the weights with the best moving average
    of three tests and stops after `patience` tests past both the best and `min_epochs_fraction`
    of `epochs` without a better one (0: never early; a GAN's first tests are often better than
    the next few, and stopping there keeps a generator that has barely trained), and
    `select="last"` keeps the final weights.
    """

    epochs: int = 30
    steps_per_epoch: int = 100  # generator steps per epoch
    batch_size: int = 500
    noise_dim: int = 128
    generator_dim: tuple[int, ...] = (128, 128)
    critic_dim: tuple[int, ...] = (128, 128)
    pac: int = 1
    critic_steps: int = 3
    learning_rate: float = 2e-4  # Adam, both networks (5e-4 until 8e384f1)
    gp_weight: float = 10.0
    dropout: float = 0.0
    tau: float = 0.2
    class_balance: float = 1.0  # 0: the classes' frequencies; 1: every class equally often
    aux_weight: float = 0.0  # weight of the auxiliary classifier's loss (0: no classifier)
    clusters: int = 0  # condition on this many clusters of the target class's rows (0: none)
    eval_every: int = 1  # epochs between two-sample tests; 0 disables model selection
    patience: int = 10  # two-sample tests without a better smoothed score before stopping
    min_epochs_fraction: float = 0.3  # no early stop before this share of `epochs`
    select: Literal["c2st", "last"] = "c2st"
    holdout_fraction: float = 0.2  # of the target class, kept out of training for the tests
    eval_rows: int = 2000  # most held-out rows in one two-sample test
    max_loss: float = 1e6  # a loss beyond this (or NaN) stops training with TrainingError
    continuous: Literal["quantile", "modes"] = "quantile"  # TabularTransformer's encoding
    max_modes: int = 10
    max_discrete: int = 16
    max_categories: int = 100  # one-hot slots of a categorical column; rarer ones share the last
    transformer_subsample: int = 10_000
    steps_per_execution: int = 50  # training steps per compiled call (>1 helps on a busy CPU)

    def __post_init__(self) -> None:
        object.__setattr__(self, "generator_dim", tuple(int(d) for d in self.generator_dim))
        object.__setattr__(self, "critic_dim", tuple(int(d) for d in self.critic_dim))

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Every field's name and default value, in declaration order."""
        return {f.name: f.default for f in fields(cls)}

    def validate(self) -> None:
        """Raise ValueError naming the first parameter training cannot use."""
        at_least_one = (
            "epochs",
            "steps_per_epoch",
            "batch_size",
            "noise_dim",
            "pac",
            "critic_steps",
            "eval_rows",
            "max_modes",
            "transformer_subsample",
            "steps_per_execution",
        )
        for name in at_least_one:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise _bad(name, "an integer >= 1", value)
        for name in ("eval_every", "patience", "clusters", "max_discrete"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise _bad(name, "an integer >= 0", value)
        cap = self.max_categories
        if isinstance(cap, bool) or not isinstance(cap, int) or cap < 2:
            raise _bad("max_categories", "an integer >= 2", cap)
        if self.batch_size % self.pac:
            raise _bad("batch_size", f"a multiple of pac ({self.pac})", self.batch_size)
        if not 0.0 <= self.class_balance <= 1.0:
            raise _bad("class_balance", "in [0, 1]", self.class_balance)
        if not 0.0 <= self.min_epochs_fraction <= 1.0:
            raise _bad("min_epochs_fraction", "in [0, 1]", self.min_epochs_fraction)
        if not 0.0 <= self.holdout_fraction < 1.0:
            raise _bad("holdout_fraction", "in [0, 1)", self.holdout_fraction)
        for name in ("generator_dim", "critic_dim"):
            widths = getattr(self, name)
            if not widths or min(widths) < 1:
                raise _bad(name, "a list of layer widths >= 1", widths)
        for name in ("learning_rate", "tau", "gp_weight", "max_loss"):
            if not getattr(self, name) > 0:
                raise _bad(name, "> 0", getattr(self, name))
        if not 0 <= self.dropout < 1:
            raise _bad("dropout", "in [0, 1)", self.dropout)
        if not self.aux_weight >= 0:
            raise _bad("aux_weight", ">= 0", self.aux_weight)
        if self.continuous not in CONTINUOUS_CHOICES:
            raise _bad("continuous", f"one of {CONTINUOUS_CHOICES}", self.continuous)
        if self.select not in SELECT_CHOICES:
            raise _bad("select", f"one of {SELECT_CHOICES}", self.select)


def _bad(name: str, expected: str, value: Any) -> ValueError:
    return ValueError(f"The {name!r} parameter of the GAN must be {expected}, got {value!r}")
