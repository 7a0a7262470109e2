"""Sweeps from the shell, collection and scenario comparison: real ``s3sim -m`` multiruns in subprocesses with
real worker processes (joblib and submitit's local executor), real failures, re-runs and reports."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

# pytest-xdist (`make test`: --dist loadgroup) runs the whole module on one worker, so
# its sweeps (each on 2 worker processes) are made once and its tests run in file order
pytestmark = pytest.mark.xdist_group("sweep")

BIN = Path(sys.executable).parent
SMALL = ["model.n_agents=300", "model.burn_in=4", "model.horizon=12", "model.materialize_agents=false"]


def run_cli(*args: str, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
    return subprocess.run([str(BIN / args[0]), *args[1:]], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


def sweep(cwd: Path, sweep_dir: Path, *overrides: str, workers: int = 2) -> subprocess.CompletedProcess:
    return run_cli("s3sim", "-m", *overrides, *SMALL, f"hydra.sweep.dir={sweep_dir}",
                   f"hydra.launcher.n_jobs={workers}", cwd=cwd)


def tree_digest(d: Path, skip: tuple[str, ...] = ("collected", "report")) -> dict[str, str]:
    """Hash of every file under ``d`` except the folders that collect and compare own."""
    out = {}
    for p in sorted(d.rglob("*")):
        rel = p.relative_to(d)
        if p.is_file() and rel.parts[0] not in skip:
            out[str(rel)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def collected_tables(d: Path) -> dict[str, pd.DataFrame]:
    from s3sim.analysis.collect import VOLATILE_COLUMNS

    out = {name: pd.read_parquet(d / "collected" / f"{name}.parquet")
           for name in ("timeseries", "panel", "firms", "innovations")}
    out["index"] = pd.read_parquet(d / "collected" / "index.parquet").drop(columns=list(VOLATILE_COLUMNS))
    return out


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("sweeps")


@pytest.fixture(scope="module")
def regime_sweep(work) -> Path:
    """2 regimes x 3 replicates on 2 worker processes (the joblib launcher, the default)."""
    d = work / "regimes"
    r = sweep(work, d, "policy=none,cluster_s3", "replicate=range(3)", workers=2)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "6 of 6 runs completed" in r.stdout
    return d


class TestMultirun:
    def test_every_job_has_a_completed_run_and_status(self, regime_sweep):
        index = json.loads((regime_sweep / "sweep.json").read_text())
        assert [j["num"] for j in index["jobs"]] == list(range(6))
        assert index["jobs"][4]["overrides"][:2] == ["policy=cluster_s3", "replicate=1"]
        pids = set()
        for j in range(6):
            st = json.loads((regime_sweep / str(j) / "status.json").read_text())
            man = json.loads((regime_sweep / str(j) / "manifest.json").read_text())
            assert st["status"] == "completed" and man["status"] == "completed"
            assert man["replicate"] == int(index["jobs"][j]["overrides"][1].split("=")[1])
            assert man["seed"] == 0  # the sweep seed; replicates are spawned from it
            pids.add(st["pid"])
        assert len(pids) >= 2, "jobs ran in at least two worker processes"

    def test_one_seed_gives_every_regime_the_same_burn_in(self, regime_sweep):
        from s3sim.runner import load_result

        none, cluster = load_result(regime_sweep / "1"), load_result(regime_sweep / "4")  # replicate 1 each
        burn_in = none.manifest["burn_in"]
        a = none.timeseries[none.timeseries["step"] <= burn_in].reset_index(drop=True)
        b = cluster.timeseries[cluster.timeseries["step"] <= burn_in]
        b = b[b["indicator"].isin(set(a["indicator"]))].reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b)
        other = load_result(regime_sweep / "2")  # replicate 2: a different stream
        assert not np.array_equal(other.timeseries["value"].to_numpy(), none.timeseries["value"].to_numpy())

    def test_rerunning_the_command_resumes_without_redoing(self, work, regime_sweep):
        before = tree_digest(regime_sweep)
        r = sweep(work, regime_sweep, "policy=none,cluster_s3", "replicate=range(3)", workers=2)
        assert r.returncode == 0, r.stderr[-2000:]
        assert "resuming, 6 already completed" in r.stdout
        after = tree_digest(regime_sweep)
        for name, digest in before.items():
            if name.endswith((".parquet", "manifest.json", "status.json")):
                assert after[name] == digest, name

    def test_bad_job_value_fails_before_anything_runs(self, work):
        d = work / "never"
        r = sweep(work, d, "model.large_share=0.05,7")
        assert r.returncode == 2
        assert r.stderr.strip().count("\n") == 0 and "model.large_share=7" in r.stderr
        assert "Traceback" not in r.stderr
        assert not d.exists()

    def test_a_missing_pilot_cluster_fails_before_anything_runs(self, work):
        d = work / "never_pilot"
        r = sweep(work, d, "policy=topdown_s3", "policy.pilots=[auto],[AT_UA:no_such_domain]")
        assert r.returncode == 2, r.stderr
        assert r.stderr.strip().count("\n") == 0 and "AT_UA:no_such_domain" in r.stderr and "'auto'" in r.stderr
        assert "Traceback" not in r.stderr
        assert not d.exists()

    def test_a_different_sweep_is_refused_in_an_existing_sweep_dir(self, work, regime_sweep):
        before = tree_digest(regime_sweep)
        r = sweep(work, regime_sweep, "policy=none,topdown_s3", "replicate=range(3)")
        assert r.returncode == 2 and "hydra.sweep.dir" in r.stderr and "Traceback" not in r.stderr
        assert tree_digest(regime_sweep) == before

    def test_submitit_local_profile(self, work):
        """The SLURM code path (submitit) without a cluster."""
        d = work / "submitit"
        r = run_cli("s3sim", "-m", "hydra/launcher=slurm_local", "policy=none,topdown_s3", *SMALL,
                    f"hydra.sweep.dir={d}", cwd=work)
        assert r.returncode == 0, r.stderr[-3000:]
        for j in range(2):
            assert json.loads((d / str(j) / "status.json").read_text())["status"] == "completed"
        assert (d / ".submitit").is_dir()

    def test_slurm_profile_composes_and_cfg_shows_the_first_job(self, work):
        r = run_cli("s3sim", "-m", "hydra/launcher=slurm", "hydra.launcher.partition=compute",
                    "policy=topdown_s3,cluster_s3", "--cfg", "hydra", cwd=work)
        assert r.returncode == 0, r.stderr[-2000:]
        assert "SlurmLauncher" in r.stdout and "partition: compute" in r.stdout
        r = run_cli("s3sim", "-m", "policy=topdown_s3,cluster_s3", "--cfg", "job", cwd=work)
        assert r.returncode == 0 and "regime: topdown_s3" in r.stdout


@pytest.mark.parametrize("args,field,allowed", [
    (["replicate=range(0)"], "overrides=", "a sweep of at least one run"),
    (["policy=none,none,cluster_s3"], "overrides=", "jobs 0 and 1 would be the same run"),
    (["policy=none,topdown_s3", "hydra.launcher.n_jobs=0"], "hydra.launcher.n_jobs=0", "a non-zero integer"),
], ids=["empty", "repeated", "n_jobs"])
def test_a_sweep_that_cannot_run_is_refused_before_anything_is_written(work, args, field, allowed):
    d = work / "refused"
    r = run_cli("s3sim", "-m", *args, *SMALL, f"hydra.sweep.dir={d}", cwd=work)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-2000:]
    line, = r.stderr.strip().splitlines()
    assert line.startswith(f"s3sim: error: {field}") and allowed in line, line
    assert not d.exists()


def test_the_slurm_launcher_needs_slurm(work):
    import shutil

    if shutil.which("sbatch"):
        pytest.skip("SLURM is installed here")
    d = work / "no_slurm"
    r = run_cli("s3sim", "-m", "hydra/launcher=slurm", "hydra.launcher.partition=compute", "policy=none,topdown_s3",
                *SMALL, f"hydra.sweep.dir={d}", cwd=work)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    line, = r.stderr.strip().splitlines()
    assert "hydra/launcher='slurm'" in line and "sbatch is not on PATH" in line and "slurm_local" in line
    assert not d.exists()


@pytest.fixture(scope="module")
def failing_sweep(work) -> tuple[Path, subprocess.CompletedProcess]:
    d = work / "failing"
    # jobs 2 and 3 exceed their actor cap at run time (a CapacityError raised inside the model)
    r = run_cli("s3sim", "-m", "model.max_actors=0,250", "replicate=range(2)", "model.n_agents=300",
                "model.burn_in=4", "model.horizon=20", f"hydra.sweep.dir={d}", "hydra.launcher.n_jobs=2",
                cwd=work)
    return d, r


class TestFailuresAndReruns:
    def test_a_failing_job_does_not_stop_the_others(self, failing_sweep):
        d, r = failing_sweep
        assert r.returncode == 1
        assert "2 of 4 runs completed" in r.stdout
        assert "--rerun-missing" in r.stderr
        statuses = {j: json.loads((d / str(j) / "status.json").read_text()) for j in range(4)}
        assert [statuses[j]["status"] for j in range(4)] == ["completed", "completed", "failed", "failed"]
        assert "CapacityError" in statuses[2]["error"] and "step" in statuses[2]["error"]
        assert "Traceback" in statuses[2]["traceback"] and "model.py" in statuses[2]["traceback"]
        assert not (d / "2" / "manifest.json").exists()

    def test_collect_indexes_failures_and_combines_the_rest(self, work, failing_sweep):
        d, _ = failing_sweep
        before = tree_digest(d)
        r = run_cli("s3sim-collect", str(d), cwd=work)
        assert r.returncode == 1  # not every job completed; the collection is still written
        assert "2 completed" in r.stdout and "2 failed" in r.stdout
        idx = pd.read_parquet(d / "collected" / "index.parquet")
        assert list(idx["status"]) == ["completed", "completed", "failed", "failed"]
        assert idx.loc[2, "error"].startswith("CapacityError")
        assert list(idx["model.max_actors"]) == ["0", "0", "250", "250"]
        ts = pd.read_parquet(d / "collected" / "timeseries.parquet", columns=["run"])
        assert set(ts["run"]) == {0, 1}
        assert tree_digest(d) == before, "collect touched files outside collected/"

    def test_rerun_missing_restores_a_deleted_job_only(self, work, regime_sweep):
        d = work / "rerun"
        shutil.copytree(regime_sweep, d)
        assert run_cli("s3sim-collect", str(d), cwd=work).returncode == 0
        reference = collected_tables(d)
        keep = {j: (d / str(j) / "manifest.json").stat().st_mtime_ns for j in range(6) if j != 3}
        shutil.rmtree(d / "3")
        r = run_cli("s3sim-collect", str(d), cwd=work)
        assert r.returncode == 1 and "missing" in r.stdout + r.stderr
        r = run_cli("s3sim-collect", str(d), "--rerun-missing", "--workers", "2", cwd=work)
        assert r.returncode == 0, r.stderr[-2000:]
        assert "re-ran 1 job (1 completed): 3" in r.stdout
        assert {j: (d / str(j) / "manifest.json").stat().st_mtime_ns for j in keep} == keep
        restored = collected_tables(d)
        for name, df in reference.items():
            pd.testing.assert_frame_equal(restored[name], df, check_exact=True, obj=name)

    def test_rerun_missing_after_an_interrupted_job(self, work, regime_sweep):
        d = work / "interrupted"
        shutil.copytree(regime_sweep, d)
        status = d / "5" / "status.json"
        st = json.loads(status.read_text())
        status.write_text(json.dumps({**st, "status": "running", "pid": 2 ** 22 + 12345}))
        (d / "5" / "manifest.json").unlink()
        (d / "5" / "panel.parquet").write_bytes(b"truncated")
        r = run_cli("s3sim-collect", str(d), cwd=work)
        assert r.returncode == 1 and "interrupted" in r.stdout
        r = run_cli("s3sim-collect", str(d), "--rerun-missing", "--workers", "1", cwd=work)
        assert r.returncode == 0, r.stderr[-2000:]
        pd.testing.assert_frame_equal(pd.read_parquet(d / "5" / "panel.parquet"),
                                      pd.read_parquet(regime_sweep / "5" / "panel.parquet"))


class TestDeterminism:
    def test_one_and_two_workers_give_identical_collections(self, work, regime_sweep):
        d1 = work / "one-worker"
        r = sweep(work, d1, "policy=none,cluster_s3", "replicate=range(3)", workers=1)
        assert r.returncode == 0, r.stderr[-2000:]
        for d in (d1, regime_sweep):
            assert run_cli("s3sim-collect", str(d), "--quiet", cwd=work).returncode == 0
        a, b = collected_tables(d1), collected_tables(regime_sweep)
        for name in a:
            pd.testing.assert_frame_equal(a[name], b[name], check_exact=True, obj=name)


class TestCollectAndCompare:
    def test_collected_tables_are_read_lazily(self, work, regime_sweep):
        from s3sim.analysis.collect import open_sweep

        store = open_sweep(regime_sweep, progress=False)
        assert len(store.completed) == 6
        part = store.read("timeseries", columns=["run", "value"], filters=[("run", "==", 2)])
        assert set(part["run"]) == {2} and list(part.columns) == ["run", "value"]
        import pyarrow.parquet as pq

        assert pq.ParquetFile(store.path("timeseries")).num_row_groups == 6  # one row group per run
        ds = store.dataset("innovations")
        assert ds.count_rows() == sum(len(pd.read_parquet(regime_sweep / str(j) / "innovations.parquet"))
                                      for j in range(6))

    def test_compare_reports_paired_contrasts(self, work, regime_sweep):
        from s3sim.analysis.collect import open_sweep

        # a collected sweep (collected here if no earlier test did): compare reads it and must not rewrite it
        open_sweep(regime_sweep, progress=False)
        before = tree_digest(regime_sweep, skip=("report",))
        r = run_cli("s3sim-compare", str(regime_sweep), "--baseline", "none", cwd=work)
        assert r.returncode == 0, r.stderr[-3000:]
        assert "cluster_s3" in r.stdout and "paired over 3 replicates" in r.stdout
        out = regime_sweep / "report"
        for f in ("report.html", "summary.md", "contrasts.csv", "contrasts.parquet", "horizon.csv",
                  "over_time.csv", "regions_improving.csv"):
            assert (out / f).is_file(), f
        for f in ("timeseries", "contrast_over_time", "region_contrasts", "map", "heatmap"):
            assert (out / "figures" / f"{f}.png").stat().st_size > 5000, f
        c = pd.read_csv(out / "contrasts.csv")
        h = pd.read_csv(out / "horizon.csv")
        # the contrast really is the seed-by-seed difference
        k = "innovations_per_1000_firms"
        tot = h[h["region"] == "ALL"].pivot(index="pair", columns="policy", values=k)
        d = (tot["cluster_s3"] - tot["none"]).to_numpy()
        row = c[(c["scenario"] == "cluster_s3") & (c["kpi"] == k) & (c["region"] == "ALL")].iloc[0]
        assert row["n"] == 3
        assert row["mean"] == pytest.approx(d.mean())
        half = row["ci_high"] - row["mean"]
        assert half == pytest.approx(4.302652729911275 * d.std(ddof=1) / np.sqrt(3))  # t(0.975, 2)
        assert row["effect_size"] == pytest.approx(d.mean() / d.std(ddof=1))
        regions = set(c["region"]) - {"ALL"}
        assert len(regions) == 11
        md = (out / "summary.md").read_text()
        assert "## Reading" in md and "figures/map.png" in md
        html = (out / "report.html").read_text()
        assert html.count("data:image/png;base64,") == 5
        assert tree_digest(regime_sweep, skip=("report",)) == before

    def test_compare_over_a_partly_failed_sweep_uses_complete_pairs(self, work):
        d = work / "partial"
        r = sweep(work, d, "policy=none,topdown_s3", "replicate=range(2)", "model.max_actors=0")
        assert r.returncode == 0
        shutil.rmtree(d / "3")  # topdown_s3, replicate 1: its pair is incomplete
        r = run_cli("s3sim-compare", str(d), "--quiet", cwd=work)
        assert r.returncode == 0, r.stderr[-2000:]
        c = pd.read_csv(d / "report" / "contrasts.csv")
        assert set(c["n"]) == {1}
        assert "Runs not used" in (d / "report" / "report.html").read_text()


class TestReviewFindings:
    def test_scenario_without_pairs_is_listed_not_a_crash(self, work, regime_sweep):
        d = work / "no-cluster"
        shutil.copytree(regime_sweep, d, ignore=shutil.ignore_patterns("collected", "report"))
        for j in (3, 4, 5):  # every cluster_s3 run
            shutil.rmtree(d / str(j))
        r = run_cli("s3sim-compare", str(d), "--quiet", cwd=work)
        assert r.returncode == 2 and "Traceback" not in r.stderr and "no complete pairs" in r.stderr
        for j in (0, 1, 2):  # and without any baseline run
            shutil.rmtree(d / str(j))
        shutil.copytree(regime_sweep / "3", d / "3")
        r = run_cli("s3sim-compare", str(d), "--quiet", cwd=work)
        assert r.returncode == 2 and "--baseline" in r.stderr and "Traceback" not in r.stderr

    def test_window_longer_than_the_policy_horizon_is_refused(self, work, regime_sweep):
        r = run_cli("s3sim-compare", str(regime_sweep), "--window", "13", "--out", str(work / "w13"), cwd=work)
        assert r.returncode == 2 and "--window" in r.stderr and "burn-in" in r.stderr

    @pytest.mark.parametrize("bad", ["hydra.launcher.n_jobz=2", "hydra/launcher=nosuch", "hydra.sweep.subdir=x",
                                     "output.dir=res"])
    def test_bad_hydra_overrides_fail_before_anything_is_written(self, work, bad):
        d = work / f"bad-{abs(hash(bad))}"
        r = run_cli("s3sim", "-m", "policy=none,cluster_s3", *SMALL, bad, f"hydra.sweep.dir={d}", cwd=work)
        assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "Traceback" not in r.stderr
        assert not d.exists()

    def test_a_job_running_on_another_machine_is_left_alone(self, work, regime_sweep):
        d = work / "other-host"
        shutil.copytree(regime_sweep, d, ignore=shutil.ignore_patterns("collected", "report"))
        st = json.loads((d / "4" / "status.json").read_text())
        (d / "4" / "manifest.json").unlink()
        (d / "4" / "status.json").write_text(json.dumps({**st, "status": "running", "host": "node042"}))
        r = run_cli("s3sim-collect", str(d), "--rerun-missing", "--workers", "1", cwd=work)
        assert r.returncode == 1 and "nothing to re-run" in r.stdout and "running" in r.stdout
        r = run_cli("s3sim-collect", str(d), "--rerun-missing", "--include-running", "--workers", "1", cwd=work)
        assert r.returncode == 0 and "re-ran 1 job (1 completed): 4" in r.stdout


class TestBadInput:
    @pytest.mark.parametrize("tool", ["s3sim-collect", "s3sim-compare"])
    def test_foreign_directories_fail_with_one_line(self, work, tool):
        foreign = work / f"foreign-{tool}"
        foreign.mkdir()
        (foreign / "data.txt").write_text("not a sweep")
        for target in (foreign, work / "does-not-exist"):
            r = run_cli(tool, str(target), cwd=work)
            assert r.returncode == 2, (tool, target)
            assert r.stderr.strip().count("\n") == 0 and "Traceback" not in r.stderr
            assert "sweep" in r.stderr
        assert sorted(p.name for p in foreign.iterdir()) == ["data.txt"]

    def test_include_running_goes_with_rerun_missing(self, work, regime_sweep):
        r = run_cli("s3sim-collect", str(regime_sweep), "--include-running", cwd=work)
        assert r.returncode == 2 and "Traceback" not in r.stderr
        line, = r.stderr.strip().splitlines()
        assert "--include-running is not allowed alone" in line and "--rerun-missing" in line

    def test_unreadable_sweep_index(self, work):
        d = work / "garbled"
        d.mkdir()
        (d / "sweep.json").write_text("{not json")
        for tool in ("s3sim-collect", "s3sim-compare"):
            r = run_cli(tool, str(d), cwd=work)
            assert r.returncode == 2 and "unreadable" in r.stderr and "Traceback" not in r.stderr
        assert sorted(p.name for p in d.iterdir()) == ["sweep.json"]

    def test_bad_compare_options(self, work, regime_sweep):
        r = run_cli("s3sim-compare", str(regime_sweep), "--baseline", "topdown_s3", cwd=work)
        assert r.returncode == 2 and "none, cluster_s3" in r.stderr
        r = run_cli("s3sim-compare", str(regime_sweep), "--by", "seed", cwd=work)
        assert r.returncode == 2 and "policy" in r.stderr
        r = run_cli("s3sim-compare", str(regime_sweep), "--indicators", "happiness", cwd=work)
        assert r.returncode == 2 and "innovations_per_1000_firms" in r.stderr


class TestCapacityCap:
    def test_max_actors_stops_a_run_with_the_step(self):
        from s3sim.errors import CapacityError, ConfigError
        from s3sim.runner import evaluate

        with pytest.raises(CapacityError, match=r"step \d+: model.max_actors=250"):
            evaluate(seed=0, n_agents=300, max_actors=250, burn_in=4, horizon=20)
        with pytest.raises(ConfigError, match="initial actors"):
            evaluate(seed=0, n_agents=300, max_actors=100, burn_in=4, horizon=4)
        capped = evaluate(seed=0, n_agents=300, max_actors=100_000, burn_in=4, horizon=8)
        assert capped == evaluate(seed=0, n_agents=300, burn_in=4, horizon=8)


def _browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def report(work, regime_sweep) -> Path:
    html = regime_sweep / "report" / "report.html"
    if not html.exists():
        r = run_cli("s3sim-compare", str(regime_sweep), "--quiet", cwd=work)
        assert r.returncode == 0, r.stderr[-2000:]
    return html


@pytest.fixture(scope="module")
def chromium() -> str:
    path = _browser()
    if path is None:
        if os.environ.get("S3SIM_REQUIRE_BROWSER") == "1":
            pytest.fail("headless Chromium is required (apt-get install chromium chromium-driver)")
        pytest.skip("no Chromium on this machine (.ci/run installs it)")
    return path


class TestReportInBrowser:
    """The HTML report opened in headless Chromium: it renders, every figure decodes, no script errors."""

    def _run(self, chromium: str, *args: str, profile: Path) -> subprocess.CompletedProcess:
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-extensions", "--hide-scrollbars",
                 "--enable-logging=stderr", "--v=0", f"--user-data-dir={profile}", "--virtual-time-budget=10000"]
        return subprocess.run([chromium, *flags, *args], capture_output=True, text=True, timeout=120)

    def test_every_figure_loads_without_script_errors(self, chromium, report, tmp_path):
        r = self._run(chromium, "--dump-dom", report.as_uri(), profile=tmp_path / "profile")
        assert r.returncode == 0, r.stderr[-2000:]
        import re

        m = re.search(r'id="figure-status"[^>]*data-loaded="(\d+)"[^>]*data-total="(\d+)"', r.stdout)
        assert m, "the report's load check did not run"
        assert m.group(1) == m.group(2) == "5"
        assert "Uncaught" not in r.stderr and "Failed to load resource" not in r.stderr

    def test_screenshot_shows_the_report(self, chromium, report, tmp_path):
        import matplotlib.image as mpimg

        shot = tmp_path / "report.png"
        r = self._run(chromium, "--window-size=1280,2400", f"--screenshot={shot}", report.as_uri(),
                      profile=tmp_path / "profile")
        assert r.returncode == 0 and shot.exists(), r.stderr[-2000:]
        img = mpimg.imread(shot)[..., :3]
        assert img.shape[:2] == (2400, 1280)
        assert img.std() > 0.05, "blank screenshot"
        sat = img.max(axis=2) - img.min(axis=2)
        assert (sat > 0.25).mean() > 0.001, "no coloured figure pixels in the screenshot"


def test_a_sweep_index_written_with_single_plus_region_overrides_still_resumes(tmp_path):
    """Indexes written before policy.regions.<ID> overrides became ++ (add or replace) describe the same jobs."""
    from s3sim.errors import ConfigError
    from s3sim.runner.sweep import start_sweep

    old_jobs = [["policy=as_applied", "+policy.regions.AT_UA=none"],
                ["policy=as_applied", "+policy.regions.AT_UA=cluster_s3"]]
    start_sweep(tmp_path, [], old_jobs, ["-m"], [])
    new_jobs = [[o.replace("+policy", "++policy") for o in job] for job in old_jobs]
    index, done = start_sweep(tmp_path, [], new_jobs, ["-m"], [])
    assert done == 0 and [j["overrides"] for j in index["jobs"]] == old_jobs  # the stored index is kept
    with pytest.raises(ConfigError, match="its jobs differ"):
        start_sweep(tmp_path, [], [["policy=as_applied", "++policy.regions.AT_UA=horizontal"]] * 2, ["-m"], [])


def test_row_wise_intervals_equal_the_one_row_function():
    """s3sim-compare's intervals over time come from one vectorised pass (mean_ci_rows): the same numbers, to the
    last bit, as mean_ci row by row, with missing values, constant rows and one or no column."""
    from s3sim.analysis.compare import mean_ci, mean_ci_rows

    rng = np.random.default_rng(3)
    for shape in [(60, 10), (20, 2), (9, 1), (5, 0), (30, 37)]:
        m = rng.normal(size=shape) * 1e3
        if shape[1] > 2:
            m[3, 1] = np.nan
            m[5, :] = np.inf
        if shape[1]:
            m[0, :] = m[0, 0]  # sd 0: a zero-width interval
        expect = np.array([mean_ci(row, 0.9) for row in m]).reshape(shape[0], 3)
        assert np.array_equal(mean_ci_rows(m, 0.9), expect, equal_nan=True), shape
