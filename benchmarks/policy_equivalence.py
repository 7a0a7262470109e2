"""Bit-for-bit equivalence check of the S3 policy engine across refactorings.

Runs every funded regime (and pilot / mixed-region set-ups) for several seeds at a small and at the default size
and stores every table of the run (timeseries, panel, firms, innovations) plus ``manifest["ledger"]`` and the
policy set-up. ``check`` reruns the same cases and compares them exactly.

    .venv/bin/python benchmarks/policy_equivalence.py save  /tmp/s3sim_policy_ref
    .venv/bin/python benchmarks/policy_equivalence.py check /tmp/s3sim_policy_ref
    .venv/bin/python benchmarks/policy_equivalence.py time  [--repeats 5]     # interleaved evaluate() timings

``--quick`` restricts save/check to the small size (the default size is the slow part).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import pickle
import statistics
import sys
import time
from pathlib import Path

for _v in ("OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import pandas as pd

from s3sim.runner import config_from_params, simulate

REGIMES = ("horizontal", "topdown_s3", "cluster_s3", "transregional_s3")
TABLES = ("timeseries", "panel", "firms", "innovations")


def _cases(quick: bool):
    """(name, config, seed) for every compared run."""
    out = []
    small = {"n_agents": 400, "materialize_agents": False}
    for regime in REGIMES:
        for seed in (1, 2, 3, 4):
            out.append((f"small-{regime}-s{seed}", config_from_params(policy_regime=regime, **small), seed))
    # pilots ("auto": one per region) under the default pilot regime (transregional_s3) and under cluster_s3,
    # with the rest of the region under several regimes
    for base in ("none", "horizontal", "cluster_s3", "transregional_s3"):
        for seed in (1, 2):
            cfg = config_from_params(policy_regime=base, **small)
            cfg = dataclasses.replace(cfg, policy=dataclasses.replace(cfg.policy, pilots=["auto"]))
            out.append((f"small-pilot-{base}-s{seed}", cfg, seed))
    for seed in (1, 2):
        cfg = config_from_params(policy_regime="cluster_s3", policy_pilot_regime="cluster_s3", **small)
        cfg = dataclasses.replace(cfg, policy=dataclasses.replace(cfg.policy, pilots=["auto"]))
        out.append((f"small-pilot-cl-cl-s{seed}", cfg, seed))
    # variants exercising other code paths: short call period, big consortia, stated priorities, small world
    variants = {
        "calls2-size6": {"policy_call_period": 2, "policy_project_size": 6, "policy_project_duration": 4},
        "stated": {"policy_use_stated_priorities": True, "policy_max_changes": 2, "policy_theta_exit": 0.9},
        "joint-cheap": {"policy_phi_min": 0.1, "policy_transregional_share": 0.5, "policy_joint_cost_factor": 0.0},
        "nobudget": {"policy_budget_per_firm": 0.0},
    }
    for vname, vparams in variants.items():
        for regime in ("topdown_s3", "cluster_s3", "transregional_s3"):
            cfg = config_from_params(policy_regime=regime, **small, **vparams)
            out.append((f"small-{vname}-{regime}-s5", cfg, 5))
    # a mixed map: some regions under their own regime
    for seed in (1, 2):
        cfg = config_from_params(policy_regime="transregional_s3", **small)
        ids = _region_ids(cfg, seed)
        regions = {rid: reg for rid, reg in zip(ids, ("cluster_s3", "topdown_s3", "horizontal", "none"))}
        cfg = dataclasses.replace(cfg, policy=dataclasses.replace(cfg.policy, regions=regions))
        out.append((f"small-mixed-s{seed}", cfg, seed))
    if not quick:
        for regime in REGIMES:
            for seed in (1, 2):
                out.append((f"default-{regime}-s{seed}",
                            config_from_params(policy_regime=regime, materialize_agents=False), seed))
        cfg = config_from_params(policy_regime="cluster_s3", materialize_agents=False)
        cfg = dataclasses.replace(cfg, policy=dataclasses.replace(cfg.policy, pilots=["auto"]))
        out.append(("default-pilot-cluster_s3-s1", cfg, 1))
    return out


def _region_ids(cfg, seed):
    res = simulate(config_from_params(policy_regime="none", n_agents=400, burn_in=1, horizon=1,
                                      materialize_agents=False), seed=seed)
    return [r["id"] for r in res.manifest["regions"]]


def _run(cfg, seed):
    res = simulate(cfg, seed=seed)
    out = {k: getattr(res, k) for k in TABLES}
    out["ledger"] = dict(res.manifest["ledger"])
    out["policy_setup"] = res.manifest["policy_setup"]
    return out


def save(directory: Path, quick: bool) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, cfg, seed in _cases(quick):
        with open(directory / f"{name}.pkl", "wb") as fh:
            pickle.dump(_run(cfg, seed), fh)
        print("saved", name, flush=True)


def check(directory: Path, quick: bool) -> int:
    failed = 0
    for name, cfg, seed in _cases(quick):
        path = directory / f"{name}.pkl"
        if not path.exists():
            print("MISSING", name)
            failed += 1
            continue
        with open(path, "rb") as fh:
            ref = pickle.load(fh)
        got = _run(cfg, seed)
        problems = []
        for k in TABLES:
            try:
                pd.testing.assert_frame_equal(got[k], ref[k], check_exact=True)
            except AssertionError as exc:
                problems.append(f"{k}: {str(exc).splitlines()[0:3]}")
        for k in ("ledger", "policy_setup"):
            if got[k] != ref[k]:
                problems.append(f"{k}: {got[k]} != {ref[k]}")
        if problems:
            failed += 1
            print("DIFF", name, *problems, sep="\n  ", flush=True)
        else:
            print("same", name, flush=True)
    print("ALL IDENTICAL" if not failed else f"{failed} CASES DIFFER")
    return 1 if failed else 0


def time_regimes(repeats: int, regimes) -> None:
    from s3sim.runner import evaluate

    for r in regimes:  # warm-up (numba cache, imports)
        evaluate(seed=1, policy=r)
    times = {r: [] for r in regimes}
    for _ in range(repeats):
        for r in regimes:
            t0 = time.perf_counter()
            evaluate(seed=1, policy=r)
            times[r].append(time.perf_counter() - t0)
    for r in regimes:
        ts = times[r]
        print(f"{r:18s} median {statistics.median(ts):.3f} s  best {min(ts):.3f} s  "
              f"({' '.join(f'{x:.3f}' for x in ts)})")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=("save", "check", "time"))
    ap.add_argument("directory", nargs="?", default="/tmp/s3sim_policy_ref")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--regimes", default="none,horizontal,topdown_s3,cluster_s3,transregional_s3")
    args = ap.parse_args(argv)
    if args.action == "save":
        save(Path(args.directory), args.quick)
        return 0
    if args.action == "check":
        return check(Path(args.directory), args.quick)
    time_regimes(args.repeats, args.regimes.split(","))
    return 0


if __name__ == "__main__":
    sys.exit(main())
