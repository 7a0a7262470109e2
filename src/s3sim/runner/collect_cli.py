"""The ``s3sim-collect`` command: index a sweep and combine its tables; optionally re-run what is missing.

    s3sim-collect outputs/sweeps/2026-11-27/10-00-00
    s3sim-collect SWEEP_DIR --rerun-missing [--workers 2]   # failed, interrupted or missing jobs only

The command lives in the runner because ``--rerun-missing`` runs the model; collecting itself is
:func:`s3sim.analysis.collect.collect`, which reads stored results only. Exit status: 0 when every job is
completed, 1 when some are not (the collection is still written), 2 for a user error.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import S3SimError
from .cli import fail


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="s3sim-collect", description="Index a sweep directory written by "
                                     "`s3sim -m ...` and combine its runs' tables into SWEEP_DIR/collected/.")
    parser.add_argument("sweep_dir", help="the sweep directory (it holds sweep.json)")
    parser.add_argument("--rerun-missing", action="store_true",
                        help="first run the failed, interrupted and missing jobs (completed ones are kept)")
    parser.add_argument("--include-running", action="store_true",
                        help="with --rerun-missing, also re-run jobs marked running on another machine (only when "
                             "you know they are dead, e.g. a cancelled SLURM job)")
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes for --rerun-missing (default: all cores)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    from ..analysis.collect import collect, summary
    from .sweep import RERUNNABLE, read_sweep_index, rerun_missing

    try:
        if args.workers is not None and args.workers < 1:
            raise S3SimError(f"--workers={args.workers} is not allowed: a positive number of processes")
        if args.include_running and not args.rerun_missing:
            raise S3SimError("--include-running is not allowed alone: it goes with --rerun-missing (it says which "
                             "jobs to re-run)")
        read_sweep_index(args.sweep_dir)
        if args.rerun_missing:
            done = rerun_missing(args.sweep_dir, workers=args.workers, progress=not args.quiet,
                                 include_running=args.include_running)
            if done:
                ok = sum(v == "completed" for v in done.values())
                print(f"s3sim-collect: re-ran {len(done)} job{'s' if len(done) != 1 else ''} ({ok} completed): "
                      f"{', '.join(map(str, done))}")
            else:
                print("s3sim-collect: nothing to re-run")
        store = collect(args.sweep_dir, progress=not args.quiet)
    except S3SimError as exc:
        fail(str(exc), "s3sim-collect")
    print(f"s3sim-collect: {summary(store)}")
    bad = store.index[store.index["status"] != "completed"]
    if len(bad):
        for _, r in bad.head(5).iterrows():
            print(f"s3sim-collect:   run {r['run']} ({r['overrides']}): {r['status']}"
                  + (f": {r['error']}" if isinstance(r["error"], str) else ""), file=sys.stderr)
        rerunnable = int(bad["status"].isin(RERUNNABLE).sum())
        running = int((bad["status"] == "running").sum())
        if rerunnable and not args.rerun_missing:
            print(f"s3sim-collect: re-run the {rerunnable} failed, interrupted, damaged or missing "
                  f"job{'s' if rerunnable != 1 else ''} with: s3sim-collect {args.sweep_dir} --rerun-missing",
                  file=sys.stderr)
        if running:
            print(f"s3sim-collect: {running} job{'s are' if running != 1 else ' is'} still running: wait for "
                  f"{'them' if running != 1 else 'it'}, or, if {'they' if running != 1 else 'it'} ran on another "
                  "machine that has stopped, add --include-running to --rerun-missing", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
