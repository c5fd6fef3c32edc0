"""The scarcity benchmark's curve from its cells (benchmarks/scarcity.py); no launch."""

from __future__ import annotations

import json

import pytest

from benchmarks import scarcity
from models.errors import ConfigError


def _cells(cap: str, strategy: str, auprc: list[float], val: list[float] | None = None) -> list:
    return [
        {
            "table": "t",
            "cap": cap,
            "strategy": strategy,
            "fold": k,
            "seed": 0,
            "train_positives": 25 if cap == "25" else 400,
            "correction_term": 0.5,
            "auprc": a,
            "val_auprc": (val or auprc)[k],
            "error": None,
            **({"choice_share": 0.0} if strategy in ("cgan", "smote_auto") else {}),
        }
        for k, a in enumerate(auprc)
    ]


def test_points_pair_each_strategy_with_none_and_choose_the_resampler_on_validation(tmp_path):
    cells = (
        _cells("25", "none", [0.40, 0.50, 0.45])
        + _cells("25", "ros", [0.30, 0.41, 0.36], val=[0.9, 0.9, 0.9])  # best on validation
        + _cells("25", "smote", [0.50, 0.60, 0.55], val=[0.1, 0.1, 0.1])  # best on test: unused
        + _cells("25", "cgan", [0.40, 0.50, 0.45])
        + _cells("25", "smote_auto", [0.42, 0.50, 0.45], val=[0.95, 0.95, 0.95])
        + _cells("all", "none", [0.70, 0.72, 0.71])
    )
    payload = {"command": "x", "commit": "abc", "slices": [{}], "cells": cells}
    out = tmp_path / "scarcity.json"
    scarcity.write(payload, out)
    points = json.loads(out.read_text())["points"]
    fields = {"table", "positives", "strategy", "auprc", "delta_vs_none", "ci_low", "ci_high"}
    assert all(fields <= set(p) for p in points)
    by = {(p["cap"], p["strategy"]): p for p in points}
    best = by[("25", "best_resampler")]
    assert best["chosen"] == "ros"
    assert best["delta_vs_none"] == pytest.approx(-0.0933, abs=1e-4)
    assert best["ci_low"] < -0.0933 < best["ci_high"]
    assert by[("25", "cgan")]["delta_vs_none"] == 0.0
    assert by[("25", "cgan")]["shares_chosen"] == [0.0, 0.0, 0.0]
    # a choosing strategy is its own point, never a candidate for the best fixed-share resampler
    assert by[("25", "smote_auto")]["delta_vs_none"] == pytest.approx(0.0067, abs=1e-4)
    assert by[("25", "smote_auto")]["shares_chosen"] == [0.0, 0.0, 0.0]
    assert ("all", "smote_auto") not in by
    assert by[("25", "none")]["positives"] == 25 and by[("all", "none")]["positives"] == 400
    assert [p["cap"] for p in points if p["strategy"] == "none"] == ["25", "all"]
    assert (
        out.with_suffix(".png").exists()
        and "best_resampler (ros)" in out.with_suffix(".md").read_text()
    )


def test_arguments_are_checked() -> None:
    with pytest.raises(ConfigError, match="not a number"):
        scarcity.parse_args(["--positives", "ten"])
    with pytest.raises(ConfigError, match="unknown strategies"):
        scarcity.parse_args(["--strategies", "gan"])
    assert "smote_auto" not in scarcity.parse_args([]).strategies
    assert scarcity.parse_args(["--strategies", "smote_auto"]).strategies == ["smote_auto"]
