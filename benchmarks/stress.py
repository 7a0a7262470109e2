"""Stress-test throughput: evaluations per second on local workers, and the projected wall time of the standard
stress test.

The standard stress test is the default ``s3sim-stress`` config: Sobol' with N = 512, 10 parameters, first and
total order (N (D + 2) = 6,144 samples), one regime contrast (cluster_s3 - topdown_s3: two model runs per
evaluation on common random numbers), 3 replicates, the default model (2,000 agents, 20 burn-in + 80 steps). That
is 6,144 x 3 = 18,432 evaluations and 36,864 model runs. Target: under 30 minutes on a 2-core machine.

Method: the real design is drawn, the worker processes are started and warmed up (imports and numba's cache load
are excluded), then a few real chunks spread evenly over the design are evaluated on ``--workers`` local workers
(the ``local`` executor, as the CLI uses it) and timed with ``time.perf_counter``. The projection is
``total evaluations / measured evaluations per second``; it excludes the analysis (seconds) and assumes the
measured chunks are representative (they are spread over the design, whose samples are statistically alike).
The workers also report the CPU time they spent (``time.process_time``): the second projection, total
evaluations x CPU seconds per evaluation / workers, is what the machine would do with the workers alone on their
cores, and is far less sensitive to other jobs on the machine than the wall-time one. After each chunk the worker
also times one policy-free run of the default model: the cost of an evaluation in those runs is a same-run ratio
that hardly depends on how fast the machine is at the moment (the target needs it at or below the printed value).

    make bench-stress                                   # = .venv/bin/python benchmarks/stress.py
    .venv/bin/python benchmarks/stress.py --chunks 4 --chunk-size 8 --workers 2
    .venv/bin/python benchmarks/stress.py --quick       # tiny chunks, a smoke test of the harness

Exit status 0 (the target is reported, not gated: wall time depends on the machine). A JSON record goes to
``benchmarks/results/stress-<time>.json``.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import datetime as _dt  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from s3sim.runner.executors import LocalExecutor  # noqa: E402
from s3sim.runner.stress import StressTest, compose_stress, resolve  # noqa: E402
from s3sim.runner.targets import evaluate_chunk  # noqa: E402

TARGET_MINUTES = 30.0
HERE = Path(__file__).resolve().parent


def _warm(_: int) -> float:
    """Import the model and run a tiny contrast in a worker (numba cache load, first-call costs)."""
    from s3sim.runner.targets import s3_target

    t = time.perf_counter()
    s3_target({}, 1, 0, regimes=("cluster_s3", "topdown_s3"), fixed={"n_agents": 150, "burn_in": 4, "horizon": 8})
    return time.perf_counter() - t


def _timed_chunk(task):
    """:func:`evaluate_chunk` and the CPU time the worker spent on it (robust to other work on the machine), then
    the CPU time of one policy-free run of the default model in the same worker: the same-run reference."""
    from s3sim.runner.targets import s3_target

    c0 = time.process_time()
    frame = evaluate_chunk(task)
    c1 = time.process_time()
    s3_target({}, int(task["seeds"][0]), 0, regimes=("none",))
    return frame, c1 - c0, time.process_time() - c1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--chunks", type=int, default=4, help="chunks timed (spread over the design)")
    ap.add_argument("--chunk-size", type=int, default=8, help="samples per timed chunk")
    ap.add_argument("--quick", action="store_true", help="2 chunks of 2 samples (harness smoke test)")
    ap.add_argument("--out", default=str(HERE / "results"))
    args = ap.parse_args()
    if args.quick:
        args.chunks, args.chunk_size = 2, 2

    spec = resolve(compose_stress([f"chunk_size={args.chunk_size}"]))
    regimes = spec.target["regimes"]
    with tempfile.TemporaryDirectory() as tmp:
        st = StressTest(spec, tmp)
        st.prepare()
        n_samples = sum(b - a for a, b in st.bounds)
        evaluations_total = n_samples * spec.replicates
        runs_total = evaluations_total * len(regimes)
        picks = sorted({int(k) for k in np.linspace(0, len(st.bounds) - 1, args.chunks)})
        tasks = st.tasks(picks)
        print(f"standard stress test: {spec.method}, N={spec.settings['n']}, D={len(spec.params)}, "
              f"{n_samples} samples x {spec.replicates} replicates = {evaluations_total} evaluations "
              f"({runs_total} model runs: {' and '.join(regimes)})")
        with LocalExecutor(args.workers) as ex:
            t0 = time.perf_counter()
            warm = [v for _, v in ex.map_unordered(_warm, range(2 * args.workers))]
            startup = time.perf_counter() - t0
            print(f"{args.workers} local workers started and warmed up in {startup:.1f} s")
            t0 = time.perf_counter()
            evaluated = 0
            cpu = 0.0
            reference = []
            for _, (frame, seconds, ref_seconds) in ex.map_unordered(_timed_chunk, tasks):
                evaluated += len(frame)
                cpu += seconds
                reference.append(ref_seconds)
            wall = time.perf_counter() - t0
    eval_rate = evaluated / wall
    run_rate = eval_rate * len(regimes)
    projected = evaluations_total / eval_rate
    ratio = projected / 60 / TARGET_MINUTES
    cpu_per_eval = cpu / evaluated
    projected_cpu = evaluations_total * cpu_per_eval / args.workers  # the workers alone on their cores
    print(f"timed {len(tasks)} chunks = {evaluated} evaluations ({evaluated * len(regimes)} model runs) "
          f"in {wall:.1f} s on {args.workers} workers")
    print(f"throughput: {eval_rate:.2f} evaluations/s = {run_rate:.2f} model runs/s "
          f"({args.workers / run_rate:.3f} s per run per worker)")
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"load average during the measurement: {load[0]:.2f} on {os.cpu_count()} cores "
          "(other work on the machine slows the workers down)")
    print(f"projected wall time of the standard stress test: {projected / 60:.1f} min "
          f"(target {TARGET_MINUTES:.0f} min: ratio {ratio:.2f}, {'PASS' if ratio <= 1 else 'OVER'})")
    print(f"CPU time: {cpu_per_eval:.3f} s per evaluation in the workers; with each worker alone on a core the "
          f"standard stress test would take {projected_cpu / 60:.1f} min (ratio {projected_cpu / 60 / TARGET_MINUTES:.2f})")
    ref_run = float(np.median(reference))
    print(f"same-run reference: one policy-free run of the default model (100 quarters) took {ref_run:.3f} CPU s in "
          f"the same workers; an evaluation costs {cpu_per_eval / ref_run:.2f} of them (the target needs "
          f"{TARGET_MINUTES * 60 * args.workers / evaluations_total / ref_run:.2f} at this machine's speed)")
    record = dict(kind="stress", time=_dt.datetime.now(_dt.timezone.utc).isoformat(), workers=args.workers,
                  chunks=len(tasks), chunk_size=args.chunk_size, evaluations_timed=evaluated, seconds=wall,
                  evaluations_per_second=eval_rate, runs_per_second=run_rate, startup_seconds=startup,
                  warmup_task_seconds=warm, evaluations_total=evaluations_total, runs_total=runs_total,
                  projected_minutes=projected / 60, target_minutes=TARGET_MINUTES, ratio_to_target=ratio,
                  cpu_seconds_per_evaluation=cpu_per_eval, projected_minutes_from_cpu=projected_cpu / 60,
                  reference_run_cpu_seconds=reference, evaluation_in_reference_runs=cpu_per_eval / ref_run,
                  load_average=load, machine=platform.platform(), cpus=os.cpu_count())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"stress-{_dt.datetime.now():%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps(record, indent=1))
    print(f"written {path}")


if __name__ == "__main__":
    main()
