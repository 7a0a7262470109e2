"""The policy layer from the ``s3sim`` command line, through real subprocesses.

All commands run once, concurrently (three at a time), in a module fixture; each test then reads its result.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from pandas.testing import assert_frame_equal

import s3sim
from s3sim.runner.result import MANIFEST

# pytest-xdist (`make test`: --dist loadgroup) runs the whole module on one worker, so
# its runs from the shell are made once
pytestmark = pytest.mark.xdist_group("policy_cli")

SMALL = ["model.n_agents=800", "model.burn_in=8", "model.horizon=16", "model.materialize_agents=false"]
TIMEOUT = 180
REGIMES = ("none", "horizontal", "topdown_s3", "cluster_s3", "transregional_s3")


def _script() -> list[str]:
    exe = shutil.which("s3sim", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "s3sim.runner.cli"]


def _at_ua_domains() -> tuple[str, str]:
    """A focal domain of an AT_UA cluster organisation, and a domain AT_UA has none for (same world and seed)."""
    probe = s3sim.S3Model(s3sim.compose(SMALL + ["policy=topdown_s3"]), seed=0)
    cl, names = probe.clusters, probe.world.domains.names
    ua = probe.world.regions.ids.index("AT_UA")
    cos = np.flatnonzero(cl.region == ua)
    have = [names[cl.domain[c]] for c in cos]
    return have[int(np.argmax(cl.members[cos]))], next(n for n in names if n not in have)


FOCAL, MISSING = _at_ua_domains()

GOOD = {
    "per_region": ["policy=cluster_s3", "policy.regions.IT_VE=topdown_s3"],
    "per_region_plus": ["policy=cluster_s3", "+policy.regions.IT_VE=topdown_s3"],  # Hydra's own spelling
    "per_region_dict": ["policy=cluster_s3", "policy.regions.AT_UA={regime:horizontal,subsidy_rate:0.3}"],
    "pilot": ["policy=pilot"],
    "named_pilot": ["policy=topdown_s3", f"policy.pilots=[AT_UA:{FOCAL}]"],
}
BAD = {
    "unknown_group_option": (["policy=foo"], "policy='foo'", ("cluster_s3", "transregional_s3", "pilot")),
    "unknown_regime": (["policy.regime=foo"], "policy.regime='foo'", REGIMES),
    "unknown_region_regime": (["policy.regions.IT_VE=foo"], "policy.regions.IT_VE='foo'", REGIMES),
    "unknown_region": (["policy.regions.XX=none"], "policy.regions.XX='none'", ("IT_VE", "AT_UA", "SI")),
    "negative_budget": (["policy.budget_per_firm=-1"], "policy.budget_per_firm=-1.0", ("[0.0, inf]",)),
    "missing_pilot": (["policy=topdown_s3", f"policy.pilots=[AT_UA:{MISSING}]"], f"policy.pilots='AT_UA:{MISSING}'",
                      (f"AT_UA:{FOCAL}", "auto")),
}


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", NUMBA_NUM_THREADS="1", HYDRA_FULL_ERROR="0")
    return subprocess.run([*_script(), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT)


@pytest.fixture(scope="module")
def cli(tmp_path_factory) -> dict[str, tuple[Path, subprocess.CompletedProcess]]:
    root = tmp_path_factory.mktemp("policy_cli")
    jobs = {}
    for label, overrides in GOOD.items():
        jobs[label] = ["seed=0", *SMALL, *overrides]
    for label, (overrides, _, _) in BAD.items():
        jobs[label] = ["seed=0", *SMALL, *overrides]
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {label: pool.submit(_run, [*args, f"hydra.run.dir={root / label}"], root)
                   for label, args in jobs.items()}
        return {label: (root / label, f.result()) for label, f in futures.items()}


@pytest.mark.parametrize("label", list(GOOD))
def test_policy_runs_from_the_cli(cli, label):
    run_dir, proc = cli[label]
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    manifest = json.loads((run_dir / MANIFEST).read_text())
    assert manifest["status"] == "completed"
    result = s3sim.load_result(run_dir)
    ts = result.timeseries
    budget = ts[(ts["indicator"] == "policy_budget") & (ts["region"] == "ALL")]
    assert len(budget) == 16 and (budget["value"] > 0).all()


@pytest.mark.parametrize("label", ["per_region", "per_region_plus", "per_region_dict", "named_pilot"])
def test_cli_run_equals_the_same_overrides_in_python(cli, label):
    run_dir, proc = cli[label]
    assert proc.returncode == 0, proc.stderr
    ref = s3sim.simulate(s3sim.compose(["seed=0", *SMALL, *GOOD[label]]), seed=0)
    got = s3sim.load_result(run_dir)
    assert_frame_equal(got.timeseries, ref.timeseries, check_categorical=False)


def test_cli_per_region_regime_takes_effect(cli):
    run_dir, proc = cli["per_region"]
    assert proc.returncode == 0, proc.stderr
    ts = s3sim.load_result(run_dir).timeseries
    subs = ts[ts["indicator"] == "spent_subsidies"].groupby("region", observed=True)["value"].sum()
    assert subs["IT_VE"] > 0
    assert subs.drop(["IT_VE", "ALL"]).eq(0).all()


@pytest.mark.parametrize("label", list(BAD))
def test_bad_policy_config_exits_2_with_one_line(cli, label):
    _, proc = cli[label]
    _, head, allowed = BAD[label]
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"s3sim: error: {head} is not allowed: "), lines[0]
    for word in allowed:
        assert word in lines[0], (word, lines[0])
