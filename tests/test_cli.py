"""Tests of the ``s3sim`` command line, through real subprocesses."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf
from pandas.testing import assert_frame_equal

import s3sim
from s3sim.runner.result import MANIFEST, TABLES

# pytest-xdist (`make test`: --dist loadgroup) runs the whole module on one worker, so
# its shared runs from the shell are made once
pytestmark = pytest.mark.xdist_group("cli")

SMALL = ["model.n_agents=300", "model.horizon=8", "model.burn_in=2"]
RUN_ARGS = ["seed=3", *SMALL]
TIMEOUT = 180


def _script() -> list[str]:
    exe = shutil.which("s3sim", path=str(Path(sys.executable).parent))
    if exe is None:  # pragma: no cover - installed without the console script
        return [sys.executable, "-m", "s3sim.runner.cli"]
    return [exe]


MODULE = [sys.executable, "-m", "s3sim.runner.cli"]


def run_cli(args: list[str], cwd: Path, *, entry: list[str] | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", NUMBA_NUM_THREADS="1", HYDRA_FULL_ERROR="0")
    return subprocess.run([*(entry or _script()), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT)


def snapshot(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, tuple[Path, subprocess.CompletedProcess]]:
    """The same small run twice, in separate processes: once by the console script, once by ``python -m``."""
    out = {}
    for label, entry in (("script", _script()), ("module", MODULE)):
        cwd = tmp_path_factory.mktemp(f"cli_{label}")
        run_dir = cwd / "run"
        proc = run_cli([*RUN_ARGS, f"hydra.run.dir={run_dir}"], cwd, entry=entry)
        out[label] = (run_dir, proc)
    return out


def test_console_script_is_installed():
    exe = shutil.which("s3sim", path=str(Path(sys.executable).parent))
    assert exe is not None, "the s3sim console script is not installed next to the interpreter"


@pytest.mark.parametrize("label", ["script", "module"])
def test_run_exits_zero_and_writes_the_store(runs, label):
    run_dir, proc = runs[label]
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    for name in TABLES:
        assert (run_dir / f"{name}.parquet").is_file(), name
    assert (run_dir / MANIFEST).is_file()
    assert str(run_dir) in proc.stdout


@pytest.mark.parametrize("label", ["script", "module"])
def test_manifest_records_seed_and_overrides(runs, label):
    run_dir, proc = runs[label]
    assert proc.returncode == 0, proc.stderr
    m = json.loads((run_dir / MANIFEST).read_text())
    assert m["status"] == "completed"
    assert m["seed"] == 3
    assert m["overrides"] == RUN_ARGS  # hydra.* overrides are not task overrides
    assert m["config"]["seed"] == 3
    assert m["config"]["model"]["n_agents"] == 300
    assert m["config"]["model"]["horizon"] == 8 and m["config"]["model"]["burn_in"] == 2
    assert m["steps"] == 10
    assert Path(m["output_dir"]) == run_dir
    assert m["timings"]["total_seconds"] >= m["timings"]["run_seconds"] >= 0
    assert m["versions"]["s3sim"] == s3sim.__version__
    assert "revision" in m["git"]
    # the manifest's config is the composed config for the same overrides
    assert m["config"] == OmegaConf.to_container(s3sim.compose(RUN_ARGS), resolve=True)


def test_load_result_reads_cli_run(runs):
    run_dir, proc = runs["script"]
    assert proc.returncode == 0, proc.stderr
    res = s3sim.load_result(run_dir)
    assert res.seed == 3
    assert res.timeseries["step"].max() == 10
    assert len(res.firms) == res.indicator("firms").iloc[-1]


def test_cli_runs_are_reproducible_across_processes(runs):
    (a_dir, a), (b_dir, b) = runs["script"], runs["module"]
    assert a.returncode == 0 and b.returncode == 0, (a.stderr, b.stderr)
    ra, rb = s3sim.load_result(a_dir), s3sim.load_result(b_dir)
    for name in TABLES:
        assert_frame_equal(getattr(ra, name), getattr(rb, name), check_exact=True)
    assert ra.outcomes() == rb.outcomes()


def test_cli_run_matches_in_process_simulate(runs):
    run_dir, proc = runs["script"]
    assert proc.returncode == 0, proc.stderr
    stored = s3sim.load_result(run_dir)
    here = s3sim.simulate(s3sim.compose(RUN_ARGS))
    for name in TABLES:
        assert_frame_equal(getattr(stored, name), getattr(here, name), check_exact=True)


BAD = [
    ("model.foo=1", "model.foo"),
    ("foo=1", "foo"),
    ("model.n_agents=abc", "model.n_agents"),
    ("model.partnering=maybe", "model.partnering"),
    ("model.n_agents=-5", "model.n_agents"),
    ("model.a0=2", "model.a0"),
    ("model.a0=nan", "model.a0"),  # nan passes every comparison: refused as not finite
    ("policy.budget_per_firm=inf", "policy.budget_per_firm"),
    ("policy.pilots=AT_UA:automotive_mobility", "policy.pilots"),  # a list without its brackets
    ("seed=-1", "seed"),
    ("world=mars", "world"),
    ("model.ih_len_max=1", "model.ih_len_max"),
    ("sensitivity=morris", "sensitivity"),  # a group of s3sim-stress
]


@pytest.mark.parametrize("override", ["~policy.regions", "~model.n_agents", "~policy.regions.XX_YY"])
def test_deleting_a_config_field_exits_2_with_one_line(tmp_path, override):
    run_dir = tmp_path / "run"
    proc = run_cli([*SMALL, override, f"hydra.run.dir={run_dir}"], tmp_path)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"s3sim: error: {override}"), proc.stderr
    assert "is not allowed" in lines[0] and "Traceback" not in proc.stderr
    assert not run_dir.exists()


def test_a_missing_pilot_cluster_is_a_one_line_error_and_writes_nothing(tmp_path):
    run_dir = tmp_path / "run"
    proc = run_cli([*SMALL, "policy.pilots=[AT_UA:no_such_domain]", f"hydra.run.dir={run_dir}"], tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "AT_UA:no_such_domain" in proc.stderr
    assert not run_dir.exists()


def test_a_deletion_applies_in_command_line_order(tmp_path):
    run_dir = tmp_path / "run"
    proc = run_cli([*SMALL, "policy.regions.IT_VE=horizontal", "~policy.regions.IT_VE", f"hydra.run.dir={run_dir}"],
                   tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert s3sim.load_result(run_dir).manifest["config"]["policy"]["regions"] == {}


@pytest.mark.parametrize("override,field", BAD, ids=[b[0] for b in BAD])
def test_bad_override_exits_2_with_one_line(tmp_path, override, field):
    run_dir = tmp_path / "run"
    proc = run_cli([*SMALL, override, f"hydra.run.dir={run_dir}"], tmp_path)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    line = lines[0]
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    assert f"{field}=" in line
    assert override.split("=", 1)[1] in line
    assert "is not allowed" in line
    assert not run_dir.exists()  # nothing written
    assert not (tmp_path / "outputs").exists()


@pytest.mark.parametrize("multirun", [False, True])
def test_a_file_as_the_output_directory_is_a_one_line_error(tmp_path, multirun):
    # Hydra makes the directory before the task starts: a file there (or above) was a FileExistsError traceback
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    for where in (afile, afile / "sub") if not multirun else (afile / "sub",):  # (the same check for both keys)
        proc = run_cli([*(["-m", "seed=1,2"] if multirun else []), *SMALL, f"{key}={where}"], tmp_path)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        line, = proc.stderr.strip().splitlines()
        assert line.startswith(f"s3sim: error: {key}=") and "a directory, or a path where one can be created" in line
    assert afile.read_text() == "keep me"


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc, where nothing can be created")
@pytest.mark.parametrize("args,key", [(["hydra.run.dir=/proc/s3sim_x"], "hydra.run.dir"),
                                      (["output.dir=/proc/s3sim_y"], "output.dir")])
def test_a_directory_that_cannot_be_made_is_refused_before_the_run(tmp_path, args, key):
    run_dir = tmp_path / "run"
    proc = run_cli([*SMALL, *args, *([] if key == "hydra.run.dir" else [f"hydra.run.dir={run_dir}"])], tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    line, = proc.stderr.strip().splitlines()
    assert line.startswith(f"s3sim: error: {key}=") and "a path where one can be created" in line
    assert not run_dir.exists()  # refused before anything was made


def test_existing_run_dir_is_refused_and_untouched(runs, tmp_path):
    src, proc = runs["script"]
    assert proc.returncode == 0, proc.stderr
    run_dir = tmp_path / "existing"
    shutil.copytree(src, run_dir)
    before = snapshot(run_dir)
    assert ".hydra/config.yaml" in before
    proc = run_cli(["seed=4", *SMALL, f"hydra.run.dir={run_dir}"], tmp_path)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert str(run_dir) in lines[0] and "Traceback" not in proc.stderr
    assert snapshot(run_dir) == before  # including Hydra's .hydra/ files and the log
    assert s3sim.load_result(run_dir).seed == 3


def test_existing_run_dir_relative_path(runs, tmp_path):
    src, proc = runs["script"]
    assert proc.returncode == 0, proc.stderr
    shutil.copytree(src, tmp_path / "rel")
    before = snapshot(tmp_path / "rel")
    proc = run_cli(["seed=4", *SMALL, "hydra.run.dir=rel"], tmp_path)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert snapshot(tmp_path / "rel") == before


def test_cfg_job_prints_the_composed_config(tmp_path):
    overrides = ["world=synthetic", "world.n_regions=20", "seed=7", "model.a0=0.3"]
    proc = run_cli(["--cfg", "job", *overrides], tmp_path)
    assert proc.returncode == 0, proc.stderr
    printed = yaml.safe_load(proc.stdout)
    assert printed == OmegaConf.to_container(s3sim.compose(overrides), resolve=True)
    assert printed["world"]["kind"] == "synthetic" and printed["world"]["n_regions"] == 20
    assert not (tmp_path / "outputs").exists()  # printing the config runs nothing


def test_cfg_job_defaults(tmp_path):
    proc = run_cli(["--cfg", "job"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert yaml.safe_load(proc.stdout) == OmegaConf.to_container(s3sim.compose([]), resolve=True)


def test_cfg_job_with_bad_override_exits_2(tmp_path):
    proc = run_cli(["--cfg", "job", "model.n_agents=abc"], tmp_path)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "model.n_agents" in proc.stderr


def test_cfg_job_into_existing_run_dir_only_prints(runs, tmp_path):
    src, proc = runs["script"]
    assert proc.returncode == 0, proc.stderr
    run_dir = tmp_path / "existing"
    shutil.copytree(src, run_dir)
    before = snapshot(run_dir)
    proc = run_cli(["--cfg", "job", "seed=9", f"hydra.run.dir={run_dir}"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert yaml.safe_load(proc.stdout)["seed"] == 9
    assert snapshot(run_dir) == before


def _help_groups(text: str) -> dict[str, list[str]]:
    """The ``group: options`` lines under "Config groups" of an app's --help."""
    block = text.split("Config groups (group=option):", 1)[1].split("\n\n", 1)[0]
    return {k.strip(): [o.strip() for o in v.split(",")] for k, _, v in
            (line.partition(":") for line in block.strip().splitlines())}


def test_help_lists_only_this_apps_groups(tmp_path):
    from s3sim.config import group_options

    proc = run_cli(["--help"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("s3sim: ")
    groups = _help_groups(proc.stdout)
    assert set(groups) == {"world", "policy", "hydra/launcher"}  # not s3sim-stress's groups
    assert groups["world"] == ["alpine", "synthetic"] and {"none", "cluster_s3", "as_applied"} <= set(groups["policy"])
    assert groups["policy"] == group_options("policy")  # every preset, as in conf/policy
    assert "n_agents: 2000" in proc.stdout  # the composed config follows
    stress = shutil.which("s3sim-stress", path=str(Path(sys.executable).parent))
    proc = run_cli(["--help", "sensitivity=morris"], tmp_path, entry=[stress])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("s3sim-stress: ")
    groups = _help_groups(proc.stdout)
    assert set(groups) == {"sensitivity", "target", "executor"}
    assert {"morris", "sobol", "fast", "delta"} <= set(groups["sensitivity"]) and groups["target"] == ["ishigami", "s3"]
    assert groups["executor"] == ["dask", "local", "serial"]
    assert "method: morris" in proc.stdout  # the config composed with the override


@pytest.mark.parametrize("overrides, head, words", [
    (["+seed=3"], "+seed='3' is not allowed", "seed=... without the +"),
    (["+model.n_agents=500"], "+model.n_agents='500' is not allowed", "model.n_agents=... without the +"),
    # the deletion is blamed, not the preset whose name is a prefix of its key, in either order
    (["~policy.regions.XX_YY", "policy=as_applied"], "~policy.regions.XX_YY is not allowed", "does not exist"),
    (["policy=as_applied", "~policy.regions.XX_YY"], "~policy.regions.XX_YY is not allowed", "does not exist"),
    # deleting a group's choice would fall back to the schema's defaults unseen (policy=cluster_s3 ~policy: none)
    (["policy=cluster_s3", "~policy"], "~policy is not allowed", "policy=<option>, one of as_applied, cluster_s3"),
    (["~world"], "~world is not allowed", "world=<option>, one of alpine, synthetic"),
])
def test_composition_errors_name_the_failing_override_as_given(overrides, head, words):
    with pytest.raises(s3sim.errors.ConfigError) as exc:
        s3sim.compose(overrides)
    assert str(exc.value).startswith(head) and words in str(exc.value), str(exc.value)


def test_a_region_a_preset_sets_can_be_overridden():
    for spelling in ("policy.regions.AT_UA=none", "+policy.regions.AT_UA=none", "++policy.regions.AT_UA=none"):
        cfg = s3sim.compose(["policy=as_applied", spelling])
        assert cfg.policy.regions["AT_UA"] == "none" and cfg.policy.regions["CH_FR"] == "horizontal"
    cfg = s3sim.compose(["policy=as_applied", "policy.regions.AT_UA=topdown_s3", "policy.regions.AT_UA.subsidy_rate=0.3"])
    assert dict(cfg.policy.regions["AT_UA"]) == {"regime": "topdown_s3", "subsidy_rate": 0.3}
    # the whole mapping at once (Hydra alone: "Could not override 'policy.regions'"), on top of the preset's regions
    cfg = s3sim.compose(["policy=as_applied", "policy.regions={AT_UA: none, IT_VE: cluster_s3}"])
    assert cfg.policy.regions["AT_UA"] == "none" and cfg.policy.regions["IT_VE"] == "cluster_s3"
    assert cfg.policy.regions["CH_FR"] == "horizontal"


def _interrupt_when(args: list[str], cwd: Path, ready, delay: float = 0.5) -> subprocess.CompletedProcess:
    """Start ``s3sim args``, send SIGINT ``delay`` seconds after ``ready()`` holds, and return the finished
    process."""
    import signal
    import time

    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", NUMBA_NUM_THREADS="1", HYDRA_FULL_ERROR="0")
    proc = subprocess.Popen([*_script(), *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline and proc.poll() is None and not ready():
        time.sleep(0.05)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=TIMEOUT)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_ctrl_c_during_a_run_is_one_line_and_stores_nothing(tmp_path):
    run_dir = tmp_path / "run"
    # the run (thousands of quarters) is well under way 2 s after Hydra has made its directory
    proc = _interrupt_when(["model.n_agents=3000", "model.horizon=4000", f"hydra.run.dir={run_dir}"], tmp_path,
                           lambda: (run_dir / ".hydra").is_dir(), delay=2.0)
    assert proc.returncode == 130, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.strip().splitlines()[-1] == (
        f"s3sim: interrupted; no run was stored in {run_dir} (run the command again)")
    assert not (run_dir / "manifest.json").exists()


def test_ctrl_c_during_a_sweep_keeps_completed_runs_and_prints_the_resume_command(tmp_path):
    sweep = tmp_path / "sweep"
    args = ["-m", "replicate=range(8)", "model.n_agents=1000", "model.horizon=400", "hydra/launcher=basic",
            f"hydra.sweep.dir={sweep}"]
    proc = _interrupt_when(args, tmp_path, lambda: (sweep / "0" / "manifest.json").exists())
    assert proc.returncode == 130, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "Traceback" not in proc.stderr and last.startswith("s3sim: interrupted; ")
    kept = int(last.split("; ")[1].split(" of ")[0])
    assert 1 <= kept < 8 and last.endswith(f"Resume with: s3sim -m 'replicate=range(8)' model.n_agents=1000 "
                                          f"model.horizon=400 hydra/launcher=basic hydra.sweep.dir={sweep}")
    assert len(list(sweep.glob("*/manifest.json"))) == kept
    # the job in hand is recorded as interrupted (re-run on resume), not as a failure of the run
    from s3sim.runner.sweep import job_status

    statuses = [job_status(d)["status"] for d in sweep.iterdir() if d.is_dir() and d.name.isdigit()]
    assert "failed" not in statuses and statuses.count("interrupted") == 1, statuses
    assert "failed" not in proc.stdout + proc.stderr
