"""The three S3-4AlpClusters phases as experiments: estimators with known answers, and each experiment run from
the shell at a reduced size (the full size is opt-in: ``pytest -m slow``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

# pytest-xdist (`make test`: --dist loadgroup) runs the whole module on one worker, so
# the gallery (the phase experiments on 2 worker processes) is made once
pytestmark = pytest.mark.xdist_group("phases")

ROOT = Path(__file__).resolve().parents[1]


def _fake_run(directory: Path, pilots: list[tuple[str, str]], rates: dict[tuple[str, str], tuple[float, float]],
              seed: int, replicate: int, burn_in: int = 8, steps: int = 24, members: int = 40) -> None:
    """A stored run whose panel holds clusters with given innovation rates (per member a year) before and after
    the burn-in."""
    from s3sim.runner.result import RunResult

    rows = []
    for step in range(4, steps + 1, 4):
        for (region, domain), (pre, post) in rates.items():
            rate = pre if step <= burn_in else post
            rows.append({"step": step, "region": region, "domain": domain, "firms": members,
                         "innovations": 0, "rca": 1.0, "specialised": True, "relatedness_density": 50.0,
                         "cluster_members": members, "cluster_innovations": int(round(rate * members * 4 / 4))})
    panel = pd.DataFrame(rows)
    empty = pd.DataFrame({"step": pd.Series([], dtype=int)})
    manifest = {"seed": seed, "replicate": replicate, "burn_in": burn_in, "steps": steps, "policy": "topdown_s3",
                "config": {"model": {"evidence_every": 4}},
                "policy_setup": {"pilots": [{"region": r, "domain": d} for r, d in pilots]}}
    RunResult(timeseries=pd.DataFrame({"step": [1], "region": ["ALL"], "indicator": ["firms"], "value": [1.0]}),
              panel=panel, firms=empty, innovations=empty, manifest=manifest).save(directory)


class TestPilotDiD:
    def test_known_difference_in_differences_and_true_effect(self, tmp_path):
        from s3sim.analysis.pilots import evaluate_pilots

        d = tmp_path / "sweep"
        d.mkdir()
        jobs = []
        # pilots A:x and B:y gain 0.5 (pre 1.0, post 1.5); controls drift by -0.25 (1.0 -> 0.75);
        # without pilots the pilot clusters would have reached 1.2, so the true effect is 0.3 and the DiD 0.75
        controls = {("C", "x"): (1.0, 0.75), ("D", "y"): (1.0, 0.75), ("E", "z"): (1.0, 0.75)}
        for rep in range(3):
            for scenario in ("pilot", "topdown_s3"):
                num = len(jobs)
                jobs.append({"num": num, "overrides": [f"policy={scenario}", f"replicate={rep}"]})
                post = 1.5 if scenario == "pilot" else 1.2
                rates = {("A", "x"): (1.0, post), ("B", "y"): (1.0, post), **controls}
                _fake_run(d / str(num), [("A", "x"), ("B", "y")] if scenario == "pilot" else [], rates, 0, rep)
        (d / "sweep.json").write_text(json.dumps({"format": "s3sim-sweep", "format_version": 1, "jobs": jobs}))
        ev = evaluate_pilots(d, pilot="pilot", without="topdown_s3", lag=0, pre_window=8, k=2, progress=False)
        assert ev.estimate("did")["mean"] == pytest.approx(0.75)
        assert ev.estimate("true_effect")["mean"] == pytest.approx(0.3)
        assert ev.estimate("did")["n"] == 3
        assert set(ev.per_pilot["region"]) == {"A", "B"}
        assert ev.runs["n_controls"].eq(2).all()  # k=2 nearest per pilot (ties: the same two for both)
        assert any("true effect" in line.lower() for line in ev.reading())

    def test_bad_arguments(self, tmp_path):
        from s3sim.analysis.pilots import evaluate_pilots
        from s3sim.errors import ConfigError

        with pytest.raises(ConfigError, match="sweep"):
            evaluate_pilots(tmp_path, progress=False)


def run_experiment(script: str, *args: str, cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(ROOT / "experiments" / script), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def gallery(tmp_path_factory) -> Path:
    """The documented gallery command at the test-suite size: the three phase experiments and s3sim-validate,
    run from the shell into one directory, and the README block built from them (into a scratch README)."""
    d = tmp_path_factory.mktemp("gallery")
    (d / "README.md").write_text("# scratch\n")
    r = run_experiment("gallery.py", "--small", "--workers", "2", "--out", str(d / "out"), "--readme",
                       str(d / "README.md"), "--docs", str(d / "docs"), cwd=d, timeout=1800)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    return d


def run_small(script: str, gallery: Path, name: str) -> Path:
    """The output of one experiment run at the test-suite size by the gallery command."""
    out = gallery / "out" / name
    assert out.is_dir(), f"{script} wrote nothing"
    return out


class TestPhase3:
    def test_small_run_writes_the_report(self, gallery):
        out = run_small("phase3_pilots/run.py", gallery, "phase3")
        md = (out / "phase3.md").read_text()
        assert "Difference in differences" in md and "True effect" in md
        assert (out / "figures" / "phase3.png").stat().st_size > 10_000
        runs = pd.read_csv(out / "phase3_runs.csv")
        assert len(runs) == 3
        np.testing.assert_allclose(runs["did"], (runs["pilot_post"] - runs["pilot_pre"])
                                   - (runs["control_post"] - runs["control_pre"]))
        assert runs["true_effect"].notna().all() and (runs["n_pilots"] >= 8).all()

    @pytest.mark.slow
    def test_full_size(self, tmp_path):
        r = run_experiment("phase3_pilots/run.py", f"hydra.run.dir={tmp_path / 'p3'}", cwd=tmp_path)
        assert r.returncode == 0, r.stderr[-3000:]


class TestPhase2:
    def test_small_run_writes_comparison_stress_and_verdict(self, gallery):
        out = run_small("phase2_improved_s3/run.py", gallery, "phase2")
        md = (out / "phase2.md").read_text()
        assert "## Robustness (stress test)" in md and "Stress test: transregional_s3 beats topdown_s3" in md
        assert (out / "sweep" / "report" / "report.html").exists()
        assert (out / "stress" / "summary.md").exists()
        rob = pd.read_csv(out / "phase2_robustness.csv")
        assert set(rob["regime_a"]) == {"cluster_s3", "transregional_s3"} and set(rob["regime_b"]) == {"topdown_s3"}
        assert ((rob["ci_low"] <= rob["share_a_wins"]) & (rob["share_a_wins"] <= rob["ci_high"])).all()
        assert set(rob["verdict"]) <= {"robust", "mostly holds", "fragile", "reversed", "tied", "mostly tied"}
        assert (out / "figures" / "phase2.png").stat().st_size > 10_000

    @pytest.mark.slow
    def test_full_size(self, tmp_path):
        r = run_experiment("phase2_improved_s3/run.py", f"hydra.run.dir={tmp_path / 'p2'}", cwd=tmp_path,
                           timeout=3600)
        assert r.returncode == 0, r.stderr[-3000:]


class TestRegionalStressOutputs:
    """Phase 1 asks the stress test for one output per region, under the as-applied policy preset."""

    def test_preset_and_region_columns_match_a_plain_run(self):
        from s3sim import compose
        from s3sim.indicators.outcomes import outcomes
        from s3sim.runner import simulate
        from s3sim.runner.targets import s3_target

        fixed = {"n_agents": 300, "burn_in": 4, "horizon": 8}
        got = s3_target({"crowding_out": 0.2}, seed=11, replicate=1, regimes=["as_applied"], fixed=fixed,
                        regions=["AT_UA", "CH_FR"])
        cfg = compose(["policy=as_applied", "model.n_agents=300", "model.burn_in=4", "model.horizon=8",
                       "model.crowding_out=0.2", "model.materialize_agents=false"])
        r = simulate(cfg, seed=11, replicate=1)
        for region in ("AT_UA", "CH_FR"):
            want = outcomes(r.timeseries, r.innovations, r.firms, region=region)
            for k, v in want.items():
                assert got[f"as_applied:{k}@{region}"] == pytest.approx(v, nan_ok=True), (region, k)
        assert got["as_applied:firms"] == outcomes(r.timeseries, r.innovations, r.firms)["firms"]

    def test_resolve_validates_regions_and_presets(self):
        from s3sim.errors import ConfigError
        from s3sim.runner.stress import compose_stress, resolve

        spec = resolve(compose_stress(["sensitivity=morris", "target.outputs=[as_applied-none:firms@SI]"]))
        assert spec.target["regions"] == ["SI"] and spec.target["regimes"] == ["as_applied", "none"]
        with pytest.raises(ConfigError, match="@REGION"):
            resolve(compose_stress(["sensitivity=morris", "target.outputs=[none:firms@XX]"]))


class TestPhase1:
    def test_small_run_writes_regions_table_and_sensitivity(self, gallery):
        out = run_small("phase1_regions/run.py", gallery, "phase1")
        md = (out / "phase1.md").read_text()
        assert "## Regions" in md and "most sensitive to" in md
        regions = pd.read_csv(out / "phase1_regions.csv")
        assert len(regions) == 11
        scores = regions[[c for c in regions.columns if c.startswith("stress_")]]
        assert scores.shape[1] == 6 and ((scores.isna()) | ((scores >= 0) & (scores <= 1))).all().all()
        # the cluster-involvement scores are defined only for the cluster-led region (AT_UA in policy=as_applied)
        design = regions.set_index("region")["stress_cluster_design"]
        assert design.notna().tolist() == [r == "AT_UA" for r in design.index]
        assert scores[["stress_breadth", "stress_alignment"]].notna().all().all()
        assert (regions["effect_ci_low"] <= regions["effect_mean"]).all()
        idx = pd.read_csv(out / "sensitivity" / "indices.csv")
        assert {o.rsplit("@", 1)[1] for o in idx["output"]} == set(regions["region"])
        assert (out / "figures" / "phase1.png").stat().st_size > 10_000

    @pytest.mark.slow
    def test_full_size(self, tmp_path):
        r = run_experiment("phase1_regions/run.py", f"hydra.run.dir={tmp_path / 'p1'}", cwd=tmp_path, timeout=3600)
        assert r.returncode == 0, r.stderr[-3000:]


class TestGallery:
    def test_readme_block_has_a_figure_per_phase_and_the_validation_table(self, gallery):
        text = (gallery / "README.md").read_text()
        assert text.startswith("# scratch") and text.count("<!-- gallery:start -->") == 1
        for name in ("phase1", "phase2", "phase3"):
            assert f"docs/gallery/{name}.png" in text
            assert (gallery / "docs" / f"{name}.png").stat().st_size > 10_000
        assert "| fact | target | measured [95% CI] | result | source |" in text
        assert "F16" in text and ("PASS" in text or "FAIL" in text)
        assert "Made by `python experiments/gallery.py --small`" in text

    def test_rebuilding_replaces_the_block(self, gallery):
        r = run_experiment("gallery.py", "--reuse", str(gallery / "out"), "--readme", str(gallery / "README.md"),
                           "--docs", str(gallery / "docs"), cwd=gallery)
        assert r.returncode == 0, r.stderr[-2000:]
        assert (gallery / "README.md").read_text().count("<!-- gallery:start -->") == 1
        r = run_experiment("gallery.py", "--reuse", str(gallery), "--readme", str(gallery / "x.md"), cwd=gallery)
        assert r.returncode == 2 and "Traceback" not in r.stderr
