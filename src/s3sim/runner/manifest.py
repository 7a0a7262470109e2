"""Provenance for stored runs: package versions, git revision, platform."""

from __future__ import annotations

import functools
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

PACKAGES = ("s3sim", "mesa", "numpy", "pandas", "pyarrow", "numba", "hydra-core", "omegaconf", "SALib", "scipy",
            "matplotlib")


@functools.cache
def package_versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


@functools.cache
def git_revision() -> dict[str, str | bool]:
    """Revision of the s3sim source tree (``unknown`` outside a git checkout)."""
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        if rev.returncode != 0:
            return {"revision": "unknown", "dirty": False}
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5)
        return {"revision": rev.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"revision": "unknown", "dirty": False}


def platform_info() -> dict[str, str]:
    return {"machine": platform.machine(), "system": platform.system(), "processor": platform.processor(),
            "python_implementation": platform.python_implementation()}
