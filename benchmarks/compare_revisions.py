"""Is this working tree faster than another revision? Both versions in one process, evaluations interleaved.

Two processes timed side by side on this 2-core VM disagree by 10-40 % from one minute to the next (the host's
other tenants), so a comparison of two versions run as separate processes cannot resolve a change of a few per
cent: paired runs of the same code have given ratios from 0.84 to 1.39. Here the other revision's ``src/s3sim``
is exported with ``git archive`` into a temporary directory as the package ``s3sim_ref`` (its absolute imports
rewritten), both versions are imported into one process, and the same stress-test evaluations
(:func:`s3sim.runner.targets.s3_target`, cluster_s3 against topdown_s3 on the default model) alternate between
them: A B, B A, A B, ... on one core. Host noise then hits both sides of a pair alike.

    .venv/bin/python benchmarks/compare_revisions.py HEAD~3              # 30 evaluations per side
    .venv/bin/python benchmarks/compare_revisions.py 2e23e9f --evals 60 --core 1
    .venv/bin/python benchmarks/compare_revisions.py HEAD~3 --design     # samples of the standard design

By default every evaluation runs the default parameters (seeds 500, 501, ...). The default parameters understate
the policy engine's share of a real stress test (larger budgets fund more projects), so ``--design`` takes the
evaluations from the standard stress-test design instead: the 32 samples of the 4 chunks that ``make bench-stress``
times (each with its own run seed, replicate 0), in turn.

It prints whether the two versions return the same outcomes (bit for bit, NaN included) on one evaluation, the median
CPU time per evaluation of each, and the median of the per-pair ratios (this tree / the revision) with its
interquartile range and a bootstrap 95 % interval. The first call of each version compiles its kernels (numba
caches the revision's in the temporary directory), so a run takes a minute or two before the timings start.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

for _v in ("OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
REF = "s3sim_ref"
REGIMES = ("cluster_s3", "topdown_s3")


def export(rev: str, into: Path) -> Path:
    """``src/s3sim`` of ``rev`` as the package ``s3sim_ref`` under ``into``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src/s3sim"], capture_output=True, check=False)
    if archive.returncode != 0:
        raise SystemExit(f"compare_revisions: error: git archive {rev}: {archive.stderr.decode().strip()}")
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    pkg = into / REF
    (into / "src" / "s3sim").rename(pkg)
    absolute = re.compile(r"\b(from|import) s3sim(?=[.\s])")
    named = re.compile(r"(?<=[\"'])s3sim(?=[.\"'])")  # the package named in a string: "s3sim.world", 's3sim'
    for path in pkg.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        new = named.sub(REF, absolute.sub(rf"\1 {REF}", text))
        if new != text:
            path.write_text(new, encoding="utf-8")
    return pkg


def design_samples(chunks: int = 4, chunk_size: int = 8) -> list[tuple[dict, int]]:
    """(parameters, run seed) of the samples ``benchmarks/stress.py`` times: ``chunks`` chunks of ``chunk_size``
    samples spread evenly over the standard design (drawn by this tree's s3sim)."""
    from s3sim.runner.stress import StressTest, compose_stress, resolve

    spec = resolve(compose_stress([f"chunk_size={chunk_size}"]))
    if tuple(spec.target["regimes"]) != REGIMES:
        raise SystemExit(f"compare_revisions: error: the standard design compares {spec.target['regimes']}, "
                         f"this script {list(REGIMES)}")
    with tempfile.TemporaryDirectory() as tmp:
        st = StressTest(spec, tmp)
        st.prepare()
        picks = sorted({int(k) for k in np.linspace(0, len(st.bounds) - 1, chunks)})
        tasks = st.tasks(picks)
    out = []
    for task in tasks:
        for values, seed in zip(task["values"], task["seeds"]):
            out.append(({n: (int(v) if k == "int" else float(v)) for n, k, v in zip(task["names"], task["kinds"],
                                                                                    values)}, int(seed)))
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("rev", help="the revision to compare this working tree with (any git revision)")
    ap.add_argument("--evals", type=int, default=None,
                    help="evaluations per version (default 30; with --design, every sample: 32 on the standard design)")
    ap.add_argument("--core", type=int, default=None, help="pin the process to this core (default: no pinning)")
    ap.add_argument("--design", action="store_true",
                    help="evaluate the samples make bench-stress times (standard design) instead of the defaults")
    args = ap.parse_args(argv)
    if args.evals is not None and args.evals < 2:
        raise SystemExit(f"compare_revisions: error: --evals={args.evals}: an integer >= 2")
    if args.core is not None:
        os.sched_setaffinity(0, {args.core})
    with tempfile.TemporaryDirectory(prefix="s3sim-ref-") as tmp:
        export(args.rev, Path(tmp))
        sys.path.insert(0, tmp)
        sys.path.insert(0, str(ROOT / "src"))
        import importlib

        new = importlib.import_module("s3sim.runner.targets").s3_target
        ref = importlib.import_module(f"{REF}.runner.targets").s3_target
        t0 = time.perf_counter()
        for f in (new, ref):  # compile (or load) every kernel on a tiny model
            f({}, 1, 0, regimes=REGIMES, fixed={"n_agents": 150, "burn_in": 4, "horizon": 8})
        cases = design_samples() if args.design else [({}, 500 + k) for k in range(args.evals or 30)]
        if args.evals is None:
            args.evals = len(cases)
        if args.evals < 2:
            raise SystemExit(f"compare_revisions: error: {args.evals} evaluation(s): at least 2 are needed")
        check = cases[0] if args.design else ({}, 7)  # one evaluation of what is timed
        a, b = new(*check, 0, regimes=REGIMES), ref(*check, 0, regimes=REGIMES)
        same = a.keys() == b.keys() and all(np.array(a[k]).tobytes() == np.array(b[k]).tobytes() for k in a)
        print(f"warm-up {time.perf_counter() - t0:.0f} s; outcomes of this tree and {args.rev}"
              f"{' (first design sample)' if args.design else ''}: {'identical' if same else 'DIFFERENT'}", flush=True)
        t_new, t_ref = [], []
        for k in range(args.evals):
            params, seed = cases[k % len(cases)]
            pair = ((ref, t_ref), (new, t_new)) if k % 2 == 0 else ((new, t_new), (ref, t_ref))
            for f, out in pair:
                c = time.process_time()
                f(params, seed, 0, regimes=REGIMES)
                out.append(time.process_time() - c)
        ratio = np.array(t_new) / np.array(t_ref)
        rng = np.random.default_rng(0)
        boot = np.median(rng.choice(ratio, size=(10_000, ratio.size)), axis=1)
        q1, q3 = np.quantile(ratio, [0.25, 0.75])
        lo, hi = np.quantile(boot, [0.025, 0.975])
        print(f"{args.evals} evaluations each: {args.rev} {statistics.median(t_ref):.3f} CPU s, this tree "
              f"{statistics.median(t_new):.3f} CPU s per evaluation")
        print(f"this tree / {args.rev}: median paired ratio {np.median(ratio):.3f} (IQR {q1:.3f}-{q3:.3f}; "
              f"bootstrap 95 % CI {lo:.3f}-{hi:.3f})")


if __name__ == "__main__":
    main()
