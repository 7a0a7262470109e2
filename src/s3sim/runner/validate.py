"""The ``s3sim-validate`` command: run the default model over several seeds and check the stylised facts of
model-spec section 3 (see :mod:`s3sim.analysis.validation` and docs/validation.md).

    s3sim-validate                              # 10 seeds, default size, all cores
    s3sim-validate --seeds 20 --workers 2 --out outputs/validation/full
    s3sim-validate --quick                      # tiny sizes, 3 seeds (a smoke test)

Each seed ``i`` is replicate ``i`` of ``--base-seed`` (streams spawned from one SeedSequence) and runs twice,
under ``none`` (the default model, used for every fact) and ``cluster_s3`` (for F16), in one job: the burn-in
is run once and both regimes continue from copies of it (:meth:`S3Model.fork`, bit-identical to separate runs,
so they share the burn-in and every random stream). The command lives in the runner because it runs the model; it also records what the
stored tables do not hold: yearly firm snapshots (``firm_years``: capital, revenue and cumulative innovations of
every firm, F2 and F16), the final collaboration network (``network_edges``, F4) and the priority cells at the
first policy step (``targeted``, F16). Everything else is computed from the stored runs by the analysis layer.

Writes ``OUT/runs/<regime>/<seed>/`` (stored runs), ``validation.csv``, ``validation.md``, ``validation.json``
and ``figures/<fact>.png``, and prints the table. ``OUT`` must be a new or empty directory; everything is built in
a hidden sibling (``.<name>.<pid>.partial``) and renamed onto it when complete, so an error, Ctrl-C or a killed
process never leaves a half-written ``OUT``. Exit status 0 whether or not facts pass (a failing fact is a
result); 2 for a user error, before any run; 130 after Ctrl-C.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..config import PARAMETERS
from ..errors import ConfigError, S3SimError
from ..files import atomic_json, atomic_table
from .cli import fail
from .executors import make_executor

REGIMES = ("none", "cluster_s3")
QUICK = {"n_agents": 400, "burn_in": 8, "horizon": 24, "seeds": 3}
#: parameters that ``--set`` refuses because they cannot change a validation run: the command sets the regime and
#: headless models itself, pilot clusters (``pilot_regime``) cannot be named, and the rest are read only by the
#: regimes it does not run (``topdown_s3``'s selection, ``transregional_s3``'s joint pool and calls)
NO_EFFECT = ("policy_regime", "materialize_agents", "policy_pilot_regime", "policy_review_period",
             "policy_use_stated_priorities", "policy_sigma_sel", "policy_transregional_share", "policy_phi_min",
             "policy_joint_cost_factor")


def record_runs(params: dict[str, Any], seed: int, replicate: int, regimes: Sequence[str],
                outs: Sequence[str]) -> list[str]:
    """Run one seed under each of ``regimes`` and store each run (RunResult tables plus the extra tables) in the
    matching directory of ``outs``. The regimes share one burn-in (:meth:`S3Model.fork`, bit-identical to
    separate runs), so a seed's runs cost one burn-in less per extra regime."""
    from .. import policy  # noqa: F401  (registers the policy factory)
    from ..model import S3Model
    from .simulate import config_from_params

    t0 = time.perf_counter()
    cfgs = [config_from_params(**{**params, "materialize_agents": False, "policy_regime": regime})
            for regime in regimes]
    models = S3Model.through_burn_in(cfgs, seed, replicate)
    first = _snapshot(models[-1])  # the end of the shared burn-in: year 0 of every regime
    shared = time.perf_counter() - t0
    return [_finish_run(model, cfg, regime, first, out, shared)
            for model, cfg, regime, out in zip(models, cfgs, regimes, outs)]


def _snapshot(model, year: int = 0) -> pd.DataFrame:
    """Capital, revenue and cumulative innovations of every firm (alive or not) at the end of ``year``."""
    from ..model.state import RI

    a, w = model.actors, model.world
    rows = np.flatnonzero(a.kind[: a.n] != RI)
    return pd.DataFrame({
        "firm_id": rows.astype(np.int64), "year": year, "alive": a.alive[rows].copy(),
        "region": np.asarray(w.regions.ids, dtype=object)[a.region[rows]],
        "domain": np.asarray(w.domains.names, dtype=object)[a.product_domain[rows]],
        "capital": a.capital[rows].copy(), "revenue": a.revenue[rows].copy(),
        "innovations": a.innovations[rows].astype(np.int64)})


def _finish_run(model, cfg, regime: str, first: pd.DataFrame, out: str, shared_seconds: float) -> str:
    """Run ``model`` from the end of the burn-in to the horizon, snapshotting every year, and store it."""
    from omegaconf import OmegaConf

    from ..model.network import edge_list
    from .result import RunResult
    from .simulate import _region_table

    t0 = time.perf_counter()
    p = cfg.model
    w = model.world
    total = p.burn_in + p.horizon
    snaps = [first]
    targeted = None
    year = 0
    while model.steps < total:
        step = min(4, total - model.steps)
        if year == 0 and regime != "none":
            model.run(1)  # the priorities of the first policy step define the targeted cells
            pri = model.regions.priority
            r, d = np.nonzero(pri)
            targeted = pd.DataFrame({"region": np.asarray(w.regions.ids, dtype=object)[r],
                                     "domain": np.asarray(w.domains.names, dtype=object)[d]})
            step -= 1
        model.run(step)
        year += 1
        snaps.append(_snapshot(model, year))
    a = model.actors
    edges = edge_list(a.alive, a.tie_partner, a.tie_step, int(model.steps), p.tie_memory, a.n)
    tables = model.tables()
    manifest = {
        "status": "completed", "seed": model.seed, "replicate": model.replicate, "regime": regime,
        "regions": _region_table(w), "burn_in": int(p.burn_in), "steps": int(model.steps),
        "config": OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True),
        "policy": None if model.policy is None else getattr(model.policy, "name", type(model.policy).__name__),
        "policy_setup": model.policy.describe(model) if hasattr(model.policy, "describe") else None,
        # the shared burn-in (and set-up) once per regime, as a separate run would spend it
        "timings": {"run_seconds": shared_seconds + time.perf_counter() - t0,
                    "shared_burn_in_seconds": shared_seconds},
    }
    d = Path(out)
    d.mkdir(parents=True, exist_ok=True)
    atomic_table(pd.concat(snaps, ignore_index=True), d / "firm_years.parquet")
    atomic_table(pd.DataFrame({"a": edges[:, 0], "b": edges[:, 1]}), d / "network_edges.parquet")
    if targeted is not None:
        atomic_table(targeted, d / "targeted.parquet")
    RunResult(manifest=manifest, **tables).save(d, overwrite=True)
    return str(d)


def _share_burn_in(seeds: int, workers: int, burn_in: int, horizon: int) -> bool:
    """Whether one job per seed (both regimes from one burn-in: less CPU) finishes no later than one job per run
    on ``workers`` workers, counting model steps."""
    k = len(REGIMES)
    return -(-seeds // workers) * (burn_in + k * horizon) <= -(-(k * seeds) // workers) * (burn_in + horizon)


def _job(args: tuple) -> list[str]:
    return record_runs(*args)


def run_validation(out: str | Path, seeds: int, base_seed: int = 0, workers: int = 1, progress: bool = True,
                   **params: Any) -> Path:
    """Run ``seeds`` replicates of the default model under ``none`` and ``cluster_s3`` into ``out/runs``."""
    from .simulate import config_from_params

    p = config_from_params(**params).model  # a bad parameter fails here, once, before any process starts
    out = Path(out)

    def where(i: int, regime: str) -> str:
        return str(out / "runs" / regime / f"{i:03d}")

    if _share_burn_in(seeds, workers, p.burn_in, p.horizon):
        jobs = [(params, base_seed, i, REGIMES, [where(i, g) for g in REGIMES]) for i in range(seeds)]
    else:  # more workers than seeds: separate runs finish sooner (the same results)
        jobs = [(params, base_seed, i, (g,), [where(i, g)]) for i in range(seeds) for g in REGIMES]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=seeds * len(REGIMES), desc="s3sim-validate", unit="run", delay=2, file=sys.stderr)
    with make_executor("local", workers=workers) if workers > 1 else make_executor("serial") as ex:
        for _, paths in ex.map_unordered(_job, jobs):  # (job index, the job's stored runs)
            if bar:
                bar.update(len(paths))
    if bar:
        bar.close()
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="s3sim-validate", description="Run the default model over several seeds and check the stylised facts "
        "of model-spec section 3 (firm-size tail, growth volatility, skewed returns, small world, localised "
        "spillovers, relatedness-driven entry and exit, regional concentration, cluster-policy effect).")
    parser.add_argument("--seeds", type=int, default=None, help="replicates (default 10; 3 with --quick)")
    parser.add_argument("--base-seed", type=int, default=0, help="seed the replicates are spawned from (default 0)")
    parser.add_argument("--agents", type=int, default=None, help="agents per run (default: the model default)")
    parser.add_argument("--burn-in", type=int, default=None, help="burn-in quarters (default: the model default)")
    parser.add_argument("--horizon", type=int, default=None, help="horizon quarters (default: the model default)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="override a parameter of s3sim.PARAMETERS (repeatable), e.g. --set sigma_v=2.0")
    parser.add_argument("--out", default=None, help="output directory (default outputs/validation/<date>_<time>)")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (400 agents, 8 + 24 quarters, 3 seeds)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    argv_used = sys.argv[1:] if argv is None else list(argv)
    try:
        seeds = args.seeds if args.seeds is not None else (QUICK["seeds"] if args.quick else 10)
        if seeds < 1:
            raise ConfigError("--seeds", seeds, "a positive number of replicates")
        workers = args.workers if args.workers is not None else (os.cpu_count() or 1)
        if workers < 1:
            raise ConfigError("--workers", workers, "a positive number of processes")
        if args.base_seed < 0:
            raise ConfigError("--base-seed", args.base_seed, "a non-negative integer")
        params: dict[str, Any] = {}
        if args.quick:
            params.update(n_agents=QUICK["n_agents"], burn_in=QUICK["burn_in"], horizon=QUICK["horizon"])
        for name, value in (("n_agents", args.agents), ("burn_in", args.burn_in), ("horizon", args.horizon)):
            if value is not None:
                params[name] = value
        for item in args.set:
            name, eq, raw = item.partition("=")
            if not eq:
                raise ConfigError("--set", item, "NAME=VALUE with NAME from s3sim.PARAMETERS")
            name, value = name.strip(), _parse_value(raw.strip())
            if name not in PARAMETERS or name in NO_EFFECT:
                allowed = ", ".join(n for n in PARAMETERS if n not in NO_EFFECT)
                why = (f"it has no effect here (s3sim-validate runs {' and '.join(REGIMES)} itself); "
                       if name in NO_EFFECT else "")
                raise ConfigError(f"--set {name}", value, f"{why}a parameter of s3sim.PARAMETERS the validation "
                                  f"runs use: {allowed}")
            params[name] = value
        out = Path(args.out) if args.out else Path("outputs/validation") / datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
        from .simulate import config_from_params

        config_from_params(**params)  # a bad parameter fails before anything is written
        build, target = _start_build(out)
    except S3SimError as exc:
        fail(str(exc), "s3sim-validate")
    command = "s3sim-validate " + " ".join(argv_used)
    try:
        t0 = time.perf_counter()
        run_validation(build, seeds, args.base_seed, workers=min(workers, 2 * seeds), progress=not args.quiet,
                       **params)
        from ..analysis.validation import format_table, validate_store, write_report

        facts = validate_store(build, seed=args.base_seed)
        header = (f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {seeds} seeds (replicates of base seed "
                  f"{args.base_seed}); parameters {json.dumps(params) if params else 'defaults'}; "
                  f"{time.perf_counter() - t0:.0f} s")
        write_report(facts, build, command=command, header=header)
        atomic_json(build / "validation.json", {"command": command, "seeds": seeds, "params": params,
                                                "base_seed": args.base_seed}, sort_keys=False)
    except BaseException as exc:  # nothing half-written stays behind: --out is as it was before the command
        shutil.rmtree(build, ignore_errors=True)
        if isinstance(exc, S3SimError):
            fail(str(exc), "s3sim-validate")
        if isinstance(exc, KeyboardInterrupt):  # Ctrl-C: the runs stop between two steps (S3Model.run)
            print(f"\ns3sim-validate: interrupted; nothing was written to {out} (run the command again)",
                  file=sys.stderr)
            raise SystemExit(130) from None
        raise
    try:
        os.replace(build, target)  # onto a new name or an empty directory: the validation appears whole
    except OSError as exc:
        print(f"s3sim-validate: error: could not move the finished validation to {out} ({exc.strerror}); it is "
              f"complete in {build}", file=sys.stderr)
        raise SystemExit(1) from None
    print(format_table(facts))
    passed = sum(f.passed for f in facts)
    print(f"s3sim-validate: {passed} of {len(facts)} facts pass; table and figures in {out}")


def _start_build(out: Path) -> tuple[Path, Path]:
    """Check ``--out`` (a new or empty directory in a place that can be written) and create the hidden sibling
    the validation is built in (``.<name>.<pid>.partial``, renamed onto ``out`` when complete), after removing
    those that killed processes left behind. Returns it and ``out`` resolved (the rename's target). Raises
    :class:`ConfigError` before anything runs."""
    try:
        if out.exists() or out.is_symlink():
            if not out.is_dir():
                raise ConfigError("--out", str(out), "a new or empty directory (it is a file)")
            if any(out.iterdir()):
                held = ("a validation already" if (out / "validation.json").exists() or
                        (out / "validation.csv").exists() else "other files")
                raise ConfigError("--out", str(out), f"a new or empty directory (it holds {held})")
        target = out.resolve()
        if target == target.parent:
            raise ConfigError("--out", str(out), "a new or empty directory other than the file-system root")
        target.parent.mkdir(parents=True, exist_ok=True)
        for old in target.parent.glob(f".{glob.escape(target.name)}.*.partial"):
            try:
                pid = int(old.name[len(target.name) + 2: -len(".partial")])
                if pid != os.getpid():
                    os.kill(pid, 0)
                    continue  # a live process is building it
            except ProcessLookupError:  # its process is gone: an unfinished build
                pass
            except (ValueError, OSError):  # not a name of ours, or another user's live process
                continue
            shutil.rmtree(old, ignore_errors=True)
        build = target.parent / f".{target.name}.{os.getpid()}.partial"
        build.mkdir()
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename and ".partial" not in str(exc.filename) else ""
        raise ConfigError("--out", str(out), f"a directory that can be created and written "
                          f"({exc.strerror or exc}{where})") from None
    return build, target


def _parse_value(raw: str) -> Any:
    low = raw.lower()
    if low in ("true", "false"):
        return low == "true"
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            pass
    return raw


if __name__ == "__main__":  # pragma: no cover
    main()
