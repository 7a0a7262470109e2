"""Shared steps of the phase experiments: run a sweep or a stress test as the shell would (real subprocesses of
the s3sim commands), and small helpers for the experiment reports. Not part of the package API."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Sequence

from s3sim.analysis.report import markdown_table  # noqa: F401  (re-exported for the experiment scripts)

EXIT_USER_ERROR = 2


def _env() -> dict[str, str]:
    return {**os.environ, "OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}


def run_sweep(sweep_dir: Path, overrides: Sequence[str], workers: int = -1) -> Path:
    """``s3sim -m <overrides>`` into ``sweep_dir`` on ``workers`` processes (-1: all cores). Jobs that fail are
    reported by the sweep and left out of the analyses; a user error stops the experiment."""
    cmd = [sys.executable, "-m", "s3sim.runner.cli", "-m", *overrides, f"hydra.sweep.dir={sweep_dir}",
           f"hydra.launcher.n_jobs={workers}"]
    print("$", " ".join(["s3sim", *cmd[3:]]), flush=True)
    r = subprocess.run(cmd, env=_env())
    if r.returncode == EXIT_USER_ERROR:
        raise SystemExit(EXIT_USER_ERROR)
    return Path(sweep_dir)


def run_stress(run_dir: Path, overrides: Sequence[str]) -> Path:
    """``s3sim-stress <overrides>`` into ``run_dir`` (run again to resume)."""
    cmd = [sys.executable, "-m", "s3sim.runner.stress", *overrides, f"hydra.run.dir={run_dir}"]
    print("$", " ".join(["s3sim-stress", *cmd[3:]]), flush=True)
    r = subprocess.run(cmd, env=_env())
    if r.returncode != 0:
        raise SystemExit(r.returncode)
    return Path(run_dir)


def setup(cfg) -> tuple[Path, int, list[str]]:
    """The run directory (with ``figures/``), the number of replicates and the extra overrides for the chosen
    size (``small=true``: the reduced size the test suite runs)."""
    from hydra.core.hydra_config import HydraConfig

    out = Path(HydraConfig.get().runtime.output_dir)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    reps = int(cfg.small_replicates if cfg.small else cfg.replicates)
    extra = (as_list(cfg.small_overrides) if cfg.small else []) + as_list(cfg.overrides)
    return out, reps, extra


def merged(cfg, key: str) -> "object":
    """``cfg[key]`` with ``cfg['small_' + key]`` laid over it when ``small=true``."""
    from omegaconf import OmegaConf

    base = OmegaConf.to_container(cfg[key])
    small = OmegaConf.to_container(cfg[f"small_{key}"]) if cfg.small else {}
    return OmegaConf.create({**base, **small})


def fixed_override(fixed) -> str:
    """A mapping of fixed parameters as a Hydra override value: ``{n_agents: 300, horizon: 12}``."""
    from omegaconf import OmegaConf

    items = OmegaConf.to_container(fixed) if not isinstance(fixed, dict) else fixed
    return "{" + ", ".join(f"{k}: {v}" for k, v in (items or {}).items()) + "}"


def interval_bars(ax, table, names: list[str], xlabel: str, title: str, centre: float = 0.0,
                  colour: str | None = None) -> None:
    """Horizontal bars of ``table.loc[names, 'mean']`` with whiskers to ``ci_low`` and ``ci_high``; bars above
    ``centre`` green and below orange unless ``colour`` is given."""
    import numpy as np

    t = table.reindex(names)
    y = np.arange(len(names))
    m = t["mean"].to_numpy(float)
    err = np.vstack([m - t["ci_low"].to_numpy(float), t["ci_high"].to_numpy(float) - m])
    ax.barh(y, m, color=colour or np.where(m > centre, "#1b9e77", "#d95f02").tolist())
    ax.errorbar(m, y, xerr=np.nan_to_num(err), fmt="none", ecolor="0.2", capsize=2)
    ax.axvline(centre, color="0.2", lw=0.8, ls="--" if centre else "-")
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)


def save_figure(fig, path: Path, title: str) -> Path:
    """Title, lay out, write (PNG, 110 dpi) and close a matplotlib figure."""
    import matplotlib.pyplot as plt

    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def as_list(value) -> list[str]:
    """A Hydra list (or None) as a plain list of strings."""
    return [str(v) for v in (value or [])]
