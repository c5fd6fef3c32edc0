"""The calibration benchmark (benchmarks/calibration.py) on a tiny launch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import calibration


def test_the_benchmark_writes_each_strategys_calibration_before_and_after(tmp_path: Path) -> None:
    calibration.main(
        [
            "--config",
            "experiments/quick.yaml",
            "--strategies",
            "none",
            "smote",
            "--set",
            "data.rows=3000",
            "--set",
            "classifier.n_estimators=15",
            "--out",
            str(tmp_path),
        ]
    )
    payload = json.loads((tmp_path / "calibration.json").read_text())
    assert payload["command"].startswith("python benchmarks/calibration.py --config")
    assert payload["commit"]
    assert [s["strategy"] for s in payload["summary"]] == ["none", "smote"]
    for cell in payload["cells"]:
        # an increasing map: the ranking and so the AUPRC are the classifier's
        assert cell["average_precision_calibrated"] == pytest.approx(cell["average_precision"])
        assert cell["slope"] > 0
        assert 0 < cell["mean_p_calibrated"] < 1
    assert "| smote | 2 |" in (tmp_path / "calibration.md").read_text()
    with pytest.raises(SystemExit, match="no strateg"):
        calibration.main(["--config", "experiments/quick.yaml", "--strategies", "cgan"])
