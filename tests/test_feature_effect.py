"""The feature-effect benchmark pairs the two launches' folds and tests their difference."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks import feature_effect


def test_an_option_that_changes_nothing_is_measured_as_no_difference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`features.label_delay_days=7` is quick.yaml's own value: both launches fit the same model
    on the same folds, so every pair is equal and the result file says so."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'unused.db'}")
    out = tmp_path / "effect.json"
    argv = ["feature_effect.py", "--config", "experiments/quick.yaml", "--out", str(out)]
    argv += ["--store", str(tmp_path)]
    monkeypatch.setattr(sys, "argv", [*argv, "--with", "features.label_delay_days=7"])
    feature_effect.main()
    r = json.loads(out.read_text())
    assert r["pairs"] == len(r["per_pair"]) == 2 and r["strategy"] == "none"
    assert r["diff"] == 0 and r["p"] == 1.0 and r["test"] == "identical"
    assert all(p["baseline"] == p["variant"] for p in r["per_pair"])
    assert 0 < r["baseline"] <= 1 and r["command"].endswith("--with features.label_delay_days=7")
    assert "| +0.0000 [" in out.with_suffix(".md").read_text()
