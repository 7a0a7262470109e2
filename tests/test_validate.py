"""s3sim-validate: the stylised-fact estimators on synthetic data with known answers, and one small end-to-end
run of the command (real subprocess). See docs/validation.md."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from s3sim.analysis import validation as V
from s3sim.indicators.outcomes import top_share


def gen(*key: int) -> np.random.Generator:
    return V.rng_for(20261127, *key)


# ---------------------------------------------------------------------------------------------------------------
# estimators
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("alpha", [1.0, 1.5, 2.5])
def test_hill_estimator_recovers_the_pareto_tail_index(alpha):
    x = gen(1).uniform(size=100_000) ** (-1.0 / alpha)  # P(X > x) = x^-alpha, x >= 1
    assert V.hill_tail_index(x, 0.10) == pytest.approx(alpha, rel=0.03)
    assert V.hill_tail_index(x, 0.20) == pytest.approx(alpha, rel=0.03)


def test_hill_estimator_on_a_lognormal_tail_is_thin_where_sigma_is_small():
    """A lognormal has no power tail; its local Hill index over the top 10% falls with sigma."""
    g = gen(2)
    a_small = V.hill_tail_index(np.exp(0.5 * g.standard_normal(50_000)), 0.1)
    a_large = V.hill_tail_index(np.exp(2.0 * g.standard_normal(50_000)), 0.1)
    assert a_small > 3 and a_large < 1.2


@pytest.mark.parametrize("sigma", [1.23, 1.8, 2.76])
def test_top10_share_of_a_lognormal_matches_the_closed_form(sigma):
    """Top-10% share of a lognormal(0, sigma) is 1 - Phi(z_0.9 - sigma); sigma 1.23 and 2.76 bound 48-93%."""
    x = np.exp(sigma * gen(3).standard_normal(400_000))
    exact = 1 - norm.cdf(norm.ppf(0.9) - sigma)
    assert top_share(x, 0.1) == pytest.approx(exact, abs=0.015)
    innov = [pd.DataFrame({"value": x[k::4]}) for k in range(4)]
    fact = V.innovation_value_skew(innov, seed=1)
    assert fact.value == pytest.approx(exact, abs=0.02)
    assert fact.passed == (0.48 <= fact.value <= 0.93)
    assert fact.low <= fact.value <= fact.high


def test_fixed_effects_regression_recovers_known_spillover_elasticities():
    """log I = 0.85 log RD + 0.025 log RD_neighbours + run-period effect + noise."""
    g = gen(4)
    rows = []
    for run in range(30):
        for period in range(4):
            rd = np.exp(g.normal(8, 1.0, size=11))
            nb = np.exp(g.normal(9, 1.0, size=11))
            fe = g.normal(0, 2)
            innov = np.exp(fe + 0.85 * np.log(rd) + 0.025 * np.log(nb) + g.normal(0, 0.05, size=11))
            rows.append(pd.DataFrame({"run": run, "period": period, "region": range(11), "innovations": innov,
                                      "rd": rd, "rd_neighbours": nb, "n_neighbours": 3}))
    own, nb = V.spillover_elasticities(pd.concat(rows, ignore_index=True))
    assert own == pytest.approx(0.85, abs=0.01)
    assert nb == pytest.approx(0.025, abs=0.01)


def test_demeaning_absorbs_two_crossed_fixed_effects():
    g = gen(5)
    a, b = g.integers(0, 20, 5000), g.integers(0, 30, 5000)
    x = g.normal(size=5000) + 0.1 * a
    y = 2.0 * x + g.normal(size=20)[a] * 5 + g.normal(size=30)[b] * 5 + 0.01 * g.normal(size=5000)
    assert V.ols(y, x, groups=[a, b])[0] == pytest.approx(2.0, abs=0.01)


def test_neighbour_rd_sums_regions_within_300_km():
    regions = [{"id": "A", "lon": 0.0, "lat": 45.0}, {"id": "B", "lon": 2.0, "lat": 45.0},  # ~157 km apart
               {"id": "C", "lon": 10.0, "lat": 45.0}]
    steps = np.arange(1, 21)
    ts = pd.concat([pd.DataFrame({"step": steps, "region": r, "indicator": ind, "value": v})
                    for r, rd in (("A", 1.0), ("B", 2.0), ("C", 4.0))
                    for ind, v in (("rd_spending", rd), ("innovations", 3.0))], ignore_index=True)
    p = V.spillover_panel([ts], [regions], burn_in=[0]).set_index("region")
    assert p.loc["A", "rd"] == 20 and p.loc["A", "rd_neighbours"] == 40 and p.loc["C", "rd_neighbours"] == 0
    assert V.haversine_km(np.array([2.35, -0.13]), np.array([48.86, 51.51]))[0, 1] == pytest.approx(344, abs=3)


def test_entry_and_exit_need_two_observations_in_the_new_state():
    spec = {"x": [False, True, True, True], "y": [False, True, False, False], "z": [True, False, False, True]}
    panel = pd.DataFrame([{"step": 4 * (t + 1), "region": "R", "domain": d, "specialised": s,
                           "relatedness_density": 10.0 * t} for d, seq in spec.items() for t, s in enumerate(seq)])
    ent, ext = V.entry_exit_cells([panel])
    got = {(r.domain, r.step): r.y for r in ent.itertuples()}
    assert got == {("x", 4): 1.0, ("y", 4): 0.0, ("z", 8): 0.0}  # y is specialised for one observation only
    assert {(r.domain, r.step): r.y for r in ext.itertuples()} == {("x", 8): 0.0, ("y", 8): 1.0, ("z", 4): 1.0}


def test_linear_probability_model_recovers_the_relatedness_effect():
    """P(entry) = 0.02 + 0.002 x density within regions and domains with their own levels."""
    g = gen(6)
    n = 60_000
    df = pd.DataFrame({"run": g.integers(0, 5, n), "region": g.integers(0, 11, n).astype(str),
                       "domain": g.integers(0, 18, n).astype(str), "step": 4 * g.integers(1, 20, n),
                       "rd": g.uniform(0, 60, n)})
    level = 0.01 * (df["region"].astype(int) % 3) + 0.005 * (df["domain"].astype(int) % 4)
    p = 0.02 + level + 0.002 * df["rd"]
    df["y"] = (g.uniform(size=n) < p).astype(float)
    beta, rel, _mean_y = V.relatedness_effect(df)
    assert beta == pytest.approx(0.002, abs=0.0003)
    assert rel == pytest.approx(beta * 0.1 * df["rd"].mean() / df["y"].mean())


def test_transitivity_and_small_world_statistics():
    tri_pendant = np.array([[0, 1], [1, 2], [0, 2], [2, 3]])
    assert V.transitivity(tri_pendant, 4) == pytest.approx(0.6)  # 3 x 1 triangle / 5 connected triples
    # ring lattice, each node tied to its 2 nearest neighbours on each side: C = 3(k-2)/(4(k-1)) = 0.5
    n, k = 400, 4
    ring = np.array([(i, (i + s) % n) for i in range(n) for s in (1, 2)])
    st = V.small_world_stats(ring, n, gen(7))
    assert st["C"] == pytest.approx(0.5) and st["giant_share"] == 1.0 and st["k_giant"] == pytest.approx(k)
    assert st["L"] == pytest.approx(n / (2 * k) + 0.5, rel=0.05)  # a lattice: long paths, Q about 1 or below
    # an Erdos-Renyi graph is its own reference: C/C_rand ~ 1 and L/L_rand ~ 1
    g = gen(8)
    m = 2000
    pairs = g.integers(0, m, size=(5 * m, 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    er = V.small_world_stats(pairs, m, g)
    assert er["C"] / er["C_rand"] == pytest.approx(1.0, abs=0.35)
    assert er["L"] / er["L_rand"] == pytest.approx(1.0, abs=0.15)
    # rewiring 5% of the ring's ties gives a small world: high clustering, short paths, Q >> 1
    ring2 = ring.copy()
    flip = g.uniform(size=len(ring2)) < 0.05
    ring2[flip, 1] = g.integers(0, n, flip.sum())
    sw = V.small_world_stats(ring2[ring2[:, 0] != ring2[:, 1]], n, g)
    assert sw["Q"] > 3 and sw["C"] / sw["C_rand"] > 20


def test_growth_volatility_slope_recovers_beta():
    g = gen(9)
    s0 = np.exp(g.normal(8, 1.5, 100_000))
    growth = 0.5 * s0 ** -0.2 * g.laplace(size=s0.size)
    beta, fig = V.growth_volatility_slope(s0, s0 * np.exp(growth))
    assert beta == pytest.approx(0.2, abs=0.02) and len(fig["log_size"]) == 10


def _firm_years(rates: dict[bool, float], n: int = 1000, years: int = 5) -> pd.DataFrame:
    """Incumbent firms (half in the targeted cell R:a) that innovate in exactly ``rate`` of firm-years."""
    rows = []
    for tg, rate in rates.items():
        for i in range(n):
            fid = i + (0 if tg else n)
            innov = 0
            for y in range(years + 1):
                rows.append((fid, y, True, "R", "a" if tg else "b", innov))
                innov += int((i + y * 7) % n < rate * n)
    return pd.DataFrame(rows, columns=["firm_id", "year", "alive", "region", "domain", "innovations"])


def test_cluster_policy_effect_is_the_paired_difference_in_innovator_rates():
    targeted = pd.DataFrame({"region": ["R"], "domain": ["a"]})
    base = _firm_years({True: 0.20, False: 0.30})
    treated = _firm_years({True: 0.25, False: 0.31})
    fact = V.cluster_policy_effect([base, base], [treated, treated], [targeted, targeted])
    assert fact.value == pytest.approx(5.0) and fact.passed
    assert fact.details["diff_in_diff_vs_untargeted_pp"] == pytest.approx(4.0)
    assert fact.details["baseline_rate_targeted"] == pytest.approx(0.20)
    rates = V.innovator_rates(base, targeted)
    assert set(rates["year"]) == set(range(1, 6)) and (rates["n"] == 1000).all()


def test_firm_size_tail_fact_on_a_zipf_population():
    g = gen(10)
    firms = [pd.DataFrame({"size": g.uniform(size=20_000) ** -1.0, "revenue": g.uniform(size=20_000) ** -1.2})
             for _ in range(5)]
    fact = V.firm_size_tail(firms, seed=3)
    assert fact.value == pytest.approx(1.0, abs=0.05) and fact.passed and fact.low < 1.0 < fact.high + 0.05


# ---------------------------------------------------------------------------------------------------------------
# the command
# ---------------------------------------------------------------------------------------------------------------
def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "s3sim.runner.validate", *args], check=False, capture_output=True,
                          text=True, timeout=600)


def test_s3sim_validate_quick_writes_the_table_and_a_figure_per_fact(tmp_path):
    out = tmp_path / "val"
    proc = run_cli("--quick", "--seeds", "2", "--agents", "300", "--workers", "1", "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    ids = ["F1", "F2", "F3", "F4", "F7", "F9", "F12", "F16"]
    table = pd.read_csv(out / "validation.csv")
    assert table["fact"].tolist() == ids
    assert set(table["result"]) <= {"PASS", "FAIL"} and table["source"].str.len().min() > 10
    assert table["measured"].notna().all()
    for f in ids:
        assert (out / "figures" / f"{f}.png").stat().st_size > 1000
        assert f in proc.stdout
    md = (out / "validation.md").read_text()
    assert "| fact | target | source | measured [95% CI] | also measured | result |" in md and "s3sim-validate --quick" in md
    assert "facts pass" in proc.stdout.splitlines()[-1]
    assert len(list((out / "runs" / "cluster_s3").glob("*/targeted.parquet"))) == 2
    # the analysis reads the stored runs alone and gives the same table again
    again = V.facts_table(V.validate_store(out, seed=0))
    assert np.allclose(again["measured"], table["measured"], equal_nan=True)


@pytest.mark.parametrize("args, field", [(("--seeds", "0"), "--seeds"), (("--workers", "0"), "--workers"),
                                         (("--set", "nope=1"), "nope"), (("--agents", "3"), "n_agents"),
                                         (("--set", "policy_regime=horizontal"), "--set policy_regime"),
                                         (("--set", "policy_pilot_regime=none"), "--set policy_pilot_regime"),
                                         (("--set", "policy_sigma_sel=2.0"), "--set policy_sigma_sel")])
def test_s3sim_validate_user_errors_exit_2_with_one_line(tmp_path, args, field):
    proc = run_cli(*args, "--out", str(tmp_path / "x"), "--quiet")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("s3sim-validate: error:") and field in lines[0], proc.stderr
    assert list(tmp_path.iterdir()) == []  # refused before anything was written
    if args[0] == "--set":  # the allowed names, without those the validation cannot apply
        allowed = lines[0].split("validation runs use: ", 1)[1].split(", ")
        assert "search_rate" in allowed and "policy_subsidy_rate" in allowed
        assert not {"policy_regime", "policy_pilot_regime", "policy_sigma_sel"} & set(allowed)


def test_parameters_validate_refuses_have_no_effect_on_its_runs():
    """Every policy parameter --set refuses leaves a cluster_s3 run unchanged (the regime is set by the command,
    pilots cannot be named, the rest belong to topdown_s3 and transregional_s3); a parameter it allows does
    change it."""
    from s3sim import PARAMETERS
    from s3sim.runner.simulate import config_from_params, simulate
    from s3sim.runner.validate import NO_EFFECT

    base = {"n_agents": 300, "burn_in": 4, "horizon": 16, "policy_regime": "cluster_s3", "materialize_agents": False}

    def series(**change) -> pd.DataFrame:
        return simulate(config_from_params(**{**base, **change}), seed=3).timeseries

    ref = series()
    other = {"policy_pilot_regime": "cluster_s3", "policy_review_period": 4, "policy_use_stated_priorities": True,
             "policy_sigma_sel": 3.0, "policy_transregional_share": 0.9, "policy_phi_min": 0.0,
             "policy_joint_cost_factor": 3.0}
    assert set(other) == {n for n in NO_EFFECT if n.startswith("policy_") and n != "policy_regime"}
    for name, value in other.items():
        assert value != PARAMETERS[name].default
        pd.testing.assert_frame_equal(series(**{name: value}), ref, obj=name)
    assert not series(policy_subsidy_rate=0.9).equals(ref)


@pytest.mark.parametrize("kind", ["file", "other files", "unwritable", "under a file"])
def test_s3sim_validate_out_must_be_a_new_or_empty_directory(tmp_path, kind):
    """--out at a file, at a directory holding anything (here a sweep's job directory), or where no directory can
    be made: one line naming --out, exit 2, before any run, and nothing changed."""
    afile = tmp_path / "afile"
    afile.write_text("x")
    sweep = tmp_path / "sweep"
    (sweep / "0").mkdir(parents=True)
    (sweep / "0" / "status.json").write_text("{}")
    out = {"file": afile, "other files": sweep, "unwritable": Path("/proc/s3sim-validate-test"),
           "under a file": afile / "val"}[kind]
    before = sorted(tmp_path.rglob("*"))
    proc = run_cli("--quick", "--quiet", "--out", str(out))
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"s3sim-validate: error: --out='{out}' is not allowed:")
    assert sorted(tmp_path.rglob("*")) == before


@pytest.mark.parametrize("stop", ["kill", "interrupt"])
def test_s3sim_validate_stopped_part_way_leaves_no_directory_that_blocks_a_rerun(tmp_path, stop):
    """A killed validation leaves only its hidden build directory (removed by the next run into the same --out);
    Ctrl-C removes it at once (exit 130). Either way --out does not exist and a rerun writes it."""
    out = tmp_path / "val"
    # Python's Ctrl-C handler even where the test runs with SIGINT ignored (started in the background)
    start = ("import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
             "runpy.run_module('s3sim.runner.validate', run_name='__main__')")
    args = [sys.executable, "-c", start, "--quick", "--seeds", "2", "--agents", "300", "--workers", "1", "--quiet",
            "--out", str(out)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    build = tmp_path / f".val.{proc.pid}.partial"
    deadline = time.monotonic() + 300
    while not (build / "runs").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the validation finished before it could be stopped"
    if stop == "kill":
        proc.kill()
    else:
        proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert not out.exists()
    if stop == "kill":
        assert build.is_dir()
    else:
        assert proc.returncode == 130 and "interrupted; nothing was written" in err and not build.exists()
    again = run_cli("--quick", "--seeds", "1", "--agents", "300", "--workers", "1", "--quiet", "--out", str(out))
    assert again.returncode == 0, again.stderr
    assert (out / "validation.md").is_file() and [p.name for p in tmp_path.iterdir()] == ["val"]


def test_validation_runs_are_identical_on_one_and_two_worker_processes_shared_burn_in_or_not(tmp_path):
    from s3sim.runner.validate import _share_burn_in, run_validation

    small = {"n_agents": 300, "burn_in": 2, "horizon": 6}
    # two seeds share each burn-in on either count; three seeds on two workers run as separate jobs (sooner)
    assert _share_burn_in(2, 1, 2, 6) and _share_burn_in(2, 2, 2, 6) and not _share_burn_in(3, 2, 2, 6)
    one = run_validation(tmp_path / "one", seeds=3, workers=1, progress=False, **small)
    two = run_validation(tmp_path / "two", seeds=3, workers=2, progress=False, **small)
    tables = sorted(p.relative_to(one) for p in (one / "runs").rglob("*.parquet"))
    assert len(tables) >= 12 and tables == sorted(p.relative_to(two) for p in (two / "runs").rglob("*.parquet"))
    for rel in tables:  # a shared burn-in (one worker) and separate runs (two workers) give the same tables
        pd.testing.assert_frame_equal(pd.read_parquet(one / rel), pd.read_parquet(two / rel))


def test_validation_progress_counts_each_run_once(tmp_path, monkeypatch):
    """The bar counts stored runs: two per job when a job runs both regimes, one when it runs one."""
    import tqdm

    from s3sim.runner.validate import _share_burn_in, run_validation

    bars = []

    class Recorded(tqdm.tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            bars.append(self)

    monkeypatch.setattr(tqdm, "tqdm", Recorded)
    small = {"n_agents": 300, "burn_in": 2, "horizon": 6}
    assert _share_burn_in(1, 1, 2, 6) and not _share_burn_in(1, 2, 2, 6)
    run_validation(tmp_path / "shared", seeds=1, workers=1, progress=True, **small)  # one job of two runs
    run_validation(tmp_path / "separate", seeds=1, workers=2, progress=True, **small)  # two jobs of one run
    assert [(b.n, b.total) for b in bars] == [(2, 2), (2, 2)]


def test_small_world_without_ties_fails_with_a_note_and_a_figure(tmp_path):
    """Runs without a tie (partnering off) have no giant component and no Q: F4 fails, says why, and its figure
    is drawn without a log scale (it raised 'Data cannot be log-scaled'); one run with ties keeps the log scale."""
    none = pd.DataFrame({"a": np.zeros(0, dtype=np.int64), "b": np.zeros(0, dtype=np.int64)})
    fact = V.small_world([none, none], [300, 300], seed=0)
    assert not fact.passed and fact.details["giant_share"] == 0 and np.isnan(fact.value)
    assert fact.note.startswith("2 of 2 runs have no collaboration ties")
    V.plot_fact(fact, tmp_path / "F4.png")
    assert (tmp_path / "F4.png").stat().st_size > 1000
    ring = pd.DataFrame([(i, (i + s) % 60) for i in range(60) for s in (1, 2)], columns=["a", "b"])
    mixed = V.small_world([none, ring], [300, 300], seed=0)
    assert mixed.note.startswith("1 of 2 runs have no collaboration ties") and mixed.note.endswith("in those runs")
    V.plot_fact(mixed, tmp_path / "F4_mixed.png")
    assert (tmp_path / "F4_mixed.png").stat().st_size > 1000
    assert V.small_world([ring, ring], [60, 60], seed=0).note == ""
    paths = V.write_report([fact], tmp_path / "report")
    assert "- note: 2 of 2 runs have no collaboration ties" in paths["md"].read_text()


def test_s3sim_validate_without_partnering_reports_f4_and_writes_everything(tmp_path):
    """--set partnering=false (no network at all) used to crash drawing F4 and leave a half-written --out that a
    rerun refused; now the run completes into an existing empty directory, F4 fails with its note, and a rerun
    into the finished directory is refused with one line."""
    out = tmp_path / "v_nop"
    out.mkdir()  # an empty directory is a valid --out
    args = ("--quick", "--seeds", "1", "--agents", "300", "--workers", "2", "--set", "partnering=false", "--quiet",
            "--out", str(out))
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(out / "validation.csv").set_index("fact")
    assert table.loc["F4", "result"] == "FAIL" and "no collaboration ties" in table.loc["F4", "note"]
    assert (out / "validation.md").is_file() and (out / "validation.json").is_file()
    assert sorted(p.name for p in (out / "figures").iterdir()) == sorted(f"{f}.png" for f in table.index)
    assert [p.name for p in tmp_path.iterdir()] == ["v_nop"]  # no build directory left beside it
    again = run_cli(*args)
    lines = again.stderr.strip().splitlines()
    assert again.returncode == 2 and len(lines) == 1 and "--out" in lines[0] and "validation already" in lines[0]
