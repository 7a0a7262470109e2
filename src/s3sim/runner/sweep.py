"""Sweeps: many runs from one ``s3sim -m`` command, each in its own job directory with a status file.

A sweep directory holds

* ``sweep.json``: the sweep index written before any job starts: the command, its overrides, and every job's
  number and overrides (so jobs that never started can be found and launched later);
* ``<num>/``: one directory per job: Hydra's ``.hydra/`` and log, ``status.json`` (``running``, ``completed``
  or ``failed`` with the error and its traceback) and, when completed, the stored run (Parquet tables plus
  ``manifest.json``, see :mod:`s3sim.runner.result`);
* ``collected/``: written by ``s3sim-collect`` only (see :mod:`s3sim.analysis.collect`).

A job never raises into the launcher: an exception inside the model is recorded in the job's ``status.json``
and the other jobs go on (Hydra would otherwise abort the batch and skip its end-of-sweep callbacks). Running
the same sweep command again with the same ``hydra.sweep.dir`` skips completed jobs; ``s3sim-collect
--rerun-missing`` runs only the failed or missing ones.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from ..errors import ConfigError, S3SimError, first_line
from ..files import atomic_json

SWEEP_INDEX = "sweep.json"
STATUS = "status.json"
SWEEP_FORMAT = "s3sim-sweep"
SWEEP_FORMAT_VERSION = 1
#: override keys that identify a replicate rather than a scenario
REPLICATE_KEYS = ("seed", "replicate")


# ----------------------------------------------------------------------------------------------------------------
# the sweep index
# ----------------------------------------------------------------------------------------------------------------
#: job states ``rerun_missing`` re-runs (a job still running is left alone unless asked)
RERUNNABLE = ("failed", "interrupted", "missing", "damaged")


def expand_jobs(overrides: list[str]) -> list[list[str]]:
    """Every job of a sweep, in Hydra's job-number order, as its list of overrides (sweeps like ``a=1,2`` or
    ``seed='range(10)'`` expanded as Hydra's basic sweeper does)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_overrides([o for o in overrides])
        batches = BasicSweeper.split_arguments(parsed, None)
    except HydraException as exc:
        globbed = [o for o in overrides if "glob(" in o.partition("=")[2]]
        if globbed:  # expanding a glob needs Hydra's config loader, which the sweep's up-front expansion has not
            raise ConfigError("overrides", globbed[0], "the options named one by one (glob(...) is not supported in "
                                                       "a sweep: e.g. policy=topdown_s3,cluster_s3,transregional_s3)"
                              ) from None
        detail = "; ".join(line.strip() for line in str(exc).splitlines()
                           if line.strip() and not line.strip().startswith("See https"))
        raise ConfigError("overrides", " ".join(overrides), f"Hydra override syntax ({detail})") from None
    return [list(job) for batch in batches for job in batch]


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from ``path``, or None when it is missing, unreadable or not an object."""
    try:
        obj = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


def read_sweep_index(sweep_dir: Path) -> dict[str, Any]:
    """The sweep index of ``sweep_dir``; a one-line :class:`ConfigError` if it is not an s3sim sweep."""
    d = Path(sweep_dir)
    if not d.is_dir():
        raise ConfigError("sweep_dir", str(d), "an existing directory written by `s3sim -m ...`")
    idx = read_json(d / SWEEP_INDEX)
    if idx is None:
        what = "unreadable" if (d / SWEEP_INDEX).exists() else "missing"
        raise ConfigError("sweep_dir", str(d), f"an s3sim sweep directory ({SWEEP_INDEX} is {what}; sweeps are "
                                               f"written by `s3sim -m ...`)")
    if idx.get("format") != SWEEP_FORMAT or not isinstance(idx.get("jobs"), list):
        raise ConfigError(str(d / SWEEP_INDEX), idx.get("format"), f"a sweep index of format '{SWEEP_FORMAT}'")
    for job in idx["jobs"]:
        if not (isinstance(job, dict) and isinstance(job.get("num"), int) and isinstance(job.get("overrides"), list)
                and all(isinstance(o, str) for o in job["overrides"])):
            raise ConfigError(str(d / SWEEP_INDEX), "damaged", "a sweep index whose jobs each have a number and a "
                                                               "list of overrides (written by `s3sim -m`)")
    return idx


def _comparable(overrides: list[str]) -> list[str]:
    """A job's overrides with the ``+`` prefixes of mapping entries dropped: indexes written before
    ``policy.regions.<ID>`` overrides became ``++`` (add or replace) describe the same jobs."""
    from ..config.compose import is_mapping_entry

    return [o.lstrip("+") if is_mapping_entry(o.lstrip("+").partition("=")[0]) else o for o in overrides]


def start_sweep(sweep_dir: Path, task_overrides: list[str], jobs: list[list[str]], argv: list[str],
                hydra_overrides: list[str]) -> tuple[dict[str, Any], int]:
    """Write (or check, when resuming) the sweep index. Returns the index and the number of jobs already
    completed. Refuses a directory that holds something else, or a sweep with other jobs."""
    d = Path(sweep_dir)
    job_list = [{"num": i, "overrides": list(j)} for i, j in enumerate(jobs)]
    if (d / SWEEP_INDEX).exists():
        old = read_sweep_index(d)
        if [_comparable(j.get("overrides") or []) for j in old["jobs"]] != [_comparable(j) for j in jobs]:
            raise ConfigError("hydra.sweep.dir", str(d), "a new directory, or the same sweep command as the one "
                                                         "that created it (its jobs differ)")
        done = sum(job_status(d / str(j["num"]))["status"] == "completed" for j in old["jobs"])
        return old, done
    if d.exists() and any(d.iterdir()):
        raise ConfigError("hydra.sweep.dir", str(d), f"a new or empty directory (it holds files but no "
                                                     f"{SWEEP_INDEX})")
    d.mkdir(parents=True, exist_ok=True)
    index = {"format": SWEEP_FORMAT, "format_version": SWEEP_FORMAT_VERSION,
             "created": datetime.now(timezone.utc).isoformat(), "command": ["s3sim", *argv],
             "overrides": list(task_overrides), "hydra_overrides": list(hydra_overrides), "jobs": job_list}
    atomic_json(d / SWEEP_INDEX, index, default=str)
    return index, 0


# ----------------------------------------------------------------------------------------------------------------
# job status
# ----------------------------------------------------------------------------------------------------------------
def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _tables_readable(job_dir: Path) -> str | None:
    """None if every table of a stored run is present with a readable Parquet footer, else what is wrong."""
    import pyarrow.parquet as pq
    from pyarrow import ArrowException

    from .result import TABLES

    for name in TABLES:
        path = job_dir / f"{name}.parquet"
        try:
            pq.read_metadata(path)
        except (OSError, ValueError, ArrowException) as exc:
            return f"{path.name}: {type(exc).__name__}"
    return None


def job_status(job_dir: Path, verify: bool = False) -> dict[str, Any]:
    """A job's status: ``completed`` (a stored run), ``failed`` (with ``error``), ``running`` (its process is
    alive), ``interrupted`` (it started but its process is gone) or ``missing`` (never started). With ``verify``
    a completed run whose tables are missing or unreadable is ``damaged``."""
    from .result import MANIFEST

    job_dir = Path(job_dir)
    st = read_json(job_dir / STATUS) or {}
    manifest = read_json(job_dir / MANIFEST)
    if manifest is not None and manifest.get("status") == "completed":
        problem = _tables_readable(job_dir) if verify else None
        if problem:
            return {**st, "status": "damaged", "error": problem}
        return {**st, "status": "completed"}
    status = st.get("status")
    if status in ("failed", "interrupted"):  # interrupted: stopped by Ctrl-C, recorded by the job itself
        return st
    if status in ("running", "completed"):  # completed without a readable manifest counts as interrupted
        pid = st.get("pid")
        if status == "running" and st.get("host") != socket.gethostname():
            # on another machine (a cluster node): its process cannot be checked from here, so it counts as
            # running; `s3sim-collect --rerun-missing --include-running` re-runs it when it is known to be dead
            return {**st, "unverified": True}
        if status == "running" and isinstance(pid, int) and _pid_alive(pid):
            return st
        return {**st, "status": "interrupted"}
    if (job_dir / STATUS).exists():
        return {"status": "interrupted", "error": f"unreadable {STATUS}"}
    return {"status": "missing"}


def _write_status(job_dir: Path, **fields: Any) -> None:
    atomic_json(job_dir / STATUS, fields, default=str)


def run_job(job_dir: Path, num: int, overrides: list[str], config: Any) -> str:
    """Run one sweep job into ``job_dir`` and record its status. Never raises for a failure of the run itself:
    the error and traceback go into ``status.json``. Returns the final status."""
    import logging

    from .simulate import simulate

    job_dir = Path(job_dir)
    job_dir.mkdir(parents=True, exist_ok=True)
    if job_status(job_dir, verify=True)["status"] == "completed":
        return "completed"
    base = {"num": int(num), "overrides": list(overrides), "host": socket.gethostname(), "pid": os.getpid(),
            "started": datetime.now(timezone.utc).isoformat()}
    _write_status(job_dir, status="running", **base)
    t0 = time.perf_counter()
    try:
        result = simulate(config)
        result.manifest["overrides"] = list(overrides)
        result.manifest["job"] = int(num)
        result.manifest["output_dir"] = str(job_dir)
        result.manifest["timings"]["total_seconds"] = time.perf_counter() - t0
        result.save(job_dir, overwrite=True)
    except KeyboardInterrupt:  # Ctrl-C (the run stops between two steps): not a failure of the run; re-run on resume
        _write_status(job_dir, status="interrupted", error="interrupted (Ctrl-C)",
                      seconds=time.perf_counter() - t0, finished=datetime.now(timezone.utc).isoformat(), **base)
        raise
    except Exception as exc:  # noqa: BLE001 - recorded, never raised into the launcher
        _write_status(job_dir, status="failed", error=f"{type(exc).__name__}: {first_line(exc, '')}",
                      user_error=isinstance(exc, S3SimError), traceback=traceback.format_exc(),
                      seconds=time.perf_counter() - t0, finished=datetime.now(timezone.utc).isoformat(), **base)
        logging.getLogger("s3sim").error("job %d failed: %s", num, first_line(exc))
        return "failed"
    _write_status(job_dir, status="completed", seconds=time.perf_counter() - t0,
                  finished=datetime.now(timezone.utc).isoformat(), **base)
    return "completed"


def sweep_statuses(sweep_dir: Path, index: dict[str, Any] | None = None, verify: bool = False
                   ) -> list[dict[str, Any]]:
    """Every job of the sweep with its number, overrides and status (see :func:`job_status`)."""
    d = Path(sweep_dir)
    index = index or read_sweep_index(d)
    out = []
    for job in index["jobs"]:
        st = job_status(d / str(job["num"]), verify=verify)
        out.append({**st, "num": int(job["num"]), "overrides": list(job["overrides"])})
    return out


# ----------------------------------------------------------------------------------------------------------------
# progress and re-runs
# ----------------------------------------------------------------------------------------------------------------
class SweepProgress:
    """A progress bar over a sweep's jobs, fed by polling their status files (works for any launcher whose
    parent process waits: joblib, submitit local or SLURM)."""

    def __init__(self, sweep_dir: Path, n_jobs: int, already: int = 0, interval: float = 0.5):
        self.sweep_dir, self.n_jobs, self.already, self.interval = Path(sweep_dir), n_jobs, already, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _count(self) -> tuple[int, int]:
        done = failed = 0
        for i in range(self.n_jobs):
            st = read_json(self.sweep_dir / str(i) / STATUS)
            if st is None:
                continue
            done += st.get("status") == "completed"
            failed += st.get("status") == "failed"
        return done, failed

    def _run(self) -> None:
        from tqdm import tqdm

        # on a terminal only: in a log file (a batch job) every redraw would be one more line of \r frames
        with tqdm(total=self.n_jobs, initial=0, desc="s3sim sweep", unit="run", delay=2, file=sys.stderr,
                  dynamic_ncols=True, disable=None) as bar:
            while True:
                stop = self._stop.wait(self.interval)
                done, failed = self._count()
                bar.set_postfix_str(f"{failed} failed" if failed else "", refresh=False)
                bar.update(done + failed - bar.n)
                if stop:
                    return

    def __enter__(self) -> "SweepProgress":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _rerun_one(sweep_dir: str, num: int, overrides: list[str]) -> str:
    """Worker: compose one job's config exactly as the sweep did and run it into its job directory."""
    import logging

    from ..config.compose import compose

    logging.getLogger("MESA").setLevel(logging.WARNING)
    job_dir = Path(sweep_dir) / str(num)
    try:
        cfg = compose(list(overrides))
    except S3SimError as exc:
        job_dir.mkdir(parents=True, exist_ok=True)
        _write_status(job_dir, status="failed", num=num, overrides=list(overrides), error=str(exc),
                      user_error=True, traceback="", host=socket.gethostname(), pid=os.getpid())
        return "failed"
    return run_job(job_dir, num, list(overrides), cfg)


def _rerun_task(task: tuple) -> str:
    return _rerun_one(*task)


def rerun_missing(sweep_dir: Path, workers: int | None = None, jobs: Iterable[int] | None = None,
                  progress: bool = True, include_running: bool = False) -> dict[int, str]:
    """Run the sweep's failed, interrupted, damaged and missing jobs (or only ``jobs``) on local worker processes and
    return ``{job number: final status}``. Completed jobs are never run again; jobs still running are left
    alone."""
    from .executors import make_executor

    d = Path(sweep_dir)
    index = read_sweep_index(d)
    wanted = None if jobs is None else set(int(j) for j in jobs)
    redo = RERUNNABLE + (("running",) if include_running else ())
    todo = [s for s in sweep_statuses(d, index, verify=True)
            if s["status"] in redo and (wanted is None or s["num"] in wanted)
            and not (s["status"] == "running" and not s.get("unverified"))]  # never a live local process
    if not todo:
        return {}
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo)))
    results: dict[int, str] = {}
    from tqdm import tqdm

    bar = tqdm(total=len(todo), desc="s3sim re-run", unit="run", delay=2, file=sys.stderr,
               disable=None if progress else True)  # None: on a terminal only
    with make_executor("local" if workers > 1 else "serial", workers=workers) as ex:
        for i, status in ex.map_unordered(_rerun_task, [(str(d), s["num"], s["overrides"]) for s in todo]):
            results[todo[i]["num"]] = status
            bar.update()
    bar.close()
    return dict(sorted(results.items()))
