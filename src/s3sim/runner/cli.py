"""The ``s3sim`` command: a Hydra app over ``conf/`` that runs one simulation and stores it.

    s3sim                                   # the default Alpine Space run
    s3sim seed=3 model.n_agents=2000        # overrides, Hydra syntax
    s3sim world=synthetic world.n_regions=20
    s3sim --cfg job                         # print the composed config (Hydra flag)

The run is written into Hydra's output directory (``outputs/runs/<date>/<time>/`` by default; set
``hydra.run.dir=...`` to choose): the RunResult as Parquet tables plus ``manifest.json``. A bad override prints
one line naming the field, the value and what is allowed, and exits with status 2.

Sweeps (``-m``) run every combination of the swept values, on all local cores by default (joblib launcher),
on SLURM with ``hydra/launcher=slurm`` (submitit), or through submitit's local executor with
``hydra/launcher=slurm_local``::

    s3sim -m policy=none,topdown_s3,cluster_s3 replicate='range(10)'      # seed = the sweep seed
    s3sim -m policy=none,cluster_s3 replicate='range(10)' hydra.launcher.n_jobs=1

Every job of the sweep is validated before any starts. Each job writes its run and a ``status.json`` into
``<sweep dir>/<job number>/`` (see :mod:`s3sim.runner.sweep`); a failing job is recorded and the others go on.
The command exits with status 1 if any job failed, and prints how to re-run just those.
"""

from __future__ import annotations

import logging
import shlex
import shutil
import sys
import time
from pathlib import Path

import hydra
from omegaconf import DictConfig

from ..config import register_configs
from ..config.compose import CONFIG_DIR, check_overrides, compose, normalise_overrides
from ..errors import ConfigError, S3SimError, first_line
from ..files import check_output_dir

EXIT_USER_ERROR = 2


def fail(message: str, prog: str = "s3sim") -> None:
    """Print a user error on one line, ``<prog>: error: <message>`` (no traceback), and exit with status 2."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_USER_ERROR)


#: Hydra command-line flags that take a value (``--cfg job``): their values are not overrides
FLAGS_WITH_VALUES = {"--config-dir", "-cd", "--config-path", "-cp", "--config-name", "-cn", "--cfg", "-c",
                     "--package", "-p", "--info", "-i", "--experimental-rerun"}


def override_mask(argv: list[str]) -> list[bool]:
    """Which words of a Hydra command line are overrides (``key=value``, ``+key=value``, ``~key``, or a malformed
    one such as a bare ``key``), leaving out flags and the values of flags."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            out.append(False)
        elif a in FLAGS_WITH_VALUES:
            skip = True
            out.append(False)
        else:
            out.append(not a.startswith("-"))  # Hydra reads every other word as an override (~key: a deletion)
    return out


def override_args(argv: list[str]) -> list[str]:
    """The overrides of a Hydra command line (see :func:`override_mask`), in order."""
    return [a for a, o in zip(argv, override_mask(argv)) if o]


def _task(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from .result import MANIFEST
    from .simulate import simulate

    logging.getLogger("MESA").setLevel(logging.WARNING)  # Mesa logs every step at INFO under Hydra's logging
    hc = HydraConfig.get()
    out = Path(hc.runtime.output_dir) / cfg.output.dir
    if hc.mode == RunMode.MULTIRUN:
        import multiprocessing
        import signal
        import threading

        from .sweep import run_job

        # in a launcher's worker process (joblib's): Ctrl-C stops the job in hand between two steps (S3Model.run),
        # and is ignored between jobs, where it would print a traceback from the launcher's own code; the
        # launcher stops its workers itself
        worker = (multiprocessing.current_process().name != "MainProcess"
                  and threading.current_thread() is threading.main_thread())
        if worker:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            run_job(out, int(hc.job.num), list(hc.overrides.task), cfg)
        finally:
            if worker:
                signal.signal(signal.SIGINT, signal.SIG_IGN)
        return
    try:
        if (out / MANIFEST).exists():
            fail(f"{out} already holds a stored run; choose another hydra.run.dir")
        t0 = time.perf_counter()
        result = simulate(cfg)
        result.manifest["overrides"] = list(hc.overrides.task)
        result.manifest["output_dir"] = str(out)
        result.manifest["timings"]["total_seconds"] = time.perf_counter() - t0
        result.save(out)
    except S3SimError as exc:
        fail(str(exc))
    except KeyboardInterrupt:  # Ctrl-C: the model stops between two steps (S3Model.run)
        stored = (out / MANIFEST).exists()  # written last: the run is stored whole, or not at all
        print(f"\ns3sim: interrupted; {'the run was stored in' if stored else 'no run was stored in'} {out}"
              + ("" if stored else " (run the command again)"), file=sys.stderr)
        raise SystemExit(130) from None
    o = result.outcomes()
    print(f"s3sim: seed {result.seed}, {result.manifest['steps']} steps, {int(o['firms'])} firms, "
          f"{o['innovations_per_1000_firms']:.0f} innovations per 1,000 firms a year, "
          f"{result.manifest['timings']['run_seconds']:.2f} s")
    print(f"s3sim: results written to {out}")


def _run_dir_override(overrides: list[str]) -> str | None:
    """The value of the last ``hydra.run.dir=...`` override, or None."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    run_dir = None
    for ov in OverridesParser.create().parse_overrides(overrides):
        if ov.key_or_group == "hydra.run.dir" and not ov.is_delete():
            run_dir = str(ov.value())
    return run_dir


def main(argv: list[str] | None = None) -> None:
    """Console entry point: validate overrides up front (one-line errors, exit 2), then run the Hydra app."""
    argv = list(sys.argv[1:] if argv is None else argv)
    register_configs()
    multirun = any(a in ("-m", "--multirun") for a in argv)
    overrides = override_args(argv)
    if multirun and not any(a in ("--cfg", "-c", "--info", "-i", "--help", "-h", "--hydra-help") for a in argv):
        _multirun(argv, overrides)
        return
    if multirun:  # Hydra refuses -m with --cfg/--info: show the first job of the sweep instead
        from .sweep import expand_jobs

        try:
            first = expand_jobs(normalise_overrides([o for o in overrides if not _is_hydra_override(o)]))[0]
        except S3SimError as exc:
            fail(str(exc))
        argv = [a for a in argv if a not in ("-m", "--multirun") and a not in overrides] + \
            [o for o in overrides if _is_hydra_override(o)] + first
        overrides = [o for o in overrides if _is_hydra_override(o)] + first
        multirun = False
    try:
        check_overrides(overrides)
        if not multirun:
            cfg = compose([o for o in overrides if not o.lstrip("+~").startswith(("hydra.", "hydra/"))])
            check_pilots(cfg)
            # Hydra writes .hydra/ and the log into the run directory before the task starts, so a stored run
            # must be detected here, or its .hydra/ files would be replaced by those of the refused command.
            run_dir = _run_dir_override(overrides)
            runs_task = not any(a in ("--cfg", "-c", "--info", "-i", "--help", "-h", "--hydra-help") for a in argv)
            if runs_task and run_dir is not None:
                from .result import MANIFEST

                for out in (Path(run_dir).absolute(), Path(run_dir).absolute() / cfg.output.dir):
                    if (out / MANIFEST).exists():
                        fail(f"{out} already holds a stored run; choose another hydra.run.dir")
            if runs_task and Path(str(cfg.output.dir)).is_absolute():  # stored there, not under the run directory
                check_output_dir("output.dir", str(cfg.output.dir))
            if runs_task and run_dir is not None:
                check_output_dir("hydra.run.dir", run_dir)
    except S3SimError as exc:
        fail(str(exc))
    # Hydra spells adding or replacing a key of a mapping "++policy.regions.X=..."; accept the plain form too
    is_override = override_mask(argv)
    argv = [x for x, o in zip(argv, is_override) if not o] + normalise_overrides(
        [x for x, o in zip(argv, is_override) if o])
    sys.argv = [sys.argv[0]] + argv
    app = hydra.main(config_path=str(CONFIG_DIR), config_name="config", version_base="1.3")(_task)
    app()


def _is_hydra_override(text: str) -> bool:
    return text.lstrip("+~").startswith(("hydra.", "hydra/"))


def _validate_jobs(jobs: list[list[str]]) -> None:
    """Compose every job's config before any job starts (one-line error, exit 2, nothing launched). Large
    sweeps compose each distinct value of each swept key once, on top of the first job."""
    distinct = {tuple(j) for j in jobs}
    if len(distinct) <= 64:
        todo = [list(j) for j in dict.fromkeys(tuple(j) for j in jobs)]
    else:
        first = list(jobs[0])
        todo, seen = [first], set()
        for job in jobs:
            for pos, text in enumerate(job):
                if text not in seen:
                    seen.add(text)
                    trial = list(first)
                    trial[pos] = text
                    todo.append(trial)
    for job in todo:
        check_overrides(job)
        check_pilots(compose(job))


def check_pilots(cfg: DictConfig) -> None:
    """Named pilot cluster organisations (``policy.pilots=[REGION:domain]``) exist only once a model has drawn its
    cluster organisations, which depend on the world, the model size and the seed: set the model up (no step) so
    a missing one is a one-line error before anything runs."""
    pilots = cfg.policy.get("pilots") or []
    if all(str(p) == "auto" for p in pilots):
        return
    from ..model import S3Model

    S3Model(cfg, seed=int(cfg.seed), replicate=cfg.get("replicate"))


def _validate_hydra(hydra_ovs: list[str], job: list[str]) -> None:
    """Compose Hydra's own config (launcher, sweep directory) with the sweep's ``hydra.*`` overrides before anything
    is written, so a typo there is a one-line error too. Overrides that would move job results away from
    ``<sweep dir>/<job number>`` are refused: the sweep index, collect and re-runs rely on that layout."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    for o in [*hydra_ovs, *job]:
        key, _, value = o.lstrip("+~").partition("=")
        if key in ("hydra.sweep.subdir", "output.dir"):
            raise ConfigError(key, value, "no override in a sweep: job results live in <sweep dir>/<job number>")
        if key == "hydra.sweep.dir" and "${" in value:
            raise ConfigError(key, value, "a plain path in a sweep (no interpolation); the default is "
                                          "outputs/sweeps/<date>/<time>")
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            cfg = hydra_compose(config_name="config", overrides=[*hydra_ovs, *job], return_hydra_config=True)
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError("hydra overrides", " ".join(hydra_ovs),
                          f"overrides Hydra accepts ({first_line(exc)})") from None
    launcher = cfg.hydra.launcher
    target = str(launcher.get("_target_", ""))
    n_jobs = launcher.get("n_jobs")
    if "joblib" in target.lower() and (not isinstance(n_jobs, int) or isinstance(n_jobs, bool) or n_jobs == 0):
        raise ConfigError("hydra.launcher.n_jobs", n_jobs, "a non-zero integer: worker processes, or -1 for one per "
                                                           "core (joblib: -2 for all but one)")
    if target.endswith("SlurmLauncher") and shutil.which("sbatch") is None:
        raise ConfigError("hydra/launcher", "slurm", "a launcher this machine can run: SLURM's sbatch is not on PATH "
                                                     "(hydra/launcher=slurm_local runs the same jobs as local "
                                                     "processes; the default is joblib)")


def _default_sweep_dir() -> str:
    from datetime import datetime

    now = datetime.now()
    return f"outputs/sweeps/{now:%Y-%m-%d}/{now:%H-%M-%S}"


def _multirun(argv: list[str], overrides: list[str]) -> None:
    """``s3sim -m ...``: validate all jobs, write the sweep index, launch through Hydra with a progress bar,
    then summarise (exit 1 if any job failed)."""
    from .sweep import SweepProgress, expand_jobs, start_sweep, sweep_statuses

    hydra_ovs = [o for o in overrides if _is_hydra_override(o)]
    task_ovs = normalise_overrides([o for o in overrides if not _is_hydra_override(o)])
    try:
        jobs = expand_jobs(task_ovs)
        if not jobs:
            raise ConfigError("overrides", " ".join(task_ovs), "a sweep of at least one run (an empty range or list "
                                                                 "sweeps nothing)")
        first_of: dict[tuple[str, ...], int] = {}
        for k, job in enumerate(jobs):
            if tuple(job) in first_of:
                raise ConfigError("overrides", " ".join(task_ovs), f"a sweep without a repeated value: jobs "
                                  f"{first_of[tuple(job)]} and {k} would be the same run ({' '.join(job)})")
            first_of[tuple(job)] = k
        _validate_jobs(jobs)
        _validate_hydra(hydra_ovs, jobs[0])
        sweep_dir = None
        for o in hydra_ovs:
            key, _, value = o.lstrip("+").partition("=")
            if key == "hydra.sweep.dir":
                sweep_dir = value
        extra = []
        if sweep_dir is None:
            sweep_dir = _default_sweep_dir()
            extra.append(f"hydra.sweep.dir={sweep_dir}")
        check_output_dir("hydra.sweep.dir", sweep_dir)
        index, done = start_sweep(Path(sweep_dir), task_ovs, jobs, argv, hydra_ovs)
    except S3SimError as exc:
        fail(str(exc))
    n = len(jobs)
    launcher = next((o.partition("=")[2] for o in hydra_ovs if o.lstrip("+").startswith("hydra/launcher=")),
                    "joblib")
    print(f"s3sim: sweep of {n} run{'' if n == 1 else 's'} into {sweep_dir} (launcher: {launcher})"
          + (f"; resuming, {done} already completed" if done else ""), flush=True)
    is_override = override_mask(argv)
    resume = "s3sim " + shlex.join([*argv, *extra])
    argv = [x for x, o in zip(argv, is_override) if not o] + hydra_ovs + extra + task_ovs
    sys.argv = [sys.argv[0]] + argv
    app = hydra.main(config_path=str(CONFIG_DIR), config_name="config", version_base="1.3")(_task)
    try:
        with SweepProgress(Path(sweep_dir), n):
            app()
    except KeyboardInterrupt:  # Ctrl-C: each run stops between two steps; completed runs are stored whole
        kept = sum(s["status"] == "completed" for s in sweep_statuses(Path(sweep_dir), index))
        print(f"\ns3sim: interrupted; {kept} of {n} runs completed in {sweep_dir} are kept. Resume with: {resume}",
              file=sys.stderr)
        raise SystemExit(130) from None
    statuses = sweep_statuses(Path(sweep_dir), index)
    failed = [s for s in statuses if s["status"] != "completed"]
    print(f"s3sim: {n - len(failed)} of {n} runs completed in {sweep_dir}")
    if failed:
        for s in failed[:5]:
            print(f"s3sim:   job {s['num']} ({' '.join(s['overrides'])}): {s['status']}"
                  + (f": {s['error']}" if s.get("error") else ""), file=sys.stderr)
        if len(failed) > 5:
            print(f"s3sim:   ... and {len(failed) - 5} more", file=sys.stderr)
        print(f"s3sim: details in <job>/status.json; re-run only those with: s3sim-collect {sweep_dir} "
              f"--rerun-missing", file=sys.stderr)
        raise SystemExit(1)
    print(f"s3sim: next: s3sim-collect {sweep_dir} && s3sim-compare {sweep_dir}")


if __name__ == "__main__":  # pragma: no cover
    main()
