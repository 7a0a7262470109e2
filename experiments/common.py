"""Shared steps of the phase experiments: run a sweep or a stress test as the shell would (real subprocesses of
the s3sim commands), and small helpers for the experiment reports. Not part of the package API."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Sequence

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


def markdown_table(df) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines)


def as_list(value) -> list[str]:
    """A Hydra list (or None) as a plain list of strings."""
    return [str(v) for v in (value or [])]
