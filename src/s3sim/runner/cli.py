"""The ``s3sim`` command: a Hydra app over ``conf/`` that runs one simulation and stores it.

    s3sim                                   # the default Alpine Space run
    s3sim seed=3 model.n_agents=2000        # overrides, Hydra syntax
    s3sim world=synthetic world.n_regions=20
    s3sim --cfg job                         # print the composed config (Hydra flag)

The run is written into Hydra's output directory (``outputs/runs/<date>/<time>/`` by default; set
``hydra.run.dir=...`` to choose): the RunResult as Parquet tables plus ``manifest.json``. A bad override prints
one line naming the field, the value and what is allowed, and exits with status 2.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import hydra
from omegaconf import DictConfig

from ..config import register_configs
from ..config.compose import CONFIG_DIR, check_overrides, compose, normalise_overrides
from ..errors import S3SimError

EXIT_USER_ERROR = 2


def fail(message: str) -> None:
    """Print a user error on one line (no traceback) and exit with status 2."""
    print(f"s3sim: error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_USER_ERROR)


def _task(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    from .result import MANIFEST
    from .simulate import simulate

    logging.getLogger("MESA").setLevel(logging.WARNING)  # Mesa logs every step at INFO under Hydra's logging
    hc = HydraConfig.get()
    out = Path(hc.runtime.output_dir) / cfg.output.dir
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
    flags_with_values = {"--config-dir", "-cd", "--config-path", "-cp", "--config-name", "-cn", "--cfg", "-c",
                         "--package", "-p", "--info", "-i", "--experimental-rerun"}
    # drop values that belong to flags (e.g. "--cfg job")
    cleaned, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in flags_with_values:
            skip = True
            continue
        cleaned.append(a)
    overrides = [a for a in cleaned if not a.startswith("-") and "=" in a]
    try:
        check_overrides(overrides)
        if not multirun:
            cfg = compose([o for o in overrides if not o.lstrip("+~").startswith(("hydra.", "hydra/"))])
            # Hydra writes .hydra/ and the log into the run directory before the task starts, so a stored run
            # must be detected here, or its .hydra/ files would be replaced by those of the refused command.
            run_dir = _run_dir_override(overrides)
            runs_task = not any(a in ("--cfg", "-c", "--info", "-i", "--help", "-h", "--hydra-help") for a in argv)
            if runs_task and run_dir is not None:
                from .result import MANIFEST

                for out in (Path(run_dir).absolute(), Path(run_dir).absolute() / cfg.output.dir):
                    if (out / MANIFEST).exists():
                        fail(f"{out} already holds a stored run; choose another hydra.run.dir")
    except S3SimError as exc:
        fail(str(exc))
    # Hydra spells a new key of a mapping "+policy.regions.X=..."; accept the plain form too
    is_override = [not x.startswith("-") and "=" in x for x in argv]
    argv = [x for x, o in zip(argv, is_override) if not o] + normalise_overrides(
        [x for x, o in zip(argv, is_override) if o])
    sys.argv = [sys.argv[0]] + argv
    app = hydra.main(config_path=str(CONFIG_DIR), config_name="config", version_base="1.3")(_task)
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
