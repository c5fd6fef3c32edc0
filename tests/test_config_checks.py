"""Every parameter of an experiment YAML is checked when it is loaded, before any work starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.errors import ConfigError
from pipeline.config import load_config

QUICK = "experiments/quick.yaml"


def _error(tmp_path: Path, text: str) -> tuple[str, Path]:
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    return str(err.value), path


@pytest.mark.parametrize(
    ("block", "key", "expected"),
    [
        (
            "smote: {sampling_strategy: 1.5}",
            "strategies.smote.sampling_strategy",
            "range (0.0, 1.0]",
        ),
        ("smote: {k_neighbors: 0}", "strategies.smote.k_neighbors", "range [1, inf)"),
        (
            "ros_x: {kind: ros, sampling_strategy: -0.2}",
            "strategies.ros_x.sampling_strategy",
            "(0.0",
        ),
        ("smote_tomek: {k_neighbors: 0}", "strategies.smote_tomek.k_neighbors", "[1, inf)"),
        ("class_weight: {scale_pos_weight: 0}", "strategies.class_weight.scale_pos_weight", "> 0"),
        ("cgan: {pac: 7, batch_size: 500}", "strategies.cgan", "multiple of pac"),
        ("cgan: {epochs: 0}", "strategies.cgan.epochs", "an integer >= 1, got 0"),
    ],
)
def test_invalid_strategy_parameters_are_refused_at_load(
    tmp_path: Path, block: str, key: str, expected: str
) -> None:
    text, path = _error(tmp_path, f"strategies:\n  none: {{}}\n  {block}\n")
    assert str(path) in text and key in text and expected in text


def test_valid_strategy_parameters_still_load() -> None:
    cfg = load_config(
        QUICK,
        [
            "strategies.smote={sampling_strategy: 1.0, k_neighbors: 1}",
            "strategies.cgan={pac: 5, batch_size: 500, epochs: 1}",
            "strategies.class_weight={scale_pos_weight: 3}",
        ],
    )
    assert cfg.strategies["cgan"]["pac"] == 5


def test_strategy_errors_from_set_name_the_override() -> None:
    with pytest.raises(ConfigError, match=r"strategies\.smote\.k_neighbors"):
        load_config(QUICK, ["strategies.smote.k_neighbors=0"])


def test_report_metric_must_be_a_metric_of_evaluate(tmp_path: Path) -> None:
    text, path = _error(tmp_path, "report:\n  metric: nonsense\n")
    assert str(path) in text and "report.metric" in text
    assert "average_precision" in text and "brier" in text


def test_feature_windows_cannot_be_empty(tmp_path: Path) -> None:
    text, _ = _error(tmp_path, "features:\n  windows_days: []\n")
    assert "features.windows_days" in text
    text, _ = _error(tmp_path, "features:\n  windows_days: [1, -2]\n")
    assert "features.windows_days" in text and "-2" in text


def test_split_seeds_cannot_be_empty(tmp_path: Path) -> None:
    text, _ = _error(tmp_path, "split:\n  seeds: []\n")
    assert "split.seeds" in text


@pytest.mark.parametrize(
    ("setting", "key"),
    [
        ("base_score: 5", "classifier.base_score"),
        ("base_score: 0", "classifier.base_score"),
        ("learning_rate: 3", "classifier.learning_rate"),
        ("n_jobs: 0", "classifier.n_jobs"),
        ("max_depth: 0", "classifier.max_depth"),
    ],
)
def test_xgboost_parameters_are_checked(tmp_path: Path, setting: str, key: str) -> None:
    text, path = _error(tmp_path, f"classifier:\n  {setting}\n")
    assert str(path) in text and key in text


@pytest.mark.parametrize("content", ["", "\n\n", "# only a comment\n# and another\n"])
def test_empty_or_comment_only_yaml_is_refused(tmp_path: Path, content: str) -> None:
    text, path = _error(tmp_path, content)
    assert str(path) in text and "empty" in text


@pytest.mark.parametrize("name", ["../../escaped_exp", "a/b", "a\\b", "..", "", "  "])
def test_experiment_names_cannot_escape_the_store(name: str) -> None:
    with pytest.raises(ConfigError, match=r"name"):
        load_config(QUICK, [f"name={name!r}" if name.strip() else "name=''"])


def test_ordinary_experiment_names_are_fine() -> None:
    assert load_config(QUICK, ["name=fraud v2.1 (test)"]).name == "fraud v2.1 (test)"


def test_search_space_values_are_checked_too() -> None:
    with pytest.raises(ConfigError, match=r"tuning.classifier_space.base_score: 5"):
        load_config(QUICK, ["tuning.classifier_space={base_score: [0.5, 5]}"])
    with pytest.raises(ConfigError, match=r"tuning.sampler_space.smote.*k_neighbors"):
        load_config(QUICK, ["tuning.sampler_space={smote: {k_neighbors: {low: 0, high: 5}}}"])
    cfg = load_config(QUICK, ["tuning.classifier_space={gamma: [0, 1], max_depth: [2, 4]}"])
    assert cfg.tuning.classifier_space["gamma"] == [0, 1]


def test_the_classifiers_category_cap_is_checked_and_never_reaches_xgboost() -> None:
    with pytest.raises(ConfigError, match=r"classifier.max_categories.*greater than or equal to 2"):
        load_config(QUICK, ["classifier.max_categories=1"])
    with pytest.raises(ConfigError, match=r"classifier_space.max_categories: .*set classifier"):
        load_config(QUICK, ["tuning.classifier_space={max_categories: [10, 50]}"])
    cfg = load_config(QUICK, ["classifier.max_categories=50"])
    assert cfg.classifier.max_categories == 50
    assert "max_categories" not in cfg.classifier.xgb_params()
    assert cfg.classifier.xgb_params()["max_depth"] == 4
