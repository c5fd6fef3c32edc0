"""The experiment config: validation before any work, --set overrides, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.errors import ConfigError
from pipeline.config import EXPERIMENTS_DIR, PROJECT_ROOT, load_config, tracking_uri


@pytest.mark.parametrize("path", sorted(EXPERIMENTS_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_experiments_validate(path: Path) -> None:
    cfg = load_config(path)
    assert cfg.strategies
    assert len(cfg.config_hash()) == 12


def test_override_sets_nested_values() -> None:
    cfg = load_config("experiments/quick.yaml", ["split.n_splits=5", "classifier.max_depth=3"])
    assert cfg.split.n_splits == 5
    assert cfg.classifier.max_depth == 3


def test_override_can_add_a_strategy_variant() -> None:
    cfg = load_config(
        "experiments/quick.yaml", ["strategies.smote_0.5={kind: smote, sampling_strategy: 0.5}"]
    )
    assert cfg.strategies["smote_0.5"] == {"kind": "smote", "sampling_strategy": 0.5}


def test_override_reaches_a_dotted_strategy_parameter(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("strategies:\n  none: {}\n  smote_0.5: {kind: smote}\n")
    cfg = load_config(
        path, ["strategies.smote_0.5.k_neighbors=3", "strategies.smote.k_neighbors=4"]
    )
    assert cfg.strategies["smote_0.5"] == {"kind": "smote", "k_neighbors": 3}
    assert cfg.strategies["smote"] == {"k_neighbors": 4}


def test_config_hash_changes_with_content() -> None:
    a = load_config("experiments/quick.yaml")
    b = load_config("experiments/quick.yaml", ["seed=3"])
    assert a.config_hash() != b.config_hash()


def test_typo_in_yaml_names_key_and_choices(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsplit:\n  n_split: 3\n")
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    text = str(err.value)
    assert "split.n_split" in text and "n_splits" in text and str(bad) in text


def test_typo_in_set_names_key_and_choices() -> None:
    with pytest.raises(ConfigError, match=r"classifer.*Did you mean 'classifier'"):
        load_config("experiments/quick.yaml", ["classifer.max_depth=3"])


def test_set_without_equals_is_explained() -> None:
    with pytest.raises(ConfigError, match="key.path=value"):
        load_config("experiments/quick.yaml", ["split.n_splits"])


def test_wrong_type_names_key_and_value() -> None:
    with pytest.raises(ConfigError, match=r"split.n_splits.*'many'"):
        load_config("experiments/quick.yaml", ["split.n_splits=many"])


def test_unknown_strategy_lists_valid_ones(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("strategies:\n  smoet: {}\n")
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    assert "smoet" in str(err.value) and "Did you mean 'smote'" in str(err.value)
    assert "borderline" in str(err.value)


def test_unknown_strategy_parameter_lists_accepted(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("strategies:\n  smote: {k_neighbours: 3}\n")
    with pytest.raises(ConfigError, match=r"k_neighbours.*Accepted:.*k_neighbors"):
        load_config(bad)


def test_missing_file_lists_shipped_experiments() -> None:
    with pytest.raises(ConfigError, match=r"does not exist.*default.yaml"):
        load_config("experiments/nope.yaml")


def test_invalid_yaml_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("split: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_a_key_written_twice_is_refused_not_dropped(tmp_path: Path) -> None:
    """YAML keeps the last of two equal keys: a second `strategies:` block appended to a file
    would drop the first block's strategies without a word."""
    quick = Path("experiments/quick.yaml").read_text()
    twice = tmp_path / "twice.yaml"
    twice.write_text(quick + "strategies:\n  cgan: {}\n")
    first = 1 + quick.splitlines().index("strategies:")
    last = len(quick.splitlines()) + 1
    with pytest.raises(
        ConfigError,
        match=rf"twice\.yaml: not valid YAML \(the key 'strategies' is written twice in one "
        rf"mapping \(lines {first} and {last}\); YAML would keep only the second",
    ):
        load_config(twice)
    with pytest.raises(ConfigError, match=r"--set .*the key 'smote' is written twice"):
        load_config("experiments/quick.yaml", ["strategies={smote: {}, smote: {k_neighbors: 3}}"])
    # the same key in two mappings, and a merge key's values overridden, are as meant
    merged = tmp_path / "merged.yaml"
    merged.write_text(
        quick.replace(
            "strategies:\n",
            "strategies:\n  s1: &s {kind: smote, k_neighbors: 3}\n  s2: {<<: *s, k_neighbors: 4}\n",
        )
    )
    strategies = load_config(merged).strategies
    assert strategies["s1"]["k_neighbors"] == 3 and strategies["s2"] == {
        "kind": "smote",
        "k_neighbors": 4,
    }


def test_a_column_name_yaml_reads_as_a_boolean_or_number_gets_the_quoting_hint() -> None:
    with pytest.raises(
        ConfigError,
        match=r"data.schema.drop.1: Input should be a valid string \(got True\): YAML reads the "
        r"text as a boolean .* quote the name as written",
    ):
        load_config("experiments/default.yaml", ["data.schema.drop=[a, on]"])
    with pytest.raises(ConfigError, match=r"\(got 2024\): YAML reads the text as a number"):
        load_config("experiments/default.yaml", ["data.schema.id=2024"])
    assert load_config("experiments/default.yaml", ["data.schema.id='2024'"]).data.schema_.id


def test_file_source_needs_path(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: {kind: csv, preset: creditcard}\n")
    with pytest.raises(ConfigError, match="data.path is required"):
        load_config(bad)


def test_a_relative_data_path_is_read_from_the_yamls_folder_or_with_set_the_current_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = load_config("experiments/creditcard.yaml")
    assert cfg.data.resolved_path() == PROJECT_ROOT / "data" / "creditcard.csv"
    folder = tmp_path / "project" / "experiments"
    folder.mkdir(parents=True)
    (folder / "mine.yaml").write_text(
        "data: {kind: csv, path: ../data/tx.csv, preset: creditcard}\nstrategies: [none]\n"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = load_config(folder / "mine.yaml")
    assert cfg.data.resolved_path() == tmp_path / "project" / "data" / "tx.csv"
    assert cfg.data.path == str(tmp_path / "project" / "data" / "tx.csv")  # logged as such
    cfg = load_config(folder / "mine.yaml", ["data.path=new/tx.csv"])
    assert cfg.data.resolved_path() == elsewhere / "new" / "tx.csv"
    cfg = load_config(folder / "mine.yaml", ["data.path=~/tx.csv"])
    assert cfg.data.resolved_path() == Path.home() / "tx.csv"


def test_tests_use_a_temporary_store() -> None:
    assert "mlruns/mlflow.db" in tracking_uri()
    assert str(PROJECT_ROOT / "mlruns") not in tracking_uri()


def test_override_below_a_strategy_list_shorthand() -> None:
    cfg = load_config(
        "experiments/quick.yaml", ["strategies=[none, smote]", "strategies.smote.k_neighbors=3"]
    )
    assert cfg.strategies == {"none": {}, "smote": {"k_neighbors": 3}}


def test_repeats_is_the_shorthand_for_seeds() -> None:
    cfg = load_config("experiments/default.yaml", ["split.repeats=4"])
    assert cfg.split.seeds == [0, 1, 2, 3]  # from the YAML's first seed, 0
    cfg = load_config("experiments/default.yaml", ["split.seeds=[7]", "split.repeats=2"])
    assert cfg.split.seeds == [7, 8]
    cfg = load_config("experiments/default.yaml", ["split.seeds=[3, 9]", "split.repeats=2"])
    assert cfg.split.seeds == [3, 9]


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (
            ["split.seeds=[1, 2, 3]", "split.repeats=2"],
            "split.repeats is 2 but split.seeds lists 3",
        ),
        (["split.repeats=0"], r"split.repeats.*greater than or equal to 1"),
        (["split.seeds=[1, 1]"], "the seeds repeat"),
    ],
)
def test_repeats_and_seeds_that_disagree_are_refused(overrides: list[str], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_config("experiments/default.yaml", overrides)


def test_repeats_and_known_cards_belong_to_their_fold_kind() -> None:
    with pytest.raises(ConfigError, match="split.repeats repeats stratified k-fold"):
        load_config("experiments/temporal.yaml", ["split.repeats=2"])
    assert load_config("experiments/temporal.yaml").split.known_cards == "training"
    with pytest.raises(ConfigError, match=r"split.known_cards.*'training' or 'history'"):
        load_config("experiments/temporal.yaml", ["split.known_cards=all"])


def test_settings_of_the_other_fold_kind_are_named_as_unused() -> None:
    """`n_folds` is the temporal folds' count: given to stratified folds it would be dropped
    without a word, and the launch would run another number of folds than the user asked for."""
    ignored = load_config("experiments/default.yaml").split.ignored_settings
    assert ignored() is None
    split = load_config("experiments/default.yaml", ["split={kind: stratified, n_folds: 4}"]).split
    assert split.ignored_settings() == (
        "split.n_folds (4) set for temporal folds, unused with split.kind: stratified (the "
        "number of folds is split.n_splits: 3)"
    )
    switched = load_config("experiments/temporal.yaml", ["split.kind=stratified"]).split
    assert switched.ignored_settings().startswith(
        "split.gap_days (7), split.known_cards (training), split.n_folds (3), split.step_days (7)"
    )
    # a stratified YAML switched to temporal folds: its n_splits is named unless n_folds is given
    temporal = load_config("experiments/default.yaml", ["split.kind=temporal"]).split
    assert temporal.ignored_settings() == (
        "split.n_splits (3) set for stratified folds, unused with split.kind: temporal (the "
        "number of folds is split.n_folds: 3)"
    )
    both = ["split.kind=temporal", "split.n_folds=2"]
    assert load_config("experiments/default.yaml", both).split.ignored_settings() is None
    # seeds: temporal folds run once, with seed 0, whatever else is given
    seeds = load_config("experiments/temporal.yaml", ["split.seeds=[0, 1, 2]"]).split
    assert seeds.ignored_settings() == (
        "split.seeds ([0, 1, 2]) set for stratified folds, unused with split.kind: temporal (the "
        "number of folds is split.n_folds: 3; temporal folds are cut and trained once, with "
        "seed 0)"
    )
    assert (
        load_config("experiments/temporal.yaml", ["split.seeds=[0]"]).split.ignored_settings()
        is None
    )


def test_draws_are_the_simulators_and_stratified() -> None:
    cfg = load_config("experiments/default.yaml", ["data.draws=4"])
    assert cfg.data.draws == 4 and load_config("experiments/default.yaml").data.draws == 1
    decisive = load_config("experiments/decisive.yaml")
    assert decisive.data.draws > 1 and decisive.split.seeds == [0]
    with pytest.raises(ConfigError, match="data.draws is 2 but a csv file is one sample"):
        load_config(
            "experiments/default.yaml",
            ["data.kind=csv", "data.path=x.csv", "data.preset=creditcard", "data.draws=2"],
        )
    with pytest.raises(ConfigError, match="temporal folds would mix the draws' time lines"):
        load_config("experiments/temporal.yaml", ["data.draws=2"])
    with pytest.raises(ConfigError, match=r"data.draws is 2 and split.seeds lists \[0, 1\]"):
        load_config("experiments/default.yaml", ["data.draws=2", "split.repeats=2"])
    with pytest.raises(ConfigError, match=r"data.draws.*greater than or equal to 1"):
        load_config("experiments/default.yaml", ["data.draws=0"])


def test_a_validation_gap_belongs_to_temporal_folds() -> None:
    assert (
        load_config("experiments/temporal.yaml", ["validation.gap_days=2"]).validation.gap_days == 2
    )
    with pytest.raises(ConfigError, match="inner windows of stratified folds are stratified parts"):
        load_config("experiments/default.yaml", ["validation.gap_days=2"])
