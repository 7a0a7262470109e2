"""The stress test (s3sim-stress): analytic check on the Ishigami function, small Morris and Sobol runs of the real
model, resume after a kill, bad configs, the scenario-discovery and target building blocks.

Real model runs are tiny (150-200 agents, 4 + 8 steps, two or three parameters); executors are compared in
tests/test_stress_executors.py.
"""

from __future__ import annotations

import ast
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from s3sim.analysis.discovery import prim
from s3sim.analysis.sensitivity import analyse, chunk_path, load_run
from s3sim.errors import ConfigError
from s3sim.runner import evaluate
from s3sim.runner.executors import make_executor
from s3sim.runner.stress import StressTest, check_resume, main, resolve, run_stress
from s3sim.runner.targets import evaluate_chunk, ishigami_indices, s3_target

BIN = Path(sys.executable).parent
STRESS = str(BIN / "s3sim-stress")
TINY = {"n_agents": 150, "burn_in": 4, "horizon": 8}
CONTRAST = "cluster_s3-topdown_s3:innovations_per_1000_firms"
ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}


def _run(args, **kw):
    return subprocess.run([STRESS, *args], capture_output=True, text=True, env=ENV, timeout=300, **kw)


# ---------------------------------------------------------------------------------------------------------------
# the engine's verification target
# ---------------------------------------------------------------------------------------------------------------

def test_ishigami_sobol_reproduces_analytic_indices(tmp_path):
    """S1 and ST of the Ishigami function (Ishigami & Homma 1990; analytic values from Saltelli et al. 2008)
    lie within the bootstrap intervals, through the real command."""
    out = tmp_path / "ishigami"
    proc = _run(["target=ishigami", "sensitivity=sobol", "sensitivity.n=1024", "executor=serial",
                 f"hydra.run.dir={out}"])
    assert proc.returncode == 0, proc.stderr
    assert "to resume: s3sim-stress" in proc.stdout and f"hydra.run.dir={out}" in proc.stdout
    log = (out / "stress.log").read_text()  # a batch job keeps the report: resume command, verdicts, results
    assert "to resume: s3sim-stress" in log and "convergence:" in log and "results written to" in log
    ind = pd.read_csv(out / "indices.csv")
    truth = ishigami_indices()
    assert truth["S1"] == pytest.approx([0.3139, 0.4424, 0.0], abs=1e-4)
    assert truth["ST"] == pytest.approx([0.5576, 0.4424, 0.2437], abs=1e-4)
    for kind in ("S1", "ST"):
        for j, name in enumerate(["x1", "x2", "x3"]):
            row = ind[(ind["index"] == kind) & (ind["parameter"] == name)].iloc[0]
            assert abs(row["value"] - truth[kind][j]) <= row["conf"], (kind, name, row["value"], row["conf"])
            assert abs(row["value"] - truth[kind][j]) < 0.05
    conv = pd.read_csv(out / "convergence.csv")
    assert sorted(conv["n"].unique()) == [128, 256, 512, 1024]
    # interval widths shrink with n (x1's ST, the noisiest index)
    w = conv[(conv["index"] == "ST") & (conv["parameter"] == "x1")].sort_values("n")["conf"].to_numpy()
    assert w[-1] < w[0]
    for f in ("indices.parquet", "noise.csv", "robustness.csv", "summary.md", "figures/indices_y.png",
              "figures/convergence_y.png", "design/problem.json", "design/samples.parquet"):
        assert (out / f).is_file(), f
    from s3sim.analysis.sensitivity import ROBUSTNESS_COLUMNS

    assert pd.read_csv(out / "robustness.csv").columns.tolist() == ROBUSTNESS_COLUMNS  # no regimes: a header only
    problem = json.loads((out / "design/problem.json").read_text())
    assert problem["n_samples"] == 1024 * 5 and len(list((out / "evaluations").glob("chunk-*.parquet"))) == \
        problem["n_chunks"]
    # the analysis re-runs on the stored directory alone
    again = subprocess.run([sys.executable, "-m", "s3sim.analysis.sensitivity", str(out), "--no-figures",
                            "--resamples", "50"], capture_output=True, text=True, env=ENV, timeout=120)
    assert again.returncode == 0, again.stderr
    assert pd.read_csv(out / "indices.csv")["value"].to_numpy() == pytest.approx(ind["value"].to_numpy())


def test_ishigami_noise_is_reported_and_second_order(tmp_path):
    cfg = {"target": {"name": "ishigami", "params": ["x1", "x2", "x3"], "outputs": ["y"], "replicates": 3,
                      "noise": 2.0},
           "sensitivity": {"method": "sobol", "n": 64, "second_order": True, "num_resamples": 50},
           "chunk_size": 100}
    report = run_stress(cfg, tmp_path, executor="serial")
    a = report.outputs["y"]
    assert a.noise["replicates"] == 3
    assert a.noise["replicate_sd"] == pytest.approx(2.0, rel=0.15)
    assert 0 < a.noise["noise_share"] < 0.5
    s2 = report.indices()
    assert len(s2[s2["index"] == "S2"]) == 3
    assert (tmp_path / "figures" / "s2_y.png").is_file()
    assert "Replicate noise: SD" in (tmp_path / "summary.md").read_text()


def test_grouped_sobol_reproduces_the_analytic_closed_index_of_a_group(tmp_path):
    """Groups {x1, x3} and {x2}: the group {x1, x3} has S1 = ST = (V1 + V13) / V (its closed index; nothing
    outside the group interacts with it), x2 alone S1 = ST = V2 / V. Sobol' with groups runs N(G+2) samples."""
    cfg = {"target": {"name": "ishigami", "params": ["x1", "x2", "x3"], "outputs": ["y"], "replicates": 1,
                      "groups": {"x1x3": ["x1", "x3"]}},
           "sensitivity": {"method": "sobol", "n": 1024, "num_resamples": 200}, "chunk_size": 4096}
    report = run_stress(cfg, tmp_path, executor="serial")
    run = load_run(tmp_path)
    assert run.problem["n_samples"] == 1024 * (2 + 2) and run.factors == ["x1x3", "x2"]
    truth = ishigami_indices()
    closed = {"x1x3": truth["ST"][0], "x2": truth["S1"][1]}  # (V1 + V13) / V and V2 / V
    t = report.outputs["y"].indices
    assert sorted(t["parameter"].unique()) == ["x1x3", "x2"]
    for row in t.itertuples():
        assert abs(row.value - closed[row.parameter]) <= max(row.conf, 0.02), row
    text = (tmp_path / "summary.md").read_text()
    assert "Indices are of 2 groups" in text and "x1x3 = x1, x3" in text and "| group |" in text
    # the design differs from the ungrouped one: resuming with other groups is refused
    with pytest.raises(ConfigError, match="target.groups|design"):
        check_resume(resolve({**cfg, "target": {**cfg["target"], "groups": {}}}), tmp_path)


def linear_target(params, seed=0, replicate=0):
    """y = x1 + 2 x2 + 3 x3: additive, so S1 = ST = a_i^2 Var(x_i) / sum_j a_j^2 Var(x_j) for any distributions."""
    return {"y": params["x1"] + 2.0 * params["x2"] + 3.0 * params["x3"]}


def test_input_distributions_give_the_analytic_indices_of_a_linear_model(tmp_path):
    """target.dists: x1 triangular on [0, 1] with its mode at 0.25, x2 uniform, x3 a normal (0.5, 0.2) truncated
    to [0, 1]. The design follows those marginals, and Sobol' S1 and ST match the analytic shares of variance,
    which differ from the uniform ones."""
    from scipy import stats

    dists = {"x1": ["triang", 0.25], "x3": ["truncnorm", 0.5, 0.2]}
    cfg = {"target": {"params": ["x1", "x2", "x3"], "ranges": {k: [0.0, 1.0] for k in ("x1", "x2", "x3")},
                      "dists": dists, "outputs": ["y"], "replicates": 1},
           "sensitivity": {"method": "sobol", "n": 1024, "num_resamples": 200}, "chunk_size": 8192}
    report = run_stress(cfg, tmp_path, executor="serial", target=linear_target)
    x1, x3 = stats.triang(c=0.25), stats.truncnorm(-2.5, 2.5, loc=0.5, scale=0.2)
    var = np.array([x1.var(), 1 / 12, x3.var()]) * np.array([1.0, 4.0, 9.0])
    truth = var / var.sum()
    uniform = np.array([1.0, 4.0, 9.0]) / 14.0
    assert np.abs(truth - uniform).max() > 0.1  # the distributions matter
    t = report.outputs["y"].indices
    for kind in ("S1", "ST"):
        for j, name in enumerate(["x1", "x2", "x3"]):
            row = t[(t["index"] == kind) & (t["parameter"] == name)].iloc[0]
            assert abs(row["value"] - truth[j]) <= max(row["conf"], 0.01), (kind, name, row["value"], truth[j])
    run = load_run(tmp_path)
    x = pd.read_parquet(tmp_path / "design" / "applied.parquet")
    assert x["x1"].between(0, 1).all() and x["x3"].between(0, 1).all()
    assert stats.kstest(x["x1"], x1.cdf).pvalue > 0.01 and stats.kstest(x["x3"], x3.cdf).pvalue > 0.01
    assert stats.kstest(x["x2"], "uniform").pvalue > 0.01
    assert [p.get("dist") for p in run.params] == [["triang", 0.25], None, ["truncnorm", 0.5, 0.2]]
    text = (tmp_path / "summary.md").read_text()
    assert "x1 triangular on [0, 1], mode 0.25" in text and "x3 normal (mean 0.5, sd 0.2) truncated to [0, 1]" in text
    # another distribution is another design
    with pytest.raises(ConfigError, match="design") as exc:
        check_resume(resolve({**cfg, "target": {**cfg["target"], "dists": {"x1": "triang"}}}, target=linear_target),
                     tmp_path)
    # the refusal names the parameters that differ, not every parameter
    assert "params (x1: [0.0, 1.0] ['triang', 0.25] -> [0.0, 1.0] ['triang', 0.5]; x3: [0.0, 1.0] ['truncnorm', " \
           "0.5, 0.2] -> [0.0, 1.0])" in str(exc.value) and "x2" not in str(exc.value)
    # a uniform design keeps the fingerprint it had before distributions existed (no "dist" entries)
    plain = resolve({**cfg, "target": {**cfg["target"], "dists": {"x1": "unif"}}}, target=linear_target)
    assert all("dist" not in p for p in plain.fingerprint_items()["params"])


def test_input_distributions_from_the_shell(tmp_path):
    """Integer parameters take a distribution on [low - 0.5, high + 0.5] and are rounded; the Morris note on uneven
    integer levels is for uniform parameters only."""
    out = tmp_path / "run"
    proc = _run(["sensitivity=morris", "sensitivity.n=4", "target.params=[g_min,policy_n_priorities]",
                 "target.dists.g_min=[truncnorm,0.6,0.1]", "target.dists.policy_n_priorities=[triang,0.9]",
                 f"target.outputs=[{CONTRAST}]", "target.replicates=1",
                 *[f"target.fixed.{k}={v}" for k, v in TINY.items()], "executor=serial", "figures=false",
                 f"hydra.run.dir={out}"])
    assert proc.returncode == 0, proc.stderr
    x = pd.read_parquet(out / "design" / "applied.parquet")
    assert set(x["policy_n_priorities"].unique()) <= set(range(2, 9)) and x["policy_n_priorities"].mean() > 5
    problem = json.loads((out / "design" / "problem.json").read_text())
    assert [p.get("dist") for p in problem["params"]] == [["truncnorm", 0.6, 0.1], ["triang", 0.9]]
    text = (out / "summary.md").read_text()
    assert "policy_n_priorities triangular on [1.5, 8.5], mode 7.8, rounded to the integers 2-8" in text
    # four levels on seven integers under this distribution miss some of them: noted
    assert "policy_n_priorities: under its distribution the 4 Morris levels fall on 2, 5, 7, 8" in text


def test_grouped_morris_on_the_model_draws_mu_star_bars_and_a_winner_map(tmp_path):
    cfg = {"target": {"name": "s3", "params": ["g_min", "omega", "a0", "c_collab"], "replicates": 1,
                      "groups": {"mass": ["g_min", "omega"]}, "fixed": TINY,
                      "outputs": [CONTRAST, "cluster_s3:innovations_per_1000_firms"]},
           "sensitivity": {"method": "morris", "n": 4, "num_resamples": 20}, "chunk_size": 8}
    report = run_stress(cfg, tmp_path, executor="serial")
    run = load_run(tmp_path)
    assert run.factors == ["mass", "a0", "c_collab"] and run.problem["n_samples"] == 4 * (3 + 1)
    # along a trajectory each step moves one factor: the two grouped parameters move together
    steps = np.diff(run.x.reshape(4, 3 + 1, 4), axis=1) != 0  # trajectories x steps x parameters
    assert np.array_equal(steps[:, :, 0], steps[:, :, 1]) and steps[:, :, 0].sum() == 4
    assert (steps.sum(axis=2) == np.where(steps[:, :, 0], 2, 1)).all()
    a = next(iter(report.outputs.values()))
    mu = a.indices[a.indices["index"] == "mu_star"]
    assert sorted(mu["parameter"]) == ["a0", "c_collab", "mass"] and mu["value"].notna().all()
    figs = {p.name for p in (tmp_path / "figures").iterdir()}
    assert any(f.startswith("indices_") for f in figs) and not any(f.startswith("morris_") for f in figs)
    assert "winner_innovations_per_1000_firms.png" in figs


@pytest.mark.parametrize("groups,field,allowed", [
    ({"a": ["x1", "x9"]}, "target.groups.a='x9'", "a varied parameter (x1, x2, x3)"),
    ({"a": ["x1"], "b": ["x1", "x2"]}, "target.groups.b='x1'", "one group only"),
    ({"a": ["x1", "x2", "x3"]}, "target.groups", "at least two groups"),
    ("catalogue", "target.groups='catalogue'", "at least two groups"),  # the Ishigami inputs share one group
    ("byname", "target.groups='byname'", "catalogue, or a mapping"),
    ({"x3": ["x1", "x2"]}, "target.groups", "not the name of another varied parameter"),
])
def test_bad_groups_fail_with_one_line(groups, field, allowed):
    cfg = {"target": {"name": "ishigami", "params": ["x1", "x2", "x3"], "outputs": ["y"], "groups": groups}}
    with pytest.raises(ConfigError) as exc:
        resolve(cfg)
    assert field in str(exc.value) and allowed in str(exc.value), str(exc.value)


def test_groups_need_sobol_or_morris_and_work_from_the_shell(tmp_path):
    proc = _run(["target=ishigami", "sensitivity=delta", "target.groups={a: [x1, x3]}",
                 f"hydra.run.dir={tmp_path / 'x'}"])
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "target.groups=" in proc.stderr and "groups work with sobol and morris" in proc.stderr
    proc = _run(["target=ishigami", "sensitivity=sobol", "sensitivity.n=16", "executor=serial", "figures=false",
                 "target.groups.a=[x1,x3]", f"hydra.run.dir={tmp_path / 'y'}"])
    assert proc.returncode == 0, proc.stderr
    assert load_run(tmp_path / "y").factors == ["a", "x2"]


def test_catalogue_groups_of_the_model_parameters():
    target = {"params": ["g_min", "omega", "a0", "d_star"], "outputs": [CONTRAST]}
    spec = resolve({"target": {**target, "groups": "catalogue"}})
    assert {p["name"]: p["group"] for p in spec.params} == {"g_min": "critical_mass", "omega": "critical_mass",
                                                            "a0": "flows", "d_star": "flows"}
    plain = resolve({"target": target})
    assert all("group" not in p for p in plain.params)
    assert "group" not in json.dumps(plain.fingerprint_items())  # ungrouped designs keep their fingerprints


@pytest.mark.parametrize("method,n", [("fast", 65), ("delta", 128), ("pawn", 64), ("rbd_fast", 128)])
def test_other_methods_rank_the_ishigami_inputs(tmp_path, method, n):
    cfg = {"target": {"name": "ishigami", "params": ["x1", "x2", "x3"], "outputs": ["y"], "replicates": 1},
           "sensitivity": {"method": method, "n": n, "num_resamples": 20}, "chunk_size": 1000, "figures": False}
    report = run_stress(cfg, tmp_path, executor="serial")
    ranking = report.outputs["y"].ranking(method)
    assert len(ranking) == 3 and ranking[-1] in ("x3", "x1")  # x2 (S1 0.44) is never last
    assert ranking[0] in ("x1", "x2")


# ---------------------------------------------------------------------------------------------------------------
# the real model
# ---------------------------------------------------------------------------------------------------------------

def test_s3_target_equals_evaluate():
    params = {"g_min": 0.3, "c_collab": 80.0, "tie_memory": 6}
    fast = s3_target(params, 123456789012345, 1, regimes=["cluster_s3", "topdown_s3"], fixed=TINY)
    slow = {f"{g}:{k}": v for g in ["cluster_s3", "topdown_s3"]
            for k, v in evaluate(123456789012345, policy=g, replicate=1, **TINY, **params).items()}
    assert fast == slow


def test_morris_on_the_model(tmp_path):
    cfg = {"target": {"name": "s3", "params": ["g_min", "c_collab", "policy_subsidy_rate"], "fixed": TINY,
                      "outputs": [CONTRAST, "cluster_s3:innovations_per_1000_firms"], "replicates": 2},
           "sensitivity": {"method": "morris", "n": 4, "num_resamples": 50}, "chunk_size": 4}
    report = run_stress(cfg, tmp_path, executor="serial")
    summary = (tmp_path / "summary.md").read_text()
    assert "Scenario discovery (PRIM)" in summary and "cluster_s3 does worse than topdown_s3 in" in summary
    ind = report.indices()
    mu = ind[(ind["index"] == "mu_star") & (ind["output"] == CONTRAST)]
    assert sorted(mu["parameter"]) == ["c_collab", "g_min", "policy_subsidy_rate"]
    assert np.isfinite(mu["value"]).all() and (mu["value"] >= 0).all()
    assert report.outputs[CONTRAST].noise["replicates"] == 2
    assert np.isfinite(report.outputs[CONTRAST].noise["replicate_sd"])
    rob = pd.read_csv(tmp_path / "robustness.csv")
    assert rob[["regime_a", "regime_b"]].values.tolist() == [["cluster_s3", "topdown_s3"]]
    assert rob["a_wins"].iloc[0] + rob["ties"].iloc[0] + rob["b_wins"].iloc[0] == 16
    assert rob["effective_n"].iloc[0] == 4  # 4 trajectories of 4 correlated points
    assert 0 <= rob["ci_low"].iloc[0] <= rob["share_a_wins"].iloc[0] <= rob["ci_high"].iloc[0] <= 1
    assert rob["verdict"].iloc[0] in {"robust", "mostly holds", "fragile", "reversed", "tied", "mostly tied"}
    figs = {p.name for p in (tmp_path / "figures").iterdir()}
    assert "morris_cluster_s3-topdown_s3_innovations_per_1000_firms.png" in figs
    assert "winner_innovations_per_1000_firms.png" in figs
    # contrasts are paired: the stored per-regime columns differ by exactly the contrast
    run = load_run(tmp_path)
    ev = run.evaluations
    assert set(ev["replicate"]) == {0, 1} and len(ev) == 16 * 2
    # the same seed is used for every regime of a sample: rerunning one sample reproduces both columns
    first = ev[(ev["sample"] == 0) & (ev["replicate"] == 1)].iloc[0]
    seed = int(run.samples.loc[0, "seed"])
    params = {p: run.samples.loc[0, p] for p in ("g_min", "c_collab", "policy_subsidy_rate")}
    again = evaluate(seed, policy="topdown_s3", replicate=1, **TINY, **params)
    assert again["innovations_per_1000_firms"] == first["topdown_s3:innovations_per_1000_firms"]
    # other outputs of the evaluated regimes, in another order or only some of them: re-analysed, not re-evaluated
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "evaluations").iterdir()}
    for outputs in (["topdown_s3-cluster_s3:firms", "topdown_s3:exit_rate"], ["cluster_s3:firms"]):
        report = run_stress({**cfg, "target": {**cfg["target"], "outputs": outputs}}, tmp_path, executor="serial")
        assert list(report.outputs) == outputs
        assert set(pd.read_csv(tmp_path / "indices.csv")["output"]) == set(outputs)
        assert {p: p.stat().st_mtime_ns for p in (tmp_path / "evaluations").iterdir()} == stamps
        # the figures of outputs no longer analysed are gone; those of this analysis are there
        morris = {p.name for p in (tmp_path / "figures").glob("morris_*.png")}
        assert morris == {f"morris_{o.replace(':', '_')}.png" for o in outputs}
    # the summary's robustness table shows ties beside wins and losses, and the regimes are named
    text = (tmp_path / "summary.md").read_text()
    assert "| A better | 95 % CI | tie | B better |" in text


def test_robustness_verdicts():
    from s3sim.analysis.sensitivity import robustness_verdict

    assert robustness_verdict(0.8, 0.58, 0.92) == "robust"
    assert robustness_verdict(0.7, 0.55, 0.82) == "mostly holds"
    assert robustness_verdict(0.6, 0.45, 0.73) == "fragile"
    assert robustness_verdict(0.2, 0.1, 0.35) == "reversed"
    # ties are losses for neither side, and swapping A and B mirrors the verdict (a, ties, b of 20 samples)
    from s3sim.analysis.sensitivity import wilson

    def verdict(a, t, b, n=20):
        lo, hi = wilson(a, n)
        return robustness_verdict(a / n, lo, hi, ties=t / n, b_ci_low=wilson(b, n)[0])

    for a in range(21):
        for t in range(21 - a):
            b = 20 - a - t
            v, w = verdict(a, t, b), verdict(b, t, a)
            if v in ("robust", "mostly holds"):
                assert w == "reversed", (a, t, b)
            elif v != "reversed":
                assert w == v, (a, t, b)
    assert verdict(0, 20, 0) == "tied" and verdict(2, 18, 0) == "mostly tied" and verdict(0, 11, 9) == "mostly tied"
    assert verdict(12, 8, 0) == "fragile" and verdict(0, 8, 12) == "fragile"  # 60 % is not a clear majority of 20
    assert verdict(17, 3, 0) == "robust" and verdict(0, 3, 17) == "reversed"
    # 35 better, 30 tied, 35 worse of 100: no side does better more often (a rounding slip once said reversed)
    lo, hi = wilson(35, 100)
    assert robustness_verdict(0.35, lo, hi, ties=0.30, b_ci_low=lo) == "fragile"


def regimes_with_gaps(params, seed=0, replicate=0):
    x = params["x1"]  # regime b has no value where x1 >= 0.8; regime c has none anywhere
    return {"a:y": x, "b:y": 0.5 if x < 0.8 else math.nan, "c:y": math.nan}


def test_samples_without_a_value_are_nobodys_win(tmp_path):
    cfg = {"target": {"params": ["x1", "x2"], "ranges": {"x1": [0, 1], "x2": [0, 1]},
                      "outputs": ["a:y", "b:y", "c:y"], "replicates": 1},
           "sensitivity": {"method": "morris", "n": 20, "num_resamples": 20}, "chunk_size": 1000}
    report = run_stress(cfg, tmp_path, target=regimes_with_gaps, executor="serial")
    x = load_run(tmp_path).x[:, 0]
    rows = {(r["regime_a"], r["regime_b"]): r for r in report.robustness.to_dict("records")}
    ab = rows[("a", "b")]
    gaps = int((x >= 0.8).sum())
    assert 0 < gaps < x.size and ab["non_finite"] == gaps and ab["samples"] == x.size - gaps
    assert ab["a_wins"] == int(((x > 0.5) & (x < 0.8)).sum()) and ab["b_wins"] == int((x < 0.5).sum())
    assert ab["a_wins"] + ab["ties"] + ab["b_wins"] == ab["samples"] and math.isfinite(ab["mean_difference"])
    for pair in (("a", "c"), ("b", "c")):  # no sample with both values: nothing to say
        assert rows[pair]["samples"] == 0 and rows[pair]["verdict"] == "not assessed (no finite values)"
    c = report.outputs["c:y"]
    assert c.verdict == "not assessed (no finite values)" and c.ranked("morris") == []
    assert any("no index" in w for w in c.warnings) and c.indices["value"].isna().all()
    text = (tmp_path / "summary.md").read_text()
    assert f"- y, a against b: {gaps} of {x.size} samples have no finite value for one of them" in text
    # the winner map needs a value of every regime (c has none): not drawn; c's indices: none to draw
    assert not (tmp_path / "figures" / "winner_y.png").exists()
    assert not (tmp_path / "figures" / "morris_c_y.png").exists()


def test_a_swapped_robustness_row_mirrors_the_verdict():
    from s3sim.analysis.sensitivity import robustness_verdict, swapped, wilson

    for a, t, b in ((30, 5, 5), (5, 5, 30), (15, 10, 15), (3, 37, 0), (12, 9, 19)):
        m, m_eff = a + t + b, 0.8 * (a + t + b)
        lo, hi = wilson(a / m * m_eff, m_eff)
        row = {"outcome": "y", "regime_a": "A", "regime_b": "B", "samples": m, "non_finite": 0, "effective_n": m_eff,
               "a_wins": a, "ties": t, "b_wins": b, "share_a_wins": a / m, "ci_low": lo, "ci_high": hi,
               "mean_difference": 1.0, "better": "higher",
               "verdict": robustness_verdict(a / m, lo, hi, ties=t / m, b_ci_low=wilson(b / m * m_eff, m_eff)[0])}
        back = swapped(row)
        assert (back["regime_a"], back["a_wins"], back["b_wins"]) == ("B", b, a)
        mirror = {"robust": "reversed", "mostly holds": "reversed"}
        if row["verdict"] in mirror:
            assert back["verdict"] == "reversed"
        elif row["verdict"] == "reversed":
            assert back["verdict"] in ("robust", "mostly holds")
        else:
            assert back["verdict"] == row["verdict"]
        assert swapped(back)["ci_low"] == row["ci_low"] and swapped(back)["verdict"] == row["verdict"]


def test_summary_values_carry_the_decimals_of_their_interval():
    from s3sim.analysis.sensitivity import _fmt_ci

    assert _fmt_ci(0.443, 0.06) == "0.443 ± 0.060" and _fmt_ci(4.48e-06, 0.058) == "0.000 ± 0.058"
    assert _fmt_ci(-0.0004, 0.05) == "0.000 ± 0.050" and _fmt_ci(-0.00292, 0.055) == "-0.003 ± 0.055"
    assert _fmt_ci(92.5, 90.0) == "92 ± 90" and _fmt_ci(0.5, math.nan) == "0.5" and _fmt_ci(math.nan, 0.1) == "n/a"


def test_wilson_takes_the_share_not_a_rounded_count():
    from s3sim.analysis.sensitivity import wilson

    # 3 of 8 rows on 4 effective points: the interval of 37.5 %, not of 2 / 4 (50 %)
    lo, hi = wilson(0.375 * 4, 4)
    assert (lo + hi) / 2 < 0.5 and wilson(0.375 * 4, 4) != wilson(2, 4)
    assert wilson(2, 4) == wilson(2.0, 4.0)


def test_reanalysis_with_other_bootstrap_settings_says_so_and_refuses_bad_ones(tmp_path):
    cfg = problem_config(["target=ishigami", "sensitivity=sobol", "sensitivity.n=64", "sensitivity.num_resamples=40",
                          "figures=false"])
    run_stress(cfg, tmp_path, executor="serial")
    assert "bootstrap 40 resamples at 95%" in (tmp_path / "summary.md").read_text()
    analyse(tmp_path, num_resamples=60, conf_level=0.9, figures=False)
    assert "bootstrap 60 resamples at 90%" in (tmp_path / "summary.md").read_text()
    assert load_run(tmp_path, evaluations=False).problem["settings"]["conf_level"] == 0.9
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    for args, field in ((["--resamples", "0"], "--resamples=0"), (["--conf-level", "1.5"], "--conf-level=1.5"),
                        (["--output", "x1"], "--output='x1'")):
        proc = subprocess.run([sys.executable, "-m", "s3sim.analysis.sensitivity", str(tmp_path), "--no-figures",
                               *args], capture_output=True, text=True, env=ENV, timeout=120, check=False)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        line, = proc.stderr.strip().splitlines()
        assert line.startswith(f"s3sim.analysis.sensitivity: error: {field} is not allowed"), line
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()} == stamps
    # a re-analysis prints its reading, as s3sim-stress does, and keeps it in the run's log after the run's own
    (tmp_path / "stress.log").write_text("s3sim-stress: the run's own lines\n")
    proc = subprocess.run([sys.executable, "-m", "s3sim.analysis.sensitivity", str(tmp_path), "--no-figures"],
                          capture_output=True, text=True, env=ENV, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "s3sim.analysis.sensitivity: y: most influential x" in proc.stdout
    log = (tmp_path / "stress.log").read_text().splitlines()
    assert log[0] == "s3sim-stress: the run's own lines" and "re-analysis" in log[1]
    assert any(x.startswith("s3sim.analysis.sensitivity: y: most influential") for x in log[2:])


def test_sobol_on_the_model(tmp_path):
    cfg = {"target": {"name": "s3", "params": ["g_min", "tie_memory"], "fixed": TINY,
                      "outputs": [CONTRAST], "replicates": 1},
           "sensitivity": {"method": "sobol", "n": 4, "num_resamples": 50}, "chunk_size": 8}
    report = run_stress(cfg, tmp_path, executor="serial")
    ind = report.indices()
    assert set(ind["index"]) == {"S1", "ST"}
    assert np.isfinite(ind["value"]).all()
    run = load_run(tmp_path)
    # an integer parameter is sampled on [low - 0.5, high + 0.5] and run at the rounded value, stored as applied
    assert run.samples["tie_memory"].between(3.5, 16.5).all()
    applied = pd.read_parquet(tmp_path / "design/applied.parquet")
    assert applied["tie_memory"].dtype == np.int64 and applied["tie_memory"].between(4, 16).all()
    assert (applied["tie_memory"] == np.clip(np.rint(run.samples["tie_memory"]), 4, 16)).all()
    assert (applied["seed"] == run.samples["seed"]).all()
    floats = [c for c in run.names if c != "tie_memory"]
    assert (applied[floats] == run.samples[floats]).all().all()
    # re-run one evaluation from its applied row, as docs/stress-test.md says (itertuples keeps each column's
    # type: the 63-bit seed must not pass through a float)
    row = next(applied.iloc[5:6].itertuples(index=False))
    stored = run.evaluations[(run.evaluations["sample"] == 5) & (run.evaluations["replicate"] == 0)].iloc[0]
    again = evaluate(row.seed, policy="topdown_s3", replicate=0, **TINY, **{n: getattr(row, n) for n in run.names})
    assert again["innovations_per_1000_firms"] == stored["topdown_s3:innovations_per_1000_firms"]
    warnings = report.outputs[CONTRAST].warnings
    assert not any("power of 2" in w for w in warnings)
    text = (tmp_path / "summary.md").read_text()
    assert "Robustness of regime rankings" in text and CONTRAST in text
    assert "Scenario discovery (PRIM):" in text  # a box, or why there is none


# ---------------------------------------------------------------------------------------------------------------
# checkpoints and resume
# ---------------------------------------------------------------------------------------------------------------

def _start_and_signal(args, out, *, chunks, sig):
    """Start a stress run, wait until ``chunks`` chunk files exist, then send ``sig``."""
    proc = subprocess.Popen([STRESS, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    evaluations = out / "evaluations"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if evaluations.is_dir() and len(list(evaluations.glob("chunk-*.parquet"))) >= chunks:
            break
        time.sleep(0.02)
    proc.send_signal(sig)
    return proc, evaluations


def test_kill_and_resume_evaluates_only_missing_chunks(tmp_path):
    out = tmp_path / "run"
    args = ["target=s3", "sensitivity=morris", "sensitivity.n=6", "sensitivity.num_resamples=20",
            "target.params=[g_min,c_collab]", f"target.outputs=[{CONTRAST}]", "target.replicates=1",
            "target.fixed={n_agents: 150, burn_in: 4, horizon: 8}", "chunk_size=1", "executor=serial",
            "figures=false", f"hydra.run.dir={out}"]
    proc, evaluations = _start_and_signal(args, out, chunks=3, sig=signal.SIGKILL)
    proc.wait(timeout=30)
    done = {p.name: p.stat().st_mtime_ns for p in evaluations.glob("chunk-*.parquet")}
    problem = json.loads((out / "design/problem.json").read_text())
    assert problem["n_chunks"] == 18
    assert 3 <= len(done) < 18, "the run was not killed midway"
    again = _run(args)
    assert again.returncode == 0, again.stderr
    assert f" {len(done)} chunk{'s' if len(done) != 1 else ''} already done" in again.stdout
    assert f"evaluating {18 - len(done)} chunks" in again.stdout
    after = {p.name: p.stat().st_mtime_ns for p in evaluations.glob("chunk-*.parquet")}
    assert len(after) == 18
    assert not list(evaluations.glob(".*tmp*"))  # a temporary file the killed command left is cleared on resume
    assert all(after[name] == mtime for name, mtime in done.items())  # completed chunks were not re-evaluated
    assert (out / "indices.csv").is_file()
    # a resumed chunk equals the same chunk evaluated afresh
    st = StressTest(problem_config(args), out)
    st.prepare()
    for k in (0, 17):
        fresh = evaluate_chunk(st.tasks([k])[0])
        pd.testing.assert_frame_equal(fresh, pd.read_parquet(chunk_path(out, k)))
    # a third run finds nothing to do
    third = _run(args)
    assert third.returncode == 0 and "18 chunks already done" in third.stdout and "evaluating" not in third.stdout


def test_a_damaged_chunk_file_is_evaluated_again(tmp_path):
    out = tmp_path / "run"
    args = ["target=ishigami", "sensitivity=sobol", "sensitivity.n=32", "chunk_size=16", "executor=serial",
            "figures=false", f"hydra.run.dir={out}"]
    assert _run(args).returncode == 0
    indices = (out / "indices.csv").read_bytes()
    path = chunk_path(out, 3)
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])  # truncated after the fact
    proc = subprocess.run([sys.executable, "-m", "s3sim.analysis.sensitivity", str(out), "--no-figures"],
                          capture_output=True, text=True, env=ENV, timeout=120, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "missing or damaged" in proc.stderr
    again = _run(args)
    assert again.returncode == 0, again.stderr
    assert "warning: 1 chunk damaged" in again.stdout and "evaluating 1 chunk " in again.stdout
    assert path.read_bytes() == good and (out / "indices.csv").read_bytes() == indices
    # a readable chunk short of rows is evaluated again too
    pd.read_parquet(path).iloc[:5].to_parquet(path)
    again = _run(args)
    assert again.returncode == 0 and "warning: 1 chunk damaged" in again.stdout and path.read_bytes() == good
    # damage inside the data pages shows when the analysis reads the chunk: one line naming it
    damaged = bytearray(good)
    damaged[4:400] = b"\xff" * 396
    path.write_bytes(bytes(damaged))
    proc = subprocess.run([sys.executable, "-m", "s3sim.analysis.sensitivity", str(out), "--no-figures"],
                          capture_output=True, text=True, env=ENV, timeout=120, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and f"{path.name} is damaged" in proc.stderr


def test_resuming_does_not_change_the_callers_spec(tmp_path):
    first = resolve(problem_config(["target=s3", "sensitivity=morris", "sensitivity.n=2", "target.params=[g_min]",
                                    f"target.outputs=[{CONTRAST}]", "target.replicates=1",
                                    "target.fixed={n_agents: 150, burn_in: 4, horizon: 8}"]))
    StressTest(first, tmp_path).prepare()
    spec = resolve(problem_config(["target=s3", "sensitivity=morris", "sensitivity.n=2", "target.params=[g_min]",
                                   "target.outputs=[topdown_s3:firms]", "target.replicates=1",
                                   "target.fixed={n_agents: 150, burn_in: 4, horizon: 8}"]))
    st = StressTest(spec, tmp_path)
    st.prepare()  # the stored design evaluates both regimes: the test takes them ...
    assert st.spec.target["regimes"] == ["cluster_s3", "topdown_s3"]
    assert spec.target["regimes"] == ["topdown_s3"]  # ... the caller's spec keeps its own


def test_interrupt_prints_the_resume_command(tmp_path):
    out = tmp_path / "run"
    args = ["target=s3", "sensitivity=morris", "sensitivity.n=10", "target.params=[g_min,c_collab]",
            f"target.outputs=[{CONTRAST}]", "target.replicates=1",
            "target.fixed={n_agents: 150, burn_in: 4, horizon: 8}", "chunk_size=1", "executor=serial",
            f"hydra.run.dir={out}"]
    proc, evaluations = _start_and_signal(args, out, chunks=2, sig=signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "Resume with: s3sim-stress target=s3 sensitivity=morris" in stderr and f"hydra.run.dir={out}" in stderr
    assert 2 <= len(list(evaluations.glob("chunk-*.parquet"))) < 30 and not list(evaluations.glob(".*tmp*"))


def test_a_recorded_stop_signal_stops_serial_runs_between_evaluations_and_worker_runs_after_the_chunk(tmp_path):
    """The command's handlers record a stop signal. In this process (serial) the evaluation stops before its next
    evaluation: an interrupt raised inside the model could land in a Python callback of compiled code. With
    workers, a recorded signal (say one whose exception C code cleared) stops the loop before it waits again."""
    from s3sim.runner import stress as st

    cfg = {"target": {"name": "ishigami", "params": ["x1", "x2", "x3"], "outputs": ["y"], "replicates": 1},
           "sensitivity": {"method": "sobol", "n": 16}, "chunk_size": 16, "figures": False, "progress": False}
    test = StressTest(cfg, tmp_path)
    for sig, exc in ((signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, st._Terminated)):
        st._STOP["signal"] = sig
        try:
            with pytest.raises(exc):
                test.evaluate("serial")
        finally:
            st._STOP["signal"] = None
    assert not list((tmp_path / "evaluations").glob("chunk-*.parquet"))  # stopped before the first evaluation
    st._STOP["signal"] = signal.SIGINT
    try:
        with pytest.raises(KeyboardInterrupt):
            test.evaluate(make_executor("local", 1))
    finally:
        st._STOP["signal"] = None
    assert not list((tmp_path / "evaluations").glob("chunk-*.parquet"))
    assert test.evaluate("serial") == 5  # every chunk, once no stop is pending


def test_the_stop_handler_defers_only_while_the_model_runs_in_this_process():
    from s3sim.runner import stress as st

    try:
        with pytest.raises(st._Terminated):
            st._on_stop(signal.SIGTERM, None)  # waiting for workers, preparing, analysing: at once
        st._STOP.update(signal=None, defer=True)
        st._on_stop(signal.SIGINT, None)  # the model runs in this process: recorded, not raised
        assert st._STOP["signal"] == signal.SIGINT
        with pytest.raises(KeyboardInterrupt):
            st._on_stop(signal.SIGINT, None)  # a second Ctrl-C: at once
    finally:
        st._STOP.update(signal=None, defer=False)


def _children(pid: int) -> set[int]:
    """Worker processes of ``pid`` (Linux /proc): its children started by multiprocessing's spawn (not its
    resource tracker)."""
    out = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        for child in (task / "children").read_text().split():
            try:
                if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                    out.add(int(child))
            except OSError:
                continue
    return out


def _gone(pids: set[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(Path(f"/proc/{p}").exists() and "Z" not in _state(p) for p in pids):
            return True
        time.sleep(0.1)
    return False


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_terminated_or_killed_run_leaves_no_worker_processes(tmp_path, sig):
    """SIGTERM (a scheduler's time limit, scancel) stops the workers and prints the resume command like Ctrl-C;
    after SIGKILL of the command its local workers end by themselves."""
    out = tmp_path / "run"
    args = ["target=s3", "sensitivity=morris", "sensitivity.n=10", "target.params=[g_min,c_collab]",
            f"target.outputs=[{CONTRAST}]", "target.replicates=1", "target.fixed={n_agents: 150, burn_in: 4, horizon: 8}",
            "chunk_size=1", "executor=local", "executor.workers=2", "figures=false", f"hydra.run.dir={out}"]
    proc = subprocess.Popen([STRESS, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    evaluations = out / "evaluations"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        if evaluations.is_dir() and len(list(evaluations.glob("chunk-*.parquet"))) >= 2:
            break
        time.sleep(0.02)
    workers = _children(proc.pid)
    assert len(workers) >= 2, "the local workers were not running"
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    if sig == signal.SIGTERM:
        assert proc.returncode == 128 + signal.SIGTERM, stderr
        assert "terminated; completed chunks are kept. Resume with: s3sim-stress" in stderr
        assert "Traceback" not in stderr
    assert _gone(workers, timeout=10), "worker processes outlived the command"
    if sig == signal.SIGTERM:
        assert not list(evaluations.glob(".*tmp*"))


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_sigterm_to_the_command_alone_stops_workers_in_the_middle_of_a_chunk(tmp_path):
    """``kill PID`` (not the process group): the workers are stopped at once, not left to finish chunks whose
    results nobody stores. A chunk here takes several seconds (30 runs of the default-size model)."""
    out = tmp_path / "run"
    args = ["target=s3", "sensitivity=morris", "sensitivity.n=4", "target.params=[g_min,c_collab]",
            f"target.outputs=[{CONTRAST}]", "target.replicates=5", "chunk_size=6", "executor=local",
            "executor.workers=2", "figures=false", f"hydra.run.dir={out}"]
    proc = subprocess.Popen([STRESS, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
                            start_new_session=True)  # its own group: the signal reaches the command only
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None and len(_children(proc.pid)) < 2:
            time.sleep(0.05)
        workers = _children(proc.pid)
        assert len(workers) >= 2, "the local workers were not running"
        time.sleep(1.0)  # the workers are inside their first chunks, which need several seconds more
        proc.send_signal(signal.SIGTERM)
        assert _gone(workers, timeout=3), "the workers went on with their chunks"
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 128 + signal.SIGTERM, stderr
        assert "terminated; completed chunks are kept" in stderr and "Traceback" not in stderr
        assert not list((out / "evaluations").glob("chunk-*.parquet"))  # no chunk was finished
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_sobol_sample_size_not_a_power_of_two_is_warned(tmp_path):
    cfg = {"target": {"name": "ishigami", "params": ["x1", "x2", "x3"], "outputs": ["y"], "replicates": 1},
           "sensitivity": {"method": "sobol", "n": 48, "num_resamples": 20}, "chunk_size": 1000, "figures": False}
    report = run_stress(cfg, tmp_path, executor="serial")
    assert any("not a power of 2" in w for w in report.outputs["y"].warnings)
    assert "not a power of 2" in (tmp_path / "summary.md").read_text()


def test_negative_index_with_an_interval_excluding_zero_is_warned(tmp_path):
    # a deliberately tiny Sobol' design (n = 8): with seed 3 the estimate of S1 for x3 (true value 0) is negative
    # and its bootstrap interval excludes zero
    cfg = {"seed": 3, "target": {"name": "ishigami", "params": ["x1", "x2", "x3"], "outputs": ["y"], "replicates": 1},
           "sensitivity": {"method": "sobol", "n": 8, "num_resamples": 50}, "figures": False}
    report = run_stress(cfg, tmp_path, executor="serial")
    ind = report.indices().set_index(["index", "parameter"])
    value, conf = ind.loc[("S1", "x3"), ["value", "conf"]]
    assert value + conf < 0
    assert any(w.startswith("S1 of x3 is negative") and "excludes zero" in w for w in report.outputs["y"].warnings)


def problem_config(args):
    from s3sim.runner.stress import compose_stress

    return compose_stress([a for a in args if not a.startswith("hydra.")])


def test_a_different_design_is_refused_and_nothing_is_touched(tmp_path):
    out = tmp_path / "run"
    base = ["target=ishigami", "sensitivity=sobol", "sensitivity.n=32", "executor=serial", "figures=false",
            f"hydra.run.dir={out}"]
    assert _run(base).returncode == 0
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    proc = _run(base + ["sensitivity.n=64"])
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "design.n (32 -> 64)" in lines[0] and "Traceback" not in proc.stderr
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == stamps
    # analysis settings and outputs may change on a finished design: it is re-analysed, not re-evaluated
    spec = resolve(problem_config(base + ["sensitivity.num_resamples=30"]))
    assert check_resume(spec, out) is not None


# ---------------------------------------------------------------------------------------------------------------
# bad configurations: one line, exit 2, naming what is allowed
# ---------------------------------------------------------------------------------------------------------------

BAD = [
    (["target.params=[g_min,no_such_param]"], "target.params='no_such_param'", "group:<name>"),
    (["target.params=[group:nope]"], "group:nope", "critical_mass"),
    (["target.ranges.g_min=[0.5,0.5]"], "target.ranges.g_min", "low < high"),
    (["target.ranges.g_min=[0.9,0.2]"], "target.ranges.g_min", "low < high"),
    (["target.ranges.g_min=[0.1,2.0]"], "target.ranges.g_min", "bounds"),
    (["sensitivity.method=sobolev"], "sensitivity.method='sobolev'", "morris, sobol, fast, delta, pawn, rbd_fast"),
    (["sensitivity=sobolev"], "sensitivity='sobolev'", "delta, fast, morris, pawn, rbd_fast, sobol"),
    (["target.outputs=[innovations]"], "target.outputs='innovations'", "innovations_per_1000_firms"),
    (["target.outputs=[cluster-topdown_s3:firms]"], "target.outputs", "A-B:outcome"),
    (["target.outputs=[cluster_s3-cluster_s3:firms]"], "target.outputs", "two different regimes"),
    (["target.outputs=[topdown_s3:gini_innovation_per_capita@CH_FR]"], "target.outputs",
     "gini_innovation_per_capita without @REGION"),
    (["sensitivity.method=morris"], "sensitivity.method='morris'", "sensitivity=morris, which also sets"),
    (["sensitivity=pawn", "sensitivity.method=delta"], "sensitivity.method='delta'", "sensitivity=pawn"),
    (["target.params=g_min"], "target.params='g_min'", "a list [a, b, ...] (in brackets: target.params=[g_min])"),
    (["sensitivity.n=abc"], "sensitivity.n='abc'", "an integer"),
    (["seed=abc"], "seed='abc'", "an integer"),
    (["target=ishigami", "target.params=[x1]"], "target.params=['x1']", "all of x1, x2, x3"),
    (["+sensitivity.nn=5"], "sensitivity.nn='5'", "a key of sensitivity: "),  # Hydra's + would add it unseen
    (["+nosuchkey=1"], "nosuchkey='1'", "a key of the root config: "),
    (["sensitivity=morris", "~sensitivity"], "~sensitivity is not allowed", "one of delta, fast, morris"),
    (["~target"], "~target is not allowed", "target=<option>, one of ishigami, s3"),
    (["sensitivity.ci_threshold=-1"], "sensitivity.ci_threshold=-1", "a positive number"),
    (["sensitivity=pawn", "sensitivity.n=10"], "sensitivity.n=10", ">= 2 * slices = "),
    (["target.noise=0.5"], "target.noise=0.5", "only the ishigami target adds noise"),
    (["target.fixed=[1,2]"], "target.fixed='[1,2]'", "a mapping {name: value, ...}"),  # not Hydra's ++ override
    (["target.dists=logunif"], "target.dists='logunif'", "a mapping {name: value, ...}"),
    (["++sensitivity={n: abc}"], "sensitivity='{n: abc}'", "could not be converted to Integer"),  # a mapping given
    (["target.params=[policy_max_changes,g_min]", "target.dists.policy_max_changes=[truncnorm,10,0.5]"],
     "target.dists.policy_max_changes", "the value 3 in 100.0% of the samples once rounded"),
    (["sensitivity=delta", "sensitivity.n=48"], "sensitivity.n=48", ">= 100 (SALib's delta method"),
    (["sensitivity=rbd_fast", "sensitivity.n=40"], "sensitivity.n=40", ">= 8 * m = 80"),
    (["executor.workers=two"], "executor.workers='two'", "an integer"),  # Optional[int], default null
    (["sensitivity.conf_level=high"], "sensitivity.conf_level='high'", "a number"),
    (["figures=maybe"], "figures='maybe'", "true or false"),
    (["sensitivity.convergence=2"], "sensitivity.convergence=2", "true or false"),
    (["sensitivity.foo=1"], "sensitivity.foo", "num_resamples"),
    (["sensitivity=fast", "sensitivity.n=32"], "sensitivity.n=32", "4 * m^2"),
    (["executor=dask", "executor.address=localhost"], "executor.address", "tcp://"),
    (["target.fixed.n_agents=10"], "target.fixed.n_agents=10", "[50, 10000000]"),
    (["~target.params"], "~target.params", "cannot be deleted"),
    (["~target.ranges.g_min"], "~target.ranges.g_min is not allowed", "'target.ranges.g_min' does not exist"),
    (["+sensitivity.n=10"], "+sensitivity.n='10'", "sensitivity.n=... without the +"),
    (["target.dists.g_min=norm"], "target.dists.g_min='norm'", "[truncnorm, mean, sd] with sd > 0"),
    (["target.dists.g_min=[triang,1.5]"], "target.dists.g_min=['triang', 1.5]", "0 <= peak < 1"),
    (["target.dists.g_min=[truncnorm,0.5,0]"], "target.dists.g_min", "sd > 0"),
    (["target.dists.g_min=[truncnorm,0.5]"], "target.dists.g_min", "[truncnorm, mean, sd]"),
    (["target.dists.nope=triang"], "target.dists.nope='triang'", "a distribution of a varied parameter (g_min"),
    (["target.ranges.g_min=[0.0,0.9]", "target.dists.g_min=logunif"], "target.dists.g_min='logunif'",
     "logunif needs a positive range"),
    (["target.params=[mu_g,g_min]", "target.ranges.mu_g=[-0.01,-0.001]", "target.dists.mu_g=triang"],
     "target.dists.mu_g='triang'", "ranges ending at 0 or above only"),
    (["target.dists.g_min=[truncnorm,100,0.01]"], "target.dists.g_min", "no probability left inside the range"),
    (["target.dists.g_min=[truncnorm,1.2,0.01]"], "target.dists.g_min", "under 1 % of the range"),
    (["target.times=[5]"], "target.times=[5]", "burn_in + q a multiple of evidence_every"),
    (["target.times=[80]"], "target.times=[80]", "before its end (horizon 80)"),
    (["target.times=[x]"], "target.times='[x]'", "Integer"),
    (["target=ishigami", "target.times=[4]"], "target.times=[4]", "only the s3 target runs over time"),
    (["target.params=[g_min,horizon]", "target.ranges.horizon=[40,80]", "target.times=[20]"], "target.times=[20]",
     "while horizon varies"),
    # settings and options that would be ignored
    (["sensitivity=morris", "sensitivity.second_order=true"], "sensitivity.second_order=True",
     "False (the default) with sensitivity=morris: only sensitivity=sobol uses it"),
    (["sensitivity.num_levels=6"], "sensitivity.num_levels=6", "only sensitivity=morris uses it"),
    (["sensitivity=pawn", "sensitivity.m=8"], "sensitivity.m=8", "only sensitivity=fast and sensitivity=rbd_fast use it"),
    (["sensitivity=delta", "sensitivity.slices=5"], "sensitivity.slices=5", "only sensitivity=pawn uses it"),
    (["target=ishigami", "target.regime=cluster_s3"], "target.regime='cluster_s3'",
     "none (only the s3 target runs policy regimes)"),
    (["target.regime=cluster_s3"], "target.regime='cluster_s3'", "every output names its regimes"),
]


@pytest.mark.parametrize("args,field,allowed", BAD)
def test_bad_config_fails_with_one_line(capsys, args, field, allowed):
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("s3sim-stress: error: ") and field in lines[0] and allowed in lines[0], lines[0]


def test_bad_config_from_the_shell(tmp_path):
    proc = _run(["target.params=[nope]", f"hydra.run.dir={tmp_path / 'x'}"])
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "target.params='nope'" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "x").exists()  # nothing evaluated, nothing written


def test_resolve_groups_ranges_and_contrasts():
    spec = resolve({"target": {"params": ["group:critical_mass", "a0"], "ranges": {"eta": [1.5, 2.5]},
                               "outputs": ["transregional_s3-cluster_s3:innovations_per_1000_firms", "firms"],
                               "regime": "topdown_s3"}})
    assert set(spec.names) == {"g_min", "eta", "m_star_rel", "omega", "a0"} and spec.names[-1] == "a0"
    eta = next(p for p in spec.params if p["name"] == "eta")
    assert (eta["low"], eta["high"]) == (1.5, 2.5)
    assert spec.target["regimes"] == ["transregional_s3", "cluster_s3", "topdown_s3"]
    assert [o["label"] for o in spec.outputs] == ["transregional_s3-cluster_s3:innovations_per_1000_firms",
                                                  "topdown_s3:firms"]
    # the fingerprint ignores analysis settings and the executor, not the design
    same = resolve({"target": {"params": ["group:critical_mass", "a0"], "ranges": {"eta": [1.5, 2.5]},
                               "outputs": ["transregional_s3-cluster_s3:innovations_per_1000_firms", "firms"],
                               "regime": "topdown_s3"},
                    "sensitivity": {"num_resamples": 10}, "executor": {"kind": "serial"}})
    assert same.fingerprint() == spec.fingerprint()
    other = resolve({"seed": 1, "target": {"params": ["group:critical_mass", "a0"], "ranges": {"eta": [1.5, 2.5]},
                                           "outputs": ["transregional_s3-cluster_s3:innovations_per_1000_firms"]}})
    assert other.fingerprint() != spec.fingerprint()
    with pytest.raises(ConfigError, match="target.fixed"):
        resolve({"target": {"params": ["g_min"], "fixed": {"g_min": 0.5}}})


def test_default_config_is_the_standard_stress_test():
    from s3sim.runner.stress import compose_stress

    spec = resolve(compose_stress([]))
    assert spec.method == "sobol" and spec.settings["n"] == 512 and not spec.settings["second_order"]
    assert len(spec.params) == 10 and spec.replicates == 3
    assert spec.target["regimes"] == ["cluster_s3", "topdown_s3"]


# ---------------------------------------------------------------------------------------------------------------
# building blocks
# ---------------------------------------------------------------------------------------------------------------

def test_prim_finds_a_planted_box():
    rng = np.random.default_rng(np.random.SeedSequence(7))
    x = rng.random((3000, 4))
    y = (x[:, 0] < 0.3) & (x[:, 2] > 0.6)
    res = prim(x, y, ["a", "b", "c", "d"], min_coverage=0.8)
    box = res.box
    assert set(box.restricted) == {"a", "c"}
    assert box.limits["a"][1] == pytest.approx(0.3, abs=0.05) and box.limits["c"][0] == pytest.approx(0.6, abs=0.05)
    assert box.coverage >= 0.8 and box.density > 0.9
    assert res.base_rate == pytest.approx(y.mean())
    assert [b.mass for b in res.trajectory] == sorted([b.mass for b in res.trajectory], reverse=True)


def test_analysis_never_imports_the_model():
    root = Path(__file__).resolve().parents[1] / "src" / "s3sim" / "analysis"
    for name in ("sensitivity.py", "sensitivity_plots.py", "discovery.py"):
        tree = ast.parse((root / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                mod = ("." * node.level) + (node.module or "")
                assert "model" not in mod and "runner" not in mod and "policy" not in mod, (name, mod)
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("s3sim.") and a.name.split(".")[1] in ("model", "runner", "policy")
                               for a in node.names), name


def test_analyse_refuses_an_unfinished_run(tmp_path):
    cfg = {"target": {"name": "ishigami", "params": ["x1", "x2", "x3"], "outputs": ["y"], "replicates": 1},
           "sensitivity": {"method": "sobol", "n": 8}, "chunk_size": 10}
    st = StressTest(cfg, tmp_path)
    st.prepare()
    with pytest.raises(ConfigError, match="4 of 4 chunks are missing"):
        analyse(tmp_path)


# ---------------------------------------------------------------------------------------------------------------
# outputs over time (target.times)
# ---------------------------------------------------------------------------------------------------------------

def test_outcomes_at_a_quarter_are_those_of_a_run_ending_there():
    fixed = {"n_agents": 150, "burn_in": 4, "horizon": 16}
    regimes = ("cluster_s3", "topdown_s3")
    long = s3_target({"g_min": 0.4}, 7, 1, regimes=regimes, fixed=fixed, regions=("IT_VE",), times=(4, 12))
    for q in (4, 12):
        short = s3_target({"g_min": 0.4}, 7, 1, regimes=regimes, fixed={**fixed, "horizon": q}, regions=("IT_VE",))
        assert len(short) == 2 * 2 * 21
        at_q = {k[: -len(f"#q{q}")]: v for k, v in long.items() if k.endswith(f"#q{q}")}
        assert at_q.keys() == short.keys()
        np.testing.assert_array_equal(np.array(list(at_q.values())), np.array([at_q[k] for k in short]))
        np.testing.assert_array_equal(np.array([at_q[k] for k in short]), np.array(list(short.values())))
    # recording at the quarters changes nothing at the end, and some outcome moves between the quarters
    end = s3_target({"g_min": 0.4}, 7, 1, regimes=regimes, fixed=fixed, regions=("IT_VE",))
    np.testing.assert_array_equal(np.array([long[k] for k in end]), np.array(list(end.values())))
    assert long["cluster_s3:firms#q4"] != long["cluster_s3:firms#q12"]


def quarter_named_target(params, seed=0, replicate=0):
    """A custom target whose result keys look like quarters of target.times."""
    return {"y": params["x1"] + params["x2"], "y#q3": params["x1"] - params["x2"]}


def test_a_custom_output_named_like_a_quarter_is_an_ordinary_output(tmp_path):
    cfg = {"target": {"params": ["x1", "x2"], "ranges": {"x1": [0, 1], "x2": [0, 1]}, "outputs": ["y", "y#q3"],
                      "replicates": 1},
           "sensitivity": {"method": "sobol", "n": 16, "num_resamples": 20}}
    report = run_stress(cfg, tmp_path, target=quarter_named_target, executor="serial")
    assert list(report.outputs) == ["y", "y#q3"] and not (tmp_path / "over_time.csv").exists()
    text = (tmp_path / "summary.md").read_text()
    assert "## y#q3" in text and "over time" not in text
    analyse(tmp_path, outputs=["y#q3"], figures=False)
    assert "## y#q3" in (tmp_path / "summary.md").read_text()


def test_a_lean_run_refuses_outcomes_at_a_step_it_did_not_record():
    from s3sim.model import S3Model
    from s3sim.runner import config_from_params

    cfg = config_from_params(n_agents=150, burn_in=4, horizon=8, materialize_agents=False)
    (model,) = S3Model.through_burn_in([cfg], 3, full_records=False, outcome_steps=[8])
    model.run()
    assert model.outcomes(step=8)["firms"] > 0 and model.outcomes(step=12) == model.outcomes()
    with pytest.raises(ValueError, match="outcome_steps"):
        model.outcomes(step=10)
    with pytest.raises(ValueError, match="1..12"):
        model.outcomes(step=13)
    model.run(2)  # continued past its horizon: every step from the end of the horizon on is recorded
    assert model.outcomes(step=14) == model.outcomes() and model.outcomes(step=12)["firms"] > 0


def test_outputs_over_time_are_analysed_tabled_and_drawn(tmp_path):
    cfg = {"target": {"name": "s3", "params": ["g_min", "omega"], "replicates": 1, "times": [8, 4],
                      "fixed": {"n_agents": 150, "burn_in": 4, "horizon": 12},
                      "outputs": [CONTRAST, "cluster_s3:exit_rate"]},
           "sensitivity": {"method": "sobol", "n": 4, "num_resamples": 20}, "chunk_size": 8}
    report = run_stress(cfg, tmp_path, executor="serial")
    labels = list(report.outputs)
    assert labels == [CONTRAST, "cluster_s3:exit_rate", f"{CONTRAST}#q4", "cluster_s3:exit_rate#q4",
                      f"{CONTRAST}#q8", "cluster_s3:exit_rate#q8"]
    run = load_run(tmp_path)
    assert run.problem["target"]["times"] == [4, 8] and run.problem["target"]["horizon"] == 12
    # a quarter's output is the stored column of that quarter
    ev = run.evaluations
    np.testing.assert_array_equal(report.outputs["cluster_s3:exit_rate#q4"].noise["sd_of_means"],
                                  ev["cluster_s3:exit_rate#q4"].std(ddof=1))
    table = pd.read_csv(tmp_path / "over_time.csv")
    assert list(table.columns) == ["output", "quarter", "label", "parameter", "index", "value", "conf", "verdict"]
    assert set(table["output"]) == {CONTRAST, "cluster_s3:exit_rate"} and sorted(set(table["quarter"])) == [4, 8, 12]
    end = table[(table["output"] == CONTRAST) & (table["quarter"] == 12)].set_index("parameter")["value"]
    st = report.outputs[CONTRAST].indices.query("index == 'ST' and parameter2 == ''").set_index("parameter")["value"]
    np.testing.assert_allclose(end.sort_index(), st.sort_index())
    text = (tmp_path / "summary.md").read_text()
    assert f"## {CONTRAST} over time" in text and "| parameter | q4 | q8 | q12 (end) |" in text
    assert f"## {CONTRAST}#q4" not in text  # the quarters are summarised, not given sections of their own
    assert "- scenario discovery (PRIM) at q4: " in text and "- scenario discovery (PRIM) at q8: " in text
    # robustness: an outcome's quarters in time order, the end last
    rob = list(report.robustness["outcome"])
    assert rob == ["innovations_per_1000_firms#q4", "innovations_per_1000_firms#q8", "innovations_per_1000_firms",
                   "exit_rate#q4", "exit_rate#q8", "exit_rate"]
    figs = {p.name for p in (tmp_path / "figures").iterdir()}
    assert f"over_time_{CONTRAST.replace(':', '_')}.png" in figs
    # a re-analysis of an output by name brings its quarters along, unless quarters are named too
    assert list(analyse(tmp_path, outputs=[CONTRAST], figures=False).outputs) == [
        CONTRAST, f"{CONTRAST}#q4", f"{CONTRAST}#q8"]
    assert list(analyse(tmp_path, outputs=[CONTRAST, f"{CONTRAST}#q8"], figures=False).outputs) == [
        CONTRAST, f"{CONTRAST}#q8"]
    # fewer quarters (or none) re-analyse the stored design; a quarter it did not evaluate is refused
    again = run_stress({**cfg, "target": {**cfg["target"], "times": []}}, tmp_path, executor="serial")
    assert list(again.outputs) == [CONTRAST, "cluster_s3:exit_rate"] and not (tmp_path / "over_time.csv").exists()
    assert not any(p.name.startswith("over_time_") for p in (tmp_path / "figures").iterdir())
    one = tmp_path / "one"
    StressTest({**cfg, "target": {**cfg["target"], "times": [4]}}, one).prepare()  # the design only
    with pytest.raises(ConfigError, match=r"target.times \(\[4\] -> \[4, 8\]\)"):
        check_resume(resolve(cfg), one)


def test_a_regional_lower_is_better_outcome_keeps_its_direction(tmp_path):
    from s3sim.analysis.sensitivity import StoredRun, robustness

    # regime a has the lower exit rate in 3 of 4 samples: it wins there, whether the outcome names a region or not
    ev = pd.DataFrame({"sample": range(4), "replicate": 0,
                       "a:exit_rate": [0.1, 0.1, 0.1, 0.5], "b:exit_rate": [0.2, 0.2, 0.2, 0.2],
                       "a:exit_rate@IT_VE": [0.1, 0.1, 0.1, 0.5], "b:exit_rate@IT_VE": [0.2, 0.2, 0.2, 0.2]})
    run = StoredRun(tmp_path, {"n_samples": 4, "replicates": 1, "n_base": 4, "method": "morris"}, pd.DataFrame(), ev)
    rob = robustness(run, ["exit_rate", "exit_rate@IT_VE"]).set_index("outcome")
    assert (rob["a_wins"] == 3).all() and (rob["better"] == "lower").all()


def test_overlapping_intervals_among_the_top_parameters_are_noted():
    from s3sim.analysis.sensitivity import _unresolved_order

    table = pd.DataFrame({"parameter": ["a", "b", "c", "d"], "parameter2": "", "index": "ST",
                          "value": [0.60, 0.30, 0.27, 0.05], "conf": [0.05, 0.02, 0.02, 0.01]})
    notes = _unresolved_order("sobol", table, k=3)
    assert len(notes) == 1 and "the order of b and c" in notes[0]  # a is clear of b; b and c overlap
    assert _unresolved_order("sobol", table.assign(conf=0.01), k=3) == []
    assert len(_unresolved_order("sobol", table, k=2)) == 0  # c is not among the top 2


def test_reanalysis_checks_only_the_settings_it_is_given():
    from s3sim.analysis.sensitivity import check_settings

    stored = {"num_resamples": 10, "conf_level": 0.9, "top_k": 3, "ci_threshold": 0}  # accepted by older versions
    check_settings(stored, only=["num_resamples", "conf_level"])
    with pytest.raises(ConfigError, match="sensitivity.ci_threshold=0"):
        check_settings(stored)
    with pytest.raises(ConfigError, match="--resamples=0"):
        check_settings({**stored, "num_resamples": 0}, {"num_resamples": "--resamples"}, only=["num_resamples"])


def test_noise_of_one_replicate_is_not_assessed():
    from s3sim.analysis.sensitivity import _noise

    one = _noise(np.arange(10.0).reshape(10, 1))
    assert one["replicates"] == 1 and math.isnan(one["noise_share"]) and math.isnan(one["signal_to_noise"])
    assert one["sd_of_means"] == pytest.approx(np.std(np.arange(10.0), ddof=1))


def test_verdict_names_a_switched_off_convergence_study(tmp_path):
    cfg = {"target": {"name": "ishigami", "params": ["x1", "x2", "x3"], "outputs": ["y"], "replicates": 1},
           "sensitivity": {"method": "sobol", "n": 64, "num_resamples": 20, "convergence": False}, "figures": False}
    report = run_stress(cfg, tmp_path, executor="serial")
    assert report.outputs["y"].verdict == "not assessed (sensitivity.convergence=false)"
    assert pd.read_csv(tmp_path / "noise.csv")["noise_share"].isna().all()  # one replicate: not zero noise


def constant_target(params, seed=0, replicate=0):
    return {"y": 1.0}


def test_a_constant_output_under_delta_gives_a_note_not_a_crash(tmp_path):
    # SALib's delta raises on a constant output (a singular kernel density); the analysis goes on without indices
    cfg = {"target": {"params": ["x1", "x2"], "ranges": {"x1": [0, 1], "x2": [0, 1]}, "outputs": ["y"],
                      "replicates": 1},
           "sensitivity": {"method": "delta", "n": 100, "num_resamples": 10}, "figures": False}
    report = run_stress(cfg, tmp_path, target=constant_target, executor="serial")
    a = report.outputs["y"]
    assert any("delta failed, no indices" in w for w in a.warnings)
    assert a.indices["value"].isna().all() and a.verdict.startswith("not assessed")


def one_input_target(params, seed=0, replicate=0):
    return {"y": math.sin(3.0 * params["x1"]) + 0.5 * params["x1"] ** 2}  # x2 has no effect


@pytest.mark.parametrize("method", ["delta", "pawn", "rbd_fast"])
def test_given_data_methods_report_the_level_of_an_input_with_no_effect(tmp_path, method):
    # an input with no effect still gets an index above zero from a given-data estimator at a finite sample (delta
    # about 0.1 at 200 samples); the analysis measures that level with dummy inputs and names the parameters within it
    cfg = {"target": {"params": ["x1", "x2"], "ranges": {"x1": [0, 1], "x2": [0, 1]}, "outputs": ["y"],
                      "replicates": 1},
           "sensitivity": {"method": method, "n": 200, "num_resamples": 30}, "chunk_size": 1000}
    report = run_stress(cfg, tmp_path, target=one_input_target, executor="serial")
    a = report.outputs["y"]
    main = {"delta": "delta_balanced", "pawn": "median", "rbd_fast": "S1"}[method]
    level = a.no_effect.set_index("index").loc[main]
    first = a.indices[a.indices["index"] == main].set_index("parameter")["value"]
    assert level["level"] > 0.0 and first["x1"] > level["level"]
    if method != "rbd_fast":  # a biased estimator: the parameter without effect is clearly above zero too
        assert first["x2"] > 0.02
    assert level["dummies"] == (20 if method == "pawn" else 1)
    notes = [w for w in a.warnings if "dummy input with no effect" in w]
    assert len(notes) == 1 and notes[0].startswith(f"{main} of x2 is within the level")
    table = pd.read_csv(tmp_path / "no_effect.csv")
    assert set(table["output"]) == {"y"} and main in set(table["index"])
    assert "| *dummy (no effect)* |" in (tmp_path / "summary.md").read_text()
    again = analyse(tmp_path, figures=False)  # the dummy is drawn from the stress seed: the same level again
    pd.testing.assert_frame_equal(again.outputs["y"].no_effect, a.no_effect)


def test_design_based_methods_have_no_dummy_level(tmp_path):
    cfg = {"target": {"name": "ishigami", "params": ["x1", "x2", "x3"], "outputs": ["y"], "replicates": 1},
           "sensitivity": {"method": "sobol", "n": 64, "num_resamples": 20}, "figures": False}
    report = run_stress(cfg, tmp_path, executor="serial")
    assert report.outputs["y"].no_effect.empty and not (tmp_path / "no_effect.csv").exists()


def test_a_missing_index_gives_no_convergence_verdict():
    from s3sim.analysis.sensitivity import _verdict

    conv = pd.DataFrame({"n": [32, 32, 64, 64], "parameter": ["a", "b", "a", "b"], "index": "ST",
                         "value": [0.5, 0.2, 0.5, np.nan], "conf": [0.01, 0.01, 0.01, np.nan]})
    assert _verdict("sobol", conv, {"top_k": 2}) == "not assessed (no ST for b)"
    conv.loc[3, ["value", "conf"]] = [0.2, 0.01]
    assert _verdict("sobol", conv, {"top_k": 2}) == "converged"


def test_morris_levels_that_miss_integers_are_noted():
    from s3sim.analysis.sensitivity import _uneven_integer_levels

    params = [{"name": "a", "kind": "int", "low": 1, "high": 3}, {"name": "b", "kind": "int", "low": 1, "high": 4},
              {"name": "c", "kind": "float", "low": 0.0, "high": 1.0}]
    notes = _uneven_integer_levels(params, 4)
    assert len(notes) == 1 and notes[0].startswith("a: the 4 Morris levels fall on 1, 2, 2, 3")
    assert "sensitivity.num_levels=6 would" in notes[0]  # three integers: 6 levels, each integer twice
    assert _uneven_integer_levels(params[:1], 6) == [] and _uneven_integer_levels(params[:1], 12) == []
    assert _uneven_integer_levels(params[1:], 4) == []  # 4 levels on 4 integers: each once
    wide = {"name": "n_agents", "kind": "int", "low": 200, "high": 400}  # levels on distinct integers: as continuous
    assert _uneven_integer_levels([wide], 4) == [] and _uneven_integer_levels([wide], 6) == []
    assert "sensitivity.num_levels=4 would" in _uneven_integer_levels(params[1:2], 6)[0]
    # with a distribution: steps that leave the integer unchanged, integers never reached
    shaped = {"name": "m", "kind": "int", "low": 1, "high": 3, "dist": ["truncnorm", 1.0, 0.3], "group": "g"}
    note = _uneven_integer_levels([shaped], 4)
    assert len(note) == 1 and "fall on 1, 1, 1, 3: 1 of the 2 possible steps leaves it unchanged" in note[0]
    assert "and 2 never occur" in note[0]
    assert _uneven_integer_levels([{**params[1], "dist": ["triang", 0.5]}], 4) == []  # 1, 2, 3, 4


def test_prim_limits_are_printed_outward():
    from s3sim.analysis.discovery import Box, limits_text

    assert limits_text("g_min", 0.21563, 0.90512) == "g_min in [0.215, 0.906]"
    assert limits_text("g_min", 0.2, 0.9) == "g_min in [0.2, 0.9]"
    assert limits_text("crowding_out", 0.0, 0.0) == "crowding_out = 0"
    assert limits_text("x", -0.21563, 9.996) == "x in [-0.216, 10]"
    box = Box(limits={"a": (0.21563, 0.5), "b": (0.0, 1.0)}, coverage=0.5, density=0.5, mass=0.5, n_inside=5,
              restricted=["a"])
    assert box.describe() == "a in [0.215, 0.5]"
