"""Search spaces and the trial loop (Optuna TPE or a grid)."""

from __future__ import annotations

import pytest

from models.errors import ConfigError
from pipeline.tuning import SearchSpace, parse_space, search


def _space(clf: dict, smp: dict | None = None) -> SearchSpace:
    return SearchSpace(tuple(parse_space(clf, "c")), tuple(parse_space(smp or {}, "s")))


def test_parse_lists_ranges_and_constants() -> None:
    dims = {
        d.name: d for d in parse_space({"a": [1, 2], "b": {"low": 1, "high": 5}, "c": 0.3}, "x")
    }
    assert dims["a"].choices == (1, 2)
    assert dims["b"].integer and (dims["b"].low, dims["b"].high) == (1, 5)
    assert dims["c"].choices == (0.3,)
    assert not parse_space({"lr": {"low": 0.01, "high": 0.3, "log": True}}, "x")[0].integer


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"a": []}, "empty"),
        ({"a": {"low": 1}}, "needs `low` and `high`"),
        ({"a": {"low": 5, "high": 1}}, "low <= high"),
        ({"a": {"low": 1, "high": 2, "step": 1}}, "needs `low` and `high`"),
    ],
)
def test_bad_spaces_are_explained(bad: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_space(bad, "tuning.classifier_space")


def test_grid_visits_every_point_in_order_and_tracks_best() -> None:
    space = _space({"max_depth": [2, 4]}, {"sampling_strategy": [0.1, 0.2]})
    seen = []

    def objective(clf: dict, smp: dict) -> float:
        seen.append((clf["max_depth"], smp["sampling_strategy"]))
        return clf["max_depth"] * smp["sampling_strategy"]

    history = search(space, objective, method="grid", n_trials=100, seed=0)
    assert seen == [(2, 0.1), (2, 0.2), (4, 0.1), (4, 0.2)]
    assert [round(r.best_so_far, 3) for r in history] == [0.2, 0.4, 0.4, 0.8]


def test_grid_rejects_ranges() -> None:
    with pytest.raises(ConfigError, match="grid"):
        search(
            _space({"a": {"low": 1, "high": 2}}),
            lambda c, s: 0.0,
            method="grid",
            n_trials=3,
            seed=0,
        )


def test_tpe_is_deterministic_for_a_seed_and_finds_the_optimum_region() -> None:
    space = _space({"x": {"low": -5.0, "high": 5.0}})

    def run(seed: int) -> list[float]:
        h = search(space, lambda c, s: -((c["x"] - 2.0) ** 2), method="tpe", n_trials=25, seed=seed)
        return [r.classifier_params["x"] for r in h]

    a, b = run(1), run(1)
    assert a == b
    assert run(2) != a
    assert min(abs(x - 2.0) for x in a) < 0.5


def test_budget_is_respected() -> None:
    space = _space({"x": {"low": 0.0, "high": 1.0}})
    assert len(search(space, lambda c, s: c["x"], method="tpe", n_trials=7, seed=0)) == 7
