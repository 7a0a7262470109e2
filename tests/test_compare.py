"""``s3sim-compare`` on the sweeps a QA pass found it mishandling: real ``s3sim -m`` sweeps in subprocesses, and
copies of them edited the way a sweep directory can really end up (a job folder gone, a value given twice)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

# pytest-xdist (`make test`: --dist loadgroup) runs the whole module on one worker, so
# its sweeps (each on 2 worker processes) are made once
pytestmark = pytest.mark.xdist_group("compare")

BIN = Path(sys.executable).parent
SMALL = ["model.n_agents=300", "model.burn_in=4", "model.horizon=8", "model.materialize_agents=false"]
SHARE = "interregional_collaboration_share"


def run_cli(*args: str, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
    return subprocess.run([str(BIN / args[0]), *args[1:]], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env, check=False)


def sweep(cwd: Path, sweep_dir: Path, *overrides: str) -> subprocess.CompletedProcess:
    r = run_cli("s3sim", "-m", *overrides, *SMALL, f"hydra.sweep.dir={sweep_dir}", "hydra.launcher.n_jobs=2",
                cwd=cwd)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def copy_sweep(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("collected", "report"))
    return dst


def one_line_error(r: subprocess.CompletedProcess, *words: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout[-1000:], r.stderr[-2000:])
    assert r.stderr.startswith("s3sim-compare: error: ") and r.stderr.strip().count("\n") == 0, r.stderr
    assert "Traceback" not in r.stderr
    for w in words:
        assert w in r.stderr, (w, r.stderr)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("compare")


@pytest.fixture(scope="module")
def no_partnering(work) -> Path:
    """2 regimes x 2 replicates without partnering: no collaborations, so the share across regions has no value
    at any step of any run."""
    d = work / "no-partnering"
    sweep(work, d, "policy=none,horizontal", "replicate=range(2)", "model.partnering=false")
    return d


@pytest.fixture(scope="module")
def no_partnering_report(work, no_partnering) -> Path:
    r = run_cli("s3sim-compare", str(no_partnering), "--quiet", cwd=work)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Traceback" not in r.stderr and "Warning" not in r.stderr, r.stderr
    return no_partnering / "report"


def test_no_figures_writes_the_tables_and_texts_only(work, no_partnering, no_partnering_report):
    out = work / "no-figures"
    r = run_cli("s3sim-compare", str(no_partnering), "--no-figures", "--out", str(out), "--quiet", cwd=work)
    assert r.returncode == 0, r.stderr[-3000:]
    assert not (out / "figures").exists() and (out / "report.html").is_file()
    assert "Figures not drawn (--no-figures)" in (out / "summary.md").read_text()
    pd.testing.assert_frame_equal(pd.read_csv(out / "contrasts.csv"),
                                  pd.read_csv(no_partnering_report / "contrasts.csv"))


class TestIndicatorWithoutValues:
    def test_its_contrasts_are_na_and_the_others_are_kept(self, no_partnering_report):
        c = pd.read_csv(no_partnering_report / "contrasts.csv")
        share = c[c["kpi"] == SHARE]
        assert len(share) and (share["n"] == 0).all() and share["mean"].isna().all()
        others = c[(c["kpi"] != SHARE) & (c["region"] == "ALL")]
        assert set(others["n"]) == {2}
        over = pd.read_csv(no_partnering_report / "over_time.csv")
        assert set(over.loc[over["kind"] == "contrast", "kpi"]) == set(c["kpi"]) - {SHARE}
        md = (no_partnering_report / "summary.md").read_text()
        assert "| horizontal | share of new partnerships across regions | n/a | n/a | n/a [n/a, n/a] |" in md

    def test_as_headline_it_is_said_to_have_no_contrast(self, work, no_partnering):
        r = run_cli("s3sim-compare", "--no-figures", str(no_partnering), "--indicators", f"{SHARE},firms", "--out",
                    str(work / "share-headline"), "--quiet", cwd=work)
        assert r.returncode == 0, r.stderr[-3000:]
        assert "horizontal: no pair of runs has a value of share of new partnerships across regions" in r.stdout
        assert "single pair" not in r.stdout


@pytest.fixture(scope="module")
def repeated(work, no_partnering, no_partnering_report) -> Path:
    d = copy_sweep(no_partnering, work / "repeated")
    index = json.loads((d / "sweep.json").read_text())
    for num, of in ((4, 0), (5, 2)):  # policy=none replicate=0, policy=horizontal replicate=0
        shutil.copytree(d / str(of), d / str(num))
        st = json.loads((d / str(num) / "status.json").read_text())
        (d / str(num) / "status.json").write_text(json.dumps({**st, "num": num}))
        index["jobs"].append({"num": num, "overrides": index["jobs"][of]["overrides"]})
    (d / "sweep.json").write_text(json.dumps(index))
    return d


class TestRepeatedValue:
    """A sweep with a value given twice (``policy=none,none,horizontal``) ran every pair of that value twice.
    ``s3sim -m`` may refuse such sweeps now, so the sweep is the real 4-run sweep with two repeated jobs added as
    an older ``s3sim -m`` wrote them: the same overrides, an identical run (runs are deterministic)."""

    def test_one_run_per_pair_is_used_and_the_repeat_listed(self, work, repeated, no_partnering_report):
        r = run_cli("s3sim-compare", "--no-figures", str(repeated), "--quiet", cwd=work)
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-3000:]
        assert "2 runs not used (4, 5)" in r.stdout
        out = repeated / "report"
        assert sorted(pd.read_csv(out / "horizon.csv")["run"].unique()) == [0, 1, 2, 3]
        for name in ("contrasts.csv", "over_time.csv"):  # the same numbers as without the repeats
            pd.testing.assert_frame_equal(pd.read_csv(out / name), pd.read_csv(no_partnering_report / name))
        md = (out / "summary.md").read_text()
        assert "- run 4 (completed): repeats run 0 (the same policy, seed, replicate" in md
        assert "- run 5 (completed): repeats run 2 (the same policy" in md
        assert "2 runs were not used" in md
        assert "repeats run 2" in (out / "report.html").read_text()


class TestIndicatorOption:
    def test_a_name_given_twice_counts_once(self, work, no_partnering):
        out = work / "twice"
        r = run_cli("s3sim-compare", "--no-figures",
                    str(no_partnering), "--indicators", "firms,radical_per_1000_firms,firms",
                    "--out", str(out), "--quiet", cwd=work)
        assert r.returncode == 0, r.stderr[-3000:]
        c = pd.read_csv(out / "contrasts.csv")
        assert list(dict.fromkeys(c["kpi"])) == ["firms", "radical_per_1000_firms"]
        assert re.search(r"(change|raises|lowers) firms ", r.stdout.splitlines()[0]), r.stdout  # the headline

    @pytest.mark.parametrize("value", ["", " , "])
    def test_an_empty_list_is_an_error(self, work, no_partnering, value):
        r = run_cli("s3sim-compare", "--no-figures",
                    str(no_partnering), "--indicators", value, "--out", str(work / "empty"),
                    "--quiet", cwd=work)
        one_line_error(r, "--indicators", "innovations_per_1000_firms")
        assert not (work / "empty").exists()


class TestOutOption:
    def test_unusable_places_are_refused_before_any_work(self, work, no_partnering):
        d = copy_sweep(no_partnering, work / "out-checks")  # not collected yet: a refusal must come first
        a_file = work / "a-file"
        a_file.write_text("keep me")
        foreign = work / "foreign"
        foreign.mkdir()
        (foreign / "summary.md").write_text("my notes")
        for out, words in ((a_file, ("existing file",)), (a_file / "sub", ("is a file",)),
                           (Path("/proc/s3sim-compare-test"), ("can be written",)),
                           (foreign, ("summary.md", "would replace"))):
            r = run_cli("s3sim-compare", "--no-figures", str(d), "--out", str(out), "--quiet", cwd=work)
            one_line_error(r, "--out", str(out), *words)
            assert r.stdout == ""
        assert not (d / "collected").exists() and not (d / "report").exists()
        assert a_file.read_text() == "keep me" and (foreign / "summary.md").read_text() == "my notes"
        assert sorted(p.name for p in foreign.iterdir()) == ["summary.md"]

    def test_an_earlier_report_and_a_new_nested_directory_are_fine(self, work, no_partnering):
        out = work / "new" / "nested" / "report"
        for _ in range(2):  # the second time over the first report
            r = run_cli("s3sim-compare", "--no-figures", str(no_partnering), "--out", str(out), "--quiet", cwd=work)
            assert r.returncode == 0, r.stderr[-3000:]
            assert (out / "report.html").is_file()


class TestRunsNotUsed:
    def test_a_missing_baseline_partner_is_named(self, work, no_partnering):
        d = copy_sweep(no_partnering, work / "no-partner")
        shutil.rmtree(d / "0")  # policy=none replicate=0: run 2 (horizontal replicate=0) loses its partner
        r = run_cli("s3sim-compare", "--no-figures", str(d), "--quiet", cwd=work)
        assert r.returncode == 0, r.stderr[-3000:]
        assert "2 runs not used (0, 2)" in r.stdout
        md = (d / "report" / "summary.md").read_text()
        assert "- run 0 (missing): the run is missing" in md
        assert "- run 2 (completed): no baseline partner: run 0 (policy=none) is missing" in md
        assert "2 runs were not used" in md and "2 runs used" in md
        html = (d / "report" / "report.html").read_text()
        assert "no baseline partner: run 0 (policy=none) is missing" in html and "None" not in html

    def test_one_run_in_the_singular(self, work, no_partnering):
        d = copy_sweep(no_partnering, work / "one-missing")
        shutil.rmtree(d / "3")  # policy=horizontal replicate=1
        r = run_cli("s3sim-compare", "--no-figures", str(d), "--quiet", cwd=work)
        assert r.returncode == 0, r.stderr[-3000:]
        assert "1 run not used (3)" in r.stdout
        md = (d / "report" / "summary.md").read_text()
        assert "1 run was not used" in md and "3 runs used" in md and "1 runs" not in md

    def test_a_sweep_of_one_run_in_the_singular(self, work):
        r = sweep(work, work / "single", "policy=none")
        assert "sweep of 1 run into" in r.stdout


@pytest.fixture(scope="module")
def g_min(work) -> Path:
    d = work / "g_min"
    sweep(work, d, "model.g_min=0.5,1", "replicate=range(2)")
    return d


def g_min_against(work: Path, sweep_dir: Path, given: str) -> subprocess.CompletedProcess:
    """``s3sim-compare --by model.g_min --baseline given`` of a g_min sweep, into its own report directory."""
    out = work / f"{sweep_dir.name}-{given}"
    return run_cli("s3sim-compare", "--no-figures", str(sweep_dir), "--by", "model.g_min", "--baseline", given,
                   "--out", str(out), "--quiet", cwd=work)


class TestNumericValues:
    def test_a_baseline_matches_by_value(self, work, g_min):
        tables = []
        for given in ("1", "1.0"):  # (1e0 and any other spelling go through the same decimal comparison)
            r = g_min_against(work, g_min, given)
            assert r.returncode == 0, (given, r.stderr[-3000:])
            tables.append(pd.read_csv(work / f"g_min-{given}" / "contrasts.csv"))
            assert "0.5 " in r.stdout and "against 1:" in r.stdout  # the sweep's spelling
        for t in tables[1:]:
            pd.testing.assert_frame_equal(t, tables[0])
        assert set(tables[0]["baseline"].astype(str)) == {"1"}
        r = run_cli("s3sim-compare", "--no-figures",
                    str(g_min), "--by", "model.g_min", "--baseline", "2", "--quiet", cwd=work)
        one_line_error(r, "--baseline", "one of 0.5, 1")

    def test_the_reverse_a_sweep_spelled_with_a_decimal_point(self, work, g_min):
        d = work / "g_min-decimal"
        sweep(work, d, "model.g_min=0.5,1.0", "replicate=range(2)")
        r = g_min_against(work, d, "1")
        assert r.returncode == 0, r.stderr[-3000:]
        assert "against 1.0:" in r.stdout  # the sweep's spelling
        a = pd.read_csv(work / "g_min-decimal-1" / "contrasts.csv")
        if not (work / "g_min-1" / "contrasts.csv").exists():  # the same runs, swept as 1 (made by the test above)
            assert g_min_against(work, g_min, "1").returncode == 0
        b = pd.read_csv(work / "g_min-1" / "contrasts.csv")
        numbers = ["n", "mean", "ci_low", "ci_high", "baseline_mean", "relative"]
        pd.testing.assert_frame_equal(a[numbers], b[numbers])


@pytest.fixture(scope="module")
def worlds(work) -> Path:
    d = work / "worlds"
    sweep(work, d, "world=alpine,synthetic", "policy=none,cluster_s3")
    return d


class TestWorlds:
    def test_runs_of_different_worlds_are_not_pooled(self, work, worlds):
        r = run_cli("s3sim-compare", "--no-figures", str(worlds), "--quiet", cwd=work)
        one_line_error(r, "--by='policy'", "world=alpine, synthetic", "--where world=alpine", "--by world")
        assert r.stdout == "" and not (worlds / "report").exists()

    def test_where_compares_within_one_world(self, work, worlds):
        out = work / "worlds-synthetic"
        r = run_cli("s3sim-compare", "--no-figures",
                    str(worlds), "--where", "world=synthetic", "--out", str(out), "--quiet",
                    cwd=work)
        assert r.returncode == 0, r.stderr[-3000:]
        h = pd.read_csv(out / "horizon.csv")
        assert set(h["world"]) == {"synthetic"} and h["run"].nunique() == 2
        regions = set(pd.read_csv(out / "contrasts.csv")["region"]) - {"ALL"}
        assert regions and all(r.startswith("R") for r in regions)
        assert "only the runs with world=synthetic" in (out / "summary.md").read_text()
        assert "not used" not in r.stdout

    @pytest.mark.parametrize(("where", "words"), [("world=mars", ("a value of world", "alpine, synthetic")),
                                                  ("policy=none", ("other than --by",)),
                                                  ("world", ("KEY=VALUE",))])
    def test_bad_where(self, work, worlds, where, words):
        r = run_cli("s3sim-compare", "--no-figures",
                    str(worlds), "--where", where, "--out", str(work / "never"), "--quiet",
                    cwd=work)
        one_line_error(r, "--where", *words)


def _comparison(means: dict[str, float], higher_is_better: bool = True):
    """A comparison of scenarios with the given mean contrasts on one indicator (every interval excluding
    zero), for the wording of its reading."""
    from s3sim.analysis.compare import KPI, Comparison

    k = KPI("x", "the indicator", "units", ("x",), higher_is_better=higher_is_better)
    rows = [{"scenario": s, "kpi": "x", "region": "ALL", "n": 5, "mean": m, "ci_low": m - 0.1 * abs(m),
             "ci_high": m + 0.1 * abs(m), "effect_size": 3.0, "p_value": 0.01, "relative": m / 100,
             "baseline_mean": 100.0, "scenario_mean": 100.0 + m} for s, m in means.items()]
    imp = pd.DataFrame([{"scenario": s, "kpi": "x", "regions": 1, "improving": 1, "clearly_improving": 1,
                         "clearly_worsening": 0} for s in means])
    empty = pd.DataFrame()
    return Comparison(factor="policy", baseline="topdown_s3", scenarios=list(means), kpis=[k], window=8,
                      horizon=empty, contrasts=pd.DataFrame(rows), regions_improving=imp, levels_over_time=empty,
                      contrasts_over_time=empty, regions=empty, burn_in=4, excluded=empty)


class TestReadingWords:
    def test_when_every_scenario_does_worse_the_smallest_loss_is_named(self):
        text = " ".join(_comparison({"none": -3.0, "cluster_s3": -1.0}).reading())
        assert ("every scenario does worse than topdown_s3 across the whole area on average; cluster_s3 has the "
                "smallest loss, -1.00") in text
        assert "largest" not in text
        assert "in 1 of 1 region " in text

    def test_the_largest_gain_in_the_better_direction(self):
        text = " ".join(_comparison({"none": 2.0, "cluster_s3": 5.0}).reading())
        assert "cluster_s3 has the largest mean gain against topdown_s3" in text
        text = " ".join(_comparison({"none": -2.0, "cluster_s3": -5.0}, higher_is_better=False).reading())
        assert "cluster_s3 has the largest mean reduction against topdown_s3" in text
        text = " ".join(_comparison({"none": 2.0, "cluster_s3": 5.0}, higher_is_better=False).reading())
        assert "none has the smallest loss, +2.00" in text

    def test_scenarios_without_a_value_are_not_ranked(self):
        text = " ".join(_comparison({"none": np.nan, "cluster_s3": -1.0}).reading())
        assert "smallest loss" not in text and "largest" not in text
