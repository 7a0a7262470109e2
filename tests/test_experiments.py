"""The documented experiments run end to end at a reduced size (the full size is the command in
experiments/README.md)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "experiments" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_regime_ranking_experiment_runs_and_writes_its_table(tmp_path):
    exp = _load("regime_ranking")
    summary = exp.main(["--seeds", "1", "--agents", "300", "--workers", "1", "--out", str(tmp_path)])
    assert list(summary.index) == list(exp.SETTINGS)
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert len(runs) == len(exp.SETTINGS) * len(exp.REGIMES)
    assert runs["value"].notna().all()
    text = (tmp_path / "ranking.md").read_text()
    assert "| setting |" in text and all(r in text for r in exp.REGIMES)
