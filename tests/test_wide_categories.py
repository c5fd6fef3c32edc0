"""The benchmark of a column of thousands of categories (benchmarks/wide_categories.py), tiny."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import wide_categories


def test_the_benchmark_runs_the_capped_and_the_uncapped_gan_in_one_run(tmp_path: Path) -> None:
    args = ["--rows", "12000", "--categories", "400", "--steps", "2", "--out", str(tmp_path)]
    wide_categories.main(args)
    payload = json.loads((tmp_path / "wide_categories.json").read_text())
    assert payload["command"] == "python benchmarks/wide_categories.py " + " ".join(args)
    seen, runs = payload["categories_in_training"], payload["runs"]
    assert runs["capped"]["max_categories"] == 100 and runs["uncapped"]["max_categories"] > seen
    assert runs["capped"]["pooled_categories"] == seen - 99
    assert runs["uncapped"]["pooled_categories"] == 0
    # the column's one-hot is 100 slots wide, or as wide as its categories
    gap = runs["uncapped"]["encoded_width"] - runs["capped"]["encoded_width"]
    assert gap == seen - 100
    ratio = runs["capped"]["rows_per_second"] / runs["uncapped"]["rows_per_second"]
    assert payload["capped_rows_per_second_ratio"] == round(ratio, 1)
    assert "| capped | 100 | " in (tmp_path / "wide_categories.md").read_text()
